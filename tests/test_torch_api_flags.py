"""PyTorch spellings that programs use at start-up or for shapes, against torch 2.13:
``torch.Size``, ``torch.backends`` flags, ``use_deterministic_algorithms``,
``inference_mode``, bare ``@no_grad``, ``type_as``."""

from __future__ import annotations

import pickle
import threading

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import chainrule as cr  # noqa: E402


def test_size_is_torch_size_shaped() -> None:
    x, t = cr.zeros(2, 3, 4), torch.zeros(2, 3, 4)
    assert isinstance(x.shape, cr.Size) and isinstance(x.shape, tuple)
    assert repr(x.shape) == repr(t.shape).replace("torch", "chainrule")
    assert str(x.size()) == str(t.size()).replace("torch", "chainrule")
    assert x.shape.numel() == t.shape.numel() == 24
    assert cr.Size([]).numel() == torch.Size([]).numel() == 1
    for got, want in [(x.shape[1:], t.shape[1:]), ((1,) + x.shape, (1,) + t.shape),
                      (x.shape + (5,), t.shape + (5,))]:
        assert type(got) is cr.Size and type(want) is torch.Size and tuple(got) == tuple(want)
    assert x.shape[-1] == 4 and x.size(1) == 3 and x.shape == (2, 3, 4)
    assert pickle.loads(pickle.dumps(x.shape)) == x.shape
    assert np.zeros(x.shape).shape == (2, 3, 4)
    with pytest.raises(TypeError, match="iterable of ints"):
        cr.Size([2, "a"])


def test_backends_flags_keep_what_is_assigned_and_report_absent_backends() -> None:
    import chainrule.backends.cudnn as cudnn  # the submodule import form programs use

    cr.backends.cudnn.deterministic = True
    cr.backends.cudnn.benchmark = False
    try:
        assert cudnn.deterministic is True and cudnn.benchmark is False
        assert cr.backends.cudnn.is_available() is False and cudnn.version() is None
        assert cr.backends.mps.is_available() is False and cr.backends.mps.is_built() is False
        cr.backends.cuda.matmul.allow_tf32 = True
        assert cr.backends.cuda.matmul.allow_tf32 is True
        cr.backends.cuda.enable_flash_sdp(False)
        assert cr.backends.cuda.flash_sdp_enabled() is False
    finally:
        cudnn.deterministic = False
        cr.backends.cuda.matmul.allow_tf32 = False
        cr.backends.cuda.enable_flash_sdp(True)


def test_use_deterministic_algorithms_round_trip_and_validation() -> None:
    assert cr.are_deterministic_algorithms_enabled() is False
    cr.use_deterministic_algorithms(True, warn_only=True)
    try:
        assert cr.are_deterministic_algorithms_enabled() is True
        assert cr.is_deterministic_algorithms_warn_only_enabled() is True
    finally:
        cr.use_deterministic_algorithms(False)
    assert cr.are_deterministic_algorithms_enabled() is False
    with pytest.raises(TypeError, match="expects bools"):
        cr.use_deterministic_algorithms("yes")


@pytest.mark.parametrize("lib", [torch, cr], ids=["torch", "chainrule"])
def test_inference_mode_and_bare_no_grad_decorators(lib) -> None:
    """The same program under torch and chainrule: the same requires_grad everywhere."""
    x = lib.ones(2, requires_grad=True)

    @lib.no_grad
    def f(v):
        return v * 2

    @lib.inference_mode
    def g(v):
        return v * 2, lib.is_inference_mode_enabled()

    @lib.inference_mode(mode=False)
    def h(v):
        return v * 2

    with lib.inference_mode():
        inside = (x * 2).requires_grad, lib.is_inference_mode_enabled()
    with lib.inference_mode(False):
        off = (x * 2).requires_grad
    y, flag = g(x)
    got = (f(x).requires_grad, y.requires_grad, flag, h(x).requires_grad, inside, off,
           lib.is_inference_mode_enabled(), lib.is_grad_enabled(), f.__name__)
    assert got == (False, False, True, True, (False, True), True, False, True, "f")


def test_inference_mode_is_per_thread() -> None:
    seen = []
    with cr.inference_mode():
        t = threading.Thread(target=lambda: seen.append(
            (cr.is_inference_mode_enabled(), cr.is_grad_enabled())))
        t.start()
        t.join()
    assert seen == [(False, True)]


def test_type_as_matches_torch() -> None:
    a = cr.ones(2)
    b = a.type_as(cr.zeros(1, dtype=cr.float64))
    assert b.dtype == cr.float64
    assert str(torch.ones(2).type_as(torch.zeros(1, dtype=torch.float64)).dtype) == "torch.float64"
    x = cr.ones(2, requires_grad=True)
    x.type_as(cr.zeros(1, dtype=cr.float64)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0])
    assert a.type_as(a) is a
    with pytest.raises(TypeError, match="must be a Tensor"):
        a.type_as(np.zeros(1))


@pytest.mark.parametrize("index", [slice(None, None, -1), slice(1, 4, 0), (slice(None),
                                   slice(None, None, -2))], ids=["neg", "zero", "neg2d"])
def test_negative_or_zero_slice_step_raises_like_torch(index) -> None:
    messages = []
    for lib in (torch, cr):
        x = lib.arange(6).reshape(2, 3) if isinstance(index, tuple) else lib.arange(6)
        with pytest.raises(ValueError) as got:
            x[index]
        with pytest.raises(ValueError):
            x[index] = 0
        messages.append(str(got.value))
    assert messages[0] == messages[1]


def test_python_complex_data_takes_the_default_float_s_complex_dtype() -> None:
    """torch.tensor([1 + 2j]) is complex64 under the float32 default (complex128 under
    float64); a NumPy complex array keeps its dtype."""
    got = [str(cr.tensor([1 + 2j]).dtype), str(cr.tensor(np.array([1 + 2j])).dtype)]
    want = [str(torch.tensor([1 + 2j]).dtype), str(torch.tensor(np.array([1 + 2j])).dtype)]
    assert [g.split(".")[-1] for g in got] == [w.split(".")[-1] for w in want]
