"""Image resizing and patch work as image pipelines write them (torchvision's tensor
``Resize``, super-resolution and denoising scripts).

Idioms: ``F.interpolate(img, size=..., mode="bilinear", antialias=True)`` and
``mode="bicubic", antialias=True`` for downsampling (against plain bilinear, which aliases a
fine checkerboard), ``F.interpolate(..., mode="lanczos", antialias=True)`` (PyTorch 2.13),
``.clamp(0, 1)`` after bicubic overshoot; ``F.unfold(img, kernel_size, stride)`` into patch
columns, per-patch processing, ``F.fold`` back and division by ``F.fold`` of ones (overlap
counts); ``nn.Unfold`` / ``nn.Fold`` modules; ``F.grid_sample`` with an identity
``F.affine_grid`` (``align_corners=False``) and ``padding_mode="border"``; ``torch.bucketize`` of
intensities into histogram bins. The metric is exact: images are fixed functions.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

H = W = 32
yy, xx = torch.meshgrid(torch.arange(H).float(), torch.arange(W).float(), indexing="ij")
checker = ((yy + xx) % 2).float()                       # finest possible pattern
smooth = 0.5 + 0.4 * torch.sin(xx / 5.0) * torch.cos(yy / 7.0)
img = torch.stack([checker, smooth, 0.5 * checker + 0.5 * smooth]).unsqueeze(0)  # (1, 3, H, W)

plain = F.interpolate(img, size=(10, 10), mode="bilinear", align_corners=False)
aa_bilinear = F.interpolate(img, size=(10, 10), mode="bilinear", antialias=True)
aa_bicubic = F.interpolate(img, size=(10, 10), mode="bicubic", antialias=True).clamp(0, 1)
lanczos = F.interpolate(img, scale_factor=0.3, mode="lanczos", antialias=True)
# an antialiased checkerboard is flat grey; plain bilinear keeps sampling single pixels
aliasing_plain = plain[0, 0].std().item()
aliasing_aa = aa_bilinear[0, 0].std().item()
assert aliasing_aa < 0.05 < aliasing_plain, (aliasing_aa, aliasing_plain)

# patch-wise "denoising": replace each 4x4 patch (stride 2) by its mean, fold back, average
noisy = img + 0.1 * torch.sin(13.0 * xx + 7.0 * yy)
k, s = 4, 2
cols = F.unfold(noisy, kernel_size=k, stride=s)          # (1, 3*k*k, L)
L = cols.shape[-1]
cols = cols.view(1, 3, k * k, L)
cols = cols.mean(dim=2, keepdim=True).expand(-1, -1, k * k, -1).reshape(1, 3 * k * k, L)
summed = F.fold(cols, output_size=(H, W), kernel_size=k, stride=s)
counts = F.fold(torch.ones_like(cols), output_size=(H, W), kernel_size=k, stride=s)
denoised = summed / counts
unfold, fold = nn.Unfold(kernel_size=2, stride=2), nn.Fold(output_size=(H, W), kernel_size=2,
                                                          stride=2)
roundtrip = (fold(unfold(img)) - img).abs().max().item()
assert roundtrip == 0.0

theta = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
grid = F.affine_grid(theta, list(img.shape), align_corners=False)
same = F.grid_sample(img, grid, mode="bilinear", padding_mode="border", align_corners=False)
shifted = F.grid_sample(img, grid + 0.05, mode="bilinear", padding_mode="border",
                        align_corners=False)
assert (same - img).abs().max().item() < 1e-5

bins = torch.linspace(0.013, 1.013, 9)  # edges away from the exact 0.5 of flat grey
hist = torch.bincount(torch.bucketize(aa_bicubic.flatten(), bins), minlength=10)
metric = (plain.sum() + aa_bilinear.sum() + aa_bicubic.sum() + lanczos.sum()
          + denoised.sum() + shifted.sum() + (hist * torch.arange(10)).sum()).item()
print("aliasing plain/aa", aliasing_plain, aliasing_aa, "lanczos", tuple(lanczos.shape))
print(f"METRIC resize_checksum {metric:.4f}")
