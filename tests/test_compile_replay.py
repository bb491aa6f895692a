"""chainrule.compile's steady-state replay: the generated replay function checks the same guards
as the generic path (each perturbation misses exactly when ``_spec`` + ``guards_hold`` miss, and
a miss writes nothing), scenarios that change guards between replays stay bitwise equal to
eager, dead calls are dropped and scalar operands become 0-d constants without changing a bit."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import numpy as np
import pytest
import test_compile as tc

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn
from chainrule.compile import _MISSED, _spec


@pytest.fixture(autouse=True)
def _numpy_path() -> Any:
    """Bitwise comparisons on the NumPy path (see test_compile.py)."""
    from chainrule import _jit

    with _jit.disabled():
        yield


def _momentum_mlp() -> tuple[Any, Any, Callable]:
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3)).double()
    opt = cr.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return model, opt, tc._train_step(model, opt)


@contextmanager
def _swap(obj: Any, name: str, value: Any) -> Iterator[None]:
    old = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, old)


@contextmanager
def _item(d: dict, key: Any, value: Any) -> Iterator[None]:
    """``d[key] = value`` inside the block (a new key is removed after it)."""
    missing = object()
    old = d.get(key, missing)
    d[key] = value
    try:
        yield
    finally:
        if old is missing:
            del d[key]
        else:
            d[key] = old


@contextmanager
def _default_dtype(dt: Any) -> Iterator[None]:
    old = cr.get_default_dtype()
    cr.set_default_dtype(dt)
    try:
        yield
    finally:
        cr.set_default_dtype(old)


def test_generated_replay_misses_exactly_when_the_generic_guards_miss() -> None:
    model, opt, step = _momentum_mlp()
    fn = cr.compile(step)
    x, y = tc._data((8, 6))
    for _ in range(4):
        fn(x, y)
    assert fn.replays == 1
    entry = fn.entries[0]
    prog = entry.prog
    assert prog.replay is not None and fn._fast is prog.replay
    p = next(iter(model.parameters()))
    buf = opt.state[p]["momentum_buffer"]
    x32 = cr.tensor(x.numpy().astype(np.float32))
    # (name, context, args, kwargs, whether the program still applies)
    cases: list[tuple[str, Callable[[], Any], tuple, dict, bool]] = [
        ("nothing changed", nullcontext, (x, y), {}, True),
        ("lr (read live)", lambda: _item(opt.param_groups[0], "lr", 0.05), (x, y), {}, True),
        ("momentum", lambda: _item(opt.param_groups[0], "momentum", 0.5), (x, y), {}, False),
        ("dampening", lambda: _item(opt.param_groups[0], "dampening", 0.1), (x, y), {}, False),
        ("a new key in the group", lambda: _item(opt.param_groups[0], "extra", 1), (x, y), {},
         False),
        ("shape", nullcontext, (tc._data((5, 6))[0], y), {},
         False),
        ("dtype", nullcontext, (x32, y), {}, False),
        ("keyword arguments", nullcontext, (x,), {"y": y},
         False),
        ("a Parameter argument", nullcontext,
         (nn.Parameter(x), y), {}, False),
        ("fewer arguments", nullcontext, (x,), {}, False),
        ("requires_grad", lambda: _swap(x, "requires_grad", True), (x, y), {}, False),
        ("eval mode", lambda: _swap(model[0], "training", False), (x, y), {}, False),
        ("no_grad", cr.no_grad, (x, y), {}, False),
        ("default dtype", lambda: _default_dtype(np.float64), (x, y), {}, False),
        ("a parameter's array replaced", lambda: _swap(p, "_array", p._array.copy()),
         (x, y), {}, False),
        ("a momentum buffer replaced", lambda: _item(opt.state[p], "momentum_buffer",
                                                     buf.copy()), (x, y), {}, False),
        ("a .grad set to None", lambda: _swap(p, "grad", None), (x, y), {}, False),
    ]
    for name, ctx, args, kwargs, holds in cases:
        before = tc._state(model)
        with ctx():
            spec, _ = _spec(args, kwargs)
            generic = spec == entry.spec and prog.guards_hold()
            got = prog.replay(args, kwargs)
        assert generic is holds, name
        assert (got is not _MISSED) is holds, name
        if not holds:  # a miss wrote nothing
            after = tc._state(model)
            for k in before:
                np.testing.assert_array_equal(before[k], after[k], err_msg=f"{name}: {k}")


def test_guard_changes_between_replays_stay_bitwise_equal_to_eager() -> None:
    """Each change misses the fast path; the generic path then recaptures, replays another
    program or runs eagerly, and the fast path follows the program replayed last."""

    def build() -> tuple[Any, Callable]:
        model, opt, step = _momentum_mlp()
        model.opt = opt  # (the scenario reaches the optimizer through the model)
        return model, step

    def scenario(step: Callable, model: Any) -> list:
        x, y = tc._data((8, 6))
        x2, y2 = tc._data((5, 6), seed=9)
        group = model.opt.param_groups[0]
        outs = [step(x, y) for _ in range(4)]
        group["lr"] = 0.02  # read live: replays on
        outs += [step(x, y) for _ in range(2)]
        outs += [step(x2, y2) for _ in range(4)]  # a second program
        outs += [step(x, y), step(x2, y2), step(x, y=y), step(x, y)]
        group["momentum"] = 0.5  # guarded: new programs
        outs += [step(x, y) for _ in range(4)]
        p = next(iter(model.parameters()))
        p.data = p.data.clone()  # the live array replaced
        outs += [step(x, y) for _ in range(4)]
        return outs

    fn = tc._twin(build, scenario)
    assert fn.replays >= 8, fn.reasons


def test_dead_calls_dropped_and_scalar_operands_bitwise_equal() -> None:
    """A step that returns nothing drops its loss sum; Python scalars (2.0, 3, -0.0 next to
    0.0, 0.5 on an int64 array) become 0-d constants of the loop's dtype, same bits."""

    def build() -> tuple[Any, Callable]:
        rng = np.random.default_rng(0)
        x = cr.tensor(rng.uniform(-1, 1, 7).astype(np.float32), requires_grad=True)
        k = cr.tensor(rng.integers(-5, 5, 7))

        def step() -> Any:
            x.grad = None
            t = (x * 2.0 + 3).tanh() * (x - 1.5)
            (t * t).sum().backward()
            # detached: a returned graph keeps a function eager (a replay returns no graph)
            return (x * -0.0).detach(), (x * 0.0).detach(), k * 0.5, (1.0 - x).detach()

        return nn.Module(), lambda: [*step(), x.grad]  # (compared through the outputs)

    def scenario(step: Callable, model: Any) -> list:
        return [o for _ in range(6) for o in step()]

    fn = tc._twin(build, scenario)
    assert fn.replays == 3
    assert not any(s in fn.code for s in (".sum(", "add.reduce", "add_reduce", "sum("))
    assert "f4_2_0" in fn.code and "f4_m0_0" in fn.code and "f4_0_0" in fn.code
    assert "f8_0_5" in fn.code and "f4_3" in fn.code


def test_a_step_returning_nothing_drops_its_loss() -> None:
    """The loss of ``loss.backward()`` is computed eagerly; a replay that returns nothing
    does not need its value (the gradient comes from the ones seed): the log_softmax NLL's
    final reductions go, the gradients stay bitwise equal."""

    def build() -> tuple[Any, Callable]:
        model, opt, _ = _momentum_mlp()

        def step(x: Any, y: Any) -> None:
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()

        return model, step

    def scenario(step: Callable, model: Any) -> list:
        x, y = tc._data((8, 6))
        for _ in range(6):
            step(x, y)
        return [p.detach() for p in model.parameters()]

    def build_with_loss() -> tuple[Any, Callable]:
        model, _, step = _momentum_mlp()
        return model, step

    def returning(step: Callable, model: Any) -> list:
        x, y = tc._data((8, 6))
        return [step(x, y) for _ in range(6)]

    dropped = tc._twin(build, scenario)
    kept = tc._twin(build_with_loss, returning)
    assert dropped.replays == kept.replays == 3

    def calls(code: str) -> int:
        return sum(1 for ln in code.splitlines() if "(" in ln and "def " not in ln)

    # the step returning its loss keeps the loss's reductions, the other one drops them
    assert 0 < calls(dropped.code) < calls(kept.code)


@pytest.mark.parametrize("name", ["replay", "program", "array", "len", "a0", "MISSED", "lambda"])
def test_a_recorded_callable_named_like_the_generated_code_does_not_shadow_it(name: str) -> None:
    """The generated program names each recorded callable after its ``__name__``; one named
    like the generator's own functions, locals or builtins gets another name, so neither
    shadows the other (a silent wrong call)."""
    import chainrule as cr
    from chainrule.compile import traced_call

    def scaled(x: np.ndarray) -> np.ndarray:
        return x * 3.0 + 1.0

    scaled.__name__ = name
    w = cr.tensor(np.arange(4.0), requires_grad=True)

    def step(x: cr.Tensor) -> cr.Tensor:
        y = (x * w).sum()
        y.backward()
        with cr.no_grad():
            return cr.tensor(traced_call(scaled, w.grad._array))

    f = cr.compile(step)
    for k in range(5):
        w.grad = None
        x = cr.tensor(np.full(4, float(k + 1)))
        out = f(x)
        np.testing.assert_array_equal(out.numpy(), np.full(4, 3.0 * (k + 1) + 1.0))
    assert f.replays == 2, f.reasons  # calls 1-3: eager, two captures; 4-5 replay
    assert f"{name}_0(" in f.code  # the callable under a name of its own
