"""Everyday tensor manipulation seen across training scripts, checked by one checksum of
deterministic results: masking, sorting and searching, scattering with reductions, dtype
queries and integer arithmetic.

Idioms: ``torch.where(cond, x, 0.0)``, ``masked_fill(mask, float('-inf'))``,
``masked_select``, ``index_fill_``, ``torch.nan_to_num``, ``torch.isin``,
``torch.searchsorted`` / ``torch.bucketize(right=True)``, ``torch.argsort(descending=True,
stable=True)``, ``topk`` / ``kthvalue`` / ``torch.median(dim)``, ``cumsum`` /
``logcumsumexp`` / ``cummax``, ``scatter_reduce(..., reduce="amax", include_self=False)``,
``index_add_``, ``torch.repeat_interleave(counts)``, ``x.dtype in (torch.float16,
torch.float32)``, ``torch.is_floating_point``, ``torch.promote_types``, ``torch.iinfo``,
``torch.div(..., rounding_mode='floor')``, ``%`` on negatives, ``torch.bitwise_and`` / ``<<``,
``x.nonzero()`` of a 0-d tensor, ``torch.log(torch.tensor(0.))`` (``-inf``, silently),
``torch.tril_indices``, ``torch.combinations``, ``torch.cartesian_prod``, ``Tensor.unfold``,
``torch.diff``, ``torch.clamp(x, min=tensor)``, ``torch.allclose``, ``torch.equal``.
"""
import warnings

import torch

warnings.simplefilter("error", RuntimeWarning)   # torch computes log(0) = -inf silently
g = torch.Generator().manual_seed(0)
x = torch.arange(24, dtype=torch.float32).reshape(4, 6) - 10.0
checks = []

checks.append(torch.where(x > 0, x, 0.0).sum())
checks.append(x.masked_fill(x < -5, float("-inf")).softmax(-1)[0].sum())
checks.append(torch.masked_select(x, x % 3 == 0).sum())
checks.append(x.clone().index_fill_(1, torch.tensor([0, 2]), -1.0).sum())
checks.append(torch.nan_to_num(torch.tensor([float("nan"), float("inf"), -1.0]),
                               nan=0.0, posinf=5.0).sum())
checks.append(torch.isin(torch.arange(10), torch.tensor([2, 3, 11])).sum())
edges = torch.tensor([-5.0, 0.0, 5.0])
checks.append(torch.searchsorted(edges, x.flatten()).sum())
checks.append(torch.bucketize(x.flatten(), edges, right=True).sum())
v = torch.tensor([3, 1, 3, 2, 1, 3])
checks.append((torch.argsort(v, descending=True, stable=True) * torch.arange(6)).sum())
vals, idx = torch.topk(x[1], k=3)
checks.append(vals.sum() + idx.sum())
checks.append(torch.kthvalue(x[2], 2).values + torch.median(x, dim=1).values.sum())
checks.append(torch.cumsum(x, dim=1)[:, -1].sum())
checks.append(torch.logcumsumexp(x[0] / 10, dim=0)[-1])
checks.append(torch.cummax(torch.tensor([1.0, 3.0, 2.0, 5.0]), dim=0).indices.sum())
src = torch.tensor([1.0, 7.0, 3.0, 4.0, 2.0])
index = torch.tensor([0, 1, 0, 1, 2])
out = torch.zeros(3).scatter_reduce(0, index, src, reduce="amax", include_self=False)
checks.append(out.sum())
checks.append(torch.zeros(3).index_add_(0, index, src).sum())
checks.append(torch.repeat_interleave(torch.tensor([2, 0, 3])).sum())
checks.append(torch.tensor(float(x.dtype in (torch.float16, torch.float32))))
checks.append(torch.tensor(float(torch.is_floating_point(x) and not torch.is_floating_point(v))))
checks.append(torch.tensor(float(torch.promote_types(torch.int32, torch.float32)
                                 == torch.float32)))
checks.append(torch.tensor(float(torch.iinfo(torch.int16).max)))
n = torch.tensor([-7, -3, 3, 7])
checks.append(torch.div(n, 2, rounding_mode="floor").sum() + (n % 3).sum())
checks.append(torch.bitwise_and(torch.tensor([12, 10]), torch.tensor([10, 6])).sum()
              + (torch.tensor([1, 2]) << 2).sum())
checks.append(torch.tensor(float(torch.tensor(5.0).nonzero().shape[0])))
checks.append(torch.exp(torch.log(torch.tensor([0.0, 1.0]))).sum())
checks.append(torch.tril_indices(4, 4, offset=-1).sum())
checks.append(torch.combinations(torch.arange(4), r=2).sum()
              + torch.cartesian_prod(torch.arange(2), torch.arange(3)).sum())
checks.append(torch.arange(10.0).unfold(0, 4, 3).sum())
checks.append(torch.diff(torch.tensor([1.0, 4.0, 9.0, 16.0]), n=2).sum())
checks.append(torch.clamp(x[0], min=torch.full((6,), -3.0)).sum())
checks.append(torch.tensor(float(torch.allclose(x, x + 1e-9)
                                 and torch.equal(x, x.clone()))))
rand = torch.rand(3, generator=g)
checks.append(torch.tensor(float(((rand >= 0) & (rand < 1)).all())))

total = sum(float(c) for c in checks)
print("checks:", len(checks))
print(f"METRIC checksum {total:.4f}")
