"""Histograms of data and of weights, the way training scripts log them.

Idioms: ``torch.histogram(x, bins=10, range=(lo, hi))`` returning ``(hist, bin_edges)``,
``torch.histogram(x, bins=edges_tensor)``, ``density=True``, ``weight=``, ``torch.histc``,
``torch.bincount(minlength=)``, ``torch.bucketize``, ``x.float()`` for the integer data.
The data are a deterministic ramp, so every count is exact.
"""
import torch

x = torch.sin(torch.arange(1000, dtype=torch.float64) * 0.37) * 3.0
hist, edges = torch.histogram(x, bins=12, range=(-3.0, 3.0))
print("counts", hist.tolist())
print("edges", [round(e, 2) for e in edges.tolist()])

custom = torch.tensor([-3.0, -1.0, -0.25, 0.0, 0.25, 1.0, 3.0], dtype=torch.float64)
hist2, _ = torch.histogram(x, bins=custom)
dens, dedges = torch.histogram(x, bins=6, density=True)
area = (dens * (dedges[1:] - dedges[:-1])).sum().item()
weighted, _ = torch.histogram(x, bins=4, weight=torch.ones_like(x) * 0.5)
hc = torch.histc(x.float(), bins=5, min=-2, max=2)

labels = (torch.arange(200) * 7 % 11)
counts = torch.bincount(labels, minlength=12)
assert counts.shape[0] == 12 and counts[11] == 0

metric = (hist * torch.arange(12, dtype=torch.float64)).sum().item() + hist2.sum().item() \
    + weighted.sum().item() + hc.sum().item() + counts.max().item() + round(area, 6)
print(f"METRIC weighted_counts {metric:.6f}")
