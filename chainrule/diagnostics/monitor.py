"""``Diagnostics``: a monitor that attaches to any model through hooks and reports its health.

It registers a forward pre-hook on the model (a training step starts), a forward hook on every
leaf module (activation statistics, dead units, output-gradient hooks), a pre-hook on every
BatchNorm-like module (drift) and a tensor hook on every parameter (gradient norms). Hooks do
almost nothing except on recorded steps (every ``every``-th), so the monitor can stay attached
for a whole training run; dead-unit tracking alone runs on every training forward, because a
unit is dead only if it is zero on *every* example of the window.

Steps: call ``step()`` after ``optimizer.step()``; from the first call on, steps are counted by
those calls. Until then (and in scripts that never call it) each training forward — a forward
of the model in training mode with gradients enabled — starts a new step and closes the
previous one. With gradient accumulation (several forwards per step), pass
``explicit_steps=True`` so that steps are counted by ``step()`` from the start.
``end_epoch()`` closes the dead-unit window.

``report()`` returns a :class:`~chainrule.diagnostics.finding.Report`: one ``Finding`` per check
(gradient flow, update ratio, dead units, saturation, single-sign rows, BN drift, mode mistakes),
each with a verdict and the note's remedy; per-layer values are medians over the last
``window`` recorded steps.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule.autograd.engine import is_grad_enabled
from chainrule.diagnostics import activations as A
from chainrule.diagnostics import gradient_flow as G
from chainrule.diagnostics import normalization as N
from chainrule.diagnostics.finding import Finding, Report, is_paused, jsonable, paused
from chainrule.diagnostics.kinds import RECTIFIERS, infer_activation, is_batchnorm, layer_kind
from chainrule.tensor import Tensor

__all__ = ["Diagnostics", "Thresholds", "StepRecord"]


@dataclass
class Thresholds:
    """Every threshold the monitor's verdicts use (see each check's module for the rule).

    Example::

        Diagnostics(model, thresholds=Thresholds(vanishing_ratio=1e-3, dead_fraction=0.05))
    """

    vanishing_ratio: float = 1e-2
    exploding_ratio: float = 1e2
    max_grad_norm: float = 1e6
    update_low: float = 1e-5
    update_high: float = 1e-1
    dead_fraction: float = 0.1
    saturation: float = 0.95
    saturated_fraction: float = 0.1
    single_sign_fraction: float = 0.5
    bn_mean_drift: float = 0.5
    bn_var_drift: float = 0.7


@dataclass
class StepRecord:
    """What the monitor saw on one recorded step (per-layer dicts keyed by module name)."""

    step: int
    grad_norms: dict[str, float] = field(default_factory=dict)
    param_grad_norms: dict[str, float] = field(default_factory=dict)
    update_ratios: dict[str, float] = field(default_factory=dict)
    activations: dict[str, dict] = field(default_factory=dict)
    output_grads: dict[str, dict] = field(default_factory=dict)
    single_sign: dict[str, dict] = field(default_factory=dict)
    bn_drift: dict[str, dict] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)

    def to_dict(self, histograms: bool = False) -> dict[str, Any]:
        acts = {k: ({kk: vv for kk, vv in v.items() if not kk.startswith("hist_")}
                    if not histograms else v) for k, v in self.activations.items()}
        return jsonable({
            "step": self.step, "grad_norms": self.grad_norms,
            "param_grad_norms": self.param_grad_norms, "update_ratios": self.update_ratios,
            "activations": acts, "output_grads": self.output_grads,
            "single_sign": self.single_sign, "bn_drift": self.bn_drift, "extras": self.extras,
        })


# metric name -> (StepRecord attribute, key inside the layer's dict or None)
_SERIES: dict[str, tuple[str, str | None]] = {
    "grad_norm": ("grad_norms", None), "param_grad_norm": ("param_grad_norms", None),
    "update_ratio": ("update_ratios", None),
    "single_sign": ("single_sign", "per_example"), "single_sign_batch": ("single_sign", "batch"),
    "input_one_signed": ("single_sign", "input_one_signed"),
    "output_grad_norm": ("output_grads", "norm"), "output_grad_std": ("output_grads", "std"),
    "bn_mean_drift": ("bn_drift", "mean_drift"), "bn_var_drift": ("bn_drift", "var_drift"),
}


# kinds whose output keeps the signs of their input, so a layer behind them sees the
# activation behind them (for the single-sign check)
_SIGN_PRESERVING = ("shape", "dropout", "pool", "identity")


def _median(values: list[float]) -> float:
    vals = [v for v in values if v is not None]
    return float(np.median(vals)) if vals else float("nan")


class Diagnostics:
    """Monitor a model's training health through hooks; ``report()`` gives verdicts.

    Example::

        diag = Diagnostics(model, every=10)
        for x, y in loader:
            loss = criterion(model(x), y)
            opt.zero_grad(); loss.backward(); opt.step()
            diag.step(loss=float(loss))
        diag.end_epoch()
        print(diag.report())
        diag.detach()
    """

    def __init__(self, model: Any, every: int = 10, *, thresholds: Thresholds | None = None,
                 bins: int = 30, unit_dim: int = 1, track_dead: bool = True, window: int = 5,
                 history_limit: int | None = None, explicit_steps: bool = False,
                 attach: bool = True) -> None:
        if every < 1:
            raise ValueError(f"Diagnostics: every must be >= 1, got {every}")
        self.model = model
        self.every = int(every)
        self.thresholds = thresholds or Thresholds()
        self.bins = bins
        self.unit_dim = unit_dim
        self.track_dead = track_dead
        self.window = window
        self.history_limit = history_limit
        self.history: list[StepRecord] = []
        self.dead_history: list[dict[str, Any]] = []
        self.kinds: dict[str, str] = {}
        self.order: list[str] = []
        self.trackers: dict[str, A.DeadUnitTracker] = {}
        self.guard: N.ModeGuard | None = None
        self._step = 0
        self._explicit = bool(explicit_steps)
        self._current: StepRecord | None = None
        self._snapshot: dict[str, np.ndarray] | None = None
        self._in_training_forward = False
        self._producers: dict[int, tuple[Any, str]] = {}
        self._handles: list[Any] = []
        self._param_layer = self._map_params()
        if attach:
            self.attach()

    # ---- hooks ---------------------------------------------------------------------------
    def _map_params(self) -> dict[int, tuple[str, str | None]]:
        """id(param) -> (parameter name, layer name if it is a ≥2-D weight else None)."""
        layer_of = {id(p): layer for layer, p in G._weights(self.model)}
        return {id(p): (n, layer_of.get(id(p))) for n, p in self.model.named_parameters()}

    def attach(self) -> Diagnostics:
        """Register the hooks (done by the constructor unless ``attach=False``)."""
        if self._handles:
            return self
        m = self.model
        self._handles.append(m.register_forward_pre_hook(self._on_root_forward))
        for name, mod in m.named_modules():
            name = name or type(mod).__name__
            if is_batchnorm(mod):
                self._handles.append(mod.register_forward_pre_hook(self._bn_hook(name)))
            if not mod._modules:
                self._handles.append(mod.register_forward_hook(self._module_hook(name)))
        for p in m.parameters():
            if p.requires_grad:
                self._handles.append(p.register_hook(self._param_hook(id(p))))
        self.guard = N.ModeGuard(m)
        return self

    def detach(self) -> None:
        """Remove every hook (the history stays readable)."""
        for h in self._handles:
            h.remove()
        self._handles = []
        if self.guard is not None:
            self.guard.detach()

    def __enter__(self) -> Diagnostics:
        return self.attach()

    def __exit__(self, *exc: Any) -> None:
        self.detach()

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Run forwards/backwards that must not be recorded (evaluation, curvature...)."""
        with paused():
            yield

    def _on_root_forward(self, module: Any, args: tuple) -> None:
        if is_paused():
            return
        self._in_training_forward = bool(module.training and is_grad_enabled())
        self._producers = {}
        if not self._in_training_forward:
            return
        if self._explicit:
            idx = self._step
        else:
            if self._current is not None:
                self._finalise()
            idx = self._step
            self._step += 1
        if self._current is None and idx % self.every == 0 and (
                not self.history or self.history[-1].step != idx):
            self._current = StepRecord(idx)
            self._snapshot = G.snapshot_weights(self.model)
        if self._current is not None:
            for a in args:
                if isinstance(a, Tensor):
                    self._producers[id(a)] = (weakref.ref(a), "input")

    def _kind(self, name: str, module: Any, args: tuple, out: Any) -> str:
        kind = self.kinds.get(name)
        if kind is None:
            kind = layer_kind(module)
            if kind == "other" and not module._parameters and args and isinstance(args[0],
                                                                                  Tensor):
                kind = infer_activation(args[0]._array, out._array)
            self.kinds[name] = kind
            self.order.append(name)
        return kind

    def _module_hook(self, name: str) -> Any:
        def hook(module: Any, args: tuple, out: Any) -> None:
            if is_paused() or not self._in_training_forward or not isinstance(out, Tensor):
                return
            kind = self._kind(name, module, args, out)
            if self.track_dead and kind in RECTIFIERS:
                tr = self.trackers.get(name)
                if tr is None:
                    tr = self.trackers[name] = A.DeadUnitTracker(self.unit_dim)
                tr.update(out._array)
            rec = self._current
            if rec is None:
                return
            rec.activations[name] = A.describe_output(
                module, args, out, bins=self.bins, saturation_threshold=self.thresholds.saturation,
                unit_dim=self.unit_dim, kind=kind)
            if module._parameters and out.requires_grad:
                x = args[0]._array if args and isinstance(args[0], Tensor) else None
                w = module._parameters.get("weight")
                linear = (kind == "linear" and x is not None and w is not None and w.ndim == 2
                          and x.shape[-1] == w.shape[1] and out.shape[-1] == w.shape[0])
                if linear:
                    rec.single_sign.setdefault(name, {})["source"] = self._source(args[0])
                out.register_hook(self._grad_out_hook(name, x if linear else None))
            src = kind
            if kind in _SIGN_PRESERVING and args and isinstance(args[0], Tensor):
                src = self._source(args[0]) or kind  # Flatten(ReLU(x)) still comes from a ReLU
            self._producers[id(out)] = (weakref.ref(out), src)
        return hook

    def _source(self, t: Tensor) -> str | None:
        """Kind of the module that produced ``t`` in this forward ('input' for the model's
        input), or None when it came from elsewhere (a functional op, a reshape)."""
        entry = self._producers.get(id(t))
        return entry[1] if entry is not None and entry[0]() is t else None

    def _grad_out_hook(self, name: str, x: np.ndarray | None) -> Any:
        def hook(g: Any) -> None:
            rec = self._current
            if is_paused() or rec is None:
                return
            a = g._array
            rec.output_grads[name] = {"norm": G.l2norm(a), "std": float(a.std(dtype=np.float64)),
                                      "mean": float(a.mean(dtype=np.float64))}
            if x is not None:
                ss = rec.single_sign.setdefault(name, {})
                ss["per_example"] = A.single_sign_fraction(x, g._array)
                ss["input_one_signed"] = A.one_signed_fraction(x)
        return hook

    def _param_hook(self, pid: int) -> Any:
        def hook(g: Any) -> None:
            rec = self._current
            if is_paused() or rec is None:
                return
            pname, layer = self._param_layer.get(pid, (str(pid), None))
            norm = G.l2norm(g._array)
            rec.param_grad_norms[pname] = norm
            if layer is not None:
                rec.grad_norms[layer] = norm
                if g.ndim == 2:
                    rec.single_sign.setdefault(layer, {})["batch"] = A.single_sign_rows(g._array)
        return hook

    def _bn_hook(self, name: str) -> Any:
        def hook(module: Any, args: tuple) -> None:
            rec = self._current
            if (is_paused() or rec is None or not self._in_training_forward or not args
                    or module._buffers.get("running_mean") is None):
                return
            rec.bn_drift[name] = N.batchnorm_drift(
                args[0], module.running_mean, module.running_var,
                float(getattr(module, "eps", 1e-5)))
        return hook

    # ---- steps and windows ---------------------------------------------------------------
    def _finalise(self) -> None:
        rec = self._current
        if rec is None:
            return
        if self._snapshot is not None:
            ratios = G.update_ratios(self._snapshot, self.model)
            if any(v != 0 for v in ratios.values()):
                rec.update_ratios = ratios
        rec.grad_norms = self._ordered(rec.grad_norms)
        self.history.append(rec)
        if self.history_limit is not None and len(self.history) > self.history_limit:
            del self.history[0]
        self._current = None
        self._snapshot = None
        self._producers = {}

    def _ordered(self, per_layer: dict[str, float]) -> dict[str, float]:
        """Per-layer values in forward order (layers never seen in a forward go last)."""
        pos = {n: i for i, n in enumerate(self.order)}

        def key(layer: str) -> int:
            owner = layer if layer in pos else layer.rpartition(".")[0]
            return pos.get(owner, len(pos))

        return {k: per_layer[k] for k in sorted(per_layer, key=key)}

    def step(self, **extras: Any) -> StepRecord | None:
        """Close the current training step (call after ``optimizer.step()``); ``extras`` (the
        loss, the lr...) are stored in its record. Returns the record closed, if any."""
        rec = self._current
        if rec is not None:
            rec.extras.update(extras)
        self._finalise()
        if self._explicit:
            self._step += 1
        else:
            self._explicit = True
        return rec

    def end_epoch(self) -> dict[str, float]:
        """Close the dead-unit window: record each rectifier layer's dead fraction and start
        a new window. Returns {layer: dead fraction}."""
        fr = {n: t.dead_fraction for n, t in self.trackers.items() if t.alive is not None}
        self.dead_history.append({
            "step": self._step, "dead_fraction": fr,
            "examples": {n: t.examples for n, t in self.trackers.items()},
            "dead_units": {n: np.flatnonzero(t.dead_mask).tolist()
                           for n, t in self.trackers.items()},
        })
        for t in self.trackers.values():
            t.reset()
        return fr

    # ---- reading -------------------------------------------------------------------------
    @property
    def latest(self) -> StepRecord | None:
        return self.history[-1] if self.history else self._current

    def layers(self, kind: str | None = None) -> list[str]:
        """Layer names in forward order (optionally only those of one kind)."""
        return [n for n in self.order if kind is None or self.kinds.get(n) == kind]

    def series(self, metric: str, layer: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values) of one metric over the recorded steps.

        ``metric``: 'grad_norm', 'param_grad_norm', 'update_ratio', 'single_sign',
        'single_sign_batch', 'input_one_signed', 'output_grad_norm', 'output_grad_std',
        'bn_mean_drift', 'bn_var_drift', any activation statistic ('mean', 'std', 'saturation',
        'zero_fraction', 'dead_fraction'...), or an extra given to ``step`` (``layer=None``).
        """
        steps, vals = [], []
        for rec in self.history:
            v = self._lookup(rec, metric, layer)
            if v is not None:
                steps.append(rec.step)
                vals.append(v)
        return np.asarray(steps, dtype=np.int64), np.asarray(vals, dtype=np.float64)

    def _lookup(self, rec: StepRecord, metric: str, layer: str | None) -> Any:
        if layer is None:
            return rec.extras.get(metric)
        attr, key = _SERIES.get(metric, ("activations", metric))
        entry = getattr(rec, attr).get(layer)
        if entry is None:
            return None
        return entry if key is None else entry.get(key)

    def dead_fractions(self) -> dict[str, float]:
        """Dead fraction per rectifier layer: the last closed window, else the open one."""
        if self.dead_history:
            return dict(self.dead_history[-1]["dead_fraction"])
        return {n: t.dead_fraction for n, t in self.trackers.items() if t.alive is not None}

    def report(self, window: int | None = None) -> Report:
        """Findings with verdicts and remedies from the last ``window`` recorded steps."""
        t = self.thresholds
        if not self._explicit and self._current is not None:
            self._finalise()  # implicit steps: the last one closes when its results are read
        recs = self.history[-(window or self.window):]
        findings: list[Finding] = []
        norms = self._ordered(self._per_layer(recs, lambda r: r.grad_norms))
        if norms:
            findings.append(G.gradient_flow_verdict(
                norms, vanishing_ratio=t.vanishing_ratio, exploding_ratio=t.exploding_ratio,
                max_norm=t.max_grad_norm))
        ratios = self._per_layer(recs, lambda r: r.update_ratios)
        if ratios:
            findings.append(G.update_ratio_verdict(ratios, low=t.update_low,
                                                   high=t.update_high))
        examples = {n: tr.examples for n, tr in self.trackers.items()}
        if self.dead_history:
            examples = self.dead_history[-1]["examples"]
        for name, frac in self.dead_fractions().items():
            findings.append(A.dead_units_verdict(name, frac, threshold=t.dead_fraction,
                                                 examples=examples.get(name)))
        sat = self._per_layer(recs, lambda r: {n: a.get("saturation")
                                               for n, a in r.activations.items()})
        for name, frac in sat.items():
            findings.append(A.saturation_verdict(name, frac, threshold=t.saturated_fraction,
                                                 kind=self.kinds.get(name, "")))
        ss = self._per_layer(recs, lambda r: {n: d.get("per_example")
                                              for n, d in r.single_sign.items()})
        one = self._per_layer(recs, lambda r: {n: d.get("input_one_signed")
                                               for n, d in r.single_sign.items()})
        sources = {n: d.get("source") for r in recs for n, d in r.single_sign.items()}
        for name, frac in self._ordered(ss).items():
            findings.append(A.single_sign_verdict(name, frac, threshold=t.single_sign_fraction,
                                                  input_one_signed=one.get(name),
                                                  source=sources.get(name)))
        for name in self._ordered({n: 0.0 for r in recs for n in r.bn_drift}):
            drift = {k: _median([r.bn_drift[name][k] for r in recs if name in r.bn_drift])
                     for k in ("mean_drift", "var_drift", "max_mean_drift", "max_var_drift")}
            findings.append(N.bn_drift_verdict(name, drift, mean_threshold=t.bn_mean_drift,
                                               var_threshold=t.bn_var_drift))
        if self.guard is not None:
            findings.extend(self.guard.findings())
        summary = {"steps": self._step, "recorded_steps": len(self.history),
                   "every": self.every, "layers": {n: self.kinds[n] for n in self.order}}
        return Report(findings, summary)

    @staticmethod
    def _per_layer(recs: list[StepRecord], get: Any) -> dict[str, float]:
        """Median over records of each layer's value (layers missing or None skipped)."""
        vals: dict[str, list[float]] = {}
        for r in recs:
            for k, v in get(r).items():
                if v is not None:
                    vals.setdefault(k, []).append(v)
        return {k: _median(v) for k, v in vals.items()}

    def to_dict(self, histograms: bool = False) -> dict[str, Any]:
        """History, dead-unit windows and layer kinds as JSON-serialisable data."""
        return jsonable({"every": self.every, "kinds": self.kinds, "order": self.order,
                         "history": [r.to_dict(histograms) for r in self.history],
                         "dead_history": self.dead_history})
