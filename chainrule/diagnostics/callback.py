"""``DiagnosticsCallback``: a Trainer callback that records training health and writes the
"training health" section of the run report.

It implements the Trainer's callback hooks (``on_train_begin``, ``on_epoch_begin``,
``on_batch_end(trainer, step, logs)``, ``on_epoch_end(trainer, epoch, logs)``,
``on_train_end``) and the report's ``report_section(run_dir)``. What it reads from the trainer:
``trainer.model`` (unless a model is given), ``trainer.loss_fn`` (for the curvature numbers,
unless ``criterion`` is given) and ``trainer.run_dir`` (plots go to ``run_dir/health``). From the
logs it stores every numeric entry of ``on_batch_end`` in the step records, and ``loss`` /
``train_loss`` and ``val_loss`` of ``on_epoch_end`` as the fit curves. It is called after the
optimizer step, so the update/weight ratios are those of real updates.
"""

from __future__ import annotations

import math
import numbers
from pathlib import Path
from typing import Any

from chainrule.diagnostics import plots
from chainrule.diagnostics.curvature import hessian_summary
from chainrule.diagnostics.finding import Finding, jsonable
from chainrule.diagnostics.fit import fit_verdict
from chainrule.diagnostics.landscape import landscape_1d, plot_slice_1d
from chainrule.diagnostics.monitor import Diagnostics, Thresholds
from chainrule.train.callbacks import Callback

__all__ = ["DiagnosticsCallback", "SECTION_TITLE"]

SECTION_TITLE = "training health"


def _numeric(logs: Any) -> dict[str, float]:
    if not isinstance(logs, dict):
        return {}
    out = {}
    for k, v in logs.items():
        v = getattr(v, "_array", v)
        try:
            if isinstance(v, numbers.Number) or getattr(v, "size", 0) == 1:
                out[str(k)] = float(v)
        except (TypeError, ValueError):
            continue
    return out


class DiagnosticsCallback(Callback):
    """Attach :class:`~chainrule.diagnostics.monitor.Diagnostics` for a Trainer's run.

    ``every``: record every N-th step. ``out_dir``: where PNGs go (default
    ``trainer.run_dir/health``; no plots when neither exists or ``plots=False``).
    ``fit_kwargs``: thresholds for :func:`~chainrule.diagnostics.fit.fit_verdict` (``baseline``
    ...). ``curvature_data=(inputs, targets)``: also report λ_max and tr H at the end (with
    ``criterion`` or the trainer's loss), and a 1-D landscape slice when ``landscape=True``.
    After training, ``self.section`` holds the health section (numbers, verdicts, plot paths);
    ``report_section(run_dir)`` gives it in the run report's shape.

    Example::

        cb = DiagnosticsCallback(every=20)
        trainer = Trainer(model, nn.CrossEntropyLoss(), opt, callbacks=[cb], run_dir="runs/a")
        trainer.fit(train_loader, val_loader, epochs=5)
        cb.section["verdicts"]
    """

    def __init__(self, every: int = 10, *, model: Any = None, out_dir: str | Path | None = None,
                 thresholds: Thresholds | None = None, fit_kwargs: dict | None = None,
                 plots: bool = True, curvature_data: tuple[Any, Any] | None = None,
                 criterion: Any = None, curvature_k: int = 1, n_probes: int = 20,
                 landscape: bool = False, generator: Any = 0, **diag_kwargs: Any) -> None:
        self.every = every
        self.model = model
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.thresholds = thresholds
        self.fit_kwargs = dict(fit_kwargs or {})
        self.plots = plots
        self.curvature_data = curvature_data
        self.criterion = criterion
        self.curvature_k = curvature_k
        self.n_probes = n_probes
        self.landscape = landscape
        self.generator = generator
        self.diag_kwargs = diag_kwargs
        self.diag: Diagnostics | None = None
        self.train_curve: list[float] = []
        self.val_curve: list[float] = []
        self.section: dict[str, Any] | None = None

    # ---- the callback protocol -----------------------------------------------------------
    def on_train_begin(self, trainer: Any = None, *args: Any, **kwargs: Any) -> None:
        model = self.model if self.model is not None else getattr(trainer, "model", None)
        if model is None:
            raise ValueError("DiagnosticsCallback: no model (pass model= or use a trainer "
                             "with a .model)")
        self.model = model
        if self.diag is not None:
            self.diag.detach()
        self.diag = Diagnostics(model, self.every, thresholds=self.thresholds,
                                explicit_steps=True, **self.diag_kwargs)
        self.train_curve, self.val_curve, self.section = [], [], None

    def on_epoch_begin(self, trainer: Any = None, *args: Any, **kwargs: Any) -> None:
        """Nothing to do: the dead-unit window opens when the previous one closes."""

    def on_batch_end(self, trainer: Any = None, step: Any = None, logs: Any = None,
                     *args: Any, **kwargs: Any) -> None:
        if self.diag is not None:
            self.diag.step(**_numeric(logs if logs is not None else kwargs.get("logs")))

    def on_epoch_end(self, trainer: Any = None, epoch: Any = None, logs: Any = None,
                     *args: Any, **kwargs: Any) -> None:
        if self.diag is None:
            return
        self.diag.end_epoch()
        nums = _numeric(logs if logs is not None else kwargs.get("logs"))
        train = nums.get("train_loss", nums.get("loss"))
        if train is not None:
            self.train_curve.append(train)
        if "val_loss" in nums:
            self.val_curve.append(nums["val_loss"])

    def on_train_end(self, trainer: Any = None, *args: Any, **kwargs: Any) -> None:
        if self.diag is None:
            return
        self.section = self.health_section(trainer)
        self.diag.detach()

    def report_section(self, run_dir: str | Path | None = None) -> dict[str, Any] | None:
        """The section for the run report: title, text, a table of verdicts and numbers, and
        images (drawn into ``run_dir/health`` if they were not drawn at the end of training)."""
        if self.diag is None:
            return None
        if self.section is None:
            self.section = self.health_section(None)
        sec = self.section
        if self.plots and not sec["plots"] and (self.out_dir or run_dir) is not None:
            out = self.out_dir or Path(run_dir) / "health"
            paths: dict[str, str] = {}
            fit = [v for v in sec["verdicts"] if v["check"] == "fit"]
            self._plots(out, fit[0]["verdict"] if fit else "", paths)
            sec["plots"] = paths
        table: dict[str, str] = {}
        for v in sec["verdicts"]:
            key = v["check"] + (f" [{v['layer']}]" if v["layer"] else "")
            table[key] = f"{v['verdict']}: {v['message']}" + (
                f" (remedy: {v['remedy']})" if v["remedy"] else "")
        curv = sec["numbers"].get("curvature") or {}
        for k in ("lambda_max", "trace"):
            if k in curv:
                table[f"Hessian {k}"] = f"{curv[k]:.4g}"
        problems = [v for v in sec["verdicts"] if not v["ok"]]
        text = ("All checks healthy." if not problems else
                f"{len(problems)} problem(s): " + "; ".join(
                    v["check"] + (f" [{v['layer']}]" if v["layer"] else "") + ": " + v["verdict"]
                    for v in problems) + ".")
        return {"title": "Training health", "text": text, "table": table,
                "images": dict(sec["plots"])}

    # ---- the section ---------------------------------------------------------------------
    def _plot_dir(self, trainer: Any) -> Path | None:
        if not self.plots:
            return None
        if self.out_dir is not None:
            return self.out_dir
        run_dir = getattr(trainer, "run_dir", None)
        return Path(run_dir) / "health" if run_dir is not None else None

    def fit_finding(self) -> Finding | None:
        """The fit verdict of the epoch curves (None with fewer than 2 validated epochs)."""
        n = min(len(self.train_curve), len(self.val_curve))
        if n < 2:
            return None
        tr, va = self.train_curve[-n:], self.val_curve[-n:]
        if not all(math.isfinite(v) for v in tr + va):
            return Finding("fit", "diverged", False, "the loss became nan or inf",
                           remedy="lower the learning rate; clip gradients")
        return fit_verdict(tr, va, **self.fit_kwargs)

    def health_section(self, trainer: Any = None) -> dict[str, Any]:
        """Numbers, verdicts and plot paths for a report (JSON-serialisable)."""
        diag = self.diag
        if diag is None:
            raise RuntimeError("DiagnosticsCallback.health_section: training has not begun")
        report = diag.report()
        findings = list(report.findings)
        fit = self.fit_finding()
        if fit is not None:
            findings.append(fit)
        numbers_: dict[str, Any] = {"steps": report.summary.get("steps"),
                                    "recorded_steps": len(diag.history)}
        for f in findings:
            key = f.check if f.layer is None else f"{f.check}[{f.layer}]"
            numbers_[key] = f.values
        out_dir = self._plot_dir(trainer)
        paths: dict[str, str] = {}
        curvature = self._curvature(trainer, out_dir, paths)
        if curvature is not None:
            numbers_["curvature"] = curvature
        if out_dir is not None:
            self._plots(out_dir, fit.verdict if fit else "", paths)
        return jsonable({
            "title": SECTION_TITLE,
            "healthy": all(f.ok for f in findings),
            "verdicts": [f.to_dict() for f in findings],
            "numbers": numbers_,
            "curves": {"train": self.train_curve, "val": self.val_curve},
            "plots": paths,
        })

    def _curvature(self, trainer: Any, out_dir: Path | None,
                   paths: dict[str, str]) -> dict[str, Any] | None:
        if self.curvature_data is None:
            return None
        crit = self.criterion or getattr(trainer, "loss_fn", None)
        if crit is None:
            return {"error": "no criterion: pass criterion= to DiagnosticsCallback"}
        x, y = self.curvature_data
        summ = hessian_summary(self.model, crit, x, y, k=self.curvature_k,
                               n_probes=self.n_probes, generator=self.generator)
        if self.landscape:
            sl = landscape_1d(self.model, crit, x, y, generator=self.generator)
            summ["landscape_1d"] = {"alphas": sl.alphas, "losses": sl.losses}
            if out_dir is not None:
                paths["landscape_1d"] = plot_slice_1d(sl, out_dir / "landscape_1d.png",
                                                      title="loss along a random direction")
        return summ

    def _plots(self, out_dir: Path, fit: str, paths: dict[str, str]) -> None:
        diag = self.diag
        made = {
            "gradient_norms": plots.plot_grad_norms(diag, out_dir / "gradient_norms.png"),
            "activation_std": plots.plot_activation_std(diag, out_dir / "activation_std.png"),
            "unit_health": plots.plot_unit_health(diag, out_dir / "unit_health.png"),
            "fit_curves": plots.plot_fit_curves(self.train_curve, self.val_curve,
                                                out_dir / "fit_curves.png",
                                                verdict=fit),
        }
        if diag.history:
            made["histograms"] = plots.plot_histograms(diag.history[-1],
                                                       out_dir / "histograms.png", diag.kinds)
        paths.update({k: v for k, v in made.items() if v is not None})
