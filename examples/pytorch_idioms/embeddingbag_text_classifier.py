"""Bag-of-n-grams text classification with ``nn.EmbeddingBag`` and offsets.

Idioms (pytorch/tutorials "Text classification with the torchtext library"): a
``collate_batch`` that concatenates variable-length token lists and builds
``offsets = torch.tensor(offsets[:-1]).cumsum(dim=0)``; ``nn.EmbeddingBag(vocab, dim,
sparse=False)`` called as ``embedding(text, offsets)``; ``init_weights`` with
``weight.data.uniform_(-initrange, initrange)``; ``SGD(lr=5)`` with
``StepLR(optimizer, 1.0, gamma=0.1)`` stepped when validation stops improving;
``clip_grad_norm_(model.parameters(), 0.1)``; ``(predicted_label.argmax(1) == label).sum()``.
Also ``mode="max"`` / ``mode="sum"`` with ``per_sample_weights`` and ``padding_idx``, and
``EmbeddingBag.from_pretrained``, checked against a loop over bags.
"""
import torch
from torch import nn
from torch.utils.data import DataLoader

VOCAB, CLASSES = 60, 3


def make_corpus(n, gen):
    # each class owns 10 "keyword" tokens; sentences mix keywords with shared filler
    data = []
    for _ in range(n):
        label = int(torch.randint(0, CLASSES, (1,), generator=gen))
        length = int(torch.randint(4, 12, (1,), generator=gen))
        filler = torch.randint(30, VOCAB, (length,), generator=gen)
        keys = torch.randint(0, 10, (2,), generator=gen) + 10 * label
        tokens = torch.cat([filler, keys])[torch.randperm(length + 2, generator=gen)]
        data.append((label, tokens.tolist()))
    return data


def collate_batch(batch):
    label_list, text_list, offsets = [], [], [0]
    for _label, _text in batch:
        label_list.append(_label)
        processed_text = torch.tensor(_text, dtype=torch.int64)
        text_list.append(processed_text)
        offsets.append(processed_text.size(0))
    label_list = torch.tensor(label_list, dtype=torch.int64)
    offsets = torch.tensor(offsets[:-1]).cumsum(dim=0)
    text_list = torch.cat(text_list)
    return label_list, text_list, offsets


class TextClassificationModel(nn.Module):
    def __init__(self, vocab_size, embed_dim, num_class):
        super().__init__()
        self.embedding = nn.EmbeddingBag(vocab_size, embed_dim, sparse=False)
        self.fc = nn.Linear(embed_dim, num_class)
        self.init_weights()

    def init_weights(self):
        initrange = 0.5
        self.embedding.weight.data.uniform_(-initrange, initrange)
        self.fc.weight.data.uniform_(-initrange, initrange)
        self.fc.bias.data.zero_()

    def forward(self, text, offsets):
        embedded = self.embedding(text, offsets)
        return self.fc(embedded)


def evaluate(model, loader):
    model.eval()
    total_acc, total_count = 0, 0
    with torch.no_grad():
        for label, text, offsets in loader:
            predicted_label = model(text, offsets)
            total_acc += (predicted_label.argmax(1) == label).sum().item()
            total_count += label.size(0)
    return total_acc / total_count


def bag_checks():
    """EmbeddingBag modes against an explicit loop over the bags."""
    weight = torch.arange(20.0).view(10, 2) / 10
    text = torch.tensor([1, 2, 4, 5, 4, 3, 2, 9])
    offsets = torch.tensor([0, 4, 4])               # the middle bag is empty
    ok = 0
    bag_max = nn.EmbeddingBag.from_pretrained(weight, mode="max")
    out = bag_max(text, offsets)
    ok += torch.allclose(out[0], weight[text[:4]].max(0).values) and bool((out[1] == 0).all())
    bag_sum = nn.EmbeddingBag(10, 2, mode="sum", padding_idx=2)
    bag_sum.weight.data.copy_(weight)
    psw = torch.linspace(0.5, 2.0, 8)
    out = bag_sum(text, offsets, per_sample_weights=psw)
    keep = (text != 2).float() * psw
    manual = (weight[text] * keep[:, None]).view(2, 4, 2).sum(1)
    ok += torch.allclose(out[0], manual[0]) and torch.allclose(out[2], manual[1])
    bag2d = nn.EmbeddingBag.from_pretrained(weight, mode="mean")
    ok += torch.allclose(bag2d(text.view(2, 4)), weight[text].view(2, 4, 2).mean(1))
    return ok


def main():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    train_data, valid_data, test_data = (make_corpus(n, gen) for n in (600, 150, 300))
    train_loader = DataLoader(train_data, batch_size=32, shuffle=True, collate_fn=collate_batch,
                              generator=gen)
    valid_loader = DataLoader(valid_data, batch_size=64, collate_fn=collate_batch)
    test_loader = DataLoader(test_data, batch_size=64, collate_fn=collate_batch)
    model = TextClassificationModel(VOCAB, 16, CLASSES)
    criterion = torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=5)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 1.0, gamma=0.1)
    total_accu = None
    for epoch in range(4):
        model.train()
        for label, text, offsets in train_loader:
            optimizer.zero_grad()
            loss = criterion(model(text, offsets), label)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 0.1)
            optimizer.step()
        accu_val = evaluate(model, valid_loader)
        if total_accu is not None and total_accu > accu_val:
            scheduler.step()
        else:
            total_accu = accu_val
    acc = evaluate(model, test_loader)
    checks = bag_checks()
    print(f"test accuracy {acc:.3f}, bag checks {checks}/3")
    print(f"METRIC accuracy_plus_checks {acc + checks:.4f}")


if __name__ == "__main__":
    main()
