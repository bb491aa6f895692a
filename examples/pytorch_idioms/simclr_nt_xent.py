"""SimCLR-style contrastive pre-training with the NT-Xent loss, then a linear probe.

Idioms (sthalles/SimCLR ``info_nce_loss`` and Spijkervet/SimCLR ``NT_Xent``): two augmented
views concatenated with ``torch.cat([x_i, x_j], dim=0)``; ``labels = torch.cat([torch.arange(b)
for i in range(n_views)], dim=0)``, ``(labels.unsqueeze(0) == labels.unsqueeze(1)).float()``;
``features = F.normalize(features, dim=1)``, ``similarity_matrix = torch.matmul(features,
features.T)``; the diagonal dropped with ``mask = torch.eye(labels.shape[0], dtype=torch.bool)``
and ``similarity_matrix[~mask].view(similarity_matrix.shape[0], -1)``; positives by
``similarity_matrix[labels.bool()].view(labels.shape[0], -1)``; logits with the positive in
column 0 and ``torch.zeros(logits.shape[0], dtype=torch.long)`` targets; the equivalent
``NT_Xent`` with ``mask.fill_diagonal_(0)`` and ``torch.diag(sim, b)``; a projection head
dropped after pre-training; a frozen-encoder linear probe under ``torch.no_grad()``.
"""
import torch
import torch.nn.functional as F
from torch import nn


def info_nce_loss(features, batch_size, n_views=2, temperature=0.5):
    labels = torch.cat([torch.arange(batch_size) for i in range(n_views)], dim=0)
    labels = (labels.unsqueeze(0) == labels.unsqueeze(1)).float()
    features = F.normalize(features, dim=1)
    similarity_matrix = torch.matmul(features, features.T)
    mask = torch.eye(labels.shape[0], dtype=torch.bool)
    labels = labels[~mask].view(labels.shape[0], -1)
    similarity_matrix = similarity_matrix[~mask].view(similarity_matrix.shape[0], -1)
    positives = similarity_matrix[labels.bool()].view(labels.shape[0], -1)
    negatives = similarity_matrix[~labels.bool()].view(similarity_matrix.shape[0], -1)
    logits = torch.cat([positives, negatives], dim=1) / temperature
    labels = torch.zeros(logits.shape[0], dtype=torch.long)
    return F.cross_entropy(logits, labels)


class NTXent(nn.Module):
    """The same loss written the other common way (sum reduction over 2N rows)."""

    def __init__(self, batch_size, temperature):
        super().__init__()
        self.batch_size, self.temperature = batch_size, temperature
        self.mask = self.mask_correlated_samples(batch_size)
        self.criterion = nn.CrossEntropyLoss(reduction="sum")
        self.similarity_f = nn.CosineSimilarity(dim=2)

    def mask_correlated_samples(self, batch_size):
        n = 2 * batch_size
        mask = torch.ones((n, n), dtype=bool)
        mask = mask.fill_diagonal_(0)
        for i in range(batch_size):
            mask[i, batch_size + i] = 0
            mask[batch_size + i, i] = 0
        return mask

    def forward(self, z_i, z_j):
        n = 2 * self.batch_size
        z = torch.cat((z_i, z_j), dim=0)
        sim = self.similarity_f(z.unsqueeze(1), z.unsqueeze(0)) / self.temperature
        sim_i_j = torch.diag(sim, self.batch_size)
        sim_j_i = torch.diag(sim, -self.batch_size)
        positive_samples = torch.cat((sim_i_j, sim_j_i), dim=0).reshape(n, 1)
        negative_samples = sim[self.mask].reshape(n, -1)
        labels = torch.zeros(n).to(positive_samples.device).long()
        logits = torch.cat((positive_samples, negative_samples), dim=1)
        return self.criterion(logits, labels) / n


def make_data(n, gen):
    # 4 classes of 16-d signals: a class-specific frequency plus noise
    y = torch.randint(0, 4, (n,), generator=gen)
    t = torch.linspace(0, 1, 16)
    phase = torch.rand(n, 1, generator=gen) * 6.28
    x = torch.sin(2 * 3.1416 * (y[:, None] + 1) * t + phase)
    return x + 0.2 * torch.randn(n, 16, generator=gen), y


def augment(x, gen):
    scale = 0.8 + 0.4 * torch.rand(x.shape[0], 1, generator=gen)
    return scale * x + 0.15 * torch.randn(x.shape, generator=gen)


def main():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    x_train, y_train = make_data(512, gen)
    x_test, y_test = make_data(256, gen)
    encoder = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 32))
    head = nn.Sequential(nn.ReLU(), nn.Linear(32, 16))
    opt = torch.optim.Adam(list(encoder.parameters()) + list(head.parameters()), lr=3e-3)
    b = 64
    nt_xent = NTXent(b, 0.5)
    agree = True
    for epoch in range(6):
        perm = torch.randperm(512, generator=gen)
        for k in range(0, 512, b):
            xb = x_train[perm[k:k + b]]
            z = head(encoder(torch.cat([augment(xb, gen), augment(xb, gen)], dim=0)))
            loss = info_nce_loss(z, b)
            agree &= abs(loss.item() - nt_xent(z[:b], z[b:]).item()) < 1e-4
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        f_train, f_test = encoder(x_train), encoder(x_test)
    probe = nn.Linear(32, 4)
    popt = torch.optim.Adam(probe.parameters(), lr=1e-2)
    for _ in range(150):
        popt.zero_grad()
        F.cross_entropy(probe(f_train), y_train).backward()
        popt.step()
    acc = (probe(f_test).argmax(1) == y_test).float().mean().item()
    print(f"last NT-Xent {loss.item():.3f}, two formulations agree {agree}, probe acc {acc:.3f}")
    print(f"METRIC probe_accuracy_plus_agree {acc + float(agree):.4f}")


if __name__ == "__main__":
    main()
