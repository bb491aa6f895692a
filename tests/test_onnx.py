"""chainrule.onnx.export (torch.onnx.export's call) and the exporter's dynamic batch:
onnxruntime on batch 1 and 3 equals chainrule's output; onnx.checker passes; no initializer
is left unused; recurrent layers map to ONNX's RNN/GRU/LSTM operators."""

from __future__ import annotations

import io

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, zoo

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

import chainrule.onnx  # noqa: E402
from chainrule.onnx_export import ExportError, export_onnx  # noqa: E402


def _session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _check_file(path) -> onnx.ModelProto:
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    used = {i for n in proto.graph.node for i in n.input}
    unused = [t.name for t in proto.graph.initializer if t.name not in used]
    assert not unused, f"unused initializers {unused}"
    return proto


def _compare(model, path, shape_tail, batches=(1, 3), name="input", rtol=1e-5):
    sess = _session(path)
    model.eval()
    for b in batches:
        x = cr.randn(b, *shape_tail, generator=cr.Generator().manual_seed(b))
        got = sess.run(None, {name: x.numpy()})[0]
        with cr.no_grad():
            want = model(x).numpy()
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("name", ["mlp", "cnn", "gru", "digits_cnn"])
def test_cli_exporter_has_dynamic_batch(name, tmp_path):
    """What `chainrule export` calls: traced at batch 1, runs at batch 1 and 3."""
    cr.manual_seed(0)
    model = zoo.build(name)
    path = export_onnx(model, (1, *zoo.INPUT_SHAPES[name]), tmp_path / "m.onnx")
    proto = _check_file(path)
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch_size"
    _compare(model, path, zoo.INPUT_SHAPES[name])


def test_torch_style_export_static_by_default(tmp_path):
    cr.manual_seed(1)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    x = cr.randn(2, 4)
    chainrule.onnx.export(model, (x,), tmp_path / "s.onnx", input_names=["x"],
                          output_names=["y"])
    _check_file(tmp_path / "s.onnx")
    sess = _session(tmp_path / "s.onnx")
    _compare(model, tmp_path / "s.onnx", (4,), batches=(2,), name="x")
    with pytest.raises(Exception, match="(?i)dimension|shape"):
        sess.run(None, {"x": np.zeros((3, 4), np.float32)})


def test_torch_style_export_dynamic_axes_and_file_object(tmp_path):
    cr.manual_seed(2)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 4 * 4, 3))
    model.train()
    model(cr.randn(8, 1, 8, 8))  # non-trivial running statistics
    buf = io.BytesIO()
    chainrule.onnx.export(model, cr.randn(1, 1, 8, 8), buf, input_names=["images"],
                          output_names=["logits"],
                          dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}})
    (tmp_path / "c.onnx").write_bytes(buf.getvalue())
    proto = _check_file(tmp_path / "c.onnx")
    assert proto.graph.output[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    _compare(model, tmp_path / "c.onnx", (1, 8, 8), name="images")
    with pytest.raises(ExportError, match="only axis 0"):
        chainrule.onnx.export(model, cr.randn(1, 1, 8, 8), tmp_path / "bad.onnx",
                              dynamic_axes={"input": {0: "b", 2: "h"}})


class _Recurrent(nn.Module):
    def __init__(self, kind: str, **kw) -> None:
        super().__init__()
        self.rnn = getattr(nn, kind)(3, 5, **kw)
        d = 2 if kw.get("bidirectional") else 1
        self.fc = nn.Linear(5 * d, 2)
        self.kind, self.kw = kind, kw

    def forward(self, x):
        batch = x.shape[0] if self.kw.get("batch_first") else x.shape[1]
        layers = self.kw.get("num_layers", 1) * (2 if self.kw.get("bidirectional") else 1)
        h0 = cr.zeros(layers, batch, 5)
        hx = (h0, cr.zeros(layers, batch, 5)) if self.kind == "LSTM" else h0
        out, state = self.rnn(x, hx)
        h = state[0] if self.kind == "LSTM" else state
        last = out[:, -1] if self.kw.get("batch_first") else out[-1]
        return self.fc(last) + h[-1].sum(-1, keepdim=True)


@pytest.mark.parametrize("kind,kw", [
    ("GRU", dict(batch_first=True)),
    ("LSTM", dict(num_layers=2, bidirectional=True, batch_first=True)),
    ("LSTM", dict()),
    ("RNN", dict(nonlinearity="relu", num_layers=2)),
    ("GRU", dict(bidirectional=True, bias=False)),
])
def test_recurrent_layers(kind, kw, tmp_path):
    cr.manual_seed(3)
    model = _Recurrent(kind, **kw)
    seq_first = not kw.get("batch_first")
    shape = (6, 1, 3) if seq_first else (1, 6, 3)
    x = cr.randn(*shape)
    if seq_first:  # the batch is axis 1: a fixed-size graph, checked at that size
        path = export_onnx(model, shape, tmp_path / "r.onnx", example=x, dynamic_batch=False)
        _check_file(path)
        got = _session(path).run(None, {"input": x.numpy()})[0]
        with cr.no_grad():
            np.testing.assert_allclose(got, model(x).numpy(), rtol=1e-5, atol=1e-5)
        return
    path = export_onnx(model, shape, tmp_path / "r.onnx", example=x)
    _check_file(path)
    _compare(model, path, shape[1:])


def test_rnn_extras_are_refused(tmp_path):
    model = nn.Sequential()
    model.add_module("gru", nn.GRU(3, 4, layer_norm=True))

    class Take(nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = nn.GRU(3, 4, layer_norm=True)

        def forward(self, x):
            return self.gru(x)[0]

    with pytest.raises(ExportError, match="layer_norm"):
        export_onnx(Take(), (2, 5, 3), tmp_path / "x.onnx")


def test_mean_reduction_and_int_index(tmp_path):
    """ReduceMean takes its axes as an attribute at opset 17 (an input only from 18)."""

    class Centre(nn.Module):
        def forward(self, x):
            return (x - x.mean(1, keepdim=True))[:, 0] * x.sum(-1)

    model = Centre()
    path = export_onnx(model, (1, 4), tmp_path / "m.onnx")
    _check_file(path)
    _compare(model, path, (4,))
