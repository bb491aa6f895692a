"""``chainrule.distributions``: PyTorch's ``torch.distributions`` (Normal, Uniform,
MultivariateNormal, Independent, Beta, Bernoulli, Categorical and ``kl_divergence``), built on
differentiable Tensor ops so ``log_prob``, ``entropy``, ``rsample`` and ``kl_divergence`` carry
gradients to the parameters.

Example (REINFORCE)::

    m = Categorical(logits=policy(state))
    action = m.sample()
    loss = -m.log_prob(action) * reward
"""

from chainrule.distributions import constraints
from chainrule.distributions.continuous import (
    Beta,
    Independent,
    MultivariateNormal,
    Normal,
    Uniform,
)
from chainrule.distributions.discrete import Bernoulli, Categorical
from chainrule.distributions.distribution import Distribution
from chainrule.distributions.kl import kl_divergence, register_kl

__all__ = ["Distribution", "Normal", "Beta", "Uniform", "MultivariateNormal", "Independent",
           "Bernoulli", "Categorical", "kl_divergence", "register_kl", "constraints"]
