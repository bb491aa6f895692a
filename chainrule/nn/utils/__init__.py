"""``chainrule.nn.utils``: gradient clipping, parameter/vector conversion, explicit penalties and
the max-norm constraint."""

from chainrule.nn.utils import rnn
from chainrule.nn.utils.clip_grad import (
    clip_grad_norm,
    clip_grad_norm_,
    clip_grad_value_,
    clip_grads_with_norm_,
    get_total_norm,
)
from chainrule.nn.utils.convert_parameters import parameters_to_vector, vector_to_parameters
from chainrule.nn.utils.penalty import elastic_net_penalty, l1_penalty, l2_penalty, max_norm_

__all__ = [
    "clip_grad_norm_", "clip_grad_norm", "clip_grad_value_", "clip_grads_with_norm_",
    "get_total_norm", "parameters_to_vector", "vector_to_parameters", "l1_penalty",
    "l2_penalty", "elastic_net_penalty", "max_norm_",
]
