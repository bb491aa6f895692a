"""ONNX export: checked by onnx.checker, same outputs in onnxruntime within 1e-5."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, zoo

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from chainrule.onnx_export import ExportError, export_onnx  # noqa: E402


def run_both(model: nn.Module, shape: tuple[int, ...], tmp_path) -> tuple[np.ndarray, np.ndarray]:
    x = cr.randn(*shape, generator=cr.Generator().manual_seed(0))
    path = export_onnx(model, shape, tmp_path / "m.onnx", example=x)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"input": x.numpy()})[0]
    model.eval()
    with cr.no_grad():
        want = model(x).numpy()
    return got, want


@pytest.mark.parametrize("name", ["logistic", "mlp", "cnn", "digits_cnn", "mlp_784"])
def test_zoo_models_round_trip(name: str, tmp_path) -> None:
    cr.manual_seed(0)
    model = zoo.build(name)
    got, want = run_both(model, (3, *zoo.INPUT_SHAPES[name]), tmp_path)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_hand_written_forward_with_norms_pooling_and_softmax(tmp_path) -> None:
    cr.manual_seed(1)

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(2, 4, 3, stride=2, padding=1)
            self.bn = nn.BatchNorm2d(4)
            self.pool = nn.AvgPool2d(2)
            self.ln = nn.LayerNorm(16)
            self.drop = nn.Dropout(0.5)
            self.fc = nn.Linear(16, 5)

        def forward(self, x: cr.Tensor) -> cr.Tensor:
            h = self.pool(self.bn(self.conv(x)).tanh())
            h = self.drop(self.ln(h.flatten(1)))
            return (self.fc(h) * 2.0 - 1.0).sigmoid().log_softmax(-1)

    model = Net()
    model.train()
    for _ in range(2):  # non-trivial running statistics
        model(cr.randn(8, 2, 8, 8))
    got, want = run_both(model, (2, 2, 8, 8), tmp_path)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_unsupported_operation_is_named(tmp_path) -> None:
    class Odd(nn.Module):
        def forward(self, x: cr.Tensor) -> cr.Tensor:
            return x.cumsum(1)

    with pytest.raises(ExportError, match="Cumsum"):
        export_onnx(Odd(), (2, 3), tmp_path / "odd.onnx")
