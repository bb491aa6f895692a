"""One module per claim family; importing this package registers every experiment."""

from __future__ import annotations

import importlib

_FAMILIES = (
    "activations", "skip", "dropout", "rnn_dropout", "normalization", "optimizers", "batch_noise",
    "curvature_convexity", "constrained", "fitting", "transformer_ln",
)

for _name in _FAMILIES:
    try:
        importlib.import_module(f"chainrule.lab.experiments.{_name}")
    except ModuleNotFoundError as _e:  # a family not written yet
        if _e.name != f"chainrule.lab.experiments.{_name}":
            raise
