"""A GAN with a spectrally normalised discriminator and a weight-averaged generator.

Idioms: ``torch.nn.utils.parametrizations.spectral_norm(nn.Linear(...))`` (Miyato et al.
2018), the hinge GAN loss with ``F.relu(1 - d_real).mean()``, ``torch.optim.swa_utils.
AveragedModel(netG)`` updated every step after a warm-up with ``SWALR``, sampling from the
averaged generator; metric: the mean of generated samples (target 2.0).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.parametrizations import spectral_norm
from torch.optim.swa_utils import SWALR, AveragedModel

torch.manual_seed(7)
nz = 4
netG = nn.Sequential(nn.Linear(nz, 32), nn.ReLU(), nn.Linear(32, 1))
netD = nn.Sequential(spectral_norm(nn.Linear(1, 32)), nn.LeakyReLU(0.2),
                     spectral_norm(nn.Linear(32, 1)))
optG = torch.optim.Adam(netG.parameters(), lr=2e-3, betas=(0.5, 0.999))
optD = torch.optim.Adam(netD.parameters(), lr=2e-3, betas=(0.5, 0.999))
swa_G = AveragedModel(netG)
swa_sched = SWALR(optG, swa_lr=1e-3, anneal_epochs=50)

for it in range(700):
    real = 2.0 + 0.5 * torch.randn(128, 1)
    fake = netG(torch.randn(128, nz))
    optD.zero_grad()
    lossD = F.relu(1 - netD(real)).mean() + F.relu(1 + netD(fake.detach())).mean()
    lossD.backward()
    optD.step()
    optG.zero_grad()
    lossG = -netD(fake).mean()
    lossG.backward()
    optG.step()
    if it >= 400:
        swa_G.update_parameters(netG)
        swa_sched.step()

with torch.no_grad():
    samples = swa_G(torch.randn(5000, nz))
sigma = torch.linalg.matrix_norm(netD[0].weight, ord=2).item()
print(f"averaged {int(swa_G.n_averaged)} generators; D's first layer spectral norm {sigma:.3f}")
print(f"METRIC generated_mean {samples.mean().item():.3f}")
