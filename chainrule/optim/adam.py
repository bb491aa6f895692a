"""Adam (Kingma & Ba 2015) with AMSGrad, coupled or decoupled weight decay, and AdamW."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule import _jit, backend
from chainrule.backend import axpy, xp
from chainrule.optim.optimizer import (
    Optimizer,
    check_betas,
    check_impl_flags,
    check_lr,
    check_nonneg,
    coefficients,
    live_scalar,
    to_scalar,
)

__all__ = ["Adam", "AdamW"]


@_jit.kernel(writes=(0, 2, 3))
def _adam_kernel(p: Any, g: Any, m: Any, v: Any, c1: Any, b2: Any, c2: Any, wd: Any,
                 decay: Any, eps: Any, step: Any) -> None:  # pragma: no cover - compiled
    """One pass of Adam over flat arrays (the NumPy path of ``Adam.update`` in one loop):
    θ ← θ·decay; g ← g + wd θ; m ← m + c1 (g − m); v ← b2 v + c2 g²;
    θ ← θ − step · m / (√v + eps)."""
    for i in range(p.size):
        pi = p[i] * decay
        gi = g[i]
        if wd != 0:
            gi += wd * pi
        mi = m[i] + c1 * (gi - m[i])
        vi = b2 * v[i] + c2 * gi * gi
        m[i] = mi
        v[i] = vi
        p[i] = pi - step * mi / (np.sqrt(vi) + eps)


class Adam(Optimizer):
    r"""Adam, equal to ``torch.optim.Adam`` (and to ``AdamW`` with decoupled decay).

    With g_t the gradient (negated if ``maximize``), γ = ``lr``, λ = ``weight_decay``::

        θ_{t-1} ← θ_{t-1}(1 − γλ)            if decoupled_weight_decay (AdamW)
        g_t ← g_t + λ θ_{t-1}                otherwise, if λ ≠ 0 (coupled L2)
        m_t = β₁ m_{t-1} + (1 − β₁) g_t
        v_t = β₂ v_{t-1} + (1 − β₂) g_t²
        v̂_t = max(v̂_{t-1}, v_t)              if amsgrad, else v̂_t = v_t
        θ_t = θ_{t-1} − γ (m_t / (1 − β₁ᵗ)) / (√(v̂_t / (1 − β₂ᵗ)) + ε)

    ``bias_correction=False`` drops both (1 − βᵗ) factors (the variant studied in the lab: the
    first steps are then shrunk towards zero by m₀ = v₀ = 0).

    ``l1 > 0`` adds a proximal L1 step in Adam's own diagonal metric (as in ProxGen, Yun et al.
    2021): θ_t ← sign(θ_t) max(|θ_t| − γ·l1 / (√(v̂_t/(1 − β₂ᵗ)) + ε), 0), which sets to exactly
    zero the coordinates whose gradient stays below l1 in magnitude.

    Example::

        opt = Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), amsgrad=True)
        opt.zero_grad(); loss.backward(); opt.step()
    """

    scalar_state = ("step",)  # (chainrule.compile: see Optimizer.scalar_state)

    def __init__(self, params: Any, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, amsgrad: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None,
                 decoupled_weight_decay: bool = False, bias_correction: bool = True,
                 l1: float = 0) -> None:
        check_lr(lr)
        check_nonneg("epsilon", eps)
        check_betas(betas)
        check_nonneg("weight_decay", weight_decay)
        check_nonneg("l1", l1)
        check_impl_flags(foreach, fused, differentiable)
        betas = tuple(to_scalar(b) for b in betas)
        defaults = dict(lr=to_scalar(lr), betas=betas, eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, maximize=maximize, foreach=foreach,
                        capturable=capturable, differentiable=differentiable, fused=fused,
                        decoupled_weight_decay=decoupled_weight_decay,
                        bias_correction=bias_correction, l1=l1)
        super().__init__(params, defaults)

    def init_state(self, p: Any, group: dict[str, Any]) -> dict[str, Any]:
        """step = 0, m = v = 0 (and v̂ = 0 with amsgrad)."""
        state = {"step": 0.0, "exp_avg": xp.zeros_like(p), "exp_avg_sq": xp.zeros_like(p)}
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = xp.zeros_like(p)
        return state

    def update(self, p: Any, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """One Adam step in place (equations in the class docstring)."""
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        wd = group["weight_decay"]
        step = state["step"]
        if isinstance(step, np.ndarray):  # capturable (chainrule.compile): stepped in place
            np.add(step, 1, out=step)
        else:
            state["step"] = step = float(step) + 1
        if not group["amsgrad"] and not group.get("l1", 0) and self._fused(p, g, state, group,
                                                                            step):
            return
        if wd != 0 and group["decoupled_weight_decay"]:
            # capturable: the factor from the live lr, rounded to p's dtype as the Python float
            # of the eager path is (so replay and eager agree bitwise)
            p *= ((1 - live_scalar(group, "lr") * wd).astype(p.dtype)
                  if isinstance(step, np.ndarray) else 1 - lr * wd)
        elif wd != 0:
            g = self.decayed(p, g, wd)
        m, v = state["exp_avg"], state["exp_avg_sq"]
        t = self.scratch(p, 0)
        if (not group["amsgrad"] and not group.get("l1", 0) and p.size >= 2 * _chunk(p)
                and all(a.flags.c_contiguous for a in (p, g, m, v))):
            self._chunked(p, g, m, v, t, step, group)
            return
        # m ← β₁ m + (1 − β₁) g (two passes without a temporary; torch's lerp form, m + (1 − β₁)
        # (g − m), needs a third and differs only in rounding)
        m *= beta1
        axpy(1 - beta1, g, m)
        # v ← β₂ v + (1 − β₂) g²
        v *= beta2
        xp.multiply(g, g, out=t)
        axpy(1 - beta2, t, v)
        if group["amsgrad"]:
            vmax = state["max_exp_avg_sq"]
            xp.maximum(vmax, v, out=vmax)
            v = vmax
        # θ ← θ − (γ√bc2/bc1) m / (√v + ε√bc2): the bias corrections folded into two scalars
        xp.sqrt(v, out=t)
        if isinstance(step, np.ndarray):  # capturable (chainrule.compile): 0-d scalars, the
            # lr read at run time (schedulers keep working)
            l1 = group.get("l1", 0)
            shift, scale, thr = _step_scalars(step, live_scalar(group, "lr"), group, p.dtype)
            t += shift
            if l1:
                threshold = self.scratch(p, 2)
                xp.divide(thr, t, out=threshold)
            xp.divide(m, t, out=t)
            axpy(scale, t, p)
            if l1:
                self.prox_l1_(p, threshold)
            return
        if group.get("bias_correction", True):
            bc1 = 1 - beta1**step
            bc2_sqrt = math.sqrt(1 - beta2**step)
        else:
            bc1 = bc2_sqrt = 1.0
        t += eps * bc2_sqrt
        l1 = group.get("l1", 0)
        if l1:
            threshold = self.scratch(p, 2)
            xp.divide(lr * l1 * bc2_sqrt, t, out=threshold)
        xp.divide(m, t, out=t)
        axpy(-lr * bc2_sqrt / bc1, t, p)
        if l1:
            self.prox_l1_(p, threshold)


    @staticmethod
    def _chunked(p: Any, g: Any, m: Any, v: Any, t: Any, step: Any,
                 group: dict[str, Any]) -> None:
        """The update below (without amsgrad and l1) run chunk by chunk over the flat arrays,
        each chunk through all its passes before the next (same values, element for element).

        # NOTE (speed): the update is nine NumPy/BLAS passes over five arrays; for the MLP's
        # 784x512 weight that is 8 MB, out of L2, so every pass streams from L3 or memory. A
        # chunk of ~256 kB per array stays in L2 across its nine passes (one core, 401k float32
        # alone: ~0.6 instead of ~0.8 ms; inside a replayed MLP step, under load, the gain was
        # within the noise). Chunks are whole multiples of BLAS's vector blocks, so axpy
        # treats each element as on the whole array.
        """
        (beta1, beta2), eps = group["betas"], group["eps"]
        if isinstance(step, np.ndarray):  # capturable (chainrule.compile), as in update
            shift, scale, _ = _step_scalars(step, live_scalar(group, "lr"), group, p.dtype)
        else:
            if group.get("bias_correction", True):
                bc1, bc2_sqrt = 1 - beta1**step, math.sqrt(1 - beta2**step)
            else:
                bc1 = bc2_sqrt = 1.0
            shift, scale = eps * bc2_sqrt, -group["lr"] * bc2_sqrt / bc1
        flat = [a.reshape(-1) for a in (p, g, m, v)]
        n, size = p.size, _chunk(p)
        # one chunk-sized temporary, reused by every chunk: it stays in cache (slicing the
        # scratch at the chunk's offset streamed a fresh block from memory each time)
        block = t.reshape(-1)[:size]
        ax = _blas_axpy(flat)
        for lo in range(0, n, size):
            pc, gc, mc, vc = (a[lo:lo + size] for a in flat)
            tc = block[:len(pc)]
            mc *= beta1
            ax(1 - beta1, gc, mc)
            vc *= beta2
            xp.multiply(gc, gc, out=tc)
            ax(1 - beta2, tc, vc)
            xp.sqrt(vc, out=tc)
            tc += shift
            xp.divide(mc, tc, out=tc)
            ax(scale, tc, pc)

    @staticmethod
    def _fused(p: Any, g: Any, state: dict[str, Any], group: dict[str, Any],
               step: Any) -> bool:
        """The update as one compiled pass (:mod:`chainrule._jit`); False when unavailable.
        A capturable step (a 0-d array: chainrule.compile) gets the kernel's scalars from one
        recorded call on the live step and lr, so a replay runs the kernel as eager does."""
        k = _adam_kernel.get()
        arrays = _jit.flat(p, g, state["exp_avg"], state["exp_avg_sq"]) if k else None
        if arrays is None:
            return False
        (beta1, beta2), eps = group["betas"], group["eps"]
        hyper = (beta1, beta2, eps, group["weight_decay"], group["decoupled_weight_decay"],
                 bool(group.get("bias_correction", True)))
        if isinstance(step, np.ndarray):
            scalars = coefficients(_kernel_scalars, p.dtype, step, live_scalar(group, "lr"),
                                   *hyper)
        else:
            f = p.dtype.type
            scalars = tuple(f(v) for v in _kernel_scalars(step, group["lr"], *hyper))
        _jit.run(k, arrays, *scalars)
        return True


def _kernel_scalars(step: float, lr: float, beta1: float, beta2: float, eps: float, wd: float,
                    decoupled: bool, bias_correction: bool) -> tuple[float, ...]:
    """The scalars of :func:`_adam_kernel` (Python floats): 1 − β₁, β₂, 1 − β₂, the coupled
    decay, the decoupled factor 1 − γλ, ε√bc2 and γ√bc2 / bc1."""
    if bias_correction:
        bc1, bc2_sqrt = 1 - beta1**step, math.sqrt(1 - beta2**step)
    else:
        bc1 = bc2_sqrt = 1.0
    return (1 - beta1, beta2, 1 - beta2, 0 if decoupled else wd, 1 - lr * wd if decoupled else 1,
            eps * bc2_sqrt, lr * bc2_sqrt / bc1)


# bytes per array of one chunk of :meth:`Adam._chunked` (a multiple of BLAS's vector blocks)
_CHUNK_BYTES = 256 << 10


def _blas_axpy(flat: list[Any]) -> Any:
    """``axpy(a, x, y)`` for the chunks of :meth:`Adam._chunked`'s flat arrays: the BLAS
    routine itself when they are plain, writeable, C-contiguous arrays of one float dtype
    (every chunk then passes :func:`chainrule.backend.axpy`'s checks, ~0.8 µs a call of ~30
    per MLP step), else ``backend.axpy`` (under chainrule.compile it records the call)."""
    if not all(a.__class__ is np.ndarray and a.flags.c_contiguous and a.flags.writeable
               and a.dtype == flat[0].dtype for a in flat):
        return axpy
    if backend._AXPY is None:
        backend._AXPY = backend._load_axpy()
    fn = backend._AXPY.get(flat[0].dtype)
    if fn is None:
        return axpy

    def blas(a: Any, x: Any, y: Any) -> None:
        fn(x, y, a=a)

    return blas


def _chunk(p: Any) -> int:
    """Elements per chunk of :meth:`Adam._chunked` for arrays of ``p``'s dtype."""
    return _CHUNK_BYTES // p.itemsize


def _step_scalars(step: Any, lr: Any, group: dict[str, Any], dtype: Any) -> tuple:
    """The scalars of one capturable Adam step, from the 0-d ``step`` and ``lr`` arrays:
    (ε√bc₂ in ``dtype``, −γ√bc₂/bc₁ as float64, γ·l1·√bc₂ in ``dtype``) with
    bc₁ = 1 − β₁ᵗ, √bc₂ = √(1 − β₂ᵗ) (both 1 without bias correction).

    # NOTE: computed with Python floats, as the eager path does: NumPy's ``power`` differs
    # from C's ``pow`` in the last bit for some t (0.999**7), and a replayed step must equal
    # the eager one bit for bit. Under chainrule.compile this is one recorded call (it was
    # eight: the bias corrections, three float64 products and two casts per parameter).
    """
    (beta1, beta2), eps = group["betas"], group["eps"]
    args = (step, lr, beta1, beta2, eps, float(group.get("l1", 0)),
            bool(group.get("bias_correction", True)), np.dtype(dtype))
    call = backend.traced_call
    return call(_step_floats, *args) if call else _step_floats(*args)


def _step_floats(step: Any, lr: Any, beta1: float, beta2: float, eps: float, l1: float,
                 on: bool, dtype: np.dtype) -> tuple:
    """:func:`_step_scalars` on plain arrays (the recorded call)."""
    t, lr = float(step), float(lr)
    bc1, bc2_sqrt = (1 - beta1**t, math.sqrt(1 - beta2**t)) if on else (1.0, 1.0)
    return (np.asarray(eps * bc2_sqrt, dtype=dtype), np.asarray(-lr * bc2_sqrt / bc1),
            np.asarray(lr * l1 * bc2_sqrt, dtype=dtype))


class AdamW(Adam):
    r"""Adam with decoupled weight decay (Loshchilov & Hutter 2019), equal to
    ``torch.optim.AdamW``::

        θ_{t-1} ← θ_{t-1} (1 − γλ)           (decay applied to θ, not added to the gradient)
        ... then the Adam update of the class :class:`Adam`.

    Unlike coupled L2, the decay is not rescaled by the adaptive denominator √v̂, so every
    weight shrinks by the same factor per step.

    Example::

        opt = AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    """

    def __init__(self, params: Any, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False, foreach: bool | None = None, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None,
                 bias_correction: bool = True, l1: float = 0) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach,
                         maximize=maximize, capturable=capturable,
                         differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True, bias_correction=bias_correction, l1=l1)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True
