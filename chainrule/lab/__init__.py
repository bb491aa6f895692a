"""``chainrule.lab``: one experiment per claim of the methodology note, with verdicts.

``chainrule lab --list`` shows them; ``chainrule lab --quick`` runs them all on bundled data
and writes ``runs/lab-<timestamp>/report.html``.
"""

from chainrule.lab.experiment import (
    Context,
    Experiment,
    Result,
    register,
    registry,
)
from chainrule.lab.runner import run

__all__ = ["Context", "Experiment", "Result", "register", "registry", "run"]
