"""Every loss of ``torch.nn`` a training script reaches for, on fixed data, with gradients.

Idioms (module and functional spellings, non-default arguments as scripts pass them):
``HuberLoss(delta=)``, ``SmoothL1Loss(beta=)``, ``GaussianNLLLoss(full=True, eps=)``,
``PoissonNLLLoss(log_input=False, full=True)``, ``KLDivLoss(reduction="batchmean",
log_target=True)``, ``MarginRankingLoss(margin=)``, ``CosineEmbeddingLoss(margin=)``,
``HingeEmbeddingLoss``, ``SoftMarginLoss``, ``MultiLabelSoftMarginLoss(weight=)``,
``MultiMarginLoss(p=2, margin=, weight=)``, ``MultiLabelMarginLoss`` (targets padded with -1),
``BCELoss(weight=)``, ``BCEWithLogitsLoss(pos_weight=)``, ``NLLLoss(weight=, ignore_index=)``
on (N, C, d) scores, ``CrossEntropyLoss`` with class-probability targets and
``label_smoothing``, ``TripletMarginWithDistanceLoss(distance_function=, swap=True)``,
``CTCLoss(blank=0, reduction="mean", zero_infinity=True)``, ``F.l1_loss(reduction="none")``.
The metric is a checksum of the values and of the gradient norms: the same numbers must come
out (float64). The data are fixed functions of the position (the two libraries draw different
random numbers from one seed).
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
_calls = [0]


def randn(*shape):
    """A deterministic stand-in for randn: 1.5 sin(0.7 i + 1.1 k) over the k-th call."""
    _calls[0] += 1
    n = torch.Size(shape).numel()
    return 1.5 * torch.sin(torch.arange(n) * 0.7 + 1.1 * _calls[0]).reshape(shape)


def rand(*shape):
    return (randn(*shape) / 1.5 + 1.0) / 2.0


N, C = 6, 4
pred = randn(N, C).requires_grad_()
target = randn(N, C)
var = (rand(N, C) + 0.1).requires_grad_()
rate = (rand(N, C) * 3).requires_grad_()
counts = torch.floor(rand(N, C) * 5)
logp = F.log_softmax(randn(N, C), dim=1).requires_grad_()
logq = F.log_softmax(randn(N, C), dim=1)
x1, x2 = randn(N).requires_grad_(), randn(N)
sign = torch.tensor([1.0, -1.0, 1.0, 1.0, -1.0, -1.0])
e1, e2 = randn(N, 5).requires_grad_(), randn(N, 5)
labels = torch.tensor([0, 3, 1, 1, 2, 0])
multi_hot = (rand(N, C) > 0.5).double()
ml_targets = torch.tensor([[0, 2, -1, 1], [3, -1, 0, 0], [1, 2, 3, -1], [0, -1, 2, 2],
                           [2, 1, 0, 3], [-1, 0, 1, 2]])
probs = torch.sigmoid(randn(N, C)).requires_grad_()
scores3d = randn(N, C, 5).requires_grad_()
labels3d = torch.arange(N * 5).reshape(N, 5) % C
labels3d[0, 0] = -100
labels3d[2, 3] = -100
soft_targets = torch.softmax(randn(N, C), dim=1)
anchor, positive, negative = (randn(N, 5).requires_grad_() for _ in range(3))
class_w = torch.tensor([0.5, 1.0, 2.0, 1.5])

T, B, K, S = 12, 3, 5, 4
ctc_logits = randn(T, B, K).requires_grad_()
ctc_targets = torch.tensor([[1, 2, 2, 3], [4, 1, 0, 0], [3, 3, 3, 0]])
input_lengths = torch.tensor([12, 10, 3])           # the last one is too short: inf -> 0
target_lengths = torch.tensor([4, 2, 3])

losses = {
    "huber": nn.HuberLoss(delta=0.7)(pred, target),
    "smooth_l1": nn.SmoothL1Loss(beta=0.5)(pred, target),
    "gauss_nll": nn.GaussianNLLLoss(full=True, eps=1e-3)(pred, target, var),
    "poisson_nll": nn.PoissonNLLLoss(log_input=False, full=True)(rate, counts),
    "kl_div": nn.KLDivLoss(reduction="batchmean", log_target=True)(logp, logq),
    "margin_rank": nn.MarginRankingLoss(margin=0.3)(x1, x2, sign),
    "cos_embed": nn.CosineEmbeddingLoss(margin=0.2)(e1, e2, sign),
    "hinge_embed": nn.HingeEmbeddingLoss(margin=1.5)(x1, sign),
    "soft_margin": nn.SoftMarginLoss()(pred, torch.sign(target)),
    "ml_soft_margin": nn.MultiLabelSoftMarginLoss(weight=class_w)(pred, multi_hot),
    "multi_margin": nn.MultiMarginLoss(p=2, margin=0.8, weight=class_w)(pred, labels),
    "ml_margin": nn.MultiLabelMarginLoss()(pred, ml_targets),
    "bce": nn.BCELoss(weight=class_w)(probs, multi_hot),
    "bce_logits": nn.BCEWithLogitsLoss(pos_weight=class_w)(pred, multi_hot),
    "nll_3d": nn.NLLLoss(weight=class_w, ignore_index=-100)(F.log_softmax(scores3d, 1),
                                                            labels3d),
    "ce_soft": nn.CrossEntropyLoss(label_smoothing=0.1)(pred, soft_targets),
    "ce_weight_smooth": F.cross_entropy(pred, labels, weight=class_w, label_smoothing=0.2),
    "triplet_dist": nn.TripletMarginWithDistanceLoss(
        distance_function=lambda a, b: 1.0 - F.cosine_similarity(a, b), margin=0.5,
        swap=True)(anchor, positive, negative),
    "ctc": nn.CTCLoss(blank=0, reduction="mean", zero_infinity=True)(
        ctc_logits.log_softmax(2), ctc_targets, input_lengths, target_lengths),
    "l1_none_sum": F.l1_loss(pred, target, reduction="none").sum(dim=1).max(),
}

total = sum(losses.values())
total.backward()
leaves = [pred, var, rate, logp, x1, e1, probs, scores3d, anchor, positive, negative, ctc_logits]
grad_norms = sum(t.grad.norm() for t in leaves)
torch.set_default_dtype(torch.float32)          # leave the process as we found it
for name, value in losses.items():
    print(f"{name:18s} {value.item(): .8f}")
print(f"METRIC loss_checksum {total.item() + grad_norms.item():.8f}")
