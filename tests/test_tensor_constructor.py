"""``torch.Tensor(...)``, the legacy constructor, as PyTorch: sizes give a tensor of that shape,
data is copied and converted to the default dtype (RL code feeds float64 observations through
``torch.Tensor(obs)`` into float32 layers), a tensor is shared."""
import numpy as np
import pytest
import torch

import chainrule as cr

CASES = {
    "float64 array": lambda L: L.Tensor(np.array([1.5, 2.0])),
    "int array": lambda L: L.Tensor(np.array([1, 2])),
    "bool array": lambda L: L.Tensor(np.array([True, False])),
    "list of ints": lambda L: L.Tensor([1, 2]),
    "nested list": lambda L: L.Tensor([[1.0, 2.0], [3.0, 4.0]]),
    "tuple is data": lambda L: L.Tensor((2, 3)),
    "sizes": lambda L: L.Tensor(2, 3),
    "one size": lambda L: L.Tensor(3),
    "Size": lambda L: L.Tensor(L.Size([2, 3])),
    "NumPy int sizes": lambda L: L.Tensor(np.int64(2), 3),
    "nothing": lambda L: L.Tensor(),
    "float32 tensor": lambda L: L.Tensor(L.ones(2)),
    "float64 tensor": lambda L: L.Tensor(L.ones(2, dtype=L.float64)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_legacy_constructor_matches_torch(case: str) -> None:
    ours, theirs = CASES[case](cr), CASES[case](torch)
    assert str(ours.dtype) == str(theirs.dtype).replace("torch.", "")
    assert tuple(ours.shape) == tuple(theirs.shape)
    if case not in ("sizes", "one size", "Size", "NumPy int sizes"):  # (torch: uninitialised)
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_data_is_copied_and_a_tensor_is_shared() -> None:
    a = np.zeros(3, dtype=np.float32)
    t = cr.Tensor(a)
    a[0] = 7.0
    assert t[0].item() == 0.0  # a copy, as torch.Tensor(ndarray)
    base = cr.zeros(3)
    alias = cr.Tensor(base)
    base.add_(1)
    assert alias.sum().item() == 3.0  # shares, as torch.Tensor(tensor)


def test_float64_observation_feeds_a_float32_layer() -> None:
    obs = np.random.default_rng(0).standard_normal((2, 4))  # float64, as gym returns
    layer = cr.nn.Linear(4, 3)
    assert layer(cr.Tensor(obs)).dtype == cr.float32


def test_parameter_of_an_uninitialised_tensor_then_init() -> None:
    w = cr.nn.Parameter(cr.Tensor(5, 4))  # the pre-1.0 custom-layer idiom
    cr.nn.init.kaiming_uniform_(w, a=5 ** 0.5)
    assert w.shape == (5, 4) and w.dtype == cr.float32 and float(w.abs().sum()) > 0


@pytest.mark.parametrize("bad,error", [((-1,), RuntimeError), ((2, 3.0), TypeError)])
def test_bad_sizes_are_refused(bad: tuple, error: type) -> None:
    with pytest.raises(error):
        cr.Tensor(*bad)
    with pytest.raises(error):
        torch.Tensor(*bad)
