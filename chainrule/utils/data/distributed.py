"""``torch.utils.data.distributed``: :class:`DistributedSampler` under PyTorch's module path
(it lives in :mod:`chainrule.distributed.sampler`)."""

from chainrule.distributed.sampler import DistributedSampler

__all__ = ["DistributedSampler"]
