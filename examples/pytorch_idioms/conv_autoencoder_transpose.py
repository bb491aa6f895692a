"""A convolutional autoencoder on synthetic 16x16 blob images: strided convolutions down,
``nn.ConvTranspose2d`` (with ``output_padding``) up, trained with a summed BCE-with-logits loss;
the weights are saved and loaded into a fresh model.

Idioms: ``nn.Conv2d(..., stride=2, padding=1)``, ``nn.ConvTranspose2d(..., stride=2,
padding=1, output_padding=1)``, ``nn.Flatten()`` / ``nn.Unflatten(1, (c, h, w))``,
``nn.LeakyReLU(0.2, inplace=True)``, ``F.binary_cross_entropy_with_logits(...,
reduction="sum") / x.size(0)``, ``TensorDataset`` + ``DataLoader(shuffle=True,
pin_memory=False, num_workers=0)``, ``torch.sigmoid`` on the decoder output,
``torch.save(model.state_dict(), path)`` into a fresh model + ``.eval()``,
``torch.chunk(z, 2, dim=0)``, ``torch.lerp`` between latent codes. (Pickling the whole model,
``torch.save(model, path)``, is ``save_entire_model.py``.)
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)


def blobs(n):
    r = torch.arange(16).view(1, 16, 1).float()
    c = torch.arange(16).view(1, 1, 16).float()
    cy, cx = torch.rand(n, 1, 1) * 10 + 3, torch.rand(n, 1, 1) * 10 + 3
    return torch.exp(-((r - cy) ** 2 + (c - cx) ** 2) / 8.0).unsqueeze(1)


class AutoEncoder(nn.Module):
    def __init__(self, latent=8):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 8, 3, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True),
            nn.Flatten(), nn.Linear(16 * 4 * 4, latent))
        self.decoder = nn.Sequential(
            nn.Linear(latent, 16 * 4 * 4), nn.Unflatten(1, (16, 4, 4)),
            nn.ConvTranspose2d(16, 8, 3, stride=2, padding=1, output_padding=1),
            nn.LeakyReLU(0.2, inplace=True),
            nn.ConvTranspose2d(8, 1, 3, stride=2, padding=1, output_padding=1))

    def forward(self, x):
        return self.decoder(self.encoder(x))


train = TensorDataset(blobs(512))
loader = DataLoader(train, batch_size=64, shuffle=True, pin_memory=False, num_workers=0)
model = AutoEncoder()
optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
for epoch in range(25):
    for (x,) in loader:
        logits = model(x)
        loss = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / x.size(0)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

torch.save(model.state_dict(), "autoencoder.pt")
restored = AutoEncoder()
restored.load_state_dict(torch.load("autoencoder.pt", weights_only=True))
restored.eval()
test = blobs(200)
with torch.no_grad():
    recon = torch.sigmoid(restored(test))
    same = torch.equal(recon, torch.sigmoid(model(test)))
    mse = F.mse_loss(recon, test).item()
    z = restored.encoder(test[:4])
    za, zb = torch.chunk(z, 2, dim=0)
    mid = restored.decoder(torch.lerp(za, zb, 0.5))
assert same and mid.shape == (2, 1, 16, 16)
print("restored equals original:", same)
print(f"METRIC test_mse {mse:.4f}")
