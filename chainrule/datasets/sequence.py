"""Seeded synthetic sequence tasks for recurrent networks.

* :func:`memory_task`: classify a noisy sequence by its *first* symbol, so the network has to
  carry one piece of information across ``seq_len`` steps of distractors;
* :class:`MarkovChainText`: a character source from a random Markov chain whose entropy rate is
  known exactly, so a language model's perplexity can be compared with the best achievable
  one, exp(entropy rate).

Everything is reproducible from ``seed`` (an int, a ``chainrule.Generator`` or a NumPy
Generator) and returned as NumPy arrays (wrap them in ``TensorDataset`` to train).
"""

from __future__ import annotations

import string
from typing import Any

import numpy as np

from chainrule import random as _random

__all__ = ["memory_task", "MarkovChainText"]


def _rng(seed: Any) -> np.random.Generator:
    if isinstance(seed, (int, np.integer)):
        return np.random.default_rng(int(seed))
    return _random.rng(seed)


def memory_task(n_samples: int = 1000, seq_len: int = 20, num_symbols: int = 4,
                noise: float = 0.1, seed: Any = 0,
                batch_first: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Remember the first symbol: x_0 = onehot(y), x_t = onehot(u_t) for t ≥ 1 with distractor
    symbols u_t uniform on the same alphabet, plus N(0, noise²) on every entry; the label is y.

    Returns ``X`` float32 ``(n_samples, seq_len, num_symbols)`` (``(seq_len, n_samples, ...)``
    unless ``batch_first``) and ``y`` int64 ``(n_samples,)``; classes are balanced up to one.
    Chance accuracy is 1/num_symbols; any model that only sees the last steps stays there.

    Example::

        X, y = memory_task(512, seq_len=30, num_symbols=4, seed=0)    # (512, 30, 4), (512,)
    """
    if seq_len < 1 or num_symbols < 2 or n_samples < 1:
        raise ValueError(
            f"memory_task: need n_samples >= 1, seq_len >= 1 and num_symbols >= 2, got "
            f"{n_samples}, {seq_len}, {num_symbols}"
        )
    rng = _rng(seed)
    y = rng.permutation(np.arange(n_samples) % num_symbols)
    symbols = rng.integers(0, num_symbols, (n_samples, seq_len))
    symbols[:, 0] = y
    X = np.eye(num_symbols)[symbols] + noise * rng.standard_normal(
        (n_samples, seq_len, num_symbols))
    X = X.astype(np.float32)
    if not batch_first:
        X = np.ascontiguousarray(X.transpose(1, 0, 2))
    return X, y.astype(np.int64)


class MarkovChainText:
    """A character source: an order-k Markov chain with rows drawn from Dirichlet(α), seeded.

    The next symbol depends on the previous ``order`` symbols (the state s) through the
    transition matrix P (one row per state). The entropy rate is exact:
    H = -Σ_s π_s Σ_b P(b | s) ln P(b | s)  (nats per symbol), with π the stationary
    distribution of the states; no model can reach a cross-entropy below H, i.e. a perplexity
    below exp(H). Small ``concentration`` makes rows peaked (lower entropy, more structure).
    Samples start from the stationary distribution, so they are stationary from step 0.

    Example::

        src = MarkovChainText(vocab_size=16, order=2, seed=0)
        tokens = src.sample_batch(32, 1000, seed=1)        # int64 (32, 1000)
        src.entropy_rate, src.perplexity                    # the floor a model can reach
    """

    def __init__(self, vocab_size: int = 16, order: int = 1, concentration: float = 0.3,
                 seed: Any = 0, alphabet: str | None = None) -> None:
        if vocab_size < 2 or order < 1:
            raise ValueError(f"MarkovChainText: need vocab_size >= 2 and order >= 1, got "
                             f"{vocab_size}, {order}")
        if vocab_size**order > 1_000_000:
            raise ValueError(f"MarkovChainText: {vocab_size}^{order} states is too many")
        if concentration <= 0:
            raise ValueError(f"MarkovChainText: concentration must be > 0, got {concentration}")
        alphabet = alphabet or (string.ascii_lowercase + " .,;:!?'-" + string.ascii_uppercase)
        if len(alphabet) < vocab_size:
            raise ValueError(f"MarkovChainText: the alphabet has {len(alphabet)} characters for "
                             f"a vocabulary of {vocab_size}")
        self.vocab_size, self.order, self.concentration = vocab_size, order, concentration
        self.alphabet = alphabet[:vocab_size]
        rng = _rng(seed)
        n_states = vocab_size**order
        P = rng.dirichlet(np.full(vocab_size, concentration), size=n_states)
        # a row of exact zeros (possible for tiny α in floating point) would make the chain
        # reducible: floor every probability, then renormalise
        P = np.maximum(P, 1e-12)
        self._P = P / P.sum(1, keepdims=True)
        self._pi = self._stationary()

    def _stationary(self) -> np.ndarray:
        """Stationary distribution of the k-gram states, by power iteration.

        State s = (a, r) with a the oldest symbol and r the rest moves to (r, b) with
        probability P(b | s): π'(r, b) = Σ_a π(a, r) P(b | a, r).
        """
        V = self.vocab_size
        rest = V ** (self.order - 1)
        P3 = self._P.reshape(V, rest, V)
        pi = np.full(V * rest, 1.0 / (V * rest))
        for _ in range(100_000):
            new = np.einsum("ar,arb->rb", pi.reshape(V, rest), P3).reshape(-1)
            if np.abs(new - pi).sum() < 1e-14:
                return new / new.sum()
            pi = new
        return pi / pi.sum()

    @property
    def transition(self) -> np.ndarray:
        """P(next symbol | state), shape ``(vocab_size**order, vocab_size)``."""
        return self._P

    @property
    def stationary(self) -> np.ndarray:
        """Stationary distribution of the states (k-grams), shape ``(vocab_size**order,)``."""
        return self._pi

    @property
    def entropy_rate(self) -> float:
        """H = -Σ_s π_s Σ_b P(b|s) ln P(b|s), in nats per symbol."""
        P = self._P
        return float(-(self._pi[:, None] * P * np.log(P)).sum())

    @property
    def entropy_rate_bits(self) -> float:
        """The entropy rate in bits per symbol."""
        return self.entropy_rate / np.log(2.0)

    @property
    def perplexity(self) -> float:
        """exp(H): the lowest perplexity any model of this source can reach."""
        return float(np.exp(self.entropy_rate))

    def sample_batch(self, num_sequences: int, length: int, seed: Any = 0) -> np.ndarray:
        """``num_sequences`` independent stationary sequences, int64 ``(num_sequences, length)``.

        One vectorised step per position (over all sequences): x_{t+1} is the first symbol
        whose cumulative probability in row P(· | s_t) exceeds a uniform draw.
        """
        if length < 1 or num_sequences < 1:
            raise ValueError(f"sample_batch: need num_sequences >= 1 and length >= 1, got "
                             f"{num_sequences}, {length}")
        rng = _rng(seed)
        V, k = self.vocab_size, self.order
        n_states = V**k
        state = rng.choice(n_states, size=num_sequences, p=self._pi)
        first = np.stack([(state // V ** (k - 1 - j)) % V for j in range(k)], axis=1)
        out = np.empty((num_sequences, max(length, k)), dtype=np.int64)
        out[:, :k] = first
        cum = np.cumsum(self._P, axis=1)
        cum[:, -1] = 1.0 + 1e-12  # a draw in [0, 1) always lands on a symbol
        u = rng.random((num_sequences, max(length - k, 0)))
        for t in range(k, length):
            nxt = (cum[state] > u[:, t - k, None]).argmax(1)
            out[:, t] = nxt
            state = (state * V + nxt) % n_states
        return out[:, :length]

    def sample(self, length: int, seed: Any = 0) -> np.ndarray:
        """One stationary sequence of ``length`` symbols (int64)."""
        return self.sample_batch(1, length, seed)[0]

    def text(self, length: int, seed: Any = 0) -> str:
        """One sample as a string over ``alphabet``."""
        return self.decode(self.sample(length, seed))

    def decode(self, tokens: Any) -> str:
        """Symbol indices to characters."""
        return "".join(self.alphabet[int(t)] for t in np.asarray(tokens).reshape(-1))

    def nll(self, tokens: np.ndarray) -> float:
        """Mean negative log-likelihood (nats per symbol) of ``tokens`` ``(..., L)`` under the
        true chain, over the positions that have a full state (t ≥ order)."""
        tok = np.atleast_2d(np.asarray(tokens))
        V, k = self.vocab_size, self.order
        state = np.zeros(tok.shape[:-1] + (tok.shape[-1] - k,), dtype=np.int64)
        for j in range(k):
            state = state * V + tok[..., j:tok.shape[-1] - k + j]
        return float(-np.log(self._P[state, tok[..., k:]]).mean())

    def __repr__(self) -> str:
        return (f"MarkovChainText(vocab_size={self.vocab_size}, order={self.order}, "
                f"entropy_rate={self.entropy_rate:.4f} nats, perplexity={self.perplexity:.3f})")
