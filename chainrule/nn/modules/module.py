"""``Module``: the base of every layer and model, with PyTorch's semantics.

Parameters, buffers and submodules assigned as attributes are registered in definition order;
``state_dict`` keys are dotted paths identical to PyTorch's for the same model; buffers (BatchNorm
running statistics) are in ``state_dict`` but not in ``parameters()``; hooks run around
``forward`` (the diagnostics are built on them).
"""

from __future__ import annotations

import copy
import itertools
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from chainrule import _device
from chainrule.autograd.engine import no_grad
from chainrule.backend import is_floating, to_dtype, xp
from chainrule.nn.parameter import Buffer, Parameter
from chainrule.tensor import Tensor, _wrap
from chainrule.utils.hooks import RemovableHandle

_global_forward_hooks: OrderedDict[int, Callable] = OrderedDict()
_global_forward_pre_hooks: OrderedDict[int, Callable] = OrderedDict()
_global_backward_hooks: OrderedDict[int, Callable] = OrderedDict()
_global_hooks_with_kwargs: set[int] = set()
_global_hooks_always_called: set[int] = set()
_hook_ids = itertools.count()
_EXTRA_STATE_KEY = "_extra_state"


def _add_hook(store: OrderedDict, hook: Callable, prepend: bool = False) -> int:
    key = next(_hook_ids)
    store[key] = hook
    if prepend:
        store.move_to_end(key, last=False)
    return key


def register_module_forward_pre_hook(hook: Callable) -> RemovableHandle:
    """A forward pre hook ``hook(module, args)`` run before every module's ``forward``."""
    return RemovableHandle(_global_forward_pre_hooks, _add_hook(_global_forward_pre_hooks, hook))


def register_module_forward_hook(hook: Callable, *, with_kwargs: bool = False,
                                 always_call: bool = False) -> RemovableHandle:
    """A forward hook ``hook(module, args, output)`` run after every module's ``forward``."""
    key = _add_hook(_global_forward_hooks, hook)
    if with_kwargs:
        _global_hooks_with_kwargs.add(key)
    if always_call:
        _global_hooks_always_called.add(key)
    return RemovableHandle(_global_forward_hooks, key)


def register_module_full_backward_hook(hook: Callable) -> RemovableHandle:
    """A full backward hook ``hook(module, grad_input, grad_output)`` on every module."""
    return RemovableHandle(_global_backward_hooks, _add_hook(_global_backward_hooks, hook))


def _is_meta(dev: Any) -> bool:
    """Whether a ``to(...)`` argument names PyTorch's ``meta`` device (a string or a device)."""
    if isinstance(dev, _device.device):
        return dev.type == "meta"
    return isinstance(dev, str) and dev.split(":", 1)[0] == "meta"


_is_meta_placeholder = _device.is_meta_placeholder


def _as_array(src: Any, key: str) -> np.ndarray:
    """The array of a ``state_dict`` value: a chainrule Tensor, an ndarray or a torch tensor."""
    if isinstance(src, Tensor):
        return src._array
    if hasattr(src, "detach") and hasattr(src, "numpy"):  # a torch tensor, possibly with grad
        return xp.asarray(src.detach().cpu().numpy())
    try:
        return xp.asarray(src)
    except (TypeError, ValueError):
        raise TypeError(
            f'While copying the parameter named "{key}", expected a Tensor or array from the '
            f"checkpoint but received {type(src).__name__}"
        ) from None


class _IncompatibleKeys(tuple):
    """``(missing_keys, unexpected_keys)`` as returned by ``load_state_dict``."""

    def __new__(cls, missing: list[str], unexpected: list[str]) -> _IncompatibleKeys:
        return super().__new__(cls, (missing, unexpected))

    @property
    def missing_keys(self) -> list[str]:
        return self[0]

    @property
    def unexpected_keys(self) -> list[str]:
        return self[1]

    def __repr__(self) -> str:
        if not self[0] and not self[1]:
            return "<All keys matched successfully>"
        return f"_IncompatibleKeys(missing_keys={self[0]}, unexpected_keys={self[1]})"


class Module:
    """Base class for all neural-network modules.

    Example::

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 2)

            def forward(self, x):
                return self.fc(x).relu()
    """

    training: bool
    _version: int = 1

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if args or kwargs:
            raise TypeError(
                f"{type(self).__name__}.__init__() got unexpected arguments: Module.__init__ "
                "takes none"
            )
        _device.register_module(self)  # a `with device("meta")` block makes it a skeleton
        d = self.__dict__
        d["training"] = True
        d["_parameters"] = OrderedDict()
        d["_buffers"] = OrderedDict()
        d["_non_persistent_buffers_set"] = set()
        d["_modules"] = OrderedDict()
        d["_forward_hooks"] = OrderedDict()
        d["_forward_hooks_with_kwargs"] = set()
        d["_forward_hooks_always_called"] = set()
        d["_forward_pre_hooks"] = OrderedDict()
        d["_forward_pre_hooks_with_kwargs"] = set()
        d["_backward_hooks"] = OrderedDict()
        d["_backward_pre_hooks"] = OrderedDict()
        d["_state_dict_hooks"] = OrderedDict()
        d["_load_state_dict_pre_hooks"] = OrderedDict()
        d["_load_state_dict_post_hooks"] = OrderedDict()

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        name = type(self).__name__
        raise NotImplementedError(f'Module [{name}] is missing the required "forward" (abstract)')

    # ---- calling ---------------------------------------------------------------------------
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        d = self.__dict__
        if not (d["_forward_hooks"] or d["_forward_pre_hooks"] or d["_backward_hooks"]
                or d["_backward_pre_hooks"] or _global_forward_hooks
                or _global_forward_pre_hooks or _global_backward_hooks):
            return self.forward(*args, **kwargs)
        return self._call_with_hooks(args, kwargs)

    def _call_with_hooks(self, args: tuple, kwargs: dict) -> Any:
        for key, hook in itertools.chain(_global_forward_pre_hooks.items(),
                                         self._forward_pre_hooks.items()):
            if key in self._forward_pre_hooks_with_kwargs:
                res = hook(self, args, kwargs)
                if res is not None:
                    if not (isinstance(res, tuple) and len(res) == 2):
                        raise RuntimeError(
                            "forward pre-hook must return None or a tuple of (new_args, "
                            f"new_kwargs), but got {res!r}."
                        )
                    args, kwargs = res
            else:
                res = hook(self, args)
                if res is not None:
                    args = res if isinstance(res, tuple) else (res,)
        bw_hooks = [*_global_backward_hooks.values(), *self._backward_hooks.values()]
        pre_hooks = list(self._backward_pre_hooks.values())
        state = None
        if bw_hooks or pre_hooks:
            from chainrule.nn.modules._backward_hooks import BackwardHookState

            state = BackwardHookState(self, bw_hooks, pre_hooks)
            args = state.setup_inputs(args)
        try:
            out = self.forward(*args, **kwargs)
        except Exception:
            self._run_always_called_hooks(args, kwargs)
            raise
        for key, hook in itertools.chain(_global_forward_hooks.items(),
                                         self._forward_hooks.items()):
            if key in self._forward_hooks_with_kwargs or key in _global_hooks_with_kwargs:
                res = hook(self, args, kwargs, out)
            else:
                res = hook(self, args, out)
            if res is not None:
                out = res
        if state is not None:
            out = state.setup_outputs(out)
        return out

    def _run_always_called_hooks(self, args: tuple, kwargs: dict) -> None:
        """Forward hooks registered with ``always_call=True`` run even when forward raised."""
        for key, hook in itertools.chain(_global_forward_hooks.items(),
                                         self._forward_hooks.items()):
            if key in self._forward_hooks_always_called or key in _global_hooks_always_called:
                if key in self._forward_hooks_with_kwargs or key in _global_hooks_with_kwargs:
                    hook(self, args, kwargs, None)
                else:
                    hook(self, args, None)

    def register_forward_pre_hook(self, hook: Callable, *, prepend: bool = False,
                                  with_kwargs: bool = False) -> RemovableHandle:
        """``hook(module, args) -> None | new args`` runs before ``forward``.

        With ``with_kwargs=True`` it is ``hook(module, args, kwargs) -> None | (args, kwargs)``.
        """
        key = _add_hook(self._forward_pre_hooks, hook, prepend)
        if with_kwargs:
            self._forward_pre_hooks_with_kwargs.add(key)
        return RemovableHandle(self._forward_pre_hooks, key)

    def register_forward_hook(self, hook: Callable, *, prepend: bool = False,
                              with_kwargs: bool = False,
                              always_call: bool = False) -> RemovableHandle:
        """``hook(module, args, output) -> None | new output`` runs after ``forward``.

        With ``with_kwargs=True`` it is ``hook(module, args, kwargs, output)``; with
        ``always_call=True`` it also runs (with output None) when ``forward`` raises.
        """
        key = _add_hook(self._forward_hooks, hook, prepend)
        if with_kwargs:
            self._forward_hooks_with_kwargs.add(key)
        if always_call:
            self._forward_hooks_always_called.add(key)
        return RemovableHandle(self._forward_hooks, key)

    def register_full_backward_hook(self, hook: Callable, prepend: bool = False
                                    ) -> RemovableHandle:
        """``hook(module, grad_input, grad_output) -> None | new grad_input`` runs when the
        gradients with respect to the module's positional inputs have been computed.

        ``grad_input`` has one entry per positional argument (None where it is not a tensor
        requiring grad); ``grad_output`` one per output tensor. A returned tuple replaces
        ``grad_input``. If no input requires grad the hook runs with ``grad_input`` all None.
        """
        key = _add_hook(self._backward_hooks, hook, prepend)
        return RemovableHandle(self._backward_hooks, key)

    def register_backward_hook(self, hook: Callable) -> RemovableHandle:
        """PyTorch's deprecated backward hook, run here as :meth:`register_full_backward_hook`:
        ``grad_output`` is the same; as ``grad_input`` PyTorch's old hook received the
        gradients of the module's last operation, the full hook the gradients of the module's
        inputs (they are the same for a module that is one operation)."""
        return self.register_full_backward_hook(hook)

    def register_full_backward_pre_hook(self, hook: Callable, prepend: bool = False
                                        ) -> RemovableHandle:
        """``hook(module, grad_output) -> None | new grad_output`` runs when the gradients with
        respect to the module's outputs are known, before the module's backward."""
        key = _add_hook(self._backward_pre_hooks, hook, prepend)
        return RemovableHandle(self._backward_pre_hooks, key)

    def register_load_state_dict_pre_hook(self, hook: Callable) -> RemovableHandle:
        """``hook(module, state_dict, prefix, local_metadata, strict, missing_keys,
        unexpected_keys, error_msgs)`` runs before this module's entries are loaded; it may edit
        ``state_dict`` (e.g. rename or add keys of an older format)."""
        key = _add_hook(self._load_state_dict_pre_hooks, hook)
        return RemovableHandle(self._load_state_dict_pre_hooks, key)

    def register_load_state_dict_post_hook(self, hook: Callable) -> RemovableHandle:
        """``hook(module, incompatible_keys)`` runs after ``load_state_dict``; it may edit the
        lists of missing and unexpected keys in place (e.g. to clear expected ones)."""
        key = _add_hook(self._load_state_dict_post_hooks, hook)
        return RemovableHandle(self._load_state_dict_post_hooks, key)

    def register_state_dict_post_hook(self, hook: Callable) -> RemovableHandle:
        """``hook(module, state_dict, prefix, local_metadata) -> None | new state_dict`` runs
        after this module's entries were added to ``state_dict``."""
        key = _add_hook(self._state_dict_hooks, hook)
        return RemovableHandle(self._state_dict_hooks, key)

    _register_state_dict_hook = register_state_dict_post_hook

    # ---- attribute registration ------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        d = self.__dict__
        params = d.get("_parameters")
        if isinstance(value, Buffer):
            if d.get("_buffers") is None:
                raise AttributeError("cannot assign buffer before Module.__init__() call")
            self._drop(name, keep="_buffers")
            self.register_buffer(name, value, persistent=value.persistent)
            return
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            self._drop(name, keep="_parameters")
            params[name] = value
            return
        if params is not None and name in params:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(
                    f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                    "(chainrule.nn.Parameter or None expected)"
                )
            if value is not None and not isinstance(value, Parameter):
                raise TypeError(
                    f"cannot assign a plain Tensor as parameter '{name}' of "
                    f"{type(self).__name__}; wrap it in nn.Parameter"
                )
            params[name] = value
            return
        if isinstance(value, Module):
            if d.get("_modules") is None:
                raise AttributeError("cannot assign module before Module.__init__() call")
            self._drop(name, keep="_modules")
            d["_modules"][name] = value
            return
        modules = d.get("_modules")
        if modules is not None and name in modules:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{type(value).__name__}' as child module '{name}' "
                    "(chainrule.nn.Module or None expected)"
                )
            modules[name] = value
            return
        buffers = d.get("_buffers")
        if buffers is not None and name in buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(
                    f"cannot assign '{type(value).__name__}' as buffer '{name}' "
                    "(chainrule.Tensor or None expected)"
                )
            buffers[name] = value
            return
        object.__setattr__(self, name, value)

    def _drop(self, name: str, keep: str = "") -> None:
        """Forget ``name`` everywhere but in store ``keep`` (whose order is kept on reassign)."""
        d = self.__dict__
        d.pop(name, None)
        for store in ("_parameters", "_buffers", "_modules"):
            s = d.get(store)
            if store != keep and s is not None and name in s:
                del s[name]
        if keep != "_buffers":
            d["_non_persistent_buffers_set"].discard(name)

    def __getattr__(self, name: str) -> Any:
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            s = d.get(store)
            if s is not None and name in s:
                return s[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        for store in ("_parameters", "_buffers", "_modules"):
            s = self.__dict__.get(store)
            if s is not None and name in s:
                del s[name]
                self.__dict__.get("_non_persistent_buffers_set", set()).discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self) -> list[str]:
        keys = list(super().__dir__())
        for store in ("_parameters", "_buffers", "_modules"):
            keys += list(self.__dict__[store].keys())
        return sorted(set(keys))

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Add a parameter (or a ``None`` placeholder) under ``name``."""
        if "." in name or not name:
            raise KeyError(f'parameter name can\'t contain "." or be empty, got {name!r}')
        if hasattr(self, name) and name not in self._parameters:
            raise KeyError(f"attribute '{name}' already exists")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(
                f"cannot assign '{type(param).__name__}' object to parameter '{name}' "
                "(chainrule.nn.Parameter or None required)"
            )
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Add a buffer: state saved in ``state_dict`` (if persistent) but not trained."""
        if "." in name or not name:
            raise KeyError(f'buffer name can\'t contain "." or be empty, got {name!r}')
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"attribute '{name}' already exists")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(
                f"cannot assign '{type(tensor).__name__}' object to buffer '{name}' "
                "(chainrule.Tensor or None required)"
            )
        if isinstance(tensor, Buffer):  # the marker class is not kept: a plain Tensor is stored
            tensor = _wrap(tensor._array)
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Add a child module under ``name``."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        if "." in name or not name:
            raise KeyError(f'module name can\'t contain "." or be empty, got {name!r}')
        self._modules[name] = module

    register_module = add_module

    def get_submodule(self, target: str) -> Module:
        mod = self
        if not target:
            return mod
        for item in target.split("."):
            if item not in mod._modules:
                raise AttributeError(f"{type(mod).__name__} has no submodule `{item}` "
                                     f"(looking up '{target}')")
            mod = mod._modules[item]
        return mod

    def get_parameter(self, target: str) -> Parameter:
        mod_path, _, name = target.rpartition(".")
        mod = self.get_submodule(mod_path)
        if name not in mod._parameters:
            raise AttributeError(f"{type(mod).__name__} has no parameter `{name}`")
        return mod._parameters[name]

    def get_buffer(self, target: str) -> Tensor:
        """The buffer at dotted path ``target`` (``"block.bn.running_mean"``)."""
        mod_path, _, name = target.rpartition(".")
        mod = self.get_submodule(mod_path)
        if not hasattr(mod, name):
            raise AttributeError(f"{mod._get_name()} has no attribute `{name}`")
        if name not in mod._buffers:
            raise AttributeError(f"`{name}` is not a buffer")
        return mod._buffers[name]

    def set_submodule(self, target: str, module: Module, strict: bool = False) -> None:
        """Put ``module`` at dotted path ``target`` (``"features.3"``), replacing what is there;
        the parent must exist. ``strict``: the attribute must already be a submodule."""
        if target == "":
            raise ValueError("Cannot set the submodule without a target name!")
        parent_path, _, name = target.rpartition(".")
        if not isinstance(module, Module):
            raise ValueError(f"`module` is not an nn.Module, found {type(module)}")
        parent = self.get_submodule(parent_path)
        if strict and name not in parent._modules:
            raise AttributeError(f"{parent._get_name()} has no attribute `{name}`")
        if name in parent.__dict__ or name in parent._parameters or name in parent._buffers:
            raise AttributeError(f"`{name}` is not an nn.Module")
        setattr(parent, name, module)

    # ---- iteration -------------------------------------------------------------------------
    def named_modules(self, memo: set | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is None:
                continue
            sub = prefix + ("." if prefix else "") + name
            yield from m.named_modules(memo, sub, remove_duplicate)

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        seen = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self) -> Iterator[Module]:
        for _, m in self.named_children():
            yield m

    def _named_members(self, store: str, prefix: str, recurse: bool,
                       remove_duplicate: bool = True) -> Iterator[tuple[str, Any]]:
        seen: set[int] = set()
        mods = (self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate)
                if recurse else [(prefix, self)])
        for mprefix, m in mods:
            for name, v in m.__dict__[store].items():
                if v is None:
                    continue
                if remove_duplicate:
                    if id(v) in seen:
                        continue
                    seen.add(id(v))
                yield mprefix + ("." if mprefix else "") + name, v

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, parameter) pairs in definition order, shared ones once."""
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    # ---- modes and bulk changes ------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Set training mode (dropout active, BatchNorm uses batch statistics)."""
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        self.__dict__["training"] = mode
        for m in self.children():  # recurse through train() so subclasses can override it
            m.train(mode)
        return self

    def eval(self) -> Module:
        """Set evaluation mode (same as ``train(False)``)."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all parameters: to None (default) or to zeros in place."""
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            elif p.grad.requires_grad or not p.grad._array.flags.writeable:
                p.grad = _wrap(xp.zeros_like(p.grad._array))
            else:
                p.grad._array[...] = 0

    def apply(self, fn: Callable[[Module], None]) -> Module:
        """Call ``fn`` on every submodule (children first) and on self."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    def _apply_to_tensors(self, fn: Callable[[Tensor], Any]) -> Module:
        for m in self.modules():
            for p in m._parameters.values():
                if p is not None:
                    new = fn(p._array)
                    if new is not p._array:
                        p._array = new
                        if p.grad is not None:
                            p.grad = _wrap(fn(p.grad._array))
            for b in m._buffers.values():
                if b is not None:
                    b._array = fn(b._array)
        return self

    def to(self, *args: Any, **kwargs: Any) -> Module:
        """``to(dtype)`` converts floating parameters and buffers; ``to(device)`` accepts 'cpu',
        and ``'meta'`` (see :meth:`_to_meta`)."""
        from chainrule.tensor import to_args_dtype

        if any(_is_meta(a) for a in (*args, kwargs.get("device"))):
            return self._to_meta()
        dtype = to_args_dtype(args, kwargs)
        if dtype is None:
            return self
        dt = to_dtype(dtype)
        if not is_floating(dt):
            raise TypeError(f"nn.Module.to only accepts floating point dtypes, but got {dt}")
        return self._apply_to_tensors(
            lambda a: a.astype(dt) if is_floating(a.dtype) and a.dtype != dt else a
        )

    def _to_meta(self) -> Module:
        """``to("meta")``: PyTorch keeps the module's structure and drops every tensor's data.
        chainrule has no storage-free tensors, so each parameter and buffer keeps its shape and
        dtype over a read-only, zero-stride view of one NaN (or 0 for integers and bools): no
        memory, and a forward that still reads them gives NaN rather than plausible numbers.
        What such a skeleton is for, ``torch.func.functional_call(skeleton, params, args)``
        with real tensors (the model-ensembling recipe), and ``to_empty()`` followed by
        initialisation, work as in PyTorch."""
        for t in (p for m in self.modules() for p in m._parameters.values()):
            if t is not None:
                t.grad = None
        return self._apply_to_tensors(_device.meta_placeholder)

    def to_empty(self, *, device: Any = None, recurse: bool = True) -> Module:
        """Give every parameter and buffer new, *uninitialised* storage of the same shape and
        dtype (PyTorch's way out of a ``meta``-device model): the tensors keep their identity,
        their values must then be set (``reset_parameters()``, ``load_state_dict``). Only the
        CPU exists, so ``device`` must name it (or be None)."""
        from chainrule._device import device as as_device

        if device is not None and as_device(device).type != "cpu":
            raise RuntimeError(f"to_empty: chainrule runs on 'cpu' only, got device={device!r}")
        if recurse:
            return self._apply_to_tensors(np.empty_like)
        for t in (*self._parameters.values(), *self._buffers.values()):
            if t is not None:
                t._array = np.empty_like(t._array)
        return self

    def float(self) -> Module:
        return self.to(np.float32)

    def double(self) -> Module:
        return self.to(np.float64)

    def half(self) -> Module:
        return self.to(np.float16)

    def bfloat16(self) -> Module:
        """Refused with PyTorch's name of the dtype: NumPy has no bfloat16 (docs/pytorch.md)."""
        from chainrule.backend import bfloat16

        return self.to(bfloat16)

    def cpu(self) -> Module:
        return self

    def cuda(self, *args: Any, **kwargs: Any) -> Module:
        raise RuntimeError("CUDA is not available: chainrule runs on 'cpu' only")

    def type(self, dst_type: Any) -> Module:
        return self.to(dst_type)

    # ---- state ------------------------------------------------------------------------------
    def state_dict(self, *args: Any, destination: dict | None = None, prefix: str = "",
                   keep_vars: bool = False) -> OrderedDict[str, Any]:
        """Parameters and persistent buffers by dotted name (PyTorch's keys), then children.

        A module that overrides ``get_extra_state`` also stores its result under
        ``prefix + "_extra_state"``. Tensors are detached (``keep_vars=False``) and share memory.
        """
        if args:  # PyTorch's deprecated positional form state_dict(destination, prefix, keep_vars)
            destination = args[0]
            prefix = args[1] if len(args) > 1 else prefix
            keep_vars = args[2] if len(args) > 2 else keep_vars
        if destination is None:
            destination = OrderedDict()
        for name, p in self._parameters.items():
            if p is not None:
                destination[prefix + name] = p if keep_vars else p.detach()
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = b if keep_vars else b.detach()
        if self._has_extra_state():
            destination[prefix + _EXTRA_STATE_KEY] = self.get_extra_state()
        for name, m in self._modules.items():
            if m is not None:
                m.state_dict(destination=destination, prefix=prefix + name + ".",
                             keep_vars=keep_vars)
        for hook in self._state_dict_hooks.values():
            res = hook(self, destination, prefix, {})
            if isinstance(res, Mapping):  # the legacy hook form returns a new dict
                destination = res
        return destination

    def get_extra_state(self) -> Any:
        """Non-tensor state to save in ``state_dict`` (override together with
        ``set_extra_state``; the base class has none)."""
        raise RuntimeError(
            f"{type(self).__name__}.get_extra_state() was called but the module defines no "
            "extra state (override get_extra_state and set_extra_state together)"
        )

    def set_extra_state(self, state: Any) -> None:
        """Restore what ``get_extra_state`` returned (override together with it)."""
        raise RuntimeError(
            f"{type(self).__name__}.set_extra_state() was called but the module defines no "
            "extra state (override get_extra_state and set_extra_state together)"
        )

    def _has_extra_state(self) -> bool:
        return type(self).get_extra_state is not Module.get_extra_state

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True,
                        assign: bool = False) -> _IncompatibleKeys:
        """Copy tensors from ``state_dict`` into this module's parameters and buffers.

        With ``strict=True`` (default) missing and unexpected keys raise; a shape mismatch
        always raises, naming the key and both shapes. Values are cast to the parameter's dtype
        and copied in place (``assign=True`` adopts the given arrays and their dtype instead).
        Returns ``(missing_keys, unexpected_keys)``.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(
                f"Expected state_dict to be dict-like, got {type(state_dict).__name__}."
            )
        state_dict = OrderedDict(state_dict)  # pre hooks may edit it: never the caller's
        missing: list[str] = []
        errors: list[str] = []
        used: set[str] = set()
        for prefix, m in self.named_modules(remove_duplicate=False):
            pre = prefix + "." if prefix else ""
            for hook in m._load_state_dict_pre_hooks.values():
                hook(m, state_dict, pre, {}, strict, missing, [], errors)
            m._load_own(state_dict, pre, assign, missing, used, errors)
        unexpected = [k for k in state_dict if k not in used]
        result = _IncompatibleKeys(missing, unexpected)
        for m in self.modules():
            for hook in m._load_state_dict_post_hooks.values():
                hook(m, result)
        if strict:
            if unexpected:
                errors.insert(0, "Unexpected key(s) in state_dict: "
                              + ", ".join(f'"{k}"' for k in unexpected) + ".")
            if missing:
                errors.insert(0, "Missing key(s) in state_dict: "
                              + ", ".join(f'"{k}"' for k in missing) + ".")
        if errors:
            raise RuntimeError(
                f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                + "\n\t".join(errors)
            )
        return result

    def _load_own(self, state_dict: dict, prefix: str, assign: bool, missing: list[str],
                  used: set[str], errors: list[str]) -> None:
        """Load this module's own parameters, persistent buffers and extra state."""
        own = [(n, t) for n, t in self._parameters.items() if t is not None]
        own += [(n, t) for n, t in self._buffers.items()
                if t is not None and n not in self._non_persistent_buffers_set]
        for name, target in own:
            key = prefix + name
            if key not in state_dict:
                missing.append(key)
                continue
            used.add(key)
            arr = _as_array(state_dict[key], key)
            if tuple(arr.shape) != tuple(target.shape):
                errors.append(
                    f"size mismatch for {key}: copying a param with shape {tuple(arr.shape)} "
                    f"from checkpoint, the shape in current model is {tuple(target.shape)}."
                )
                continue
            with no_grad():
                if assign:
                    target._array = arr
                elif _is_meta_placeholder(target._array):
                    # PyTorch: copying into a meta tensor is a no-op (with this warning)
                    warnings.warn(f"for {key}: copying from a non-meta parameter in the "
                                  "checkpoint to a meta parameter in the current model, which "
                                  "is a no-op. (Did you mean to pass `assign=True` to assign "
                                  "items in the state dictionary to their corresponding key "
                                  "in the module instead of copying them in place?)",
                                  UserWarning, stacklevel=3)
                    continue
                else:
                    xp.copyto(target._array, arr, casting="unsafe")
                target._bump_version()
        if self._has_extra_state():
            key = prefix + _EXTRA_STATE_KEY
            if key in state_dict:
                used.add(key)
                self.set_extra_state(state_dict[key])
            else:
                missing.append(key)


    # ---- repr -------------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """One line of this module's settings, shown inside its repr (override)."""
        return ""

    def _get_name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        extra = self.extra_repr()
        lines = extra.split("\n") if extra else []
        for name, m in self._modules.items():
            sub = repr(m).replace("\n", "\n  ")
            lines.append(f"({name}): {sub}")
        if not lines:
            return f"{self._get_name()}()"
        if len(lines) == 1 and not self._modules:
            return f"{self._get_name()}({lines[0]})"
        return f"{self._get_name()}(\n  " + "\n  ".join(lines) + "\n)"

    def __deepcopy__(self, memo: dict) -> Module:
        new = object.__new__(type(self))
        memo[id(self)] = new
        for k, v in self.__dict__.items():
            new.__dict__[k] = copy.deepcopy(v, memo)
        return new

    def __getstate__(self) -> dict:
        return self.__dict__.copy()

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)

    def share_memory(self) -> Module:
        return self

    def compile(self, *args: Any, **kwargs: Any) -> None:
        """PyTorch's in-place ``model.compile(...)``: accepted, and the module keeps running
        its Python ``forward`` (the results are the same; ``chainrule.compile`` is the
        replaying compiler for whole training steps)."""
        return None
