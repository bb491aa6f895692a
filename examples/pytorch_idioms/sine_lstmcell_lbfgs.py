"""Two stacked ``nn.LSTMCell`` units learn sine waves in float64 with L-BFGS, then run on their
own predictions into the future.

Idioms: data made with NumPy and wrapped by ``torch.from_numpy``, ``model.double()``,
``input.split(1, dim=1)`` / ``chunk`` to walk the time axis, per-step ``h_t, c_t = cell(x, (h_t,
c_t))``, ``torch.cat(outputs, dim=1)``, a ``future=`` argument that feeds the output back,
``optim.LBFGS(model.parameters(), lr=0.8)`` with ``optimizer.step(closure)`` where the closure
zeroes, computes the loss, calls ``backward`` and returns the loss.
"""
import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim

np.random.seed(2)
torch.manual_seed(0)
T, L, N = 6, 36, 24
phase = np.random.randint(-4 * T, 4 * T, N).reshape(N, 1)
x = np.arange(L) + phase
data = np.sin(x / 1.0 / T).astype("float64")


class Sequence(nn.Module):
    def __init__(self, hidden=12):
        super().__init__()
        self.hidden = hidden
        self.lstm1 = nn.LSTMCell(1, hidden)
        self.lstm2 = nn.LSTMCell(hidden, hidden)
        self.linear = nn.Linear(hidden, 1)

    def forward(self, input, future=0):
        outputs = []
        h_t = torch.zeros(input.size(0), self.hidden, dtype=torch.double)
        c_t = torch.zeros(input.size(0), self.hidden, dtype=torch.double)
        h_t2 = torch.zeros(input.size(0), self.hidden, dtype=torch.double)
        c_t2 = torch.zeros(input.size(0), self.hidden, dtype=torch.double)
        for input_t in input.split(1, dim=1):
            h_t, c_t = self.lstm1(input_t, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs += [output]
        for _ in range(future):
            h_t, c_t = self.lstm1(output, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs += [output]
        return torch.cat(outputs, dim=1)


input = torch.from_numpy(data[4:, :-1])
target = torch.from_numpy(data[4:, 1:])
test_input = torch.from_numpy(data[:4, :-1])
test_target = torch.from_numpy(data[:4, 1:])
assert input.dtype == torch.float64

seq = Sequence()
seq.double()
criterion = nn.MSELoss()
optimizer = optim.LBFGS(seq.parameters(), lr=0.8, max_iter=12)

for i in range(5):
    def closure():
        optimizer.zero_grad()
        out = seq(input)
        loss = criterion(out, target)
        loss.backward()
        return loss
    loss = optimizer.step(closure)
    print("step", i, "loss:", loss.item())

future = 10
with torch.no_grad():
    pred = seq(test_input, future=future)
    test_loss = criterion(pred[:, :-future], test_target).item()
    y = pred.detach().numpy()
assert y.shape == (4, L - 1 + future)
print("test loss:", test_loss)
print(f"METRIC test_mse {test_loss:.5f}")
