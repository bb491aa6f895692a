"""PyTorch's import paths of the distributed classes work from ``chainrule.nn``."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule
from chainrule import nn


def test_sync_batchnorm_under_nn_is_the_distributed_class() -> None:
    from chainrule.distributed import SyncBatchNorm

    assert nn.SyncBatchNorm is SyncBatchNorm


def test_convert_sync_batchnorm_from_nn_matches_batchnorm_in_one_process() -> None:
    chainrule.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU())
    x = chainrule.randn(8, 4)
    expected = model(x).detach().numpy()
    synced = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    assert isinstance(synced[1], nn.SyncBatchNorm)
    np.testing.assert_allclose(synced(x).detach().numpy(), expected, rtol=1e-6, atol=1e-6)


def test_nn_parallel_ddp_path() -> None:
    from chainrule.distributed import DistributedDataParallel
    from chainrule.nn.parallel import DistributedDataParallel as FromNN

    assert FromNN is DistributedDataParallel
    assert nn.parallel.DistributedDataParallel is DistributedDataParallel


def test_unknown_nn_attribute_names_itself() -> None:
    with pytest.raises(AttributeError, match="no attribute 'SyncBatchNorn'"):
        nn.SyncBatchNorn  # noqa: B018
