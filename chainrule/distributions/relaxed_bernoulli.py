"""PyTorch's module path ``torch.distributions.relaxed_bernoulli``."""

from chainrule.distributions.relaxed import LogitRelaxedBernoulli, RelaxedBernoulli

__all__ = ["LogitRelaxedBernoulli", "RelaxedBernoulli"]
