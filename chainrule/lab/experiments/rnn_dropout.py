"""Dropout in recurrent networks: where it may go, and where it erases the memory (C4–C7).

Language-model experiments (C4, C5, C7) train a 2-layer LSTM on text from a seeded Markov
chain (:class:`chainrule.datasets.sequence.MarkovChainText`), whose entropy rate H is known, so
every perplexity is shown beside the floor exp(H) that no model can beat. The training corpus
is small on purpose: without dropout the model memorises it and the validation perplexity
turns up. Placements come from ``nn.LSTM``'s ``dropout=`` switch (:class:`nn.RNNDropout`).

C6 is the memory task (:func:`chainrule.datasets.sequence.memory_task`: classify a sequence by
its first symbol). The two placements on the cell state c_t (per-step and per-sequence masks)
are not offered by ``nn.LSTM`` — they are the ones the literature warns against — so C6 runs
its own LSTM recurrence with the parameters of an ``nn.LSTMCell``: a composite per-step loop
(:func:`masked_lstm_scan_composite`) and a fused primitive with NumPy BPTT
(:class:`MaskedLSTMScan`, the same pattern as ``ops.recurrent.RecurrentScan``) that the
experiment uses for speed; the unit tests hold the two to each other.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import chainrule as cr
from chainrule import nn, optim
from chainrule.autograd.engine import Function, _GradMode
from chainrule.backend import xp
from chainrule.datasets.sequence import MarkovChainText, memory_task
from chainrule.lab import common
from chainrule.lab.experiment import HOLDS, INCONCLUSIVE, REFUTED, Context, Experiment, Result
from chainrule.lab.experiment import register
from chainrule.lab.verdict import below, combine, compare, fmt, mean_std
from chainrule.ops.recurrent import recompute_vjp
from chainrule.tensor import Tensor, _wrap, apply, stack

__all__ = [
    "MarkovLM", "LMConfig", "train_lm", "MaskedLSTMScan", "masked_lstm_scan",
    "masked_lstm_scan_composite", "MemoryLSTM", "C4NonRecurrentDropout",
    "C5VariationalDropout", "C6MemoryLoss", "C7WeightDrop",
]


# ---- the Markov language model (C4, C5, C7) ---------------------------------------------------
@dataclasses.dataclass(frozen=True)
class LMConfig:
    """Source, model and budget of the language-model experiments (one value per field, so a
    config is a cache key: arms shared by C4, C5 and C7 are trained once per process)."""

    vocab: int = 12
    order: int = 2
    concentration: float = 0.3
    hidden: int = 48
    length: int = 30
    n_train: int = 96
    n_val: int = 128
    batch: int = 32
    steps: int = 120
    every: int = 5
    lr: float = 1e-2
    clip: float = 5.0
    source_seed: int = 0

    def source(self) -> MarkovChainText:
        return MarkovChainText(vocab_size=self.vocab, order=self.order,
                               concentration=self.concentration, seed=self.source_seed)


def lm_config(ctx: Context) -> LMConfig:
    """The LM budget by run level (tiny: a few steps on a few sequences)."""
    if ctx.tiny:
        return LMConfig(hidden=16, length=12, n_train=16, n_val=16, batch=8, steps=4, every=2)
    if ctx.quick:
        return LMConfig()
    return LMConfig(hidden=64, n_train=128, n_val=256, steps=400, every=10)


class MarkovLM(nn.Module):
    """Embedding → 2-layer LSTM (``dropout=`` any :class:`nn.RNNDropout` spec) → Linear decoder.

    logits_t = W_dec h²_t + b_dec, with h²_t the top LSTM layer's output after reading tokens
    x_0..x_t; trained with cross-entropy on the next token.

    Example::

        lm = MarkovLM(12, 32, dropout={"nonrecurrent": 0.5})
        logits = lm(chainrule.tensor([[1, 2, 3]]))      # (1, 3, 12)
    """

    def __init__(self, vocab: int, hidden: int, dropout: Any = 0.0,
                 lstm_cls: type[nn.LSTM] | None = None) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab, hidden)
        self.lstm = (lstm_cls or nn.LSTM)(hidden, hidden, num_layers=2, batch_first=True,
                                          dropout=dropout)
        self.decoder = nn.Linear(hidden, vocab)

    def forward(self, tokens: Tensor) -> Tensor:
        out, _ = self.lstm(self.embedding(tokens))
        return self.decoder(out)


class HiddenOnlyVariationalLSTM(nn.LSTM):
    """``nn.LSTM`` whose ``variational`` rate masks only h_{t-1} in the recurrent product (one
    mask per sequence), not the layer inputs and outputs: the "variational h" arm of C7, so
    that it differs from weight drop in one factor (the library's ``variational`` placement
    also drops the non-recurrent connections).

    Example::

        lstm = HiddenOnlyVariationalLSTM(8, 8, num_layers=2, dropout={"variational": 0.5})
    """

    def _drop_io(self, x: Tensor, layer: int, rng: Any, output: bool) -> Tensor:
        return x


def _lm_loss(model: nn.Module, tokens: np.ndarray, order: int) -> Tensor:
    """Mean next-token cross-entropy over the positions whose Markov state is fully seen
    (t ≥ order): only there is exp(H) a floor."""
    logits = model(common.as_tensor(tokens[:, :-1]))[:, order - 1:]
    target = common.as_tensor(tokens[:, order:])
    V = logits.shape[-1]
    return nn.functional.cross_entropy(logits.reshape(-1, V), target.reshape(-1))


def _eval_loss(model: nn.Module, tokens: np.ndarray, order: int) -> float:
    was = model.training
    model.eval()
    with cr.no_grad():
        loss = float(_lm_loss(model, tokens, order).item())
    model.train(was)
    return loss


def mc_loss(model: MarkovLM, tokens: np.ndarray, order: int, samples: int,
            seed: int) -> float:
    """MC-dropout cross-entropy: −mean log((1/K) Σ_k softmax(logits under mask k))[target]
    (Gal & Ghahramani 2016), with K = ``samples`` dropout masks drawn at test time."""
    was, gen = model.training, model.lstm.generator
    model.train()
    model.lstm.generator = cr.Generator().manual_seed(seed)
    x = common.as_tensor(tokens[:, :-1])
    target = tokens[:, order:]
    prob = 0.0
    try:
        with cr.no_grad():
            for _ in range(samples):
                logits = model(x).data[:, order - 1:].astype(np.float64)
                logits -= logits.max(-1, keepdims=True)
                e = np.exp(logits)
                prob = prob + e / e.sum(-1, keepdims=True)
    finally:
        model.lstm.generator = gen
        model.train(was)
    p = np.take_along_axis(prob / samples, target[..., None], -1)
    return float(-np.log(np.maximum(p, 1e-300)).mean())


_LM_CACHE: dict[tuple, dict[str, Any]] = {}


def train_lm(cfg: LMConfig, dropout: dict[str, float], seed: int,
             hidden_only: bool = False, mc_samples: int = 0) -> dict[str, Any]:
    """Train one arm for one seed (cached per process by the full configuration).

    Returns per-evaluation train/val losses (nats, eval mode), the best val loss and its step,
    the final val loss, seconds per step and, with ``mc_samples``, the MC-dropout val loss of
    the best checkpoint.
    """
    key = (cfg, tuple(sorted(dropout.items())), seed, hidden_only, mc_samples)
    if key in _LM_CACHE:
        return _LM_CACHE[key]
    src = cfg.source()
    train = src.sample_batch(cfg.n_train, cfg.length + 1, seed=1_000 + seed)
    val = src.sample_batch(cfg.n_val, cfg.length + 1, seed=999_999)
    common.seeded(seed)  # same init and masks stream for every arm of this seed
    model = MarkovLM(cfg.vocab, cfg.hidden, dict(dropout),
                     HiddenOnlyVariationalLSTM if hidden_only else None)
    opt = optim.Adam(model.parameters(), lr=cfg.lr)
    steps_at, train_curve, val_curve = [], [], []
    best, best_state = math.inf, None
    spent = 0.0
    model.train()
    for step, idx in enumerate(common.batches(cfg.n_train, cfg.batch, cfg.steps, seed), 1):
        t0 = time.perf_counter()
        opt.zero_grad()
        _lm_loss(model, train[idx], cfg.order).backward()
        nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
        opt.step()
        spent += time.perf_counter() - t0
        if step % cfg.every == 0 or step == cfg.steps:
            v = _eval_loss(model, val, cfg.order)
            steps_at.append(step)
            val_curve.append(v)
            train_curve.append(_eval_loss(model, train[:64], cfg.order))
            if v < best:
                best = v
                best_state = {k: t.data.copy() for k, t in model.state_dict().items()}
    out: dict[str, Any] = {
        "steps": steps_at, "train": train_curve, "val": val_curve,
        "best_val": best, "best_step": steps_at[int(np.argmin(val_curve))],
        "final_val": val_curve[-1], "final_train": train_curve[-1],
        "sec_per_step": spent / cfg.steps, "floor": src.entropy_rate,
    }
    if mc_samples and best_state is not None:
        model.load_state_dict({k: cr.from_numpy(v) for k, v in best_state.items()})
        out["best_val_std"] = _eval_loss(model, val, cfg.order)
        out["best_val_mc"] = mc_loss(model, val, cfg.order, mc_samples, seed + 77)
    _LM_CACHE[key] = out
    return out
