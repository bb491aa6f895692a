"""Black-box variational inference with constrained parameters, Pyro-style, in plain PyTorch.

Idioms (Pyro's ``AutoNormal`` / ``AutoDelta`` guides and "VI from scratch" tutorials, which
map unconstrained tensors onto a parameter's support): ``biject_to(constraints.simplex)``
(stick breaking) and ``transform_to(constraints.positive)`` applied to ``nn.Parameter``s;
``t.log_abs_det_jacobian(u, t(u))`` added to the log joint; a ``LogisticNormal`` guide over
mixture weights (its ``rsample`` and ``log_prob``); ``Dirichlet`` and ``InverseGamma`` priors
a multinomial / ``Normal`` likelihood; ``biject_to(constraints.interval(0., 1.))``;
the Monte-Carlo ELBO maximised with ``Adam``; the fitted posterior mean compared with the exact
conjugate answer (Dirichlet-Categorical) on the same counts.
"""
import torch
from torch import nn
from torch.distributions import (
    Dirichlet,
    InverseGamma,
    LogisticNormal,
    Normal,
    biject_to,
    constraints,
    transform_to,
)

K = 4


class Guide(nn.Module):
    """q(w) = LogisticNormal(loc, scale), q(sigma2) = LogNormal by exp of a Normal."""

    def __init__(self):
        super().__init__()
        self.w_loc = nn.Parameter(torch.zeros(K - 1))
        self.w_scale_u = nn.Parameter(torch.full((K - 1,), -1.0))
        self.s_loc = nn.Parameter(torch.tensor(0.0))
        self.s_scale_u = nn.Parameter(torch.tensor(-1.0))
        self.positive = transform_to(constraints.positive)

    def q_w(self):
        return LogisticNormal(self.w_loc, self.positive(self.w_scale_u))

    def q_log_s2(self):
        return Normal(self.s_loc, self.positive(self.s_scale_u))


def main():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    true_w = torch.tensor([0.5, 0.25, 0.15, 0.10])
    labels = torch.multinomial(true_w, 400, replacement=True, generator=gen)
    values = 1.5 * torch.randn(400, generator=gen)             # true variance 2.25
    counts = torch.bincount(labels, minlength=K).float()
    prior_w, prior_s2 = Dirichlet(torch.ones(K)), InverseGamma(torch.tensor(3.0), torch.tensor(2.0))
    to_simplex = biject_to(constraints.simplex)
    to_positive = biject_to(constraints.positive)

    guide = Guide()
    opt = torch.optim.Adam(guide.parameters(), lr=0.08)
    for step in range(120):
        opt.zero_grad()
        qw, qs = guide.q_w(), guide.q_log_s2()
        w = qw.rsample((8,))                                   # (8, K) on the simplex
        u = qs.rsample((8,))
        s2 = to_positive(u)
        log_joint = (prior_w.log_prob(w) + (counts * w.log()).sum(-1)
                     + prior_s2.log_prob(s2) + to_positive.log_abs_det_jacobian(u, s2)
                     + Normal(0.0, s2.sqrt().unsqueeze(-1)).log_prob(values).sum(-1))
        elbo = (log_joint - qw.log_prob(w) - qs.log_prob(u)).mean()
        (-elbo / 400).backward()
        opt.step()

    with torch.no_grad():
        w_draws = guide.q_w().sample((4000,))
        post_mean = w_draws.mean(0)
        exact = (counts + 1) / (counts.sum() + K)               # Dirichlet(1 + counts) mean
        w_err = (post_mean - exact).abs().max().item()
        s2_mean = guide.q_log_s2().sample((4000,)).exp().mean().item()
        # the simplex bijection round-trips and the interval map lands inside (0, 1)
        z = torch.randn(5, K - 1, generator=gen)
        round_trip = (to_simplex.inv(to_simplex(z)) - z).abs().max().item()
        unit = biject_to(constraints.interval(0.0, 1.0))(z)
        inside = bool(((unit > 0) & (unit < 1)).all())
    print(f"posterior mean of w {post_mean.numpy().round(3)}, exact {exact.numpy().round(3)}, "
          f"max error {w_err:.4f}; E[sigma^2] {s2_mean:.3f} (sample var "
          f"{values.var().item():.3f}); round trip {round_trip:.1e}, inside {inside}")
    checks = float(round_trip < 1e-4) + float(inside)
    print(f"METRIC checks_minus_weight_error {checks - w_err:.4f}")


if __name__ == "__main__":
    main()
