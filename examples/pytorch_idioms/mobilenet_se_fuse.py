"""A MobileNetV3-style network (inverted residuals, squeeze-excite, hard-swish), a ShuffleNet
channel shuffle, then Conv-BN fusion for deployment.

Idioms (torchvision ``mobilenetv2.py`` / ``mobilenetv3.py``, ``shufflenetv2.py`` and
``torch.ao.quantization`` fusion recipes): ``_make_divisible(v, divisor=8)``; ``ConvBNActivation``
as an ``nn.Sequential`` subclass; depthwise ``nn.Conv2d(..., groups=hidden_dim, bias=False)``;
``nn.ReLU6(inplace=True)``, ``nn.Hardswish``, ``nn.Hardsigmoid``; a squeeze-excite block with
``F.adaptive_avg_pool2d(input, 1)`` and ``scale * input``; ``self.use_res_connect = stride == 1
and inp == oup``; ``channel_shuffle`` by ``x.view(b, groups, c // groups, h, w).transpose(1, 2)
.contiguous().view(b, -1, h, w)`` checked against ``nn.ChannelShuffle``; ``nn.GroupNorm`` in one
block; ``kaiming_normal_(mode="fan_out")`` / ``ones_`` / ``zeros_`` init; after training,
``torch.nn.utils.fusion.fuse_conv_bn_eval(conv, bn)`` on every Conv-BN pair of an ``eval()``
copy, with the fused model's outputs checked equal.
"""
import copy

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval


def _make_divisible(v, divisor=8, min_value=None):
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


class ConvBNActivation(nn.Sequential):
    def __init__(self, in_planes, out_planes, kernel_size=3, stride=1, groups=1,
                 activation_layer=nn.Hardswish):
        padding = (kernel_size - 1) // 2
        layers = [nn.Conv2d(in_planes, out_planes, kernel_size, stride, padding, groups=groups,
                            bias=False), nn.BatchNorm2d(out_planes)]
        if activation_layer is not None:
            layers.append(activation_layer(inplace=True))
        super().__init__(*layers)


class SqueezeExcitation(nn.Module):
    def __init__(self, input_channels, squeeze_factor=4):
        super().__init__()
        squeeze_channels = _make_divisible(input_channels // squeeze_factor, 8)
        self.fc1 = nn.Conv2d(input_channels, squeeze_channels, 1)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(squeeze_channels, input_channels, 1)
        self.hsigmoid = nn.Hardsigmoid(inplace=True)

    def forward(self, input):
        scale = F.adaptive_avg_pool2d(input, 1)
        scale = self.hsigmoid(self.fc2(self.relu(self.fc1(scale))))
        return scale * input


def channel_shuffle(x, groups):
    batchsize, num_channels, height, width = x.size()
    channels_per_group = num_channels // groups
    x = x.view(batchsize, groups, channels_per_group, height, width)
    x = torch.transpose(x, 1, 2).contiguous()
    return x.view(batchsize, -1, height, width)


class InvertedResidual(nn.Module):
    def __init__(self, inp, oup, stride, expand_ratio, use_se, activation, shuffle=False):
        super().__init__()
        hidden_dim = _make_divisible(inp * expand_ratio)
        self.use_res_connect = stride == 1 and inp == oup
        self.shuffle = shuffle
        layers = [ConvBNActivation(inp, hidden_dim, kernel_size=1, activation_layer=activation),
                  ConvBNActivation(hidden_dim, hidden_dim, stride=stride, groups=hidden_dim,
                                   activation_layer=activation)]
        if use_se:
            layers.append(SqueezeExcitation(hidden_dim))
        layers.append(ConvBNActivation(hidden_dim, oup, kernel_size=1, activation_layer=None))
        self.block = nn.Sequential(*layers)

    def forward(self, x):
        result = self.block(x)
        if self.shuffle:
            result = channel_shuffle(result, 2)
        return x + result if self.use_res_connect else result


class TinyMobileNetV3(nn.Module):
    def __init__(self, num_classes=3):
        super().__init__()
        self.features = nn.Sequential(
            ConvBNActivation(1, 16, stride=2),
            InvertedResidual(16, 16, 1, 2, use_se=True, activation=nn.ReLU6),
            InvertedResidual(16, 24, 2, 3, use_se=False, activation=nn.Hardswish, shuffle=True),
            InvertedResidual(24, 24, 1, 3, use_se=True, activation=nn.Hardswish))
        self.head = nn.Sequential(nn.Conv2d(24, 32, 1), nn.GroupNorm(4, 32), nn.Hardswish(),
                                  nn.AdaptiveAvgPool2d(1), nn.Flatten(1),
                                  nn.Dropout(p=0.2, inplace=True), nn.Linear(32, num_classes))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        return self.head(self.features(x))


def fuse_model(model):
    """Fold every BatchNorm2d that directly follows a Conv2d in a Sequential into the conv."""
    fused = copy.deepcopy(model).eval()
    count = 0
    for module in fused.modules():
        if isinstance(module, nn.Sequential):
            names = list(module._modules)
            for a, b in zip(names[:-1], names[1:]):
                conv, bn = module._modules[a], module._modules[b]
                if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                    module._modules[a] = fuse_conv_bn_eval(conv, bn)
                    module._modules[b] = nn.Identity()
                    count += 1
    return fused, count


def make_data(n, gen):
    y = torch.randint(0, 3, (n,), generator=gen)
    x = 0.3 * torch.randn(n, 1, 12, 12, generator=gen)
    grid = torch.linspace(-1, 1, 12)
    yy, xx = torch.meshgrid(grid, grid, indexing="ij")
    patterns = torch.stack([torch.sin(6 * xx), torch.sin(6 * yy), torch.sin(6 * (xx + yy))])
    return x + patterns[y].unsqueeze(1), y


def main():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    x_train, y_train = make_data(256, gen)
    x_test, y_test = make_data(200, gen)
    shuffle_ok = torch.equal(channel_shuffle(x_train[:2].repeat(1, 4, 1, 1), 2),
                             nn.ChannelShuffle(2)(x_train[:2].repeat(1, 4, 1, 1)))
    model = TinyMobileNetV3()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-2, weight_decay=1e-4)
    for epoch in range(3):
        model.train()
        perm = torch.randperm(256, generator=gen)
        for k in range(0, 256, 32):
            idx = perm[k:k + 32]
            loss = F.cross_entropy(model(x_train[idx]), y_train[idx], label_smoothing=0.1)
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    fused, n_fused = fuse_model(model)
    with torch.no_grad():
        logits = model(x_test)
        same = torch.allclose(fused(x_test), logits, atol=1e-4)
        acc = (logits.argmax(1) == y_test).float().mean().item()
    print(f"fused {n_fused} conv-bn pairs, outputs equal {same}, shuffle matches {shuffle_ok}, "
          f"test accuracy {acc:.3f}")
    print(f"METRIC accuracy_plus_checks {acc + n_fused + float(same) + float(shuffle_ok):.4f}")


if __name__ == "__main__":
    main()
