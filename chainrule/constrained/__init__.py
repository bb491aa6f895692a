"""Constrained optimization: problems, KKT conditions, solvers, duality, constrained training.

Every problem in this package has the standard form

    minimize  f(x)   subject to   h(x) = 0,   g(x) <= 0,   lb <= x <= ub

over one or several tensors ``x`` (the functions are written with chainrule operations, so
their gradients, Jacobians and Hessians come from chainrule's own autograd).

Sign convention, used everywhere in the package (solvers, reports, duals, ``Lagrangian``):

    L(x, λ, μ) = f(x) + λᵀ h(x) + μᵀ g(x),      μ >= 0.

Bounds are inequality constraints too: they are appended after the user's ``g`` as the rows
``lb - x <= 0`` (finite lower bounds, in flat order) then ``x - ub <= 0`` (finite upper bounds),
so ``μ`` always has ``problem.n_ineq`` entries: the user's, then the lower, then the upper bounds.
A constraint written ``a(x) >= 0`` therefore enters as ``g = -a(x) <= 0``; its multiplier is
the same non-negative number that textbooks using ``L = f - μᵀa`` report.

The first-order (KKT) conditions for a local minimum x* (under a constraint qualification):

    ∇f(x*) + ∇h(x*)ᵀ λ + ∇g(x*)ᵀ μ = 0      stationarity
    h(x*) = 0,  g(x*) <= 0                 primal feasibility
    μ >= 0                                 dual feasibility
    μᵢ gᵢ(x*) = 0                          complementary slackness

``KKTReport`` measures each of these; every solver returns one with the multipliers.

Example::

    import chainrule as cr
    from chainrule import constrained

    G = cr.tensor([[6.0, 2, 1], [2, 5, 2], [1, 2, 4]], dtype=cr.float64)
    c = cr.tensor([-8.0, -3, -3], dtype=cr.float64)
    prob = constrained.Problem(lambda x: 0.5 * x @ (G @ x) + c @ x, cr.zeros(3, dtype=cr.float64),
                               eq=lambda x: cr.stack([x[0] + x[2] - 3, x[1] + x[2]]))
    sol = constrained.newton_kkt(prob)          # exact in one step on a QP
    sol.x, sol.lam                              # (2, -1, 1), (-3, 2)
    print(sol.kkt)
"""

from chainrule.constrained.dual import (
    SVC,
    dual_ascent,
    dual_function,
    lagrangian_minimizer,
)
from chainrule.constrained.kkt import KKTReport, kkt_report
from chainrule.constrained.lagrangian import Constraint, Lagrangian, PrimalDual
from chainrule.constrained.problem import LinearProblem, Problem, QuadraticProblem
from chainrule.constrained.projections import (
    SimplexProjection,
    project_box,
    project_l1_ball,
    project_l2_ball,
    project_simplex,
)
from chainrule.constrained.solvers import (
    Solution,
    augmented_lagrangian,
    estimate_multipliers,
    interior_point,
    newton_kkt,
    projected_gradient,
    solve,
)

__all__ = [
    "SVC", "Constraint", "KKTReport", "Lagrangian", "LinearProblem", "PrimalDual", "Problem",
    "QuadraticProblem", "SimplexProjection", "Solution", "augmented_lagrangian", "dual_ascent",
    "dual_function", "estimate_multipliers", "interior_point", "kkt_report",
    "lagrangian_minimizer", "newton_kkt", "project_box", "project_l1_ball", "project_l2_ball",
    "project_simplex", "projected_gradient", "solve",
]
