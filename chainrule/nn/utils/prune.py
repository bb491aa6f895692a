"""``torch.nn.utils.prune``: pruning by masks, with PyTorch's module layout.

Pruning parameter ``name`` of a module moves the original Parameter to ``name + "_orig"``,
registers the 0/1 buffer ``name + "_mask"``, and makes ``name`` a plain attribute recomputed as
``orig * mask`` by a forward pre-hook before every call, so the gradient reaches ``_orig``
through the mask. Pruning the same parameter again prunes among the entries (unstructured) or
channels (structured) still kept, with ``amount`` a fraction of those (a float in [0, 1]) or a
count (an int). ``remove`` makes it permanent: ``name`` becomes a Parameter holding
``orig * mask``.

Which entries go: ``l1_unstructured`` the k smallest |w| (or ``importance_scores``);
``ln_structured`` the k channels along ``dim`` of smallest Lₙ norm; ``random_*`` k uniformly
at random (chainrule's generators: other choices than PyTorch's for the same seed);
``global_unstructured`` the k smallest over several parameters together.

Example::

    prune.l1_unstructured(model.fc1, name="weight", amount=0.3)
    prune.remove(model.fc1, "weight")
"""

from __future__ import annotations

import numbers
from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import Any

from chainrule.autograd.engine import no_grad
from chainrule.backend import xp
from chainrule.random import rng as _rng
from chainrule.tensor import Tensor

__all__ = ["BasePruningMethod", "PruningContainer", "Identity", "RandomUnstructured",
           "L1Unstructured", "RandomStructured", "LnStructured", "CustomFromMask", "identity",
           "random_unstructured", "l1_unstructured", "random_structured", "ln_structured",
           "global_unstructured", "custom_from_mask", "remove", "is_pruned"]


def _check_amount(amount: Any) -> None:
    if not isinstance(amount, numbers.Real):
        raise TypeError(f"Invalid type for amount: {amount}. Must be int or float.")
    if (isinstance(amount, numbers.Integral) and amount < 0) or (
            not isinstance(amount, numbers.Integral) and (amount > 1.0 or amount < 0.0)):
        raise ValueError(f"amount={amount} should either be a float in the range [0, 1] or a "
                         "non-negative integer")


def _to_prune(amount: Any, size: int) -> int:
    """How many of ``size`` entries ``amount`` asks for (an int: that many; a float: a
    fraction, rounded half to even as Python's round)."""
    if isinstance(amount, numbers.Integral):
        if amount > size:
            raise ValueError(f"amount={amount} should be smaller than the number of parameters "
                             f"to prune={size}")
        return int(amount)
    return round(amount * size)


class BasePruningMethod(ABC):
    """A pruning rule: ``compute_mask(t, default_mask)`` returns the new 0/1 mask (it may only
    zero more entries of ``default_mask``). Subclasses set ``PRUNING_TYPE`` to
    ``"unstructured"``, ``"structured"`` (with a ``dim``) or ``"global"``."""

    _tensor_name: str
    PRUNING_TYPE: str = "unstructured"

    def __call__(self, module: Any, inputs: Any) -> None:
        """The forward pre-hook: recompute ``name`` from ``name_orig`` and ``name_mask``."""
        setattr(module, self._tensor_name, self.apply_mask(module))

    @abstractmethod
    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        """The mask to apply to ``t`` given the current one."""

    def apply_mask(self, module: Any) -> Tensor:
        """``name_orig * name_mask`` (recorded, so the gradient reaches ``name_orig``)."""
        orig = getattr(module, self._tensor_name + "_orig")
        mask = getattr(module, self._tensor_name + "_mask")
        return orig * mask.to(dtype=orig.dtype)

    @classmethod
    def apply(cls, module: Any, name: str, *args: Any, importance_scores: Tensor | None = None,
              **kwargs: Any) -> BasePruningMethod:
        """Prune ``module.name`` with this rule (see the module docstring)."""
        hooks = [(k, h) for k, h in module._forward_pre_hooks.items()
                 if isinstance(h, BasePruningMethod) and h._tensor_name == name]
        if len(hooks) > 1:
            raise AssertionError(f"Avoid adding multiple pruning hooks to the same tensor "
                                 f"{name} of module {module}. Use a PruningContainer.")
        method = cls(*args, **kwargs)
        method._tensor_name = name
        old = hooks[0][1] if hooks else None
        if old is not None:
            del module._forward_pre_hooks[hooks[0][0]]
            container = old if isinstance(old, PruningContainer) else PruningContainer(old)
            container.add_pruning_method(method)
            method = container
        orig = getattr(module, name)
        scores = orig if importance_scores is None else importance_scores
        if tuple(scores.shape) != tuple(orig.shape):
            raise AssertionError(f"importance_scores should have the same shape as parameter "
                                 f"{name} of {module}")
        if old is None:
            module.register_parameter(name + "_orig", orig)
            del module._parameters[name]
            default_mask = _ones_like(orig.detach())
        else:
            default_mask = getattr(module, name + "_mask").detach().clone()
        try:
            with no_grad():
                mask = method.compute_mask(scores.detach(), default_mask=default_mask)
            module.register_buffer(name + "_mask", mask)
            setattr(module, name, method.apply_mask(module))
            module.register_forward_pre_hook(method)
        except Exception:
            if old is None:  # put the parameter back as it was
                module.__dict__.pop(name, None)
                module.register_parameter(name, module._parameters.pop(name + "_orig"))
                module._buffers.pop(name + "_mask", None)
            raise
        return method

    def prune(self, t: Tensor, default_mask: Tensor | None = None,
              importance_scores: Tensor | None = None) -> Tensor:
        """``t`` times the mask this rule computes (``t`` itself is not changed)."""
        scores = t if importance_scores is None else importance_scores
        mask = default_mask if default_mask is not None else _ones_like(t)
        with no_grad():
            return t * self.compute_mask(scores, default_mask=mask).to(dtype=t.dtype)

    def remove(self, module: Any) -> None:
        """Make the pruning permanent: ``name`` becomes a Parameter holding ``orig * mask``."""
        name = self._tensor_name
        if name + "_orig" not in module._parameters:
            raise AssertionError(f"Module {module} has to be pruned before pruning can be "
                                 "removed")
        with no_grad():
            weight = self.apply_mask(module)
        orig = module._parameters.pop(name + "_orig")
        module._buffers.pop(name + "_mask", None)
        module._non_persistent_buffers_set.discard(name + "_mask")
        module.__dict__.pop(name, None)
        orig.data = weight.detach()
        module.register_parameter(name, orig)


def _ones_like(t: Tensor) -> Tensor:
    from chainrule import ones_like

    return ones_like(t)


class PruningContainer(BasePruningMethod):
    """The rules applied so far to one parameter, in order; a new rule prunes among what the
    earlier ones kept."""

    def __init__(self, *args: BasePruningMethod) -> None:
        self._pruning_methods: tuple[BasePruningMethod, ...] = ()
        for method in args:
            self.add_pruning_method(method)

    def add_pruning_method(self, method: BasePruningMethod) -> None:
        if not isinstance(method, BasePruningMethod) and method is not None:
            raise TypeError(f"{type(method)} is not a BasePruningMethod subclass")
        if self._pruning_methods and method._tensor_name != self._tensor_name:
            raise ValueError(f"Can only add pruning methods acting on the parameter named "
                             f"'{self._tensor_name}' to PruningContainer {self}. Found "
                             f"'{method._tensor_name}'")
        self._tensor_name = method._tensor_name
        self._pruning_methods += (method,)

    def __len__(self) -> int:
        return len(self._pruning_methods)

    def __iter__(self) -> Any:
        return iter(self._pruning_methods)

    def __getitem__(self, idx: int) -> BasePruningMethod:
        return self._pruning_methods[idx]

    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        """The last rule applied to the entries (or channels) ``default_mask`` still keeps."""
        method = self._pruning_methods[-1]
        mask = default_mask.clone()
        keep = default_mask._array
        if method.PRUNING_TYPE == "unstructured":
            where = keep == 1
        elif method.PRUNING_TYPE == "structured":
            dim = method.dim % t.ndim  # type: ignore[attr-defined]
            axes = tuple(a for a in range(t.ndim) if a != dim)
            channels = keep.sum(axis=axes) != 0
            where = tuple(channels if a == dim else slice(None) for a in range(t.ndim))
        elif method.PRUNING_TYPE == "global":
            where = tuple(slice(None) for _ in range(t.ndim))
        else:
            raise ValueError(f"Unrecognized PRUNING_TYPE {method.PRUNING_TYPE}")
        partial = method.compute_mask(_as_tensor(t._array[where]),
                                      default_mask=_as_tensor(keep[where]))
        mask._array[where] = partial._array.astype(mask._array.dtype)
        return mask


def _as_tensor(a: Any) -> Tensor:
    from chainrule.tensor import _wrap

    return _wrap(xp.ascontiguousarray(a))


class Identity(BasePruningMethod):
    """Prunes nothing (the mask stays all ones); gives any parameter the pruned layout."""

    PRUNING_TYPE = "unstructured"

    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        return default_mask

    @classmethod
    def apply(cls, module: Any, name: str) -> BasePruningMethod:  # type: ignore[override]
        return super().apply(module, name)


class RandomUnstructured(BasePruningMethod):
    """Zero ``amount`` of the entries, chosen uniformly at random."""

    PRUNING_TYPE = "unstructured"

    def __init__(self, amount: Any, generator: Any = None) -> None:
        _check_amount(amount)
        self.amount, self.generator = amount, generator

    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        k = _to_prune(self.amount, t.numel())
        mask = default_mask.clone()
        if k:
            drop = _rng(self.generator).permutation(t.numel())[:k]
            mask._array.reshape(-1)[drop] = 0
        return mask

    @classmethod
    def apply(cls, module: Any, name: str, amount: Any,  # type: ignore[override]
              generator: Any = None) -> BasePruningMethod:
        return super().apply(module, name, amount=amount, generator=generator)


class L1Unstructured(BasePruningMethod):
    """Zero the ``amount`` entries of smallest absolute value (importance score)."""

    PRUNING_TYPE = "unstructured"

    def __init__(self, amount: Any) -> None:
        _check_amount(amount)
        self.amount = amount

    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        k = _to_prune(self.amount, t.numel())
        mask = default_mask.clone()
        if k:
            drop = xp.argsort(xp.abs(t._array).reshape(-1), kind="stable")[:k]
            mask._array.reshape(-1)[drop] = 0
        return mask

    @classmethod
    def apply(cls, module: Any, name: str, amount: Any,  # type: ignore[override]
              importance_scores: Tensor | None = None) -> BasePruningMethod:
        return super().apply(module, name, amount=amount, importance_scores=importance_scores)


class _Structured(BasePruningMethod):
    PRUNING_TYPE = "structured"
    dim: int

    def _channel_mask(self, t: Tensor, default_mask: Tensor, keep: Any) -> Tensor:
        """``default_mask`` with every channel along ``dim`` outside ``keep`` zeroed."""
        if t.ndim == 0:
            raise ValueError("Structured pruning can only be applied to multidimensional "
                             "tensors. Found tensor of shape () with 0 dims")
        dim = self.dim % t.ndim
        mask = default_mask.clone()
        drop = xp.setdiff1d(xp.arange(t.shape[dim]), keep)
        index = tuple(drop if a == dim else slice(None) for a in range(t.ndim))
        mask._array[index] = 0
        return mask


class RandomStructured(_Structured):
    """Zero ``amount`` of the channels along ``dim``, chosen uniformly at random."""

    def __init__(self, amount: Any, dim: int = -1, generator: Any = None) -> None:
        _check_amount(amount)
        self.amount, self.dim, self.generator = amount, dim, generator

    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        n = t.shape[self.dim % t.ndim] if t.ndim else 0
        k = _to_prune(self.amount, n)
        keep = _rng(self.generator).permutation(n)[k:]
        return self._channel_mask(t, default_mask, keep)

    @classmethod
    def apply(cls, module: Any, name: str, amount: Any, dim: int = -1,  # type: ignore[override]
              generator: Any = None) -> BasePruningMethod:
        return super().apply(module, name, amount=amount, dim=dim, generator=generator)


class LnStructured(_Structured):
    """Zero the ``amount`` channels along ``dim`` of smallest Lₙ norm (``n``: as
    ``torch.norm``'s ``p``: a number, ``inf``, ``-inf``, ``"fro"`` or ``"nuc"`` where it
    applies)."""

    def __init__(self, amount: Any, n: Any, dim: int = -1) -> None:
        _check_amount(amount)
        self.amount, self.n, self.dim = amount, n, dim

    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        if t.ndim == 0:
            return self._channel_mask(t, default_mask, [])
        dim = self.dim % t.ndim
        k = _to_prune(self.amount, t.shape[dim])
        axes = [a for a in range(t.ndim) if a != dim]
        norms = t.norm(p=self.n, dim=axes)._array if axes else xp.abs(t._array)
        keep = xp.argsort(-norms, kind="stable")[:t.shape[dim] - k]
        return self._channel_mask(t, default_mask, keep)

    @classmethod
    def apply(cls, module: Any, name: str, amount: Any, n: Any,  # type: ignore[override]
              dim: int, importance_scores: Tensor | None = None) -> BasePruningMethod:
        return super().apply(module, name, amount=amount, n=n, dim=dim,
                             importance_scores=importance_scores)


class CustomFromMask(BasePruningMethod):
    """Apply a given 0/1 ``mask``."""

    PRUNING_TYPE = "global"

    def __init__(self, mask: Tensor) -> None:
        self.mask = mask

    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        if tuple(default_mask.shape) != tuple(self.mask.shape):
            raise AssertionError("the mask must have the shape of the pruned parameter")
        return default_mask * self.mask.to(dtype=default_mask.dtype)

    @classmethod
    def apply(cls, module: Any, name: str, mask: Tensor) -> BasePruningMethod:  # type: ignore[override]
        return super().apply(module, name, mask=mask)


def identity(module: Any, name: str) -> Any:
    Identity.apply(module, name)
    return module


def random_unstructured(module: Any, name: str, amount: Any, generator: Any = None) -> Any:
    RandomUnstructured.apply(module, name, amount, generator)
    return module


def l1_unstructured(module: Any, name: str, amount: Any,
                    importance_scores: Tensor | None = None) -> Any:
    L1Unstructured.apply(module, name, amount=amount, importance_scores=importance_scores)
    return module


def random_structured(module: Any, name: str, amount: Any, dim: int,
                      generator: Any = None) -> Any:
    RandomStructured.apply(module, name, amount, dim, generator)
    return module


def ln_structured(module: Any, name: str, amount: Any, n: Any, dim: int,
                  importance_scores: Tensor | None = None) -> Any:
    LnStructured.apply(module, name, amount, n, dim, importance_scores=importance_scores)
    return module


def custom_from_mask(module: Any, name: str, mask: Tensor) -> Any:
    CustomFromMask.apply(module, name, mask)
    return module


def global_unstructured(parameters: Iterable[tuple[Any, str]], pruning_method: Any,
                        importance_scores: dict | None = None, **kwargs: Any) -> None:
    """Prune the (module, name) pairs together: ``pruning_method`` (``L1Unstructured``,
    ``RandomUnstructured`` or another unstructured rule) runs once over all their still-kept
    entries, then each parameter gets its share of the mask."""
    if not isinstance(parameters, Iterable):
        raise TypeError("global_unstructured(): parameters is not an Iterable")
    pairs = list(parameters)
    scores = importance_scores if importance_scores is not None else {}
    if getattr(pruning_method, "PRUNING_TYPE", None) != "unstructured":
        raise TypeError('Only "unstructured" PRUNING_TYPE supported for the `pruning_method`. '
                        f"Found method {pruning_method} of type "
                        f"{getattr(pruning_method, 'PRUNING_TYPE', None)}")
    values, masks = [], []
    for module, name in pairs:
        values.append(scores.get((module, name), getattr(module, name)).detach()._array.ravel())
        mask = getattr(module, name + "_mask", None)
        masks.append(mask._array.ravel() if mask is not None
                     else xp.ones(values[-1].shape, values[-1].dtype))
    flat = _as_tensor(xp.concatenate(values))
    method = pruning_method(**kwargs)
    method._tensor_name = "global"
    container = PruningContainer(method)
    final = container.compute_mask(flat, default_mask=_as_tensor(xp.concatenate(masks)))
    start = 0
    for module, name in pairs:
        param = getattr(module, name)
        n = param.numel()
        part = final._array[start:start + n].reshape(param.shape)
        custom_from_mask(module, name, mask=_as_tensor(part))
        start += n


def remove(module: Any, name: str) -> Any:
    """Make the pruning of ``module.name`` permanent and drop its hook, ``_orig`` and
    ``_mask``."""
    for key, hook in list(module._forward_pre_hooks.items()):
        if isinstance(hook, BasePruningMethod) and hook._tensor_name == name:
            hook.remove(module)
            del module._forward_pre_hooks[key]
            return module
    raise ValueError(f"Parameter '{name}' of module {module} has to be pruned before pruning "
                     "can be removed")


def is_pruned(module: Any) -> bool:
    """Whether ``module`` or a submodule has a pruned parameter."""
    return any(isinstance(h, BasePruningMethod) for m in module.modules()
               for h in m._forward_pre_hooks.values())

