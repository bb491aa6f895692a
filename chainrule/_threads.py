"""chainrule's own thread pool, for the memory-bound array loops that release the GIL.

im2col, col2im, pooling, the layout copies and Adadelta's blocks are memory-bound NumPy calls;
with the GEMMs multi-threaded by BLAS they would otherwise be the single-threaded majority of a
step. They use as many threads as BLAS (so ``set_num_threads`` / threadpoolctl govern both,
and a 1-thread comparison stays 1-thread).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from chainrule.backend import blas_threads

PAR_MIN = 1 << 18  # elements below which one thread is faster than handing work over
_pool: ThreadPoolExecutor | None = None
_pool_pid = 0
_pool_lock = threading.Lock()  # two training threads may both ask for the pool first


def workers() -> int:
    """NumPy's BLAS thread count (1 when it cannot be read)."""
    return blas_threads()


def _get_pool(size: int) -> ThreadPoolExecutor:
    global _pool, _pool_pid
    with _pool_lock:
        if _pool is None or _pool._max_workers < size or _pool_pid != os.getpid():
            # a forked child (DataLoader workers) inherits the pool object but not its threads
            _pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="chainrule")
            _pool_pid = os.getpid()
        return _pool


def parallel(fn: Callable[[int, int], Any], n: int, work: int) -> None:
    """Run ``fn(lo, hi)`` over [0, n) in up to :func:`workers` contiguous chunks, in threads
    when ``work`` (elements touched) is large enough; the caller's thread takes one chunk."""
    t = min(workers(), n) if work >= PAR_MIN else 1
    if t <= 1:
        fn(0, n)
        return
    pool = _get_pool(t - 1)
    cuts = [n * i // t for i in range(t + 1)]
    futures = [pool.submit(fn, cuts[i], cuts[i + 1]) for i in range(1, t)]
    fn(cuts[0], cuts[1])
    for f in futures:
        f.result()
