"""A temporal convolutional network as in locuslab/TCN (Bai, Kolter & Koltun 2018), on the
adding problem.

Idioms: the old ``torch.nn.utils.weight_norm(nn.Conv1d(...))`` (``weight_g`` / ``weight_v``
parameters, deprecated in favour of ``nn.utils.parametrizations.weight_norm``, which the second
block uses), a ``Chomp1d`` module cutting the causal padding with
``x[:, :, :-self.chomp_size].contiguous()``, dilations ``2 ** i``, a 1x1 ``downsample``
convolution on the residual path when the widths differ, ``self.conv1.weight.data.normal_(0,
0.01)`` in ``init_weights``, ``nn.Sequential(*layers)``, ``y1[:, :, -1]`` as the prediction,
``torch.nn.utils.clip_grad_norm_``, ``torch.nn.utils.remove_weight_norm`` before evaluation.
"""

import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils import weight_norm

warnings.filterwarnings("ignore", category=FutureWarning)   # weight_norm's deprecation
torch.manual_seed(0)
g = torch.Generator().manual_seed(0)


class Chomp1d(nn.Module):
    def __init__(self, chomp_size):
        super().__init__()
        self.chomp_size = chomp_size

    def forward(self, x):
        return x[:, :, :-self.chomp_size].contiguous()


class TemporalBlock(nn.Module):
    def __init__(self, n_inputs, n_outputs, kernel_size, dilation, new_style):
        super().__init__()
        padding = (kernel_size - 1) * dilation
        wn = nn.utils.parametrizations.weight_norm if new_style else weight_norm
        self.conv1 = wn(nn.Conv1d(n_inputs, n_outputs, kernel_size, padding=padding,
                                  dilation=dilation))
        self.conv2 = wn(nn.Conv1d(n_outputs, n_outputs, kernel_size, padding=padding,
                                  dilation=dilation))
        self.net = nn.Sequential(self.conv1, Chomp1d(padding), nn.ReLU(),
                                 self.conv2, Chomp1d(padding), nn.ReLU())
        self.downsample = nn.Conv1d(n_inputs, n_outputs, 1) if n_inputs != n_outputs else None
        self.relu = nn.ReLU()
        self.init_weights(new_style)

    def init_weights(self, new_style):
        if not new_style:
            self.conv1.weight_v.data.normal_(0, 0.01)
            self.conv2.weight_v.data.normal_(0, 0.01)
        if self.downsample is not None:
            self.downsample.weight.data.normal_(0, 0.01)

    def forward(self, x):
        out = self.net(x)
        res = x if self.downsample is None else self.downsample(x)
        return self.relu(out + res)


class TCN(nn.Module):
    def __init__(self, input_size, output_size, channels, kernel_size=3):
        super().__init__()
        layers = []
        for i, ch in enumerate(channels):
            layers.append(TemporalBlock(input_size if i == 0 else channels[i - 1], ch,
                                        kernel_size, 2 ** i, new_style=(i % 2 == 1)))
        self.network = nn.Sequential(*layers)
        self.linear = nn.Linear(channels[-1], output_size)
        self.linear.weight.data.normal_(0, 0.01)

    def forward(self, x):
        y1 = self.network(x)
        return self.linear(y1[:, :, -1])


def adding_problem(n, seq_len):
    values = torch.rand(n, 1, seq_len, generator=g)
    marks = torch.zeros(n, 1, seq_len)
    first = torch.randint(0, seq_len // 2, (n,), generator=g)
    second = torch.randint(seq_len // 2, seq_len, (n,), generator=g)
    marks[torch.arange(n), 0, first] = 1.0
    marks[torch.arange(n), 0, second] = 1.0
    target = (values * marks).sum(dim=2)
    return torch.cat([values, marks], dim=1), target


seq_len = 8
model = TCN(2, 1, [16, 16], kernel_size=3)
assert hasattr(model.network[0].conv1, "weight_g") and hasattr(model.network[0].conv1, "weight_v")
assert hasattr(model.network[1].conv1.parametrizations.weight, "original0")
optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
for step in range(200):
    x, y = adding_problem(64, seq_len)
    loss = F.mse_loss(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()

x, y = adding_problem(500, seq_len)
with torch.no_grad():
    before = model(x)
    torch.nn.utils.remove_weight_norm(model.network[0].conv1)
    after = model(x)
    assert (before - after).abs().max().item() < 1e-5
    test_mse = F.mse_loss(after, y).item()
print(f"METRIC test_mse {test_mse:.5f}")   # predicting the mean gives ~0.16
