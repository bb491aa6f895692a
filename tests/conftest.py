"""Suite-wide settings: one BLAS thread per test process.

The reference comparisons don't need threads, and two pytest-xdist workers each running
OpenBLAS and PyTorch with every core oversubscribe a 2-core machine badly (small GEMMs go
from 0.1 ms to tens of ms). Tests that exercise threaded paths set their own limits.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # read by torch at import
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # read by numpy's OpenBLAS at load

from threadpoolctl import threadpool_limits  # noqa: E402

_LIMITS = threadpool_limits(limits=1, user_api="blas")
