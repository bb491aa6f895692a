"""torch.utils.data names that were missing: StackDataset, ChainDataset and the
torch.utils.data.distributed path of DistributedSampler, against torch."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import chainrule  # noqa: E402
from chainrule.utils import data as D  # noqa: E402


class Stream(D.IterableDataset):
    def __init__(self, start: int, n: int) -> None:
        self.start, self.n = start, n

    def __iter__(self):
        return iter(range(self.start, self.start + self.n))

    def __len__(self) -> int:
        return self.n


def test_stack_dataset_tuple_and_dict():
    a = D.TensorDataset(chainrule.arange(4.0))
    b = D.TensorDataset(chainrule.arange(4) * 10)
    assert D.StackDataset(a, b)[2] == (a[2], b[2]) and len(D.StackDataset(a, b)) == 4
    named = D.StackDataset(x=a, y=b)
    assert named[3]["y"][0].item() == 30
    batch = next(iter(D.DataLoader(named, batch_size=2)))
    assert set(batch) == {"x", "y"} and batch["y"][0].tolist() == [0, 10]


@pytest.mark.parametrize("args, kwargs", [((3, 4), {}), ((3,), {"a": 3}), ((), {})])
def test_stack_dataset_errors_are_torchs(args, kwargs):
    msgs = []
    for lib, mod in ((torch, torch.utils.data), (chainrule, D)):
        def make(n, lib=lib, mod=mod):
            return (mod.TensorDataset(lib.ones(n)))
        with pytest.raises(ValueError) as info:
            mod.StackDataset(*[make(n) for n in args], **{k: make(n) for k, n in kwargs.items()})
        msgs.append(str(info.value))
    assert msgs[1] == msgs[0]


def test_chain_dataset():
    chain = D.ChainDataset([Stream(0, 3), Stream(10, 2)])
    assert list(chain) == [0, 1, 2, 10, 11] and len(chain) == 5
    assert [b.tolist() for b in D.DataLoader(chain, batch_size=2)] == [[0, 1], [2, 10], [11]]
    with pytest.raises(AssertionError, match="only supports IterableDataset"):
        list(D.ChainDataset([D.TensorDataset(chainrule.ones(2))]))


def test_distributed_sampler_under_torchs_path():
    from chainrule.utils.data.distributed import DistributedSampler

    assert D.DistributedSampler is DistributedSampler
    assert D.distributed.DistributedSampler is DistributedSampler
    ds = D.TensorDataset(chainrule.arange(10.0))
    shards = [list(DistributedSampler(ds, num_replicas=3, rank=r, shuffle=False))
              for r in range(3)]
    ref = [list(torch.utils.data.distributed.DistributedSampler(
        torch.utils.data.TensorDataset(torch.arange(10.0)), num_replicas=3, rank=r,
        shuffle=False)) for r in range(3)]
    assert shards == ref                         # unshuffled: PyTorch's shards and padding
