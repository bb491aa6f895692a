"""SyncBatchNorm in one process: the world of one equals BatchNorm; R identical in-process
ranks equal BatchNorm on the batch repeated R times; conversion shares parameters."""

from __future__ import annotations

import numpy as np
import pytest
from distributed_fakes import IdenticalRanks

import chainrule as cr
from chainrule import nn
from chainrule.distributed import Communicator, SyncBatchNorm, allreduce_sum, convert_sync_batchnorm


def pair(momentum=0.1, comm=None, seed=0):
    rng = np.random.default_rng(seed)
    w, b = rng.standard_normal(3), rng.standard_normal(3)
    sbn = SyncBatchNorm(3, momentum=momentum, comm=comm).double()
    ref = nn.BatchNorm1d(3, momentum=momentum).double()
    for m in (sbn, ref):
        m.weight.data[...] = w
        m.bias.data[...] = b
    return sbn, ref


def run(m, x, g, **kw):
    x = cr.from_numpy(x.copy()).requires_grad_()
    y = m(x, **kw)
    (y * cr.from_numpy(g)).sum().backward()
    return y.data, x.grad.data


def test_world_of_one_equals_batchnorm():
    rng = np.random.default_rng(1)
    x, g = rng.standard_normal((6, 3, 4)), rng.standard_normal((6, 3, 4))
    sbn, ref = pair()
    for a, b in zip(run(sbn, x, g), run(ref, x, g)):
        np.testing.assert_allclose(a, b, rtol=1e-12)


@pytest.mark.parametrize("shape,momentum", [((4, 3, 5), 0.1), ((5, 3), None),
                                            ((2, 3, 3, 2), 0.3)])
def test_identical_ranks_equal_batchnorm_on_repeated_batch(shape, momentum):
    world = 3
    rng = np.random.default_rng(2)
    x, g = rng.standard_normal(shape) * 3 + 2, rng.standard_normal(shape)
    sbn, ref = pair(momentum, IdenticalRanks(world))
    if len(shape) == 4:
        ref = nn.BatchNorm2d(3, momentum=momentum).double()
        ref.load_state_dict(sbn.state_dict())
    for _ in range(2):
        y, gx = run(sbn, x, g)
        y_ref, gx_ref = run(ref, np.concatenate([x] * world), np.concatenate([g] * world))
        np.testing.assert_allclose(y, y_ref[: len(x)], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(gx, gx_ref[: len(x)], rtol=1e-10, atol=1e-12)
    # each rank's parameter gradient is its share: the ranks' sum is the full one
    np.testing.assert_allclose(sbn.weight.grad.data * world, ref.weight.grad.data, rtol=1e-10)
    np.testing.assert_allclose(sbn.bias.grad.data * world, ref.bias.grad.data, rtol=1e-10)
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        np.testing.assert_allclose(getattr(sbn, name).data, getattr(ref, name).data,
                                   rtol=1e-12, err_msg=name)


def test_eval_uses_running_stats_without_communicating():
    class Refuses(Communicator):
        @property
        def world_size(self):
            return 2

        def iallreduce_(self, x, op="sum"):
            raise AssertionError("evaluation must not communicate")

    sbn, ref = pair(comm=Refuses())
    sbn.eval()
    ref.eval()
    x = np.random.default_rng(3).standard_normal((4, 3))
    np.testing.assert_allclose(sbn(cr.from_numpy(x)).data, ref(cr.from_numpy(x)).data)


def test_allreduce_sum_is_differentiable():
    comm = IdenticalRanks(2)
    x = cr.from_numpy(np.arange(3.0)).requires_grad_()
    y = allreduce_sum(x * x, comm)
    np.testing.assert_array_equal(y.data, 2 * np.arange(3.0) ** 2)
    (gx,) = cr.autograd.grad(y.sum(), [x], create_graph=True)
    np.testing.assert_array_equal(gx.data, 2 * 2 * np.arange(3.0))  # Σ_r of the cotangent
    (ggx,) = cr.autograd.grad(gx.sum(), [x])
    np.testing.assert_array_equal(ggx.data, [4.0, 4.0, 4.0])


def test_convert_sync_batchnorm_shares_state_and_mode():
    model = nn.Sequential(nn.Conv1d(1, 4, 3), nn.BatchNorm1d(4),
                          nn.Sequential(nn.Flatten(), nn.BatchNorm1d(8, affine=False)))
    model[2].eval()
    keys = list(model.state_dict())
    bn = model[1]
    out = convert_sync_batchnorm(model)
    assert out is model and isinstance(model[1], SyncBatchNorm)
    assert isinstance(model[2][1], SyncBatchNorm) and not model[2][1].training
    assert model[1].weight is bn.weight and model[1].running_mean is bn.running_mean
    assert model[2][1].weight is None
    assert list(model.state_dict()) == keys
    root = convert_sync_batchnorm(nn.BatchNorm2d(2))
    assert isinstance(root, SyncBatchNorm) and root.num_features == 2
    assert isinstance(SyncBatchNorm.convert_sync_batchnorm(nn.BatchNorm1d(2)), SyncBatchNorm)


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="expected 3 channels"):
        SyncBatchNorm(3, comm=IdenticalRanks(2))(cr.randn(4, 5))
    with pytest.raises(ValueError, match="at least 2D"):
        SyncBatchNorm(3, comm=IdenticalRanks(2))(cr.randn(4))
