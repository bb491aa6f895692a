"""The Diagnostics monitor over a training loop, and the Trainer callback's health section."""

from __future__ import annotations

import json

import numpy as np
import pytest
from diag_nets import cross_entropy, data, mlp

import chainrule
import chainrule.nn as nn
from chainrule.diagnostics import Diagnostics, DiagnosticsCallback, Thresholds


def _sgd_step(net: nn.Module, lr: float) -> None:
    with chainrule.no_grad():
        for p in net.parameters():
            p.data -= lr * p.grad.data
            p.grad = None


def _train(net, diag, rng, steps: int, lr: float = 0.1, explicit: bool = True) -> list[float]:
    losses = []
    for _ in range(steps):
        x, y = data(rng, n=32)
        loss = cross_entropy(net(x), y)
        loss.backward()
        _sgd_step(net, lr)
        losses.append(float(loss.data))
        if explicit:
            diag.step(loss=losses[-1])
    return losses


def _hook_count(net: nn.Module) -> int:
    n = sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in net.modules())
    return n + sum(len(p._hooks or []) for p in net.parameters())


def test_records_every_n_steps_and_detaches() -> None:
    rng = np.random.default_rng(0)
    net = mlp([8, 16, 16, 3], nn.ReLU, rng)
    assert _hook_count(net) == 0
    diag = Diagnostics(net, every=3)
    assert _hook_count(net) > 0
    losses = _train(net, diag, rng, 10)
    assert [r.step for r in diag.history] == [0, 3, 6, 9]
    steps, vals = diag.series("loss")
    np.testing.assert_allclose(vals, [losses[i] for i in (0, 3, 6, 9)])
    steps, g = diag.series("grad_norm", "0")
    assert steps.tolist() == [0, 3, 6, 9] and (g > 0).all()
    rec = diag.history[-1]
    assert list(rec.grad_norms) == ["0", "2", "4"]  # forward order
    assert set(rec.update_ratios) == {"0", "2", "4"}
    assert rec.activations["1"]["kind"] == "relu" and "dead_fraction" in rec.activations["1"]
    assert diag.layers("relu") == ["1", "3"]
    rep = diag.report()
    assert {f.check for f in rep} >= {"gradient_flow", "update_ratio", "dead_units",
                                      "single_sign"}
    json.dumps(rep.to_dict())
    json.dumps(diag.to_dict(histograms=True))
    diag.detach()
    assert _hook_count(net) == 0
    _train(net, diag, rng, 3)
    assert len(diag.history) == 4  # nothing recorded after detach


def test_implicit_steps_and_pause() -> None:
    rng = np.random.default_rng(1)
    net = mlp([8, 12, 3], nn.Tanh, rng)
    diag = Diagnostics(net, every=2)
    _train(net, diag, rng, 5, explicit=False)  # each training forward is a step
    with chainrule.no_grad():
        net(data(rng)[0])  # evaluation passes are not steps
    with diag.paused():
        cross_entropy(net(data(rng)[0]), data(rng)[1]).backward()
    rep = diag.report()  # closes the last open step
    assert [r.step for r in diag.history] == [0, 2, 4]
    assert all(r.update_ratios for r in diag.history)
    assert rep.summary["steps"] == 5
    diag.detach()


def test_vanishing_verdict_through_the_monitor() -> None:
    rng = np.random.default_rng(2)
    net = mlp([8] + [16] * 8 + [3], nn.Sigmoid, rng, scale=0.5)
    diag = Diagnostics(net, every=1, thresholds=Thresholds(vanishing_ratio=1e-3))
    _train(net, diag, rng, 3)
    rep = diag.report()
    assert rep.verdict("gradient_flow") == "vanishing"
    assert not rep.healthy
    assert rep.by_check("gradient_flow")[0].values["ratio_first_last"] < 1e-3
    assert diag.series("single_sign", "4")[1].min() == 1.0  # behind sigmoid
    diag.detach()


def _batches(rng: np.random.Generator, n_batches: int, n: int = 32) -> list:
    out = []
    for _ in range(n_batches):
        x, y = data(rng, n=n)
        out.append((x, chainrule.tensor(y)))
    return out


def test_callback_in_the_trainer_writes_the_health_section(tmp_path) -> None:
    from chainrule.optim import SGD
    from chainrule.train import Trainer
    from chainrule.train.report import write_run_report

    rng = np.random.default_rng(3)
    net = mlp([8, 16, 16, 3], nn.ReLU, rng)
    x, y = data(rng, n=40)
    cb = DiagnosticsCallback(every=5, curvature_data=(x, chainrule.tensor(y)), landscape=True,
                             fit_kwargs={"baseline": float(np.log(3))})
    trainer = Trainer(net, nn.CrossEntropyLoss(), SGD(net.parameters(), lr=0.2),
                      callbacks=[cb], run_dir=str(tmp_path), quiet=True)
    trainer.fit(_batches(rng, 10), _batches(rng, 2), epochs=4)
    sec = cb.section
    assert sec["title"] == "training health"
    checks = {v["check"] for v in sec["verdicts"]}
    assert {"gradient_flow", "update_ratio", "dead_units", "single_sign", "fit"} <= checks
    fit = [v for v in sec["verdicts"] if v["check"] == "fit"][0]
    assert fit["verdict"] in ("underfitting", "overfitting", "good fit", "still improving")
    assert len(sec["curves"]["train"]) == 4 and len(sec["curves"]["val"]) == 4
    assert sec["numbers"]["recorded_steps"] == 8
    assert sec["numbers"]["curvature"]["lambda_max"] > 0
    assert len(sec["numbers"]["curvature"]["landscape_1d"]["losses"]) == 21
    for name in ("gradient_norms", "unit_health", "fit_curves", "histograms", "landscape_1d",
                 "activation_std"):
        path = sec["plots"][name]
        assert path.startswith(str(tmp_path / "health")) and path.endswith(".png")
        with open(path, "rb") as f:
            assert f.read(4) == b"\x89PNG"
    json.dumps(sec)
    assert _hook_count(net) == 0  # detached at the end of training
    assert cb.diag.history[-1].extras["lr"] == pytest.approx(0.2)
    assert all(r.update_ratios for r in cb.diag.history)  # recorded after optimizer steps
    with open(write_run_report(str(tmp_path), trainer), encoding="utf-8") as f:
        html = f.read()
    assert "Training health" in html and "gradient_flow" in html
    assert "data:image/png;base64" in html


def test_callback_without_plots_or_validation() -> None:
    rng = np.random.default_rng(4)
    net = mlp([8, 6, 3], nn.Tanh, rng)
    cb = DiagnosticsCallback(every=2, plots=False)
    with pytest.raises(ValueError, match="no model"):
        cb.on_train_begin(object())
    cb = DiagnosticsCallback(every=2, model=net)
    cb.on_train_begin(None)
    _train(net, cb.diag, rng, 4)
    cb.on_epoch_end(None, 0, {"loss": 1.0})
    cb.on_train_end(None)
    assert cb.section["plots"] == {}
    assert "fit" not in {v["check"] for v in cb.section["verdicts"]}
    rs = cb.report_section(None)
    assert rs["title"] == "Training health" and rs["images"] == {}
    assert "gradient_flow" in rs["table"]


def test_gradient_accumulation_with_explicit_steps() -> None:
    rng = np.random.default_rng(5)
    net = mlp([8, 6, 3], nn.Tanh, rng)
    diag = Diagnostics(net, every=1, explicit_steps=True)
    for _ in range(3):
        for _ in range(2):  # two micro-batches per optimizer step
            x, y = data(rng, n=16)
            cross_entropy(net(x), y).backward()
        _sgd_step(net, 0.1)
        diag.step()
    assert [r.step for r in diag.history] == [0, 1, 2]
    assert diag.report().verdict("update_ratio") == "healthy"
    diag.detach()
