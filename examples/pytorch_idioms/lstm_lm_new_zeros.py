"""An LSTM / GRU / RNN language model with truncated backpropagation through time
(pytorch/examples word_language_model layout, on a generated corpus).

Idioms: ``getattr(nn, rnn_type)(ninp, nhid, nlayers, dropout=dropout)`` (sequence-first),
``init_hidden`` from ``weight = next(self.parameters())`` and ``weight.new_zeros(...)``, an
``(h, c)`` tuple for LSTM, ``repackage_hidden`` with ``isinstance(h, torch.Tensor)`` and
``h.detach()``, ``batchify`` with ``data.narrow(0, 0, nbatch * bsz)`` and
``.view(bsz, -1).t().contiguous()``, ``get_batch`` slices, weight tying, ``math.exp`` perplexity,
``torch.nn.utils.clip_grad_norm_`` followed by a manual ``p.add_(p.grad, alpha=-lr)`` update.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class RNNModel(nn.Module):
    def __init__(self, rnn_type, ntoken, ninp, nhid, nlayers, dropout=0.2, tie_weights=True):
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        if rnn_type in ["LSTM", "GRU"]:
            self.rnn = getattr(nn, rnn_type)(ninp, nhid, nlayers, dropout=dropout)
        else:
            self.rnn = nn.RNN(ninp, nhid, nlayers, nonlinearity="tanh", dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)
        if tie_weights:
            self.decoder.weight = self.encoder.weight
        self.rnn_type, self.nhid, self.nlayers = rnn_type, nhid, nlayers

    def forward(self, input, hidden):
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        return F.log_softmax(self.decoder(self.drop(output)), dim=-1), hidden

    def init_hidden(self, bsz):
        weight = next(self.parameters())
        if self.rnn_type == "LSTM":
            return (weight.new_zeros(self.nlayers, bsz, self.nhid),
                    weight.new_zeros(self.nlayers, bsz, self.nhid))
        return weight.new_zeros(self.nlayers, bsz, self.nhid)


def repackage_hidden(h):
    if isinstance(h, torch.Tensor):
        return h.detach()
    return tuple(repackage_hidden(v) for v in h)


def batchify(data, bsz):
    nbatch = data.size(0) // bsz
    data = data.narrow(0, 0, nbatch * bsz)
    return data.view(bsz, -1).t().contiguous()


def get_batch(source, i, bptt=12):
    seq_len = min(bptt, len(source) - 1 - i)
    return source[i:i + seq_len], source[i + 1:i + 1 + seq_len].reshape(-1)


# A corpus from a deterministic grammar: each "word" is a token followed by its successor.
g = torch.Generator().manual_seed(3)
ntokens = 10
starts = torch.randint(0, ntokens, (1200,), generator=g)
corpus = torch.stack([starts, (starts * 3 + 1) % ntokens], dim=1).reshape(-1)
train_data = batchify(corpus[:2000], 16)
val_data = batchify(corpus[2000:], 8)

torch.manual_seed(3)
results = []
for rnn_type in ["LSTM", "GRU", "RNN_TANH"]:
    model = RNNModel(rnn_type, ntokens, 24, 24, 2, dropout=0.1)
    lr, criterion = 2.0, nn.NLLLoss()
    for epoch in range(3):
        model.train()
        hidden = model.init_hidden(16)
        for i in range(0, train_data.size(0) - 1, 12):
            data, targets = get_batch(train_data, i)
            hidden = repackage_hidden(hidden)
            model.zero_grad()
            output, hidden = model(data, hidden)
            loss = criterion(output.view(-1, ntokens), targets)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 0.25)
            for p in model.parameters():
                p.data.add_(p.grad, alpha=-lr)
    model.eval()
    total, hidden = 0.0, model.init_hidden(8)
    with torch.no_grad():
        for i in range(0, val_data.size(0) - 1, 12):
            data, targets = get_batch(val_data, i)
            output, hidden = model(data, hidden)
            total += len(data) * criterion(output.view(-1, ntokens), targets).item()
    val_loss = total / (len(val_data) - 1)
    results.append(val_loss)
    print(f"{rnn_type}: valid ppl {math.exp(val_loss):.3f}")
# Half the tokens are predictable, half uniform over 10: the floor is 0.5 * ln(10) = 1.151 nats.
print(f"METRIC mean_val_loss {sum(results) / len(results):.4f}")
