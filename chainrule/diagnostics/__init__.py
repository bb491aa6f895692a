"""Training diagnostics: each check measures, gives a verdict and quotes the note's remedy.

* :mod:`~chainrule.diagnostics.gradient_flow`: per-layer ‖∂L/∂W‖, first/last ratio, update/weight
  ratio -> vanishing / exploding / healthy;
* :mod:`~chainrule.diagnostics.activations`: statistics, dead units, saturation, single-sign
  gradient rows;
* :mod:`~chainrule.diagnostics.normalization`: BatchNorm running-statistics drift, train/eval mode
  mistakes;
* :mod:`~chainrule.diagnostics.fit`: underfitting / overfitting / good fit / still improving;
* :mod:`~chainrule.diagnostics.curvature`: Hessian-vector products, top eigenvalues (power
  iteration, Lanczos), Hutchinson trace, spectral density (SLQ);
* :mod:`~chainrule.diagnostics.gradient_noise`: per-example gradient norms and the gradient
  noise scale tr Σ / ‖G‖²;
* :mod:`~chainrule.diagnostics.landscape`: filter-normalised 1-D/2-D loss slices and plots;
* :class:`Diagnostics` (hooks on any model) and :class:`DiagnosticsCallback` (for the Trainer).

Example::

    from chainrule.diagnostics import Diagnostics
    diag = Diagnostics(model, every=10)
    ...                       # train; call diag.step() after optimizer.step()
    print(diag.report())
"""

from chainrule.diagnostics.activations import (
    DeadUnitTracker,
    activation_stats,
    dead_unit_fraction,
    record_activations,
    saturation_fraction,
    single_sign_fraction,
    single_sign_rows,
)
from chainrule.diagnostics.callback import DiagnosticsCallback
from chainrule.diagnostics.curvature import (
    HessianOperator,
    hessian_summary,
    hutchinson_trace,
    lanczos,
    power_iteration,
    spectral_density,
    top_eigenvalues,
)
from chainrule.diagnostics.finding import REMEDIES, Finding, Report, paused
from chainrule.diagnostics.fit import fit_verdict
from chainrule.diagnostics.gradient_flow import (
    gradient_flow_verdict,
    update_ratio_verdict,
    weight_grad_norms,
)
from chainrule.diagnostics.gradient_noise import (
    NoiseScale,
    gradient_noise_scale,
    per_example_grad_norms,
    per_example_grads,
)
from chainrule.diagnostics.kinds import infer_activation, layer_kind
from chainrule.diagnostics.landscape import (
    filter_normalized_direction,
    grid_local_minima,
    landscape_1d,
    landscape_2d,
    plot_slice_1d,
    plot_slice_2d,
    slice_1d,
    slice_2d,
)
from chainrule.diagnostics.monitor import Diagnostics, StepRecord, Thresholds
from chainrule.diagnostics.normalization import ModeGuard, batchnorm_drift, measure_bn_drift

__all__ = [
    "DeadUnitTracker", "Diagnostics", "DiagnosticsCallback", "Finding", "HessianOperator",
    "ModeGuard", "REMEDIES", "Report", "StepRecord", "Thresholds", "activation_stats",
    "batchnorm_drift", "dead_unit_fraction", "filter_normalized_direction", "fit_verdict",
    "gradient_flow_verdict", "grid_local_minima", "hessian_summary", "hutchinson_trace",
    "infer_activation", "landscape_1d", "landscape_2d", "lanczos", "layer_kind",
    "measure_bn_drift", "paused", "plot_slice_1d", "plot_slice_2d", "power_iteration",
    "record_activations", "saturation_fraction", "single_sign_fraction", "single_sign_rows",
    "slice_1d", "slice_2d", "spectral_density", "top_eigenvalues", "update_ratio_verdict",
    "weight_grad_norms", "NoiseScale", "gradient_noise_scale", "per_example_grad_norms",
    "per_example_grads",
]
