"""DistributedDataParallel in one process: the default world of one, and R identical ranks
simulated in process (buckets, one all-reduce per bucket, hooks, no_sync, state_dict)."""

from __future__ import annotations

import numpy as np
import pytest
from distributed_fakes import IdenticalRanks

import chainrule as cr
from chainrule import nn, optim
from chainrule.autograd import grad as autograd_grad
from chainrule.distributed import DistributedDataParallel, SyncBatchNorm
from chainrule.distributed.ddp import _buckets


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(4, 6)
        self.fc2 = nn.Linear(6, 3)
        self.unused = nn.Linear(2, 2)
        self.tag = "net"

    def forward(self, x: cr.Tensor) -> cr.Tensor:
        return self.fc2(self.fc1(x).tanh())


def make(seed: int = 0, dtype=cr.float64) -> Net:
    cr.manual_seed(seed)
    return Net().to(dtype)


def data(seed: int = 1):
    rng = np.random.default_rng(seed)
    return cr.from_numpy(rng.standard_normal((5, 4))), cr.from_numpy(rng.standard_normal((5, 3)))


def grads(model: nn.Module) -> dict[str, np.ndarray | None]:
    return {n: (None if p.grad is None else p.grad._array.copy())
            for n, p in model.named_parameters()}


def test_single_process_ddp_is_the_module():
    model, ref = make(), make()
    ddp = DistributedDataParallel(model)  # the world of one: no MPI needed
    assert ddp.comm.world_size == 1 and ddp._hook_handles == []
    x, c = data()
    (ddp(x) * c).sum().backward()
    (ref(x) * c).sum().backward()
    for (n, g), (_, h) in zip(grads(model).items(), grads(ref).items()):
        if h is None:
            assert g is None, n
        else:
            np.testing.assert_array_equal(g, h)


def test_state_dict_has_module_prefix_and_round_trips():
    ddp = DistributedDataParallel(make(0))
    keys = list(ddp.state_dict())
    assert keys[0] == "module.fc1.weight" and all(k.startswith("module.") for k in keys)
    other = DistributedDataParallel(make(5))
    other.load_state_dict(ddp.state_dict())
    np.testing.assert_array_equal(other.module.fc2.bias.data, ddp.module.fc2.bias.data)
    with pytest.raises(RuntimeError, match="Missing key"):
        other.load_state_dict(ddp.module.state_dict())


def test_attribute_access_and_modes_forward_to_module():
    ddp = DistributedDataParallel(make())
    assert ddp.fc1 is ddp.module.fc1 and ddp.tag == "net"
    ddp.eval()
    assert not ddp.module.fc1.training
    assert [id(p) for p in ddp.parameters()] == [id(p) for p in ddp.module.parameters()]
    with pytest.raises(AttributeError, match="nope"):
        ddp.nope  # noqa: B018


def test_one_allreduce_per_bucket_and_averaged_gradients():
    comm = IdenticalRanks(2)
    model, ref = make(), make()
    ddp = DistributedDataParallel(model, comm, bucket_cap_mb=100 / 2**20)
    n_buckets = len(ddp.bucket_sizes)
    assert n_buckets > 2 and sum(ddp.bucket_sizes) == sum(
        p.numel() for p in model.parameters())
    comm.calls.clear()
    x, c = data()
    (ddp(x) * c).sum().backward()  # the sync runs at the end of backward, by itself
    (ref(x) * c).sum().backward()
    assert [k for k, _ in comm.calls] == ["allreduce"] * n_buckets  # no per-parameter message
    for (n, g), (_, h) in zip(grads(model).items(), grads(ref).items()):
        if h is None:
            assert g is None, n  # no rank produced it: stays None
        else:
            np.testing.assert_allclose(g, h, rtol=1e-15, err_msg=n)  # mean of equal ranks


def test_buckets_one_dtype_each_and_capped():
    a = nn.Parameter(cr.zeros(10, dtype=cr.float32))
    b = nn.Parameter(cr.zeros(10, dtype=cr.float64))
    c = nn.Parameter(cr.zeros(300, dtype=cr.float32))
    d = nn.Parameter(cr.zeros(5, dtype=cr.float32))
    bs = _buckets([a, b, c, d], cap_bytes=400)
    assert [(bk.dtype, bk.numel) for bk in bs] == [
        (np.float32, 10), (np.float32, 300), (np.float32, 5), (np.float64, 10)]
    assert all(bk.flat.flags.c_contiguous for bk in bs)


def test_float32_model_reduces_in_float32_buckets():
    ddp = DistributedDataParallel(make(dtype=cr.float32), IdenticalRanks(2))
    assert {b.flat.dtype for b in ddp._grad_buckets} == {np.dtype(np.float32)}
    assert len(ddp.bucket_sizes) == 1  # the default 25 MB holds it all


def test_no_sync_then_sync_and_autograd_grad_does_not_sync():
    comm = IdenticalRanks(2)
    ddp = DistributedDataParallel(make(), comm)
    comm.calls.clear()
    x, c = data()
    with ddp.no_sync():
        (ddp(x) * c).sum().backward()
    assert comm.calls == []
    out = (ddp(x) * c).sum()
    autograd_grad(out, [ddp.module.fc1.weight])
    assert comm.calls == []  # autograd.grad accumulates nothing: nothing to average
    (ddp(x) * c).sum().backward()
    assert len(comm.calls) == 1


def test_sync_gradients_by_hand_and_bucket_views():
    comm = IdenticalRanks(2)
    model = make()
    ddp = DistributedDataParallel(model, comm, gradient_as_bucket_view=True)
    ddp.require_backward_grad_sync = False
    x, c = data()
    (ddp(x) * c).sum().backward()
    local = grads(model)
    ddp.sync_gradients()
    flat = ddp._grad_buckets[0].flat
    for n, p in model.named_parameters():
        if p.grad is not None:
            assert np.shares_memory(p.grad.data, flat), n
            np.testing.assert_allclose(p.grad.data, local[n], rtol=1e-15)
    opt = optim.SGD(ddp.parameters(), lr=0.1)
    opt.step()  # optimizers read the bucket views


def test_construction_checks_the_model_is_the_same_everywhere():
    class Mismatched(IdenticalRanks):
        def allgather(self, x):
            other = np.array(x, copy=True)
            other[0] += 1
            return [np.array(x, copy=True), other]

    with pytest.raises(RuntimeError, match="every rank must build the same model"):
        DistributedDataParallel(make(), Mismatched(2))


def test_buffers_broadcast_only_in_training_and_sync_bn_conversion():
    comm = IdenticalRanks(2)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    ddp = DistributedDataParallel(model, comm, sync_bn=True)
    assert isinstance(ddp.module[1], SyncBatchNorm) and ddp.module[1].comm is comm
    comm.calls.clear()
    ddp(cr.randn(6, 3))
    assert comm.calls[0][0] == "broadcast"  # rank 0's running statistics first
    comm.calls.clear()
    ddp.eval()
    ddp(cr.randn(6, 3))
    assert comm.calls == []  # evaluation communicates nothing


def test_bad_arguments():
    with pytest.raises(TypeError, match="wraps an nn.Module"):
        DistributedDataParallel(lambda x: x)
    with pytest.raises(ValueError, match="bucket_cap_mb"):
        DistributedDataParallel(make(), bucket_cap_mb=0)
