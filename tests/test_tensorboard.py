"""chainrule.utils.tensorboard.SummaryWriter writes event files that TensorBoard's reader
(tensorboardX's protobufs) reads back with the values given as chainrule Tensors."""

from __future__ import annotations

import glob
import os
import struct

import numpy as np
import pytest

pytest.importorskip("tensorboardX")

import chainrule  # noqa: E402
from chainrule.utils.tensorboard import SummaryWriter  # noqa: E402


def _events(log_dir: str) -> list:
    """Every Event record in the directory's event files (TFRecord framing)."""
    from tensorboardX.proto import event_pb2

    out = []
    for path in glob.glob(os.path.join(log_dir, "events.out.tfevents.*")):
        with open(path, "rb") as f:
            data = f.read()
        i = 0
        while i < len(data):
            (n,) = struct.unpack("<Q", data[i:i + 8])
            ev = event_pb2.Event()
            ev.ParseFromString(data[i + 12:i + 12 + n])
            out.append(ev)
            i += 12 + n + 4
    return out


def test_scalars_histograms_and_images_from_tensors(tmp_path: object) -> None:
    log_dir = str(tmp_path)
    with SummaryWriter(log_dir=log_dir) as w:
        for step in range(3):
            w.add_scalar("loss", chainrule.tensor(1.5 / (step + 1)), step)
        w.add_histogram("weights", chainrule.randn(100), 0)
        w.add_image("img", chainrule.rand(3, 4, 5), 0)
        w.add_scalars("pair", {"a": chainrule.tensor(1.0), "b": 2.0}, 0)
        assert w.get_logdir() == log_dir
    evs = _events(log_dir)
    loss = [(e.step, v.simple_value) for e in evs for v in e.summary.value if v.tag == "loss"]
    np.testing.assert_allclose([v for _, v in loss], [1.5, 0.75, 0.5], rtol=1e-6)
    assert [s for s, _ in loss] == [0, 1, 2]
    tags = {v.tag for e in evs for v in e.summary.value}
    assert {"weights", "img"} <= tags
    hist = [v.histo for e in evs for v in e.summary.value if v.tag == "weights"][0]
    assert hist.num == 100


def test_add_graph_points_to_onnx(tmp_path: object) -> None:
    with SummaryWriter(log_dir=str(tmp_path)) as w, pytest.raises(NotImplementedError,
                                                                     match="onnx"):
        w.add_graph(chainrule.nn.Linear(2, 2), chainrule.ones(1, 2))
