"""End-to-end smoke test: the README's demo trains and generalises."""

from chainrule import demo


def test_demo_learns_digits() -> None:
    acc = demo.main(steps=150, seed=0)
    assert acc > 0.85
