"""Soft actor-critic pieces as CleanRL / Spinning Up write them, on a continuous contextual
bandit (one-step episodes, so the critic is a plain regression).

Idioms: an actor with ``register_buffer("action_scale", ...)`` / ``action_bias``, ``log_std``
squashed by ``torch.tanh`` into ``[LOG_STD_MIN, LOG_STD_MAX]``, ``Normal(mean, std).rsample()``,
``y_t = torch.tanh(x_t)``, the change-of-variables correction
``log_prob -= torch.log(action_scale * (1 - y_t.pow(2)) + 1e-6)`` then ``.sum(1, keepdim=True)``,
checked against ``TransformedDistribution(Normal, [TanhTransform(cache_size=1)])``; twin Q
networks with ``torch.min(q1, q2)``; automatic entropy tuning with ``log_alpha =
torch.zeros(1, requires_grad=True)``, ``target_entropy = -torch.prod(torch.Tensor(shape))
.item()`` and its own Adam; Polyak averaging with ``target_param.data.copy_(tau * param.data +
(1 - tau) * target_param.data)``; ``Normal.entropy`` and ``kl_divergence`` of two Normals.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.distributions import Normal, TransformedDistribution, kl_divergence
from torch.distributions.transforms import TanhTransform

torch.manual_seed(0)
g = torch.Generator().manual_seed(0)
LOG_STD_MIN, LOG_STD_MAX = -5, 2
OBS, ACT = 3, 2
low, high = torch.tensor([-2.0, -1.0]), torch.tensor([2.0, 1.0])


def best_action(obs):
    """The reward peaks at a = clip(W obs) (inside the bounds)."""
    W = torch.tensor([[0.8, -0.5, 0.3], [0.2, 0.4, -0.6]])
    return torch.clamp(obs @ W.T, low * 0.9, high * 0.9)


def reward(obs, act):
    return -((act - best_action(obs)) ** 2).sum(1, keepdim=True)


class SoftQNetwork(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(OBS + ACT, 64)
        self.fc2 = nn.Linear(64, 64)
        self.fc3 = nn.Linear(64, 1)

    def forward(self, x, a):
        x = torch.cat([x, a], 1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


class Actor(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(OBS, 64)
        self.fc2 = nn.Linear(64, 64)
        self.fc_mean = nn.Linear(64, ACT)
        self.fc_logstd = nn.Linear(64, ACT)
        self.register_buffer("action_scale", (high - low) / 2.0)
        self.register_buffer("action_bias", (high + low) / 2.0)

    def forward(self, x):
        x = F.relu(self.fc2(F.relu(self.fc1(x))))
        mean = self.fc_mean(x)
        log_std = torch.tanh(self.fc_logstd(x))
        log_std = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (log_std + 1)
        return mean, log_std

    def get_action(self, x):
        mean, log_std = self(x)
        std = log_std.exp()
        normal = torch.distributions.Normal(mean, std)
        x_t = normal.rsample()
        y_t = torch.tanh(x_t)
        action = y_t * self.action_scale + self.action_bias
        log_prob = normal.log_prob(x_t)
        log_prob -= torch.log(self.action_scale * (1 - y_t.pow(2)) + 1e-6)
        log_prob = log_prob.sum(1, keepdim=True)
        mean_action = torch.tanh(mean) * self.action_scale + self.action_bias
        return action, log_prob, mean_action, x_t


actor, qf1, qf2 = Actor(), SoftQNetwork(), SoftQNetwork()
qf1_target, qf2_target = SoftQNetwork(), SoftQNetwork()
qf1_target.load_state_dict(qf1.state_dict())
qf2_target.load_state_dict(qf2.state_dict())
q_optimizer = torch.optim.Adam(list(qf1.parameters()) + list(qf2.parameters()), lr=3e-3)
actor_optimizer = torch.optim.Adam(list(actor.parameters()), lr=1e-3)
target_entropy = -torch.prod(torch.Tensor((ACT,))).item()
log_alpha = torch.zeros(1, requires_grad=True)
alpha = log_alpha.exp().item()
a_optimizer = torch.optim.Adam([log_alpha], lr=3e-3)
tau = 0.05

# the hand-written squashed log-density equals the library's transformed distribution
obs = torch.randn(5, OBS, generator=g)
mean, log_std = actor(obs)
_, logp, _, x_t = actor.get_action(obs)
squashed = TransformedDistribution(Normal(mean, log_std.exp()), [TanhTransform(cache_size=1)])
ref = squashed.log_prob(torch.tanh(x_t)).sum(1, keepdim=True) - torch.log(actor.action_scale).sum()
density_err = (logp - ref).abs().max().item()

for step in range(300):
    obs = torch.randn(64, OBS, generator=g)
    with torch.no_grad():
        act, _, _, _ = actor.get_action(obs)
        r = reward(obs, act)
    # one-step episodes: the Bellman target is the reward itself
    qf_loss = F.mse_loss(qf1(obs, act), r) + F.mse_loss(qf2(obs, act), r)
    q_optimizer.zero_grad()
    qf_loss.backward()
    q_optimizer.step()
    if step % 2 == 0:
        pi, log_pi, _, _ = actor.get_action(obs)
        min_qf_pi = torch.min(qf1(obs, pi), qf2(obs, pi))
        actor_loss = ((alpha * log_pi) - min_qf_pi).mean()
        actor_optimizer.zero_grad()
        actor_loss.backward()
        actor_optimizer.step()
        with torch.no_grad():
            _, log_pi, _, _ = actor.get_action(obs)
        alpha_loss = (-log_alpha.exp() * (log_pi + target_entropy)).mean()
        a_optimizer.zero_grad()
        alpha_loss.backward()
        a_optimizer.step()
        alpha = log_alpha.exp().item()
    for param, target_param in zip(qf1.parameters(), qf1_target.parameters()):
        target_param.data.copy_(tau * param.data + (1 - tau) * target_param.data)
    for param, target_param in zip(qf2.parameters(), qf2_target.parameters()):
        target_param.data.copy_(tau * param.data + (1 - tau) * target_param.data)

obs = torch.randn(500, OBS, generator=g)
with torch.no_grad():
    _, _, mean_action, _ = actor.get_action(obs)
    err = (mean_action - best_action(obs)).abs().mean().item()
    m, s = actor(obs)
    ent = Normal(m, s.exp()).entropy().mean().item()
    kl = kl_divergence(Normal(m, s.exp()), Normal(torch.zeros_like(m), 1.0)).mean().item()
assert density_err < 1e-4, density_err
assert ent == ent and kl >= 0
print(f"METRIC mean_action_error {err:.4f}")
