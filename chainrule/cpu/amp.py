"""``chainrule.cpu.amp``: PyTorch's deprecated spelling of :mod:`chainrule.amp` with
``device_type="cpu"`` (autocast is accepted and not applied; see :mod:`chainrule.amp`)."""

from __future__ import annotations

from chainrule.amp import _DeviceAutocast, _DeviceGradScaler

__all__ = ["GradScaler", "autocast"]


class autocast(_DeviceAutocast):  # noqa: N801 - PyTorch's name
    """``chainrule.cpu.amp.autocast(enabled=True, dtype=float16, cache_enabled=True)``:
    ``chainrule.amp.autocast("cpu", ...)``. PyTorch's default dtype here is bfloat16, which
    NumPy lacks; chainrule's is float16 (and neither is applied)."""

    _device_name = "cpu"


class GradScaler(_DeviceGradScaler):
    """``chainrule.cpu.amp.GradScaler(...)``: ``chainrule.amp.GradScaler("cpu", ...)``."""

    _device_name = "cpu"
