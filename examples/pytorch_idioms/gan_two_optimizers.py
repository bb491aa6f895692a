"""A GAN on a 1-D Gaussian, with the DCGAN training loop's idioms.

Idioms: ``weights_init`` testing ``m.__class__.__name__.find("Linear") != -1`` and calling
``nn.init.normal_(m.weight.data, 0.0, 0.02)``, ``netG.apply(weights_init)``, two Adam optimizers
with ``betas=(0.5, 0.999)``, ``torch.full((b_size,), real_label, dtype=torch.float)``,
``label.fill_(fake_label)``, ``netD(fake.detach()).view(-1)``, ``nn.BCELoss()``,
``errD = errD_real + errD_fake``, ``D_x = output.mean().item()``.
"""
import torch
import torch.nn as nn
import torch.optim as optim


def weights_init(m):
    classname = m.__class__.__name__
    if classname.find("Linear") != -1:
        nn.init.normal_(m.weight.data, 0.0, 0.02 * 10)
        nn.init.constant_(m.bias.data, 0)


nz = 4
netG = nn.Sequential(nn.Linear(nz, 32), nn.ReLU(True), nn.Linear(32, 1))
netD = nn.Sequential(nn.Linear(1, 32), nn.LeakyReLU(0.2, inplace=True), nn.Linear(32, 1),
                     nn.Sigmoid())
torch.manual_seed(999)
netG.apply(weights_init)
netD.apply(weights_init)
criterion = nn.BCELoss()
optimizerD = optim.Adam(netD.parameters(), lr=2e-3, betas=(0.5, 0.999))
optimizerG = optim.Adam(netG.parameters(), lr=2e-3, betas=(0.5, 0.999))
real_label, fake_label = 1.0, 0.0
b_size = 128

for i in range(600):
    real = 3.0 + 0.5 * torch.randn(b_size, 1)
    netD.zero_grad()
    label = torch.full((b_size,), real_label, dtype=torch.float)
    output = netD(real).view(-1)
    errD_real = criterion(output, label)
    errD_real.backward()
    D_x = output.mean().item()
    noise = torch.randn(b_size, nz)
    fake = netG(noise)
    label.fill_(fake_label)
    output = netD(fake.detach()).view(-1)
    errD_fake = criterion(output, label)
    errD_fake.backward()
    errD = errD_real + errD_fake
    optimizerD.step()

    netG.zero_grad()
    label.fill_(real_label)
    output = netD(fake).view(-1)
    errG = criterion(output, label)
    errG.backward()
    optimizerG.step()

with torch.no_grad():
    samples = netG(torch.randn(5000, nz))
print(f"Loss_D {errD.item():.3f} Loss_G {errG.item():.3f} D(x) {D_x:.3f}",
      "generated std", samples.std().item())
print(f"METRIC generated_mean {samples.mean().item():.3f}")
