"""A small U-Net denoiser with the upsampling layers of segmentation/super-resolution code.

Idioms: ``nn.ReflectionPad2d`` + ``Conv2d`` blocks, ``nn.GroupNorm``, ``nn.Upsample(
scale_factor=2, mode="bilinear", align_corners=True)``, ``nn.PixelShuffle`` (sub-pixel
convolution), ``torch.cat([skip, up], dim=1)``, ``F.pad`` to match odd sizes,
``F.interpolate(size=...)``, ``nn.MSELoss``, a zero-initialised output layer, a cosine LR
schedule; metric: test MSE.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
gen = torch.Generator().manual_seed(3)


def blobs(n, size=15):
    """Smooth random images: sums of two Gaussian blobs."""
    ys, xs = torch.meshgrid(torch.arange(size).float(), torch.arange(size).float(),
                            indexing="ij")
    c = torch.rand(n, 2, 2, generator=gen) * size
    img = sum(torch.exp(-((xs - c[:, k, 0, None, None]) ** 2 + (ys - c[:, k, 1, None, None]) ** 2)
                        / 8.0) for k in range(2))
    return img.unsqueeze(1)


def block(cin, cout):
    return nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(cin, cout, 3), nn.GroupNorm(2, cout),
                         nn.ReLU())


class UNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc1, self.enc2 = block(1, 8), block(8, 16)
        self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
        self.dec = block(24, 8)
        self.sub = nn.Sequential(nn.Conv2d(8, 4, 3, padding=1), nn.PixelShuffle(2))
        self.out = nn.Conv2d(1, 1, 3, padding=1)
        self.out.weight.data.zero_()  # start as the identity: the net learns the correction
        self.out.bias.data.zero_()

    def forward(self, x):
        s1 = self.enc1(x)
        s2 = self.enc2(F.max_pool2d(s1, 2))
        u = self.up(s2)
        u = F.pad(u, (0, s1.shape[-1] - u.shape[-1], 0, s1.shape[-2] - u.shape[-2]))
        d = self.dec(torch.cat([s1, u], dim=1))
        d = self.sub(d)                                   # (N, 1, 2H, 2W)
        d = F.interpolate(d, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return x + self.out(d)


clean_tr, clean_te = blobs(256), blobs(64)
noisy_tr = clean_tr + 0.2 * torch.randn(clean_tr.shape, generator=gen)
noisy_te = clean_te + 0.2 * torch.randn(clean_te.shape, generator=gen)
model = UNet()
opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=12 * 8)
criterion = nn.MSELoss()
for epoch in range(12):
    perm = torch.randperm(256, generator=gen)
    for i in range(0, 256, 32):
        idx = perm[i:i + 32]
        opt.zero_grad()
        loss = criterion(model(noisy_tr[idx]), clean_tr[idx])
        loss.backward()
        opt.step()
        sched.step()
model.eval()
with torch.no_grad():
    mse = criterion(model(noisy_te), clean_te).item()
    base = criterion(noisy_te, clean_te).item()
print(f"noisy input MSE {base:.4f}, denoised MSE {mse:.4f}")
print(f"METRIC test_mse {mse:.4f}")
