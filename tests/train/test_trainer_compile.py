"""The Trainer compiles its steps by default (``compile=None``): the run equals an eager run
(``compile=False``) bit for bit, dropout and BatchNorm included; a step the guards refuse
stays eager without a warning, and says why in ``compile_reasons``."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import _jit, nn
from chainrule.train import Trainer
from chainrule.utils.data import DataLoader, TensorDataset


def _model() -> Any:
    return nn.Sequential(nn.Linear(5, 12), nn.BatchNorm1d(12), nn.ReLU(), nn.Dropout(0.25),
                         nn.Linear(12, 3)).double()


def _fit(compile_: Any, hook: bool = False, **extra: Any) -> tuple[dict, dict, Trainer]:
    rng = np.random.default_rng(4)
    X = cr.tensor(rng.standard_normal((50, 5)))
    Y = cr.tensor(rng.integers(0, 3, 50))
    cr.manual_seed(0)  # weights and dropout masks: the same generator for both runs
    model = _model()
    if hook:  # a forward hook with a Python side effect: a capture refuses it
        model[0].register_forward_hook(lambda m, i, o: None)
    opt = cr.optim.Adam(model.parameters(), lr=0.02)
    loader = DataLoader(TensorDataset(X, Y), batch_size=16, shuffle=True,
                        generator=cr.Generator().manual_seed(3))
    kwargs = {**({} if compile_ == "default" else {"compile": compile_}), **extra}
    trainer = Trainer(model, F.cross_entropy, opt, metrics=["accuracy"], quiet=True, **kwargs)
    history = trainer.fit(loader, loader, epochs=3)
    state = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    state.update({f"{k}.grad": p.grad.numpy().copy() for k, p in model.named_parameters()})
    return dict(history), state, trainer


@pytest.mark.skipif(_jit.available(), reason="bitwise only on the NumPy path (Numba's kernels "
                    "round differently from the NumPy twins a capture records)")
def test_default_compile_equals_eager_bitwise_with_dropout_and_batchnorm() -> None:
    he, se, eager = _fit(False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hc, sc, comp = _fit("default")
    assert eager._compiled is None
    assert comp.compile and comp._compiled.replays >= 5, comp.compile_reasons
    assert he == hc  # losses, accuracies, val metrics: Python floats, compared exactly
    assert se.keys() == sc.keys()
    for k in se:  # weights, BatchNorm running statistics and counter, gradients
        np.testing.assert_array_equal(se[k], sc[k], err_msg=k)


def test_default_compile_falls_back_silently_and_says_why() -> None:
    he, se, _ = _fit(False, hook=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the default mode does not warn
        hc, sc, trainer = _fit("default", hook=True)
    assert trainer._compiled.replays == 0
    assert any("hook" in r for r in trainer.compile_reasons), trainer.compile_reasons
    assert he == hc
    for k in se:
        np.testing.assert_array_equal(se[k], sc[k], err_msg=k)


def test_explicit_compile_warns_on_fallback_and_false_never_compiles() -> None:
    with pytest.warns(RuntimeWarning, match="stays eager: hooks"):
        _fit(True, hook=True)
    _, _, eager = _fit(False)
    assert not eager.compile and eager.compile_reasons == []
    with pytest.raises(TypeError, match="compile must be True, False or None"):
        Trainer(_model(), F.cross_entropy, cr.optim.SGD(_model().parameters(), lr=0.1),
                compile="yes")


def _numba_importable() -> bool:
    try:
        import numba  # noqa: F401
    except Exception:  # noqa: BLE001 - not installed or refusing this NumPy
        return False
    return True


def test_fuse_without_numba_raises_naming_the_fast_extra(monkeypatch) -> None:
    """``Trainer(fuse=True)`` fails at construction, before any training, when Numba cannot
    be imported (simulated here whether or not it is installed)."""
    import sys

    from chainrule import _fuse

    monkeypatch.setattr(_fuse, "_numba", None)
    monkeypatch.setitem(sys.modules, "numba", None)  # ``import numba`` raises ImportError
    model = _model()
    with pytest.raises(ImportError, match=r"chainrule\[fast\]"):
        Trainer(model, F.cross_entropy, cr.optim.SGD(model.parameters(), lr=0.1), fuse=True)
    trainer = Trainer(model, F.cross_entropy, cr.optim.SGD(model.parameters(), lr=0.1))
    assert trainer.fuse is False  # the default needs nothing


def test_fuse_option_is_checked() -> None:
    model = _model()
    opt = cr.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(TypeError, match="fuse must be True or False"):
        Trainer(model, F.cross_entropy, opt, fuse="yes")
    with pytest.raises(ValueError, match="fuse=True .* compile=False"):
        Trainer(model, F.cross_entropy, opt, fuse=True, compile=False)


@pytest.mark.skipif(not _numba_importable(), reason="needs Numba (the 'fast' extra)")
def test_fuse_true_fuses_the_step_and_equals_eager_to_1e_6() -> None:
    he, se, _ = _fit(False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a step left unfused or eager would warn (compile=True)
        hf, sf, fused = _fit(True, fuse=True)
    assert fused.fuse and fused._compiled.fuse and fused._compiled.replays >= 5
    assert "@njit" in fused._compiled.code  # at least one run of the step became a kernel
    assert he.keys() == hf.keys()
    for k in he:
        np.testing.assert_allclose(hf[k], he[k], rtol=1e-6, atol=1e-9, err_msg=k)
    for k in se:
        scale = max(float(np.max(np.abs(se[k]))), 1e-6)
        np.testing.assert_allclose(sf[k], se[k], rtol=1e-6, atol=1e-6 * scale, err_msg=k)
