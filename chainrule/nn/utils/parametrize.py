"""``chainrule.nn.utils.parametrize``: express a parameter or buffer as a function of others.

After ``register_parametrization(module, "weight", P)``, reading ``module.weight`` returns
``P(original)`` computed on every access (differentiable, so gradients reach ``original``), and
the unconstrained tensor lives at ``module.parametrizations.weight.original`` (state_dict key
``parametrizations.weight.original``; ``original0``, ``original1``, ... when ``P.right_inverse``
returns several tensors, as weight_norm's does). Assigning ``module.weight = X`` stores
``right_inverse(X)`` in the originals. As in PyTorch, the module's class is replaced by a
subclass ``Parametrized<Class>`` that carries one property per parametrized name.

Example::

    class Symmetric(nn.Module):
        def forward(self, X):
            return X.triu() + X.triu(1).mT

    m = nn.Linear(3, 3)
    parametrize.register_parametrization(m, "weight", Symmetric())
    torch.allclose(m.weight, m.weight.T)    # True
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from chainrule.autograd.engine import no_grad
from chainrule.nn.modules.container import ModuleDict, ModuleList
from chainrule.nn.modules.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.tensor import Tensor

__all__ = [
    "cached", "ParametrizationList", "register_parametrization", "is_parametrized",
    "remove_parametrizations", "type_before_parametrizations",
    "transfer_parametrizations_and_params",
]

# (id(module), tensor name) -> the parametrized tensor, while ``cached()`` is active
_cache_depth = 0
_cache: dict[tuple[int, str], Tensor] = {}


@contextlib.contextmanager
def cached() -> Iterator[None]:
    """Compute each parametrized tensor once inside the block and reuse it (for a weight read
    several times per forward, e.g. an RNN's recurrent kernel); discarded on exit."""
    global _cache_depth
    _cache_depth += 1
    try:
        yield
    finally:
        _cache_depth -= 1
        if not _cache_depth:
            _cache.clear()


def _register_parameter_or_buffer(module: Module, name: str, value: Tensor) -> None:
    if isinstance(value, Parameter):
        module.register_parameter(name, value)
    else:
        module.register_buffer(name, value)


def _set_storage(dest: Tensor, src: Tensor) -> None:
    """``dest.set_(src)``: ``dest`` (the same object, so optimizers keep it) takes ``src``'s data,
    shape and dtype, sharing memory."""
    if dest is src:
        return
    dest._array = src._array
    dest._bump_version()


def _check_same(what: str, got: Tensor, ref: Tensor, got_name: str, ref_name: str) -> None:
    if got.dtype != ref.dtype:
        raise ValueError(
            f"{what} may not change the dtype of the tensor, unless the `unsafe` flag is "
            f"enabled.\n{ref_name}.dtype: {ref.dtype}\n{got_name}.dtype: {got.dtype}"
        )
    if tuple(got.shape) != tuple(ref.shape):
        raise ValueError(
            f"{what} may not change the shape of the tensor, unless the `unsafe` flag is "
            f"enabled.\n{ref_name}.shape: {tuple(ref.shape)}\n"
            f"{got_name}.shape: {tuple(got.shape)}"
        )


class ParametrizationList(ModuleList):
    """The parametrizations of one tensor (``module.parametrizations[name]``) and its
    unconstrained original(s): ``original``, or ``original0, original1, ...`` when the first
    parametrization's ``right_inverse`` returns a sequence.

    ``forward()`` evaluates ``P_n(...P_1(P_0(*originals)))``. Built by
    :func:`register_parametrization`, not by users.
    """

    def __init__(self, modules: Sequence[Module], original: Tensor,
                 unsafe: bool = False) -> None:
        if len(modules) == 0:
            raise ValueError("ParametrizationList requires one or more modules.")
        super().__init__(modules)
        self.unsafe = unsafe
        shape, dtype = tuple(original.shape), original.dtype
        # the originals are right_inverse(...right_inverse(original)), last parametrization first
        with no_grad():
            new: Any = original
            for m in reversed(list(self)):
                if hasattr(m, "right_inverse"):
                    with contextlib.suppress(NotImplementedError):  # no inverse: keep as is
                        new = m.right_inverse(new)
        if not isinstance(new, (Tensor, Sequence)):
            raise ValueError(
                "'right_inverse' must return a Tensor or a Sequence of tensors (list, tuple...). "
                f"Got {type(new).__name__}"
            )
        self.is_tensor = isinstance(new, Tensor)
        self.ntensors = 1 if self.is_tensor else len(new)
        if self.is_tensor:
            if new.dtype != original.dtype:
                raise ValueError(
                    "When `right_inverse` outputs one tensor, it may not change the dtype.\n"
                    f"original.dtype: {original.dtype}\n"
                    f"right_inverse(original).dtype: {new.dtype}"
                )
            with no_grad():
                _set_storage(original, new)
            _register_parameter_or_buffer(self, "original", original)
        else:
            for i, part in enumerate(new):
                if not isinstance(part, Tensor):
                    raise ValueError(
                        "'right_inverse' must return a Tensor or a Sequence of tensors "
                        f"(list, tuple...). Got element {i} of the sequence with type "
                        f"{type(part).__name__}."
                    )
                part = part.detach()
                if isinstance(original, Parameter):
                    part = Parameter(part, original.requires_grad)
                _register_parameter_or_buffer(self, f"original{i}", part)
        if not self.unsafe:
            z = self()
            if not isinstance(z, Tensor):
                raise ValueError(f"A parametrization must return a tensor. Got {type(z).__name__}.")
            if z.dtype != dtype:
                raise ValueError(
                    "Registering a parametrization may not change the dtype of the tensor, "
                    f"unless `unsafe` flag is enabled.\nunparametrized dtype: {dtype}\n"
                    f"parametrized dtype: {z.dtype}"
                )
            if tuple(z.shape) != shape:
                raise ValueError(
                    "Registering a parametrization may not change the shape of the tensor, "
                    f"unless `unsafe` flag is enabled.\nunparametrized shape: {shape}\n"
                    f"parametrized shape: {tuple(z.shape)}"
                )

    def right_inverse(self, value: Tensor) -> None:
        """Store ``right_inverse(value)`` (the parametrizations' inverses, last one first) in the
        originals, in place: the module's parameters stay the same objects."""
        with no_grad():
            for m in reversed(list(self)):
                if not hasattr(m, "right_inverse"):
                    raise RuntimeError(
                        f"parametrization {type(m).__name__} does not implement right_inverse."
                    )
                value = m.right_inverse(value)
            if self.is_tensor:
                if not isinstance(value, Tensor):
                    raise ValueError(
                        f"`right_inverse` should return a tensor. Got {type(value).__name__}"
                    )
                if value.dtype != self.original.dtype:
                    raise ValueError(
                        f"The tensor returned by `right_inverse` has dtype {value.dtype} while "
                        f"`original` has dtype {self.original.dtype}"
                    )
                _set_storage(self.original, value)
                return
            if not isinstance(value, Sequence):
                raise ValueError(
                    f"'right_inverse' must return a sequence of tensors. Got "
                    f"{type(value).__name__}."
                )
            if len(value) != self.ntensors:
                raise ValueError(
                    "'right_inverse' must return a sequence of tensors of length "
                    f"{self.ntensors}. Got a sequence of length {len(value)}."
                )
            for i, t in enumerate(value):
                orig = getattr(self, f"original{i}")
                if not isinstance(t, Tensor):
                    raise ValueError(
                        "'right_inverse' must return a sequence of tensors. Got element "
                        f"{i} of type {type(t).__name__}."
                    )
                if t.dtype != orig.dtype:
                    raise ValueError(
                        f"Tensor {i} returned by `right_inverse` has dtype {t.dtype} while "
                        f"`original{i}` has dtype {orig.dtype}"
                    )
                _set_storage(orig, t)

    def forward(self) -> Tensor:
        if self.is_tensor:
            x = self[0](self.original)
        else:
            x = self[0](*(getattr(self, f"original{i}") for i in range(self.ntensors)))
        for m in list(self)[1:]:
            x = m(x)
        return x


def _parametrized_value(self: Module, name: str) -> Tensor:
    plist = self.parametrizations[name]
    if not _cache_depth:
        return plist()
    key = (id(self), name)
    value = _cache.get(key)
    if value is None:
        value = _cache[key] = plist()
    return value


def _refuse_pickle(self: Module) -> dict:
    raise RuntimeError(
        "Serialization of parametrized modules is only supported through state_dict(). "
        "Save module.state_dict() and load it into a module parametrized the same way."
    )


def _parametrized_setattr(self: Module, name: str, value: Any) -> None:
    """Assigning a parametrized name runs ``right_inverse`` (the property's setter); a new
    Parameter under that name is refused, as PyTorch's ``register_parameter`` does."""
    if name in type(self).__dict__.get("_parametrized_names", ()):
        if isinstance(value, Parameter):
            raise KeyError(f"attribute '{name}' already exists")
        self.parametrizations[name].right_inverse(value)
        return
    type(self).__mro__[1].__setattr__(self, name, value)


def _inject_new_class(module: Module) -> None:
    """Give ``module`` its own subclass ``Parametrized<Class>`` to hold the properties."""
    cls = type(module)
    namespace = {"__getstate__": _refuse_pickle, "__setattr__": _parametrized_setattr,
                 "_parametrized_names": set(), "__module__": cls.__module__}
    object.__setattr__(module, "__class__", type(f"Parametrized{cls.__name__}", (cls,),
                                                 namespace))


def _inject_property(module: Module, name: str) -> None:
    if hasattr(module, name):
        raise AssertionError(f"Module already has an attribute named '{name}'")

    def getter(self: Module) -> Tensor:
        return _parametrized_value(self, name)

    def setter(self: Module, value: Tensor) -> None:
        self.parametrizations[name].right_inverse(value)

    cls = type(module)
    setattr(cls, name, property(getter, setter))
    cls._parametrized_names.add(name)


def register_parametrization(module: Module, tensor_name: str, parametrization: Module, *,
                             unsafe: bool = False) -> Module:
    """Make ``module.<tensor_name>`` read as ``parametrization(original)``.

    A second registration on the same name chains: ``P2(P1(original))``. Unless
    ``unsafe=True`` the parametrization may change neither shape nor dtype. If it defines
    ``right_inverse``, the original is initialised as ``right_inverse(current value)``, so the
    parametrized tensor starts where the plain one was.
    """
    if not isinstance(parametrization, Module):
        raise TypeError(
            f"parametrization must be an nn.Module, got {type(parametrization).__name__}"
        )
    parametrization.train(module.training)
    if is_parametrized(module, tensor_name):
        if not unsafe:
            y = getattr(module, tensor_name)
            x = parametrization(y)
            if not isinstance(x, Tensor):
                raise ValueError(f"A parametrization must return a tensor. Got {type(x).__name__}.")
            _check_same("Registering a parametrization", x, y,
                        f"parametrization(module.{tensor_name})", f"module.{tensor_name}")
            if hasattr(parametrization, "right_inverse"):
                try:
                    z = parametrization.right_inverse(x)
                except NotImplementedError:
                    pass
                else:
                    if not isinstance(z, Tensor):
                        raise ValueError("parametrization.right_inverse must return a tensor. "
                                         f"Got: {type(z).__name__}")
                    _check_same("The tensor returned by parametrization.right_inverse", z, y,
                                "returned", f"module.{tensor_name}")
        plist = module.parametrizations[tensor_name]
        plist.append(parametrization)
        plist.unsafe |= unsafe
    elif tensor_name in module._parameters or tensor_name in module._buffers:
        original = getattr(module, tensor_name)
        if original is None:
            raise ValueError(f"Module '{type(module).__name__}' has '{tensor_name}' set to "
                             "None: there is no tensor to parametrize")
        plist = ParametrizationList([parametrization], original, unsafe=unsafe)
        delattr(module, tensor_name)
        if not is_parametrized(module):
            _inject_new_class(module)
            module.parametrizations = ModuleDict()
        _inject_property(module, tensor_name)
        module.parametrizations[tensor_name] = plist
    else:
        raise ValueError(
            f"Module '{module}' does not have a parameter, a buffer, or a parametrized element "
            f"with name '{tensor_name}'"
        )
    return module


def is_parametrized(module: Module, tensor_name: str | None = None) -> bool:
    """Whether ``module`` has any parametrization (or one on ``tensor_name``)."""
    plists = module._modules.get("parametrizations") if isinstance(module, Module) else None
    if not isinstance(plists, ModuleDict):
        return False
    return len(plists) > 0 if tensor_name is None else tensor_name in plists


def remove_parametrizations(module: Module, tensor_name: str,
                            leave_parametrized: bool = True) -> Module:
    """Undo :func:`register_parametrization` on ``tensor_name``.

    ``leave_parametrized=True`` keeps the current parametrized value (the original tensor
    object takes it, so an optimizer holding it stays valid); ``False`` restores the original.
    When no parametrization is left the module gets its own class back.
    """
    if not is_parametrized(module, tensor_name):
        raise ValueError(f"Module {module} does not have a parametrization on {tensor_name}")
    plist = module.parametrizations[tensor_name]
    if plist.is_tensor:
        original = plist.original
        if leave_parametrized:
            with no_grad():
                value = getattr(module, tensor_name)
                _set_storage(original, value)
    else:
        if not leave_parametrized:
            raise ValueError(
                "Cannot leave unparametrized (`leave_parametrized=False`) a tensor that is "
                "parametrized in terms of a sequence of tensors."
            )
        value = getattr(module, tensor_name)
        original = Parameter(value.detach()) if value.requires_grad else value.detach()
    cls = type(module)
    delattr(cls, tensor_name)
    cls._parametrized_names.discard(tensor_name)
    del module.parametrizations[tensor_name]
    _register_parameter_or_buffer(module, tensor_name, original)
    if not is_parametrized(module):
        delattr(module, "parametrizations")
        object.__setattr__(module, "__class__", cls.__bases__[0])
    return module


def type_before_parametrizations(module: Module) -> type:
    """The module's class as it was before any parametrization was registered."""
    return type(module).__bases__[0] if is_parametrized(module) else type(module)


def transfer_parametrizations_and_params(from_module: Module, to_module: Module,
                                         tensor_name: str | None = None) -> Module:
    """Register ``from_module``'s parametrizations (all, or those of ``tensor_name``) on
    ``to_module`` and make it share their original tensors."""
    if not is_parametrized(from_module):
        return to_module
    names = list(from_module.parametrizations) if tensor_name is None else [tensor_name]
    for name in names:
        src = from_module.parametrizations[name]
        if not hasattr(to_module, name):
            setattr(to_module, name, Parameter(getattr(from_module, name).detach()))
        for p in src:
            register_parametrization(to_module, name, p)
        dst = to_module.parametrizations[name]
        if src.is_tensor:
            dst.original = src.original
        else:
            for i in range(src.ntensors):
                setattr(dst, f"original{i}", getattr(src, f"original{i}"))
    return to_module
