"""A two-tower retrieval model trained on nested dict batches moved with ``tree_map``.

Idioms (Hugging Face-style training loops and recommender scripts): a ``Dataset`` returning
nested dicts built with ``torch.asarray`` from NumPy rows (memory shared, dtype kept);
``torch.utils._pytree.tree_map(lambda t: t.to(device), batch)`` and ``tree_map_only`` to cast
floating leaves; ``tree_flatten`` to count leaves; ``nn.utils.skip_init(nn.Linear, ...)`` with
a hand-written init afterwards; in-batch negatives through ``torch.cosine_similarity(q[:, None],
d[None], dim=-1)`` and ``F.cross_entropy(sim / tau, torch.arange(b))``; ``torch.pdist`` as a
collapse check on document embeddings; recall@1 on held-out pairs; the deprecated
``torch.range`` (inclusive end) used for a temperature schedule, under
``warnings.catch_warnings()``.
"""
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils._pytree import tree_flatten, tree_map, tree_map_only
from torch.utils.data import DataLoader, Dataset

DIM = 12


class PairDataset(Dataset):
    def __init__(self, n, rng):
        self.topics = rng.integers(0, 20, size=n)
        centers = np.random.default_rng(123).standard_normal((20, DIM))
        self.query = (centers[self.topics] + 0.6 * rng.standard_normal((n, DIM))).astype(
            np.float32)
        self.doc = (centers[self.topics] + 0.6 * rng.standard_normal((n, DIM))).astype(
            np.float32)

    def __len__(self):
        return len(self.topics)

    def __getitem__(self, i):
        return {"query": {"features": torch.asarray(self.query[i])},
                "doc": {"features": torch.asarray(self.doc[i]),
                        "topic": torch.asarray(self.topics[i])}}


def tower():
    first = nn.utils.skip_init(nn.Linear, DIM, 32)
    with torch.no_grad():                         # skip_init leaves the values to us
        nn.init.orthogonal_(first.weight)
        first.bias.zero_()
    return nn.Sequential(first, nn.ReLU(), nn.Linear(32, 16))


class TwoTower(nn.Module):
    def __init__(self):
        super().__init__()
        self.q, self.d = tower(), tower()

    def forward(self, batch):
        return self.q(batch["query"]["features"]), self.d(batch["doc"]["features"])


def main():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    train, test = PairDataset(1024, rng), PairDataset(200, rng)
    loader = DataLoader(train, batch_size=64, shuffle=True,
                        generator=torch.Generator().manual_seed(0))
    device = torch.device("cpu")
    model = TwoTower().to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        taus = torch.range(0.2, 0.05, -0.05)      # 4 values, the end included
    leaves = None
    for epoch, tau in enumerate(taus.tolist()):
        for batch in loader:
            batch = tree_map(lambda t: t.to(device), batch)
            batch = tree_map_only(torch.Tensor, lambda t: t.float() if t.is_floating_point()
                                  else t, batch)
            leaves = len(tree_flatten(batch)[0])
            q, d = model(batch)
            sim = torch.cosine_similarity(q[:, None, :], d[None, :, :], dim=-1)
            loss = F.cross_entropy(sim / tau, torch.arange(q.shape[0], device=device))
            opt.zero_grad()
            loss.backward()
            opt.step()

    model.eval()
    with torch.no_grad():
        qf = torch.asarray(test.query)
        df = torch.asarray(test.doc)
        q, d = model.q(qf), model.d(df)
        sim = torch.cosine_similarity(q[:, None, :], d[None, :, :], dim=-1)
        top = sim.argmax(1)
        same_topic = torch.asarray(test.topics)[top] == torch.asarray(test.topics)
        recall = same_topic.float().mean().item()
        spread = torch.pdist(F.normalize(d, dim=1)).mean().item()
    print(f"leaves per batch {leaves}, temperatures {taus.numel()}, topic recall@1 {recall:.3f}, "
          f"mean pairwise distance {spread:.3f}, last loss {loss.item():.3f}")
    print(f"METRIC recall_plus_structure {recall + leaves + taus.numel() + (spread > 0.5):.4f}")


if __name__ == "__main__":
    main()
