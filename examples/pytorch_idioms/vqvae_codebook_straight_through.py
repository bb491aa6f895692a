"""A vector-quantised autoencoder (VQ-VAE) on 2-D points drawn around a few centres: a codebook
``nn.Embedding`` learned with the codebook and commitment losses, the straight-through
estimator for the encoder, and the perplexity of code usage.

Idioms: distances written out as ``torch.sum(x ** 2, dim=1, keepdim=True) + torch.sum(w ** 2,
dim=1) - 2 * torch.matmul(x, w.t())``, ``torch.argmin(..., dim=1).unsqueeze(1)``, one-hot
``encodings = torch.zeros(n, K, device=x.device); encodings.scatter_(1, idx, 1)``,
``torch.matmul(encodings, self._embedding.weight)``, ``F.mse_loss(quantized.detach(), x)``,
the straight-through ``x + (quantized - x).detach()``, ``torch.exp(-torch.sum(p * torch.log(p
+ 1e-10)))``, ``self._embedding.weight.data.uniform_(-1 / K, 1 / K)``, ``F.gumbel_softmax``
(``hard=True``) as an alternative code assignment, ``Tensor.contiguous()``.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
CENTRES = torch.tensor([[2.0, 0.0], [-2.0, 0.0], [0.0, 2.0], [0.0, -2.0]])


def make(n):
    return CENTRES[torch.randint(0, 4, (n,))] + 0.1 * torch.randn(n, 2)


class VectorQuantizer(nn.Module):
    def __init__(self, num_embeddings, embedding_dim, commitment_cost):
        super().__init__()
        self._embedding_dim = embedding_dim
        self._num_embeddings = num_embeddings
        self._embedding = nn.Embedding(self._num_embeddings, self._embedding_dim)
        self._embedding.weight.data.uniform_(-1 / self._num_embeddings, 1 / self._num_embeddings)
        self._commitment_cost = commitment_cost

    def forward(self, inputs):
        flat_input = inputs.contiguous().view(-1, self._embedding_dim)
        distances = (torch.sum(flat_input ** 2, dim=1, keepdim=True)
                     + torch.sum(self._embedding.weight ** 2, dim=1)
                     - 2 * torch.matmul(flat_input, self._embedding.weight.t()))
        encoding_indices = torch.argmin(distances, dim=1).unsqueeze(1)
        encodings = torch.zeros(encoding_indices.shape[0], self._num_embeddings,
                                device=inputs.device)
        encodings.scatter_(1, encoding_indices, 1)
        quantized = torch.matmul(encodings, self._embedding.weight).view(inputs.shape)
        e_latent_loss = F.mse_loss(quantized.detach(), inputs)
        q_latent_loss = F.mse_loss(quantized, inputs.detach())
        loss = q_latent_loss + self._commitment_cost * e_latent_loss
        quantized = inputs + (quantized - inputs).detach()
        avg_probs = torch.mean(encodings, dim=0)
        perplexity = torch.exp(-torch.sum(avg_probs * torch.log(avg_probs + 1e-10)))
        return loss, quantized, perplexity, encodings


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self._encoder = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 4))
        self._vq = VectorQuantizer(8, 4, commitment_cost=0.25)
        self._decoder = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 2))

    def forward(self, x):
        z = self._encoder(x)
        loss, quantized, perplexity, _ = self._vq(z)
        return loss, self._decoder(quantized), perplexity


model = Model()
optimizer = torch.optim.Adam(model.parameters(), lr=3e-3, amsgrad=False)
for step in range(600):
    data = make(128)
    vq_loss, data_recon, perplexity = model(data)
    recon_error = F.mse_loss(data_recon, data)
    loss = recon_error + vq_loss
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()

model.eval()
test = make(1000)
with torch.no_grad():
    _, recon, perplexity = model(test)
    test_error = F.mse_loss(recon, test).item()
    # a differentiable relaxation of the same choice, as used in discrete VAEs
    logits = -torch.cdist(model._encoder(test), model._vq._embedding.weight)
    hard = F.gumbel_softmax(logits, tau=0.5, hard=True)
    assert torch.allclose(hard.sum(1), torch.ones(1000)) and ((hard == 0) | (hard == 1)).all()
print("perplexity:", perplexity.item())
print(f"METRIC test_recon_mse {test_error:.4f}")
