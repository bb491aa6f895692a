"""PyTorch's module path ``torch.distributions.studentT``."""

from chainrule.distributions.location_scale import StudentT

__all__ = ["StudentT"]
