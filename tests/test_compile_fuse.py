"""chainrule.compile(fuse=True): runs of elementwise calls become generated Numba kernels; the
fused step equals the eager step to 1e-6 over 5 replays for the compile test zoo (models,
optimizers, dropout, BatchNorm) and every registry op. Skipped without Numba (the ``fast``
extra), where ``fuse=True`` must raise an ImportError naming the extra."""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np
import pytest
import test_compile as tc

import chainrule as cr

try:
    import numba  # noqa: F401

    HAVE_NUMBA = True
except Exception:  # noqa: BLE001 - not installed or refusing this NumPy
    HAVE_NUMBA = False

needs_numba = pytest.mark.skipif(not HAVE_NUMBA, reason="needs Numba (the 'fast' extra)")
RTOL = 1e-6


def assert_close(actual: Any, expected: Any, what: str = "") -> None:
    """Equal to 1e-6 relative to the expected array's largest magnitude, or 1e-12 absolute
    (a gradient that is zero but for rounding, as a conv bias before BatchNorm)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, what
    if expected.dtype.kind not in "fc":
        np.testing.assert_array_equal(actual, expected, err_msg=what)
        return
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=RTOL * max(scale, 1e-6),
                               err_msg=what)


@pytest.mark.skipif(HAVE_NUMBA, reason="checks the error raised without Numba")
def test_fuse_without_numba_raises_naming_the_fast_extra() -> None:
    with pytest.raises(ImportError, match=r"fast.*extra|chainrule\[fast\]"):
        cr.compile(lambda: None, fuse=True)


STEPS = 9  # 1 warm-up, 2-3 captures (with Numba the first capture may be retried), 5 replays


def _run(kind: str, opt: str, loss: str, fuse: bool | None) -> tuple[list, Any, Any]:
    """``STEPS`` steps eager (``fuse=None``) or compiled; (losses, model, step)."""
    model, optimizer, step = tc._setup(kind, opt, loss)
    fn = step if fuse is None else cr.compile(step, fuse=fuse)
    rng = np.random.default_rng(1)
    data = [tc._inputs(kind, rng, loss) for _ in range(STEPS)]
    cr.manual_seed(7)  # the dropout masks: the same generator state for both runs
    losses = [tc._np(fn(x, y)) for x, y in data]
    return losses, model, fn


@needs_numba
@pytest.mark.parametrize("kind,opt,loss", tc.CASES)
def test_fused_step_equals_eager_to_1e_6(kind: str, opt: str, loss: str) -> None:
    eager_losses, eager_model, _ = _run(kind, opt, loss, None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a fallback (eager or unfused) would warn
        losses, model, fn = _run(kind, opt, loss, True)
    assert fn.replays >= 5, fn.reasons
    assert "@njit" in fn.code  # at least one run was fused
    for a, b in zip(losses, eager_losses):
        assert_close(a, b)
    se, sc = tc._state(eager_model), tc._state(model)
    assert se.keys() == sc.keys()
    for k in se:
        assert_close(sc[k], se[k], k)


# A 0-d parameter's gradient is a NumPy scalar (numpy.float64), not a 0-d array, so SGD's
# momentum buffer (g.copy()) is never updated in place: eager chainrule already differs from
# torch there, and the eager Numba kernel, the NumPy path and a replay each differ again.
_SCALAR_GRAD_BUG = {"exp_0d", "sum_0d", "sum_0d_dim"}
# every op takes ~1 s of Numba compiling: every 8th by default, all with CHAINRULE_FUSE_ALL_OPS=1
_OPS = tc._registry() if os.environ.get("CHAINRULE_FUSE_ALL_OPS") else tc._registry()[::8]


def _registry_params() -> list:
    return [pytest.param(s, marks=pytest.mark.xfail(
        strict=True, reason="0-d gradient is a NumPy scalar: SGD momentum not updated in place"))
        if repr(s) in _SCALAR_GRAD_BUG else s for s in _OPS]


@needs_numba
@pytest.mark.parametrize("spec", _registry_params(), ids=repr)
def test_registry_op_fused_equals_eager_to_1e_6(spec: Any) -> None:
    runs = []
    for fuse in (None, True):
        params, step = tc._op_step(spec)
        fn = step if fuse is None else cr.compile(step, fuse=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # (ops that stay eager are test_compile's business)
            outs = [tc._np(fn()) for _ in range(STEPS)]
        runs.append((outs, [tc._np(p) for p in params], fn))
    (eo, ep, _), (co, cp, fn) = runs
    for k, (a, b) in enumerate(zip(co + cp, eo + ep)):
        assert_close(a, b, f"value {k}")
    assert fn.replays >= 5, fn.reasons
    assert not any(r.startswith("fusion") for r in fn.reasons), fn.reasons


def _tiny(fuse: bool) -> tuple[Any, Any, Any]:
    """The benchmark's tiny graph (10 elementwise ops and backward) compiled, 6 calls."""
    from benchmarks import bench_core

    x, y = bench_core.tiny_inputs(cr, np.float64)
    fn = cr.compile(bench_core.tiny_graph(cr, x, y), fuse=fuse)
    for _ in range(6):
        fn()
    return fn, x, y


@needs_numba
def test_tiny_graph_becomes_one_kernel_and_code_shows_it() -> None:
    fn, x, y = _tiny(True)
    _, xe, ye = _tiny(False)
    assert fn.replays == 3, fn.reasons
    assert fn.code.count("@njit") == 1  # the dead loss sum dropped: forward + backward fused
    assert "def fused_0(" in fn.code and "np.tanh(" in fn.code and "fused_0(v" in fn.code
    # the steady-state replay: guards, the two gradients' allocations, one kernel call
    prog = fn.entries[0].prog
    assert fn._fast is prog.replay
    body = [ln.strip() for ln in prog.replay_code.splitlines()
            if "(" in ln and not ln.lstrip().startswith(("def ", "if "))]
    assert len(body) == 3 and body[-1].startswith("fused_0(") and body[0].count("empty(") == 1, \
        prog.replay_code
    assert_close(x.grad.numpy(), xe.grad.numpy())
    assert_close(y.grad.numpy(), ye.grad.numpy())


@needs_numba
def test_a_wrong_kernel_is_caught_and_the_step_replays_unfused(monkeypatch) -> None:
    from chainrule import _fuse

    monkeypatch.setitem(_fuse._INFIX, "add", "{0} - {1}")  # a deliberately broken kernel
    monkeypatch.setattr(_fuse, "_CACHE", {})
    with pytest.warns(RuntimeWarning, match="is not fused: fusion: replaying"):
        fn, x, y = _tiny(True)
    _, xe, ye = _tiny(False)
    assert fn.replays == 3 and "@njit" not in fn.code
    np.testing.assert_array_equal(x.grad.numpy(), xe.grad.numpy())
    np.testing.assert_array_equal(y.grad.numpy(), ye.grad.numpy())


@needs_numba
def test_adam_blocked_update_fuses_though_its_scratch_differs() -> None:
    """A float32 weight over one block (65536 elements) is updated block by block through the
    optimizer's scratch array; fused, the block's temporaries stay in registers and the
    scratch keeps other contents than the unfused replay leaves there. Scratch is work space
    no step reads before writing, so the fused program is kept (it was refused before) and
    equals eager to float32 rounding (1e-4 after 9 Adam steps), also under ``check=True``."""
    runs = []
    for fuse in (None, True, "check"):
        cr.manual_seed(0)
        model = cr.nn.Sequential(cr.nn.Linear(300, 256), cr.nn.ReLU(), cr.nn.Linear(256, 3))
        opt = cr.optim.Adam(model.parameters(), lr=1e-3)
        step = tc._train_step(model, opt)
        fn = step if fuse is None else cr.compile(step, fuse=True, check=fuse == "check")
        rng = np.random.default_rng(0)
        x = cr.tensor(rng.standard_normal((16, 300)).astype(np.float32))
        y = cr.tensor(rng.integers(0, 3, 16))
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # 'is not fused' would warn
            losses = [tc._np(fn(x, y)) for _ in range(STEPS)]
        runs.append((losses, tc._state(model), fn))
    (le, se, _), *fused = runs
    for losses, state, fn in fused:
        assert "@njit" in fn.code and fn.calls == STEPS, fn.reasons
        assert fn.replays >= 5 or fn.check  # (check=True replays, then runs eagerly)
        for k, (a, b) in enumerate([*zip(losses, le), *((state[k], se[k]) for k in se)]):
            scale = float(np.max(np.abs(b)))
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * scale, err_msg=str(k))
