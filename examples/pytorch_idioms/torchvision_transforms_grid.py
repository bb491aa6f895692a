"""torchvision-style preprocessing and image grids on generated images.

Idioms: ``import torchvision.transforms as transforms``, ``transforms.Compose([...])``,
``transforms.ToTensor()`` on an ``H x W x C`` uint8 NumPy array (to ``C x H x W`` floats in [0, 1]),
``transforms.Normalize((0.5,), (0.5,))``, ``transforms.RandomHorizontalFlip(p=1.0)``,
``transforms.Resize((8, 8))``, ``torchvision.utils.make_grid(batch, nrow=4, padding=2)``,
``torchvision.utils.save_image(grid, "grid.png")``, ``torch.stack`` of transformed samples.
Everything is deterministic, so the metric is exact.
"""
import os

import numpy as np
import torch
import torchvision
import torchvision.transforms as transforms

# Eight 6x6 grey images: image k holds (k * 36 + pixel index) mod 256.
images = [((np.arange(36) + 36 * k) % 256).astype(np.uint8).reshape(6, 6, 1) for k in range(8)]

transform = transforms.Compose([
    transforms.ToTensor(),
    transforms.RandomHorizontalFlip(p=1.0),
    transforms.Normalize((0.5,), (0.5,)),
])
batch = torch.stack([transform(img) for img in images])
assert tuple(batch.shape) == (8, 1, 6, 6)
assert float(batch.min()) >= -1.0 and float(batch.max()) <= 1.0

resized = transforms.Resize((8, 8))(batch)
assert tuple(resized.shape) == (8, 1, 8, 8)

grid = torchvision.utils.make_grid(batch, nrow=4, padding=2)
torchvision.utils.save_image(batch, "grid.png", nrow=4)
assert os.path.getsize("grid.png") > 0
print("grid shape", tuple(grid.shape))
# shape and sums, combined into one exact number
metric = grid.shape[0] * 1e6 + grid.shape[1] * 1e4 + grid.shape[2] * 1e2 \
    + round(batch.sum().item(), 4) + round(batch[:, :, :, 0].sum().item(), 4)
print(f"METRIC grid_and_sums {metric:.4f}")
