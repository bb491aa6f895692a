"""The shape of a lab experiment: a claim, arms, seeds, a step budget, metrics, a verdict rule.

An experiment subclasses :class:`Experiment`, sets its class attributes (id, title, the claim
quoted from the note, the expected direction and its source) and implements ``run(ctx)``,
returning a :class:`Result`. ``ctx`` says whether this is a quick run, which seeds to use and
where to write plots. Verdicts come from :mod:`chainrule.lab.verdict`: each registered part of
the claim is a paired effect with a t (or bootstrap / exact) interval and a practical floor, Holm
across the claim's parts; never a paper number.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any

import numpy as np

HOLDS = "holds"
PARTLY = "partly holds"
REFUTED = "refuted"
INCONCLUSIVE = "inconclusive"
VERIFIED = "verified"
ERROR = "error"
VERDICTS = (HOLDS, PARTLY, REFUTED, INCONCLUSIVE, VERIFIED, ERROR)
QUICK_SEEDS = (0, 1, 2, 3, 4)
FULL_SEEDS = tuple(range(10))


@dataclasses.dataclass
class Context:
    """What an experiment run is given: budget level, seeds, output folder, progress, and the
    record of which data sets were actually used (``dataset``)."""

    quick: bool = True
    seeds: tuple[int, ...] = QUICK_SEEDS
    out_dir: str = "."
    tiny: bool = False  # the unit suite's smoke runs: smallest budgets that still run end to end
    log: Callable[[str], None] = print
    tune: bool = False  # a full run with --tune: search the grids and write tuned.json
    data: dict[str, str] = dataclasses.field(default_factory=dict)

    def dataset(self, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``common.dataset(name)``, recording what was actually used in ``self.data`` (and
        saying so through ``log`` when a fallback replaced the requested set)."""
        from chainrule.lab import common

        arrays = common.dataset(name)
        info = common.dataset_info(name)
        if name not in self.data:
            self.data[name] = info["description"]
            if info["fallback"]:
                self.log(f"WARNING: data {name!r} unavailable, using {info['used']!r}: "
                         f"{info['fallback']}")
        return arrays

    def budget(self, full: int, quick: int, tiny: int | None = None) -> int:
        """Pick a step count (or size) by run level: tiny (tests) < quick < full."""
        if self.tiny:
            return tiny if tiny is not None else max(1, quick // 20)
        return quick if self.quick else full

    def path(self, name: str) -> str:
        """A file path in the output folder (created if needed)."""
        os.makedirs(self.out_dir, exist_ok=True)
        return os.path.join(self.out_dir, name)


@dataclasses.dataclass
class Result:
    """The outcome of one experiment.

    ``parts`` are the claim's registered parts (:class:`chainrule.lab.verdict.Part`), from which
    ``verdict`` is decided; ``table`` rows are dicts (one per arm or setting) shown in the
    report; ``numbers`` are the key figures that go into ``verdicts.json``; ``plots`` are PNG
    paths; ``data`` maps each requested data set to what was actually used; ``tuning`` lists
    the hyper-parameter searches (``{"arm", "param", "grid", "scores", "chosen", ...}``).
    """

    id: str
    title: str
    claim: str
    expected: str
    source: str
    verdict: str
    summary: str
    numbers: dict[str, Any] = dataclasses.field(default_factory=dict)
    table: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    plots: list[str] = dataclasses.field(default_factory=list)
    seeds: list[int] = dataclasses.field(default_factory=list)
    budget: dict[str, Any] = dataclasses.field(default_factory=dict)
    wall_time: float = 0.0
    note: str = ""
    parts: list[Any] = dataclasses.field(default_factory=list)
    data: dict[str, str] = dataclasses.field(default_factory=dict)
    tuning: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"{self.id}: verdict must be one of {VERDICTS}, got {self.verdict!r}")

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (NumPy scalars and arrays converted)."""
        out = _plain({f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                      if f.name != "parts"})
        out["parts"] = [_plain(p.to_json()) for p in self.parts]
        return out


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _plain(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return str(obj)
    return obj


class Experiment:
    """Base class of a lab experiment (see the module docstring).

    Subclasses set: ``id`` (e.g. "A1"), ``title``, ``claim`` (the note's words), ``expected``
    (the literature's direction), ``source`` (the paper), ``arms`` (names of what is compared,
    one factor changed per arm), ``metrics`` (what is measured) and implement ``run``.
    """

    id: str = ""
    title: str = ""
    claim: str = ""
    expected: str = ""
    source: str = ""
    arms: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()
    slow: bool = False  # excluded from --quick unless named with --only
    # the id of an experiment whose worker process this one runs in, right after it, when
    # both run (it reuses what that one trained); "" runs in its own worker
    same_process_as: str = ""

    def run(self, ctx: Context) -> Result:
        raise NotImplementedError(f"{type(self).__name__}.run is abstract")

    def result(self, ctx: Context, verdict: str | None = None, summary: str = "", *,
               parts: list[Any] | None = None, **kw: Any) -> Result:
        """A Result pre-filled with this experiment's declared fields and the data actually
        used. With ``parts`` the verdict is ``verdict.decide(parts)`` (Holm across the
        empirical parts) unless ``verdict`` is given (the old call, kept for the transition)."""
        from chainrule.lab import verdict as rule

        parts = list(parts or [])
        if parts:
            decided = rule.decide(parts)
            verdict = verdict or decided
            rule.strip(parts)  # interval recipes may hold closures: results cross processes
        if verdict is None:
            raise ValueError(f"{self.id}: result() needs parts=[...] (or a verdict)")
        from chainrule.lab.common import dataset_info

        title = self.title
        data = dict(ctx.data) | dict(kw.pop("data", {}))
        swaps = [f"{info['used']} instead of {name}" for name in ctx.data
                 if (info := dataset_info(name))["fallback"]]
        if swaps:  # the title must not name data that was not used
            title = f"{title} [data: {'; '.join(swaps)}]"
        return Result(id=self.id, title=title, claim=self.claim, expected=self.expected,
                      source=self.source, verdict=verdict, summary=summary,
                      seeds=list(ctx.seeds), parts=parts, data=data, **kw)


_REGISTRY: dict[str, type[Experiment]] = {}


def register(cls: type[Experiment]) -> type[Experiment]:
    """Class decorator adding an experiment to the lab (ids must be unique)."""
    if not cls.id:
        raise ValueError(f"{cls.__name__} has no id")
    if cls.id in _REGISTRY and _REGISTRY[cls.id] is not cls:
        raise ValueError(f"duplicate experiment id {cls.id!r}: {cls.__name__} and "
                         f"{_REGISTRY[cls.id].__name__}")
    _REGISTRY[cls.id] = cls
    return cls


def registry() -> dict[str, type[Experiment]]:
    """All registered experiments by id (importing the experiment modules first)."""
    from chainrule.lab import experiments  # noqa: F401  (registers on import)

    return dict(sorted(_REGISTRY.items(), key=lambda kv: _sort_key(kv[0])))


def _sort_key(exp_id: str) -> tuple[str, int, str]:
    """Family letter, number, suffix: A1 < A2 < … < E1 < E1b < E2 < … < F1."""
    import re

    m = re.fullmatch(r"([A-Za-z]*)(\d*)(.*)", exp_id)
    assert m is not None  # the pattern matches every string
    head, num, rest = m.groups()
    return head, int(num) if num else 0, rest
