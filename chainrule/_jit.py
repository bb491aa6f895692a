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

Under :func:`chainrule.compile`: a kernel writes arrays where the tracer cannot see, so each
kernel declares which of its arguments it writes (``@kernel(writes=(0, 2))``). While a step is
captured, :meth:`Kernel.get` hands out a recorder instead of the compiled function: each call
is recorded as one opaque program step (``compile.traced_call``) that a replay runs again, the
same kernel on that replay's arrays, so a replayed step equals the eager one bit for bit. A
kernel without a declaration is not handed out during a capture (its caller takes the NumPy
path there). A kernel's return value reaches its caller as a 0-d array during a capture, so a
Python decision on it (``if kernel(...)``) becomes a value guard of the program.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import Any

_numba: Any = None  # the numba module, False when unavailable
_enabled = True
# set by chainrule.compile while it captures a step: ``recorder(fn, *args, writes=...)`` runs
# ``fn(*args)`` as one recorded call (compile.traced_call); None otherwise
recorder: Callable[..., Any] | None = None


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
    or None when kernels are unavailable (the caller then takes its NumPy path).

    ``writes``: the positions of the arguments the kernel writes (None: undeclared, then the
    kernel is not used while :mod:`chainrule.compile` captures a step)."""

    def __init__(self, fn: Callable[..., Any], writes: tuple[int, ...] | None = None) -> None:
        self.fn = fn
        self.writes = writes
        # whether the kernel returns a value (annotated other than ``-> None``)
        self.returns = fn.__annotations__.get("return") not in (None, "None")
        self.compiled: Any = None
        self.__name__ = fn.__name__
        # the callables a program records (one object each: two captures compare equal)
        self.recording = _Recorder(self, split=False)
        self.recording_split = _Recorder(self, split=True)

    def get(self) -> Callable[..., Any] | None:
        if not available():
            return None
        if self.compiled is None:
            self.compiled = _numba.njit(self.fn, cache=True, nogil=True, error_model="numpy")
        if recorder is not None:  # a capture runs: record the call (see the module docstring)
            return None if self.writes is None else self.recording
        return self.compiled


class _Recorder:
    """Stands for a :class:`Kernel` while a step is captured: calling it records one program
    step that writes the declared arguments, ``replay(*args)``, which the program calls again
    at every replay: the compiled kernel on ``args`` (0-d arrays among them as scalars of their
    dtype: live values the program re-reads at each replay), a result as a 0-d array; with
    ``split``, flat arrays then scalars, run as :func:`run` runs them."""

    def __init__(self, kernel: Kernel, split: bool) -> None:
        self.kernel, self.split = kernel, split

        def replay(*args: Any) -> Any:
            k = kernel.compiled
            if split:  # flat arrays (1-d), then the scalars
                n = 0
                while n < len(args) and getattr(args[n], "ndim", 0) >= 1:
                    n += 1
                _run_now(k, args[:n], *(_scalar(a) for a in args[n:]))
                return None
            r = k(*(_scalar(a) for a in args))
            return None if r is None else _asarray(r)

        # (the name the program's source calls it by)
        replay.__name__ = kernel.__name__ + ("_split" if split else "")
        self.replay = replay

    def __call__(self, *args: Any) -> Any:
        rec = recorder
        if rec is None:  # (the capture ended while the caller held this object)
            return self.replay(*args)
        k = self.kernel
        fn = self.replay
        if not (self.split or k.returns or any(getattr(a, "ndim", None) == 0 for a in args)):
            fn = k.compiled  # nothing to convert: the program calls the kernel itself
        return rec(fn, *args, writes=k.writes)


def _scalar(a: Any) -> Any:
    """A 0-d array as the scalar of its dtype, anything else as it is."""
    return a[()] if getattr(a, "ndim", None) == 0 else a


def _asarray(r: Any) -> Any:
    import numpy as np

    return np.asarray(r)


def kernel(fn: Callable[..., Any] | None = None, *,
           writes: tuple[int, ...] | None = None) -> Any:
    """Decorator: ``fn`` (a loop over flat arrays) becomes a lazily compiled :class:`Kernel`;
    ``@kernel(writes=(0, 2))`` declares the positions of the arguments it writes."""
    if fn is None:
        return lambda f: Kernel(f, writes)
    return Kernel(fn, writes)


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
    threads when large (see ``chainrule._threads.parallel``; kernels release the GIL). During a
    capture (``k`` from :meth:`Kernel.get` is then a recorder) the whole call is one program
    step, split over the threads at each replay. A 0-d array among ``scalars`` is passed as
    the scalar of its dtype."""
    if isinstance(k, _Recorder):
        k.kernel.recording_split(*arrays, *scalars)
        return
    _run_now(k, arrays, *(_scalar(s) for s in scalars))


def _run_now(k: Callable[..., Any], arrays: tuple[Any, ...], *scalars: Any) -> None:
    from chainrule._threads import parallel

    n = arrays[0].size

    def part(lo: int, hi: int) -> None:
        k(*[a[lo:hi] for a in arrays], *scalars)

    if n < 1 << 16:
        k(*arrays, *scalars)
    else:
        parallel(part, n, n * len(arrays))
