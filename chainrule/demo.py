"""A short demo: a 64-32-10 MLP written with raw chainrule Tensors, trained on 8x8 digits.

Run with ``python -m chainrule.demo``. It prints the loss falling and the test accuracy.
"""

from __future__ import annotations

import numpy as np

import chainrule as cr


def main(steps: int = 300, seed: int = 0) -> float:
    """Train by full-batch-free mini-batch SGD and return the test accuracy."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(digits.target))
    x = (digits.data[order] / 16.0).astype(np.float32)
    y = digits.target[order].astype(np.int64)
    x_train, y_train, x_test, y_test = x[:1400], y[:1400], x[1400:], y[1400:]

    g = cr.Generator().manual_seed(seed)
    w1 = (cr.randn(64, 32, generator=g) * (2 / 64) ** 0.5).requires_grad_()
    b1 = cr.zeros(32, requires_grad=True)
    w2 = (cr.randn(32, 10, generator=g) * (1 / 32) ** 0.5).requires_grad_()
    b2 = cr.zeros(10, requires_grad=True)
    params = [w1, b1, w2, b2]

    def forward(xb: cr.Tensor) -> cr.Tensor:
        return ((xb @ w1 + b1).relu()) @ w2 + b2

    lr, batch = 0.1, 64
    for step in range(steps + 1):
        idx = rng.integers(0, len(x_train), batch)
        logits = forward(cr.from_numpy(x_train[idx]))
        logp = logits.log_softmax(-1)
        loss = -logp[cr.arange(batch), cr.from_numpy(y_train[idx])].mean()
        for p in params:
            p.grad = None
        loss.backward()
        with cr.no_grad():
            for p in params:
                p -= lr * p.grad
        if step % 50 == 0:
            print(f"step {step:4d}  loss {loss.item():.4f}")
    with cr.no_grad():
        pred = forward(cr.from_numpy(x_test)).argmax(-1).numpy()
    acc = float((pred == y_test).mean())
    print(f"test accuracy {acc:.3f} on {len(y_test)} held-out digits")
    return acc


if __name__ == "__main__":
    main()
