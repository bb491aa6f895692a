"""Anomaly detection: name the op (and where it was created) that produced NaN/Inf in backward."""

from __future__ import annotations

from chainrule.autograd.engine import _GradMode, _Switch


class detect_anomaly(_Switch):
    """Context manager: while active (in this thread), each recorded op keeps the stack that
    created it, and a backward that produces a NaN or Inf raises naming the op and that stack.

    Example::

        with chainrule.autograd.detect_anomaly():
            loss = (x.sqrt() * 0).sum()     # d sqrt at 0 is inf
            loss.backward()                 # RuntimeError: Function 'SqrtBackward' returned nan
    """

    field = "anomaly"

    def __init__(self, check_nan: bool = True) -> None:
        super().__init__(check_nan)
        self.check_nan = check_nan


class set_detect_anomaly(detect_anomaly):
    """Turn anomaly detection on or off (also usable as a context manager)."""

    def __init__(self, mode: bool) -> None:
        super().__init__(mode)
        self.prev = _GradMode.anomaly
        _GradMode.anomaly = self.mode

    def __enter__(self) -> set_detect_anomaly:
        return self


def is_anomaly_enabled() -> bool:
    return _GradMode.anomaly
