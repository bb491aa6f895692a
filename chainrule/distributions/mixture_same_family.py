"""``MixtureSameFamily``: a Categorical mixture over the rightmost batch dim of one component
distribution (PyTorch's ``torch.distributions.mixture_same_family``).

With weights π_k and components p_k: log p(x) = logsumexp_k(log π_k + log p_k(x));
mean Σ π_k μ_k; variance Σ π_k σ²_k + Σ π_k (μ_k - μ)² (the law of total variance);
cdf Σ π_k F_k(x). A draw picks k ~ π, then takes component k's draw (no rsample)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chainrule.autograd.engine import no_grad
from chainrule.backend import xp
from chainrule.distributions.discrete import Categorical
from chainrule.distributions.distribution import Distribution, as_float_tensor
from chainrule.tensor import Tensor, tensor_of

__all__ = ["MixtureSameFamily"]


class MixtureSameFamily(Distribution):
    """Mixture of ``component_distribution``'s last batch dim (size K) with weights from
    ``mixture_distribution`` (a Categorical of batch shape = the remaining batch dims)."""

    arg_constraints: dict = {}
    has_rsample = False

    def __init__(self, mixture_distribution: Categorical, component_distribution: Distribution,
                 validate_args: bool | None = None) -> None:
        if not isinstance(mixture_distribution, Categorical):
            raise ValueError(" The Mixture distribution needs to be an  instance of "
                             "torch.distributions.Categorical")
        if not isinstance(component_distribution, Distribution):
            raise ValueError("The Component distribution need to be an instance of "
                             "torch.distributions.Distribution")
        mbs = mixture_distribution.batch_shape
        cbs = component_distribution.batch_shape[:-1]
        for size1, size2 in zip(reversed(mbs), reversed(cbs)):
            if size1 != 1 and size2 != 1 and size1 != size2:
                raise ValueError(f"`mixture_distribution.batch_shape` ({mbs}) is not "
                                 f"compatible with `component_distribution.batch_shape`"
                                 f"({cbs})")
        km = mixture_distribution.logits.shape[-1]
        kc = component_distribution.batch_shape[-1]
        if km != kc:
            raise ValueError(f"`mixture_distribution component` ({km}) does not equal "
                             f"`component_distribution.batch_shape[-1]` ({kc})")
        self._mixture_distribution = mixture_distribution
        self._component_distribution = component_distribution
        self._num_component = km
        self._event_ndims = len(component_distribution.event_shape)
        super().__init__(cbs, component_distribution.event_shape, validate_args=validate_args)

    @property
    def mixture_distribution(self) -> Categorical:
        return self._mixture_distribution

    @property
    def component_distribution(self) -> Distribution:
        return self._component_distribution

    @property
    def support(self) -> Any:  # type: ignore[override]
        return self._component_distribution.support

    def _pad_weights(self, w: Tensor) -> Tensor:
        """π with singleton event dims appended, to broadcast against component stats."""
        return w.reshape(tuple(w.shape) + (1,) * self._event_ndims)

    @property
    def mean(self) -> Tensor:
        w = self._pad_weights(self._mixture_distribution.probs)
        return (w * self._component_distribution.mean).sum(-1 - self._event_ndims)

    @property
    def variance(self) -> Tensor:
        d = -1 - self._event_ndims
        w = self._pad_weights(self._mixture_distribution.probs)
        cm = self._component_distribution.mean
        within = (w * self._component_distribution.variance).sum(d)
        between = (w * (cm - self.mean.unsqueeze(d)) ** 2).sum(d)
        return within + between

    def _pad(self, x: Tensor) -> Tensor:
        return x.unsqueeze(-1 - self._event_ndims)

    def log_prob(self, x: Any) -> Tensor:
        x = as_float_tensor(x)
        if self._validate_args:
            self._validate_sample(x)
        lp = self._component_distribution.log_prob(self._pad(x))
        log_w = self._mixture_distribution.logits.log_softmax(-1)
        return (lp + log_w).logsumexp(-1)

    def cdf(self, x: Any) -> Tensor:
        x = as_float_tensor(x)
        if self._validate_args:
            self._validate_sample(x)
        c = self._component_distribution.cdf(self._pad(x))
        return (c * self._mixture_distribution.probs).sum(-1)

    def sample(self, sample_shape: Sequence[int] = (), generator: Any = None) -> Tensor:
        with no_grad():
            sample_shape = tuple(sample_shape)
            k = self._mixture_distribution.sample(sample_shape, generator).numpy()
            comp = self._component_distribution.sample(sample_shape, generator).numpy()
            # comp: sample + batch + (K,) + event; pick index k along the K axis
            axis = comp.ndim - 1 - self._event_ndims
            idx = k.reshape(k.shape + (1,) * (1 + self._event_ndims))
            idx = xp.broadcast_to(idx, comp.shape[:axis] + (1,) + comp.shape[axis + 1:])
            return tensor_of(xp.take_along_axis(comp, idx, axis=axis).squeeze(axis))

    def __repr__(self) -> str:
        return (f"MixtureSameFamily(\n  {self._mixture_distribution!r},\n  "
                f"{self._component_distribution!r})")
