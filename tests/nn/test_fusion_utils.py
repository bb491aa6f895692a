"""nn.utils names that were missing: fuse_conv_bn_eval / fuse_linear_bn_eval (against torch in
float64), nn.utils.stateless.functional_call, nn.modules.utils helpers."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import chainrule  # noqa: E402
from chainrule import nn  # noqa: E402


def _copy_bn(c_bn, t_bn, rng):
    for name in ("weight", "bias", "running_mean"):
        v = rng.standard_normal(t_bn.num_features)
        getattr(t_bn, name).data.copy_(torch.from_numpy(v))
        getattr(c_bn, name).data.copy_(chainrule.tensor(v))
    v = rng.uniform(0.5, 2.0, t_bn.num_features)
    t_bn.running_var.data.copy_(torch.from_numpy(v))
    c_bn.running_var.data.copy_(chainrule.tensor(v))


@pytest.mark.parametrize("kind", ["conv", "convT", "linear"])
def test_fused_layer_equals_torchs_and_the_pair(kind):
    rng = np.random.default_rng(0)
    if kind == "linear":
        c_l, t_l = nn.Linear(5, 4).double(), torch.nn.Linear(5, 4).double()
        c_bn, t_bn = nn.BatchNorm1d(4).double(), torch.nn.BatchNorm1d(4).double()
        x = rng.standard_normal((3, 5))
    else:
        cls = "ConvTranspose2d" if kind == "convT" else "Conv2d"
        c_l, t_l = getattr(nn, cls)(2, 4, 3).double(), getattr(torch.nn, cls)(2, 4, 3).double()
        c_bn, t_bn = nn.BatchNorm2d(4).double(), torch.nn.BatchNorm2d(4).double()
        x = rng.standard_normal((2, 2, 5, 5))
    c_l.load_state_dict({k: chainrule.tensor(v.numpy()) for k, v in t_l.state_dict().items()})
    _copy_bn(c_bn, t_bn, rng)
    for m in (c_l, t_l, c_bn, t_bn):
        m.eval()
    if kind == "linear":
        c_f = nn.utils.fuse_linear_bn_eval(c_l, c_bn)
        t_f = torch.nn.utils.fuse_linear_bn_eval(t_l, t_bn)
    else:
        c_f = nn.utils.fuse_conv_bn_eval(c_l, c_bn, transpose=kind == "convT")
        t_f = torch.nn.utils.fuse_conv_bn_eval(t_l, t_bn, transpose=kind == "convT")
    cx, tx = chainrule.tensor(x), torch.tensor(x)
    np.testing.assert_allclose(c_f(cx).detach().numpy(), t_f(tx).detach().numpy(), rtol=1e-12,
                               atol=1e-13)
    np.testing.assert_allclose(c_f(cx).detach().numpy(), c_bn(c_l(cx)).detach().numpy(),
                               rtol=1e-12, atol=1e-13)
    assert isinstance(c_f.weight, nn.Parameter) and c_f is not c_l
    c_l.train()
    with pytest.raises(AssertionError, match="Fusion only for eval"):
        nn.utils.fuse_conv_bn_eval(c_l, c_bn)


def test_stateless_functional_call_warns_like_torch():
    lin = nn.Linear(2, 1)
    params = {"weight": chainrule.ones(1, 2), "bias": chainrule.zeros(1)}
    with pytest.warns(FutureWarning) as c_rec:
        out = nn.utils.stateless.functional_call(lin, params, (chainrule.ones(3, 2),))
    with pytest.warns(FutureWarning) as t_rec:
        torch.nn.utils.stateless.functional_call(
            torch.nn.Linear(2, 1), {"weight": torch.ones(1, 2), "bias": torch.zeros(1)},
            (torch.ones(3, 2),))
    assert str(c_rec[0].message) == str(t_rec[0].message)
    assert out.tolist() == [[2.0], [2.0], [2.0]]


def test_modules_utils_helpers_as_torch():
    from torch.nn.modules import utils as tu

    from chainrule.nn.modules import utils as cu

    for name in ("_single", "_pair", "_triple", "_quadruple"):
        for v in (3, (1, 2), [4, 5, 6]):
            assert getattr(cu, name)(v) == getattr(tu, name)(v)
    assert cu._reverse_repeat_tuple((1, 2), 2) == tu._reverse_repeat_tuple((1, 2), 2)
    sd_c = {"module.a": 1, "module.b.c": 2, "d": 3}
    sd_t = dict(sd_c)
    cu.consume_prefix_in_state_dict_if_present(sd_c, "module.")
    tu.consume_prefix_in_state_dict_if_present(sd_t, "module.")
    assert sd_c == sd_t
