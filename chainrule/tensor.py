"""The Tensor: an array (the private slot ``_array``; ``.data`` is a detached Tensor over it, as
in PyTorch), its gradient (``.grad``) and the node that made it.

Operators and methods call the primitives of ``chainrule.ops`` through :func:`apply`, which runs
the forward on arrays and, when recording, links the result into the graph. Everything that is
not a primitive (``mean`` over dims, ``var``, ``softmax``...) is written here as a composite of
primitives, so its gradient comes from theirs.

The class is spread over a few files, each one group a contributor looks for:
``_tensor_shape.py`` (shape, view and indexing methods, the base class ``_ShapeMethods``),
``_tensor_methods.py`` (the methods made from tables: operators, ``exp``/``exp_``...,
``float()``...), ``_functions.py`` (``cat``, ``stack``, ``where``, ``einsum`` and the
``chainrule.exp``-style functions), ``_device.py``, ``autograd/inplace.py`` (versions, views)
and ``creation.py`` (factories). This module re-exports what other modules import from it.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from chainrule import random as _random
from chainrule._device import _CPU, _META, _Device, data_device, device, is_meta_placeholder
from chainrule._tensor_shape import _ShapeMethods
from chainrule.autograd import engine as _engine
from chainrule.autograd.engine import Function, _GradMode, no_grad, run_backward
from chainrule.autograd.function import _saved_versions as _saved_versions  # re-exported
from chainrule.autograd.function import as_method as _as_method
from chainrule.autograd.function import backward_one as _one
from chainrule.autograd.function import mark_inplace as _mark_inplace
from chainrule.autograd.function import record as apply  # Function.apply's recorder
from chainrule.autograd.function import record_binary as _binary  # (x op y)
from chainrule.autograd.function import record_unary as _unary  # (x.exp() ...)
from chainrule.autograd.function import register_tensor_functions
from chainrule.autograd.inplace import (
    _mark_overwritten,
    _reads_self,
    _refresh_views,
    _SavedOutput,
    _write_back,
)
from chainrule.backend import (
    asarray,
    default_dtype,
    is_differentiable,
    is_floating,
    to_dtype,
    xp,
)
from chainrule.ops import elementwise as E
from chainrule.ops import index as I
from chainrule.ops import matmul as M
from chainrule.ops import reduce as R
from chainrule.types import Size

_new = object.__new__


def _init_from_array(t: Tensor, arr: Any) -> None:
    """Make ``t`` (a Tensor or subclass instance) an unrecorded leaf over ``arr``, as it is
    (no copy, dtype kept): what subclasses (Parameter, Buffer) and deepcopy use in place of
    the public constructor."""
    t._array = arr
    t.grad = t.grad_fn = t._base = t._hooks = None  # (as _wrap, unrecorded)
    t.requires_grad = False
    t._version = 0


def tensor_of(a: Any) -> Tensor:
    """An array (or NumPy scalar) as a Tensor, no copy, dtype kept: chainrule's own way of
    wrapping a computed array (the public ``Tensor(data)`` converts to the default dtype)."""
    return _wrap(a if type(a) is xp.ndarray else xp.asarray(a))


def _wrap(data: Any, requires_grad: bool = False, grad_fn: Function | None = None) -> Tensor:
    """Make a Tensor around an array without copying or checking (internal fast path)."""
    t = _new(Tensor)
    t._array = data
    t.grad = None
    t.grad_fn = grad_fn
    t.requires_grad = requires_grad
    t._version = 0
    t._base = None
    t._hooks = None
    return t


def _const(o: Any) -> Any:
    """An operand of a Tensor operator: Tensors and Python numbers pass, NumPy scalars become
    Python numbers (so they do not promote float32 to float64), sequences become arrays."""
    t = type(o)
    if t is float or t is int or t is Tensor:
        return o
    if isinstance(o, xp.generic):  # before float: xp.float64 subclasses float
        return o.item()
    if isinstance(o, (Tensor, int, float, complex)):
        return o
    if isinstance(o, xp.ndarray):
        return o
    if isinstance(o, (list, tuple)):
        return asarray(o)
    raise TypeError(f"unsupported operand type for a Tensor operation: {type(o).__name__}")


def _ordered(ufunc: Any, name: str, a: Any, b: Any) -> Tensor:
    """``ufunc(a, b)`` for an order comparison; complex operands are refused, as PyTorch
    (NumPy would order them lexicographically)."""
    if a.dtype.kind == "c" or getattr(b, "dtype", a.dtype).kind == "c" or type(b) is complex:
        kind = "ComplexDouble" if xp.result_type(a, b) == xp.complex128 else "ComplexFloat"
        raise NotImplementedError(f'"{name}_cpu" not implemented for \'{kind}\'')
    return _wrap(xp.asarray(ufunc(a, b)))


def _data(o: Any) -> Any:
    return o._array if isinstance(o, Tensor) else o


def _size_args(size: tuple) -> tuple[int, ...]:
    """Accept ``f(2, 3)``, ``f((2, 3))`` and ``f([2, 3])`` as PyTorch does."""
    if len(size) == 1:
        s0 = size[0]
        if type(s0) is tuple and all(type(s) is int for s in s0):
            return s0  # the common case (a shape), as is
        if isinstance(s0, (tuple, list)):
            size = tuple(s0)
    return tuple([int(s) for s in size])


def to_args_dtype(args: tuple, kwargs: dict) -> Any:
    """The dtype asked for by ``to(...)``'s arguments (Tensor.to and Module.to): a dtype, a
    tensor whose dtype to take, a device (checked: only 'cpu'), or None."""
    dtype = kwargs.get("dtype")
    for a in list(args) + [kwargs.get("device")]:
        if a is None:
            continue
        if isinstance(a, Tensor):
            dtype = a.dtype
        elif isinstance(a, (str, device)):
            data_device(a)
        else:
            dtype = a
    return dtype


def _key(key: Any) -> Any:
    """An index key with Tensors replaced by arrays (and lists of ints by int arrays)."""
    if isinstance(key, tuple):
        return tuple(_key1(k) for k in key)
    return _key1(key)


def _key1(k: Any) -> Any:
    if isinstance(k, Tensor):
        return k._array
    if isinstance(k, list):
        return xp.asarray(k)
    if k.__class__ is slice and k.step is not None and k.step <= 0:
        # PyTorch has no negative-stride views (NumPy would silently give a reversed one)
        raise ValueError("slice step cannot be zero" if k.step == 0
                         else "step must be greater than zero")
    return k


class Tensor(_ShapeMethods):
    """A multi-dimensional array that can record the operations applied to it.

    Example::

        x = chainrule.tensor([1.0, 2.0, 3.0], requires_grad=True)
        y = (x * x).sum()
        y.backward()
        x.grad                      # tensor([2., 4., 6.])
    """

    __slots__ = ("_array", "grad", "grad_fn", "requires_grad", "_version", "_base", "_hooks",
                 "_views", "__weakref__")
    __array_ufunc__ = None  # make ndarray ⊕ Tensor defer to Tensor's reflected operators
    __hash__ = object.__hash__

    def __init__(self, *args: Any, dtype: Any = None, requires_grad: bool = False,
                 device: Any = None) -> None:
        """PyTorch's legacy constructor ``torch.Tensor(...)``: ``Tensor(2, 3)`` (or a
        ``Size``) is an uninitialised 2×3 tensor of the default dtype (zeros here, for
        reproducibility); ``Tensor(data)`` copies a list, scalar or array **converted to the
        default dtype** (``torch.Tensor(np.float64 array)`` is float32); ``Tensor(t)`` shares
        ``t``. ``dtype=`` and ``requires_grad=`` are chainrule's additions. (chainrule's own
        code wraps arrays with :func:`tensor_of`, which keeps their dtype.)"""
        if device is not None:
            data_device(device)
        dt = default_dtype() if dtype is None else to_dtype(dtype)
        if len(args) == 1 and isinstance(args[0], Tensor):
            arr = args[0]._array if dtype is None else args[0]._array.astype(dt)
        elif args and (isinstance(args[0], Size) or all(
                type(a) is int or (isinstance(a, xp.integer) and not isinstance(a, bool))
                for a in args)):
            shape = tuple(args[0]) if isinstance(args[0], Size) and len(args) == 1 else args
            if any(type(n) is not int and not isinstance(n, xp.integer) for n in shape):
                raise TypeError(f"Tensor(): sizes must be integers, got {shape!r}")
            if any(n < 0 for n in shape):
                raise RuntimeError(f"Tensor(): negative dimension in size {tuple(shape)}")
            arr = xp.zeros(tuple(int(n) for n in shape), dtype=dt)
        elif len(args) > 1:
            raise TypeError(f"Tensor(): expected sizes (ints) or one data argument, got "
                            f"{tuple(type(a).__name__ for a in args)}")
        else:
            arr = asarray(args[0] if args else ())
            if arr.dtype != dt and arr.dtype.kind != "c":
                arr = arr.astype(dt)  # (a copy; PyTorch copies too)
            elif args and arr is args[0]:
                arr = arr.copy()
        _init_from_array(self, arr)
        if requires_grad:
            self.requires_grad_(True)

    # ---- attributes ------------------------------------------------------------------------
    @property
    def data(self) -> Tensor:
        """A Tensor sharing this tensor's storage, cut from the graph (PyTorch's ``.data``).

        It does not require grad, has no ``grad_fn`` and its own version counter: in-place
        changes made through it (``p.data.add_(g, alpha=-lr)``) change this tensor without
        bumping this tensor's version, so autograd does not see them (as in PyTorch; prefer
        ``with no_grad():`` or ``detach()`` where the check matters). Internal code reads the
        array slot ``_array`` directly; ``numpy()`` is the public way to get the array.
        """
        return _wrap(self._array)

    @data.setter
    def data(self, value: Tensor) -> None:
        """``p.data = t``: this tensor now uses ``t``'s storage (any shape; a tensor that requires
        grad must stay floating point), as PyTorch's ``set_data``."""
        if not isinstance(value, Tensor):
            raise TypeError(f"Variable data has to be a tensor, but got {type(value).__name__}")
        if self.requires_grad and not is_differentiable(value._array.dtype):
            raise RuntimeError(
                "data set to a tensor that requires gradients must be floating point or complex "
                f"dtype, got {value.dtype}"
            )
        self._array = value._array
        self._base = None  # no longer a view of its old base's storage
        _mark_inplace()  # (a node recorded before reads the new array, as in PyTorch)

    @property
    def shape(self) -> Size:
        return Size(self._array.shape)

    def size(self, dim: int | None = None) -> Any:
        """The shape (a :class:`chainrule.Size`), or the size of one dimension."""
        if dim is None:
            return Size(self._array.shape)
        return self._array.shape[dim]

    @property
    def ndim(self) -> int:
        return self._array.ndim

    def dim(self) -> int:
        return self._array.ndim

    def ndimension(self) -> int:
        return self._array.ndim

    def numel(self) -> int:
        return int(self._array.size)

    def nelement(self) -> int:
        return int(self._array.size)

    def element_size(self) -> int:
        return int(self._array.itemsize)

    @property
    def dtype(self) -> xp.dtype:
        return self._array.dtype

    @property
    def device(self) -> device:
        # a meta skeleton's tensors (Module.to("meta")) report the meta device, as in torch
        return _META if is_meta_placeholder(self._array) else _CPU

    @property
    def is_cuda(self) -> bool:
        return False

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def T(self) -> Tensor:
        return self.permute(*range(self.ndim - 1, -1, -1))

    @property
    def mT(self) -> Tensor:
        if self.ndim < 2:
            raise RuntimeError(f"mT: tensor of shape {self.shape} has fewer than 2 dimensions")
        return self.transpose(-2, -1)

    @property
    def H(self) -> Tensor:
        return self.T

    def is_floating_point(self) -> bool:
        return is_floating(self._array.dtype)

    def is_contiguous(self) -> bool:
        return bool(self._array.flags.c_contiguous)

    def contiguous(self) -> Tensor:
        return self if self._array.flags.c_contiguous else self.clone()

    def stride(self, dim: int | None = None) -> Any:
        st = tuple(s // self._array.itemsize for s in self._array.strides)
        return st if dim is None else st[dim]

    def _current_version(self) -> int:
        base = self._base
        return base._version if base is not None else self._version

    def _bump_version(self) -> None:
        base = self._base if self._base is not None else self
        base._version += 1
        _mark_inplace()  # (the engine then checks the versions of nodes recorded before)

    def data_ptr(self) -> int:
        return int(self._array.__array_interface__["data"][0])

    # ---- conversion ------------------------------------------------------------------------
    def numpy(self, force: bool = False) -> xp.ndarray:
        """The underlying array (shared memory, as in PyTorch; the slot ``_array``)."""
        if self.requires_grad and not force:
            raise RuntimeError(
                "Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() "
                "instead."
            )
        return self._array

    def __array__(self, dtype: Any = None, copy: Any = None) -> xp.ndarray:
        """``np.asarray(t)``: the array itself (shared memory) unless a dtype or a copy is asked."""
        a = self._array
        if not isinstance(a, xp.ndarray):
            a = xp.asarray(a)  # (a NumPy scalar made by a reduction)
        if dtype is not None and a.dtype != dtype:
            return a.astype(dtype)
        return a.copy() if copy else a

    def item(self) -> Any:
        if self._array.size != 1:
            raise RuntimeError(
                f"a Tensor with {self._array.size} elements cannot be converted to Scalar "
                f"(shape {self.shape})"
            )
        return self._array.reshape(()).item()

    def tolist(self) -> Any:
        return self._array.tolist()

    def to(self, *args: Any, **kwargs: Any) -> Tensor:
        """``to(dtype)``, ``to(device)``, ``to(device, dtype)`` or ``to(other_tensor)``."""
        dtype = to_args_dtype(args, kwargs)
        copy = kwargs.get("copy", False)
        if dtype is None:
            return self.clone() if copy else self
        dtype = to_dtype(dtype)
        if dtype == self._array.dtype:
            return self.clone() if copy else self
        if self.requires_grad and is_differentiable(dtype) and _GradMode.enabled:
            return apply(E.Cast, self, dtype=dtype)
        return _wrap(self._array.astype(dtype))

    def type(self, dtype: Any = None, non_blocking: bool = False, **kwargs: Any) -> Any:
        """``'chainrule.FloatTensor'``-style name, or a cast to a dtype / legacy type name."""
        from chainrule._legacy import tensor_type

        return tensor_type(self, dtype, non_blocking, **kwargs)

    def type_as(self, other: Tensor) -> Tensor:
        """This tensor cast to ``other``'s dtype (itself when it already has it)."""
        if not isinstance(other, Tensor):
            raise TypeError(f"type_as(): argument 'other' must be a Tensor, not "
                            f"{type(other).__name__}")
        return self.to(other.dtype)

    def cpu(self) -> Tensor:
        return self

    def cuda(self, *args: Any, **kwargs: Any) -> Tensor:
        raise RuntimeError("CUDA is not available: chainrule runs on 'cpu' only")

    def __len__(self) -> int:
        if self._array.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._array.shape[0]

    def __iter__(self) -> Iterator[Tensor]:
        if self._array.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        for i in range(self._array.shape[0]):
            yield self[i]

    def __bool__(self) -> bool:
        if self._array.size != 1:
            raise RuntimeError(
                f"Boolean value of Tensor with more than one value is ambiguous "
                f"(shape {self.shape})"
            )
        return bool(self._array.reshape(()))

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self._array.dtype.kind not in "iu":
            raise TypeError(f"only integer tensors can be converted to an index, got {self.dtype}")
        return int(self.item())

    def __repr__(self) -> str:
        """PyTorch's layout and number formatting, under ``set_printoptions``."""
        from chainrule._printing import tensor_repr

        return tensor_repr(self)

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        if self._array.ndim == 0:
            return format(self._array.item(), spec)
        return repr(self)

    def __deepcopy__(self, memo: dict) -> Tensor:
        if self.grad_fn is not None:
            raise RuntimeError(
                "Only Tensors created explicitly by the user (graph leaves) support the "
                "deepcopy protocol at the moment."
            )
        t = type(self).__new__(type(self))
        _init_from_array(t, self._array.copy())
        t.requires_grad = self.requires_grad
        if self.grad is not None:
            t.grad = _wrap(self.grad._array.copy())
        memo[id(self)] = t
        return t

    # ---- autograd --------------------------------------------------------------------------
    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set ``requires_grad`` in place (only floating-point and complex tensors can require
        grad)."""
        if requires_grad and not is_differentiable(self._array.dtype):
            raise RuntimeError(
                "only Tensors of floating point and complex dtype can require gradients, got "
                f"{self.dtype}"
            )
        if not requires_grad and self.grad_fn is not None:
            raise RuntimeError(
                "you can only change requires_grad flags of leaf variables. If you want to use "
                "a computed variable in a subgraph that doesn't require differentiation use "
                "var_no_grad = var.detach()."
            )
        self.requires_grad = bool(requires_grad)
        return self

    def detach(self) -> Tensor:
        """The same data (shared memory, shared version counter) cut from the graph."""
        t = _wrap(self._array)
        t._base = self._base if self._base is not None else self
        return t

    def detach_(self) -> Tensor:
        self.grad_fn = None
        self.requires_grad = False
        return self

    def clone(self, *, memory_format: Any = None) -> Tensor:
        """A copy that stays in the graph (``memory_format`` accepted: arrays are C-ordered)."""
        return _unary(self, E.Clone)

    # ---- new_* factories (dtype and device of self unless given) ---------------------------
    def _new_filled(self, fill: Callable[[tuple[int, ...], Any], Any], size: tuple,
                    dtype: Any, device: Any, requires_grad: bool) -> Tensor:
        if device is not None:
            _Device(device)  # validates: only cpu
        t = _wrap(fill(_size_args(size), to_dtype(dtype) if dtype is not None else self.dtype))
        if requires_grad:
            t.requires_grad_(True)
        return t

    def new_zeros(self, *size: Any, dtype: Any = None, device: Any = None,
                  requires_grad: bool = False, **_: Any) -> Tensor:
        """Zeros of shape ``size`` with self's dtype (``Tensor.new_zeros``)."""
        return self._new_filled(xp.zeros, size, dtype, device, requires_grad)

    def new_ones(self, *size: Any, dtype: Any = None, device: Any = None,
                 requires_grad: bool = False, **_: Any) -> Tensor:
        """Ones of shape ``size`` with self's dtype (``Tensor.new_ones``)."""
        return self._new_filled(xp.ones, size, dtype, device, requires_grad)

    def new_empty(self, *size: Any, dtype: Any = None, device: Any = None,
                  requires_grad: bool = False, **_: Any) -> Tensor:
        """An uninitialised tensor of shape ``size`` with self's dtype (``Tensor.new_empty``)."""
        return self._new_filled(xp.empty, size, dtype, device, requires_grad)

    def new_full(self, size: Any, fill_value: Any, *, dtype: Any = None, device: Any = None,
                 requires_grad: bool = False, **_: Any) -> Tensor:
        """``fill_value`` everywhere, shape ``size``, self's dtype (``Tensor.new_full``)."""
        return self._new_filled(lambda sh, d: xp.full(sh, fill_value, d), (size,), dtype,
                                device, requires_grad)

    def new_tensor(self, data: Any, *, dtype: Any = None, device: Any = None,
                   requires_grad: bool = False, **_: Any) -> Tensor:
        """A copy of ``data`` with self's dtype unless ``dtype`` is given (``Tensor.new_tensor``;
        always self's dtype, even for Python ints, as PyTorch)."""
        src = data._array if isinstance(data, Tensor) else data
        arr = xp.array(src, dtype=to_dtype(dtype) if dtype is not None else self.dtype)
        return self._new_filled(lambda sh, d: arr, (), None, device, requires_grad)

    def retain_grad(self) -> None:
        """Keep ``.grad`` on a non-leaf tensor after backward."""
        if self.grad_fn is None:
            return
        self.grad_fn.retained = weakref.ref(self)
        self.grad_fn.extras = True

    @property
    def retains_grad(self) -> bool:
        fn = self.grad_fn
        return fn is not None and fn.retained is not None and fn.retained() is self

    def register_hook(self, hook: Callable[[Tensor], Tensor | None]) -> Any:
        """Call ``hook(grad)`` when this tensor's gradient is computed; a returned tensor
        replaces the gradient. Returns a handle with ``remove()``."""
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        from chainrule.utils.hooks import RemovableHandle  # (utils imports this module)

        if self.grad_fn is not None:
            if self.grad_fn.hooks is None:
                self.grad_fn.hooks = {}
                self.grad_fn.extras = True
            hooks = self.grad_fn.hooks
        else:
            if self._hooks is None:
                self._hooks = {}
            hooks = self._hooks
        handle = RemovableHandle(hooks)
        hooks[handle.id] = hook
        return handle

    def backward(
        self,
        gradient: Any = None,
        retain_graph: bool | None = None,
        create_graph: bool = False,
        inputs: Sequence[Tensor] | Tensor | None = None,
    ) -> None:
        """Accumulate d(self)/d(leaf) into each leaf's ``.grad``.

        ``gradient`` is required unless self is a scalar (it is the vector in the
        vector-Jacobian product). ``create_graph=True`` records the backward pass itself so the
        gradients can be differentiated again.
        """
        if gradient is None:
            if self._array.size != 1:
                raise RuntimeError(
                    f"grad can be implicitly created only for scalar outputs (this tensor has "
                    f"shape {self.shape}); pass gradient= to backward()"
                )
            if self._array.dtype.kind == "c":  # (PyTorch: dL/dz of a complex L is not defined)
                raise RuntimeError("grad can be implicitly created only for real scalar outputs "
                                   f"but got torch.{self.dtype}")
            if (inputs is None and not create_graph and self.grad_fn is not None
                    and not _GradMode.create_graph):  # loss.backward(): the short way
                _engine.backward_scalar(self.grad_fn, _one(self._array), bool(retain_graph))
                return
            g = _wrap(_one(self._array))
        else:
            if not isinstance(gradient, Tensor):
                from chainrule.creation import tensor  # (creation imports this module)

                gradient = tensor(gradient, dtype=self.dtype)
            g = gradient
            if self._array.dtype.kind == "c" and g._array.dtype.kind != "c":
                g = g.to(self.dtype)  # (a real gradient of a complex output, as PyTorch casts)
            if g.shape != self.shape:
                raise RuntimeError(
                    f"Mismatch in shape: grad_output has a shape of {g.shape} and output has a "
                    f"shape of {self.shape}"
                )
        create_graph = create_graph or _GradMode.create_graph  # backward_creates_graph()
        if retain_graph is None:
            retain_graph = create_graph
        if isinstance(inputs, Tensor):
            inputs = [inputs]
        run_backward([self], [g], retain_graph, create_graph, inputs=inputs)

    # ---- in-place machinery ----------------------------------------------------------------
    def _inplace(self, cls: type[Function], *args: Any, **kw: Any) -> Tensor:
        """Apply ``cls`` to (self, *args) and make self hold the result.

        Without recording, the array is overwritten in place. While recording, a leaf that
        requires grad (or a view of one) is refused; otherwise the op is recorded on a
        snapshot of self (a copy when the op reads its input in backward) and the result is
        written into self's storage (see ``_commit``). Ops that saved self see its version
        change and refuse to run backward (PyTorch's rule).
        """
        needs_graph = _GradMode.enabled and (
            self.requires_grad or any(isinstance(a, Tensor) and a.requires_grad for a in args)
        )
        if not needs_graph:
            out = _new(cls).forward(self._array, *[_data(a) for a in args], **kw)
            self._write(out)
            return self
        self._check_inplace(cls.__qualname__.lower() + "_")
        return self._commit(apply(cls, self._snapshot(_reads_self(cls, args)), *args, **kw))

    def _check_inplace(self, what: str) -> None:
        """Refuse a recorded in-place op on a leaf that requires grad or on a view of one."""
        if self.requires_grad and self.grad_fn is None:
            raise RuntimeError(
                "a leaf Variable that requires grad is being used in an in-place operation "
                f"({what} on a tensor of shape {self.shape})."
            )
        base = self._base
        if base is not None and base.requires_grad and base.grad_fn is None:
            raise RuntimeError(
                "a view of a leaf Variable that requires grad is being used in an in-place "
                f"operation ({what} on a view of shape {self.shape} of a leaf of shape "
                f"{base.shape})."
            )

    def _snapshot(self, copy: bool) -> Tensor:
        """Self's current value and creator as a separate tensor, the input of a recorded
        in-place op (copied when that op reads it in backward, since self is overwritten)."""
        return _wrap(self._array.copy() if copy else self._array, self.requires_grad, self.grad_fn)

    def _commit(self, res: Tensor) -> Tensor:
        """Finish a recorded in-place op whose out-of-place result is ``res``.

        The values are written into self's storage (views and the base see them), self's
        creator becomes ``res``'s, an op that saved its output gets self's storage (so later
        in-place changes are detected), and, when self is a view, the base's creator is
        rewired through the write; other live views of the storage are re-derived from it.
        """
        prev = self.grad_fn
        if prev is not None and prev._save_out and prev.inputs is not None:
            _mark_overwritten(prev, self._array)
        self._write(res._array)
        fn = res.grad_fn
        self.grad_fn = fn
        self.requires_grad = True
        root = self._base if self._base is not None else self
        if fn is not None and fn._save_out:
            fn.out_ref = _SavedOutput(self._array, root, fn, root._version)
            fn.out_array = self._array
            fn.out_version = root._version
        if self._base is not None:
            _write_back(root, self, res)
        _refresh_views(root, self)
        return self

    def _write(self, out: Any) -> None:
        """Overwrite the array's contents (true in-place, views see it) and bump the version."""
        if not self._array.flags.writeable:
            raise RuntimeError(
                f"in-place operation on a read-only tensor of shape {self.shape} (an expand()ed "
                "view); clone() it first"
            )
        if out is not self._array:
            if out.shape != self._array.shape:
                raise RuntimeError(
                    f"output with shape {self.shape} doesn't match the broadcast shape "
                    f"{tuple(out.shape)}"
                )
            if not xp.can_cast(out.dtype, self._array.dtype, "same_kind"):
                raise RuntimeError(
                    f"result type {out.dtype} can't be cast to the desired output type "
                    f"{self._array.dtype}"
                )
            xp.copyto(self._array, out, casting="same_kind")
        self._bump_version()

    # ---- operators -------------------------------------------------------------------------
    def __floordiv__(self, o: Any) -> Tensor:
        a = self._array
        return _wrap(E._fix_dtype(xp.floor_divide(a, _data(_const(o))), a, None))

    def __rfloordiv__(self, o: Any) -> Tensor:
        return _wrap(xp.floor_divide(_data(_const(o)), self._array))

    def __pow__(self, o: Any) -> Tensor:
        o = _const(o)
        if isinstance(o, (int, float)):
            return apply(E.PowScalar, self, o)
        return apply(E.Pow, self, o)

    def __rpow__(self, o: Any) -> Tensor:
        o = _const(o)
        if isinstance(o, (int, float)) and o > 0:
            return apply(E.RPowScalar, o, self)
        return apply(E.Pow, o, self)

    def __matmul__(self, o: Any) -> Tensor:
        return apply(M.MatMul, self, _const(o))

    def __rmatmul__(self, o: Any) -> Tensor:
        return apply(M.MatMul, _const(o), self)

    __neg__ = _as_method(_unary, E.Neg, "__neg__")  # (-x: the recorder itself)

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return self.abs()

    def __invert__(self) -> Tensor:
        if self._array.dtype.kind not in "biu":
            raise TypeError(f"~ is only defined for bool and integer tensors, got {self.dtype}")
        return _wrap(~self._array)

    def __and__(self, o: Any) -> Tensor:
        return _wrap(self._array & _data(_const(o)))

    __rand__ = __and__

    def __or__(self, o: Any) -> Tensor:
        return _wrap(self._array | _data(_const(o)))

    __ror__ = __or__

    def __xor__(self, o: Any) -> Tensor:
        return _wrap(self._array ^ _data(_const(o)))

    __rxor__ = __xor__

    def __eq__(self, o: Any) -> Tensor:  # type: ignore[override]
        return _wrap(xp.asarray(self._array == _data(_const(o))))

    def __ne__(self, o: Any) -> Tensor:  # type: ignore[override]
        return _wrap(xp.asarray(self._array != _data(_const(o))))

    def __lt__(self, o: Any) -> Tensor:
        return _ordered(xp.less, "lt", self._array, _data(_const(o)))

    def __le__(self, o: Any) -> Tensor:
        return _ordered(xp.less_equal, "le", self._array, _data(_const(o)))

    def __gt__(self, o: Any) -> Tensor:
        return _ordered(xp.greater, "gt", self._array, _data(_const(o)))

    def __ge__(self, o: Any) -> Tensor:
        return _ordered(xp.greater_equal, "ge", self._array, _data(_const(o)))

    eq = __eq__
    ne = __ne__
    lt = __lt__
    le = __le__
    gt = __gt__
    ge = __ge__

    def equal(self, o: Tensor) -> bool:
        return bool(self.shape == o.shape and xp.array_equal(self._array, o._array))

    def allclose(self, o: Any, rtol: float = 1e-5, atol: float = 1e-8) -> bool:
        return bool(xp.allclose(self._array, _data(o), rtol=rtol, atol=atol))

    def isclose(self, o: Any, rtol: float = 1e-5, atol: float = 1e-8) -> Tensor:
        return _wrap(xp.isclose(self._array, _data(o), rtol=rtol, atol=atol))

    def logical_not(self) -> Tensor:
        return _wrap(xp.logical_not(self._array))

    def logical_and(self, o: Any) -> Tensor:
        return _wrap(xp.logical_and(self._array, _data(o)))

    def logical_or(self, o: Any) -> Tensor:
        return _wrap(xp.logical_or(self._array, _data(o)))

    def add(self, o: Any, alpha: float = 1) -> Tensor:
        return self + (o * alpha if alpha != 1 else o)

    def sub(self, o: Any, alpha: float = 1) -> Tensor:
        return self - (o * alpha if alpha != 1 else o)

    def mul(self, o: Any) -> Tensor:
        return self * o

    def div(self, o: Any, rounding_mode: str | None = None) -> Tensor:
        if rounding_mode is None:
            return self / o
        if rounding_mode not in ("floor", "trunc"):
            raise RuntimeError("div expected rounding_mode to be one of None, 'trunc', or "
                               f"'floor' but found '{rounding_mode}'")
        return apply(E.RoundedDiv, self, _const(o), rounding_mode=rounding_mode)

    def true_divide(self, o: Any) -> Tensor:
        return self / o

    def pow(self, o: Any) -> Tensor:
        return self**o

    def remainder(self, o: Any) -> Tensor:
        return self % o

    def fmod(self, o: Any) -> Tensor:
        return _binary(self, o, E.Fmod)

    def matmul(self, o: Any) -> Tensor:
        return self @ o

    def _product_of_rank(self, o: Any, n: int, name: str) -> Tensor:
        """``self @ o`` for the products that insist on n-D operands (mm, bmm, dot)."""
        if self.ndim != n or _data(o).ndim != n:
            raise RuntimeError(f"{name}: expected {n}-D tensors, got {self.shape} and {o.shape}")
        return self @ o

    def mm(self, o: Any) -> Tensor:
        return self._product_of_rank(o, 2, "mm")

    def bmm(self, o: Any) -> Tensor:
        return self._product_of_rank(o, 3, "bmm")

    def mv(self, o: Any) -> Tensor:
        return self @ o

    def dot(self, o: Any) -> Tensor:
        return self._product_of_rank(o, 1, "dot")

    def outer(self, o: Tensor) -> Tensor:
        return self.unsqueeze(-1) * o.unsqueeze(0)

    def neg(self) -> Tensor:
        return -self

    def add_(self, o: Any, alpha: float = 1) -> Tensor:
        return self._inplace(E.Add, _const(o) if alpha == 1 else _const(o) * alpha)

    def sub_(self, o: Any, alpha: float = 1) -> Tensor:
        return self._inplace(E.Sub, _const(o) if alpha == 1 else _const(o) * alpha)

    def mul_(self, o: Any) -> Tensor:
        return self._inplace(E.Mul, _const(o))

    def div_(self, o: Any) -> Tensor:
        return self._inplace(E.Div, _const(o))

    def pow_(self, o: Any) -> Tensor:
        return self._inplace(E.PowScalar, _const(o))

    # x += o, ...: the in-place methods
    __iadd__, __isub__, __imul__, __itruediv__, __ipow__ = add_, sub_, mul_, div_, pow_

    def clamp_(self, min: Any = None, max: Any = None) -> Tensor:
        return self._inplace(E.Clamp, lo=min, hi=max)

    clip_ = clamp_

    def addcmul_(self, t1: Any, t2: Any, value: float = 1) -> Tensor:
        return self.add_(_const(t1) * _const(t2) * value)

    def addcdiv_(self, t1: Any, t2: Any, value: float = 1) -> Tensor:
        return self.add_(_const(t1) / _const(t2) * value)

    def lerp_(self, end: Any, weight: float) -> Tensor:
        return self.add_((_const(end) - self.detach()) * weight)

    def zero_(self) -> Tensor:
        return self.fill_(0)

    def fill_(self, value: Any) -> Tensor:
        if _GradMode.enabled and (self.requires_grad or getattr(value, "requires_grad", False)):
            self._check_inplace("fill_")
            # recorded as where(False, self, value): the old values get a zero gradient
            res = where(xp.zeros((), dtype=bool), self._snapshot(False), _const(value))
            return self._commit(res)
        if not self._array.flags.writeable:
            self._write(self._array)  # raises the read-only error
        self._array[...] = _data(value)
        self._bump_version()
        return self

    def copy_(self, src: Any) -> Tensor:
        """Copy ``src`` (broadcast, cast to self's dtype) into self's array in place."""
        if _GradMode.enabled and (self.requires_grad or getattr(src, "requires_grad", False)):
            self._check_inplace("copy_")
            res = apply(E.Clone, src) if isinstance(src, Tensor) else _wrap(xp.array(src))
            if res.dtype != self.dtype:
                res = res.to(self.dtype)
            if res.shape != self.shape:
                res = res.expand(self.shape)
            return self._commit(res)
        s = _data(src)
        if not self._array.flags.writeable:
            self._write(self._array)  # raises the read-only error
        xp.copyto(self._array, xp.broadcast_to(xp.asarray(s), self.shape), casting="unsafe")
        self._bump_version()
        return self

    def masked_fill_(self, mask: Any, value: Any) -> Tensor:
        m = _data(mask)
        if _GradMode.enabled and (self.requires_grad or getattr(value, "requires_grad", False)):
            self._check_inplace("masked_fill_")
            return self._commit(self._snapshot(False).masked_fill(mask, value))
        if not self._array.flags.writeable:
            self._write(self._array)  # raises the read-only error
        self._array[xp.broadcast_to(m, self.shape)] = _data(value)
        self._bump_version()
        return self

    def uniform_(self, a: float = 0.0, b: float = 1.0, generator: Any = None) -> Tensor:
        return self._fill_random(_random.rng(generator).uniform(a, b, self.shape))

    def normal_(self, mean: float = 0.0, std: float = 1.0, generator: Any = None) -> Tensor:
        return self._fill_random(_random.rng(generator).normal(mean, std, self.shape))

    def bernoulli_(self, p: float = 0.5, generator: Any = None) -> Tensor:
        return self._fill_random(_random.rng(generator).random(self.shape) < p)

    def random_(self, low: int = 0, high: int | None = None, generator: Any = None) -> Tensor:
        if high is None:
            low, high = 0, low if low else 2**31
        return self._fill_random(_random.rng(generator).integers(low, high, self.shape))

    def exponential_(self, lambd: float = 1.0, generator: Any = None) -> Tensor:
        return self._fill_random(_random.rng(generator).exponential(1.0 / lambd, self.shape))

    def _fill_random(self, values: Any) -> Tensor:
        with no_grad():
            return self.copy_(values)

    # ---- elementwise -----------------------------------------------------------------------
    def log2(self) -> Tensor:
        return apply(E.Log, self) / float(xp.log(2.0))

    def log10(self) -> Tensor:
        return apply(E.Log, self) / float(xp.log(10.0))

    def square(self) -> Tensor:
        return apply(E.PowScalar, self, 2)

    def sign(self) -> Tensor:
        return apply(E.ZeroGrad, self, fn="sign")

    sgn = sign

    def tan(self) -> Tensor:
        return self.sin() / self.cos()

    def softmax(self, dim: int = -1) -> Tensor:
        return apply(R.LogSoftmax, self, dim=dim).exp()

    def log_softmax(self, dim: int = -1) -> Tensor:
        return apply(R.LogSoftmax, self, dim=dim)

    def clamp(self, min: Any = None, max: Any = None) -> Tensor:
        if min is None and max is None:
            raise RuntimeError("clamp: at least one of 'min' or 'max' must not be None")
        if isinstance(min, Tensor) or isinstance(max, Tensor):
            # tensor bounds get gradients too: x where lo <= x (<= hi), the bound elsewhere
            out = self
            if min is not None:
                out = where(out < min, min, out)
            if max is not None:
                out = where(out > max, max, out)
            return out
        return apply(E.Clamp, self, lo=min, hi=max)

    clip = clamp

    def clamp_min(self, min: Any) -> Tensor:
        return self.clamp(min=min)

    def clamp_max(self, max: Any) -> Tensor:
        return self.clamp(max=max)

    def maximum(self, o: Any) -> Tensor:
        return _binary(self, o, E.Maximum)

    def minimum(self, o: Any) -> Tensor:
        return _binary(self, o, E.Minimum)

    def reciprocal(self) -> Tensor:
        return _unary(self, E.Reciprocal)

    def floor(self) -> Tensor:
        return apply(E.ZeroGrad, self, fn="floor")

    def ceil(self) -> Tensor:
        return apply(E.ZeroGrad, self, fn="ceil")

    def round(self, decimals: int = 0) -> Tensor:
        return apply(E.ZeroGrad, self, fn="round", decimals=decimals)

    def trunc(self) -> Tensor:
        return apply(E.ZeroGrad, self, fn="trunc")

    def frac(self) -> Tensor:
        return self - self.trunc()

    def isnan(self) -> Tensor:
        return _wrap(xp.isnan(self._array))

    def isinf(self) -> Tensor:
        return _wrap(xp.isinf(self._array))

    def isfinite(self) -> Tensor:
        return _wrap(xp.isfinite(self._array))

    def nan_to_num(self, nan: float = 0.0, posinf: float | None = None,
                   neginf: float | None = None) -> Tensor:
        return _wrap(xp.nan_to_num(self._array, nan=nan, posinf=posinf, neginf=neginf))

    def where(self, cond: Any, other: Any) -> Tensor:
        return where(cond, self, other)

    def lerp(self, end: Any, weight: Any) -> Tensor:
        return self + (end - self) * weight

    # ---- reductions ------------------------------------------------------------------------
    def sum(self, dim: Any = None, keepdim: bool = False, dtype: Any = None) -> Tensor:
        if dtype is not None:
            return self.to(dtype).sum(dim, keepdim)
        if dim is None and not keepdim:  # (the loss's full sum: the flat one-input recorder)
            return _unary(self, R.Sum)
        return apply(R.Sum, self, dim=dim, keepdim=keepdim)

    def nansum(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        if not is_floating(self._array.dtype):
            return self.sum(dim, keepdim)
        return apply(R.NanSum, self, dim=dim, keepdim=keepdim)

    def mean(self, dim: Any = None, keepdim: bool = False, dtype: Any = None) -> Tensor:
        if not is_differentiable(self._array.dtype) and dtype is None:
            raise RuntimeError(
                f"mean(): could not infer output dtype. Input dtype must be either a floating "
                f"point or complex dtype. Got: {self.dtype}"
            )
        x = self if dtype is None else self.to(dtype)
        return apply(R.Mean, x, dim=dim, keepdim=keepdim)

    def sum_to(self, shape: Sequence[int]) -> Tensor:
        """Sum over broadcast dimensions so the result has ``shape`` (adjoint of expand)."""
        shape = tuple(shape)
        if self._array.shape == shape:
            return self
        return apply(R.SumTo, self, shape=shape)

    sum_to_size = sum_to

    def var(self, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False,
            correction: float | None = None) -> Tensor:
        """Σ |x - mean|² / (N - correction); ``unbiased=True`` means correction 1 (default);
        real for complex x, as PyTorch."""
        if correction is None:
            correction = 1 if unbiased is None or unbiased else 0
        axes = R.normalize_dims(dim, self.ndim) if self.ndim else ()
        n = 1
        for a in axes:
            n *= self.shape[a]
        mu = self.mean(axes, keepdim=True)
        d = self - mu
        sq = d * d if d._array.dtype.kind != "c" else (d * d.conj()).real
        return sq.sum(axes, keepdim=keepdim) / float(max(n - correction, 0))

    def std(self, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False,
            correction: float | None = None) -> Tensor:
        return self.var(dim, unbiased, keepdim, correction).sqrt()

    def var_mean(self, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False,
                 correction: float | None = None) -> tuple[Tensor, Tensor]:
        return self.var(dim, unbiased, keepdim, correction), self.mean(dim, keepdim)

    def prod(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        return apply(R.Prod, self, dim=dim, keepdim=keepdim)

    def cumsum(self, dim: int) -> Tensor:
        return apply(R.Cumsum, self, dim=dim)

    def cumprod(self, dim: int) -> Tensor:
        # exp(cumsum(log|x|)) with signs would fail at zeros; a product of slices is exact.
        n = self.shape[dim]
        parts = [self.narrow(dim, 0, 1)]
        for i in range(1, n):
            parts.append(parts[-1] * self.narrow(dim, i, 1))
        return cat(parts, dim)

    def logsumexp(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        """log Σ exp(x), computed as m + log Σ exp(x - m) with m the (constant) maximum."""
        axes = R.normalize_dims(dim, self.ndim) if self.ndim else ()
        m = xp.max(self._array, axis=axes, keepdims=True) if self._array.size else self._array
        finite = xp.isfinite(m)
        if finite.all():
            out = (self - m).exp().sum(axes, keepdim=True).log() + m
        else:  # a row of -inf: log(0) = -inf silently, as PyTorch
            m = xp.where(finite, m, 0)
            with xp.errstate(divide="ignore", invalid="ignore"):
                out = (self - m).exp().sum(axes, keepdim=True).log() + m
        return out if keepdim else out.squeeze(axes) if axes else out

    def amax(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return self._extreme(dim, keepdim, xp.max)

    def amin(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return self._extreme(dim, keepdim, xp.min)

    def _extreme(self, dim: Any, keepdim: bool, fn: Callable) -> Tensor:
        """Max/min over dims; the gradient is shared evenly between tied maxima (PyTorch)."""
        if self._array.size == 0:
            raise RuntimeError(f"max(): Expected reduction dim to be specified for input.numel() "
                               f"== 0 (shape {self.shape})")
        axes = R.normalize_dims(dim, self.ndim) if self.ndim else ()
        m = fn(self._array, axis=axes, keepdims=True)
        if not (self.requires_grad and _GradMode.enabled):
            return _wrap(m if keepdim else xp.squeeze(m, axis=axes))
        hit = (self._array == m).astype(self._array.dtype)
        w = hit / hit.sum(axis=axes, keepdims=True)
        return (self * w).sum(axes if axes else None, keepdim=keepdim)

    def max(self, dim: Any = None, keepdim: bool = False) -> Any:
        """Without ``dim``: the maximum. With ``dim`` (int): ``(values, indices)``. With a
        tensor: the elementwise maximum."""
        if isinstance(dim, Tensor):
            return self.maximum(dim)
        if dim is None:
            return self.amax()
        return self._extreme_dim(int(dim), keepdim, xp.argmax)

    def min(self, dim: Any = None, keepdim: bool = False) -> Any:
        if isinstance(dim, Tensor):
            return self.minimum(dim)
        if dim is None:
            return self.amin()
        return self._extreme_dim(int(dim), keepdim, xp.argmin)

    def _extreme_dim(self, dim: int, keepdim: bool, argfn: Callable) -> Any:
        from chainrule.types import MinMax

        if self.ndim == 0:
            return MinMax(self, _wrap(xp.zeros((), dtype=xp.int64)))
        d = dim % self.ndim
        idx = xp.expand_dims(argfn(self._array, axis=d), d)
        values = apply(I.Gather, self, dim=d, index=idx)
        if not keepdim:
            values = values.squeeze(d)
            idx = xp.squeeze(idx, d)
        return MinMax(values, _wrap(idx.astype(xp.int64)))

    def argmax(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        if dim is None:
            return _wrap(xp.asarray(xp.argmax(self._array), dtype=xp.int64))
        return _wrap(xp.argmax(self._array, axis=dim, keepdims=keepdim).astype(xp.int64))

    def argmin(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        if dim is None:
            return _wrap(xp.asarray(xp.argmin(self._array), dtype=xp.int64))
        return _wrap(xp.argmin(self._array, axis=dim, keepdims=keepdim).astype(xp.int64))

    def argsort(self, dim: int = -1, descending: bool = False, *, stable: bool = False
                ) -> Tensor:
        # always stable (ties keep their order), which is what ``stable=True`` asks for
        idx = xp.argsort(-self._array if descending else self._array, axis=dim, kind="stable")
        return _wrap(idx.astype(xp.int64))

    def sort(self, dim: int = -1, descending: bool = False, *, stable: bool = False) -> Any:
        from chainrule.types import MinMax

        idx = self.argsort(dim, descending)._array
        return MinMax(apply(I.Gather, self, dim=dim % max(self.ndim, 1), index=idx), _wrap(idx))

    def topk(self, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> Any:
        from chainrule.types import MinMax

        idx = self.argsort(dim, descending=largest)._array
        idx = xp.take(idx, xp.arange(k), axis=dim)
        return MinMax(apply(I.Gather, self, dim=dim % max(self.ndim, 1), index=idx), _wrap(idx))

    def norm(self, p: Any = "fro", dim: Any = None, keepdim: bool = False) -> Tensor:
        """Vector p-norm (p = 2 / 'fro' by default, 1, inf, or any p > 0) over ``dim``."""
        if p in ("fro", 2, 2.0):
            return apply(R.Norm, self, dim=dim, keepdim=keepdim)
        if p == 1:
            return self.abs().sum(dim, keepdim)
        if p in (float("inf"), "inf"):
            return self.abs().amax(dim, keepdim)
        if p in (float("-inf"), "-inf"):
            return self.abs().amin(dim, keepdim)
        if p == 0:
            return (self != 0).to(self.dtype).sum(dim, keepdim)
        return (self.abs() ** p).sum(dim, keepdim) ** (1.0 / p)

    def all(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return _wrap(xp.asarray(xp.all(self._array, axis=dim, keepdims=keepdim)))

    def any(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return _wrap(xp.asarray(xp.any(self._array, axis=dim, keepdims=keepdim)))

    def count_nonzero(self, dim: Any = None) -> Tensor:
        return _wrap(xp.asarray(xp.count_nonzero(self._array, axis=dim), dtype=xp.int64))

    def nonzero(self, as_tuple: bool = False) -> Any:
        if self._array.ndim == 0:  # as PyTorch: (n, 0) indices, or a 1-d tensor as_tuple
            n = int(bool(self._array))
            return (_wrap(xp.zeros(n, xp.int64)),) if as_tuple else _wrap(xp.zeros((n, 0),
                                                                                   xp.int64))
        nz = xp.nonzero(self._array)
        if as_tuple:
            return tuple(_wrap(a.astype(xp.int64)) for a in nz)
        return _wrap(xp.stack(nz, axis=1).astype(xp.int64))

    def unique(self, sorted: bool = True, return_inverse: bool = False,
               return_counts: bool = False, dim: int | None = None) -> Any:
        """The distinct values (or, with ``dim``, the distinct slices along ``dim``), sorted
        (as PyTorch on the CPU, also with ``sorted=False``); optionally the index of each
        entry's value in them (``return_inverse``: the input's shape, or ``(size(dim),)``) and
        each value's count. Not differentiable (as in PyTorch)."""
        a = self._array
        axis = None if dim is None else R.normalize_dims(dim, a.ndim)[0]
        u, inverse, counts = xp.unique(a, return_inverse=True, return_counts=True, axis=axis)
        out = [_wrap(u)]
        if return_inverse:
            shape = a.shape if axis is None else (a.shape[axis],)
            out.append(_wrap(inverse.astype(xp.int64).reshape(shape)))
        if return_counts:
            out.append(_wrap(counts.astype(xp.int64)))
        return out[0] if len(out) == 1 else tuple(out)

    def bincount(self, weights: Any = None, minlength: int = 0) -> Tensor:
        """Counts of each non-negative integer value (weighted sums with ``weights``)."""
        from chainrule.histograms import bincount

        return bincount(self, weights=weights, minlength=minlength)

    def histogram(self, bins: Any, *, range: Any = None, weight: Any = None,
                  density: bool = False) -> Any:
        """``(hist, bin_edges)`` as ``torch.histogram`` (see ``chainrule.histograms``)."""
        from chainrule.histograms import histogram

        return histogram(self, bins, range=range, weight=weight, density=density)

    def histc(self, bins: int = 100, min: float = 0, max: float = 0) -> Tensor:
        """Equal-width histogram over [min, max] (the data's range when both are 0)."""
        from chainrule.histograms import histc

        return histc(self, bins, min, max)

    # ---- products --------------------------------------------------------------------------
    def __rshift__(self, o: Any) -> Tensor:
        return _wrap(self._array >> _data(o))

    def __lshift__(self, o: Any) -> Tensor:
        return _wrap(self._array << _data(o))


# ---- what is made from tables, and the torch.* functions (they need the class) ------------
from chainrule import _tensor_methods  # noqa: E402

_tensor_methods.install(Tensor)

from chainrule._functions import (  # noqa: E402  (re-exported: chainrule.tensor.cat ...)
    FUNCTIONS as FUNCTIONS,
)
from chainrule._functions import (  # noqa: E402
    _index_add_tensor,
    where,
)
from chainrule._functions import _method_function as _method_function  # noqa: E402
from chainrule._functions import cat as cat  # noqa: E402
from chainrule._functions import concat as concat  # noqa: E402
from chainrule._functions import concatenate as concatenate  # noqa: E402
from chainrule._functions import einsum as einsum  # noqa: E402
from chainrule._functions import stack as stack  # noqa: E402
from chainrule._functions import tensordot as tensordot  # noqa: E402

_engine.register_tensor_type(Tensor, _wrap)

# the Tensor functions ops may call in a Tensor-path derivative (autograd.function.TENSORS)
register_tensor_functions(Tensor, {
    **{name: getattr(Tensor, name) for name in ("exp", "log", "sin", "cos", "tanh", "sign")},
    "index_add": _index_add_tensor, "wrap": _wrap, "where": where,
}, _const)


_MOVED_TO_CREATION = frozenset(("tensor", "from_numpy", "randn"))


def __getattr__(name: str) -> Any:
    """The factories live in ``chainrule.creation`` (which imports this module); the names
    that code outside the core still imports from here resolve there on first use."""
    if name in _MOVED_TO_CREATION:
        from chainrule import creation

        return getattr(creation, name)
    raise AttributeError(f"module 'chainrule.tensor' has no attribute {name!r}")
