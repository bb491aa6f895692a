"""The synthetic sequence tasks: the memory task and the Markov-chain text source."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.datasets import MarkovChainText, memory_task


def test_memory_task_shapes_labels_and_reproducibility() -> None:
    X, y = memory_task(90, seq_len=12, num_symbols=3, noise=0.05, seed=4)
    assert X.shape == (90, 12, 3) and X.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_array_equal(X[:, 0].argmax(1), y)  # the label is the first symbol
    np.testing.assert_array_equal(np.bincount(y), [30, 30, 30])
    assert not np.array_equal(X[:, 1:].argmax(2), np.broadcast_to(y[:, None], (90, 11)))
    X2, y2 = memory_task(90, seq_len=12, num_symbols=3, noise=0.05, seed=4)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    X3, _ = memory_task(90, seq_len=12, num_symbols=3, noise=0.05,
                        seed=cr.Generator().manual_seed(5))
    assert not np.array_equal(X, X3)
    Xt, yt = memory_task(90, seq_len=12, num_symbols=3, noise=0.05, seed=4, batch_first=False)
    np.testing.assert_array_equal(Xt, X.transpose(1, 0, 2))
    # the distractors carry no information about the label
    last = X[:, -1].argmax(1)
    assert abs(np.mean(last == y) - 1 / 3) < 0.2
    with pytest.raises(ValueError, match="num_symbols >= 2"):
        memory_task(10, 5, num_symbols=1)


def test_markov_chain_is_a_valid_stationary_chain() -> None:
    src = MarkovChainText(vocab_size=6, order=1, concentration=0.5, seed=0)
    P, pi = src.transition, src.stationary
    np.testing.assert_allclose(P.sum(1), 1.0)
    np.testing.assert_allclose(pi @ P, pi, atol=1e-12)
    H = -sum(pi[i] * P[i, j] * np.log(P[i, j]) for i in range(6) for j in range(6))
    assert src.entropy_rate == pytest.approx(H, rel=1e-12)
    assert src.entropy_rate_bits == pytest.approx(H / np.log(2))
    assert src.perplexity == pytest.approx(np.exp(H))
    assert 0 < src.entropy_rate < np.log(6)


def test_order_two_stationary_distribution() -> None:
    src = MarkovChainText(vocab_size=4, order=2, seed=3)
    V = 4
    T = np.zeros((V * V, V * V))
    for s in range(V * V):
        for b in range(V):
            T[s, (s * V + b) % (V * V)] += src.transition[s, b]
    np.testing.assert_allclose(src.stationary @ T, src.stationary, atol=1e-12)


def test_samples_match_the_known_entropy_rate() -> None:
    src = MarkovChainText(vocab_size=8, order=2, concentration=0.3, seed=1)
    x = src.sample_batch(40, 2000, seed=2)
    assert x.shape == (40, 2000) and x.dtype == np.int64
    assert x.min() >= 0 and x.max() < 8
    # the true model's NLL on its own samples converges to the entropy rate
    assert src.nll(x) == pytest.approx(src.entropy_rate, abs=0.03)
    # stationary from step 0: first-symbol frequencies follow the stationary marginal
    marg = src.stationary.reshape(8, 8).sum(1)
    freq = np.bincount(x.reshape(-1), minlength=8) / x.size
    np.testing.assert_allclose(freq, marg, atol=0.02)


def test_sampling_is_reproducible_from_a_seed() -> None:
    a = MarkovChainText(vocab_size=10, seed=7)
    b = MarkovChainText(vocab_size=10, seed=7)
    np.testing.assert_array_equal(a.transition, b.transition)
    np.testing.assert_array_equal(a.sample(500, seed=3), b.sample(500, seed=3))
    assert not np.array_equal(a.sample(500, seed=3), a.sample(500, seed=4))
    assert not np.array_equal(a.transition, MarkovChainText(vocab_size=10, seed=8).transition)
    text = a.text(50, seed=1)
    assert len(text) == 50 and set(text) <= set(a.alphabet)
    with pytest.raises(ValueError, match="vocab_size >= 2"):
        MarkovChainText(vocab_size=1)
