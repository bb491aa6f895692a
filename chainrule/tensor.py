"""The Tensor: an array (the private slot ``_array``; ``.data`` is a detached Tensor over it, as
in PyTorch), its gradient (``.grad``) and the node that made it.

Operators and methods call the primitives of ``chainrule.ops`` through :func:`apply`, which runs
the forward on arrays and, when recording, links the result into the graph. Everything that is
not a primitive (``mean`` over dims, ``var``, ``softmax``...) is written here as a composite of
primitives, so its gradient comes from theirs.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from chainrule import random as _random
from chainrule.autograd import engine as _engine
from chainrule.autograd.engine import Function, _GradMode, run_backward
from chainrule.autograd.function import _saved_versions as _saved_versions  # re-exported
from chainrule.autograd.function import record as apply  # Function.apply's recorder
from chainrule.autograd.function import record_binary as _binary  # (x op y)
from chainrule.autograd.function import record_unary as _unary  # (x.exp() ...)
from chainrule.autograd.function import register_tensor_functions
from chainrule.autograd.inplace import (
    _mark_overwritten,
    _reads_self,
    _refresh_views,
    _register_view,
    _SavedOutput,
    _write_back,
)
from chainrule.backend import (
    asarray,
    bool_,
    default_dtype,
    float32,
    float64,
    int32,
    int64,
    is_floating,
    to_dtype,
    xp,
)
from chainrule.ops import elementwise as E
from chainrule.ops import index as I
from chainrule.ops import matmul as M
from chainrule.ops import reduce as R
from chainrule.ops import shape as S
from chainrule.types import Size

_new = object.__new__


class device:
    """A device name. Only ``"cpu"`` exists for now, so scripts calling ``.to(device)`` run."""

    __slots__ = ("type", "index")

    def __init__(self, type: str | device = "cpu", index: int | None = None) -> None:
        if isinstance(type, device):
            type, index = type.type, type.index
        name = str(type)
        if ":" in name:
            name, idx = name.split(":", 1)
            index = int(idx)
        if name != "cpu":
            raise RuntimeError(
                f"device {type!r} is not available: chainrule runs on 'cpu' only "
                "(chainrule.cuda.is_available() is False)"
            )
        self.type = name
        self.index = index

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            other = device(other)
        return isinstance(other, device) and other.type == self.type

    def __hash__(self) -> int:
        return hash(self.type)

    def __repr__(self) -> str:
        return f"device(type='{self.type}')"

    def __str__(self) -> str:
        return self.type


_CPU = device("cpu")
_Device = device  # (the methods' ``device=`` keyword shadows the class)


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
    if isinstance(o, (Tensor, int, float)):
        return o
    if isinstance(o, xp.ndarray):
        return o
    if isinstance(o, (list, tuple)):
        return asarray(o)
    raise TypeError(f"unsupported operand type for a Tensor operation: {type(o).__name__}")


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
    return k


class Tensor:
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

    def __init__(self, data: Any = (), dtype: Any = None, requires_grad: bool = False) -> None:
        if isinstance(data, Tensor):
            data = data._array
        arr = asarray(data, dtype if dtype is not None else None)
        if dtype is None and arr.dtype.kind in "iub" and not isinstance(data, xp.ndarray):
            arr = arr.astype(default_dtype())  # torch.Tensor(list) is a float tensor
        self._array = arr
        self.grad = self.grad_fn = self._base = self._hooks = None  # (as _wrap, unrecorded)
        self.requires_grad = False
        self._version = 0
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
        if self.requires_grad and not is_floating(value._array.dtype):
            raise RuntimeError(
                "data set to a tensor that requires gradients must be floating point or complex "
                f"dtype, got {value.dtype}"
            )
        self._array = value._array
        self._base = None  # no longer a view of its old base's storage

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
        return _CPU

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
        dtype = kwargs.get("dtype")
        copy = kwargs.get("copy", False)
        for a in list(args) + [kwargs.get("device")]:
            if a is None:
                continue
            if isinstance(a, Tensor):
                dtype = a.dtype
            elif isinstance(a, (str, device)):
                device(a)  # validates: only cpu
            else:
                dtype = a
        if dtype is None:
            return self.clone() if copy else self
        dtype = to_dtype(dtype)
        if dtype == self._array.dtype:
            return self.clone() if copy else self
        if self.requires_grad and is_floating(dtype) and _GradMode.enabled:
            return apply(E.Cast, self, dtype=dtype)
        return _wrap(self._array.astype(dtype))

    def type(self, dtype: Any = None) -> Any:
        if dtype is None:
            return f"chainrule.{self.dtype}"
        return self.to(dtype)

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
        body = xp.array2string(
            self._array, precision=4, separator=", ", prefix="tensor(", threshold=1000,
            suppress_small=False,
        )
        extras = []
        if self._array.dtype not in (float32, int64, bool_) or self._array.size == 0:
            extras.append(f"dtype=chainrule.{self._array.dtype}")
        if self.grad_fn is not None:
            extras.append(f"grad_fn=<{self.grad_fn.name()}>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        tail = "".join(", " + e for e in extras)
        return f"tensor({body}{tail})"

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
        Tensor.__init__(t, self._array.copy())
        t.requires_grad = self.requires_grad
        if self.grad is not None:
            t.grad = _wrap(self.grad._array.copy())
        memo[id(self)] = t
        return t

    # ---- autograd --------------------------------------------------------------------------
    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set ``requires_grad`` in place (only floating-point tensors can require grad)."""
        if requires_grad and not is_floating(self._array.dtype):
            raise RuntimeError(
                f"only Tensors of floating point dtype can require gradients, got {self.dtype}"
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
        return _unary(E.Clone, self)

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
            g = _wrap(_one(self._array))
        else:
            if not isinstance(gradient, Tensor):
                from chainrule.creation import tensor  # (creation imports this module)

                gradient = tensor(gradient, dtype=self.dtype)
            g = gradient
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
        self._check_inplace(cls.__name__.lower() + "_")
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
        if prev is not None and prev.save_out and prev.inputs is not None:
            _mark_overwritten(prev, self._array)
        self._write(res._array)
        fn = res.grad_fn
        self.grad_fn = fn
        self.requires_grad = True
        root = self._base if self._base is not None else self
        if fn is not None and fn.save_out:
            fn.out_ref = _SavedOutput(self._array, root, fn, root._version)
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

    def __neg__(self) -> Tensor:
        return _unary(E.Neg, self)

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
        return _wrap(xp.asarray(self._array < _data(_const(o))))

    def __le__(self, o: Any) -> Tensor:
        return _wrap(xp.asarray(self._array <= _data(_const(o))))

    def __gt__(self, o: Any) -> Tensor:
        return _wrap(xp.asarray(self._array > _data(_const(o))))

    def __ge__(self, o: Any) -> Tensor:
        return _wrap(xp.asarray(self._array >= _data(_const(o))))

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
        q = (self / o)._array
        q = xp.floor(q) if rounding_mode == "floor" else xp.trunc(q)
        return _wrap(q.astype(xp.result_type(self._array, _data(o))) if q.dtype.kind == "f" else q)

    def true_divide(self, o: Any) -> Tensor:
        return self / o

    def pow(self, o: Any) -> Tensor:
        return self**o

    def remainder(self, o: Any) -> Tensor:
        return self % o

    def fmod(self, o: Any) -> Tensor:
        return _wrap(xp.fmod(self._array, _data(o)))

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
        with _NoGradGuard():
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
        return _binary(E.Maximum, self, o)

    def minimum(self, o: Any) -> Tensor:
        return _binary(E.Minimum, self, o)

    def reciprocal(self) -> Tensor:
        return _unary(E.Reciprocal, self)

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
        return apply(R.Sum, self, dim=dim, keepdim=keepdim)

    def nansum(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return where(self.isnan(), 0.0, self).sum(dim, keepdim)

    def mean(self, dim: Any = None, keepdim: bool = False, dtype: Any = None) -> Tensor:
        if not is_floating(self._array.dtype) and dtype is None:
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
        """Σ (x - mean)² / (N - correction); ``unbiased=True`` means correction 1 (default)."""
        if correction is None:
            correction = 1 if unbiased is None or unbiased else 0
        axes = R.normalize_dims(dim, self.ndim) if self.ndim else ()
        n = 1
        for a in axes:
            n *= self.shape[a]
        mu = self.mean(axes, keepdim=True)
        d = self - mu
        return (d * d).sum(axes, keepdim=keepdim) / float(max(n - correction, 0))

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

    def argsort(self, dim: int = -1, descending: bool = False) -> Tensor:
        idx = xp.argsort(-self._array if descending else self._array, axis=dim, kind="stable")
        return _wrap(idx.astype(xp.int64))

    def sort(self, dim: int = -1, descending: bool = False) -> Any:
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
        nz = xp.nonzero(self._array)
        if as_tuple:
            return tuple(_wrap(a.astype(xp.int64)) for a in nz)
        return _wrap(xp.stack(nz, axis=1).astype(xp.int64))

    def unique(self, sorted: bool = True, return_counts: bool = False) -> Any:
        u = xp.unique(self._array, return_counts=return_counts)
        if return_counts:
            return _wrap(u[0]), _wrap(u[1].astype(xp.int64))
        return _wrap(u)

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

    # ---- shape -----------------------------------------------------------------------------
    def _view_of(self, out: Tensor) -> Tensor:
        """Mark ``out`` as sharing self's storage when NumPy made a view (shared versions)."""
        od, sd = out._array, self._array
        b = od.base
        if b is not None and (b is sd or b is sd.base or xp.may_share_memory(od, sd)):
            out._base = root = self._base if self._base is not None else self
            if out.grad_fn is not None:
                _register_view(root, out)
        return out

    def _alias(self) -> Tensor:
        """A new view of all of self (PyTorch's ``view`` to the same shape): a distinct Tensor,
        so a gradient taken with respect to it does not count self's other uses."""
        return self._view_of(apply(S.Reshape, self, shape=self._array.shape))

    def reshape(self, *shape: Any) -> Tensor:
        shape = _size_args(shape)
        return self._view_of(apply(S.Reshape, self, shape=shape))

    def view(self, *shape: Any) -> Tensor:
        if len(shape) == 1 and not isinstance(shape[0], (int, tuple, list)):
            return self.to(shape[0])  # view(dtype)
        shape = _size_args(shape)
        if not self._array.flags.c_contiguous and self._array.size > 1:
            try:
                xp.reshape(self._array, shape, copy=False)
            except (ValueError, TypeError):
                raise RuntimeError(
                    f"view size is not compatible with input tensor's size and stride (shape "
                    f"{self.shape}); use .reshape(...) instead."
                ) from None
        return self.reshape(shape)

    def view_as(self, other: Tensor) -> Tensor:
        return self.view(other.shape)

    def reshape_as(self, other: Tensor) -> Tensor:
        return self.reshape(other.shape)

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        if self.ndim == 0:
            return self.reshape(1)
        s = start_dim % self.ndim
        e = end_dim % self.ndim
        if s > e:
            raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
        if s == e:
            return self  # nothing to flatten: PyTorch returns the tensor itself
        shape = self.shape[:s] + (int(xp.prod(self.shape[s : e + 1])),) + self.shape[e + 1 :]
        return self.reshape(shape)

    def unflatten(self, dim: int, sizes: Sequence[int]) -> Tensor:
        d = dim % self.ndim
        sizes = list(sizes)
        if -1 in sizes:
            known = int(xp.prod([s for s in sizes if s != -1]))
            sizes[sizes.index(-1)] = self.shape[d] // known
        if int(xp.prod(sizes)) != self.shape[d]:
            raise RuntimeError(
                f"unflatten: sizes {tuple(sizes)} don't multiply up to the size of dim {d} "
                f"({self.shape[d]}) in input shape {self.shape}"
            )
        return self.reshape(self.shape[:d] + tuple(sizes) + self.shape[d + 1 :])

    def squeeze(self, dim: Any = None) -> Tensor:
        if dim is None:
            shape = tuple(s for s in self.shape if s != 1)
        else:
            dims = R.normalize_dims(dim, self.ndim) if self.ndim else ()
            shape = tuple(s for i, s in enumerate(self.shape) if not (i in dims and s == 1))
        return self.reshape(shape)

    def unsqueeze(self, dim: int) -> Tensor:
        n = self.ndim + 1
        if not -n <= dim < n:
            raise IndexError(
                f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got "
                f"{dim})"
            )
        d = dim % n
        return self.reshape(self.shape[:d] + (1,) + self.shape[d:])

    def permute(self, *dims: Any) -> Tensor:
        dims = _size_args(dims)
        n = self.ndim
        dims = tuple(d % n if n else d for d in dims)
        if dims == tuple(range(n)):
            return self._alias()
        return self._view_of(apply(S.Permute, self, dims=dims))

    def transpose(self, dim0: int, dim1: int) -> Tensor:
        n = self.ndim
        if n < 2 and dim0 in (0, -1) and dim1 in (0, -1):
            return self._alias()
        perm = list(range(n))
        d0, d1 = dim0 % n, dim1 % n
        perm[d0], perm[d1] = perm[d1], perm[d0]
        return self.permute(*perm)

    swapaxes = transpose
    swapdims = transpose

    def t(self) -> Tensor:
        if self.ndim > 2:
            raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is "
                               f"{self.ndim}D")
        return self.T

    def movedim(self, source: int, destination: int) -> Tensor:
        perm = list(range(self.ndim))
        s = perm.pop(source % self.ndim)
        perm.insert(destination % self.ndim, s)
        return self.permute(*perm)

    moveaxis = movedim

    def expand(self, *shape: Any) -> Tensor:
        shape = _size_args(shape)
        if -1 in shape:
            lead = len(shape) - self.ndim
            shape = tuple(self.shape[i - lead] if s == -1 else s for i, s in enumerate(shape))
        if shape == self._array.shape:
            return self._alias()  # writable, as no element is repeated
        return self._view_of(apply(S.Expand, self, shape=shape))

    def expand_as(self, other: Tensor) -> Tensor:
        return self.expand(other.shape)

    def broadcast_to(self, shape: Sequence[int]) -> Tensor:
        return self.expand(tuple(shape))

    def repeat(self, *reps: Any) -> Tensor:
        return apply(S.Repeat, self, reps=_size_args(reps))

    def repeat_interleave(self, repeats: int, dim: int | None = None) -> Tensor:
        if dim is None:
            return self.reshape(-1).repeat_interleave(repeats, 0)
        idx = xp.repeat(xp.arange(self.shape[dim]), repeats)
        return self.index_select(dim, idx)

    def tile(self, *reps: Any) -> Tensor:
        reps = _size_args(reps)
        reps = (1,) * (self.ndim - len(reps)) + reps
        return self.repeat(*reps)

    def flip(self, *dims: Any) -> Tensor:
        dims = _size_args(dims)
        return apply(S.Flip, self, dims=dims)

    def fliplr(self) -> Tensor:
        return self.flip(1)

    def flipud(self) -> Tensor:
        return self.flip(0)

    def roll(self, shifts: int | Sequence[int], dims: int | Sequence[int] | None = None
             ) -> Tensor:
        """Elements shifted cyclically by ``shifts`` along ``dims`` (a copy); with no ``dims``
        the tensor is flattened, rolled and given back its shape, as ``torch.roll``."""
        if dims is None:
            if not isinstance(shifts, int) and len(shifts) != 1:
                raise RuntimeError(f"roll: shifts {tuple(shifts)} need dims of the same length")
            k = shifts if isinstance(shifts, int) else shifts[0]
            return self.reshape(-1).roll(int(k), 0).reshape(self.shape)
        shifts_t = (shifts,) if isinstance(shifts, int) else tuple(shifts)
        dims_t = (dims,) if isinstance(dims, int) else tuple(dims)
        if len(shifts_t) != len(dims_t):
            raise RuntimeError(f"roll: shifts and dimensions must align. shifts: "
                               f"{len(shifts_t)}, dims: {len(dims_t)}")
        out = self
        for k, d in zip(shifts_t, dims_t):
            n = self.shape[d]
            s = int(k) % n if n else 0
            if s:
                out = cat([out.narrow(d, n - s, s), out.narrow(d, 0, n - s)], d)
        return out.clone() if out is self else out

    def pad(self, pad: Sequence[int], value: float = 0.0) -> Tensor:
        return apply(S.Pad, self, pad=tuple(int(p) for p in pad), value=value)

    def narrow(self, dim: int, start: int, length: int) -> Tensor:
        d = dim % self.ndim
        if start < 0:
            start += self.shape[d]
        if start < 0 or start + length > self.shape[d]:
            raise IndexError(
                f"narrow: start ({start}) + length ({length}) exceeds dimension size "
                f"({self.shape[d]}) of dim {d}"
            )
        key = (slice(None),) * d + (slice(start, start + length),)
        return self[key]

    def select(self, dim: int, index: int) -> Tensor:
        d = dim % self.ndim
        return self[(slice(None),) * d + (index,)]

    def unbind(self, dim: int = 0) -> tuple[Tensor, ...]:
        return tuple(self.select(dim, i) for i in range(self.shape[dim]))

    def split(self, split_size: Any, dim: int = 0) -> tuple[Tensor, ...]:
        n = self.shape[dim]
        if isinstance(split_size, int):
            sizes = [split_size] * (n // split_size) + ([n % split_size] if n % split_size else [])
        else:
            sizes = list(split_size)
            if sum(sizes) != n:
                raise RuntimeError(
                    f"split_with_sizes expects split_sizes to sum exactly to {n} (input shape "
                    f"{self.shape}, dim {dim}), but got split_sizes={sizes}"
                )
        out, start = [], 0
        for s in sizes:
            out.append(self.narrow(dim, start, s))
            start += s
        return tuple(out)

    def chunk(self, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
        n = self.shape[dim]
        size = -(-n // chunks)
        return self.split(size, dim)

    def tril(self, diagonal: int = 0) -> Tensor:
        return apply(S.Tri, self, k=diagonal, upper=False)

    def triu(self, diagonal: int = 0) -> Tensor:
        return apply(S.Tri, self, k=diagonal, upper=True)

    def diagonal(self, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
        n = min(self.shape[dim1], self.shape[dim2])
        i = xp.arange(n)
        if offset >= 0:
            r, c = i[: max(0, min(n, self.shape[dim2] - offset))], None
            c = r + offset
        else:
            c = i[: max(0, min(n, self.shape[dim1] + offset))]
            r = c - offset
        d1, d2 = dim1 % self.ndim, dim2 % self.ndim
        if d1 == d2:
            raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
        x = self.permute(*[d for d in range(self.ndim) if d not in (d1, d2)], d1, d2) \
            if (d1, d2) != (self.ndim - 2, self.ndim - 1) else self
        return x[..., r, c]

    def trace(self) -> Tensor:
        return self.diagonal().sum()

    def masked_fill(self, mask: Any, value: Any) -> Tensor:
        m = _data(mask)
        if m.dtype != bool:
            raise RuntimeError(f"masked_fill only supports boolean masks, but got mask with dtype "
                               f"{m.dtype}")
        v = value if isinstance(value, Tensor) else float(value) if is_floating(self.dtype) \
            else value
        return where(mask, v, self)

    def masked_select(self, mask: Any) -> Tensor:
        m = xp.broadcast_to(_data(mask), self.shape)
        return self[m]

    def gather(self, dim: int, index: Any) -> Tensor:
        return apply(I.Gather, self, dim=dim, index=_data(index))

    def scatter_add(self, dim: int, index: Any, src: Any) -> Tensor:
        return apply(I.ScatterAdd, self, _const(src), dim=dim, index=_data(index))

    def scatter(self, dim: int, index: Any, src: Any = None, value: Any = None) -> Tensor:
        if src is None:
            src = value
        return apply(I.Scatter, self, _const(src), dim=dim, index=_data(index))

    def scatter_add_(self, dim: int, index: Any, src: Any) -> Tensor:
        return self._inplace(I.ScatterAdd, _const(src), dim=dim, index=_data(index))

    def scatter_(self, dim: int, index: Any, src: Any = None, value: Any = None) -> Tensor:
        return self._inplace(I.Scatter, _const(src if src is not None else value), dim=dim,
                             index=_data(index))

    def index_select(self, dim: int, index: Any) -> Tensor:
        idx = xp.asarray(_data(index))
        if idx.ndim != 1:
            raise IndexError(f"index_select(): Index is supposed to be a vector, got shape "
                             f"{idx.shape}")
        d = dim % self.ndim
        I.check_index("index_select", idx, d, self.shape[d])
        return self[(slice(None),) * d + (idx,)]

    def take(self, index: Any) -> Tensor:
        return self.reshape(-1)[_data(index)]

    def take_along_dim(self, indices: Any, dim: int | None = None) -> Tensor:
        """``gather`` after broadcasting self and ``indices`` in every dim but ``dim``; with no
        ``dim`` both are flattened (``torch.take_along_dim``)."""
        idx = xp.asarray(_data(indices))
        if dim is None:
            return self.reshape(-1).gather(0, idx.reshape(-1))
        if idx.ndim != self.ndim:
            raise RuntimeError(
                f"torch.take_along_dim(): input and indices should have the same number of "
                f"dimensions, but input.dim() = {self.ndim} and indices.dim() = {idx.ndim}")
        if idx.dtype.kind not in "iu":
            raise RuntimeError(f"torch.take_along_dim(): dtype of indices should be int64 but "
                               f"got {idx.dtype}")
        d = dim % self.ndim
        x_shape, i_shape = list(self.shape), list(idx.shape)
        x_shape[d] = i_shape[d] = 1
        common = list(xp.broadcast_shapes(tuple(x_shape), tuple(i_shape)))
        x = self.expand(tuple(common[:d] + [self.shape[d]] + common[d + 1:]))
        i = xp.broadcast_to(idx, tuple(common[:d] + [idx.shape[d]] + common[d + 1:]))
        return x.gather(d, i)

    def _index_add_args(self, dim: int, index: Any, source: Any, alpha: Any) -> tuple:
        """The dim, full-shape index and scaled source of ``index_add`` (checked as PyTorch)."""
        idx = xp.asarray(_data(index))
        if idx.ndim > 1:
            raise IndexError(f"index_add_(): Index is supposed to be a vector, got shape "
                             f"{tuple(idx.shape)}")
        idx = idx.reshape(-1)
        if idx.dtype.kind not in "iu":
            raise IndexError(f"index_add_(): Expected dtype int32/int64 for index, got "
                             f"{idx.dtype}")
        src = source if isinstance(source, Tensor) else _wrap(xp.asarray(source, self.dtype))
        d = dim % max(self.ndim, 1)
        src_len = src.shape[d] if src.ndim else 1
        if idx.size != src_len:
            raise IndexError(f"index_add_(): Number of indices ({idx.size}) should be equal to "
                             f"source.size(dim) ({src_len})")
        if src.ndim and src.shape[:d] + src.shape[d + 1:] != self.shape[:d] + self.shape[d + 1:]:
            raise RuntimeError(f"index_add_(): source {tuple(src.shape)} and self "
                               f"{tuple(self.shape)} must match in every dim but {d}")
        I.check_index("index_add", idx, d, self.shape[d] if self.ndim else 1)
        view = [1] * src.ndim
        if src.ndim:
            view[d] = idx.size
        full = xp.broadcast_to(idx.reshape(view), src.shape).astype(xp.int64)
        if alpha != 1:
            src = src * alpha
        return d, full, src

    def index_add(self, dim: int, index: Any, source: Any, *, alpha: Any = 1) -> Tensor:
        """``self`` with ``alpha * source[..., i, ...]`` added at ``index[i]`` along ``dim``
        (repeated indices accumulate)."""
        d, full, src = self._index_add_args(dim, index, source, alpha)
        return self.scatter_add(d, full, src)

    def index_add_(self, dim: int, index: Any, source: Any, *, alpha: Any = 1) -> Tensor:
        """In-place ``index_add``."""
        d, full, src = self._index_add_args(dim, index, source, alpha)
        return self.scatter_add_(d, full, src)

    def __getitem__(self, key: Any) -> Tensor:
        key = _key(key)
        out = apply(I.GetItem, self, key=key)
        if I.is_basic(key):
            out._base = root = self._base if self._base is not None else self
            if out.grad_fn is not None:
                _register_view(root, out)
        return out

    def __setitem__(self, key: Any, value: Any) -> None:
        key = _key(key)
        if _GradMode.enabled and (
            self.requires_grad or (isinstance(value, Tensor) and value.requires_grad)
        ):
            self._check_inplace("setitem")
            if not self._array.flags.writeable:
                self._write(self._array)  # raises the read-only error
            self._commit(apply(I.SetItem, self._snapshot(False), _const(value), key=key,
                               inplace=True))
            return
        if not self._array.flags.writeable:
            self._write(self._array)
        try:
            self._array[key] = _data(value)
        except IndexError:
            I.check_bounds(self.shape, key)
            raise
        self._bump_version()

    # ---- products --------------------------------------------------------------------------
    def __rshift__(self, o: Any) -> Tensor:
        return _wrap(self._array >> _data(o))

    def __lshift__(self, o: Any) -> Tensor:
        return _wrap(self._array << _data(o))

    # ---- added for PyTorch programs (h-gaps) -----------------------------------------------
    def diag(self, diagonal: int = 0) -> Tensor:
        """A 1-D input becomes the matrix with it on diagonal ``diagonal``; a 2-D input gives
        that diagonal as a vector (PyTorch's two-way ``diag``)."""
        if self.ndim == 1:
            return self.diag_embed(diagonal)
        if self.ndim == 2:
            return self.diagonal(diagonal)
        raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {self.ndim}D")

    def diag_embed(self, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
        """out[..., i, i + offset] = self[..., i] (zeros elsewhere), the new square plane at
        (dim1, dim2) of the result; dself = g's diagonal."""
        nd = self.ndim + 1
        d1, d2 = dim1 % nd, dim2 % nd
        if d1 == d2:
            raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
        n = self.shape[-1] if self.ndim else 1
        m = n + abs(offset)
        i = xp.arange(n)
        r, c = (i, i + offset) if offset >= 0 else (i - offset, i)
        zeros = _wrap(xp.zeros(tuple(self.shape[:-1]) + (m, m), dtype=self.dtype))
        out = apply(I.SetItem, zeros, self, key=(Ellipsis, r, c))
        if (d1, d2) == (nd - 2, nd - 1):
            return out
        rest = iter(range(nd - 2))
        perm = [nd - 2 if p == d1 else nd - 1 if p == d2 else next(rest) for p in range(nd)]
        return out.permute(*perm)

    def fill_diagonal_(self, fill_value: Any, wrap: bool = False) -> Tensor:
        """Write ``fill_value`` on the main diagonal in place; a tall 2-D matrix with ``wrap``
        restarts the diagonal every ``cols + 1`` rows (flat stride cols + 1, as PyTorch)."""
        if self.ndim < 2:
            raise RuntimeError("dimensions must larger than 1")
        if self.ndim > 2 and len(set(self.shape)) != 1:
            raise RuntimeError("all dimensions of input must be of equal length")
        rows, cols = self.shape[0], self.shape[1]
        if self.ndim == 2 and wrap and rows > cols + 1:
            p = xp.arange(0, rows * cols, cols + 1)
            key: Any = (p // cols, p % cols)
        else:
            i = xp.arange(min(rows, cols))
            key = (i,) * self.ndim
        self[key] = fill_value
        return self

    def unfold(self, dimension: int, size: int, step: int) -> Tensor:
        """All windows of length ``size`` with stride ``step`` along ``dimension``: that dim
        becomes the window index and the window is a new last dim (a strided view, read-only
        here since windows overlap)."""
        return self._view_of(apply(S.Unfold, self, dim=dimension, size=size, step=step))

    def index_put_(self, indices: Any, values: Any, accumulate: bool = False) -> Tensor:
        """self[indices] = values in place; with ``accumulate`` the values are added, repeated
        indices adding up (``xp.add.at``). Differentiable in self and values."""
        key = tuple(_data(i) for i in indices)
        if not accumulate:
            self[key] = values
            return self
        arr = self.numpy(force=True)  # (the storage, shared)
        target = arr[key].shape
        v = _const(values)
        if _GradMode.enabled and (self.requires_grad or getattr(v, "requires_grad", False)):
            self._check_inplace("index_put_")
            if isinstance(v, Tensor):
                v = v.to(self.dtype) if v.dtype != self.dtype else v
                v = v.expand(target) if v.shape != target else v
            else:
                v = _wrap(xp.broadcast_to(xp.asarray(v, dtype=self.dtype), target).copy())
            return self._commit(self._snapshot(False) + _index_add_tensor(v, self.shape, key))
        if not arr.flags.writeable:
            self._write(arr)  # raises the read-only error
        xp.add.at(arr, key, xp.broadcast_to(xp.asarray(_data(v), dtype=self.dtype), target))
        self._bump_version()
        return self

    def index_put(self, indices: Any, values: Any, accumulate: bool = False) -> Tensor:
        return self.clone().index_put_(indices, values, accumulate)


def _operator_pair(cls: type[Function]) -> tuple[Callable, Callable]:
    """``x op o`` (the flat ``_binary`` path) and the reflected ``o op x`` for Python numbers
    and arrays on the left."""

    def forward(self: Tensor, o: Any) -> Tensor:
        return _binary(cls, self, o)

    def reflected(self: Tensor, o: Any) -> Tensor:
        return apply(cls, _const(o), self)

    return forward, reflected


# x + o, o + x, ... : one derivative-carrying op each (``ops.elementwise``)
for _name, _cls in (("add", E.Add), ("sub", E.Sub), ("mul", E.Mul), ("truediv", E.Div),
                    ("mod", E.Remainder)):
    _fwd, _ref = _operator_pair(_cls)
    _fwd.__name__, _ref.__name__ = f"__{_name}__", f"__r{_name}__"
    setattr(Tensor, _fwd.__name__, _fwd)
    setattr(Tensor, _ref.__name__, _ref)
del _name, _cls, _fwd, _ref


def _cast_to(dtype: Any) -> Callable:
    def method(self: Tensor) -> Tensor:
        return self.to(dtype)

    return method


# x.float(), x.long(), ...: PyTorch's dtype shortcuts
for _name, _dtype in (("float", float32), ("double", float64), ("long", int64), ("int", int32),
                      ("bool", bool_), ("half", xp.dtype(xp.float16))):
    _method = _cast_to(_dtype)
    _method.__name__ = _name
    setattr(Tensor, _name, _method)
del _name, _dtype, _method


def _unary_method(cls: type[Function]) -> Callable:
    def method(self: Tensor) -> Tensor:
        return _unary(cls, self)

    return method


# x.exp(), x.tanh(), ...: one op each, through the flat one-input recorder
for _name, _cls in (("exp", E.Exp), ("log", E.Log), ("log1p", E.Log1p), ("expm1", E.Expm1),
                    ("sqrt", E.Sqrt), ("rsqrt", E.Rsqrt), ("abs", E.Abs), ("sin", E.Sin),
                    ("cos", E.Cos), ("tanh", E.Tanh), ("sigmoid", E.Sigmoid), ("relu", E.Relu)):
    _method = _unary_method(_cls)
    _method.__name__ = _name
    _method.__doc__ = (_cls.__doc__ or "").split(";")[0].strip()
    setattr(Tensor, _name, _method)
Tensor.absolute = Tensor.abs  # type: ignore[attr-defined]
del _name, _cls, _method


def _inplace_unary(cls: type[Function]) -> Callable:
    def method(self: Tensor) -> Tensor:
        return self._inplace(cls)

    return method


# x.exp_(), x.relu_(), ...: the op applied in place (see ``Tensor._inplace``)
for _name, _cls in (("neg_", E.Neg), ("exp_", E.Exp), ("sqrt_", E.Sqrt), ("abs_", E.Abs),
                    ("relu_", E.Relu), ("sigmoid_", E.Sigmoid), ("tanh_", E.Tanh),
                    ("log_", E.Log), ("log1p_", E.Log1p), ("expm1_", E.Expm1), ("sin_", E.Sin),
                    ("cos_", E.Cos), ("rsqrt_", E.Rsqrt), ("reciprocal_", E.Reciprocal)):
    _method = _inplace_unary(_cls)
    _method.__name__ = _name
    setattr(Tensor, _name, _method)
del _name, _cls, _method


def _inplace_step(fn: str) -> Callable:
    def method(self: Tensor) -> Tensor:
        return self._inplace(E.ZeroGrad, fn=fn)

    return method


# x.sign_(), x.floor_(), ...: the piecewise-constant maps (zero gradient) in place
for _name in ("sign", "floor", "ceil", "trunc"):
    _method = _inplace_step(_name)
    _method.__name__ = _name + "_"
    setattr(Tensor, _name + "_", _method)
del _name, _method

_engine.register_tensor_type(Tensor, _wrap)


def _index_add_tensor(g: Tensor, shape: tuple[int, ...], key: Any) -> Tensor:
    """zeros(shape) with g added at ``key`` (repeats accumulate), recorded (F.index_add)."""
    return apply(I.IndexAdd, g, shape=tuple(shape), key=key)




_ONES: dict[Any, xp.ndarray] = {}


def _one(like: xp.ndarray) -> xp.ndarray:
    """A read-only array of ones shaped like the scalar ``like`` (the implicit gradient of
    ``backward()``), cached per shape and dtype: it is made once, not at every step."""
    key = (like.shape, like.dtype)
    one = _ONES.get(key)
    if one is None:
        one = xp.ones(like.shape, dtype=like.dtype)
        one.flags.writeable = False
        _ONES[key] = one
    return one


class _NoGradGuard:
    def __enter__(self) -> None:
        self.prev = _GradMode.enabled
        _GradMode.enabled = False

    def __exit__(self, *exc: object) -> None:
        _GradMode.enabled = self.prev


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Concatenate along an existing dimension."""
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("cat(): expected a non-empty list of Tensors")
    return apply(S.Cat, *tensors, dim=dim)


concat = cat
concatenate = cat


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Stack along a new dimension."""
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    shape = tensors[0].shape
    for k, t in enumerate(tensors):
        if t.shape != shape:
            raise RuntimeError(
                f"stack expects each tensor to be equal size, but got {shape} at entry 0 and "
                f"{t.shape} at entry {k}"
            )
    return cat([t.unsqueeze(dim) for t in tensors], dim)


def where(cond: Any, x: Any = None, y: Any = None) -> Any:
    """``cond ? x : y`` elementwise (with gradients to x and y); ``where(cond)`` = nonzero."""
    if x is None and y is None:
        return _wrap(_data(cond)).nonzero(as_tuple=True)
    c = _data(cond)
    if isinstance(c, xp.ndarray) and c.dtype != bool:
        c = c.astype(bool)  # (a converted copy: later changes to ``cond`` cannot reach it)
    elif isinstance(cond, Tensor):
        c = cond  # recorded as the Tensor, so that Where's version check sees it
    return apply(E.Where, c, _const(x), _const(y))


def einsum(equation: str, *operands: Any) -> Tensor:
    """Einstein summation, e.g. ``einsum("bij,bjk->bik", a, b)`` (no ellipsis, no diagonals)."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    return apply(M.Einsum, *operands, equation=equation)


def tensordot(a: Tensor, b: Tensor, dims: int = 2) -> Tensor:
    letters = "abcdefghijklmnopqrstuvwxyz"
    na, nb = a.ndim, b.ndim
    sa = letters[:na]
    sb = sa[na - dims :] + letters[na : na + nb - dims]
    return einsum(f"{sa},{sb}->{sa[: na - dims]}{sb[dims:]}", a, b)


def _method_function(name: str) -> Callable:
    def fn(input: Tensor, *args: Any, **kwargs: Any) -> Any:
        return getattr(input, name)(*args, **kwargs)

    fn.__name__ = name
    fn.__doc__ = getattr(Tensor, name).__doc__
    return fn


FUNCTIONS = [
    "exp", "log", "log2", "log10", "log1p", "expm1", "sqrt", "rsqrt", "square", "abs", "sign",
    "sin", "cos", "tan", "tanh", "sigmoid", "relu", "clamp", "clip", "maximum", "minimum",
    "reciprocal", "floor", "ceil", "round", "trunc", "frac", "isnan", "isinf", "isfinite",
    "nan_to_num", "sum", "nansum", "mean", "var", "std", "var_mean", "prod", "cumsum", "cumprod",
    "logsumexp", "amax", "amin", "max", "min", "argmax", "argmin", "argsort", "sort", "topk",
    "norm", "all", "any", "count_nonzero", "nonzero", "unique", "bincount", "reshape", "flatten",
    "unflatten", "squeeze", "unsqueeze", "permute", "transpose", "t", "movedim", "swapaxes",
    "expand_as", "repeat_interleave", "tile", "flip", "fliplr", "flipud", "roll", "narrow",
    "select", "unbind", "split", "chunk", "tril", "triu", "diagonal", "trace", "masked_fill",
    "masked_select", "gather", "take_along_dim", "index_add", "scatter", "scatter_add",
    "index_select", "take", "matmul", "mm",
    "bmm", "mv", "dot", "outer", "add", "sub", "mul", "div", "true_divide", "pow", "remainder",
    "fmod", "neg", "softmax", "log_softmax", "allclose", "isclose", "equal", "logical_not",
    "logical_and", "logical_or", "lerp", "eq", "ne", "lt", "le", "gt", "ge", "numel", "clone",
    "detach", "sum_to",
    "diag", "diag_embed", "index_put",  # (h-gaps)
]


_NUMPY_SPELLINGS = {"axis": "dim", "keepdims": "keepdim"}


def _torch_kwargs(name: str, kw: dict[str, Any]) -> dict[str, Any]:
    """``kw`` with NumPy's ``axis=``/``keepdims=`` renamed to ``dim=``/``keepdim=`` (PyTorch's
    argument parser accepts both spellings wherever a function takes ``dim``/``keepdim``)."""
    out = {}
    for k, v in kw.items():
        torch_name = _NUMPY_SPELLINGS.get(k, k)
        if torch_name in out or (torch_name != k and torch_name in kw):
            raise TypeError(f"{name}() got both {torch_name}= and its NumPy spelling {k}=")
        out[torch_name] = v
    return out


def _accept_numpy_spellings(f: Callable) -> Callable:
    """Wrap ``f`` (which takes ``dim``/``keepdim``) so ``axis=``/``keepdims=`` work too."""
    name = f.__name__

    def g(*args: Any, **kw: Any) -> Any:
        if kw and ("axis" in kw or "keepdims" in kw):
            kw = _torch_kwargs(name, kw)
        return f(*args, **kw)

    g.__name__, g.__qualname__, g.__doc__, g.__wrapped__ = name, f.__qualname__, f.__doc__, f
    return g


def _takes_dim(f: Any) -> bool:
    code = getattr(f, "__code__", None)
    if code is None:
        return False
    names = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
    return "dim" in names or "keepdim" in names


for _name, _f in list(vars(Tensor).items()):
    if _takes_dim(_f):
        setattr(Tensor, _name, _accept_numpy_spellings(_f))
cat = concat = concatenate = _accept_numpy_spellings(cat)
stack = _accept_numpy_spellings(stack)
del _name, _f


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
