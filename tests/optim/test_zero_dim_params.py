"""A 0-d parameter (a learnable temperature, a scale) trains as in torch with every optimizer.

NumPy arithmetic on 0-d arrays returns scalars; a 0-d parameter's ``.grad`` once came back as a
NumPy scalar, so SGD's momentum buffer cloned from it was never updated in place and training
went silently wrong (-0.85 where torch gives -0.4735 after 4 steps). ``.grad`` must be an array.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import chainrule

CASES = [
    ("SGD", {"lr": 0.1, "momentum": 0.9}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.1}), ("AdamW", {"lr": 0.1, "amsgrad": True}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.5, "centered": True}),
    ("Adagrad", {"lr": 0.1}), ("Adadelta", {}), ("NAdam", {}), ("RAdam", {}),
    ("Adamax", {}), ("Rprop", {}), ("LBFGS", {"lr": 0.5}), ("Adafactor", {"lr": 0.1}),
]


def _train(lib: Any, name: str, kw: dict) -> list[float]:
    p = lib.nn.Parameter(lib.tensor(1.0, dtype=lib.float64))
    w = lib.nn.Parameter(lib.tensor([0.5, -0.25], dtype=lib.float64))
    opt = getattr(lib.optim, name)([p, w], **kw)

    def closure() -> Any:
        opt.zero_grad()
        loss = p * p * 3 - p + (w * p).sum() + (w * w).sum()
        loss.backward()
        return loss

    seen = []
    for _ in range(6):
        opt.step(closure)
        seen.append(p.item())
    return seen


@pytest.mark.parametrize("name, kw", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_zero_dim_parameter_trains_as_torch(name: str, kw: dict) -> None:
    np.testing.assert_allclose(_train(chainrule, name, kw), _train(torch, name, kw),
                               rtol=1e-9, atol=1e-12)  # (torch keeps NAdam's mu_product in float32)


def test_zero_dim_grad_is_an_array_owned_by_the_leaf() -> None:
    p = chainrule.nn.Parameter(chainrule.tensor(2.0, dtype=chainrule.float64))
    (p * p).backward()
    assert type(p.grad._array) is np.ndarray and p.grad._array.shape == ()
    (p * 3).backward()  # accumulation keeps it an array
    assert type(p.grad._array) is np.ndarray and float(p.grad) == 7.0
