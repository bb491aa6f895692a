"""Critical points and convexity, measured with chainrule's own second derivatives.

* ``classify_critical_point(f, x)``: gradient norm, Hessian eigenvalues (exact through
  ``autograd.functional.hessian`` for small problems, Lanczos on Hessian-vector products for
  large ones), a verdict (minimum / maximum / saddle / degenerate) and the index, the fraction
  of negative eigenvalues (Dauphin et al. 2014).
* ``check_convexity(f, region, samples)``: a falsifier. One negative Hessian eigenvalue (or one
  chord lying below the graph) at a sampled point disproves convexity and is returned as the
  witness; no counterexample is evidence, not proof.
* ``multistart``: runs a minimizer from many starts; a convex problem reaches one optimum from
  all of them (for a convex function every local minimum is global), an MLP does not.
"""

from chainrule.analysis.convexity import (
    ConvexityReport,
    MultistartReport,
    check_convexity,
    multistart,
)
from chainrule.analysis.critical import (
    CriticalPointReport,
    classify_critical_point,
    hessian_matrix,
    lanczos,
)

__all__ = [
    "ConvexityReport", "CriticalPointReport", "MultistartReport", "check_convexity",
    "classify_critical_point", "hessian_matrix", "lanczos", "multistart",
]
