"""Saving and loading an *entire* model object, the tutorials' second way ("Save/Load Entire
Model"): ``torch.save(model, PATH)`` pickles the module, ``torch.load(PATH,
weights_only=False)`` unpickles it (PyTorch >= 2.6 refuses it with the default
``weights_only=True``).

Idioms: ``torch.save(model, "model.pth")``, ``model = torch.load("model.pth",
weights_only=False)``, ``model.eval()``.
"""
import torch
import torch.nn as nn

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
x = torch.randn(5, 3)
torch.save(model, "model.pth")
loaded = torch.load("model.pth", weights_only=False)
loaded.eval()
with torch.no_grad():
    same = torch.equal(loaded(x), model(x))
print(f"METRIC same_outputs {float(same):.1f}")
