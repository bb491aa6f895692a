"""The unconstrained test set of Moré, Garbow & Hillstrom, in chainrule operations.

Source: J. J. Moré, B. S. Garbow and K. E. Hillstrom, "Testing Unconstrained Optimization
Software", ACM Transactions on Mathematical Software 7(1), 17–41, 1981. Each problem is a sum of
squares f(x) = Σᵢ fᵢ(x)² of the residuals fᵢ given there; the problem numbers, dimensions n,
residual counts m, standard starting points x0 and the optimal values f* are the published ones
(written here from the paper's definitions). Where the paper lists more than one value (a local
minimum reached from x0, or a value for another m), ``f_star`` holds all of them, global first.
Published values carry six significant digits, so a non-zero f* is compared to 1e-5 relative.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import chainrule as cr

F64 = cr.float64


def _t(values: Any) -> Any:
    """A constant float64 tensor."""
    return cr.tensor(np.asarray(values, dtype=np.float64), dtype=F64)


@dataclass
class MGH:
    """One problem: the residual vector r(x) (a 1-D tensor), x0 and the published f* values."""

    number: int
    name: str
    residuals: Callable[[Any], Any]
    x0: list[float]
    f_star: tuple[float, ...]
    note: str = ""
    other: tuple[float, ...] = ()  # local minima not in the paper (cross-checked with SciPy)

    @property
    def n(self) -> int:
        return len(self.x0)

    @property
    def label(self) -> str:
        return f"MGH{self.number}-{self.name}-n{self.n}"

    def f(self, x: Any) -> Any:
        """f(x) = Σ rᵢ(x)² as a scalar tensor."""
        r = self.residuals(x)
        return (r * r).sum()

    def fun_and_grad(self, v: np.ndarray) -> tuple[float, np.ndarray]:
        """f and ∇f at a NumPy point through chainrule's autograd (for SciPy)."""
        x = cr.tensor(np.asarray(v, dtype=np.float64), dtype=F64, requires_grad=True)
        loss = self.f(x)
        loss.backward()
        return float(loss.item()), np.array(x.grad.numpy(), dtype=np.float64)

    def reached(self, value: float, zero_tol: float = 1e-10, rel: float = 1e-5) -> float | None:
        """The published f* (or ``other`` local minimum) that ``value`` matches, None if none:
        |f - f*| <= rel·f* for a non-zero f*, f <= zero_tol for f* = 0."""
        for fs in self.f_star + self.other:
            if (fs == 0.0 and 0.0 <= value <= zero_tol) or (
                    fs != 0.0 and abs(value - fs) <= rel * abs(fs)):
                return fs
        return None


def _stack(items: list[Any]) -> Any:
    return cr.stack([i.reshape(()) if hasattr(i, "reshape") else _t(i) for i in items])


# ---- the residuals, numbered as in the paper ---------------------------------------------------
def rosenbrock(x: Any) -> Any:  # 1
    return _stack([10 * (x[1] - x[0] ** 2), 1 - x[0]])


def freudenstein_roth(x: Any) -> Any:  # 2
    return _stack([-13 + x[0] + ((5 - x[1]) * x[1] - 2) * x[1],
                   -29 + x[0] + ((x[1] + 1) * x[1] - 14) * x[1]])


def powell_badly_scaled(x: Any) -> Any:  # 3
    return _stack([1e4 * x[0] * x[1] - 1, cr.exp(-x[0]) + cr.exp(-x[1]) - 1.0001])


def brown_badly_scaled(x: Any) -> Any:  # 4
    return _stack([x[0] - 1e6, x[1] - 2e-6, x[0] * x[1] - 2])


def beale(x: Any) -> Any:  # 5
    y = _t([1.5, 2.25, 2.625])
    i = _t([1.0, 2.0, 3.0])
    return y - x[0] * (1 - x[1] ** i)


def jennrich_sampson(x: Any, m: int = 10) -> Any:  # 6
    i = _t(np.arange(1, m + 1))
    return 2 + 2 * i - (cr.exp(i * x[0]) + cr.exp(i * x[1]))


def helical_valley(x: Any) -> Any:  # 7
    # θ = arctan(x2/x1)/(2π), plus 1/2 when x1 < 0: atan2/(2π) on x1 > 0 and on x1 < 0, x2 >= 0;
    # one more turn on x1 < 0, x2 < 0 (where atan2 lies below -π/2)
    theta = cr.atan2(x[1], x[0]) / (2 * math.pi)
    if float(x[0].item()) < 0 and float(x[1].item()) < 0:
        theta = theta + 1.0
    return _stack([10 * (x[2] - 10 * theta), 10 * (cr.sqrt(x[0] ** 2 + x[1] ** 2) - 1), x[2]])


BARD_Y = [0.14, 0.18, 0.22, 0.25, 0.29, 0.32, 0.35, 0.39, 0.37, 0.58, 0.73, 0.96, 1.34, 2.10,
          4.39]


def bard(x: Any) -> Any:  # 8
    u = np.arange(1, 16, dtype=np.float64)
    v = 16 - u
    w = np.minimum(u, v)
    return _t(BARD_Y) - (x[0] + _t(u) / (_t(v) * x[1] + _t(w) * x[2]))


GAUSSIAN_Y = [0.0009, 0.0044, 0.0175, 0.0540, 0.1295, 0.2420, 0.3521, 0.3989, 0.3521, 0.2420,
              0.1295, 0.0540, 0.0175, 0.0044, 0.0009]


def gaussian(x: Any) -> Any:  # 9
    t = _t((8 - np.arange(1, 16)) / 2)
    return x[0] * cr.exp(-x[1] * (t - x[2]) ** 2 / 2) - _t(GAUSSIAN_Y)


MEYER_Y = [34780, 28610, 23650, 19630, 16370, 13720, 11540, 9744, 8261, 7030, 6005, 5147, 4427,
           3820, 3307, 2872]


def meyer(x: Any) -> Any:  # 10
    t = _t(45 + 5 * np.arange(1, 17))
    return x[0] * cr.exp(x[1] / (t + x[2])) - _t(MEYER_Y)


def gulf(x: Any, m: int = 99) -> Any:  # 11
    t = np.arange(1, m + 1) / 100
    y = 25 + (-50 * np.log(t)) ** (2 / 3)
    return cr.exp(-((_t(y) - x[1]).abs() ** x[2]) / x[0]) - _t(t)


def box3d(x: Any, m: int = 10) -> Any:  # 12
    t = np.arange(1, m + 1) * 0.1
    tt = _t(t)
    return (cr.exp(-tt * x[0]) - cr.exp(-tt * x[1])
            - x[2] * _t(np.exp(-t) - np.exp(-10 * t)))


def powell_singular(x: Any) -> Any:  # 13
    return _stack([x[0] + 10 * x[1], math.sqrt(5) * (x[2] - x[3]), (x[1] - 2 * x[2]) ** 2,
                   math.sqrt(10) * (x[0] - x[3]) ** 2])


def wood(x: Any) -> Any:  # 14
    return _stack([10 * (x[1] - x[0] ** 2), 1 - x[0], math.sqrt(90) * (x[3] - x[2] ** 2),
                   1 - x[2], math.sqrt(10) * (x[1] + x[3] - 2),
                   10 ** -0.5 * (x[1] - x[3])])


KOWALIK_Y = [0.1957, 0.1947, 0.1735, 0.1600, 0.0844, 0.0627, 0.0456, 0.0342, 0.0323, 0.0235,
             0.0246]
KOWALIK_U = [4, 2, 1, 0.5, 0.25, 0.167, 0.125, 0.1, 0.0833, 0.0714, 0.0625]


def kowalik_osborne(x: Any) -> Any:  # 15
    u = _t(KOWALIK_U)
    return _t(KOWALIK_Y) - x[0] * (u * u + u * x[1]) / (u * u + u * x[2] + x[3])


def brown_dennis(x: Any, m: int = 20) -> Any:  # 16
    t = np.arange(1, m + 1) / 5
    a = x[0] + _t(t) * x[1] - _t(np.exp(t))
    b = x[2] + x[3] * _t(np.sin(t)) - _t(np.cos(t))
    return a * a + b * b


OSBORNE1_Y = [0.844, 0.908, 0.932, 0.936, 0.925, 0.908, 0.881, 0.850, 0.818, 0.784, 0.751,
              0.718, 0.685, 0.658, 0.628, 0.603, 0.580, 0.558, 0.538, 0.522, 0.506, 0.490,
              0.478, 0.467, 0.457, 0.448, 0.438, 0.431, 0.424, 0.420, 0.414, 0.411, 0.406]


def osborne1(x: Any) -> Any:  # 17
    t = _t(10 * np.arange(33))
    return _t(OSBORNE1_Y) - (x[0] + x[1] * cr.exp(-t * x[3]) + x[2] * cr.exp(-t * x[4]))


def biggs_exp6(x: Any, m: int = 13) -> Any:  # 18
    t = np.arange(1, m + 1) * 0.1
    y = np.exp(-t) - 5 * np.exp(-10 * t) + 3 * np.exp(-4 * t)
    tt = _t(t)
    return (x[2] * cr.exp(-tt * x[0]) - x[3] * cr.exp(-tt * x[1]) + x[5] * cr.exp(-tt * x[4])
            - _t(y))


OSBORNE2_Y = [1.366, 1.191, 1.112, 1.013, 0.991, 0.885, 0.831, 0.847, 0.786, 0.725, 0.746,
              0.679, 0.608, 0.655, 0.616, 0.606, 0.602, 0.626, 0.651, 0.724, 0.649, 0.649,
              0.694, 0.644, 0.624, 0.661, 0.612, 0.558, 0.533, 0.495, 0.500, 0.423, 0.395,
              0.375, 0.372, 0.391, 0.396, 0.405, 0.428, 0.429, 0.523, 0.562, 0.607, 0.653,
              0.672, 0.708, 0.633, 0.668, 0.645, 0.632, 0.591, 0.559, 0.597, 0.625, 0.739,
              0.710, 0.729, 0.720, 0.636, 0.581, 0.428, 0.292, 0.162, 0.098, 0.054]


def osborne2(x: Any) -> Any:  # 19
    t = _t(np.arange(65) / 10)
    return _t(OSBORNE2_Y) - (x[0] * cr.exp(-t * x[4]) + x[1] * cr.exp(-(t - x[8]) ** 2 * x[5])
                             + x[2] * cr.exp(-(t - x[9]) ** 2 * x[6])
                             + x[3] * cr.exp(-(t - x[10]) ** 2 * x[7]))


def watson(x: Any) -> Any:  # 20
    n = x.shape[0]
    t = np.arange(1, 30) / 29
    j = np.arange(1, n + 1)
    # Σ_{j>=2} (j-1) x_j t^(j-2)  and  Σ_j x_j t^(j-1), as matrix–vector products
    d_mat = _t((j[1:] - 1) * t[:, None] ** (j[1:] - 2))
    v_mat = _t(t[:, None] ** (j - 1))
    s2 = v_mat @ x
    r = d_mat @ x[1:] - s2 * s2 - 1
    return cr.cat([r, _stack([x[0], x[1] - x[0] ** 2 - 1])])


def extended_rosenbrock(x: Any) -> Any:  # 21
    odd, even = x[0::2], x[1::2]
    return cr.cat([10 * (even - odd * odd), 1 - odd])


def extended_powell(x: Any) -> Any:  # 22
    a, b, c, d = x[0::4], x[1::4], x[2::4], x[3::4]
    return cr.cat([a + 10 * b, math.sqrt(5) * (c - d), (b - 2 * c) ** 2,
                   math.sqrt(10) * (a - d) ** 2])


def penalty1(x: Any) -> Any:  # 23
    return cr.cat([math.sqrt(1e-5) * (x - 1), ((x * x).sum() - 0.25).reshape(1)])


def penalty2(x: Any) -> Any:  # 24
    n = x.shape[0]
    sa = math.sqrt(1e-5)
    i = np.arange(2, n + 1)
    y = np.exp(i / 10) + np.exp((i - 1) / 10)
    e = cr.exp(x / 10)
    weights = _t(np.arange(n, 0, -1))
    return cr.cat([(x[0] - 0.2).reshape(1), sa * (e[1:] + e[:-1] - _t(y)),
                   sa * (e[1:] - math.exp(-0.1)),
                   ((weights * x * x).sum() - 1).reshape(1)])


def variably_dimensioned(x: Any) -> Any:  # 25
    n = x.shape[0]
    s = (_t(np.arange(1, n + 1)) * (x - 1)).sum()
    return cr.cat([x - 1, s.reshape(1), (s * s).reshape(1)])


def trigonometric(x: Any) -> Any:  # 26
    n = x.shape[0]
    i = _t(np.arange(1, n + 1))
    return n - cr.cos(x).sum() + i * (1 - cr.cos(x)) - cr.sin(x)


def brown_almost_linear(x: Any) -> Any:  # 27
    n = x.shape[0]
    return cr.cat([x[:-1] + x.sum() - (n + 1), (x.prod() - 1).reshape(1)])


def discrete_boundary_value(x: Any) -> Any:  # 28
    n = x.shape[0]
    h = 1 / (n + 1)
    t = _t(np.arange(1, n + 1) * h)
    zero = _t([0.0])
    left, right = cr.cat([zero, x[:-1]]), cr.cat([x[1:], zero])
    return 2 * x - left - right + h * h * (x + t + 1) ** 3 / 2


def broyden_tridiagonal(x: Any) -> Any:  # 30
    zero = _t([0.0])
    left, right = cr.cat([zero, x[:-1]]), cr.cat([x[1:], zero])
    return (3 - 2 * x) * x - left - 2 * right + 1


def broyden_banded(x: Any, ml: int = 5, mu: int = 1) -> Any:  # 31
    n = x.shape[0]
    band = np.zeros((n, n))
    for i in range(n):
        for j in range(max(0, i - ml), min(n, i + mu + 1)):
            if j != i:
                band[i, j] = 1.0
    return x * (2 + 5 * x * x) + 1 - _t(band) @ (x * (1 + x))


def chebyquad(x: Any) -> Any:  # 35
    n = x.shape[0]
    # shifted Chebyshev polynomials on [0, 1]: T0 = 1, T1 = y = 2x - 1, T_{k+1} = 2y T_k - T_{k-1}
    y = 2 * x - 1
    prev, cur = cr.ones_like(y), y
    rows = []
    for i in range(1, n + 1):
        exact = 0.0 if i % 2 else -1.0 / (i * i - 1)
        rows.append(cur.mean() - exact)
        prev, cur = cur, 2 * y * cur - prev
    return cr.stack(rows)


def _ext_rosen_x0(n: int) -> list[float]:
    return [-1.2, 1.0] * (n // 2)


def _boundary_x0(n: int) -> list[float]:
    t = np.arange(1, n + 1) / (n + 1)
    return list(t * (t - 1))


PROBLEMS: list[MGH] = [
    MGH(1, "rosenbrock", rosenbrock, [-1.2, 1.0], (0.0,)),
    MGH(2, "freudenstein_roth", freudenstein_roth, [0.5, -2.0], (0.0, 48.9842),
        "48.9842 is the published local minimum near (11.41, -0.8968)"),
    MGH(3, "powell_badly_scaled", powell_badly_scaled, [0.0, 1.0], (0.0,)),
    MGH(4, "brown_badly_scaled", brown_badly_scaled, [1.0, 1.0], (0.0,)),
    MGH(5, "beale", beale, [1.0, 1.0], (0.0,)),
    MGH(6, "jennrich_sampson", jennrich_sampson, [0.3, 0.4], (124.362,), "m = 10"),
    MGH(7, "helical_valley", helical_valley, [-1.0, 0.0, 0.0], (0.0,)),
    MGH(8, "bard", bard, [1.0, 1.0, 1.0], (8.21487e-3, 17.4286),
        "17.4286 is approached as x2, x3 → -∞"),
    MGH(9, "gaussian", gaussian, [0.4, 1.0, 0.0], (1.12793e-8,)),
    MGH(10, "meyer", meyer, [0.02, 4000.0, 250.0], (87.9458,)),
    MGH(11, "gulf", gulf, [5.0, 2.5, 0.15], (0.0,), "m = 99"),
    MGH(12, "box3d", box3d, [0.0, 10.0, 20.0], (0.0,), "m = 10"),
    MGH(13, "powell_singular", powell_singular, [3.0, -1.0, 0.0, 1.0], (0.0,)),
    MGH(14, "wood", wood, [-3.0, -1.0, -3.0, -1.0], (0.0,)),
    MGH(15, "kowalik_osborne", kowalik_osborne, [0.25, 0.39, 0.415, 0.39], (3.07505e-4,)),
    MGH(16, "brown_dennis", brown_dennis, [25.0, 5.0, -5.0, -1.0], (85822.2,), "m = 20"),
    MGH(17, "osborne1", osborne1, [0.5, 1.5, -1.0, 0.01, 0.02], (5.46489e-5,)),
    MGH(18, "biggs_exp6", biggs_exp6, [1.0, 2.0, 1.0, 1.0, 1.0, 1.0], (0.0, 5.65565e-3),
        "m = 13; 5.65565e-3 is the published local minimum"),
    MGH(19, "osborne2", osborne2, [1.3, 0.65, 0.65, 0.7, 0.6, 3.0, 5.0, 7.0, 2.0, 4.5, 5.5],
        (4.01377e-2,)),
    MGH(20, "watson", watson, [0.0] * 6, (2.28767e-3,), "n = 6"),
    MGH(21, "extended_rosenbrock", extended_rosenbrock, _ext_rosen_x0(10), (0.0,)),
    MGH(22, "extended_powell", extended_powell, [3.0, -1.0, 0.0, 1.0] * 3, (0.0,)),
    MGH(23, "penalty1", penalty1, [1.0, 2.0, 3.0, 4.0], (2.24997e-5,), "n = 4"),
    MGH(23, "penalty1", penalty1, [float(j) for j in range(1, 11)], (7.08765e-5,), "n = 10"),
    MGH(24, "penalty2", penalty2, [0.5] * 4, (9.37629e-6,), "n = 4"),
    MGH(24, "penalty2", penalty2, [0.5] * 10, (2.93660e-4,), "n = 10"),
    MGH(25, "variably_dimensioned", variably_dimensioned, [1 - j / 10 for j in range(1, 11)],
        (0.0,)),
    MGH(26, "trigonometric", trigonometric, [0.1] * 10, (0.0,),
        "from x0 every solver here (SciPy's BFGS included) ends at the local minimum "
        "2.79506e-5, which the paper does not list", other=(2.79506e-5,)),
    MGH(27, "brown_almost_linear", brown_almost_linear, [0.5] * 10, (0.0, 1.0),
        "1 is the published local minimum (x = (0, ..., 0, n + 1))"),
    MGH(28, "discrete_boundary_value", discrete_boundary_value, _boundary_x0(10), (0.0,)),
    MGH(30, "broyden_tridiagonal", broyden_tridiagonal, [-1.0] * 10, (0.0,)),
    MGH(31, "broyden_banded", broyden_banded, [-1.0] * 10, (0.0,)),
    MGH(35, "chebyquad", chebyquad, [j / 9 for j in range(1, 9)], (3.51687e-3,), "n = m = 8"),
    MGH(35, "chebyquad", chebyquad, [j / 8 for j in range(1, 8)], (0.0,), "n = m = 7"),
]
