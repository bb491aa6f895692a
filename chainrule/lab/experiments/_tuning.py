"""Per-arm hyper-parameter tuning on a validation split, shared by the lab's experiments.

Every arm of a comparison gets its own learning rate (and its own knob: a drop rate, a width)
chosen on a *validation* split carved from the training data, averaged over tuning seeds that
are disjoint from the evaluation seeds, so the test set is touched once, by the final runs.

The grid is geometric (or linear for rates in [0, 1)). When the best value sits on an edge of
the grid the grid is widened by one step on that side (up to ``max_widen`` times), so that the
chosen value lies strictly inside: an optimum on an edge would say only "at least this large".

A full run with ``--tune`` (``ctx.tune``) tunes and writes ``chainrule/lab/tuned.json``; a
quick run reads the value tuned for its own budget level from there (the report shows the
grid, the validation scores and where the value came from). A full run without ``--tune`` and
without a full-budget entry reuses the quick-budget value (its provenance says so: a search at
the full budget would cost more than the full run's hour); a quick level with no shipped entry
is tuned on the spot; the unit suite's tiny runs take the shipped quick value (or the grid's
middle) without tuning.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from chainrule.lab.experiment import Context

__all__ = ["TUNED_PATH", "TUNE_SEEDS", "choose", "validation_split", "attach"]

TUNED_PATH = os.path.join(os.path.dirname(os.path.dirname(__file__)), "tuned.json")
TUNE_SEEDS = (1000, 1001)  # disjoint from the evaluation seeds 0..9


# values already chosen in this process (a search runs once per key even when an experiment
# asks again, e.g. once per seed)
_CHOSEN: dict[str, tuple[float, dict[str, Any]]] = {}


def _level(ctx: Context) -> str:
    return "tiny" if ctx.tiny else ("quick" if ctx.quick else "full")


def _load() -> dict[str, Any]:
    """tuned.json as written by :func:`_store`: a ``null`` score (a grid value whose runs
    diverged) is read back as ``inf``, the worst score, as the search saw it."""
    try:
        with open(TUNED_PATH) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    for rec in data.values():
        if isinstance(rec, dict) and isinstance(rec.get("scores"), list):
            rec["scores"] = [float("inf") if s is None else s for s in rec["scores"]]
    return data


def _strict(obj: Any) -> Any:
    """``obj`` with every non-finite float replaced by ``None``: tuned.json is strict JSON
    (RFC 8259 has no Infinity or NaN; other readers refuse Python's extension)."""
    if isinstance(obj, dict):
        return {k: _strict(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_strict(v) for v in obj]
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def _store(key: str, record: dict[str, Any]) -> None:
    """Merge one entry into tuned.json (under a lock: experiments may run in parallel)."""
    lock_path = TUNED_PATH + ".lock"
    with open(lock_path, "w") as lock:
        with contextlib.suppress(ImportError):
            import fcntl

            fcntl.flock(lock, fcntl.LOCK_EX)
        data = _load()
        data[key] = record
        tmp = TUNED_PATH + f".{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump(_strict(dict(sorted(data.items()))), f, indent=1, allow_nan=False)
            f.write("\n")
        os.replace(tmp, TUNED_PATH)
    with contextlib.suppress(OSError):
        os.remove(lock_path)


def validation_split(x: np.ndarray, y: np.ndarray, frac: float = 0.2
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_fit, y_fit, x_val, y_val): the last ``frac`` of a fixed permutation of the training
    data is held out for selection (the same split for every arm and seed)."""
    if not 0.0 < frac < 1.0:
        raise ValueError(f"validation_split: frac must be in (0, 1), got {frac}")
    order = np.random.default_rng(12345).permutation(len(y))
    n_val = max(1, int(round(frac * len(y))))
    fit, val = order[:-n_val], order[-n_val:]
    return x[fit], y[fit], x[val], y[val]


def _widen(grid: list[float], left: bool) -> float:
    """One more grid value beyond an edge: the same ratio (geometric) or step (linear)."""
    a, b = (grid[0], grid[1]) if left else (grid[-1], grid[-2])
    if a > 0 and b > 0 and not _linear(grid):
        return a * a / b
    return a + (a - b)


def _toward_bound(edge: float, bound: float) -> float | None:
    """The midpoint of ``edge`` and a finite ``bound``; None when the bound is infinite or is
    the edge itself (no room left)."""
    if not np.isfinite(bound) or bound == edge:
        return None
    return float(edge + (bound - edge) / 2)


def _linear(grid: Sequence[float]) -> bool:
    d = np.diff(np.asarray(grid, dtype=np.float64))
    return bool(len(d) > 1 and np.allclose(d, d[0], rtol=1e-6)) or min(grid) <= 0


def choose(ctx: Context, exp_id: str, arm: str, knob: str, grid: Sequence[float],
           score: Callable[[float, int], float], *, metric: str, lower: bool = True,
           max_widen: int = 3, bounds: tuple[float, float] = (-np.inf, np.inf),
           seeds: Sequence[int] = TUNE_SEEDS,
           fallback: float | None = None,
           reuse_quick: bool = True,
           conditions: dict[str, Any] | None = None) -> tuple[float, dict[str, Any]]:
    """The value of ``knob`` for ``arm``: tuned on validation (``score(value, seed)``, mean
    over ``seeds``; lower is better unless ``lower=False``) or read from tuned.json.

    Returns the value and the record for ``Result.tuning``: experiment, arm, knob, grid,
    validation scores, chosen value, metric, seeds and provenance. ``bounds`` stops widening
    where the knob stops making sense (a drop rate in [0, 1)). ``fallback``: for a search too
    costly to run inside a quick run, the value used (and said to be untuned) when tuned.json
    has no entry for this level and ``ctx.tune`` is off. ``reuse_quick=False``: a full run
    without a full-budget entry searches the grid itself instead of reusing the quick value
    (for a knob whose best value depends on the scale the full run changes). ``conditions``:
    the other knobs held fixed while this one was searched (a coordinate search: C3's lr at
    the starting drop rate, then the rate at the chosen lr), stored with a search's record.
    """
    key = f"{exp_id}/{arm}/{knob}/{_level(ctx)}"
    shipped = _load()
    tune_now = bool(getattr(ctx, "tune", False))
    memo_key = f"{key}/{'tune' if tune_now else 'read'}"
    if memo_key in _CHOSEN and not ctx.tiny:
        return _CHOSEN[memo_key]
    if not tune_now and key in shipped:
        rec = dict(shipped[key])
        rec["provenance"] = (f"shipped chainrule/lab/tuned.json ({rec.get('provenance', '')})")
        return float(rec["chosen"]), rec
    quick_key = f"{exp_id}/{arm}/{knob}/quick"
    if (reuse_quick and not tune_now and not ctx.tiny and _level(ctx) == "full"
            and quick_key in shipped):
        # a full-budget search per arm costs more than the whole full run may take; without
        # --tune the full run reuses the value searched at the quick budget, and says so
        rec = dict(shipped[quick_key])
        rec["provenance"] = ("full run without --tune: the value tuned at the QUICK budget "
                             "(tuned.json has no full-budget entry), not re-searched; "
                             f"shipped chainrule/lab/tuned.json ({rec.get('provenance', '')})")
        _CHOSEN[memo_key] = (float(rec["chosen"]), rec)
        return float(rec["chosen"]), rec
    if fallback is not None and not tune_now and not ctx.tiny:
        return float(fallback), {
            "experiment": exp_id, "arm": arm, "knob": knob, "grid": list(grid), "scores": [],
            "chosen": float(fallback), "metric": metric, "seeds": [],
            "provenance": "NOT TUNED: no tuned.json entry at this budget level; a run with "
                          "--tune searches the grid"}
    if ctx.tiny:
        if quick_key in shipped:
            rec = dict(shipped[quick_key])
            rec["provenance"] = "tiny run: the shipped quick value, not re-tuned"
            return float(rec["chosen"]), rec
        mid = float(sorted(grid)[len(grid) // 2])
        return mid, {"experiment": exp_id, "arm": arm, "knob": knob, "grid": list(grid),
                     "scores": [], "chosen": mid, "metric": metric, "seeds": [],
                     "provenance": "tiny run: middle of the grid, not tuned"}
    values = sorted(float(g) for g in grid)
    if len(values) < 3:
        raise ValueError(f"choose: {key} needs a grid of >= 3 values, got {values}")
    scores: dict[float, float] = {}

    def evaluate(v: float) -> None:
        if v not in scores:
            s = [float(score(v, seed)) for seed in seeds]
            m = float(np.mean(s)) if np.all(np.isfinite(s)) else float("inf")
            scores[v] = m if lower else -m
            ctx.log(f"  tune {exp_id} {arm} {knob}={v:.4g}: {metric} "
                    f"{np.mean(s):.4g}")

    for v in values:
        evaluate(v)
    for _ in range(max_widen):
        best = min(scores, key=lambda v: scores[v])
        if best not in (values[0], values[-1]):
            break
        left = best == values[0]
        new = _widen(values, left=left)
        if not bounds[0] <= new <= bounds[1]:
            # the step overshoots the knob's range (a drop rate past its bound): halve the
            # distance from the edge to the bound instead, so a bounded grid still gets an
            # outer neighbour (0.95 → 0.96 below a bound of 0.97)
            new = _toward_bound(values[0] if left else values[-1], bounds[0] if left else
                                bounds[1])
        if new is None or new in values:
            break
        values = sorted(values + [new])
        evaluate(new)
    best = min(scores, key=lambda v: scores[v])
    interior = best not in (values[0], values[-1])
    rec = {"experiment": exp_id, "arm": arm, "knob": knob, "grid": values,
           "scores": [scores[v] if lower else -scores[v] for v in values], "chosen": best,
           "metric": metric, "seeds": list(seeds), "interior": interior,
           **({"conditions": dict(conditions)} if conditions else {}),
           "provenance": (f"tuned {_dt.date.today().isoformat()} at the {_level(ctx)} budget on "
                          f"a validation split, seeds {list(seeds)}"
                          + ("" if interior else "; optimum on the grid's edge after widening"))}
    if tune_now:
        _store(key, rec)
    _CHOSEN[memo_key] = (best, rec)
    return best, rec


def attach(records: list[dict[str, Any]], kw: dict[str, Any]) -> dict[str, Any]:
    """``kw`` for ``Experiment.result`` with ``tuning=records`` when the Result has that field."""
    import dataclasses

    from chainrule.lab.experiment import Result

    if "tuning" in {f.name for f in dataclasses.fields(Result)}:
        kw["tuning"] = records
    else:
        kw.setdefault("numbers", {})["tuning"] = records
    return kw


def equivalence(name: str, statement: str, a: Sequence[float], b: Sequence[float], tol: float,
                *, metric: str, arms: tuple[str, str]) -> Any:
    """A part for "A ≈ B within ``tol``" (paired by seed): the per-seed margin
    m_i = tol − |a_i − b_i| must be > 0 (one-sample, claimed direction "greater"); it holds
    when the interval of mean(m) excludes 0, refuted when it lies below 0."""
    from chainrule.lab import verdict as V

    margin = tol - np.abs(np.subtract(np.asarray(a, float), np.asarray(b, float)))
    return V.one_sample(name, statement, list(margin), reference=0.0, floor=0.0,
                        metric=f"{tol:g} − |{arms[0]} − {arms[1]}| ({metric})",
                        arms=(f"{arms[0]} ≈ {arms[1]}",))
