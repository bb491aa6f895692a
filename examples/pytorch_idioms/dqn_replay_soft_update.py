"""A DQN agent with a replay memory and a softly updated target network on a small chain
world written in plain Python.

Idioms: ``namedtuple('Transition', ...)`` + ``deque(maxlen=...)`` replay memory sampled with
``random.sample``, epsilon-greedy with ``math.exp`` decay, ``policy_net(state).max(1).indices
.view(1, 1)``, ``torch.tensor([[a]], dtype=torch.long)``, ``Transition(*zip(*transitions))``,
a ``non_final_mask`` built from ``tuple(map(lambda s: s is not None, ...))`` with
``dtype=torch.bool``, ``gather(1, action_batch)``, ``next_state_values[non_final_mask] =
target_net(...).max(1).values`` under ``torch.no_grad()``, ``nn.SmoothL1Loss``,
``optim.AdamW(..., amsgrad=True)``, ``clip_grad_value_(..., 100)``, and the soft update written
on two ``state_dict()`` dictionaries then ``target_net.load_state_dict``.
"""
import math
import random
from collections import deque, namedtuple

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim

random.seed(0)
torch.manual_seed(0)
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
N_STATES, N_ACTIONS = 6, 2          # walk left/right on a chain; reward at the right end


def env_step(s, a):
    s2 = max(0, s - 1) if a == 0 else s + 1
    if s2 == N_STATES - 1:
        return None, 1.0
    return s2, -0.01


def one_hot(s):
    v = torch.zeros(1, N_STATES, device=device)
    v[0, s] = 1.0
    return v


Transition = namedtuple("Transition", ("state", "action", "next_state", "reward"))


class ReplayMemory:
    def __init__(self, capacity):
        self.memory = deque([], maxlen=capacity)

    def push(self, *args):
        self.memory.append(Transition(*args))

    def sample(self, batch_size):
        return random.sample(self.memory, batch_size)

    def __len__(self):
        return len(self.memory)


class DQN(nn.Module):
    def __init__(self, n_observations, n_actions):
        super().__init__()
        self.layer1 = nn.Linear(n_observations, 32)
        self.layer2 = nn.Linear(32, 32)
        self.layer3 = nn.Linear(32, n_actions)

    def forward(self, x):
        x = F.relu(self.layer1(x))
        x = F.relu(self.layer2(x))
        return self.layer3(x)


BATCH_SIZE, GAMMA, EPS_START, EPS_END, EPS_DECAY, TAU, LR = 32, 0.9, 0.9, 0.05, 200, 0.05, 3e-3
policy_net = DQN(N_STATES, N_ACTIONS).to(device)
target_net = DQN(N_STATES, N_ACTIONS).to(device)
target_net.load_state_dict(policy_net.state_dict())
optimizer = optim.AdamW(policy_net.parameters(), lr=LR, amsgrad=True)
memory = ReplayMemory(2000)
steps_done = 0


def select_action(state):
    global steps_done
    eps_threshold = EPS_END + (EPS_START - EPS_END) * math.exp(-1. * steps_done / EPS_DECAY)
    steps_done += 1
    if random.random() > eps_threshold:
        with torch.no_grad():
            return policy_net(state).max(1).indices.view(1, 1)
    return torch.tensor([[random.randrange(N_ACTIONS)]], device=device, dtype=torch.long)


def optimize_model():
    if len(memory) < BATCH_SIZE:
        return
    transitions = memory.sample(BATCH_SIZE)
    batch = Transition(*zip(*transitions))
    non_final_mask = torch.tensor(tuple(map(lambda s: s is not None, batch.next_state)),
                                  device=device, dtype=torch.bool)
    non_final_next_states = torch.cat([s for s in batch.next_state if s is not None])
    state_batch = torch.cat(batch.state)
    action_batch = torch.cat(batch.action)
    reward_batch = torch.cat(batch.reward)
    state_action_values = policy_net(state_batch).gather(1, action_batch)
    next_state_values = torch.zeros(BATCH_SIZE, device=device)
    with torch.no_grad():
        next_state_values[non_final_mask] = target_net(non_final_next_states).max(1).values
    expected_state_action_values = (next_state_values * GAMMA) + reward_batch
    criterion = nn.SmoothL1Loss()
    loss = criterion(state_action_values, expected_state_action_values.unsqueeze(1))
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_value_(policy_net.parameters(), 100)
    optimizer.step()


for i_episode in range(60):
    s = 0
    state = one_hot(s)
    for t in range(30):
        action = select_action(state)
        s2, r = env_step(s, action.item())
        reward = torch.tensor([r], device=device)
        next_state = None if s2 is None else one_hot(s2)
        memory.push(state, action, next_state, reward)
        state, s = next_state, s2
        optimize_model()
        target_net_state_dict = target_net.state_dict()
        policy_net_state_dict = policy_net.state_dict()
        for key in policy_net_state_dict:
            target_net_state_dict[key] = (policy_net_state_dict[key] * TAU
                                          + target_net_state_dict[key] * (1 - TAU))
        target_net.load_state_dict(target_net_state_dict)
        if s2 is None:
            break

# Greedy policy: fraction of non-terminal states where it walks right (the optimal action).
with torch.no_grad():
    states = torch.eye(N_STATES, device=device)[:-1]
    greedy = policy_net(states).argmax(dim=1)
right = (greedy == 1).float().mean().item()
print("greedy actions:", greedy.tolist())
print(f"METRIC optimal_fraction {right:.3f}")
