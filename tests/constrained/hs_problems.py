"""Problems of the Hock–Schittkowski collection, in chainrule operations.

Source: W. Hock and K. Schittkowski, *Test Examples for Nonlinear Programming Codes*, Lecture
Notes in Economics and Mathematical Systems 187, Springer 1981 (problem numbers, formulations,
starting points x0 and optimal values f* as published there). Constraints written there as
aᵢ(x) >= 0 enter as gᵢ = -aᵢ(x) <= 0 (the package's convention).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import chainrule as cr

INF = np.inf


@dataclass
class HS:
    """One test problem: f, h (= 0), a (>= 0, the book's form), bounds, x0 and f*."""

    number: int
    f: Callable[[Any], Any]
    x0: list[float]
    f_star: float
    eq: Callable[[Any], Any] | None = None
    geq: Callable[[Any], Any] | None = None
    bounds: tuple[Any, Any] | None = None
    x_star: list[float] | None = None  # the published minimiser, where it is unique

    def problem(self) -> Any:
        from chainrule import constrained as C

        ineq = None if self.geq is None else (lambda x, a=self.geq: -_vec(a(x)))
        eq = None if self.eq is None else (lambda x, h=self.eq: _vec(h(x)))
        return C.Problem(self.f, cr.tensor(self.x0, dtype=cr.float64), eq=eq, ineq=ineq,
                         bounds=self.bounds)

    # NumPy versions for SciPy (the same formulas evaluated on arrays)
    def scipy_args(self) -> dict[str, Any]:
        def wrap(fn: Callable[[Any], Any]) -> Callable[[np.ndarray], Any]:
            def out(v: np.ndarray) -> Any:
                r = fn(cr.tensor(np.asarray(v, dtype=np.float64), dtype=cr.float64))
                return np.asarray(_vec(r).numpy() if not isinstance(r, float) else r)
            return out

        cons = []
        if self.eq is not None:
            cons.append({"type": "eq", "fun": wrap(self.eq)})
        if self.geq is not None:
            cons.append({"type": "ineq", "fun": wrap(self.geq)})
        bounds = None
        if self.bounds is not None:
            lo, hi = self.bounds
            n = len(self.x0)
            lo = np.broadcast_to(np.asarray(-INF if lo is None else lo, dtype=float), (n,))
            hi = np.broadcast_to(np.asarray(INF if hi is None else hi, dtype=float), (n,))
            bounds = list(zip(lo, hi))
        f = self.f
        return {"fun": lambda v: float(f(cr.tensor(np.asarray(v), dtype=cr.float64)).item()),
                "x0": np.array(self.x0), "constraints": cons, "bounds": bounds}


def _vec(r: Any) -> Any:
    if isinstance(r, (list, tuple)):
        return cr.stack([_vec(e).reshape(()) for e in r])
    return r.reshape(-1)


def rosen(x: Any) -> Any:
    return 100 * (x[1] - x[0] ** 2) ** 2 + (1 - x[0]) ** 2


PROBLEMS = [
    HS(1, rosen, [-2.0, 1.0], 0.0, bounds=([-INF, -1.5], None)),
    HS(2, rosen, [-2.0, 1.0], 0.0504261879, bounds=([-INF, 1.5], None)),
    HS(3, lambda x: x[1] + 1e-5 * (x[1] - x[0]) ** 2, [10.0, 1.0], 0.0,
       bounds=([-INF, 0.0], None)),
    HS(4, lambda x: (x[0] + 1) ** 3 / 3 + x[1], [1.125, 0.125], 8 / 3, bounds=([1.0, 0.0], None)),
    HS(5, lambda x: (x[0] + x[1]).sin() + (x[0] - x[1]) ** 2 - 1.5 * x[0] + 2.5 * x[1] + 1,
       [0.0, 0.0], -np.sqrt(3) / 2 - np.pi / 3, bounds=([-1.5, -3.0], [4.0, 3.0])),
    HS(6, lambda x: (1 - x[0]) ** 2, [-1.2, 1.0], 0.0, eq=lambda x: 10 * (x[1] - x[0] ** 2)),
    HS(7, lambda x: (1 + x[0] ** 2).log() - x[1], [2.0, 2.0], -np.sqrt(3),
       eq=lambda x: (1 + x[0] ** 2) ** 2 + x[1] ** 2 - 4),
    HS(9, lambda x: (np.pi * x[0] / 12).sin() * (np.pi * x[1] / 16).cos(), [0.0, 0.0], -0.5,
       eq=lambda x: 4 * x[0] - 3 * x[1]),
    HS(10, lambda x: x[0] - x[1], [-10.0, 10.0], -1.0,
       geq=lambda x: -3 * x[0] ** 2 + 2 * x[0] * x[1] - x[1] ** 2 + 1),
    HS(11, lambda x: (x[0] - 5) ** 2 + x[1] ** 2 - 25, [4.9, 0.1], -8.498464223,
       geq=lambda x: -x[0] ** 2 + x[1]),
    HS(12, lambda x: 0.5 * x[0] ** 2 + x[1] ** 2 - x[0] * x[1] - 7 * x[0] - 7 * x[1],
       [0.0, 0.0], -30.0, geq=lambda x: 25 - 4 * x[0] ** 2 - x[1] ** 2),
    HS(14, lambda x: (x[0] - 2) ** 2 + (x[1] - 1) ** 2, [2.0, 2.0], 9 - 2.875 * np.sqrt(7),
       eq=lambda x: x[0] - 2 * x[1] + 1, geq=lambda x: -x[0] ** 2 / 4 - x[1] ** 2 + 1),
    HS(15, rosen, [-2.0, 1.0], 306.5,
       geq=lambda x: [x[0] * x[1] - 1, x[0] + x[1] ** 2], bounds=(None, [0.5, INF])),
    HS(16, rosen, [-2.0, 1.0], 0.25,
       geq=lambda x: [x[0] + x[1] ** 2, x[0] ** 2 + x[1]], bounds=([-0.5, -INF], [0.5, 1.0])),
    HS(17, rosen, [-2.0, 1.0], 1.0,
       geq=lambda x: [x[1] ** 2 - x[0], x[0] ** 2 - x[1]], bounds=([-0.5, -INF], [0.5, 1.0])),
    HS(18, lambda x: 0.01 * x[0] ** 2 + x[1] ** 2, [2.0, 2.0], 5.0,
       geq=lambda x: [x[0] * x[1] - 25, x[0] ** 2 + x[1] ** 2 - 25],
       bounds=([2.0, 0.0], [50.0, 50.0])),
    HS(19, lambda x: (x[0] - 10) ** 3 + (x[1] - 20) ** 3, [20.1, 5.84], -6961.81381,
       geq=lambda x: [(x[0] - 5) ** 2 + (x[1] - 5) ** 2 - 100,
                      -(x[1] - 5) ** 2 - (x[0] - 6) ** 2 + 82.81],
       bounds=([13.0, 0.0], [100.0, 100.0])),
    HS(20, rosen, [-2.0, 1.0], 81.5 - 25 * np.sqrt(3),
       geq=lambda x: [x[0] + x[1] ** 2, x[0] ** 2 + x[1], x[0] ** 2 + x[1] ** 2 - 1],
       bounds=([-0.5, -INF], [0.5, INF])),
    HS(21, lambda x: 0.01 * x[0] ** 2 + x[1] ** 2 - 100, [-1.0, -1.0], -99.96,
       geq=lambda x: 10 * x[0] - x[1] - 10, bounds=([2.0, -50.0], [50.0, 50.0])),
    HS(22, lambda x: (x[0] - 2) ** 2 + (x[1] - 1) ** 2, [2.0, 2.0], 1.0,
       geq=lambda x: [-x[0] - x[1] + 2, -x[0] ** 2 + x[1]]),
    HS(23, lambda x: x[0] ** 2 + x[1] ** 2, [3.0, 1.0], 2.0,
       geq=lambda x: [x[0] + x[1] - 1, x[0] ** 2 + x[1] ** 2 - 1, 9 * x[0] ** 2 + x[1] ** 2 - 9,
                      x[0] ** 2 - x[1], x[1] ** 2 - x[0]], bounds=(-50.0, 50.0)),
    HS(28, lambda x: (x[0] + x[1]) ** 2 + (x[1] + x[2]) ** 2, [-4.0, 1.0, 1.0], 0.0,
       eq=lambda x: x[0] + 2 * x[1] + 3 * x[2] - 1),
    HS(35, lambda x: (9 - 8 * x[0] - 6 * x[1] - 4 * x[2] + 2 * x[0] ** 2 + 2 * x[1] ** 2
                      + x[2] ** 2 + 2 * x[0] * x[1] + 2 * x[0] * x[2]),
       [0.5, 0.5, 0.5], 1 / 9, geq=lambda x: 3 - x[0] - x[1] - 2 * x[2], bounds=(0.0, None)),
    HS(39, lambda x: -x[0], [2.0, 2.0, 2.0, 2.0], -1.0,
       eq=lambda x: [x[1] - x[0] ** 3 - x[2] ** 2, x[0] ** 2 - x[1] - x[3] ** 2]),
    HS(40, lambda x: -x[0] * x[1] * x[2] * x[3], [0.8, 0.8, 0.8, 0.8], -0.25,
       eq=lambda x: [x[0] ** 3 + x[1] ** 2 - 1, x[0] ** 2 * x[3] - x[2], x[3] ** 2 - x[1]]),
    HS(71, lambda x: x[0] * x[3] * (x[0] + x[1] + x[2]) + x[2], [1.0, 5.0, 5.0, 1.0],
       17.0140173, eq=lambda x: (x * x).sum() - 40,
       geq=lambda x: x[0] * x[1] * x[2] * x[3] - 25, bounds=(1.0, 5.0)),
    HS(76, lambda x: (x[0] ** 2 + 0.5 * x[1] ** 2 + x[2] ** 2 + 0.5 * x[3] ** 2 - x[0] * x[2]
                      + x[2] * x[3] - x[0] - 3 * x[1] + x[2] - x[3]),
       [0.5, 0.5, 0.5, 0.5], -4.681818181,
       geq=lambda x: [5 - x[0] - 2 * x[1] - x[2] - x[3], 4 - 3 * x[0] - x[1] - 2 * x[2] + x[3],
                      x[1] + 4 * x[2] - 1.5], bounds=(0.0, None)),
    # ---- more of the collection: products, exponentials, quartics, infeasible starts --------
    HS(24, lambda x: ((x[0] - 3) ** 2 - 9) * x[1] ** 3 / (27 * np.sqrt(3)), [1.0, 0.5], -1.0,
       geq=lambda x: [x[0] / np.sqrt(3) - x[1], x[0] + np.sqrt(3) * x[1],
                      6 - x[0] - np.sqrt(3) * x[1]], bounds=(0.0, None)),
    HS(26, lambda x: (x[0] - x[1]) ** 2 + (x[1] - x[2]) ** 4, [-2.6, 2.0, 2.0], 0.0,
       eq=lambda x: (1 + x[1] ** 2) * x[0] + x[2] ** 4 - 3),
    HS(27, lambda x: 0.01 * (x[0] - 1) ** 2 + (x[1] - x[0] ** 2) ** 2, [2.0, 2.0, 2.0], 0.04,
       eq=lambda x: x[0] + x[2] ** 2 + 1),
    HS(29, lambda x: -x[0] * x[1] * x[2], [1.0, 1.0, 1.0], -16 * np.sqrt(2),
       geq=lambda x: 48 - x[0] ** 2 - 2 * x[1] ** 2 - 4 * x[2] ** 2),
    HS(30, lambda x: (x * x).sum(), [1.0, 1.0, 1.0], 1.0,
       geq=lambda x: x[0] ** 2 + x[1] ** 2 - 1, bounds=([1.0, -10.0, -10.0], 10.0)),
    HS(31, lambda x: 9 * x[0] ** 2 + x[1] ** 2 + 9 * x[2] ** 2, [1.0, 1.0, 1.0], 6.0,
       geq=lambda x: x[0] * x[1] - 1, bounds=([-10.0, 1.0, -10.0], [10.0, 10.0, 1.0])),
    HS(32, lambda x: (x[0] + 3 * x[1] + x[2]) ** 2 + 4 * (x[0] - x[1]) ** 2, [0.1, 0.7, 0.2],
       1.0, eq=lambda x: 1 - x[0] - x[1] - x[2],
       geq=lambda x: 6 * x[1] + 4 * x[2] - x[0] ** 3 - 3, bounds=(0.0, None)),
    HS(33, lambda x: (x[0] - 1) * (x[0] - 2) * (x[0] - 3) + x[2], [0.0, 0.0, 3.0],
       np.sqrt(2) - 6, geq=lambda x: [x[2] ** 2 - x[0] ** 2 - x[1] ** 2,
                                      x[0] ** 2 + x[1] ** 2 + x[2] ** 2 - 4],
       bounds=(0.0, [INF, INF, 5.0])),
    HS(34, lambda x: -x[0], [0.0, 1.05, 2.9], -np.log(np.log(10)),
       geq=lambda x: [x[1] - x[0].exp(), x[2] - x[1].exp()],
       bounds=(0.0, [100.0, 100.0, 10.0])),
    HS(36, lambda x: -x[0] * x[1] * x[2], [10.0, 10.0, 10.0], -3300.0,
       geq=lambda x: 72 - x[0] - 2 * x[1] - 2 * x[2], bounds=(0.0, [20.0, 11.0, 42.0])),
    HS(37, lambda x: -x[0] * x[1] * x[2], [10.0, 10.0, 10.0], -3456.0,
       geq=lambda x: [72 - x[0] - 2 * x[1] - 2 * x[2], x[0] + 2 * x[1] + 2 * x[2]],
       bounds=(0.0, 42.0)),
    HS(38, lambda x: (100 * (x[1] - x[0] ** 2) ** 2 + (1 - x[0]) ** 2
                      + 90 * (x[3] - x[2] ** 2) ** 2 + (1 - x[2]) ** 2
                      + 10.1 * ((x[1] - 1) ** 2 + (x[3] - 1) ** 2)
                      + 19.8 * (x[1] - 1) * (x[3] - 1)),
       [-3.0, -1.0, -3.0, -1.0], 0.0, bounds=(-10.0, 10.0)),
    HS(41, lambda x: 2 - x[0] * x[1] * x[2], [2.0, 2.0, 2.0, 2.0], 52 / 27,
       eq=lambda x: x[0] + 2 * x[1] + 2 * x[2] - x[3], bounds=(0.0, [1.0, 1.0, 1.0, 2.0])),
    HS(42, lambda x: ((x - cr.tensor([1.0, 2.0, 3.0, 4.0], dtype=cr.float64)) ** 2).sum(),
       [1.0, 1.0, 1.0, 1.0], 28 - 10 * np.sqrt(2),
       eq=lambda x: [x[0] - 2, x[2] ** 2 + x[3] ** 2 - 2]),
    HS(43, lambda x: (x[0] ** 2 + x[1] ** 2 + 2 * x[2] ** 2 + x[3] ** 2 - 5 * x[0] - 5 * x[1]
                      - 21 * x[2] + 7 * x[3]), [0.0, 0.0, 0.0, 0.0], -44.0,
       geq=lambda x: [8 - x[0] ** 2 - x[1] ** 2 - x[2] ** 2 - x[3] ** 2 - x[0] + x[1] - x[2]
                      + x[3],
                      10 - x[0] ** 2 - 2 * x[1] ** 2 - x[2] ** 2 - 2 * x[3] ** 2 + x[0] + x[3],
                      5 - 2 * x[0] ** 2 - x[1] ** 2 - x[2] ** 2 - 2 * x[0] + x[1] + x[3]]),
    HS(44, lambda x: (x[0] - x[1] - x[2] - x[0] * x[2] + x[0] * x[3] + x[1] * x[2]
                      - x[1] * x[3]), [0.0, 0.0, 0.0, 0.0], -15.0,
       geq=lambda x: [8 - x[0] - 2 * x[1], 12 - 4 * x[0] - x[1], 12 - 3 * x[0] - 4 * x[1],
                      8 - 2 * x[2] - x[3], 8 - x[2] - 2 * x[3], 5 - x[2] - x[3]],
       bounds=(0.0, None)),
    HS(45, lambda x: 2 - x[0] * x[1] * x[2] * x[3] * x[4] / 120, [2.0] * 5, 1.0,
       bounds=(0.0, [1.0, 2.0, 3.0, 4.0, 5.0])),
    HS(48, lambda x: (x[0] - 1) ** 2 + (x[1] - x[2]) ** 2 + (x[3] - x[4]) ** 2,
       [3.0, 5.0, -3.0, 2.0, -2.0], 0.0,
       eq=lambda x: [x.sum() - 5, x[2] - 2 * (x[3] + x[4]) + 3]),
    HS(49, lambda x: (x[0] - x[1]) ** 2 + (x[2] - 1) ** 2 + (x[3] - 1) ** 4 + (x[4] - 1) ** 6,
       [10.0, 7.0, 2.0, -3.0, 0.8], 0.0,
       eq=lambda x: [x[0] + x[1] + x[2] + 4 * x[3] - 7, x[2] + 5 * x[4] - 6]),
    HS(50, lambda x: ((x[0] - x[1]) ** 2 + (x[1] - x[2]) ** 2 + (x[2] - x[3]) ** 4
                      + (x[3] - x[4]) ** 2), [35.0, -31.0, 11.0, 5.0, -5.0], 0.0,
       eq=lambda x: [x[0] + 2 * x[1] + 3 * x[2] - 6, x[1] + 2 * x[2] + 3 * x[3] - 6,
                     x[2] + 2 * x[3] + 3 * x[4] - 6]),
    HS(51, lambda x: (x[0] - x[1]) ** 2 + (x[1] + x[2] - 2) ** 2 + (x[3] - 1) ** 2
       + (x[4] - 1) ** 2, [2.5, 0.5, 2.0, -1.0, 0.5], 0.0,
       eq=lambda x: [x[0] + 3 * x[1] - 4, x[2] + x[3] - 2 * x[4], x[1] - x[4]]),
    HS(65, lambda x: (x[0] - x[1]) ** 2 + (x[0] + x[1] - 10) ** 2 / 9 + (x[2] - 5) ** 2,
       [-5.0, 5.0, 0.0], 0.9535288567,
       geq=lambda x: 48 - x[0] ** 2 - x[1] ** 2 - x[2] ** 2,
       bounds=([-4.5, -4.5, -5.0], [4.5, 4.5, 5.0])),
    HS(100, lambda x: ((x[0] - 10) ** 2 + 5 * (x[1] - 12) ** 2 + x[2] ** 4 + 3 * (x[3] - 11) ** 2
                       + 10 * x[4] ** 6 + 7 * x[5] ** 2 + x[6] ** 4 - 4 * x[5] * x[6]
                       - 10 * x[5] - 8 * x[6]),
       [1.0, 2.0, 0.0, 4.0, 0.0, 1.0, 1.0], 680.6300573,
       geq=lambda x: [127 - 2 * x[0] ** 2 - 3 * x[1] ** 4 - x[2] - 4 * x[3] ** 2 - 5 * x[4],
                      282 - 7 * x[0] - 3 * x[1] - 10 * x[2] ** 2 - x[3] + x[4],
                      196 - 23 * x[0] - x[1] ** 2 - 6 * x[5] ** 2 + 8 * x[6],
                      -4 * x[0] ** 2 - x[1] ** 2 + 3 * x[0] * x[1] - 2 * x[2] ** 2 - 5 * x[5]
                      + 11 * x[6]]),
    # ---- further problems of the collection (equality chains, sines, exp, logs, bilinear) ----
    HS(8, lambda x: x[0] * 0 - 1, [2.0, 1.0], -1.0,
       eq=lambda x: [x[0] ** 2 + x[1] ** 2 - 25, x[0] * x[1] - 9]),
    HS(46, lambda x: ((x[0] - x[1]) ** 2 + (x[2] - 1) ** 2 + (x[3] - 1) ** 4
                      + (x[4] - 1) ** 6), [0.5 * np.sqrt(2), 1.75, 0.5, 2.0, 2.0], 0.0,
       eq=lambda x: [x[0] ** 2 * x[3] + (x[3] - x[4]).sin() - 1,
                     x[1] + x[2] ** 4 * x[3] ** 2 - 2]),
    HS(47, lambda x: ((x[0] - x[1]) ** 2 + (x[1] - x[2]) ** 3 + (x[2] - x[3]) ** 4
                      + (x[3] - x[4]) ** 4), [2.0, np.sqrt(2), -1.0, 2 - np.sqrt(2), 0.5], 0.0,
       eq=lambda x: [x[0] + x[1] ** 2 + x[2] ** 3 - 3, x[1] - x[2] ** 2 + x[3] - 1,
                     x[0] * x[4] - 1]),
    HS(52, lambda x: ((4 * x[0] - x[1]) ** 2 + (x[1] + x[2] - 2) ** 2 + (x[3] - 1) ** 2
                      + (x[4] - 1) ** 2), [2.0] * 5, 1859 / 349,
       eq=lambda x: [x[0] + 3 * x[1], x[2] + x[3] - 2 * x[4], x[1] - x[4]]),
    HS(53, lambda x: ((x[0] - x[1]) ** 2 + (x[1] + x[2] - 2) ** 2 + (x[3] - 1) ** 2
                      + (x[4] - 1) ** 2), [2.0] * 5, 176 / 43,
       eq=lambda x: [x[0] + 3 * x[1], x[2] + x[3] - 2 * x[4], x[1] - x[4]],
       bounds=(-10.0, 10.0)),
    HS(56, lambda x: -x[0] * x[1] * x[2],
       [1.0, 1.0, 1.0] + [float(np.arcsin(np.sqrt(1 / 4.2)))] * 3
       + [float(np.arcsin(np.sqrt(5 / 7.2)))], -3.456,
       eq=lambda x: [x[0] - 4.2 * x[3].sin() ** 2, x[1] - 4.2 * x[4].sin() ** 2,
                     x[2] - 4.2 * x[5].sin() ** 2,
                     x[0] + 2 * x[1] + 2 * x[2] - 7.2 * x[6].sin() ** 2]),
    HS(60, lambda x: (x[0] - 1) ** 2 + (x[0] - x[1]) ** 2 + (x[1] - x[2]) ** 4,
       [2.0, 2.0, 2.0], 0.0325682002,
       eq=lambda x: x[0] * (1 + x[1] ** 2) + x[2] ** 4 - 4 - 3 * np.sqrt(2),
       bounds=(-10.0, 10.0)),
    HS(61, lambda x: (4 * x[0] ** 2 + 2 * x[1] ** 2 + 2 * x[2] ** 2 - 33 * x[0] + 16 * x[1]
                      - 24 * x[2]), [0.0, 0.0, 0.0], -143.6461422,
       eq=lambda x: [3 * x[0] - 2 * x[1] ** 2 - 7, 4 * x[0] - x[2] ** 2 - 11]),
    HS(63, lambda x: (1000 - x[0] ** 2 - 2 * x[1] ** 2 - x[2] ** 2 - x[0] * x[1]
                      - x[0] * x[2]), [2.0, 2.0, 2.0], 961.7151721,
       eq=lambda x: [8 * x[0] + 14 * x[1] + 7 * x[2] - 56, (x * x).sum() - 25],
       bounds=(0.0, None)),
    HS(64, lambda x: (5 * x[0] + 50000 / x[0] + 20 * x[1] + 72000 / x[1] + 10 * x[2]
                      + 144000 / x[2]), [1.0, 1.0, 1.0], 6299.842428,
       geq=lambda x: 1 - 4 / x[0] - 32 / x[1] - 120 / x[2], bounds=(1e-5, None)),
    HS(66, lambda x: 0.2 * x[2] - 0.8 * x[0], [0.0, 1.05, 2.9], 0.5181632741,
       geq=lambda x: [x[1] - x[0].exp(), x[2] - x[1].exp()],
       bounds=(0.0, [100.0, 100.0, 10.0])),
    HS(77, lambda x: ((x[0] - 1) ** 2 + (x[0] - x[1]) ** 2 + (x[2] - 1) ** 2 + (x[3] - 1) ** 4
                      + (x[4] - 1) ** 6), [2.0] * 5, 0.24150513,
       eq=lambda x: [x[0] ** 2 * x[3] + (x[3] - x[4]).sin() - 2 * np.sqrt(2),
                     x[1] + x[2] ** 4 * x[3] ** 2 - 8 - np.sqrt(2)]),
    HS(78, lambda x: x[0] * x[1] * x[2] * x[3] * x[4], [-2.0, 1.5, 2.0, -1.0, -1.0], -2.91970041,
       eq=lambda x: [(x * x).sum() - 10, x[1] * x[2] - 5 * x[3] * x[4],
                     x[0] ** 3 + x[1] ** 3 + 1]),
    HS(79, lambda x: ((x[0] - 1) ** 2 + (x[0] - x[1]) ** 2 + (x[1] - x[2]) ** 2
                      + (x[2] - x[3]) ** 4 + (x[3] - x[4]) ** 4), [2.0] * 5, 0.0787768209,
       eq=lambda x: [x[0] + x[1] ** 2 + x[2] ** 3 - 2 - 3 * np.sqrt(2),
                     x[1] - x[2] ** 2 + x[3] + 2 - 2 * np.sqrt(2), x[0] * x[4] - 2]),
    HS(80, lambda x: (x[0] * x[1] * x[2] * x[3] * x[4]).exp(), [-2.0, 2.0, 2.0, -1.0, -1.0],
       0.0539498478,
       eq=lambda x: [(x * x).sum() - 10, x[1] * x[2] - 5 * x[3] * x[4],
                     x[0] ** 3 + x[1] ** 3 + 1],
       bounds=([-2.3, -2.3, -3.2, -3.2, -3.2], [2.3, 2.3, 3.2, 3.2, 3.2])),
    HS(81, lambda x: ((x[0] * x[1] * x[2] * x[3] * x[4]).exp()
                      - 0.5 * (x[0] ** 3 + x[1] ** 3 + 1) ** 2), [-2.0, 2.0, 2.0, -1.0, -1.0],
       0.0539498478,
       eq=lambda x: [(x * x).sum() - 10, x[1] * x[2] - 5 * x[3] * x[4],
                     x[0] ** 3 + x[1] ** 3 + 1],
       bounds=([-2.3, -2.3, -3.2, -3.2, -3.2], [2.3, 2.3, 3.2, 3.2, 3.2])),
    HS(110, lambda x: (((x - 2).log() ** 2 + (10 - x).log() ** 2).sum()
                       - x.prod() ** 0.2), [9.0] * 10, -45.77846971,
       bounds=(2.001, 9.999)),
]


def _hs118(x: Any) -> Any:
    """Σₖ 2.3x₃ₖ₊₁ + 1e-4x₃ₖ₊₁² + 1.7x₃ₖ₊₂ + 1e-4x₃ₖ₊₂² + 2.2x₃ₖ₊₃ + 1.5e-4x₃ₖ₊₃²."""
    a, b, c = x[0::3], x[1::3], x[2::3]
    return (2.3 * a + 1e-4 * a ** 2 + 1.7 * b + 1e-4 * b ** 2 + 2.2 * c + 1.5e-4 * c ** 2).sum()


def _hs118_geq(x: Any) -> Any:
    """Ramp limits 0 <= x₃ⱼ₊ᵢ - x₃ⱼ₋₃₊ᵢ + 7 <= (13, 14, 13)ᵢ and the five demands."""
    rows = []
    for j in range(1, 5):
        for i, up in enumerate((13.0, 14.0, 13.0)):
            v = x[3 * j + i] - x[3 * j - 3 + i] + 7
            rows += [v, up - v]
    for k, demand in enumerate((60.0, 50.0, 70.0, 85.0, 100.0)):
        rows.append(x[3 * k: 3 * k + 3].sum() - demand)
    return rows


PROBLEMS.append(
    HS(118, _hs118, [20.0, 55.0, 15.0] + [20.0, 60.0, 20.0] * 4, 664.82045, geq=_hs118_geq,
       bounds=([8.0, 43.0, 3.0] + [0.0] * 12, [21.0, 57.0, 16.0] + [90.0, 120.0, 60.0] * 4),
       x_star=[8, 49, 3, 1, 56, 0, 1, 63, 6, 3, 70, 12, 5, 77, 18]))

# published minimisers (Hock & Schittkowski 1981) of problems above with a unique one
X_STAR = {
    6: [1.0, 1.0], 7: [0.0, np.sqrt(3)], 10: [0.0, 1.0], 12: [2.0, 3.0],
    14: [0.5 * (np.sqrt(7) - 1), 0.25 * (np.sqrt(7) + 1)], 21: [2.0, 0.0],
    28: [0.5, -0.5, 0.5], 35: [4 / 3, 7 / 9, 4 / 9], 43: [0.0, 1.0, 2.0, -1.0],
    71: [1.0, 4.7429994, 3.8211503, 1.3794082],
    76: [0.2727273, 2.0909091, 0.0, 0.5454545],
}
for _p in PROBLEMS:
    if _p.number in X_STAR:
        _p.x_star = X_STAR[_p.number]

# HS13: the minimiser (1, 0) violates every constraint qualification (the cusp of
# (1 - x1)³ >= x2 >= 0), so no multipliers exist there; f* = 1.
HS13 = HS(13, lambda x: (x[0] - 2) ** 2 + x[1] ** 2, [-2.0, -2.0], 1.0,
          geq=lambda x: (1 - x[0]) ** 3 - x[1], bounds=(0.0, None), x_star=[1.0, 0.0])
