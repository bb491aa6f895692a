"""API fidelity, round 3: index_reduce, AdaptiveLogSoftmaxWithLoss, stft/istft, device
contexts and forward-mode AD, each compared with PyTorch (the test-only oracle) in float64."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import chainrule as cr

# torch's own notices: index_reduce is "in beta"; its adaptive softmax's empty tail layer
pytestmark = pytest.mark.filterwarnings("ignore:index_reduce:UserWarning",
                                        "ignore:Initializing zero-element:UserWarning")


# ---- index_reduce -------------------------------------------------------------------------------
@pytest.mark.parametrize("reduce", ["prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_index_reduce_matches_torch(reduce: str, include_self: bool, dim: int) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 5, 3))
    n = x.shape[dim]
    index = np.array([0, 2, 0, n - 1, 2, 0])
    src_shape = list(x.shape)
    src_shape[dim] = index.size
    src = rng.standard_normal(src_shape)
    if reduce in ("amax", "amin"):  # ties, to check the even share of the gradient
        src.reshape(-1)[::4] = 0.5
        if include_self:
            # (not with include_self=False: torch then still counts an excluded self value
            # that ties with the result in the share, so its source gradients do not sum to g;
            # chainrule shares among the actual contributors only)
            x.reshape(-1)[::3] = 0.5
    g = rng.standard_normal(x.shape)

    tx = torch.tensor(x, requires_grad=True)
    ts = torch.tensor(src, requires_grad=True)
    tout = tx.index_reduce(dim, torch.tensor(index), ts, reduce, include_self=include_self)
    tout.backward(torch.tensor(g))

    cx = cr.tensor(x, requires_grad=True)
    cs = cr.tensor(src, requires_grad=True)
    cout = cx.index_reduce(dim, cr.tensor(index), cs, reduce, include_self=include_self)
    cout.backward(cr.tensor(g))

    np.testing.assert_allclose(cout.detach().numpy(), tout.detach().numpy(), rtol=1e-12,
                               atol=1e-14)
    np.testing.assert_allclose(cx.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(cs.grad.numpy(), ts.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_index_reduce_inplace_and_function_form() -> None:
    x = np.arange(12.0).reshape(3, 4)
    src = np.full((2, 4), 2.0)
    t = torch.tensor(x).index_reduce_(0, torch.tensor([2, 2]), torch.tensor(src), "prod")
    c = cr.tensor(x)
    out = c.index_reduce_(0, cr.tensor([2, 2]), cr.tensor(src), "prod")
    assert out is c
    np.testing.assert_array_equal(c.numpy(), t.numpy())
    f = cr.index_reduce(cr.tensor(x), 1, cr.tensor([1]), cr.ones(3, 1, dtype=cr.float64) * 7,
                        "amax", include_self=False)
    tf = torch.index_reduce(torch.tensor(x), 1, torch.tensor([1]),
                            torch.ones(3, 1, dtype=torch.float64) * 7, "amax",
                            include_self=False)
    np.testing.assert_array_equal(f.numpy(), tf.numpy())


@pytest.mark.parametrize("case", ["reduce", "index2d", "float_index", "count", "bounds",
                                  "dtype", "shape"])
def test_index_reduce_bad_input_matches_torch_error_type(case: str) -> None:
    def call(lib: object, tensor: object, f64: object, f32: object) -> None:
        x = tensor(np.zeros((3, 4)), dtype=f64)
        src = tensor(np.ones((2, 4)), dtype=f64)
        idx = tensor([0, 1])
        args = {"reduce": (0, idx, src, "sum"), "index2d": (0, tensor([[0, 1]]), src, "prod"),
                "float_index": (0, tensor([0.0, 1.0]), src, "prod"),
                "count": (0, tensor([0, 1, 2]), src, "prod"),
                "bounds": (0, tensor([0, 5]), src, "prod"),
                "dtype": (0, idx, tensor(np.ones((2, 4)), dtype=f32), "prod"),
                "shape": (0, idx, tensor(np.ones((2, 5)), dtype=f64), "prod")}[case]
        x.index_reduce(*args)

    with pytest.raises(Exception) as expected:
        call(torch, torch.tensor, torch.float64, torch.float32)
    with pytest.raises(expected.type, match="index|shape"):
        call(cr, cr.tensor, cr.float64, cr.float32)


# ---- AdaptiveLogSoftmaxWithLoss ---------------------------------------------------------------
def _asm_pair(head_bias: bool) -> tuple:
    torch.manual_seed(0)
    t = torch.nn.AdaptiveLogSoftmaxWithLoss(16, 12, [3, 7], div_value=2.0,
                                            head_bias=head_bias).double()
    c = cr.nn.AdaptiveLogSoftmaxWithLoss(16, 12, [3, 7], div_value=2.0, head_bias=head_bias,
                                         dtype=cr.float64)
    c.load_state_dict({k: cr.tensor(v.numpy()) for k, v in t.state_dict().items()})
    return t, c


@pytest.mark.parametrize("head_bias", [False, True])
def test_adaptive_log_softmax_forward_and_grads_match_torch(head_bias: bool) -> None:
    t, c = _asm_pair(head_bias)
    assert list(c.state_dict()) == list(t.state_dict())
    rng = np.random.default_rng(1)
    x = rng.standard_normal((9, 16))
    target = np.array([0, 5, 11, 2, 7, 3, 10, 1, 6])
    tx = torch.tensor(x, requires_grad=True)
    tout = t(tx, torch.tensor(target))
    (tout.loss + tout.output.pow(2).sum()).backward()
    cx = cr.tensor(x, requires_grad=True)
    cout = c(cx, cr.tensor(target))
    (cout.loss + cout.output.pow(2).sum()).backward()
    assert type(cout).__name__ == "_ASMoutput" and cout._fields == ("output", "loss")
    np.testing.assert_allclose(cout.output.detach().numpy(), tout.output.detach().numpy(),
                               rtol=1e-12)
    np.testing.assert_allclose(cout.loss.item(), tout.loss.item(), rtol=1e-12)
    np.testing.assert_allclose(cx.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-13)
    cgrads = dict(c.named_parameters())
    for name, p in t.named_parameters():
        np.testing.assert_allclose(cgrads[name].grad.numpy(), p.grad.numpy(), rtol=1e-10,
                                   atol=1e-13, err_msg=name)
    np.testing.assert_allclose(c.log_prob(cr.tensor(x)).detach().numpy(),
                               t.log_prob(torch.tensor(x)).detach().numpy(), rtol=1e-12)
    xs = rng.standard_normal((40, 16)) * 3
    np.testing.assert_array_equal(c.predict(cr.tensor(xs)).numpy(),
                                  t.predict(torch.tensor(xs)).numpy())
    one = c(cr.tensor(x[0]), cr.tensor(target[0]))
    assert one.output.shape == () and abs(one.output.item() - tout.output[0].item()) < 1e-12


@pytest.mark.parametrize("case", ["empty", "unsorted", "too_big", "target_range", "batch",
                                  "target_2d", "0d_target"])
def test_adaptive_log_softmax_bad_input_matches_torch(case: str) -> None:
    def call(nn: object, tensor: object) -> None:
        if case in ("empty", "unsorted", "too_big"):
            cuts = {"empty": [], "unsorted": [6, 3], "too_big": [3, 12]}[case]
            nn.AdaptiveLogSoftmaxWithLoss(8, 12, cuts)
            return
        m = nn.AdaptiveLogSoftmaxWithLoss(8, 12, [3, 6])
        x = tensor(np.zeros((4, 8), np.float32))
        y = {"target_range": tensor([0, 1, 2, 12]), "batch": tensor([0, 1, 2]),
             "target_2d": tensor([[0, 1, 2, 1]]), "0d_target": tensor(1)}[case]
        m(x, y)

    with pytest.raises(Exception) as expected:
        call(torch.nn, torch.tensor)
    with pytest.raises(expected.type) as got:
        call(cr.nn, cr.tensor)
    assert str(got.value).split(",")[0][:30] == str(expected.value).split(",")[0][:30]


# ---- stft / istft -------------------------------------------------------------------------------
_STFT_CASES = [
    dict(n_fft=32),
    dict(n_fft=32, hop_length=7, win_length=16, normalized=True),
    dict(n_fft=32, center=False, onesided=False),
    dict(n_fft=31, hop_length=5, pad_mode="constant"),
    dict(n_fft=16, hop_length=4, pad_mode="replicate", win_length=12),
]


@pytest.mark.parametrize("kw", _STFT_CASES)
@pytest.mark.parametrize("batched", [True, False])
def test_stft_forward_and_abs_grad_match_torch(kw: dict, batched: bool) -> None:
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 100) if batched else (90,))
    win = np.hanning(kw.get("win_length", kw["n_fft"]) + 2)[1:-1]
    tx = torch.tensor(x, requires_grad=True)
    tout = torch.stft(tx, window=torch.tensor(win), return_complex=True, **kw)
    cx = cr.tensor(x, requires_grad=True)
    cout = cr.stft(cx, window=cr.tensor(win), return_complex=True, **kw)
    assert cout.shape == tuple(tout.shape) and cout.dtype == cr.complex128
    np.testing.assert_allclose(cout.detach().numpy(), tout.detach().numpy(), rtol=0, atol=1e-10)
    g = rng.standard_normal(tuple(tout.shape))
    (tout.abs() * torch.tensor(g)).sum().backward()
    (cout.abs() * cr.tensor(g)).sum().backward()
    np.testing.assert_allclose(cx.grad.numpy(), tx.grad.numpy(), rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("kw", [dict(n_fft=32, hop_length=8), dict(n_fft=20, hop_length=5,
                                                                   normalized=True),
                                dict(n_fft=16, hop_length=4, center=False),
                                dict(n_fft=32, hop_length=8, onesided=False)])
def test_istft_matches_torch_and_round_trips(kw: dict) -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 96))
    # periodic Hann satisfies NOLA inside; without centring the edges need a non-zero window
    win = np.hanning(kw["n_fft"] + 1)[:-1] + (0.0 if kw.get("center", True) else 0.5)
    spec = torch.stft(torch.tensor(x), window=torch.tensor(win), return_complex=True, **kw)
    t_back = torch.istft(spec, window=torch.tensor(win), length=96, **kw)
    c_back = cr.istft(cr.tensor(spec.numpy()), window=cr.tensor(win), length=96, **kw)
    np.testing.assert_allclose(c_back.numpy(), t_back.numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(c_back.numpy(), x, rtol=0, atol=1e-10)
    plain = cr.istft(cr.tensor(spec.numpy()), window=cr.tensor(win), **kw)
    t_plain = torch.istft(spec, window=torch.tensor(win), **kw)
    np.testing.assert_allclose(plain.numpy(), t_plain.numpy(), rtol=0, atol=1e-10)


@pytest.mark.parametrize("case", ["no_return_complex", "3d", "window_size", "n_fft_big",
                                  "hop_zero", "istft_real", "istft_nola"])
def test_stft_bad_input_matches_torch_error_type(case: str) -> None:
    def call(lib: object) -> None:
        x = lib.tensor(np.zeros((2, 40)))
        w = lib.tensor(np.hanning(16))
        if case == "no_return_complex":
            lib.stft(x, 16, window=w)
        elif case == "3d":
            lib.stft(x.reshape(2, 2, 20), 16, window=w, return_complex=True)
        elif case == "window_size":
            lib.stft(x, 16, window=lib.tensor(np.ones(10)), return_complex=True)
        elif case == "n_fft_big":
            lib.stft(x, 100, center=False, window=lib.tensor(np.ones(100)),
                     return_complex=True)
        elif case == "hop_zero":
            lib.stft(x, 16, hop_length=0, window=w, return_complex=True)
        elif case == "istft_real":
            lib.istft(x, 16, window=w)
        else:
            spec = lib.stft(x, 16, hop_length=16, window=lib.tensor(np.hanning(16)),
                            return_complex=True)
            lib.istft(spec, 16, hop_length=16, window=lib.tensor(np.hanning(16)))

    with pytest.raises(Exception) as expected:
        call(torch)
    with pytest.raises(expected.type):
        call(cr)


def test_stft_istft_method_forms_round_trip_gradient() -> None:
    """d/dx ||istft(stft(x))||² = 2x when the pair inverts exactly (gradients through the
    complex spectrum back to the real signal)."""
    x0 = np.random.default_rng(4).standard_normal(64)
    win = cr.tensor(np.hanning(17)[:-1])
    x = cr.tensor(x0, requires_grad=True)
    y = x.stft(16, window=win, return_complex=True).istft(16, window=win, length=64)
    y.pow(2).sum().backward()
    np.testing.assert_allclose(y.detach().numpy(), x0, atol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), 2 * x0, atol=1e-12)


# ---- with torch.device(...) ----------------------------------------------------------------------
def _net(nn: object) -> object:
    return nn.Sequential(nn.Linear(5, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))


def test_meta_device_context_builds_skeletons_like_torch() -> None:
    with torch.device("meta"):
        t = _net(torch.nn)
        assert torch.get_default_device().type == "meta"
    with cr.device("meta"):
        c = _net(cr.nn)
        assert cr.get_default_device().type == "meta"
    assert cr.get_default_device().type == "cpu"
    t_sd, c_sd = t.state_dict(), c.state_dict()
    assert list(c_sd) == list(t_sd)
    for k, v in t_sd.items():
        assert v.is_meta
        assert tuple(c_sd[k].shape) == tuple(v.shape), k
        assert str(c_sd[k].dtype).split(".")[-1] == str(v.dtype).split(".")[-1], k
    # the same skeleton Module.to("meta") gives: no data (NaN placeholders for floats)
    reference = _net(cr.nn).to("meta")
    for k, v in reference.state_dict().items():
        np.testing.assert_array_equal(c_sd[k].numpy(), v.numpy())
        assert not any(c_sd[k].numpy().strides)
    # out of the skeleton as in torch: to_empty, then real weights
    torch.manual_seed(0)
    real = _net(torch.nn).double()
    t.to_empty(device="cpu").double().load_state_dict(real.state_dict())
    c.to_empty(device="cpu").double().load_state_dict(
        {k: cr.tensor(v.numpy()) for k, v in real.state_dict().items()})
    x = np.random.default_rng(5).standard_normal((6, 5))
    np.testing.assert_allclose(c(cr.tensor(x)).detach().numpy(),
                               t(torch.tensor(x)).detach().numpy(), rtol=1e-12)


def test_cpu_device_context_and_nesting() -> None:
    with cr.device("cpu") as d:
        assert d == cr.device("cpu") and cr.get_default_device().type == "cpu"
        m = cr.nn.Linear(2, 2)
        with cr.device("meta"):
            inner = cr.nn.Linear(2, 2)
            assert cr.get_default_device().type == "meta"
        assert cr.get_default_device().type == "cpu"
    assert np.isfinite(m.weight.detach().numpy()).all()  # built outside the meta block
    assert np.isnan(inner.weight.detach().numpy()).all()
    with pytest.raises(RuntimeError, match="not available"):
        cr.device("tpu")
    with pytest.raises(RuntimeError, match="cpu"):
        cr.set_default_device("meta")
    # a meta tensor or module asked for by device= would get CPU data: still refused
    for make in (lambda: cr.zeros(2, device="meta"), lambda: cr.ones(2).to("meta"),
                 lambda: cr.nn.Linear(2, 2, device="meta"),
                 lambda: cr.zeros(2, device=cr.device("meta"))):
        with pytest.raises(RuntimeError, match="'meta' exists only as"):
            make()


# ---- torch.autograd.forward_ad ----------------------------------------------------------------
def _fwd_fn(a: object, b: object, w: object) -> object:
    return (a.sin() * b.exp() @ w).tanh().pow(2) + (a / (1 + b * b)).sum() - a.relu()[:, :1]


def test_forward_ad_tangents_match_torch() -> None:
    import torch.autograd.forward_ad as tfw

    import chainrule.autograd.forward_ad as fw

    rng = np.random.default_rng(6)
    a, b, va, vb = (rng.standard_normal((3, 4)) for _ in range(4))
    w = rng.standard_normal((4, 5))
    with tfw.dual_level():
        ta = tfw.make_dual(torch.tensor(a), torch.tensor(va))
        tb = tfw.make_dual(torch.tensor(b), torch.tensor(vb))
        t_primal, t_tangent = tfw.unpack_dual(_fwd_fn(ta, tb, torch.tensor(w)))
        t_const = tfw.unpack_dual(torch.tensor(w) * 2)
    with cr.autograd.forward_ad.dual_level():
        ca = fw.make_dual(cr.tensor(a), cr.tensor(va))
        cb = fw.make_dual(cr.tensor(b), cr.tensor(vb))
        out = fw.unpack_dual(_fwd_fn(ca, cb, cr.tensor(w)))
        const = fw.unpack_dual(cr.tensor(w) * 2)
        own = fw.unpack_dual(ca)
    assert type(out).__name__ == "UnpackedDualTensor" and out._fields == ("primal", "tangent")
    np.testing.assert_allclose(out.primal.numpy(), t_primal.numpy(), rtol=1e-12)
    np.testing.assert_allclose(out.tangent.numpy(), t_tangent.numpy(), rtol=1e-10, atol=1e-12)
    assert not out.primal.requires_grad
    assert const.tangent is None and t_const.tangent is None
    np.testing.assert_array_equal(own.tangent.numpy(), va)
    assert fw.unpack_dual(ca).tangent is None  # the level is closed


def test_forward_ad_refuses_a_tangent_it_cannot_form() -> None:
    import chainrule.autograd.forward_ad as fw

    class Opaque(cr.autograd.Function):
        """y = 3x with a backward computed on arrays (not recorded under create_graph)."""

        @staticmethod
        def forward(ctx: object, x: cr.Tensor) -> cr.Tensor:
            return x.detach() * 3

        @staticmethod
        def backward(ctx: object, g: cr.Tensor) -> cr.Tensor:
            return cr.tensor(g.detach().numpy() * 3)

    x = cr.tensor(np.arange(1.0, 4.0))
    with fw.dual_level():
        d = fw.make_dual(x, cr.ones(3, dtype=cr.float64))
        with pytest.raises(NotImplementedError, match="forward_ad"):
            fw.unpack_dual(Opaque.apply(d))
        with pytest.raises(NotImplementedError, match="forward_ad"):  # partly recorded
            fw.unpack_dual(Opaque.apply(d) + d.sin())


@pytest.mark.parametrize("case", ["no_level", "size", "int"])
def test_forward_ad_bad_input_matches_torch(case: str) -> None:
    import torch.autograd.forward_ad as tfw

    import chainrule.autograd.forward_ad as fw

    def call(lib: object, mod: object) -> None:
        x = lib.tensor([1.0, 2.0, 3.0])
        if case == "no_level":
            mod.make_dual(x, lib.tensor([1.0, 1.0, 1.0]))
        with mod.dual_level():
            if case == "size":
                mod.make_dual(x, lib.tensor([1.0, 1.0]))
            else:
                mod.make_dual(lib.tensor([1, 2]), lib.tensor([1, 2]))

    with pytest.raises(Exception) as expected:
        call(torch, tfw)
    with pytest.raises(expected.type):
        call(cr, fw)


def test_a_meta_block_in_one_thread_leaves_another_threads_modules_alone() -> None:
    """The default-device block is per thread, as PyTorch's: a module built in another thread
    while this one is inside ``with device("meta")`` keeps its data."""
    import threading

    import chainrule as cr

    entered, built = threading.Event(), threading.Event()
    out: dict = {}

    def other() -> None:
        entered.wait()
        out["dev"] = cr.get_default_device().type
        out["lin"] = cr.nn.Linear(2, 2)
        built.set()

    t = threading.Thread(target=other)
    t.start()
    with cr.device("meta"):
        entered.set()
        built.wait()
        inner = cr.nn.Linear(2, 2)
    t.join()
    assert out["dev"] == "cpu"
    assert np.isfinite(out["lin"].weight.detach().numpy()).all()  # real data, not a skeleton
    assert cr.nn.Linear(2, 2).weight.device.type == "cpu"
    assert np.isnan(inner.weight.detach().numpy()).all()  # this thread's: a skeleton
