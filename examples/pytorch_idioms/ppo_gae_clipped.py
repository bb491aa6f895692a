"""PPO with generalised advantage estimation on a small grid world (cleanrl ``ppo.py`` layout).

Idioms (vwxyzjn/cleanrl ``ppo.py``): ``layer_init(layer, std=np.sqrt(2), bias_const=0.0)`` with
``torch.nn.init.orthogonal_(layer.weight, std)`` / ``constant_(layer.bias, bias_const)``, the
actor head at ``std=0.01`` and the critic at ``std=1``; ``Categorical(logits=logits)``,
``probs.sample()``, ``probs.log_prob(action)``, ``probs.entropy()``; rollout buffers
``torch.zeros((num_steps, num_envs) + obs_shape)``; GAE in reverse with ``lastgaelam``;
``b_inds = np.arange(batch_size)`` + ``np.random.shuffle``; ``logratio.exp()``,
``approx_kl = ((ratio - 1) - logratio).mean()``, ``clipfracs`` from
``((ratio - 1.0).abs() > clip_coef).float().mean().item()``; ``torch.max(pg_loss1,
pg_loss2).mean()``; clipped value loss; ``nn.utils.clip_grad_norm_(agent.parameters(), 0.5)``;
learning-rate annealing via ``optimizer.param_groups[0]["lr"] = lrnow``; ``Adam(eps=1e-5)``.
"""
import numpy as np
import torch
from torch import nn, optim
from torch.distributions.categorical import Categorical

SIZE = 5          # a 5-cell corridor: start in the middle, reward 1 at the right end


class Corridor:
    def __init__(self, n):
        self.n = n
        self.pos = np.full(n, SIZE // 2)
        self.t = np.zeros(n, dtype=np.int64)

    def obs(self):
        o = np.zeros((self.n, SIZE), dtype=np.float32)
        o[np.arange(self.n), self.pos] = 1.0
        return o

    def step(self, action):
        self.pos = np.clip(self.pos + np.where(action == 1, 1, -1), 0, SIZE - 1)
        self.t += 1
        reward = (self.pos == SIZE - 1).astype(np.float32) - 0.01
        done = (self.pos == SIZE - 1) | (self.pos == 0) | (self.t >= 20)
        self.pos[done] = SIZE // 2
        self.t[done] = 0
        return self.obs(), reward, done.astype(np.float32)


def layer_init(layer, std=np.sqrt(2), bias_const=0.0):  # noqa: B008 - cleanrl's signature
    torch.nn.init.orthogonal_(layer.weight, std)
    torch.nn.init.constant_(layer.bias, bias_const)
    return layer


class Agent(nn.Module):
    def __init__(self):
        super().__init__()
        self.critic = nn.Sequential(layer_init(nn.Linear(SIZE, 32)), nn.Tanh(),
                                    layer_init(nn.Linear(32, 1), std=1.0))
        self.actor = nn.Sequential(layer_init(nn.Linear(SIZE, 32)), nn.Tanh(),
                                   layer_init(nn.Linear(32, 2), std=0.01))

    def get_value(self, x):
        return self.critic(x)

    def get_action_and_value(self, x, action=None):
        logits = self.actor(x)
        probs = Categorical(logits=logits)
        if action is None:
            action = probs.sample()
        return action, probs.log_prob(action), probs.entropy(), self.critic(x)


def main():
    torch.manual_seed(0)
    np.random.seed(0)
    num_envs, num_steps, updates = 8, 32, 10
    gamma, gae_lambda, clip_coef, lr = 0.99, 0.95, 0.2, 2.5e-3
    batch_size, minibatch_size = num_envs * num_steps, 64
    env = Corridor(num_envs)
    agent = Agent()
    optimizer = optim.Adam(agent.parameters(), lr=lr, eps=1e-5)
    obs = torch.zeros((num_steps, num_envs, SIZE))
    actions = torch.zeros((num_steps, num_envs))
    logprobs, rewards = torch.zeros((num_steps, num_envs)), torch.zeros((num_steps, num_envs))
    dones, values = torch.zeros((num_steps, num_envs)), torch.zeros((num_steps, num_envs))
    next_obs, next_done = torch.Tensor(env.obs()), torch.zeros(num_envs)
    for update in range(1, updates + 1):
        frac = 1.0 - (update - 1.0) / updates
        optimizer.param_groups[0]["lr"] = frac * lr
        for step in range(num_steps):
            obs[step], dones[step] = next_obs, next_done
            with torch.no_grad():
                action, logprob, _, value = agent.get_action_and_value(next_obs)
                values[step] = value.flatten()
            actions[step], logprobs[step] = action, logprob
            o, r, d = env.step(action.cpu().numpy())
            rewards[step] = torch.tensor(r).view(-1)
            next_obs, next_done = torch.Tensor(o), torch.Tensor(d)
        with torch.no_grad():
            next_value = agent.get_value(next_obs).reshape(1, -1)
            advantages = torch.zeros_like(rewards)
            lastgaelam = 0
            for t in reversed(range(num_steps)):
                if t == num_steps - 1:
                    nextnonterminal, nextvalues = 1.0 - next_done, next_value
                else:
                    nextnonterminal, nextvalues = 1.0 - dones[t + 1], values[t + 1]
                delta = rewards[t] + gamma * nextvalues * nextnonterminal - values[t]
                advantages[t] = lastgaelam = (delta + gamma * gae_lambda * nextnonterminal
                                              * lastgaelam)
            returns = advantages + values
        b_obs, b_logprobs = obs.reshape((-1, SIZE)), logprobs.reshape(-1)
        b_actions, b_advantages = actions.reshape(-1), advantages.reshape(-1)
        b_returns, b_values = returns.reshape(-1), values.reshape(-1)
        b_inds = np.arange(batch_size)
        clipfracs = []
        for epoch in range(2):
            np.random.shuffle(b_inds)
            for start in range(0, batch_size, minibatch_size):
                mb_inds = b_inds[start:start + minibatch_size]
                _, newlogprob, entropy, newvalue = agent.get_action_and_value(
                    b_obs[mb_inds], b_actions.long()[mb_inds])
                logratio = newlogprob - b_logprobs[mb_inds]
                ratio = logratio.exp()
                with torch.no_grad():
                    approx_kl = ((ratio - 1) - logratio).mean()
                    clipfracs += [((ratio - 1.0).abs() > clip_coef).float().mean().item()]
                mb_adv = b_advantages[mb_inds]
                mb_adv = (mb_adv - mb_adv.mean()) / (mb_adv.std() + 1e-8)
                pg_loss1 = -mb_adv * ratio
                pg_loss2 = -mb_adv * torch.clamp(ratio, 1 - clip_coef, 1 + clip_coef)
                pg_loss = torch.max(pg_loss1, pg_loss2).mean()
                newvalue = newvalue.view(-1)
                v_loss_unclipped = (newvalue - b_returns[mb_inds]) ** 2
                v_clipped = b_values[mb_inds] + torch.clamp(
                    newvalue - b_values[mb_inds], -clip_coef, clip_coef)
                v_loss_clipped = (v_clipped - b_returns[mb_inds]) ** 2
                v_loss = 0.5 * torch.max(v_loss_unclipped, v_loss_clipped).mean()
                loss = pg_loss - 0.01 * entropy.mean() + 0.5 * v_loss
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(agent.parameters(), 0.5)
                optimizer.step()
    with torch.no_grad():
        states = torch.eye(SIZE)[1:SIZE - 1]              # the non-terminal cells
        p_right = torch.softmax(agent.actor(states), -1)[:, 1].mean().item()
    print(f"approx_kl {approx_kl.item():.4f}, clipfrac {np.mean(clipfracs):.3f}, "
          f"P(right) in non-terminal cells {p_right:.3f}")
    print(f"METRIC p_right {p_right:.4f}")


if __name__ == "__main__":
    main()
