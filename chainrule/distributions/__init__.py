"""``chainrule.distributions``: PyTorch's ``torch.distributions`` (Normal, Uniform,
MultivariateNormal, Independent, Beta, Bernoulli, Categorical and ``kl_divergence``), built on
differentiable Tensor ops so ``log_prob``, ``entropy``, ``rsample`` and ``kl_divergence`` carry
gradients to the parameters.

Example (REINFORCE)::

    m = Categorical(logits=policy(state))
    action = m.sample()
    loss = -m.log_prob(action) * reward
"""

from chainrule.distributions import (
    constraint_registry,
    constraints,
    kl_extra,  # noqa: F401 - registers the KL pairs
    transforms,
    utils,
)
from chainrule.distributions.constraint_registry import biject_to, transform_to
from chainrule.distributions.continuous import (
    Beta,
    Independent,
    MultivariateNormal,
    Normal,
    Uniform,
)
from chainrule.distributions.continuous_bernoulli import ContinuousBernoulli
from chainrule.distributions.counts import (
    Binomial,
    Geometric,
    OneHotCategorical,
    OneHotCategoricalStraightThrough,
    Poisson,
)
from chainrule.distributions.discrete import Bernoulli, Categorical
from chainrule.distributions.distribution import Distribution
from chainrule.distributions.gamma import Chi2, Dirichlet, Exponential, Gamma
from chainrule.distributions.kl import kl_divergence, register_kl
from chainrule.distributions.location_scale import Cauchy, Laplace, StudentT
from chainrule.distributions.lowrank_multivariate_normal import LowRankMultivariateNormal
from chainrule.distributions.mixture_same_family import MixtureSameFamily
from chainrule.distributions.more_families import (
    InverseGamma,
    Kumaraswamy,
    LogisticNormal,
    Pareto,
    VonMises,
    Weibull,
)
from chainrule.distributions.multinomial import Multinomial, NegativeBinomial
from chainrule.distributions.relaxed import (
    ExpRelaxedCategorical,
    LogitRelaxedBernoulli,
    RelaxedBernoulli,
    RelaxedOneHotCategorical,
)
from chainrule.distributions.transformed_distribution import (
    Gumbel,
    HalfNormal,
    LogNormal,
    TransformedDistribution,
)

__all__ = ["Distribution", "Normal", "Beta", "Uniform", "MultivariateNormal", "Independent",
           "Bernoulli", "Categorical", "kl_divergence", "register_kl", "constraints",
           "transforms", "Gamma", "Chi2", "Exponential", "Dirichlet", "Laplace", "Cauchy",
           "StudentT", "Poisson", "Binomial", "Geometric", "OneHotCategorical",
           "OneHotCategoricalStraightThrough", "TransformedDistribution", "LogNormal", "Gumbel",
           "HalfNormal", "LogitRelaxedBernoulli", "RelaxedBernoulli", "ExpRelaxedCategorical",
           "RelaxedOneHotCategorical", "MixtureSameFamily", "LowRankMultivariateNormal",
           "ContinuousBernoulli", "Multinomial", "NegativeBinomial", "Weibull", "Pareto",
           "Kumaraswamy", "InverseGamma", "LogisticNormal", "VonMises", "biject_to",
           "transform_to", "constraint_registry"]
