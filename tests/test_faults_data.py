"""Unusual but valid inputs to the data and checkpoint code, against torch where it has an
answer: mixed int/float samples, num_samples=0, and save/load round trips of empty, 0-d,
non-contiguous, negatively strided, integer, boolean, complex and non-finite tensors."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
import torch.utils.data as TD

import chainrule as cr
import chainrule.utils.data as D


@pytest.mark.parametrize("batch", [[1, 2.5], [0, 1e-3, 7], [3, 2], [1.5, 2], [True, False],
                                   [1, True]])
def test_collating_python_numbers_matches_torch(batch: list) -> None:
    """[1, 2.5] collated as int64 (the first sample's type) became [1, 2]: silently wrong."""
    ours, theirs = D.default_collate(batch), TD.default_collate(batch)
    assert str(ours.dtype).split(".")[-1] == str(theirs.dtype).split(".")[-1]
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_an_explicit_num_samples_of_zero_is_refused_as_in_torch() -> None:
    for M in (D, TD):
        with pytest.raises(ValueError, match="num_samples should be a positive integer"):
            M.RandomSampler(range(3), num_samples=0)
    assert list(D.RandomSampler(range(0))) == []  # an empty data set: an empty epoch


def _round_trip(obj: object) -> object:
    buf = io.BytesIO()
    cr.save(obj, buf)
    buf.seek(0)
    return cr.load(buf)


CASES = {
    "empty": cr.zeros(0),
    "empty 2-D": cr.zeros(3, 0, dtype=cr.float64),
    "0-d": cr.tensor(3.5),
    "transposed": cr.arange(12.0).reshape(3, 4).T,
    "negative stride": cr.from_numpy(np.arange(10.0)[::-2]),
    "float16": cr.ones(3, dtype=cr.float16) / 3,
    "complex": cr.tensor([1 + 2j, -0.5j]),
    "bool": cr.tensor([True, False]),
    "int8": cr.tensor([-128, 127], dtype=cr.int8),
    "uint8": cr.tensor([0, 255], dtype=cr.uint8),
    "int64 beyond 2^53": cr.tensor([2 ** 62 + 1]),
    "non-finite and subnormal": cr.tensor([np.nan, np.inf, -np.inf, 1e-310, 1.7e308],
                                          dtype=cr.float64),
}


@pytest.mark.parametrize("name", list(CASES))
def test_unusual_tensors_round_trip_bit_for_bit(name: str) -> None:
    t = CASES[name]
    back = _round_trip({"t": t, "nested": [t, (t,)]})
    for u in (back["t"], back["nested"][0], back["nested"][1][0]):
        assert u.dtype == t.dtype and tuple(u.shape) == tuple(t.shape)
        a, b = t.numpy(), u.numpy()
        assert a.tobytes() == np.ascontiguousarray(b).tobytes() or np.array_equal(
            a, b, equal_nan=True)


def test_structure_values_round_trip() -> None:
    obj = {1: "a", (1, 2): [1, 2.5, None, True], "x": {"y": (float("nan"), float("inf"))},
           "ü": "ünï", "big": 2 ** 70, "np": np.float32(0.1), "dtype": cr.float64}
    back = _round_trip(obj)
    assert back[1] == "a" and back[(1, 2)] == [1, 2.5, None, True] and back["ü"] == "ünï"
    assert np.isnan(back["x"]["y"][0]) and back["x"]["y"][1] == np.inf
    assert back["big"] == 2 ** 70 and type(back["np"]) is np.float32 and back["np"] == obj["np"]
    assert back["dtype"] == cr.float64


def test_a_torch_tensor_is_refused_saying_it_is_torchs() -> None:
    with pytest.raises(TypeError, match="PyTorch Tensor, not a chainrule one"):
        cr.save({"w": torch.ones(2)}, io.BytesIO())
