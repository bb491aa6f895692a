"""REINFORCE on a small corridor world (pytorch/examples reinforcement_learning layout).

Idioms: ``from torch.distributions import Categorical``, ``m = Categorical(probs)``,
``action = m.sample()``, ``m.log_prob(action)`` saved per step, discounted returns built
backwards and inserted at the front, ``eps = torch.finfo(torch.float32).eps``,
``(returns - returns.mean()) / (returns.std() + eps)``, ``torch.cat(policy_loss).sum()``,
``torch.from_numpy(state).float().unsqueeze(0)``, ``del policy.rewards[:]``.
"""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.distributions import Categorical

N_CELLS, GOAL = 7, 6


class Corridor:
    """Start in cell 0; actions left/right; reward 1 at the goal, -0.01 per step, 20 steps."""

    def reset(self):
        self.pos, self.t = 0, 0
        return self.obs()

    def obs(self):
        return np.eye(N_CELLS, dtype=np.float32)[self.pos]

    def step(self, action):
        self.pos = min(max(self.pos + (1 if action == 1 else -1), 0), N_CELLS - 1)
        self.t += 1
        done = self.pos == GOAL or self.t >= 20
        return self.obs(), (1.0 if self.pos == GOAL else -0.01), done


class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.affine1 = nn.Linear(N_CELLS, 32)
        self.affine2 = nn.Linear(32, 2)
        self.saved_log_probs = []
        self.rewards = []

    def forward(self, x):
        return F.softmax(self.affine2(F.relu(self.affine1(x))), dim=1)


torch.manual_seed(543)
policy = Policy()
optimizer = optim.Adam(policy.parameters(), lr=1e-2)
eps = torch.finfo(torch.float32).eps
env, gamma = Corridor(), 0.99


def select_action(state):
    state = torch.from_numpy(state).float().unsqueeze(0)
    m = Categorical(policy(state))
    action = m.sample()
    policy.saved_log_probs.append(m.log_prob(action))
    return action.item()


lengths = []
for episode in range(150):
    state, done = env.reset(), False
    while not done:
        state, reward, done = env.step(select_action(state))
        policy.rewards.append(reward)
    lengths.append(len(policy.rewards))
    R, returns = 0.0, []
    for r in policy.rewards[::-1]:
        R = r + gamma * R
        returns.insert(0, R)
    returns = torch.tensor(returns)
    returns = (returns - returns.mean()) / (returns.std() + eps)
    policy_loss = [-log_prob * R for log_prob, R in zip(policy.saved_log_probs, returns)]
    optimizer.zero_grad()
    torch.cat(policy_loss).sum().backward()
    optimizer.step()
    del policy.rewards[:]
    del policy.saved_log_probs[:]

# The shortest path takes 6 steps.
print(f"METRIC mean_episode_length_last_20 {sum(lengths[-20:]) / 20:.2f}")
