"""Activation diagnostics: statistics, dead units, saturation, single-sign gradient rows.

All functions take arrays (or Tensors), so they serve a monitor's hooks and an experiment's own
code alike; :func:`record_activations` runs one forward pass with hooks and returns them per
layer.

Definitions:

* **dead unit** (ReLU family): a unit whose output is exactly zero (``|h| ≤ atol``, atol 0 by
  default) on *every* example seen in the window (an epoch, say). A unit is one index along
  ``unit_dim`` (features of an MLP, channels of a conv map), pooled over the batch and every
  other axis. LeakyReLU units are never exactly zero, so their dead fraction is ≈ 0.
* **saturation** (sigmoid/tanh family with asymptotes lo < hi): with u = (2h − lo − hi)/(hi − lo)
  ∈ [−1, 1], an entry is saturated when |u| > ``threshold``. At the default 0.95 the
  derivative there is under ~10 % of its maximum (σ' < 0.025 at σ > 0.975, tanh' < 0.098).
* **single-sign rows** (LeCun et al. 1998; Glorot & Bengio 2010): for a linear layer y = W x + b,
  one example's gradient is ∂L/∂W = δ xᵀ with δ = ∂L/∂y, so row i is δ_i x: when x ≥ 0
  elementwise (sigmoid/ReLU outputs, non-zero-centred), every entry of the row has the sign of
  δ_i and the unit's weights can only all rise or all fall together. The per-example fraction is
  the share of rows (i, n) with δ_ni ≠ 0 whose entries do not mix signs; it is ~100 % behind
  sigmoid and low behind tanh.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.diagnostics.finding import Finding
from chainrule.diagnostics.kinds import ASYMPTOTES, RECTIFIERS, infer_activation, layer_kind

__all__ = [
    "as_array", "activation_stats", "asymptotes", "saturation_fraction", "DeadUnitTracker",
    "dead_unit_fraction", "single_sign_fraction", "single_sign_rows", "one_signed_fraction",
    "dead_units_verdict", "saturation_verdict", "single_sign_verdict", "record_activations",
    "describe_output",
]

PERCENTILES = (15.0, 50.0, 85.0)


def as_array(h: Any) -> np.ndarray:
    """The array behind a Tensor (no copy), or ``np.asarray(h)``."""
    data = getattr(h, "_array", None)
    return data if isinstance(data, np.ndarray) else np.asarray(h)


def asymptotes(kind: str, module: Any = None) -> tuple[float, float] | None:
    """(lower, upper) asymptotes of a saturating activation (Hardtanh's from its module)."""
    if kind == "hardtanh" and module is not None:
        return (float(getattr(module, "min_val", -1.0)), float(getattr(module, "max_val", 1.0)))
    return ASYMPTOTES.get(kind)


def activation_stats(
    h: Any,
    *,
    bins: int = 30,
    value_range: tuple[float, float] | None = None,
    percentiles: Sequence[float] = PERCENTILES,
    max_samples: int | None = 8192,
) -> dict[str, Any]:
    """Mean, std, min, max, percentiles, zero fraction and a histogram of ``h``'s entries.

    The histogram spans ``value_range`` (an activation's asymptotes, say) or the data's range.
    Moments, extremes and the zero fraction use every entry; the percentiles and the histogram
    use an evenly strided sample of at most ``max_samples`` entries (a prime stride, so it does
    not alias with layer widths), which keeps a monitored step cheap.
    """
    a = as_array(h).ravel()  # a view when contiguous: no float64 copy of the batch
    if a.size == 0:
        return {"n": 0}
    ok = np.isfinite(a)
    finite = a if ok.all() else a[ok]
    if value_range is not None:
        lo, hi = value_range
    elif finite.size:
        lo, hi = float(finite.min()), float(finite.max())
    else:
        lo, hi = 0.0, 1.0
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    sample = finite
    if max_samples is not None and finite.size > max_samples:
        sample = finite[::_prime_at_least(-(-finite.size // max_samples))]
    counts, edges = np.histogram(sample, bins=bins, range=(lo, hi))
    pct = np.percentile(sample, percentiles) if sample.size else np.full(len(percentiles),
                                                                         np.nan)
    return {
        "n": int(a.size), "mean": float(a.mean(dtype=np.float64)),
        "std": float(a.std(dtype=np.float64)), "min": float(a.min()), "max": float(a.max()),
        "percentiles": {f"p{p:g}": float(v) for p, v in zip(percentiles, pct)},
        "zero_fraction": float(np.count_nonzero(a == 0) / a.size),
        "nonfinite_fraction": float(1.0 - finite.size / a.size),
        "hist_counts": counts, "hist_edges": edges, "hist_sample": int(sample.size),
    }


def _prime_at_least(n: int) -> int:
    """The smallest prime ≥ n (n is a small stride)."""
    n = max(2, n)
    while any(n % d == 0 for d in range(2, int(n ** 0.5) + 1)):
        n += 1
    return n


def saturation_fraction(h: Any, kind: str | tuple[float, float] = "sigmoid",
                        threshold: float = 0.95) -> float:
    """Share of entries with |u| > ``threshold``, u = (2h − lo − hi)/(hi − lo) (see module doc)."""
    lo_hi = kind if isinstance(kind, tuple) else asymptotes(kind)
    if lo_hi is None:
        raise ValueError(f"saturation_fraction: {kind!r} has no asymptotes; expected one of "
                         f"{sorted(ASYMPTOTES)} or a (lower, upper) pair")
    lo, hi = lo_hi
    a = as_array(h)
    if a.size == 0:
        return float("nan")
    # |u| > t  <=>  |2h − lo − hi| > t (hi − lo), evaluated in the array's dtype
    far = np.abs(2.0 * a - (lo + hi)) > threshold * (hi - lo)
    return float(np.count_nonzero(far) / a.size)


class DeadUnitTracker:
    """Accumulates, over many batches, which units have ever been non-zero.

    Example::

        t = DeadUnitTracker()
        for h in hidden_batches:        # arrays (N, units)
            t.update(h)
        t.dead_fraction                  # share of units zero on every example seen
    """

    def __init__(self, unit_dim: int = 1, atol: float = 0.0) -> None:
        self.unit_dim = unit_dim
        self.atol = atol
        self.alive: np.ndarray | None = None
        self.examples = 0

    def update(self, h: Any) -> None:
        """Mark the units that are non-zero somewhere in ``h``."""
        a = as_array(h)
        if a.ndim <= 1:
            a = a.reshape(1, -1)
        unit = self.unit_dim % a.ndim
        others = tuple(i for i in range(a.ndim) if i != unit)
        # reduce over the other axes in place of moving axes (which would copy the batch)
        fired = (a != 0) if self.atol == 0 else (np.abs(a) > self.atol)
        active = fired.any(axis=others)
        if self.alive is None or self.alive.shape != active.shape:
            self.alive = active
        else:
            np.logical_or(self.alive, active, out=self.alive)
        self.examples += a.shape[0]

    @property
    def dead_mask(self) -> np.ndarray:
        """True for units that were zero on every example seen."""
        return np.zeros(0, bool) if self.alive is None else ~self.alive

    @property
    def dead_fraction(self) -> float:
        return float("nan") if self.alive is None else float(np.mean(~self.alive))

    def reset(self) -> None:
        """Start a new window (an epoch)."""
        self.alive = None
        self.examples = 0


def dead_unit_fraction(hs: Any, unit_dim: int = 1, atol: float = 0.0) -> float:
    """Share of units zero on every example of ``hs`` (one array or a list of batches)."""
    t = DeadUnitTracker(unit_dim, atol)
    for h in (hs if isinstance(hs, (list, tuple)) else [hs]):
        t.update(h)
    return t.dead_fraction


def one_signed_fraction(x: Any) -> float:
    """Share of examples (rows of ``x`` flattened to (N, features)) whose entries share a sign."""
    a = as_array(x)
    a = a.reshape(-1, a.shape[-1]) if a.ndim > 1 else a.reshape(1, -1)
    return float(np.mean((a >= 0).all(axis=1) | (a <= 0).all(axis=1)))


def single_sign_fraction(x: Any, delta: Any) -> float:
    """Per-example share of rows of ∂L/∂W = δ xᵀ whose entries all share a sign.

    ``x`` is the layer's input (..., in) and ``delta`` = ∂L/∂y its output gradient (..., out);
    leading axes are examples (each position of a sequence counts as one). Rows with δ_ni = 0
    are all-zero and left out. Computed in O(N (in + out)) without forming δ xᵀ.
    """
    xa, da = as_array(x), as_array(delta)
    xs = xa.reshape(-1, xa.shape[-1])
    ds = da.reshape(-1, da.shape[-1])
    if xs.shape[0] != ds.shape[0]:
        raise ValueError(f"single_sign_fraction: input {xa.shape} and output gradient "
                         f"{da.shape} have different numbers of examples")
    signed = (xs >= 0).all(axis=1) | (xs <= 0).all(axis=1)
    rows = (ds != 0).sum(axis=1)
    total = rows.sum()
    return float("nan") if total == 0 else float((rows * signed).sum() / total)


def single_sign_rows(grad_w: Any) -> float:
    """Share of the non-zero rows of a (batch) weight gradient whose entries share a sign."""
    g = as_array(grad_w)
    g = g.reshape(g.shape[0], -1)
    nonzero = (g != 0).any(axis=1)
    if not nonzero.any():
        return float("nan")
    same = (g >= 0).all(axis=1) | (g <= 0).all(axis=1)
    return float(same[nonzero].mean())


def dead_units_verdict(layer: str, fraction: float, *, threshold: float = 0.1,
                       examples: int | None = None) -> Finding:
    """'dead units' when more than ``threshold`` of the layer's units never fired."""
    msg = f"{100 * fraction:.1f} % of units zero on every example"
    msg += f" ({examples} seen)" if examples is not None else ""
    bad = bool(fraction > threshold)
    return Finding("dead_units", "dead units" if bad else "healthy", not bad, msg, layer=layer,
                   values={"dead_fraction": fraction, "threshold": threshold,
                           "examples": examples})


def saturation_verdict(layer: str, fraction: float, *, threshold: float = 0.1,
                       kind: str = "") -> Finding:
    """'saturated' when more than ``threshold`` of the entries sit near the asymptotes."""
    bad = bool(fraction > threshold)
    msg = f"{100 * fraction:.1f} % of {kind or 'activation'} outputs near the asymptotes"
    return Finding("saturation", "saturated" if bad else "healthy", not bad, msg, layer=layer,
                   values={"saturation_fraction": fraction, "threshold": threshold,
                           "kind": kind})


def single_sign_verdict(layer: str, fraction: float, *, threshold: float = 0.5,
                        input_one_signed: float | None = None,
                        source: str | None = None) -> Finding:
    """'single-sign gradients' when more than ``threshold`` of the per-example rows of ∂L/∂W
    share one sign (the layer's input is not zero-centred).

    ``source`` is the kind of the module feeding the layer ('sigmoid', 'relu', 'input'...).
    Behind a rectifier the rows are one-signed too (ReLU is not zero-centred either, as the
    note says), but rectifiers do not saturate and such networks train well, so that case is
    reported as tolerated (ok) rather than as a problem.
    """
    high = bool(fraction > threshold)
    msg = f"{100 * fraction:.1f} % of per-example rows of ∂L/∂W have a single sign"
    if input_one_signed is not None:
        msg += f"; {100 * input_one_signed:.0f} % of its inputs are one-signed"
    if source is not None:
        msg += f" (input from: {source})"
    values = {"single_sign_fraction": fraction, "threshold": threshold,
              "input_one_signed": input_one_signed, "source": source}
    if high and source in RECTIFIERS:
        return Finding("single_sign", "tolerated (rectifier input)", True,
                       msg + "; rectifier outputs are not zero-centred but do not saturate",
                       layer=layer, values=values)
    return Finding("single_sign", "single-sign gradients" if high else "healthy", not high,
                   msg, layer=layer, values=values)


def record_activations(model: Any, *inputs: Any, bins: int = 30,
                       saturation_threshold: float = 0.95, unit_dim: int = 1) -> dict[str, dict]:
    """Run ``model(*inputs)`` once with forward hooks and return, per leaf module, its kind and
    :func:`activation_stats` (plus ``saturation`` for saturating kinds and ``dead_fraction`` for
    rectifiers). The graph is built as usual (call it under ``no_grad`` if not needed).

    Example::

        stats = record_activations(net, x)
        stats["act1"]["saturation"]
    """
    out: dict[str, dict] = {}
    handles = []

    def hook_for(name: str) -> Any:
        def hook(module: Any, args: tuple, output: Any) -> None:
            out[name] = describe_output(module, args, output, bins=bins,
                                        saturation_threshold=saturation_threshold,
                                        unit_dim=unit_dim)
        return hook

    for name, m in model.named_modules():
        if not m._modules:
            handles.append(m.register_forward_hook(hook_for(name or type(m).__name__)))
    try:
        model(*inputs)
    finally:
        for h in handles:
            h.remove()
    return out


def describe_output(module: Any, args: tuple, output: Any, *, bins: int = 30,
                    saturation_threshold: float = 0.95, unit_dim: int = 1,
                    kind: str | None = None) -> dict[str, Any]:
    """Kind and statistics of one module call's output (the monitor's per-layer record)."""
    h = as_array(output)
    if kind is None:
        kind = layer_kind(module)
        if kind == "other" and not getattr(module, "_parameters", None) and args:
            kind = infer_activation(as_array(args[0]), h)
    lo_hi = asymptotes(kind, module)
    rec: dict[str, Any] = {"kind": kind}
    rec.update(activation_stats(h, bins=bins, value_range=lo_hi))
    if lo_hi is not None:
        rec["saturation"] = saturation_fraction(h, lo_hi, saturation_threshold)
    if kind in RECTIFIERS:
        rec["dead_fraction"] = dead_unit_fraction(h, unit_dim)
    return rec
