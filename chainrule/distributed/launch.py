"""Launch helpers: is this process one rank of an MPI job, where is ``mpiexec``, and ending
the whole job when one rank raises.

The recommended launch is::

    mpirun -np 4 python -m mpi4py -m chainrule train ...

``python -m mpi4py`` calls ``MPI_Abort`` when a rank ends with an unhandled exception, so the
other ranks do not wait forever in their next collective. An MPI communicator also installs
the same guard as a ``sys.excepthook`` (:func:`install_abort_excepthook`) for scripts started
without ``-m mpi4py``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from typing import Any

__all__ = [
    "MPI_SIZE_VARIABLES",
    "mpi_world_size_from_env",
    "is_mpi_launched",
    "install_abort_excepthook",
    "find_mpiexec",
    "mpiexec_command",
    "mpiexec_env",
]

# set by the launchers for every rank: Open MPI, MPICH/Intel MPI (Hydra, PMI), MVAPICH
MPI_SIZE_VARIABLES = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MV2_COMM_WORLD_SIZE")

_hook_installed = False


def mpi_world_size_from_env(environ: dict[str, str] | None = None) -> int | None:
    """The number of ranks when an MPI launcher started this process, else None."""
    env = os.environ if environ is None else environ
    for var in MPI_SIZE_VARIABLES:
        raw = env.get(var)
        if raw:
            try:
                return int(raw)
            except ValueError:
                raise ValueError(f"{var}={raw!r} is not an integer number of ranks") from None
    return None


def is_mpi_launched(environ: dict[str, str] | None = None) -> bool:
    """True when ``mpirun``/``mpiexec`` (Open MPI, MPICH, Intel MPI, MVAPICH) started us."""
    return mpi_world_size_from_env(environ) is not None


def install_abort_excepthook(comm: Any) -> None:
    """On an unhandled exception: print this rank's traceback, then ``comm.Abort(1)`` so that
    every rank of the job ends (instead of the others hanging in their next collective)."""
    global _hook_installed
    if _hook_installed:
        return
    previous = sys.excepthook
    rank, size = comm.Get_rank(), comm.Get_size()

    def abort_all(exc_type: type[BaseException], exc: BaseException, tb: Any) -> None:
        try:
            # The error itself goes on the first line: the launcher forwards a rank's output
            # asynchronously and Abort can cut off the end of the traceback on a busy machine.
            sys.stderr.write(f"chainrule.distributed: rank {rank} of {size} raised "
                             f"{exc_type.__name__}: {exc}; aborting all ranks\n")
            sys.stderr.flush()
            previous(exc_type, exc, tb)
            sys.stdout.flush()
            sys.stderr.flush()
            time.sleep(0.2)  # let the launcher forward the traceback before the ranks die
        finally:
            comm.Abort(1)

    sys.excepthook = abort_all
    _hook_installed = True


def find_mpiexec() -> str | None:
    """``mpiexec`` (or ``mpirun``) next to this Python first (the ``mpich`` wheel puts it in
    the virtual environment's ``bin``), then on ``PATH``; None if there is none."""
    here = os.path.dirname(sys.executable)
    path = here + os.pathsep + os.environ.get("PATH", "")
    for name in ("mpiexec", "mpirun"):
        found = shutil.which(name, path=path)
        if found:
            return found
    return None


def _is_open_mpi(mpiexec: str) -> bool:
    try:
        out = subprocess.run([mpiexec, "--version"], capture_output=True, text=True,
                             timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return "Open MPI" in out or "OpenRTE" in out or "PRRTE" in out


def mpiexec_command(np_: int, args: list[str], oversubscribe: bool = False,
                    mpiexec: str | None = None) -> list[str]:
    """``[mpiexec, -n, np_, *args]``; ``oversubscribe`` adds Open MPI's ``--oversubscribe``
    (MPICH's Hydra runs more ranks than cores without a flag)."""
    exe = mpiexec or find_mpiexec()
    if exe is None:
        raise FileNotFoundError("no mpiexec/mpirun found: pip install 'chainrule[dist]' "
                                "(mpi4py + mpich) or install an MPI library")
    cmd = [exe, "-n", str(int(np_))]
    if oversubscribe and _is_open_mpi(exe):
        cmd.append("--oversubscribe")
    return cmd + list(args)


def mpiexec_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """An environment for ``mpiexec`` that also works as root in a container (Open MPI refuses
    root without ``OMPI_ALLOW_RUN_AS_ROOT=1`` and ``OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1``)."""
    env = dict(os.environ if base is None else base)
    env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
    env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    return env
