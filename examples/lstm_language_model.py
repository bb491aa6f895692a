"""Train a 2-layer LSTM language model on Markov-chain text and compare its perplexity with the
best achievable one (the source's known entropy rate).

The text comes from ``chainrule.datasets.MarkovChainText``: an order-k Markov chain, so the
lowest cross-entropy any model can reach is the chain's entropy rate H (nats per character),
i.e. a perplexity of exp(H). A model that learned the chain gets close to that floor on
held-out text; the gap is what it has not learned (or what it overfits).

Run (fast defaults, a few seconds)::

    python examples/lstm_language_model.py
    python examples/lstm_language_model.py --epochs 20 --hidden 128 \
        --dropout variational=0.2,weight_drop=0.3
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn, optim
from chainrule.datasets import MarkovChainText


class CharLSTM(nn.Module):
    """Embedding -> LSTM (num_layers, batch_first) -> Linear to next-character logits."""

    def __init__(self, vocab: int, embed: int, hidden: int, layers: int, dropout: object) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        self.lstm = nn.LSTM(embed, hidden, num_layers=layers, batch_first=True, dropout=dropout,
                            generator=cr.Generator().manual_seed(0))
        self.head = nn.Linear(hidden, vocab)

    def forward(self, tokens: cr.Tensor, state: tuple | None = None) -> tuple:
        out, state = self.lstm(self.embed(tokens), state)
        return self.head(out), state


def parse_dropout(spec: str) -> object:
    """``"0.2"`` -> 0.2 (between layers); ``"variational=0.2,weight_drop=0.3"`` -> a dict."""
    if not spec:
        return 0.0
    if "=" not in spec:
        return float(spec)
    return {k.strip(): float(v) for k, v in (item.split("=") for item in spec.split(","))}


def windows(tokens: np.ndarray, seq_len: int) -> list[tuple[cr.Tensor, cr.Tensor]]:
    """Consecutive (input, next-character target) windows over streams ``(batch, length)``."""
    out = []
    for start in range(0, tokens.shape[1] - 1 - seq_len + 1, seq_len):
        chunk = tokens[:, start:start + seq_len + 1]
        out.append((cr.tensor(chunk[:, :-1]), cr.tensor(chunk[:, 1:])))
    return out


def run_epoch(model: CharLSTM, data: list, vocab: int, opt: optim.Optimizer | None) -> float:
    """Mean cross-entropy (nats/char) over ``data``; trains when ``opt`` is given (truncated
    BPTT: the state is carried across windows but not differentiated through)."""
    model.train(opt is not None)
    state, total, count = None, 0.0, 0
    for x, y in data:
        with cr.set_grad_enabled(opt is not None):
            logits, state = model(x, state)
            loss = F.cross_entropy(logits.reshape(-1, vocab), y.reshape(-1))
        state = tuple(s.detach() for s in state)
        if opt is not None:
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
        total += float(loss.item()) * y.numel()
        count += y.numel()
    return total / count


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vocab", type=int, default=12)
    ap.add_argument("--order", type=int, default=2)
    ap.add_argument("--concentration", type=float, default=0.2)
    ap.add_argument("--streams", type=int, default=32, help="batch size (parallel streams)")
    ap.add_argument("--train-len", type=int, default=1600)
    ap.add_argument("--val-len", type=int, default=400)
    ap.add_argument("--seq-len", type=int, default=40)
    ap.add_argument("--embed", type=int, default=16)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--dropout", type=str, default="", help='e.g. "0.2" or "variational=0.2"')
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--lr", type=float, default=1e-2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    cr.manual_seed(args.seed)
    src = MarkovChainText(args.vocab, order=args.order, concentration=args.concentration,
                          seed=args.seed)
    train = windows(src.sample_batch(args.streams, args.train_len, seed=args.seed + 1),
                    args.seq_len)
    val = windows(src.sample_batch(args.streams, args.val_len, seed=args.seed + 2), args.seq_len)
    floor = src.entropy_rate
    unigram = -(src.stationary.reshape(args.vocab, -1).sum(1) *
                np.log(src.stationary.reshape(args.vocab, -1).sum(1))).sum()
    print(f"source: {src}")
    print(f"entropy floor: {floor:.4f} nats/char (perplexity {math.exp(floor):.3f}); "
          f"unigram baseline perplexity {math.exp(unigram):.3f}; uniform {args.vocab}")
    model = CharLSTM(args.vocab, args.embed, args.hidden, args.layers,
                     parse_dropout(args.dropout))
    opt = optim.Adam(model.parameters(), lr=args.lr)
    print(f"{'epoch':>5} {'train ppl':>10} {'val ppl':>10} {'floor':>8} {'gap nats':>9} "
          f"{'time':>7}")
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        tr = run_epoch(model, train, args.vocab, opt)
        va = run_epoch(model, val, args.vocab, None)
        print(f"{epoch:>5} {math.exp(tr):>10.3f} {math.exp(va):>10.3f} {math.exp(floor):>8.3f} "
              f"{va - floor:>+9.4f} {time.perf_counter() - t0:>6.2f}s")
    print(f"final validation perplexity {math.exp(va):.3f} vs the floor {math.exp(floor):.3f} "
          f"({100 * (math.exp(va) / math.exp(floor) - 1):.1f}% above)")


if __name__ == "__main__":
    main()
