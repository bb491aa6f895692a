"""``nn.AdaptiveLogSoftmaxWithLoss``: the adaptive softmax of Grave et al. (2017), "Efficient
softmax approximation for GPUs", with PyTorch's constructor, parameters and outputs.

The classes are split by ``cutoffs = [c_1, ..., c_k]`` into a shortlist [0, c_1) and clusters
[c_i, c_{i+1}) (c_{k+1} = n_classes). The head is a linear map to c_1 + k logits: one per
shortlist class and one per cluster. Cluster i has its own two-layer bottleneck
``Linear(in, in // div_value**(i+1)) -> Linear(.., c_{i+1} - c_i)``. Then

    log p(y | x) = log_softmax(head(x))[y]                              (y in the shortlist)
    log p(y | x) = log_softmax(head(x))[c_1 + i] + log_softmax(tail_i(x))[y - c_i]   (cluster i)

Example::

    asm = nn.AdaptiveLogSoftmaxWithLoss(64, 1000, cutoffs=[20, 200])
    out, loss = asm(hidden, targets)        # out[n] = log p(targets[n] | hidden[n])
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.nn.modules.container import ModuleList, Sequential
from chainrule.nn.modules.linear import Linear
from chainrule.nn.modules.module import Module
from chainrule.tensor import Tensor

__all__ = ["AdaptiveLogSoftmaxWithLoss"]

_ASMoutput = namedtuple("_ASMoutput", ["output", "loss"])


def _check_cutoffs(cutoffs: Sequence[int], n_classes: int) -> list[int]:
    """The cutoffs as a list, or PyTorch's ValueError for an empty, unsorted, repeated,
    non-integer or out-of-range sequence."""
    cutoffs = list(cutoffs)
    if len(cutoffs) == 0:
        raise ValueError("cutoffs should be a sequence of length larger than 0")
    if (cutoffs != sorted(cutoffs) or min(cutoffs) <= 0 or max(cutoffs) > n_classes - 1
            or len(set(cutoffs)) != len(cutoffs) or any(int(c) != c for c in cutoffs)):
        raise ValueError("cutoffs should be a sequence of unique, positive integers sorted in "
                         "an increasing order, where each value is between 1 and n_classes-1")
    return [int(c) for c in cutoffs]


class AdaptiveLogSoftmaxWithLoss(Module):
    """Adaptive softmax (see the module docstring); ``forward(input, target)`` returns the
    namedtuple ``(output, loss)`` with output[n] = log p(target[n] | input[n]) and
    loss = -mean(output); :meth:`log_prob` gives the full (N, n_classes) log-probabilities and
    :meth:`predict` the most likely class."""

    def __init__(self, in_features: int, n_classes: int, cutoffs: Sequence[int],
                 div_value: float = 4.0, head_bias: bool = False, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        cuts = _check_cutoffs(cutoffs, n_classes)
        self.in_features, self.n_classes = in_features, n_classes
        self.cutoffs = cuts + [n_classes]
        self.div_value, self.head_bias = div_value, head_bias
        self.shortlist_size = self.cutoffs[0]
        self.n_clusters = len(self.cutoffs) - 1
        self.head_size = self.shortlist_size + self.n_clusters
        self.head = Linear(in_features, self.head_size, bias=head_bias, device=device,
                           dtype=dtype)
        self.tail = ModuleList()
        for i in range(self.n_clusters):
            # the bottleneck shrinks by div_value per cluster: rarer classes get fewer units
            hidden = int(in_features // (div_value ** (i + 1)))
            size = self.cutoffs[i + 1] - self.cutoffs[i]
            self.tail.append(Sequential(
                Linear(in_features, hidden, bias=False, device=device, dtype=dtype),
                Linear(hidden, size, bias=False, device=device, dtype=dtype)))

    def reset_parameters(self) -> None:
        """Re-draw every weight with Linear's default initialisation."""
        self.head.reset_parameters()
        for to_hidden, to_out in self.tail:
            to_hidden.reset_parameters()
            to_out.reset_parameters()

    def forward(self, input: Tensor, target: Tensor) -> _ASMoutput:
        """(output, loss): output[n] = log p(target[n] | input[n]), loss = -mean(output).
        A 0-d target takes a 1-d input (one sample)."""
        tdim = target.ndim
        if tdim == 1:
            if input.shape[0] != target.shape[0]:
                raise RuntimeError("Input and target should have the same size in the batch "
                                   "dimension.")
            if input.ndim != 2:
                raise RuntimeError(f"1D target tensor expects 2D input tensors, but found "
                                   f"inputs with size {tuple(input.shape)}")
        elif tdim == 0:
            if input.ndim != 1:
                raise RuntimeError(f"0D target tensor expects 1D input tensors, but found "
                                   f"inputs with size {tuple(input.shape)}")
        else:
            raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
        batched = tdim > 0
        x = input if batched else input.unsqueeze(0)
        t = np.asarray(target.numpy() if batched else target.reshape(1).numpy()).astype(np.int64)
        if t.size and (t.min() < 0 or t.max() >= self.n_classes):
            raise RuntimeError(f"Target values should be in [0, {self.n_classes - 1}], but "
                               f"values in range [{t.min()}, {t.max()}] were found. ")
        # the head column each row reads: its own class in the shortlist, else its cluster's
        head_col = t.copy()
        output = x.new_zeros(t.size)
        for i in range(self.n_clusters):
            low, high = self.cutoffs[i], self.cutoffs[i + 1]
            rows = np.nonzero((t >= low) & (t < high))[0]
            if rows.size == 0:
                continue
            head_col[rows] = self.shortlist_size + i
            logp = self.tail[i](x[rows]).log_softmax(1)
            local = logp.gather(1, (t[rows] - low).reshape(-1, 1)).reshape(-1)
            output = output.index_add(0, rows, local)
        head_logp = self.head(x).log_softmax(1)
        output = output + head_logp.gather(1, head_col.reshape(-1, 1)).reshape(-1)
        loss = (-output).mean()
        return _ASMoutput(output if batched else output.squeeze(0), loss)

    def _full_log_prob(self, x: Tensor, head_out: Tensor) -> Tensor:
        """(N, n_classes) log-probabilities: the head's for the shortlist, the head's cluster
        entry plus the cluster's own log_softmax for the rest."""
        from chainrule import cat

        head_logp = head_out.log_softmax(1)
        parts = [head_logp[:, :self.shortlist_size]]
        for i in range(self.n_clusters):
            cluster = self.tail[i](x).log_softmax(1)
            parts.append(cluster + head_logp[:, self.shortlist_size + i].unsqueeze(1))
        return cat(parts, 1)

    def _check_2d(self, input: Tensor, name: str) -> None:
        if input.ndim != 2:
            raise RuntimeError(f"AdaptiveLogSoftmaxWithLoss.{name}: expected a 2-D input "
                               f"(batch, in_features), got size {tuple(input.shape)}")

    def log_prob(self, input: Tensor) -> Tensor:
        """log p(c | input[n]) for every class c: shape (N, n_classes)."""
        self._check_2d(input, "log_prob")
        return self._full_log_prob(input, self.head(input))

    def predict(self, input: Tensor) -> Tensor:
        """argmax_c log p(c | input[n]). Rows whose best head entry is a shortlist class need
        only the head (a shortlist log-probability beats every cluster's class, which is the
        cluster's head entry plus a non-positive term); the other rows get the full
        distribution."""
        self._check_2d(input, "predict")
        head_out = self.head(input)
        best = head_out.argmax(1)
        far = np.nonzero(best.numpy() >= self.shortlist_size)[0]
        if far.size == 0:
            return best
        full = self._full_log_prob(input[far], head_out[far]).argmax(1)
        out = best.numpy().copy()
        out[far] = full.numpy()
        from chainrule import tensor

        return tensor(out)
