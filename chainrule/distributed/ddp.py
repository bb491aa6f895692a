"""Data-parallel training: :class:`DistributedDataParallel`.

Every rank holds a full replica of the model and runs forward and backward on its own shard of
the global batch; the gradients are then averaged over the ranks,
g = (1/R) Σ_r g_r, so every rank takes the same optimizer step, and with equal local batches
that step is the one a single process takes on the whole global batch (the mean loss over the
global batch is the mean of the ranks' mean losses).

How the gradients travel: the parameters' gradients are copied into a few contiguous buckets
(one dtype each, float32 for a float32 model, at most ``bucket_cap_mb`` megabytes), and each
bucket is reduced by ONE in-place ``MPI_Iallreduce`` (``MPI.IN_PLACE``): no message per
parameter. The buckets are all started before any is waited on, so MPI can overlap them.

When it happens: DDP registers a hook on every parameter; the first one to fire in a backward
pass queues ``sync_gradients`` with the autograd engine (``chainrule.autograd.engine.
queue_callback``), which runs it once that pass has accumulated every ``.grad``. So
``loss.backward()`` returns with averaged gradients, as in PyTorch, and callbacks that clip or
inspect gradients see the averaged ones. Inside ``with ddp.no_sync():`` gradients accumulate
locally; the next synchronised backward averages the accumulated sum (all-reduce is linear).
``sync_gradients()`` can also be called by hand.

BatchNorm buffers (running statistics) differ per rank because each rank normalises its own
shard. Three choices, as in PyTorch: ``broadcast_buffers=True`` (default) copies rank 0's
buffers to every rank before each training forward; ``broadcast_buffers=False`` keeps them
local (rank 0's are the ones checkpointed); ``sync_bn=True`` (or
:func:`~chainrule.distributed.convert_sync_batchnorm`) turns BatchNorm layers into
:class:`~chainrule.distributed.SyncBatchNorm`, whose statistics are those of the global batch.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator
from typing import Any

import numpy as np

from chainrule.autograd.engine import no_grad, queue_callback
from chainrule.distributed.communicator import Communicator, Work, get_world
from chainrule.distributed.sync_batchnorm import convert_sync_batchnorm
from chainrule.nn.modules.module import Module
from chainrule.tensor import Tensor, _wrap

__all__ = ["DistributedDataParallel"]


class _Bucket:
    """Contiguous storage for the gradients of some parameters of one dtype, plus one
    presence slot per parameter (1 where this rank has a gradient, summed by the reduce)."""

    def __init__(self, params: list[Any]) -> None:
        self.params = params
        self.dtype = params[0]._array.dtype
        sizes = [p._array.size for p in params]
        self.numel = int(sum(sizes))
        self.flat = np.zeros(self.numel + len(params), dtype=self.dtype)
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        self.views = [self.flat[a:b].reshape(p._array.shape)
                      for a, b, p in zip(offsets[:-1], offsets[1:], params)]
        self.presence = self.flat[self.numel:]

    def pack(self) -> None:
        """Gradients into the bucket (no copy for a gradient that is already its view)."""
        for k, (p, view) in enumerate(zip(self.params, self.views)):
            g = p.grad
            if g is None:
                view[...] = 0
                self.presence[k] = 0
            else:
                if g._array is not view:
                    np.copyto(view, g._array)
                self.presence[k] = 1

    def unpack(self, scale: float, as_view: bool) -> None:
        """Hand the reduced sum back to the parameters' ``.grad`` as a mean (scaled on the way
        out: one pass over the data)."""
        for k, (p, view) in enumerate(zip(self.params, self.views)):
            if self.presence[k] == 0:  # no rank produced a gradient: leave it None
                continue
            g = p.grad
            if as_view:
                np.multiply(view, scale, out=view)
                if g is None or g._array is not view:
                    p.grad = _wrap(view)
            elif g is not None and not g.requires_grad and g._array.flags.writeable:
                np.multiply(view, scale, out=g._array)
            else:
                p.grad = _wrap(view * scale)


def _buckets(params: list[Any], cap_bytes: float) -> list[_Bucket]:
    """Group parameters (in the order given) into buckets of one dtype and at most
    ``cap_bytes`` (a larger parameter gets a bucket of its own)."""
    out: list[_Bucket] = []
    by_dtype: dict[Any, list[Any]] = {}
    for p in params:
        by_dtype.setdefault(p._array.dtype, []).append(p)
    for group in by_dtype.values():
        current: list[Any] = []
        size = 0
        for p in group:
            nbytes = p._array.nbytes
            if current and size + nbytes > cap_bytes:
                out.append(_Bucket(current))
                current, size = [], 0
            current.append(p)
            size += nbytes
        if current:
            out.append(_Bucket(current))
    return out


def _flat_groups(tensors: list[Tensor]) -> dict[Any, tuple[np.ndarray, list[Tensor]]]:
    """Tensors grouped by dtype, each group packed into one flat array."""
    groups: dict[Any, list[Tensor]] = {}
    for t in tensors:
        groups.setdefault(t._array.dtype, []).append(t)
    return {dt: (np.concatenate([t._array.reshape(-1) for t in ts]), ts)
            for dt, ts in groups.items()}


def _broadcast_tensors(comm: Communicator, tensors: list[Tensor], root: int = 0) -> None:
    """Overwrite ``tensors`` with rank ``root``'s values: one broadcast per dtype."""
    if comm.world_size == 1 or not tensors:
        return
    for flat, ts in _flat_groups(tensors).values():
        comm.broadcast_(flat, root)
        offset = 0
        with no_grad():
            for t in ts:
                n = t._array.size
                np.copyto(t._array, flat[offset: offset + n].reshape(t._array.shape))
                offset += n


class DistributedDataParallel(Module):
    """Replicate ``module`` on every rank of ``comm`` and average gradients after backward.

    g ← (1/R) Σ_r g_r for every parameter, in ``bucket_cap_mb`` buckets of one in-place
    all-reduce each (see the module docstring for when it runs and for BatchNorm buffers).
    At construction rank 0's parameters and buffers are broadcast to all ranks
    (``init_sync``), after checking that every rank built the same model. ``state_dict``
    keys carry PyTorch's ``module.`` prefix; other attributes are looked up on the wrapped
    module. ``device_ids``, ``output_device``, ``dim``, ``find_unused_parameters`` and
    ``static_graph`` are accepted for PyTorch scripts and change nothing (CPU only; a
    parameter without a gradient on some rank counts as a zero gradient there).

    Example::

        # mpirun -np 2 python -m mpi4py train.py
        model = DistributedDataParallel(nn.Linear(4, 2))
        loss = model(chainrule.randn(8, 4)).pow(2).mean()
        loss.backward()                    # .grad is now the mean over both ranks
    """

    def __init__(self, module: Module, comm: Communicator | None = None,
                 bucket_cap_mb: float = 25.0, broadcast_buffers: bool = True,
                 sync_bn: bool = False, *, process_group: Communicator | None = None,
                 gradient_as_bucket_view: bool = False, init_sync: bool = True,
                 device_ids: Any = None, output_device: Any = None, dim: int = 0,
                 find_unused_parameters: bool = False, static_graph: bool = False) -> None:
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel wraps an nn.Module, got "
                            f"{type(module).__name__}")
        if comm is not None and process_group is not None and comm is not process_group:
            raise ValueError("DistributedDataParallel: give comm or process_group, not both")
        if not bucket_cap_mb > 0:
            raise ValueError(f"DistributedDataParallel: bucket_cap_mb must be positive, got "
                             f"{bucket_cap_mb!r}")
        self.comm = comm or process_group or get_world()
        if sync_bn:
            module = convert_sync_batchnorm(module, self.comm)
        self.module = module
        self.bucket_cap_mb = float(bucket_cap_mb)
        self.broadcast_buffers = broadcast_buffers
        self.gradient_as_bucket_view = gradient_as_bucket_view
        self.require_backward_grad_sync = True
        self.device_ids, self.output_device, self.dim = device_ids, output_device, dim
        self.find_unused_parameters, self.static_graph = find_unused_parameters, static_graph
        self._queued = False
        params = [p for p in module.parameters() if p.requires_grad]
        # reversed: roughly the order in which backward produces the gradients (PyTorch's)
        self._grad_buckets = _buckets(params[::-1], self.bucket_cap_mb * 2**20)
        if self.comm.world_size > 1:
            self._check_same_model()
            if init_sync:
                _broadcast_tensors(self.comm, list(module.parameters()) + self._buffers_list())
        ref = weakref.ref(self)  # a weak one: a discarded wrapper must stop synchronising
        self._hook_handles = ([p.register_hook(lambda g, ref=ref: _grad_ready(ref))
                               for p in params] if self.comm.world_size > 1 else [])

    # ---- the wrapped module ---------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Rank 0's buffers to every rank (training, ``broadcast_buffers``), then the module."""
        if self.broadcast_buffers and self.training and self.comm.world_size > 1:
            _broadcast_tensors(self.comm, self._buffers_list())
        return self.module(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            module = self.__dict__.get("_modules", {}).get("module")
            if module is None:
                raise
            return getattr(module, name)

    def _buffers_list(self) -> list[Tensor]:
        return [b for b in self.module.buffers() if b is not None]

    def _check_same_model(self) -> None:
        """Every rank must wrap a model with the same parameter and buffer shapes."""
        params = list(self.module.parameters())
        sig = np.array([len(params), sum(p._array.size for p in params),
                        len(self._buffers_list()), sum(b.numel() for b in self._buffers_list())],
                       dtype=np.int64)
        sigs = self.comm.allgather(sig)
        for r, s in enumerate(sigs):
            if not np.array_equal(s, sig):
                raise RuntimeError(
                    f"DistributedDataParallel: rank {self.comm.rank} wraps a model with "
                    f"{sig[0]} parameters ({sig[1]} elements) and {sig[2]} buffers, rank {r} "
                    f"one with {s[0]} parameters ({s[1]} elements) and {s[2]} buffers: every "
                    "rank must build the same model"
                )

    # ---- gradients --------------------------------------------------------------------------
    def sync_gradients(self) -> None:
        """Average every parameter's ``.grad`` over the ranks: g ← (1/R) Σ_r g_r.

        One in-place all-reduce per bucket, all started before the first wait. A parameter
        without a gradient on a rank counts as zero there; one without a gradient on every
        rank keeps ``grad = None``.
        """
        world = self.comm.world_size
        if world == 1:
            return
        works: list[Work] = []
        for b in self._grad_buckets:
            b.pack()
            works.append(self.comm.iallreduce_(b.flat, "sum"))
        for b, w in zip(self._grad_buckets, works):
            w.wait()
            b.unpack(1.0 / world, self.gradient_as_bucket_view)

    def _after_backward(self) -> None:
        self._queued = False
        if self.require_backward_grad_sync:
            self.sync_gradients()

    @contextlib.contextmanager
    def no_sync(self) -> Iterator[None]:
        """Backward passes inside accumulate gradients locally without communicating."""
        old = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = old

    @property
    def bucket_sizes(self) -> list[int]:
        """Number of gradient elements in each bucket (one all-reduce each)."""
        return [b.numel for b in self._grad_buckets]

    def extra_repr(self) -> str:
        return (f"world_size={self.comm.world_size}, buckets={len(self._grad_buckets)}, "
                f"broadcast_buffers={self.broadcast_buffers}")


def _grad_ready(ref: weakref.ref) -> None:
    """Parameter hook: queue one gradient sync for the end of this backward pass."""
    ddp = ref()
    if ddp is None or ddp._queued or not ddp.require_backward_grad_sync:
        return
    ddp._queued = True
    queue_callback(ddp._after_backward)
