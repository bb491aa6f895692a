"""Optional compiled kernels: one-pass loops compiled by Numba (the ``fast`` extra).

NumPy runs one pass over memory per operation, so an update like Adam's is a dozen passes over
every parameter, and a recurrent cell a dozen small calls per time step. Where that matters a
kernel is written once as a plain Python loop over flat arrays and compiled by Numba on first
use (``cache=True``: the machine code is kept on disk for the next process). Every caller
keeps its NumPy path: it is used when Numba is not installed, when the environment variable
``CHAINRULE_NO_JIT=1`` is set, inside :func:`disabled`, or when the arrays do not fit the
kernel (non-contiguous, mixed dtypes); tests check that both paths agree.

Kernels are compiled with ``error_model="numpy"`` (no Python zero-division checks, so loops
vectorise) and without ``fastmath`` (IEEE arithmetic, as NumPy).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import Any

_numba: Any = None  # the numba module, False when unavailable
_enabled = True


def available() -> bool:
    """True when kernels can be compiled (Numba importable and not switched off)."""
    global _numba
    if not _enabled or os.environ.get("CHAINRULE_NO_JIT"):
        return False
    if _numba is None:
        try:
            import numba

            _numba = numba
        except Exception:  # not installed, or a build that refuses this NumPy: no kernels
            _numba = False
    return bool(_numba)


@contextlib.contextmanager
def disabled() -> Iterator[None]:
    """Run the NumPy paths inside the block (to compare them with the kernels)."""
    global _enabled
    prev = _enabled
    _enabled = False
    try:
        yield
    finally:
        _enabled = prev


class Kernel:
    """A Python loop function compiled on first use; :meth:`get` returns the compiled function,
    or None when kernels are unavailable (the caller then takes its NumPy path)."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        self.compiled: Any = None

    def get(self) -> Callable[..., Any] | None:
        if not available():
            return None
        if self.compiled is None:
            self.compiled = _numba.njit(self.fn, cache=True, nogil=True, error_model="numpy")
        return self.compiled


def kernel(fn: Callable[..., Any]) -> Kernel:
    """Decorator: ``fn`` (a loop over flat arrays) becomes a lazily compiled :class:`Kernel`."""
    return Kernel(fn)


def flat(*arrays: Any) -> tuple[Any, ...] | None:
    """1-D views of arrays that share one float dtype and size and are C-contiguous, or None
    (then the kernel does not apply). Read-only arrays pass: Numba compiles a variant for
    them, and writing one fails as it would in NumPy."""
    a0 = arrays[0]
    dt, n = a0.dtype, a0.size
    if dt.kind != "f" or dt.itemsize < 4:
        return None
    for a in arrays:
        if a.dtype is not dt or a.size != n or not a.flags.c_contiguous:
            return None
    return tuple(a.reshape(-1) for a in arrays)


def run(k: Callable[..., Any], arrays: tuple[Any, ...], *scalars: Any) -> None:
    """``k(*arrays, *scalars)`` over flat arrays, split into contiguous ranges over the BLAS
    threads when large (see ``chainrule._threads.parallel``; kernels release the GIL)."""
    from chainrule._threads import parallel

    n = arrays[0].size

    def part(lo: int, hi: int) -> None:
        k(*[a[lo:hi] for a in arrays], *scalars)

    if n < 1 << 16:
        k(*arrays, *scalars)
    else:
        parallel(part, n, n * len(arrays))
