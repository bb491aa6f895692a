"""``chainrule.cuda.amp``: PyTorch's deprecated spelling of :mod:`chainrule.amp` with
``device_type="cuda"``. As PyTorch on a machine without CUDA, autocast and GradScaler made here
warn and disable themselves (chainrule has no CUDA device); use
``chainrule.amp.GradScaler("cpu")`` for real loss scaling."""

from __future__ import annotations

from typing import Any

from chainrule.amp import _DeviceAutocast, _DeviceGradScaler
from chainrule.amp import custom_bwd as _custom_bwd
from chainrule.amp import custom_fwd as _custom_fwd

__all__ = ["GradScaler", "autocast", "custom_bwd", "custom_fwd"]


class autocast(_DeviceAutocast):  # noqa: N801 - PyTorch's name
    """``chainrule.cuda.amp.autocast(enabled=True, dtype=float16, cache_enabled=True)``:
    ``chainrule.amp.autocast("cuda", ...)`` (disabled: no CUDA)."""

    _device_name = "cuda"


class GradScaler(_DeviceGradScaler):
    """``chainrule.cuda.amp.GradScaler(...)``: ``chainrule.amp.GradScaler("cuda", ...)``,
    disabled with a warning (no CUDA), as PyTorch without CUDA."""

    _device_name = "cuda"


def custom_fwd(fwd: Any = None, *, cast_inputs: Any = None) -> Any:
    """``chainrule.amp.custom_fwd(device_type="cuda")``."""
    return _custom_fwd(fwd, device_type="cuda", cast_inputs=cast_inputs)


def custom_bwd(bwd: Any = None) -> Any:
    """``chainrule.amp.custom_bwd(device_type="cuda")``."""
    return _custom_bwd(bwd, device_type="cuda")
