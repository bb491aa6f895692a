"""Tensor printing as PyTorch prints: ``set_printoptions``, ``get_printoptions`` and the
``tensor(...)`` text.

Options (PyTorch's names and defaults): ``precision`` (4) digits after the point,
``threshold`` (1000) elements above which the tensor is summarised, ``edgeitems`` (3) items kept
at each end of a summarised dimension, ``linewidth`` (80) characters per line, ``sci_mode``
(None: decided per tensor; True/False forces it), and ``profile`` ("default", "short": precision
2 and 2 edge items, "full": never summarise) applied before the other arguments. As in PyTorch,
every call sets ``sci_mode`` (to None unless given).

How a float tensor is formatted (PyTorch's rule, reproduced): from the finite non-zero values
(of the summarised data), scientific notation when max/min > 1000, max > 1e8 or min < 1e-4
(or as ``sci_mode`` forces); else, if they are all integers, as ``3.``; else fixed point with
``precision`` digits. Every element is right-aligned to
the widest one; a row holds ⌊(linewidth − indent)/(width + 2)⌋ elements. float16 prints through
float32. The suffixes (``dtype=`` for other than the default float, int64 and bool;
``size=`` for empty tensors of more than one dimension; ``grad_fn=`` / ``requires_grad=True``)
go on the last line, or on a new one where the line would pass ``linewidth``.

``Tensor.__repr__`` lives in chainrule/tensor.py; it calls :func:`tensor_repr`.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = ["get_printoptions", "printoptions", "set_printoptions", "tensor_repr"]

_PROFILES = {
    "default": {"precision": 4, "threshold": 1000, "edgeitems": 3, "linewidth": 80},
    "short": {"precision": 2, "threshold": 1000, "edgeitems": 2, "linewidth": 80},
    "full": {"precision": 4, "threshold": math.inf, "edgeitems": 3, "linewidth": 80},
}


class _PrintOptions:
    precision: int = 4
    threshold: float = 1000
    edgeitems: int = 3
    linewidth: int = 80
    sci_mode: bool | None = None


PRINT_OPTS = _PrintOptions()


def set_printoptions(precision: int | None = None, threshold: float | None = None,
                     edgeitems: int | None = None, linewidth: int | None = None,
                     profile: str | None = None, sci_mode: bool | None = None) -> None:
    """Set how tensors print (module docstring); unset arguments keep their value, except
    ``sci_mode``, which every call sets (None: automatic), as in PyTorch."""
    if profile is not None:
        if profile not in _PROFILES:
            raise ValueError(f"profile must be one of {sorted(_PROFILES)}, got {profile!r}")
        for k, v in _PROFILES[profile].items():
            setattr(PRINT_OPTS, k, v)
    for name, value in (("precision", precision), ("threshold", threshold),
                        ("edgeitems", edgeitems), ("linewidth", linewidth)):
        if value is not None:
            setattr(PRINT_OPTS, name, value)
    PRINT_OPTS.sci_mode = sci_mode


def get_printoptions() -> dict[str, Any]:
    """The current options as a dict (PyTorch's ``torch.get_printoptions``)."""
    return {k: getattr(PRINT_OPTS, k)
            for k in ("precision", "threshold", "edgeitems", "linewidth", "sci_mode")}


@contextlib.contextmanager
def printoptions(**kwargs: Any) -> Iterator[None]:
    """Set print options inside a ``with`` block only."""
    old = get_printoptions()
    set_printoptions(**kwargs)
    try:
        yield
    finally:
        set_printoptions(**old)


# ---- formatting -----------------------------------------------------------------------------
class _Formatter:
    """Chooses one format for all elements (fixed, integer-valued or scientific) and width."""

    def __init__(self, data: np.ndarray) -> None:
        self.floating = data.dtype.kind == "f"
        self.int_mode = True
        self.sci_mode = False
        self.width = 1
        p = PRINT_OPTS.precision
        flat = data.reshape(-1)
        if not self.floating:
            for v in flat.tolist():
                self.width = max(self.width, len(str(v)))
        else:
            vals = flat[np.isfinite(flat) & (flat != 0)].astype(np.float64)
            if vals.size:  # (none: integer-valued fixed format, whatever sci_mode says)
                mags = np.abs(vals)
                lo, hi = float(mags.min()), float(mags.max())
                self.int_mode = bool((vals == np.ceil(vals)).all())
                self.sci_mode = (hi / lo > 1000.0 or hi > 1.0e8 or lo < 1.0e-4) \
                    if PRINT_OPTS.sci_mode is None else bool(PRINT_OPTS.sci_mode)
                if self.sci_mode:
                    fmt, extra = f"{{:.{p}e}}", 0
                elif self.int_mode:
                    fmt, extra = "{:.0f}", 1  # (the "." an integer-valued float gets)
                else:
                    fmt, extra = f"{{:.{p}f}}", 0
                for v in vals.tolist():
                    self.width = max(self.width, len(fmt.format(v)) + extra)

    def format(self, v: Any) -> str:
        if self.floating:
            p = PRINT_OPTS.precision
            if self.sci_mode:
                s = f"{v:{self.width}.{p}e}"
            elif self.int_mode:
                s = f"{v:.0f}"
                if not (math.isinf(v) or math.isnan(v)):
                    s += "."
            else:
                s = f"{v:.{p}f}"
        else:
            s = str(v)
        return " " * (self.width - len(s)) + s


def _summarised(a: np.ndarray) -> np.ndarray:
    """The elements that will be shown: ``edgeitems`` at each end of every long dimension."""
    e = PRINT_OPTS.edgeitems
    if a.ndim == 0:
        return a
    if a.ndim == 1:
        return np.concatenate([a[:e], a[-e:]]) if a.shape[0] > 2 * e else a
    if not e:
        return np.empty((0,) * a.ndim, dtype=a.dtype)
    rows = list(range(e)) + list(range(a.shape[0] - e, a.shape[0])) if a.shape[0] > 2 * e \
        else range(a.shape[0])
    return np.stack([_summarised(a[i]) for i in rows])


def _vector(a: np.ndarray, indent: int, summarise: bool, fmt: _Formatter) -> str:
    e = PRINT_OPTS.edgeitems
    per_line = max(1, int(math.floor((PRINT_OPTS.linewidth - indent) / (fmt.width + 2))))
    if summarise and not e:
        items = ["..."]
    elif summarise and a.shape[0] > 2 * e:
        items = ([fmt.format(v) for v in a[:e].tolist()] + [" ..."]
                 + [fmt.format(v) for v in a[-e:].tolist()])
    else:
        items = [fmt.format(v) for v in a.tolist()]
    lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
    return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"


def _nested(a: np.ndarray, indent: int, summarise: bool, fmt: _Formatter) -> str:
    if a.ndim == 0:
        return fmt.format(a.item())
    if a.ndim == 1:
        return _vector(a, indent, summarise, fmt)
    e = PRINT_OPTS.edgeitems
    if summarise and a.shape[0] > 2 * e:
        parts = ([_nested(a[i], indent + 1, summarise, fmt) for i in range(e)] + ["..."]
                 + [_nested(a[i], indent + 1, summarise, fmt)
                    for i in range(a.shape[0] - e, a.shape[0])])
    else:
        parts = [_nested(a[i], indent + 1, summarise, fmt) for i in range(a.shape[0])]
    return "[" + ("," + "\n" * (a.ndim - 1) + " " * (indent + 1)).join(parts) + "]"


def array_str(a: np.ndarray, indent: int) -> str:
    """The bracketed body PyTorch prints for an array's values."""
    if a.size == 0:
        return "[]"
    if a.dtype == np.float16:
        a = a.astype(np.float32)
    summarise = a.size > PRINT_OPTS.threshold
    fmt = _Formatter(_summarised(a) if summarise else a)
    return _nested(a, indent, summarise, fmt)


def _with_suffixes(text: str, suffixes: list[str], indent: int) -> str:
    out = [text]
    last = len(text) - text.rfind("\n") + 1
    for s in suffixes:
        if last + len(s) + 2 > PRINT_OPTS.linewidth:
            out.append(",\n" + " " * indent + s)
            last = indent + len(s)
        else:
            out.append(", " + s)
            last += len(s) + 2
    return "".join(out) + ")"


def tensor_repr(t: Any) -> str:
    """``repr(t)`` as PyTorch writes it (``chainrule.`` for ``torch.`` in dtype names)."""
    from chainrule.backend import default_dtype

    a = np.asarray(t._array)
    prefix = "tensor("
    indent = len(prefix)
    suffixes = []
    default = default_dtype()
    if a.size == 0:
        if a.ndim != 1:
            suffixes.append(f"size={tuple(a.shape)}")
        if a.dtype != default:
            suffixes.append(f"dtype=chainrule.{a.dtype}")
        body = "[]"
    else:
        if not PRINT_OPTS.edgeitems:
            suffixes.append(f"size={tuple(a.shape)}")
        if a.dtype not in (default, np.dtype(np.int64), np.dtype(np.bool_)):
            suffixes.append(f"dtype=chainrule.{a.dtype}")
        body = array_str(a, indent)
    if t.grad_fn is not None:
        suffixes.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t.requires_grad:
        suffixes.append("requires_grad=True")
    return _with_suffixes(prefix + body, suffixes, indent)
