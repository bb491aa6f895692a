"""``torchvision.models`` ResNets (``chainrule.vision.models``): torchvision's published
parameter counts, its state_dict layout, and the same outputs as the same architecture built
from ``torch.nn`` (torchvision itself is not a test dependency)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule.vision import models

torch = pytest.importorskip("torch")


def _count(m: object) -> int:
    return sum(p.numel() for p in m.parameters())


def test_published_parameter_counts_and_layout() -> None:
    # torchvision's model table: ResNet-18 has 11,689,512 parameters
    r18 = models.resnet18(weights=None)
    assert _count(r18) == 11_689_512
    keys = list(r18.state_dict())
    assert len(keys) == 122 and keys[:3] == ["conv1.weight", "bn1.weight", "bn1.bias"]
    for k in ("layer2.0.downsample.0.weight", "layer2.0.downsample.1.running_var",
              "layer4.1.bn2.num_batches_tracked", "fc.bias"):
        assert k in keys
    assert "layer1.0.downsample.0.weight" not in keys
    assert r18.fc.in_features == 512
    small = models.ResNet(models.Bottleneck, [1, 1, 1, 1], num_classes=10,
                          zero_init_residual=True)
    assert small.fc.in_features == 2048 and small.fc.out_features == 10
    assert float(small.layer1[0].bn3.weight.abs().sum()) == 0.0
    with pytest.raises(ValueError, match="no pretrained"):
        models.resnet18(weights="DEFAULT")
    with pytest.raises(ValueError, match="no pretrained"):
        models.resnet50(pretrained=True)


def test_resnet_matches_the_same_architecture_in_torch() -> None:
    """The module's own source built on torch.nn, with chainrule's weights, gives the same
    outputs and input gradient (float64, eval and train mode)."""
    src = Path(models.resnet.__file__).read_text()
    src = src.replace("from chainrule import nn", "from torch import nn")
    src = src.replace("from chainrule.tensor import Tensor", "from torch import Tensor")
    ns: dict = {"__name__": "torch_resnet"}
    exec(compile(src, "torch_resnet", "exec"), ns)
    # one block per stage of each kind, eval; train mode on 64x64 images, batch 4 (on 32x32
    # with batch 2, layer4's BatchNorm would normalise 2 values per channel: too
    # ill-conditioned to compare)
    builds = {"basic": lambda lib: lib["ResNet"](lib["BasicBlock"], [1, 1, 1, 1], 7),
              "bottleneck": lambda lib: lib["ResNet"](lib["Bottleneck"], [1, 1, 1, 1], 7)}
    for name, train, shape in (("basic", False, (2, 3, 32, 32)),
                               ("bottleneck", False, (2, 3, 32, 32)),
                               ("basic", True, (4, 3, 64, 64))):
        cm = builds[name](vars(models)).double().train(train)
        tm = builds[name](ns).double().train(train)
        tm.load_state_dict({k: torch.tensor(v.numpy()) for k, v in cm.state_dict().items()})
        x = np.random.default_rng(0).standard_normal(shape)
        xc, xt = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        yc, yt = cm(xc), tm(xt)
        yc.square().sum().backward()
        yt.square().sum().backward()
        np.testing.assert_allclose(yc.detach().numpy(), yt.detach().numpy(), rtol=1e-8,
                                   atol=1e-10, err_msg=f"{name} train={train}")
        np.testing.assert_allclose(xc.grad.numpy(), xt.grad.numpy(), rtol=1e-7, atol=1e-10,
                                   err_msg=f"{name} train={train}")
