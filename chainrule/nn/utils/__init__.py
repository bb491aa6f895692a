"""``chainrule.nn.utils``: gradient clipping, parameter/vector conversion, explicit penalties,
the max-norm constraint, parametrizations (``parametrize``, ``parametrizations``) and the legacy
``weight_norm`` / ``spectral_norm`` hooks."""

from chainrule.nn.utils import parametrizations, parametrize, rnn, stateless
from chainrule.nn.utils.clip_grad import (
    clip_grad_norm,
    clip_grad_norm_,
    clip_grad_value_,
    clip_grads_with_norm_,
    get_total_norm,
)
from chainrule.nn.utils.convert_parameters import parameters_to_vector, vector_to_parameters
from chainrule.nn.utils.fusion import (
    fuse_conv_bn_eval,
    fuse_conv_bn_weights,
    fuse_linear_bn_eval,
    fuse_linear_bn_weights,
)
from chainrule.nn.utils.init import skip_init
from chainrule.nn.utils.penalty import elastic_net_penalty, l1_penalty, l2_penalty, max_norm_
from chainrule.nn.utils.spectral_norm import remove_spectral_norm, spectral_norm
from chainrule.nn.utils.weight_norm import remove_weight_norm, weight_norm

__all__ = [
    "clip_grad_norm_", "clip_grad_norm", "clip_grad_value_", "clip_grads_with_norm_",
    "get_total_norm", "parameters_to_vector", "vector_to_parameters", "l1_penalty",
    "l2_penalty", "elastic_net_penalty", "max_norm_", "weight_norm", "remove_weight_norm",
    "spectral_norm", "remove_spectral_norm", "parametrize", "parametrizations", "stateless",
    "fuse_conv_bn_eval", "fuse_conv_bn_weights", "fuse_linear_bn_eval", "fuse_linear_bn_weights",
    "prune", "skip_init",
]


def __getattr__(name: str) -> object:
    if name == "prune":  # (imported on first use)
        import importlib

        return importlib.import_module("chainrule.nn.utils.prune")
    raise AttributeError(f"module 'chainrule.nn.utils' has no attribute {name!r}")
