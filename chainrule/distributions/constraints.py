"""The constraint objects of ``torch.distributions.constraints`` that chainrule's
distributions use (``support`` and ``arg_constraints``)."""

from chainrule.distributions._support import (  # noqa: F401 - re-exported names
    greater_than,
    greater_than_eq,
    half_open_interval,
    independent,
    integer_interval,
    interval,
    less_than,
    nonnegative,
    nonnegative_integer,
    one_hot,
)
from chainrule.distributions.distribution import (  # noqa: F401 - re-exported names
    Constraint,
    boolean,
    lower_cholesky,
    positive,
    positive_definite,
    real,
    real_vector,
    simplex,
    unit_interval,
)
