"""chainrule: a PyTorch-shaped deep-learning framework written from scratch on NumPy.

Replace ``import torch`` with ``import chainrule as torch`` in a script that uses the covered
subset and it runs. Subpackages (``nn``, ``optim``, ``utils``, ...) are imported on first use
so ``import chainrule`` stays fast.
"""

from __future__ import annotations

import builtins as _builtins
import importlib
from typing import Any

__version__ = "0.1.0"

from chainrule import backend
from chainrule.autograd.engine import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    is_inference_mode_enabled,
    no_grad,
    set_grad_enabled,
)
from chainrule.backend import default_dtype as get_default_dtype
from chainrule.backend import set_default_dtype
from chainrule.creation import (
    arange,
    as_tensor,
    bernoulli,
    empty,
    empty_like,
    eye,
    from_numpy,
    full,
    full_like,
    linspace,
    logspace,
    multinomial,
    normal,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randint_like,
    randn,
    randn_like,
    randperm,
    tensor,
    zeros,
    zeros_like,
)
from chainrule.histograms import bincount, histc, histogram
from chainrule.random import (
    Generator,
    default_generator,
    get_rng_state,
    initial_seed,
    manual_seed,
    seed,
    set_rng_state,
)
from chainrule.tensor import (
    FUNCTIONS as _FUNCTIONS,
)
from chainrule.tensor import (
    Tensor,
    _method_function,
    cat,
    concat,
    concatenate,
    device,
    einsum,
    stack,
    tensordot,
    where,
)
from chainrule.types import MinMax, Size

float16 = half = backend.float16
float32 = float = backend.float32
float64 = double = backend.float64
int8 = backend.int8
uint8 = backend.uint8
int16 = short = backend.int16
int32 = int = backend.int32
int64 = long = backend.int64
bool = backend.bool_  # noqa: A001 - PyTorch's name
complex64 = cfloat = backend.xp.dtype("complex64")  # (torch.fft's results)
complex128 = cdouble = backend.xp.dtype("complex128")
dtype = type(backend.float32)


class memory_format:  # noqa: N801 - PyTorch's name
    """PyTorch's memory-format tags; chainrule arrays are always C-contiguous, so factory
    functions accept them and change nothing."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"chainrule.{self.name}"


preserve_format = memory_format("preserve_format")
contiguous_format = memory_format("contiguous_format")

for _name in _FUNCTIONS:
    if _name not in globals():
        globals()[_name] = _method_function(_name)
del _name

from chainrule import _more_functions as _more  # noqa: E402  (attaches Tensor methods too)

globals().update(_more.TORCH_FUNCTIONS)

# everyday torch names (aliases, composites, windows, constants) and the matching Tensor methods
from chainrule import _tensor_extras, _torch_extras  # noqa: E402,F401

_torch_extras.install(globals())

from chainrule import (  # noqa: E402
    _linalg_api,
    autograd,
)

_linalg_api.install_tensor_methods(Tensor)  # x.inverse(), x.addmm(...): modules load on use

_LAZY = {
    "nn", "optim", "utils", "datasets", "vision", "train", "diagnostics", "lab", "constrained",
    "distributed", "cuda", "analysis", "serialization", "cli", "zoo", "func", "accelerator",
    "onnx", "distributions", "compile", "backends", "linalg", "amp", "jit", "testing", "cpu",
    "special", "fft", "hub", "profiler", "sparse", "compiler", "_dynamo", "version",
}
# PyTorch's legacy typed constructors (chainrule._legacy) and torch.autocast (chainrule.amp).
_FROM = {
    **dict.fromkeys(("FloatTensor", "DoubleTensor", "HalfTensor", "ByteTensor", "CharTensor",
                     "ShortTensor", "IntTensor", "LongTensor", "BoolTensor"), "_legacy"),
    "autocast": "amp", "is_autocast_enabled": "amp", "get_autocast_dtype": "amp",
    "set_printoptions": "_printing", "get_printoptions": "_printing",
    "sparse_coo_tensor": "sparse", "spmm": "sparse",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        mod = importlib.import_module(f"chainrule.{name}")
        globals()[name] = mod
        return mod
    if name in _linalg_api.FUNCTIONS:  # torch.det, torch.addmm, torch.searchsorted, ...
        fn = _linalg_api.load(name)
        globals()[name] = fn
        return fn
    if name in _FROM:
        return getattr(importlib.import_module(f"chainrule.{_FROM[name]}"), name)
    if name in ("save", "load"):
        mod = importlib.import_module("chainrule.serialization")
        return getattr(mod, name)
    if name == "summary":
        return importlib.import_module("chainrule.nn.summary").summary
    if name in ("finfo", "iinfo"):
        return getattr(importlib.import_module("chainrule._finfo"), name)
    if name == "cdist":  # torch.cdist (lives with the other distances in nn.functional)
        return importlib.import_module("chainrule.nn._functional.distance").cdist
    if name == "vmap":  # torch.vmap is torch.func.vmap
        return importlib.import_module("chainrule.func").vmap
    raise AttributeError(f"module 'chainrule' has no attribute {name!r}")


def is_tensor(obj: Any) -> Any:
    """True if ``obj`` is a chainrule Tensor."""
    return isinstance(obj, Tensor)


def numel(x: Tensor) -> Any:
    return x.numel()


_DETERMINISTIC = {"mode": False, "warn_only": False}


def use_deterministic_algorithms(mode: Any, *, warn_only: Any = False) -> None:
    """``torch.use_deterministic_algorithms``: recorded, and already true of every chainrule op
    (results depend only on inputs and explicit generators, never on thread timing)."""
    if not isinstance(mode, _builtins.int) or not isinstance(warn_only, _builtins.int):
        raise TypeError("use_deterministic_algorithms(mode, *, warn_only=False) expects bools, "
                        f"got mode={mode!r}, warn_only={warn_only!r}")
    _DETERMINISTIC.update(mode=_builtins.bool(mode), warn_only=_builtins.bool(warn_only))


def are_deterministic_algorithms_enabled() -> Any:
    return _DETERMINISTIC["mode"]


def is_deterministic_algorithms_warn_only_enabled() -> Any:
    return _DETERMINISTIC["warn_only"]


def set_num_threads(n: Any) -> None:
    """Limit BLAS threads (threadpoolctl); chainrule's own code is single-threaded."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(n)


def get_num_threads() -> Any:
    from threadpoolctl import threadpool_info

    info = [d["num_threads"] for d in threadpool_info() if d.get("user_api") == "blas"]
    return info[0] if info else 1
