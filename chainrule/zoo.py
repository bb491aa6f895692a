"""Reference models by name, for the CLI, the lab and the benchmarks.

The MNIST-1D models are those of Greydanus & Kobak (ICML 2024), with PyTorch's default
initialisation: ``logistic``, ``mlp`` (h = relu(L1 x); h = h + relu(L2 h); out = L3 h),
``cnn`` (three strided Conv1d + ReLU, then Linear(125, 10)) and ``gru`` (bidirectional GRU,
hidden 6, all 40x12 outputs flattened into Linear(480, 10)). ``digits_cnn`` is a small 2-D CNN
for 8x8 images; ``mlp_784`` the 784-512-256-10 benchmark MLP.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chainrule import nn
from chainrule.tensor import Tensor


class MNIST1DMLP(nn.Module):
    """h = relu(L1 x); h = h + relu(L2 h); out = L3 h (hidden 100), the paper's MLP."""

    def __init__(self, input_size: int = 40, hidden: int = 100, output_size: int = 10) -> None:
        super().__init__()
        self.linear1 = nn.Linear(input_size, hidden)
        self.linear2 = nn.Linear(hidden, hidden)
        self.linear3 = nn.Linear(hidden, output_size)

    def forward(self, x: Tensor) -> Tensor:
        h = self.linear1(x).relu()
        h = h + self.linear2(h).relu()
        return self.linear3(h)


class MNIST1DCNN(nn.Module):
    """Conv1d(1→25, k5, s2, p1) ReLU, Conv1d(25→25, k3, s2, p1) ReLU, Conv1d(25→25, k3, s2,
    p1) ReLU, flatten (125), Linear(125→10): the paper's CNN on length-40 signals."""

    def __init__(self, channels: int = 25, output_size: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(1, channels, 5, stride=2, padding=1)
        self.conv2 = nn.Conv1d(channels, channels, 3, stride=2, padding=1)
        self.conv3 = nn.Conv1d(channels, channels, 3, stride=2, padding=1)
        self.linear = nn.Linear(channels * 5, output_size)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim == 2:
            x = x.unsqueeze(1)
        h = self.conv1(x).relu()
        h = self.conv2(h).relu()
        h = self.conv3(h).relu()
        return self.linear(h.flatten(1))


class MNIST1DGRU(nn.Module):
    """Bidirectional GRU (input 1, hidden 6, batch_first, h0 = 0); the 40×12 outputs are
    flattened into Linear(480→10): the paper's GRU."""

    def __init__(self, hidden: int = 6, length: int = 40, output_size: int = 10) -> None:
        super().__init__()
        self.gru = nn.GRU(1, hidden, batch_first=True, bidirectional=True)
        self.linear = nn.Linear(length * 2 * hidden, output_size)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim == 2:
            x = x.unsqueeze(-1)
        out, _ = self.gru(x)
        return self.linear(out.flatten(1))


def logistic(input_size: int = 40, output_size: int = 10) -> nn.Module:
    """Multinomial logistic regression: one Linear layer."""
    return nn.Linear(input_size, output_size)


def digits_cnn(output_size: int = 10) -> nn.Module:
    """A small CNN for 1×8×8 images (scikit-learn's digits)."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 4 * 4, 64), nn.ReLU(), nn.Linear(64, output_size),
    )


def mlp(input_size: int, hidden: tuple[int, ...] = (128,), output_size: int = 10,
        activation: Callable[[], nn.Module] | None = None) -> nn.Module:
    """A plain MLP: Linear → activation (ReLU by default) for each hidden width, then Linear."""
    act = activation or nn.ReLU
    layers: list[nn.Module] = []
    prev = input_size
    for h in hidden:
        layers += [nn.Linear(prev, h), act()]
        prev = h
    layers.append(nn.Linear(prev, output_size))
    return nn.Sequential(*layers)


def mlp_784(output_size: int = 10) -> nn.Module:
    """The 784-512-256-10 MLP of the benchmarks."""
    return mlp(784, (512, 256), output_size)


MODELS: dict[str, Callable[..., nn.Module]] = {
    "logistic": logistic,
    "mlp": MNIST1DMLP,
    "cnn": MNIST1DCNN,
    "gru": MNIST1DGRU,
    "digits_cnn": digits_cnn,
    "mlp_784": mlp_784,
}

INPUT_SHAPES: dict[str, tuple[int, ...]] = {
    "logistic": (40,), "mlp": (40,), "cnn": (1, 40), "gru": (40, 1),
    "digits_cnn": (1, 8, 8), "mlp_784": (784,),
}


def build(name: str, **kwargs: Any) -> nn.Module:
    """A model from the zoo by name (see ``MODELS``)."""
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; known: {sorted(MODELS)}")
    return MODELS[name](**kwargs)
