"""Normalization diagnostics: BatchNorm running-statistics drift and train/eval mode mistakes.

The note: BN standardises each batch in training and keeps mean and variance for test time.
Two things go wrong in practice, and both are checked here:

* **drift**: the running statistics used at test time differ from the statistics of the data
  the layer actually receives. Per channel c, with batch mean/variance m_c, v_c (biased) and
  running ones μ_c, σ²_c:

      mean drift  = mean_c |m_c − μ_c| / √(σ²_c + eps)        (in running standard deviations)
      var drift   = mean_c |log((v_c + eps) / (σ²_c + eps))|    (0 when equal; log 2 ≈ 0.69
                                                                  when off by a factor 2)

  'bn drift' when mean drift > ``mean_threshold`` (0.5) or var drift > ``var_threshold`` (0.7).
  Sampling noise alone gives a mean drift ≈ √(2/(π N)) for a batch of N, ~0.14 at N = 32.
* **modes**: a model evaluated in training mode (a forward under ``no_grad`` while a BN or
  dropout module is in training mode), trained in eval mode (gradients flow to the parameters
  after a forward in which a BN or dropout module was in eval mode), and batch size 1 reaching a
  BN layer in training (its batch variance is 0 per channel for dense inputs).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from chainrule.autograd.engine import is_grad_enabled, no_grad
from chainrule.diagnostics.activations import as_array
from chainrule.diagnostics.finding import Finding, is_paused
from chainrule.diagnostics.kinds import is_batchnorm, is_dropout

__all__ = [
    "batchnorm_drift", "bn_drift_verdict", "measure_bn_drift", "ModeGuard", "eval_mode",
    "batchnorm_modules",
]


def batchnorm_modules(model: Any) -> list[tuple[str, Any]]:
    """(name, module) of every BatchNorm-like module that keeps running statistics."""
    return [(n or type(m).__name__, m) for n, m in model.named_modules()
            if is_batchnorm(m) and getattr(m, "_buffers", {}).get("running_mean") is not None]


def batchnorm_drift(x: Any, running_mean: Any, running_var: Any, eps: float = 1e-5,
                    channel_dim: int = 1) -> dict[str, float]:
    """Drift between a batch's per-channel statistics and the running ones (see module doc).

    ``x`` is the BN layer's input, channels along ``channel_dim`` ((N, C) or (N, C, ...)).
    Returns mean_drift, var_drift and their maxima over channels.
    """
    a = as_array(x).astype(np.float64, copy=False)
    if a.ndim == 1:
        a = a.reshape(1, -1)
    axes = tuple(i for i in range(a.ndim) if i != channel_dim % a.ndim)
    mu_r = as_array(running_mean).astype(np.float64, copy=False)
    var_r = as_array(running_var).astype(np.float64, copy=False)
    if a.shape[channel_dim] != mu_r.shape[0]:
        raise ValueError(f"batchnorm_drift: input of shape {a.shape} has "
                         f"{a.shape[channel_dim]} channels but the running statistics have "
                         f"{mu_r.shape[0]}")
    m = a.mean(axis=axes)
    v = a.var(axis=axes)
    md = np.abs(m - mu_r) / np.sqrt(var_r + eps)
    vd = np.abs(np.log((v + eps) / (var_r + eps)))
    return {"mean_drift": float(md.mean()), "var_drift": float(vd.mean()),
            "max_mean_drift": float(md.max()), "max_var_drift": float(vd.max()),
            "batch": int(a.shape[0])}


def bn_drift_verdict(layer: str, drift: dict[str, float], *, mean_threshold: float = 0.5,
                     var_threshold: float = 0.7) -> Finding:
    """'bn drift' when the running statistics are far from the batch's."""
    bad = drift["mean_drift"] > mean_threshold or drift["var_drift"] > var_threshold
    msg = (f"running vs batch statistics: mean off by {drift['mean_drift']:.3g} σ, "
           f"|log var ratio| {drift['var_drift']:.3g}")
    return Finding("bn_drift", "bn drift" if bad else "healthy", not bad, msg, layer=layer,
                   values={**drift, "mean_threshold": mean_threshold,
                           "var_threshold": var_threshold})


@contextmanager
def eval_mode(model: Any) -> Iterator[Any]:
    """Put ``model`` in eval mode inside the block and restore every module's flag after."""
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, t in flags:
            m.training = t


def measure_bn_drift(model: Any, *inputs: Any, mean_threshold: float = 0.5,
                     var_threshold: float = 0.7) -> list[Finding]:
    """Drift of every BN layer on the batch ``inputs``, one forward in eval mode (which leaves
    the running statistics unchanged; each layer sees the inputs it gets at test time)."""
    seen: dict[str, dict] = {}
    handles = []
    for name, m in batchnorm_modules(model):
        def pre(module: Any, args: tuple, name: str = name) -> None:
            seen[name] = batchnorm_drift(args[0], module.running_mean, module.running_var,
                                         float(getattr(module, "eps", 1e-5)))
        handles.append(m.register_forward_pre_hook(pre))
    try:
        with no_grad(), eval_mode(model):
            model(*inputs)
    finally:
        for h in handles:
            h.remove()
    return [bn_drift_verdict(n, d, mean_threshold=mean_threshold, var_threshold=var_threshold)
            for n, d in seen.items()]


class ModeGuard:
    """Watches a model for train/eval mode mistakes through hooks.

    Counts forwards evaluated under ``no_grad`` with BN/dropout in training mode, backward passes
    reaching the parameters after a forward with BN/dropout in eval mode, and training forwards
    feeding a BN layer a batch of 1. ``findings()`` turns the counts into warnings.

    Example::

        guard = ModeGuard(model)
        with chainrule.no_grad():
            model(x)                 # forgot model.eval()
        guard.findings()[0].verdict  # 'evaluated in training mode'
        guard.detach()
    """

    def __init__(self, model: Any) -> None:
        self.model = model
        self.stateful = [(n or type(m).__name__, m) for n, m in model.named_modules()
                         if is_batchnorm(m) or is_dropout(m)]
        self.counts = {"evaluated in training mode": 0, "trained in eval mode": 0,
                       "batch size 1 with BN": 0}
        self.where: dict[str, set[str]] = {k: set() for k in self.counts}
        self._eval_modules: list[str] = []
        self._backward_counted = True
        self._handles: list[Any] = []
        if self.stateful:
            self.attach()

    def attach(self) -> None:
        if self._handles:
            return
        self._handles.append(self.model.register_forward_pre_hook(self._on_forward))
        for name, m in self.stateful:
            if is_batchnorm(m):
                self._handles.append(m.register_forward_pre_hook(self._bn_hook(name)))
        for p in self.model.parameters():
            if p.requires_grad:
                self._handles.append(p.register_hook(self._on_grad))

    def detach(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []

    def _on_forward(self, module: Any, args: tuple) -> None:
        if is_paused():
            return
        training = [n for n, m in self.stateful if m.training]
        if not is_grad_enabled() and training:
            self.counts["evaluated in training mode"] += 1
            self.where["evaluated in training mode"].update(training)
        self._eval_modules = [n for n, m in self.stateful if not m.training]
        self._backward_counted = not is_grad_enabled()

    def _bn_hook(self, name: str) -> Any:
        def hook(module: Any, args: tuple) -> None:
            if not is_paused() and module.training and args and as_array(args[0]).shape[0] == 1:
                self.counts["batch size 1 with BN"] += 1
                self.where["batch size 1 with BN"].add(name)
        return hook

    def _on_grad(self, g: Any) -> None:
        if is_paused():
            return
        if not self._backward_counted and self._eval_modules:
            self.counts["trained in eval mode"] += 1
            self.where["trained in eval mode"].update(self._eval_modules)
        self._backward_counted = True

    def findings(self) -> list[Finding]:
        """One warning per kind of mistake seen (none when everything was right)."""
        out = []
        for verdict, n in self.counts.items():
            if n:
                mods = ", ".join(sorted(self.where[verdict]))
                out.append(Finding("mode", verdict, False, f"{n} time(s); modules: {mods}",
                                   values={"count": n, "modules": sorted(self.where[verdict])}))
        return out
