"""The optimizer base class: PyTorch's outer API over a two-method subclass contract.

A subclass defines

* ``init_state(p, group) -> dict``: the per-parameter state (moment buffers, step counter),
  created the first time the parameter has a gradient;
* ``update(p, g, state, group) -> None``: one update of the parameter array ``p`` (an ndarray,
  written in place) from its gradient array ``g`` (already negated when ``maximize`` is set),
  with the update equations in its docstring.

Everything else (param groups with per-group options, ``add_param_group``, ``state`` keyed by
parameter, ``step(closure)``, ``zero_grad``, ``state_dict``/``load_state_dict`` with PyTorch's
layout, step hooks, the proximal L1 and max-norm post-step options) lives here.

A subclass may instead be written the PyTorch way: ``super().__init__(params, defaults)`` and
its own ``step(closure=None)`` that loops over ``self.param_groups`` and updates Tensors in
place under ``no_grad`` (``p.add_(...)``, buffers kept as Tensors in ``self.state[p]``). As in
PyTorch, the step hooks run around such a ``step`` too, and ``load_state_dict`` gives it its
state back as Tensors (the built-in contract gets arrays).

Updates run on the arrays under the parameters, never recording a graph, and write the
parameter in place (``out=``), so that no large temporaries are allocated per step (DESIGN.md §5:
page faults on fresh temporaries cost more than the arithmetic).
"""

from __future__ import annotations

import copy
import functools
import math
import warnings
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable
from itertools import chain
from typing import Any

from chainrule.autograd.engine import enable_grad
from chainrule.backend import xp
from chainrule.tensor import Tensor, _wrap
from chainrule.utils.hooks import RemovableHandle

__all__ = ["Optimizer", "required"]


class _Required:
    """Marker for a hyperparameter without a default (``SGD``'s lr in old PyTorch)."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _Required()


# set by chainrule.compile while it captures a step (None otherwise): see ``live_scalar``
_live_hook: Any = None


def live_scalar(group: dict[str, Any], key: str) -> Any:
    """``group[key]``; while ``chainrule.compile`` captures a step, a 0-d array that the replayed
    program re-reads from ``group`` every time (so LR schedulers keep working under replay)."""
    return group[key] if _live_hook is None else _live_hook(group, key)


class _Coefficients:
    """``fn`` on Python floats, its results as 0-d arrays of one dtype: see :func:`coefficients`.
    Two instances of the same ``fn`` and dtype are equal, so two captures of one step compare
    equal call for call."""

    def __init__(self, fn: Callable[..., tuple], dtype: Any) -> None:
        self.fn, self.dtype = fn, xp.dtype(dtype)
        self.__name__ = fn.__name__

    def __call__(self, *args: Any) -> tuple:
        floats = [float(a) if isinstance(a, xp.ndarray) else a for a in args]
        return tuple(xp.asarray(v, dtype=self.dtype) for v in self.fn(*floats))

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, _Coefficients) and other.fn is self.fn
                and other.dtype == self.dtype)

    __hash__ = object.__hash__


def coefficients(fn: Callable[..., tuple], dtype: Any, *args: Any) -> tuple:
    """The scalar coefficients of an update, ``fn(*args)`` computed with Python floats and
    returned as 0-d arrays of ``dtype`` (the parameter's, as a Python float would be cast).

    Bias corrections and schedules need ``**`` (``β₂ᵗ``), and NumPy's ``power`` can differ
    from C's ``pow`` in the last bit; so eager steps and ``chainrule.compile`` replays both run
    this same Python code: under a capture it is one recorded call that the replay reruns on the
    live step counter (and the live ``lr``), so a replayed step equals the eager one bit for
    bit.
    """
    from chainrule import backend

    call = _Coefficients(fn, dtype)
    return backend.traced_call(call, *args) if backend.traced_call else call(*args)


def to_scalar(value: Any) -> float:
    """A hyperparameter given as a Python number or a one-element Tensor, as a float."""
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        return float(value.item())
    return value


def _with_step_hooks(step: Callable) -> Callable:
    """Run the step pre/post hooks around ``step`` (PyTorch patches every subclass's step the
    same way), once per call even when a subclass's step calls ``super().step()``."""
    if getattr(step, "_runs_step_hooks", False):
        return step

    @functools.wraps(step)
    def wrapper(self: Optimizer, *args: Any, **kwargs: Any) -> Any:
        if self.__dict__.get("_in_step"):
            return step(self, *args, **kwargs)
        self.__dict__["_in_step"] = True
        try:
            for hook in list(self._step_pre_hooks.values()):
                res = hook(self, args, kwargs)
                if res is not None:
                    if not (isinstance(res, tuple) and len(res) == 2):
                        raise RuntimeError(f"{hook} must return None or a tuple of "
                                           f"(new_args, new_kwargs), but got {res}.")
                    args, kwargs = res
            out = step(self, *args, **kwargs)
            for hook in list(self._step_post_hooks.values()):
                hook(self, args, kwargs)
        finally:
            self.__dict__["_in_step"] = False
        return out

    wrapper._runs_step_hooks = True  # type: ignore[attr-defined]
    return wrapper


def _real_view(a: Any) -> Any:
    """A complex array seen as real, (re, im) on a new last dim, sharing storage (a real
    array as it is)."""
    if a.dtype.kind != "c":
        return a
    a = xp.ascontiguousarray(a)
    return a.reshape(-1).view(a.real.dtype).reshape(a.shape + (2,))


def _update_complex(opt: Any, p: Any, g: Any, state: dict[str, Any],
                    group: dict[str, Any]) -> None:
    """One update of a complex parameter, made as PyTorch makes it: on the real views of the
    parameter, its gradient and its complex state (so Adam's second moment holds Re g² and
    Im g² apart, not |g|²). The state stays complex-shaped, as PyTorch's."""
    views = {k: _real_view(v) for k, v in state.items()
             if isinstance(v, xp.ndarray) and v.dtype.kind == "c" and v.shape == p.shape}
    real_state = {**state, **views}
    pr = _real_view(p)
    opt.update(pr, _real_view(g), real_state, group)
    if not xp.shares_memory(pr, p):  # (a non-contiguous parameter: written back)
        p[...] = pr[..., 0] + 1j * pr[..., 1]
    for k, v in real_state.items():
        if k in views and v is views[k]:
            continue  # (updated in place, through the view)
        if k in views and isinstance(v, xp.ndarray) and v.shape[-1:] == (2,):
            v = xp.ascontiguousarray(v).view(state[k].dtype).reshape(p.shape)
        state[k] = v


class Optimizer:
    """Base class of all optimizers (PyTorch's ``torch.optim.Optimizer`` API).

    Args:
        params: an iterable of Tensors, of ``(name, Tensor)`` pairs, or of dicts (parameter
            groups: ``{"params": [...], "lr": ...}``) whose options override ``defaults``.
        defaults: the default value of each hyperparameter.

    Every group may also carry the chainrule option ``max_norm`` that any optimizer honours
    after its update: each slice along dim 0 of every parameter with ``ndim >= 2`` (each unit's
    incoming weight vector of a ``Linear``/conv weight) is rescaled to norm <= c (Srivastava
    et al. 2014). SGD, Adam and AdamW also take ``l1`` (proximal soft-thresholding after the
    step, see :meth:`prox_l1_`).

    Example::

        opt = chainrule.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        for x, y in loader:
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            opt.step()
    """

    #: whether ``self.state`` holds arrays (chainrule's optimizers) or Tensors (a user's
    #: PyTorch-style subclass with its own ``step``); ``load_state_dict`` restores that kind
    _array_state = True
    #: the per-parameter state entries that ``update`` also accepts as 0-d float64 arrays
    #: changed in place (PyTorch's ``capturable``; ``state["step"] += 1`` does it): while
    #: :mod:`chainrule.compile` captures a step it turns these Python floats into such arrays,
    #: so a replay advances them. Any other Python number in the state that a captured step
    #: changes keeps the step eager, with a warning (a replay could not advance it).
    scalar_state: tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "step" in cls.__dict__:
            cls.step = _with_step_hooks(cls.__dict__["step"])  # type: ignore[method-assign]
            if not cls.__module__.startswith("chainrule."):
                cls._array_state = False

    def __init__(self, params: Any, defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        self.state: defaultdict[Any, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        self._step_pre_hooks: OrderedDict[int, Callable] = OrderedDict()
        self._step_post_hooks: OrderedDict[int, Callable] = OrderedDict()
        self._scratch: dict[Any, Any] = {}
        if isinstance(params, Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors or "
                f"dicts, but got {_typename(params)}"
            )
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(dict(group))

    # ---- the subclass contract --------------------------------------------------------------
    def init_state(self, p: Any, group: dict[str, Any]) -> dict[str, Any]:
        """The state of parameter array ``p`` before its first update (default: none)."""
        return {}

    def update(self, p: Any, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """Update parameter array ``p`` in place from gradient array ``g``."""
        raise NotImplementedError(f"{type(self).__name__} must define update() (abstract)")

    # ---- groups -----------------------------------------------------------------------------
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own options (the rest from ``defaults``).

        Example::

            opt.add_param_group({"params": new_layer.parameters(), "lr": 1e-3})
        """
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group)}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but the "
                "ordering of tensors in sets will change between runs. Please use a list instead."
            )
        else:
            params = list(params)
        names = [p[0] for p in params if isinstance(p, tuple)]
        tensors = [p[1] if isinstance(p, tuple) else p for p in params]
        param_group["params"] = tensors
        if names:
            if len(names) != len(tensors):
                raise ValueError("all optimizer params should be with/without names. Some param "
                                 "names are missing")
            param_group["param_names"] = names
        for p in tensors:
            if not isinstance(p, Tensor):
                raise TypeError(
                    "optimizer can only optimize Tensors, but one of the params is "
                    f"{_typename(p)}"
                )
            if not (p.is_leaf or p.retains_grad):
                raise ValueError("can't optimize a non-leaf Tensor")
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError("parameter group didn't specify a value of required "
                                 f"optimization parameter {name}")
            param_group.setdefault(name, default)
        if len(tensors) != len({id(p) for p in tensors}):
            warnings.warn("optimizer contains a parameter group with duplicate parameters; "
                          "in future, this will cause an error", stacklevel=3)
        seen: set[int] = set()
        for group in self.param_groups:
            seen.update(id(p) for p in group["params"])
            if ("param_names" in param_group) != ("param_names" in group):
                which = "with names" if "param_names" in param_group else "without names"
                raise ValueError("all optimizer param groups should be with/without names. "
                                 f"cannot add param group {which} to the optimizer")
        if any(id(p) in seen for p in tensors):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    # ---- stepping ---------------------------------------------------------------------------
    @_with_step_hooks
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient; returns ``closure()``'s loss.

        ``closure`` (optional) re-evaluates the model and returns the loss; it runs with
        gradient recording enabled, before the update. Pre-step hooks run before the closure,
        post-step hooks after the update (PyTorch's order).
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            self._step_group(group)
        return loss

    def _step_group(self, group: dict[str, Any]) -> None:
        maximize = group.get("maximize", False)
        max_norm = group.get("max_norm")
        states = self.state
        for p in group["params"]:
            grad = p.grad
            if grad is None:
                continue
            g = grad._array
            if maximize:
                g = xp.negative(g)
            state = states.get(p)
            if state is None:
                state = self.init_state(p._array, group)
            if p._array.dtype.kind == "c":
                _update_complex(self, p._array, g, state, group)
            else:
                self.update(p._array, g, state, group)
            if state:
                states[p] = state
            if max_norm is not None and p._array.ndim >= 2:
                _max_norm(p, max_norm)
            p._bump_version()  # an in-place change: graphs that saved p must notice

    def register_step_pre_hook(self, hook: Callable) -> RemovableHandle:
        """Call ``hook(optimizer, args, kwargs)`` before each ``step``; it may return
        ``(new_args, new_kwargs)`` for the step. Returns a handle."""
        handle = RemovableHandle(self._step_pre_hooks)
        self._step_pre_hooks[handle.id] = hook
        return handle

    def register_step_post_hook(self, hook: Callable) -> RemovableHandle:
        """Call ``hook(optimizer, args, kwargs)`` after each ``step``; returns a handle.

        Example (a max-norm constraint on chosen weights, with any optimizer)::

            opt.register_step_post_hook(lambda o, a, k: nn.utils.max_norm_([w], 3.0))
        """
        handle = RemovableHandle(self._step_post_hooks)
        self._step_post_hooks[handle.id] = hook
        return handle

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients: to ``None`` (default) or to zeros in place."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    if p.grad.grad_fn is not None or not p.grad._array.flags.writeable:
                        p.grad = _wrap(p.grad._array.copy())
                    p.grad.requires_grad = False
                    p.grad._array.fill(0)

    # ---- helpers for subclasses ---------------------------------------------------------------
    def scratch(self, p: Any, slot: int = 0) -> Any:
        """A reusable temporary shaped like array ``p`` (one per slot and dtype), so updates do
        not allocate (and page-fault) fresh arrays every step."""
        key = (slot, p.dtype)
        buf = self._scratch.get(key)
        if buf is None or buf.size < p.size:
            buf = xp.empty(p.size, dtype=p.dtype)
            self._scratch[key] = buf
        return buf[: p.size].reshape(p.shape)

    def decayed(self, p: Any, g: Any, weight_decay: float) -> Any:
        """``g + weight_decay * p`` (coupled L2) in a scratch array; ``g`` itself if no decay."""
        if weight_decay == 0:
            return g
        out = self.scratch(p, 1)
        xp.multiply(p, weight_decay, out=out)
        out += g
        return out

    def prox_l1_(self, p: Any, threshold: Any) -> None:
        """Soft-threshold ``p`` in place: p ← sign(p)·max(|p| − τ, 0).

        This is the proximal operator of ``τ·‖p‖₁`` (τ a scalar, or an array for a diagonal
        metric); entries with ``|p| <= τ`` become exactly zero, where a subgradient penalty only
        makes them oscillate around zero.
        """
        t = self.scratch(p, 0)
        xp.abs(p, out=t)
        t -= threshold
        xp.maximum(t, 0, out=t)
        xp.copysign(t, p, out=p)

    # ---- state dict -------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The optimizer state with PyTorch's layout.

        ``{"state": {i: {...}}, "param_groups": [{..., "params": [i, ...]}]}`` where ``i``
        numbers the parameters across groups in order. Array buffers appear as Tensors that
        share memory with the live state (as in PyTorch, copy them to snapshot).
        """
        mapping: dict[int, int] = {}
        start = 0
        groups = []
        for group in self.param_groups:
            for k, p in enumerate(group["params"]):
                mapping.setdefault(id(p), start + k)
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = [mapping[id(p)] for p in group["params"]]
            start += len(group["params"])
            groups.append(packed)
        # a step counter that chainrule.compile made a 0-d array (capturable) is saved as the
        # Python number an eager run keeps, so a checkpoint does not depend on compilation
        scalars = self.scalar_state
        state = {
            (mapping[id(k)] if isinstance(k, Tensor) else k):
                {n: float(a) if n in scalars and isinstance(a, xp.ndarray) and a.ndim == 0
                 else _pack(a) for n, a in v.items()} if isinstance(v, dict) else _pack(v)
            for k, v in self.state.items()
        }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a ``state_dict()``; training then resumes on exactly the same trajectory.

        Buffers are deep-copied and cast to their parameter's dtype; group options are taken
        from the saved groups.
        """
        groups = self.param_groups
        tensors = not self._array_state
        saved_groups = copy.deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        for g, s in zip(groups, saved_groups):
            if len(g["params"]) != len(s["params"]):
                raise ValueError("loaded state dict contains a parameter group that doesn't "
                                 "match the size of optimizer's group")
        id_map = dict(zip(chain.from_iterable(g["params"] for g in saved_groups),
                          chain.from_iterable(g["params"] for g in groups)))
        state: defaultdict[Any, dict[str, Any]] = defaultdict(dict)
        for k, v in state_dict["state"].items():
            if isinstance(k, str) and k.isdigit():  # keys that went through JSON
                k = int(k)
            if k in id_map:
                p = id_map[k]
                state[p] = {name: _unpack(val, p, name, tensors) for name, val in v.items()}
            else:
                state[k] = copy.deepcopy(v)
        new_groups = []
        for g, s in zip(groups, saved_groups):
            s["params"] = g["params"]
            if "param_names" in g and "param_names" not in s:
                s["param_names"] = g["param_names"]
            new_groups.append(s)
        self.state = state
        self.param_groups = new_groups

    # ---- misc -------------------------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        return {"defaults": self.defaults, "state": self.state,
                "param_groups": self.param_groups}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._step_pre_hooks = OrderedDict()
        self._step_post_hooks = OrderedDict()
        self._scratch = {}

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(group):
                if key != "params":
                    lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)


def _max_norm(p: Tensor, max_norm: float) -> None:
    """The ``max_norm`` group option: ``nn.utils.max_norm_`` on one weight (rows of dim 0)."""
    from chainrule.nn.utils import max_norm_

    max_norm_(p, max_norm)


def _pack(value: Any) -> Any:
    """A state value for ``state_dict``: arrays become Tensors sharing memory."""
    if isinstance(value, xp.ndarray):
        return _wrap(value)
    if isinstance(value, dict):
        return {k: _pack(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_pack(v) for v in value]
    return value


def _unpack(value: Any, p: Tensor, key: Any = None, tensors: bool = False) -> Any:
    """A state value from ``load_state_dict``: a private copy, floating arrays cast to ``p``'s
    dtype (the step counter and other scalars stay Python numbers). Foreign tensors with a
    ``numpy()`` method (a PyTorch state dict) are read through it.

    ``tensors=True`` (an optimizer with its own PyTorch-style ``step``) returns Tensors for
    tensor values, floating ones cast to ``p``'s dtype except ``step`` (PyTorch's rule)."""
    was_tensor = isinstance(value, Tensor) or hasattr(value, "detach")
    if isinstance(value, Tensor):
        value = value._array
    elif hasattr(value, "detach") and hasattr(value, "numpy"):
        value = xp.asarray(value.detach().numpy())
    if tensors and was_tensor and isinstance(value, xp.ndarray):
        if value.dtype.kind == "f" and key != "step":
            value = value.astype(p._array.dtype)
        return _wrap(value.copy())
    if isinstance(value, xp.ndarray):
        if value.ndim == 0 and key in ("step", "mu_product", "H_diag", "t"):
            return float(value)
        if value.dtype.kind == "f" and value.dtype != p._array.dtype:
            return value.astype(p._array.dtype)
        return value.copy()
    if isinstance(value, dict):
        return {k: _unpack(v, p, k, tensors) for k, v in value.items()}
    if isinstance(value, list):
        return [_unpack(v, p, None, tensors) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return value
    return copy.deepcopy(value)


def _typename(obj: Any) -> str:
    if isinstance(obj, Tensor):
        return f"chainrule.Tensor (shape {tuple(obj.shape)}, dtype {obj.dtype})"
    return type(obj).__name__


def check_lr(lr: Any) -> None:
    """Validate a learning rate with PyTorch's message."""
    if isinstance(lr, Tensor) and lr.numel() != 1:
        raise ValueError("Tensor lr must be 1-element")
    if not to_scalar(lr) >= 0.0:
        raise ValueError(f"Invalid learning rate: {lr}")


def check_nonneg(name: str, value: float) -> None:
    """``Invalid <name> value: v`` for a negative value (PyTorch's wording)."""
    if not value >= 0.0:
        raise ValueError(f"Invalid {name} value: {value}")


def check_betas(betas: Iterable[float]) -> None:
    """``Invalid beta parameter at index i: b`` unless 0 <= b < 1."""
    for i, b in enumerate(betas):
        if not 0.0 <= b < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: {b}")


def check_impl_flags(foreach: Any, fused: Any, differentiable: bool) -> None:
    """PyTorch's implementation switches: accepted, checked for contradictions.

    chainrule always runs one in-place NumPy update per parameter, which on CPU is faster than
    PyTorch's default path; ``foreach`` and ``fused`` therefore select nothing different.
    A differentiable step (a graph through the update, for meta-learning) is not available:
    updates write the arrays in place outside the graph.
    """
    if fused:
        if differentiable:
            raise RuntimeError("`fused` does not support `differentiable`")
        if foreach:
            raise RuntimeError("`fused` and `foreach` cannot be `True` together.")
    if differentiable:
        raise ValueError("differentiable=True is not supported: chainrule optimizers update the "
                         "parameter arrays in place, outside the autograd graph")
