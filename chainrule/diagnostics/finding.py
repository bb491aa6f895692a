"""``Finding``: one diagnostic's verdict, the numbers behind it and the note's remedy.

Every check in :mod:`chainrule.diagnostics` returns ``Finding`` objects, so a monitor, a trainer
callback and the lab's experiments all report in one shape: a machine-readable verdict, a
sentence with the numbers, a remedy quoted from the methodology note where it has one, and a
dict of values that serialises to JSON.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Finding", "Report", "REMEDIES", "jsonable", "paused", "is_paused"]

_pause_depth = [0]


@contextmanager
def paused() -> Iterator[None]:
    """Silence every diagnostics hook inside the block (the curvature and landscape code run
    their own forward/backward passes in it, so monitors do not record them as training)."""
    _pause_depth[0] += 1
    try:
        yield
    finally:
        _pause_depth[0] -= 1


def is_paused() -> bool:
    """True inside :func:`paused`."""
    return _pause_depth[0] > 0

# The note's remedies (methodology-en.md), one per verdict; "the note" marks its own words.
REMEDIES: dict[str, str] = {
    "vanishing": (
        "the note: sigmoid and tanh are flat near their asymptotes, so gradients vanish; use "
        "ReLU/LeakyReLU, Xavier or He initialisation, batch normalisation, or skip (residual) "
        "connections"
    ),
    "exploding": (
        "lower the learning rate, clip the gradient norm (nn.utils.clip_grad_norm_), use smaller "
        "initial weights (Xavier/He) or batch normalisation"
    ),
    "update too small": (
        "raise the learning rate, or check that the optimizer steps these parameters"
    ),
    "update too large": "lower the learning rate (or add warm-up / gradient clipping)",
    "dead units": (
        "the note: ReLU is inactive for x < 0 and LeakyReLU corrects its negative part; also a "
        "lower learning rate, He initialisation, or a small positive bias"
    ),
    "saturated": (
        "the note: sigmoid is very flat near 0 and 1, so its gradient can be ~0; use Xavier "
        "initialisation, batch normalisation before the nonlinearity, or tanh/ReLU"
    ),
    "single-sign gradients": (
        "the note: sigmoid's output is centred at 0.5, not 0, so every weight of a unit moves "
        "in the same direction (zig-zag steps); use a zero-centred activation (tanh), "
        "standardise the inputs, or batch normalisation"
    ),
    "bn drift": (
        "the running mean/variance kept for test time lag the data: train longer before "
        "evaluating, raise BatchNorm's momentum, or use LayerNorm (batch-independent)"
    ),
    "evaluated in training mode": (
        "call model.eval() before evaluating: the note says BN keeps mean and variance for test "
        "time, and dropout must be off at test time"
    ),
    "trained in eval mode": (
        "call model.train() before training: BN then standardises each batch and dropout drops"
    ),
    "batch size 1 with BN": (
        "use batches larger than 1 in training, or LayerNorm (the note: it depends only on the "
        "hidden units, not on the batch)"
    ),
    "underfitting": (
        "the note: lower/tune the learning rate, improve the network structure (more capacity), "
        "add residual connections; also train longer and weaken regularisation"
    ),
    "overfitting": (
        "the note: more data samples, an L1/L2 penalty term in the loss, dropout, a smaller "
        "network; and stop early at the best validation epoch"
    ),
    "still improving": (
        "keep training: the budget ended before the curves flattened"
    ),
}


def jsonable(v: Any) -> Any:
    """``v`` with NumPy scalars/arrays turned into Python numbers/lists (NaN/inf become None)."""
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, np.ndarray):
        return jsonable(v.tolist())
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


@dataclass
class Finding:
    """One diagnostic verdict.

    ``check`` names the diagnostic ("gradient_flow", "dead_units"...), ``verdict`` its outcome
    ("healthy", "vanishing"...), ``ok`` whether it needs no action, ``message`` a sentence with
    the numbers, ``remedy`` the note's remedy ('' when ok), ``layer`` the module name (None for
    model-wide checks) and ``values`` the numbers.

    Example::

        f = Finding("gradient_flow", "vanishing", ok=False, message="‖g₁‖/‖g_L‖ = 1e-5")
        f.remedy          # filled from REMEDIES["vanishing"]
    """

    check: str
    verdict: str
    ok: bool
    message: str
    remedy: str | None = None
    layer: str | None = None
    values: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.remedy is None:
            self.remedy = "" if self.ok else REMEDIES.get(self.verdict, "")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict."""
        return jsonable({
            "check": self.check, "verdict": self.verdict, "ok": self.ok,
            "message": self.message, "remedy": self.remedy, "layer": self.layer,
            "values": self.values,
        })

    def __str__(self) -> str:
        where = f"[{self.layer}] " if self.layer else ""
        tail = f" -> {self.remedy}" if self.remedy else ""
        return f"{self.check}: {where}{self.verdict}: {self.message}{tail}"


class Report:
    """An ordered collection of findings with lookups and a JSON form.

    Example::

        rep = Report([Finding("fit", "good fit", True, "gap 0.01")])
        rep.healthy                  # True
        rep.by_check("fit")[0].verdict
    """

    def __init__(self, findings: Iterable[Finding] = (), summary: dict | None = None) -> None:
        self.findings: list[Finding] = list(findings)
        self.summary: dict[str, Any] = dict(summary or {})

    def __iter__(self) -> Iterator[Finding]:
        return iter(self.findings)

    def __len__(self) -> int:
        return len(self.findings)

    def __getitem__(self, i: int) -> Finding:
        return self.findings[i]

    @property
    def healthy(self) -> bool:
        """True when no finding asks for action."""
        return all(f.ok for f in self.findings)

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if not f.ok]

    def by_check(self, check: str) -> list[Finding]:
        return [f for f in self.findings if f.check == check]

    def verdict(self, check: str, layer: str | None = None) -> str | None:
        """The verdict of ``check`` (for ``layer`` when given), or None if absent."""
        for f in self.findings:
            if f.check == check and (layer is None or f.layer == layer):
                return f.verdict
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"healthy": self.healthy, "summary": jsonable(self.summary),
                "findings": [f.to_dict() for f in self.findings]}

    def __str__(self) -> str:
        head = "healthy" if self.healthy else f"{len(self.problems)} problem(s)"
        return "\n".join([f"Diagnostics report: {head}"] + [f"  {f}" for f in self.findings])

    __repr__ = __str__
