"""Mixed precision as PyTorch spells it: ``autocast`` and ``GradScaler`` (``torch.amp``).

**autocast is accepted, not applied.** ``chainrule.autocast(device_type, dtype=None,
enabled=True, cache_enabled=None)`` (also ``chainrule.amp.autocast``,
``chainrule.cpu.amp.autocast``, ``chainrule.cuda.amp.autocast``) works as a context manager and
as a decorator, validates its arguments as PyTorch does, and computes nothing differently:
every op runs in its inputs' own dtypes. Why not cast matmul/linear/conv inputs to float16:

- PyTorch's CPU autocast type is bfloat16, which NumPy does not have;
- NumPy's float16 matrix product does not call BLAS (it is a plain C loop, orders of magnitude
  slower than float32 ``sgemm``: 94 ms against 0.21 ms for 256×256, one thread, measured on a
  loaded machine) and NumPy has no float16 accumulation into float32, so a real
  autocast would make every program slower and would not reproduce PyTorch's numbers either.

So a region under ``autocast("cpu")`` gives float32 results where PyTorch gives bfloat16 ones
(more precise, not bitwise equal), and ``is_autocast_enabled()`` stays False because no op is
autocast. A one-time warning says so. ``autocast("cuda")`` behaves as PyTorch does on a machine
without CUDA: it warns and disables itself.

**GradScaler is real.** Dynamic loss scaling as ``torch.amp.GradScaler``: ``scale(loss)``
multiplies by S; ``unscale_(optimizer)`` multiplies every gradient by 1/S (float32 reciprocal,
as PyTorch) and records whether any was inf/NaN; ``step(optimizer)`` unscales if needed and
skips ``optimizer.step()`` when a non-finite gradient was found; ``update()`` sets
S ← S·backoff_factor after an overflow (and resets the growth tracker), else counts a good step
and sets S ← S·growth_factor after ``growth_interval`` consecutive good steps. S is kept in
float32, as PyTorch keeps it. ``GradScaler("cuda")`` (the default device, and
``chainrule.cuda.amp.GradScaler``) is disabled with a warning, exactly as PyTorch does when CUDA
is unavailable; ``GradScaler("cpu")`` is enabled. A disabled scaler is the identity:
``scale`` returns its input, ``step`` calls ``optimizer.step()``, ``get_scale()`` is 1.0.

Example::

    scaler = chainrule.amp.GradScaler("cpu")
    for x, y in loader:
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        scaler.scale(loss).backward()
        scaler.unscale_(opt)                       # optional: clip true gradients
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        scaler.step(opt)                           # skipped if a gradient is inf/NaN
        scaler.update()
"""

from __future__ import annotations

import enum
import functools
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from chainrule import backend

__all__ = ["GradScaler", "autocast", "custom_bwd", "custom_fwd", "get_autocast_dtype",
           "is_autocast_available", "is_autocast_enabled"]

_DEVICE_TYPES = ("cpu", "cuda", "mps", "xpu", "hpu", "xla", "meta", "mtia")
_warned_not_applied = False


def _device_type(device_type: Any) -> str:
    if not isinstance(device_type, str):
        raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
    name = device_type.split(":", 1)[0]
    if name not in _DEVICE_TYPES:
        raise RuntimeError(f"Expected one of {', '.join(_DEVICE_TYPES)} device type at start "
                           f"of device string: {device_type}")
    return name


def is_autocast_available(device_type: str) -> bool:
    """Whether autocast exists for ``device_type`` (PyTorch: cpu and cuda here); chainrule
    accepts the cpu regions but does not cast (see the module docstring)."""
    return _device_type(device_type) == "cpu"


def is_autocast_enabled(device_type: str | None = None) -> bool:
    """Always False: chainrule never autocasts an op (see the module docstring)."""
    if device_type is not None:
        _device_type(device_type)
    return False


def get_autocast_dtype(device_type: str) -> Any:
    """The dtype an autocast region on ``device_type`` would use by default, as PyTorch:
    float16 for cuda; for cpu PyTorch's bfloat16, which NumPy lacks, so float16 is returned."""
    _device_type(device_type)
    return backend.float16


class autocast:  # noqa: N801 - PyTorch's name
    """``autocast(device_type, dtype=None, enabled=True, cache_enabled=None)``: a context
    manager / decorator that chainrule accepts without casting (module docstring)."""

    def __init__(self, device_type: str, dtype: Any = None, enabled: bool = True,
                 cache_enabled: bool | None = None) -> None:
        self.device = _device_type(device_type)
        if not isinstance(enabled, (bool, np.bool_)):
            raise ValueError(f"Expected `enabled` to be bool, got {type(enabled).__name__}")
        self.fast_dtype = get_autocast_dtype(self.device) if dtype is None else \
            dtype if dtype is backend.bfloat16 else backend.to_dtype(dtype)
        self._enabled = bool(enabled)
        self._cache_enabled = cache_enabled
        if not self._enabled:
            return
        if self.device == "cpu":
            if self.fast_dtype is not backend.bfloat16 and self.fast_dtype != backend.float16:
                warnings.warn("In CPU autocast, but the target dtype is not supported. "
                              "Disabling autocast.\nCPU Autocast only supports dtypes of "
                              "chainrule.bfloat16, chainrule.float16 currently.",
                              UserWarning, stacklevel=2)
                self._enabled = False
            else:
                _warn_not_applied()
        else:
            warnings.warn(f"{self.device.upper()} is not available. Disabling autocast.",
                          UserWarning, stacklevel=2)
            self._enabled = False

    def __enter__(self) -> autocast:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def __call__(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self:
                return fn(*args, **kwargs)

        return wrapper


def _warn_not_applied() -> None:
    global _warned_not_applied
    if not _warned_not_applied:
        _warned_not_applied = True
        warnings.warn("chainrule.autocast: autocast is not applied; chainrule computes every "
                      "op in its inputs' own dtypes (float32 results where PyTorch's CPU "
                      "autocast gives bfloat16). See docs/pytorch.md.", UserWarning,
                      stacklevel=3)


def custom_fwd(fwd: Callable | None = None, *, device_type: str = "cuda",
               cast_inputs: Any = None) -> Any:
    """``torch.amp.custom_fwd`` for a custom Function's forward. PyTorch casts the inputs to
    ``cast_inputs`` only inside an enabled autocast region; chainrule never has one, so the
    forward is returned unchanged."""
    _device_type(device_type)
    if fwd is None:
        return functools.partial(custom_fwd, device_type=device_type, cast_inputs=cast_inputs)
    return fwd


def custom_bwd(bwd: Callable | None = None, *, device_type: str = "cuda") -> Any:
    """``torch.amp.custom_bwd``: runs backward under the forward's autocast state, which in
    chainrule is always "off", so the function is returned unchanged."""
    _device_type(device_type)
    if bwd is None:
        return functools.partial(custom_bwd, device_type=device_type)
    return bwd


class _Stage(enum.Enum):
    READY = 0
    UNSCALED = 1
    STEPPED = 2


def _fresh_state() -> dict[str, Any]:
    return {"stage": _Stage.READY, "found_inf": None}


class GradScaler:
    """Dynamic loss scaling (``torch.amp.GradScaler``); see the module docstring.

    Update rule after each ``update()``: with ``found_inf`` any non-finite gradient since the
    last update, S ← S·backoff_factor and tracker ← 0 if found_inf; else tracker ← tracker + 1,
    and when tracker reaches ``growth_interval``, S ← S·growth_factor (kept only if finite) and
    tracker ← 0.
    """

    def __init__(self, device: str = "cuda", init_scale: float = 2.0 ** 16,
                 growth_factor: float = 2.0, backoff_factor: float = 0.5,
                 growth_interval: int = 2000, enabled: bool = True) -> None:
        self._device = _device_type(device)
        self._enabled = bool(enabled)
        if self._enabled and self._device != "cpu":
            warnings.warn(f"chainrule.amp.GradScaler is enabled, but {self._device.upper()} is "
                          "not available.  Disabling.", UserWarning, stacklevel=2)
            self._enabled = False
        if self._enabled:
            if growth_factor <= 1.0:
                raise ValueError(f"The growth factor must be > 1.0, got {growth_factor}")
            if backoff_factor >= 1.0:
                raise ValueError(f"The backoff factor must be < 1.0, got {backoff_factor}")
        self._init_scale = float(init_scale)
        self._scale: np.float32 | None = None  # created by the first scale(), as PyTorch
        self._growth_factor = float(growth_factor)
        self._backoff_factor = float(backoff_factor)
        self._growth_interval = int(growth_interval)
        self._init_growth_tracker = 0
        self._growth_tracker: int | None = None
        self._per_optimizer: dict[int, dict[str, Any]] = {}

    # ----- scaling -----
    def _lazy_init(self) -> None:
        self._scale = np.float32(self._init_scale)
        self._growth_tracker = self._init_growth_tracker

    def scale(self, outputs: Any) -> Any:
        """``outputs`` (a Tensor or nested list/tuple of Tensors) multiplied by the scale."""
        from chainrule.creation import tensor
        from chainrule.tensor import Tensor

        if not self._enabled:
            return outputs
        if self._scale is None:
            self._lazy_init()
        s = tensor(self._scale, dtype=backend.float32)

        def apply(v: Any) -> Any:
            if isinstance(v, Tensor):
                return v * s
            if isinstance(v, (list, tuple)):
                return type(v)(map(apply, v))
            if isinstance(v, Iterable):
                return map(apply, v)
            raise ValueError("outputs must be a Tensor or an iterable of Tensors")

        return apply(outputs)

    def _state(self, optimizer: Any) -> dict[str, Any]:
        return self._per_optimizer.setdefault(id(optimizer), _fresh_state())

    def _check_initialised(self, fn: str) -> None:
        if self._scale is None:  # (PyTorch raises an AssertionError here)
            raise AssertionError(f"Attempted {fn} but _scale is None.  This may indicate your "
                               "script did not use scaler.scale(loss or outputs) earlier in "
                               "the iteration.")

    def _unscale_grads(self, optimizer: Any, inv_scale: np.float32, allow_fp16: bool) -> bool:
        """Multiply every gradient by ``inv_scale`` in place; True if any was inf/NaN."""
        from chainrule.autograd.engine import no_grad

        found = False
        with no_grad():
            for group in optimizer.param_groups:
                for p in group["params"]:
                    g = p.grad
                    if g is None:
                        continue
                    if not allow_fp16 and g.dtype == backend.float16:
                        raise ValueError("Attempting to unscale FP16 gradients.")
                    found = found or not bool(np.isfinite(g._array).all())
                    if inv_scale != 1:
                        # in place, as PyTorch (a gradient view the optimizer holds stays valid)
                        g.mul_(float(inv_scale))
        return found

    def unscale_(self, optimizer: Any) -> None:
        """Divide ``optimizer``'s gradients by the scale (once per ``update()``), e.g. before
        clipping; records whether any gradient is inf/NaN for ``step``."""
        if not self._enabled:
            return
        self._check_initialised("unscale_")
        state = self._state(optimizer)
        if state["stage"] is _Stage.UNSCALED:
            raise RuntimeError("unscale_() has already been called on this optimizer since the "
                               "last update().")
        if state["stage"] is _Stage.STEPPED:
            raise RuntimeError("unscale_() is being called after step().")
        # PyTorch: the reciprocal in double, then rounded to float
        inv_scale = np.float32(1.0 / np.float64(self._scale))
        state["found_inf"] = self._unscale_grads(optimizer, inv_scale, allow_fp16=False)
        state["stage"] = _Stage.UNSCALED

    def step(self, optimizer: Any, *args: Any, **kwargs: Any) -> Any:
        """``optimizer.step(*args, **kwargs)`` on unscaled gradients, skipped (returning None)
        when any of them is inf/NaN."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs:
            raise RuntimeError("Closure use is not currently supported if GradScaler is "
                               "enabled.")
        self._check_initialised("step")
        state = self._state(optimizer)
        if state["stage"] is _Stage.STEPPED:
            raise RuntimeError("step() has already been called since the last update().")
        if state["stage"] is _Stage.READY:
            self.unscale_(optimizer)
        if state["found_inf"] is None:
            raise AssertionError("No inf checks were recorded for this optimizer.")
        retval = None
        if not state["found_inf"]:
            retval = optimizer.step(*args, **kwargs)
        state["stage"] = _Stage.STEPPED
        return retval

    def update(self, new_scale: float | Any = None) -> None:
        """Adjust the scale (see the class docstring), or set it to ``new_scale``."""
        if not self._enabled:
            return
        self._check_initialised("update")
        if new_scale is not None:
            from chainrule.tensor import Tensor

            if isinstance(new_scale, Tensor):
                if new_scale.numel() != 1:
                    raise ValueError("new_scale should be a single-element tensor")
                new_scale = new_scale.item()
            elif not isinstance(new_scale, float):
                raise ValueError("new_scale should be a float or a 1-element "
                                 "chainrule.FloatTensor with requires_grad=False.")
            self._scale = np.float32(new_scale)
        else:
            infs = [s["found_inf"] for s in self._per_optimizer.values()
                    if s["found_inf"] is not None]
            if not infs:
                raise AssertionError("No inf checks were recorded prior to update.")
            self._update_scale(any(infs))
        self._per_optimizer = {}

    def _update_scale(self, found_inf: bool) -> None:
        assert self._scale is not None and self._growth_tracker is not None
        if found_inf:
            self._scale = np.float32(self._scale * np.float32(self._backoff_factor))
            self._growth_tracker = 0
            return
        successful = self._growth_tracker + 1
        if successful == self._growth_interval:
            grown = np.float32(self._scale * np.float32(self._growth_factor))
            if np.isfinite(grown):
                self._scale = grown
            self._growth_tracker = 0
        else:
            self._growth_tracker = successful

    # ----- accessors -----
    def get_scale(self) -> float:
        """The current scale (``init_scale`` before the first ``scale()``; 1.0 if disabled)."""
        if not self._enabled:
            return 1.0
        return self._init_scale if self._scale is None else float(self._scale)

    def get_growth_factor(self) -> float:
        return self._growth_factor

    def set_growth_factor(self, new_factor: float) -> None:
        self._growth_factor = float(new_factor)

    def get_backoff_factor(self) -> float:
        return self._backoff_factor

    def set_backoff_factor(self, new_factor: float) -> None:
        self._backoff_factor = float(new_factor)

    def get_growth_interval(self) -> int:
        return self._growth_interval

    def set_growth_interval(self, new_interval: int) -> None:
        self._growth_interval = int(new_interval)

    def _get_growth_tracker(self) -> int:
        if not self._enabled:
            return 0
        return self._init_growth_tracker if self._growth_tracker is None else \
            self._growth_tracker

    def is_enabled(self) -> bool:
        return self._enabled

    def state_dict(self) -> dict[str, Any]:
        """``scale``, ``growth_factor``, ``backoff_factor``, ``growth_interval`` and
        ``_growth_tracker`` (PyTorch's keys); empty when disabled."""
        if not self._enabled:
            return {}
        return {"scale": self.get_scale(), "growth_factor": self._growth_factor,
                "backoff_factor": self._backoff_factor,
                "growth_interval": self._growth_interval,
                "_growth_tracker": self._get_growth_tracker()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if not self._enabled:
            return
        if len(state_dict) == 0:
            raise RuntimeError("The source state dict is empty, possibly because it was saved "
                               "from a disabled instance of GradScaler.")
        self._init_scale = float(state_dict["scale"])
        if self._scale is not None:
            self._scale = np.float32(self._init_scale)
        self._growth_factor = float(state_dict["growth_factor"])
        self._backoff_factor = float(state_dict["backoff_factor"])
        self._growth_interval = int(state_dict["growth_interval"])
        self._init_growth_tracker = int(state_dict["_growth_tracker"])
        if self._growth_tracker is not None:
            self._growth_tracker = self._init_growth_tracker


class _DeviceAutocast(autocast):
    """Base of ``chainrule.cpu.amp.autocast`` / ``chainrule.cuda.amp.autocast``: PyTorch's
    deprecated per-device spellings (a FutureWarning, as PyTorch)."""

    _device_name = "cpu"

    def __init__(self, enabled: bool = True, dtype: Any = backend.float16,
                 cache_enabled: bool = True) -> None:
        d = self._device_name
        warnings.warn(f"`chainrule.{d}.amp.autocast(args...)` is deprecated. Please use "
                      f"`chainrule.amp.autocast('{d}', args...)` instead.", FutureWarning,
                      stacklevel=2)
        super().__init__(d, dtype=dtype, enabled=enabled, cache_enabled=cache_enabled)


class _DeviceGradScaler(GradScaler):
    """Base of ``chainrule.cpu.amp.GradScaler`` / ``chainrule.cuda.amp.GradScaler``."""

    _device_name = "cpu"

    def __init__(self, init_scale: float = 2.0 ** 16, growth_factor: float = 2.0,
                 backoff_factor: float = 0.5, growth_interval: int = 2000,
                 enabled: bool = True) -> None:
        d = self._device_name
        warnings.warn(f"`chainrule.{d}.amp.GradScaler(args...)` is deprecated. Please use "
                      f"`chainrule.amp.GradScaler('{d}', args...)` instead.", FutureWarning,
                      stacklevel=2)
        super().__init__(d, init_scale, growth_factor, backoff_factor, growth_interval,
                         enabled)
