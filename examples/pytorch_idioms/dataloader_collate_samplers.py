"""Variable-length sequences through ``DataLoader`` with a padding ``collate_fn``, a
length-bucketing ``Sampler`` subclass used as ``batch_sampler``, an ``IterableDataset`` and a
``ConcatDataset``; a small bag-of-embeddings classifier is trained on the padded batches.

Idioms: ``Dataset`` returning a dict; ``collate_fn`` with ``pad_sequence(batch_first=True,
padding_value=0)`` and ``torch.tensor([len(s) for s in seqs])``; ``default_collate`` on dicts;
a ``Sampler`` subclass with ``__iter__`` / ``__len__`` passed as ``batch_sampler=``;
``BatchSampler(SequentialSampler(ds), batch_size=4, drop_last=False)``;
``SubsetRandomSampler(indices, generator=g)``; an ``IterableDataset`` whose ``__iter__`` checks
``get_worker_info()``; ``ConcatDataset([...])``; masked mean pooling with
``(mask.unsqueeze(-1) * emb).sum(1) / mask.sum(1, keepdim=True)``.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import (
    BatchSampler,
    ConcatDataset,
    DataLoader,
    Dataset,
    IterableDataset,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    get_worker_info,
)
from torch.utils.data.dataloader import default_collate

g = torch.Generator().manual_seed(0)
torch.manual_seed(0)
VOCAB = 12


class SeqDataset(Dataset):
    """Label 1 when token 3 occurs more often than token 4."""

    def __init__(self, n, seed):
        gen = torch.Generator().manual_seed(seed)
        self.items = []
        for _ in range(n):
            length = int(torch.randint(3, 12, (1,), generator=gen))
            seq = torch.randint(1, VOCAB, (length,), generator=gen)
            label = int((seq == 3).sum() > (seq == 4).sum())
            self.items.append({"tokens": seq, "label": label})

    def __len__(self):
        return len(self.items)

    def __getitem__(self, idx):
        return self.items[idx]


def collate_batch(batch):
    seqs = [item["tokens"] for item in batch]
    lengths = torch.tensor([len(s) for s in seqs])
    padded = pad_sequence(seqs, batch_first=True, padding_value=0)
    labels = torch.tensor([item["label"] for item in batch], dtype=torch.long)
    return padded, lengths, labels


class BucketBatchSampler(Sampler):
    """Batches of indices of similar length (sorted within random chunks)."""

    def __init__(self, lengths, batch_size, generator):
        self.lengths, self.batch_size, self.generator = lengths, batch_size, generator

    def __iter__(self):
        order = torch.randperm(len(self.lengths), generator=self.generator).tolist()
        order.sort(key=lambda i: self.lengths[i])
        batches = [order[i:i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        for k in torch.randperm(len(batches), generator=self.generator).tolist():
            yield batches[k]

    def __len__(self):
        return (len(self.lengths) + self.batch_size - 1) // self.batch_size


class CountingStream(IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        assert get_worker_info() is None          # main process
        for i in range(self.n):
            yield torch.tensor([i, i * i])


class BagClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, 16, padding_idx=0)
        self.fc = nn.Linear(16, 2)

    def forward(self, tokens):
        mask = (tokens != 0).float()
        emb = self.emb(tokens)
        pooled = (mask.unsqueeze(-1) * emb).sum(1) / mask.sum(1, keepdim=True)
        return self.fc(pooled * 4)


train = ConcatDataset([SeqDataset(200, 1), SeqDataset(200, 2)])
test = SeqDataset(200, 3)
assert len(train) == 400 and train[250]["tokens"].dtype == torch.int64
lengths = [len(train[i]["tokens"]) for i in range(len(train))]
loader = DataLoader(train, batch_sampler=BucketBatchSampler(lengths, 16, g),
                    collate_fn=collate_batch)
checks = int(len(loader) == 25)
first = default_collate([{"a": torch.ones(2), "b": 1}, {"a": torch.zeros(2), "b": 2}])
checks += int(first["a"].shape == (2, 2) and first["b"].tolist() == [1, 2])
seq_batches = list(BatchSampler(SequentialSampler(range(10)), batch_size=4, drop_last=False))
checks += int(seq_batches == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]])
subset = list(DataLoader(test, batch_size=8, collate_fn=collate_batch,
                         sampler=SubsetRandomSampler(list(range(0, 200, 2)), generator=g)))
checks += int(sum(b[2].numel() for b in subset) == 100)
stream = torch.cat(list(DataLoader(CountingStream(10), batch_size=4)))
checks += int(stream[:, 1].sum().item() == 285)

model = BagClassifier()
optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
for epoch in range(8):
    for tokens, lens, labels in loader:
        assert tokens.shape[1] == lens.max().item()
        loss = F.cross_entropy(model(tokens), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
correct = 0
with torch.no_grad():
    for tokens, lens, labels in DataLoader(test, batch_size=32, collate_fn=collate_batch):
        correct += (model(tokens).argmax(1) == labels).sum().item()
acc = correct / len(test)
print("structure checks:", checks, "of 5")
print(f"METRIC accuracy_plus_checks {acc + checks:.3f}")
