"""The pytorch/examples MNIST network, scaled down, on generated 12x12 digit-like glyphs.

Idioms: ``nn.Conv2d(1, 8, 3, 1)``, ``F.relu``, ``F.max_pool2d(x, 2)``, ``nn.Dropout(0.25)``,
``torch.flatten(x, 1)``, ``F.log_softmax(x, dim=1)``, ``F.nll_loss``,
``optim.Adadelta(model.parameters(), lr=1.0)``, ``StepLR(optimizer, step_size=1, gamma=0.7)``,
``for batch_idx, (data, target) in enumerate(train_loader)``, the test loop with
``F.nll_loss(output, target, reduction="sum").item()``,
``pred = output.argmax(dim=1, keepdim=True)``, ``pred.eq(target.view_as(pred)).sum().item()``.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.optim.lr_scheduler import StepLR
from torch.utils.data import DataLoader, TensorDataset


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, 1)
        self.conv2 = nn.Conv2d(8, 16, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(16 * 4 * 4, 32)
        self.fc2 = nn.Linear(32, 4)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = self.dropout2(x)
        return F.log_softmax(self.fc2(x), dim=1)


def glyphs(n, g):
    """Four classes: a cross, a box, a slash, a dot, jittered in position, with noise."""
    base = torch.zeros(4, 12, 12)
    base[0, 5:7, 2:10] = 1
    base[0, 2:10, 5:7] = 1
    base[1, 2:10, 2] = base[1, 2:10, 9] = base[1, 2, 2:10] = base[1, 9, 2:10] = 1
    base[2, torch.arange(2, 10), torch.arange(9, 1, -1)] = 1
    base[3, 4:8, 4:8] = 1
    y = torch.randint(0, 4, (n,), generator=g)
    shifts = torch.randint(-1, 2, (n, 2), generator=g)
    x = torch.stack([torch.roll(base[c], (int(s[0]), int(s[1])), dims=(0, 1))
                     for c, s in zip(y.tolist(), shifts)])
    return (x + 0.2 * torch.randn(n, 12, 12, generator=g)).unsqueeze(1), y


torch.manual_seed(1)
g = torch.Generator().manual_seed(1)
train_loader = DataLoader(TensorDataset(*glyphs(640, g)), batch_size=64, shuffle=True)
test_loader = DataLoader(TensorDataset(*glyphs(400, g)), batch_size=200)
model = Net()
optimizer = optim.Adadelta(model.parameters(), lr=1.0)
scheduler = StepLR(optimizer, step_size=1, gamma=0.7)
for epoch in range(1, 6):
    model.train()
    for batch_idx, (data, target) in enumerate(train_loader):
        optimizer.zero_grad()
        loss = F.nll_loss(model(data), target)
        loss.backward()
        optimizer.step()
    scheduler.step()

model.eval()
test_loss, correct = 0.0, 0
with torch.no_grad():
    for data, target in test_loader:
        output = model(data)
        test_loss += F.nll_loss(output, target, reduction="sum").item()
        pred = output.argmax(dim=1, keepdim=True)
        correct += pred.eq(target.view_as(pred)).sum().item()
print(f"Test set: Average loss: {test_loss / len(test_loader.dataset):.4f}")
print(f"METRIC accuracy {correct / len(test_loader.dataset):.4f}")
