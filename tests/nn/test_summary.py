"""chainrule.summary: counts, shapes, memory, modes and the printed table."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn


def _model():
    return nn.Sequential(
        nn.Linear(784, 128), nn.ReLU(),
        nn.Sequential(nn.Linear(128, 10), nn.LogSoftmax(dim=1)),
    )


def test_counts_shapes_and_table(capsys):
    model = _model()
    model[0].bias.requires_grad_(False)
    stats = cr.summary(model, input_size=(32, 784))
    printed = capsys.readouterr().out
    assert stats.total_params == 784 * 128 + 128 + 128 * 10 + 10
    assert stats.non_trainable_params == 128
    assert stats.trainable_params == stats.total_params - 128
    rows = {layer.name: layer for layer in stats.layers}
    assert rows["0"].output_shape == [32, 128] and rows["2.1"].output_shape == [32, 10]
    assert rows[""].output_shape == [32, 10] and rows["2"].depth == 1
    assert stats.total_mult_adds == 32 * (784 * 128 + 128 * 10)
    assert stats.input_bytes == 32 * 784 * 4
    assert stats.params_bytes == stats.total_params * 4
    assert stats.total_bytes == stats.input_bytes + stats.forward_backward_bytes + \
        stats.params_bytes
    assert "├─Linear: 1-1" in printed and "│    └─Linear: 2-1" in printed
    assert "Total params: 101,770" in printed and "Non-trainable params: 128" in printed
    assert "100,480" in printed and "[32, 128]" in printed
    assert str(stats) in printed


def test_quiet_columns_depth_and_modes():
    model = nn.Sequential(nn.Linear(3, 4), nn.Sequential(nn.ReLU(), nn.Linear(4, 2)))
    model.train()
    model[1].eval()
    modes = [m.training for m in model.modules()]
    stats = cr.summary(model, input_size=(2, 3), verbose=0, depth=1,
                       col_names=("input_size", "output_size", "num_params", "trainable",
                                  "mult_adds"))
    assert [m.training for m in model.modules()] == modes
    text = str(stats)
    assert "Input Shape" in text and "Mult-Adds" in text and "2-1" not in text
    with pytest.raises(ValueError, match="column"):
        cr.summary(model, input_size=(2, 3), verbose=0, col_names=("flops",))
    with pytest.raises(ValueError, match="input_size"):
        cr.summary(model, verbose=0)


def test_several_inputs_dtypes_and_input_data():
    class Pair(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(10, 4)
            self.fc = nn.Linear(4, 2)

        def forward(self, idx, x):
            return self.fc(self.emb(idx) + x)

    stats = cr.summary(Pair(), input_size=[(2, 5), (2, 5, 4)], dtypes=[cr.long, cr.float32],
                       verbose=0)
    rows = {layer.name: layer for layer in stats.layers}
    assert rows["emb"].output_shape == [2, 5, 4] and rows["fc"].output_shape == [2, 5, 2]
    assert stats.total_params == 40 + 10
    stats2 = cr.summary(nn.Linear(3, 1), input_data=cr.ones(7, 3), verbose=0)
    assert stats2.layers[0].output_shape == [7, 1]
    assert stats2.total_mult_adds == 7 * 3
    with pytest.raises(ValueError, match="dtypes"):
        cr.summary(Pair(), input_size=[(2, 5), (2, 5, 4)], dtypes=[cr.long], verbose=0)


def test_unused_modules_and_shared_parameters():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(2, 2)
            self.b = self.a  # tied: counted once
            self.unused = nn.Linear(2, 2)

        def forward(self, x):
            return self.b(self.a(x))

    stats = cr.summary(Net(), input_size=(1, 2), verbose=0)
    assert stats.total_params == 12
    rows = {layer.name: layer for layer in stats.layers}
    assert rows["unused"].output_shape is None
    assert "--" in str(stats)
    assert np.isclose(stats.params_bytes, 12 * 4)
