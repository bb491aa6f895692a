"""Skip connections: Residual = x + block(x) (with projection), its shape error, the
residual MLP block, and BasicBlock against a torch twin with torchvision's parameter names."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from nn_twin import as_cr, assert_close, check_twin, rng  # noqa: E402

import chainrule as cr  # noqa: E402
import chainrule.nn as nn  # noqa: E402


class TorchBasicBlock(torch.nn.Module):
    """torchvision's BasicBlock, written out (torchvision is not a dependency)."""

    def __init__(self, inplanes, planes, stride=1):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(planes)
        self.relu = torch.nn.ReLU()
        self.conv2 = torch.nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = torch.nn.Sequential(
                torch.nn.Conv2d(inplanes, planes, 1, stride, bias=False),
                torch.nn.BatchNorm2d(planes))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + (self.downsample(x) if self.downsample is not None else x))


def test_residual_is_x_plus_block_with_gradients():
    block = nn.Sequential(nn.Linear(6, 6), nn.Tanh(), nn.Linear(6, 6))
    res = nn.Residual(block).double()
    x = as_cr(rng(0).standard_normal((4, 6)), True)
    y = res(x)
    assert_close(y, x.data + block(x).data)
    g = rng(1).standard_normal((4, 6))
    y.backward(cr.tensor(g))
    gx_block = x.grad.data - g                       # ∂y/∂x = I + ∂block/∂x
    x2 = as_cr(x.data, True)
    block(x2).backward(cr.tensor(g))
    assert_close(gx_block, x2.grad)


def test_residual_projection_and_shape_error():
    torch.manual_seed(0)
    res = nn.Residual(nn.Conv2d(3, 8, 3, stride=2, padding=1), projection=nn.Conv2d(3, 8, 1, 2))
    assert res(cr.randn(2, 3, 8, 8)).shape == (2, 8, 4, 4)
    assert list(res.state_dict()) == ["block.weight", "block.bias", "projection.weight",
                                      "projection.bias"]
    with pytest.raises(ValueError, match=r"\(2, 3, 8, 8\).*\(2, 8, 4, 4\).*projection="):
        nn.Residual(nn.Conv2d(3, 8, 3, stride=2, padding=1))(cr.randn(2, 3, 8, 8))


def test_residual_mlp_block():
    blk = nn.ResidualMLPBlock(8, hidden=16, activation=nn.GELU).double()
    x = as_cr(rng(2).standard_normal((5, 8)), True)
    ln, l1, act, l2 = blk.block
    assert_close(blk(x), x.data + l2(act(l1(ln(x)))).data)
    assert isinstance(ln, nn.LayerNorm) and l1.out_features == 16
    assert isinstance(nn.ResidualMLPBlock(8, norm=None).block[0], nn.Identity)


@pytest.mark.parametrize("inplanes,planes,stride", [(4, 4, 1), (4, 8, 2)])
def test_basic_block_equals_torch(inplanes, planes, stride):
    torch.manual_seed(0)
    theirs = TorchBasicBlock(inplanes, planes, stride)
    mine = nn.BasicBlock(inplanes, planes, stride)
    for m in theirs.modules():                        # non-trivial BN affine parameters
        if isinstance(m, torch.nn.BatchNorm2d):
            torch.nn.init.uniform_(m.weight, 0.5, 1.5)
            torch.nn.init.uniform_(m.bias, -0.5, 0.5)
    check_twin(mine, theirs, [rng(3).standard_normal((2, inplanes, 6, 6))], rtol=1e-8,
               atol=1e-10)
    for (n, bc), (_, bt) in zip(mine.named_buffers(), theirs.named_buffers()):
        assert_close(bc, bt, what=n)                         # running stats after a training step
    mine.eval()
    theirs.eval()
    x = rng(4).standard_normal((1, inplanes, 5, 5))
    assert_close(mine(as_cr(x)), theirs(torch.tensor(x)), rtol=1e-8, atol=1e-10)
    assert np.all(mine(as_cr(x))._array >= 0)
