"""chainrule.compile: a compiled step equals the eager step bit for bit (NumPy path), its guards
recapture or fall back, and data flow outside the tracer keeps the function eager."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn

STEPS = 8  # 1 warm-up + 2 captures + 5 replays


def _mlp() -> Any:
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3))


def _cnn() -> Any:
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Dropout(0.2), nn.Linear(4 * 4 * 4, 3))


def _conv1d() -> Any:
    return nn.Sequential(nn.Conv1d(2, 4, 3), nn.LayerNorm(6), nn.Tanh(), nn.AvgPool1d(2),
                         nn.Flatten(), nn.Linear(12, 3))


class _RNN(nn.Module):
    def __init__(self, cell: type) -> None:
        super().__init__()
        self.rnn = cell(3, 5, batch_first=True)
        self.head = nn.Linear(5, 3)

    def forward(self, x: Any) -> Any:
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


class _Embed(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(10, 4)
        self.head = nn.Linear(4, 3)

    def forward(self, x: Any) -> Any:
        return self.head(self.emb(x).mean(1))


def _inputs(kind: str, rng: np.random.Generator, loss: str = "ce") -> tuple[Any, Any]:
    shape = {"mlp": (8, 6), "cnn": (4, 1, 8, 8), "conv1d": (4, 2, 8), "lstm": (4, 5, 3),
             "gru": (4, 5, 3)}
    if kind == "embed":
        x = cr.tensor(rng.integers(0, 10, (4, 6)))
    else:
        x = cr.tensor(rng.standard_normal(shape[kind]))
    y = cr.tensor(rng.integers(0, 3, x.shape[0]))
    return x, (F.one_hot(y, 3).double() if loss == "mse" else y)


MODELS: dict[str, Callable[[], Any]] = {
    "mlp": _mlp, "cnn": _cnn, "conv1d": _conv1d, "lstm": lambda: _RNN(nn.LSTM),
    "gru": lambda: _RNN(nn.GRU), "embed": _Embed,
}
LOSSES = {"ce": F.cross_entropy, "mse": F.mse_loss}
OPTIMIZERS = {
    "sgd": lambda ps: cr.optim.SGD(ps, lr=0.1, momentum=0.9),
    "adam": lambda ps: cr.optim.Adam(ps, lr=0.01),
}


def _setup(kind: str, opt: str, loss: str) -> tuple[Any, Any, Callable]:
    cr.manual_seed(0)
    model = MODELS[kind]().double()
    optimizer = OPTIMIZERS[opt](model.parameters())
    loss_fn = LOSSES[loss]

    def step(x: Any, y: Any) -> Any:
        optimizer.zero_grad()
        out = loss_fn(model(x), y)
        out.backward()
        optimizer.step()
        return out

    return model, optimizer, step


def _run(kind: str, opt: str, loss: str, compiled: bool) -> tuple[list, Any, Any]:
    model, optimizer, step = _setup(kind, opt, loss)
    fn = cr.compile(step) if compiled else step
    rng = np.random.default_rng(1)
    data = [_inputs(kind, rng, loss) for _ in range(STEPS)]
    cr.manual_seed(7)  # the dropout masks: the same generator state for both runs
    losses = [fn(x, y).data.copy() for x, y in data]
    return losses, model, fn


def _state(model: Any) -> dict:
    out = {k: v.data.copy() for k, v in model.state_dict().items()}
    out.update({f"{k}.grad": p.grad.data.copy() for k, p in model.named_parameters()})
    return out


CASES = [("mlp", "sgd", "ce"), ("mlp", "adam", "mse"), ("cnn", "sgd", "ce"),
         ("cnn", "adam", "ce"), ("conv1d", "adam", "ce"), ("lstm", "sgd", "mse"),
         ("lstm", "adam", "ce"), ("gru", "adam", "ce"), ("embed", "sgd", "ce")]


@pytest.mark.parametrize("kind,opt,loss", CASES)
def test_compiled_step_equals_eager_bitwise(kind: str, opt: str, loss: str) -> None:
    eager_losses, eager_model, _ = _run(kind, opt, loss, compiled=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a fallback to eager would warn
        comp_losses, comp_model, fn = _run(kind, opt, loss, compiled=True)
    assert fn.replays == STEPS - 3, fn.reasons
    for a, b in zip(eager_losses, comp_losses):
        np.testing.assert_array_equal(a, b)
    se, sc = _state(eager_model), _state(comp_model)
    assert se.keys() == sc.keys()
    for k in se:
        np.testing.assert_array_equal(se[k], sc[k], err_msg=k)
