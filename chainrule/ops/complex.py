"""Complex parts and views, with PyTorch's complex gradient convention.

For a real loss L of a complex z = x + iy, PyTorch's ``z.grad`` is ∂L/∂x + i ∂L/∂y
(twice the conjugate Wirtinger derivative ∂L/∂z̄). So a holomorphic f has
dz = g · conj(f'(z)), a C-linear map y = A z has dz = Aᴴ g, and a real input of a complex op
gets the real part of its complex gradient (the engine takes it).
"""

from __future__ import annotations

from typing import Any

from chainrule.autograd.engine import Function
from chainrule.backend import xp

# dtype instances, not scalar types: ``a.view(dtype)`` with a type is taken by chainrule.compile's
# tracer for a view as another array class, and would go unrecorded
_REAL_OF = {"complex64": xp.dtype(xp.float32), "complex128": xp.dtype(xp.float64)}
_COMPLEX_OF = {"float32": xp.dtype(xp.complex64), "float64": xp.dtype(xp.complex128)}


def conj(v: Any, F: Any) -> Any:
    """z̄ for a complex ``v`` (array, Tensor or Python/NumPy scalar), ``v`` itself otherwise:
    the conjugations of the complex chain rule cost one dtype test on real data."""
    if isinstance(v, complex):
        return v.conjugate()
    dt = getattr(v, "dtype", None)
    if dt is None or dt.kind != "c":
        return v
    # a Tensor (create_graph: recorded); an array or NumPy scalar (the array pass, constants)
    return F.apply(Conj, v) if hasattr(v, "_array") else xp.conj(v)


def make_complex(a: Any, b: Any) -> Any:
    """The complex array a + i b (broadcast) from its parts side by side, not as a + 1j*b,
    which would turn an infinite b into a NaN real part (inf·0). (NumPy calls only, no
    attribute writes: chainrule.compile records them.)"""
    shape = xp.broadcast_shapes(a.shape, b.shape)
    pairs = xp.stack([xp.broadcast_to(a, shape), xp.broadcast_to(b, shape)], -1)
    return pairs.view(_COMPLEX_OF[a.dtype.name]).reshape(shape)


class Real(Function):
    """out = Re z (z itself when real);  dz = g (a real gradient: the imaginary part of z does
    not reach the output)."""

    node_name = "RealBackward0"
    saves = ()

    def forward(self, x: Any) -> Any:
        return xp.real(x).copy()  # (a copy for a real x too: no unrecorded alias)

    def vjp(self, g: Any, F: Any) -> tuple:
        return (g,)


class Imag(Function):
    """out = Im z;  dz = i g (PyTorch's convention: ∂L/∂Re z + i ∂L/∂Im z)."""

    node_name = "ImagBackward0"
    saves = ()

    def forward(self, x: Any) -> Any:
        return xp.imag(x).copy()

    def vjp(self, g: Any, F: Any) -> tuple:
        return (g * xp.asarray(1j, dtype=_COMPLEX_OF.get(g.dtype.name, xp.complex128)),)


class Conj(Function):
    """out = z̄;  dz = ḡ (conjugation is its own adjoint in PyTorch's convention)."""

    node_name = "ConjBackward0"
    saves = ()

    def forward(self, x: Any) -> Any:
        return xp.conj(x)

    def vjp(self, g: Any, F: Any) -> tuple:
        return (F.apply(Conj, g),)


class Complex(Function):
    """out = a + i b for real a, b;  da = Re g, db = Im g."""

    node_name = "ComplexBackward0"
    saves = ()

    def forward(self, a: Any, b: Any) -> Any:
        return make_complex(a, b)

    def vjp(self, g: Any, F: Any) -> tuple:
        return (F.apply(Real, g) if self.needs[0] else None,
                F.apply(Imag, g) if self.needs[1] else None)


class ViewAsReal(Function):
    """out[..., 0] = Re z, out[..., 1] = Im z (a view when z is contiguous);
    dz = g[..., 0] + i g[..., 1] (``view_as_complex`` of g)."""

    node_name = "ViewAsRealBackward0"
    saves = ()

    def forward(self, x: Any) -> Any:
        real = _REAL_OF[x.dtype.name]
        if x.flags.c_contiguous:  # (through 1-d: a 0-d array cannot change its itemsize)
            return x.reshape(-1).view(real).reshape(x.shape + (2,))
        if x.strides[-1] == x.itemsize:  # (NumPy re-views a contiguous last axis)
            return x.view(real).reshape(x.shape + (2,))
        return xp.stack([x.real, x.imag], -1)  # (a copy: NumPy cannot view this layout)

    def vjp(self, g: Any, F: Any) -> tuple:
        return (F.apply(ViewAsComplex, g),)


class ViewAsComplex(Function):
    """out = x[..., 0] + i x[..., 1] (a view where the last dim of x has stride 1);
    dx = (Re g, Im g) stacked on a last dim (``view_as_real`` of g)."""

    node_name = "ViewAsComplexBackward0"
    saves = ()

    def forward(self, x: Any) -> Any:
        if x.strides[-1] == x.itemsize:
            return x.view(_COMPLEX_OF[x.dtype.name]).reshape(x.shape[:-1])
        # (a gradient: any layout; the user-facing function insists on stride 1)
        return make_complex(x[..., 0], x[..., 1])

    def vjp(self, g: Any, F: Any) -> tuple:
        return (F.apply(ViewAsReal, g),)


class Angle(Function):
    """out = arg z = atan2(Im z, Re z);  dz = g i z / |z|² (0 at z = 0, as PyTorch), from
    ∂θ/∂x = -y/|z|², ∂θ/∂y = x/|z|²."""

    node_name = "AngleBackward0"
    saves = ("x",)

    def forward(self, x: Any) -> Any:
        return xp.angle(x)

    def vjp(self, g: Any, F: Any) -> tuple:
        (z,) = F.inputs(self)
        sq = F.apply(Real, z * conj(z, F))  # |z|², differentiable
        zero = F.array(sq) == 0
        if zero.any():  # (|z|² = 1 there: the numerator z is 0, so is the gradient)
            sq = F.where(zero, 1.0, sq)
        return (g * (z * 1j) / sq,)
