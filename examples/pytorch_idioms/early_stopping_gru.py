"""Sequence regression with a GRU and early stopping on a validation split.

Idioms: ``nn.GRU(input_size, hidden, num_layers=2, batch_first=True, dropout=0.1)``,
``out[:, -1, :]``, ``torch.utils.data.Subset(ds, indices)``, ``best_state =
copy.deepcopy(model.state_dict())``, patience counter, ``model.load_state_dict(best_state)``,
``float("inf")``, ``torch.sin`` series built with ``unfold(0, size, step)``,
``nn.MSELoss()``, ``torch.no_grad()`` validation.
"""
import copy

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, Subset, TensorDataset


class Forecaster(nn.Module):
    def __init__(self, hidden=24):
        super().__init__()
        self.gru = nn.GRU(1, hidden, num_layers=2, batch_first=True, dropout=0.1)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x):
        out, _ = self.gru(x)
        return self.head(out[:, -1, :])


torch.manual_seed(0)
t = torch.arange(0, 600, dtype=torch.float32) * 0.1
series = torch.sin(t) + 0.5 * torch.sin(0.31 * t) + 0.05 * torch.randn(600)
windows = series.unfold(0, 21, 1)                         # (580, 21)
ds = TensorDataset(windows[:, :20].unsqueeze(-1), windows[:, 20:])
train_ds, val_ds, test_ds = Subset(ds, range(0, 400)), Subset(ds, range(400, 480)), \
    Subset(ds, range(480, 580))
train_loader = DataLoader(train_ds, batch_size=32, shuffle=True)
model = Forecaster()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
loss_fn = nn.MSELoss()


def evaluate(subset):
    model.eval()
    X, y = next(iter(DataLoader(subset, batch_size=len(subset))))
    with torch.no_grad():
        return loss_fn(model(X), y).item()


best, best_state, patience, bad_epochs = float("inf"), None, 3, 0
for epoch in range(30):
    model.train()
    for X, y in train_loader:
        optimizer.zero_grad()
        loss_fn(model(X), y).backward()
        optimizer.step()
    val = evaluate(val_ds)
    if val < best:
        best, best_state, bad_epochs = val, copy.deepcopy(model.state_dict()), 0
    else:
        bad_epochs += 1
        if bad_epochs >= patience:
            break
model.load_state_dict(best_state)
assert abs(evaluate(val_ds) - best) < 1e-6
print("stopped after epoch", epoch, "best validation", best)
print(f"METRIC test_mse {evaluate(test_ds):.4f}")
