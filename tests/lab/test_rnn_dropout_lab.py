"""The RNN-dropout experiments (C4–C7): tiny end-to-end runs, and the masked LSTM recurrence
that C6 uses held to its composite, to nn.LSTM and to itself at second order."""

from __future__ import annotations

import numpy as np
import pytest
from lab_checks import tiny_suite

import chainrule as cr
from chainrule import nn
from chainrule.lab.experiment import HOLDS, INCONCLUSIVE, REFUTED
from chainrule.lab.experiments._tuning import equivalence
from chainrule.lab.experiments.rnn_dropout import (
    IOOnlyVariationalLSTM,
    LMConfig,
    MarkovLM,
    MemoryLSTM,
    _eval_loss,
    masked_lstm_scan,
    mc_loss,
    uses_fused_cell,
)

IDS = ("C4", "C5", "C6", "C7")


results, test_tiny_run_gives_a_valid_result = tiny_suite(IDS)


def test_lm_numbers_are_perplexities_above_the_floor(results):
    for exp_id in ("C4", "C5", "C7"):
        nums = results[exp_id].numbers
        for arm, ppls in nums["best_val_ppl"].items():
            assert len(ppls) == 3, arm
            assert all(nums["floor_ppl"] < p < 12 * 1.5 for p in ppls), (exp_id, arm, ppls)


def test_c6_accuracies_in_unit_interval(results):
    acc = results["C6"].numbers["accuracy"]
    assert set(acc) == {"none", "c per step", "c per sequence", "g per step"}
    for per_t in acc.values():
        for vals in per_t.values():
            assert len(vals) == 3 and all(0.0 <= v <= 1.0 for v in vals)


def test_c7_weight_drop_keeps_the_fused_cell(results):
    fused = results["C7"].numbers["fused_cell"]
    assert fused == {"none": True, "weight drop": True, "variational h": False}


# ---- the masked LSTM recurrence ---------------------------------------------------------------
def _case(rng, cm, gm, T=5, B=3, H=4):
    x = rng.standard_normal((T, B, 4 * H))
    w = rng.standard_normal((4 * H, H)) * 0.5
    b = rng.standard_normal(4 * H)
    cmask = (rng.random((T, B, H)) > 0.3) / 0.7 if cm else None
    gmask = (rng.random((T, B, H)) > 0.3) / 0.7 if gm else None
    return x, w, b, cmask, gmask


@pytest.mark.parametrize("cm,gm", [(False, False), (True, False), (False, True), (True, True)])
def test_fused_scan_matches_composite(cm, gm):
    rng = np.random.default_rng(1)
    x, w, b, cmask, gmask = _case(rng, cm, gm)
    gy = rng.standard_normal((5, 3, 4))
    res = []
    for fused in (True, False):
        xt, wt, bt = (cr.tensor(a, requires_grad=True) for a in (x, w, b))
        y = masked_lstm_scan(xt, wt, bt, cmask, gmask, fused)
        y.backward(cr.tensor(gy))
        res.append((y.data, xt.grad.data, wt.grad.data, bt.grad.data))
    for a, c in zip(*res):
        np.testing.assert_allclose(a, c, rtol=1e-10, atol=1e-12)


def test_fused_scan_second_order_matches_composite():
    rng = np.random.default_rng(2)
    x, w, b, cmask, gmask = _case(rng, True, True)
    gy = cr.tensor(rng.standard_normal((5, 3, 4)))
    res = []
    for fused in (True, False):
        xt, wt, bt = (cr.tensor(a, requires_grad=True) for a in (x, w, b))
        (gw,) = cr.autograd.grad((masked_lstm_scan(xt, wt, bt, cmask, gmask, fused) * gy).sum(),
                                 [wt], create_graph=True)
        (gw * gw).sum().backward()
        res.append((xt.grad.data, wt.grad.data))
    for a, c in zip(*res):
        np.testing.assert_allclose(a, c, rtol=1e-9, atol=1e-11)


def test_unmasked_scan_is_nn_lstm():
    cr.manual_seed(0)
    lstm = nn.LSTM(3, 4, dtype="float64")
    x = cr.randn(6, 2, 3, dtype="float64")
    ref, _ = lstm(x)
    xproj = nn.functional.linear(x, lstm.weight_ih_l0, lstm.bias_ih_l0)
    out = masked_lstm_scan(xproj, lstm.weight_hh_l0, lstm.bias_hh_l0)
    np.testing.assert_allclose(out.data, ref.data, rtol=1e-10, atol=1e-12)


def test_memory_lstm_masks():
    net = MemoryLSTM(3, 5, 2, "c per sequence", p=0.5, generator=cr.Generator().manual_seed(0))
    cmask, gmask = net._masks(4, 6, np.float32)
    assert gmask is None and cmask.shape == (4, 6, 5)
    assert (cmask == cmask[:1]).all()  # one mask for the whole sequence
    assert set(np.unique(cmask)) <= {0.0, 2.0}
    net.placement = "g per step"
    cmask, gmask = net._masks(4, 6, np.float32)
    assert cmask is None and not (gmask == gmask[:1]).all()
    net.eval()
    assert net._masks(4, 6, np.float32) == (None, None)
    with pytest.raises(ValueError, match="placement"):
        MemoryLSTM(3, 5, 2, "h per step")


def test_uses_fused_cell():
    assert uses_fused_cell({"weight_drop": 0.5})
    assert uses_fused_cell({"nonrecurrent": 0.5})
    assert not uses_fused_cell({"variational": 0.5}, hidden_only=True)


def test_mc_loss_without_dropout_is_the_plain_loss():
    cfg = LMConfig(vocab=6, hidden=8, length=8)
    tokens = cfg.source().sample_batch(4, 9, seed=0)
    cr.manual_seed(0)
    lm = MarkovLM(6, 8)
    assert mc_loss(lm, tokens, 2, 3, seed=0) == pytest.approx(_eval_loss(lm, tokens, 2),
                                                              rel=1e-5)
    assert lm.training  # restored


def test_equivalence_parts():
    def status(a, b):
        return equivalence("x", "x", a, b, 0.05, metric="m", arms=("a", "b")).status

    assert status([1.0, 1.01, 0.99, 1.0, 1.0], [1.0, 1.0, 1.0, 1.01, 0.99]) == HOLDS
    assert status([1.0, 1.0, 1.0, 1.0], [0.5, 0.52, 0.49, 0.5]) == REFUTED
    assert status([1.0, 0.75, 1.0], [1.0, 1.0, 1.0]) == INCONCLUSIVE


def test_io_only_variational_has_no_hidden_mask():
    lstm = IOOnlyVariationalLSTM(3, 5, dropout={"variational": 0.5},
                                 generator=cr.Generator().manual_seed(1)).train()
    full = nn.LSTM(3, 5, dropout={"variational": 0.5}).train()
    rng = np.random.default_rng(0)
    assert lstm._extras("l0", 4, None, rng, np.float32).hidden_mask is None
    assert full._extras("l0", 4, None, rng, np.float32).hidden_mask is not None


def test_hidden_only_variational_leaves_inputs_and_outputs_alone():
    # at t = 0 the hidden state is zero, so a mask on h_{t-1} changes nothing there: the first
    # output equals the plain LSTM's unless inputs or outputs were masked
    from chainrule.lab.experiments.rnn_dropout import HiddenOnlyVariationalLSTM

    cr.manual_seed(0)
    hidden_only = HiddenOnlyVariationalLSTM(3, 5, dropout={"variational": 0.5},
                                            generator=cr.Generator().manual_seed(1))
    cr.manual_seed(0)
    full = nn.LSTM(3, 5, dropout={"variational": 0.5}, generator=cr.Generator().manual_seed(1))
    x = cr.randn(4, 6, 3)
    with cr.no_grad():
        plain = full.eval()(x)[0].data
        masked_io = full.train()(x)[0].data
        ours = hidden_only.train()(x)[0].data
    np.testing.assert_allclose(ours[0], plain[0], rtol=1e-6)
    assert not np.allclose(masked_io[0], plain[0])
    assert not np.allclose(ours[1:], plain[1:])  # the hidden mask does act from t = 1


class _Stop(Exception):
    pass


@pytest.mark.parametrize("cls_name, exp_id", [("C4NonRecurrentDropout", "C4"),
                                              ("C7WeightDrop", "C7"),
                                              ("C5VariationalDropout", "C5")])
def test_quick_run_reads_its_shipped_rates(monkeypatch, cls_name, exp_id):
    # a quick run takes each dropout arm's rate from tuned.json (no search: training is
    # forbidden here) and the shipped search covered the grid the code asks for, with the
    # chosen rate strictly inside it
    import json

    from chainrule.lab.experiment import Context
    from chainrule.lab.experiments import _tuning
    from chainrule.lab.experiments import rnn_dropout as R

    with open(_tuning.TUNED_PATH) as f:
        shipped = json.load(f)
    seen = {}
    real = R._tuned_arms

    def spy(ctx, eid, cfg, arms):
        seen["arms"], seen["out"] = arms, real(ctx, eid, cfg, arms)
        raise _Stop

    def no_training(*a, **k):
        raise AssertionError("a shipped rate must be read, not re-tuned")

    monkeypatch.setattr(R, "_tuned_arms", spy)
    monkeypatch.setattr(R, "train_lm", no_training)
    with pytest.raises(_Stop):
        getattr(R, cls_name)().run(Context(quick=True, log=lambda s: None))
    (specs, records), arms = seen["out"], seen["arms"]
    dropped = [a for a, (placement, _, _) in arms.items() if placement]
    assert len(records) == len(dropped) >= 2
    for arm, rec in zip(dropped, records):
        entry = shipped[f"{exp_id}/{arm}/drop rate/quick"]
        placement, _, grid = arms[arm]
        assert specs[arm][0] == {placement: pytest.approx(entry["chosen"])}
        assert rec["provenance"].startswith("shipped") and rec["scores"] == entry["scores"]
        asked = grid or R._RATE_GRID
        assert all(np.isclose(entry["grid"], g).any() for g in asked), (arm, entry["grid"])
        assert entry["grid"][0] < entry["chosen"] < entry["grid"][-1], arm


def test_validation_loss_is_measured_without_dropout():
    # _eval_loss must score the net in eval mode: the same weights with and without a heavy
    # dropout spec give the same loss there, while in training mode they differ
    cfg = LMConfig(vocab=6, hidden=8, length=8)
    tokens = cfg.source().sample_batch(4, 9, seed=0)
    from chainrule.lab.experiments.rnn_dropout import HiddenOnlyVariationalLSTM, _lm_loss

    for spec, cls in (({"weight_drop": 0.8}, None), ({"between_layers": 0.8}, None),
                      ({"variational": 0.8}, HiddenOnlyVariationalLSTM)):
        cr.manual_seed(0)
        plain = MarkovLM(6, 8)
        cr.manual_seed(1)
        dropped = MarkovLM(6, 8, spec, cls)
        dropped.load_state_dict(plain.state_dict())
        assert _eval_loss(dropped, tokens, 2) == pytest.approx(_eval_loss(plain, tokens, 2),
                                                               rel=1e-6)
        assert dropped.training  # restored
        with cr.no_grad():
            train_loss = float(_lm_loss(dropped, tokens, 2).item())
        assert abs(train_loss - _eval_loss(plain, tokens, 2)) > 1e-3, spec



def test_c7_full_run_trains_on_the_larger_corpus():
    # the same source, validation/test sets and step budget as C4/C5's full run; only the
    # number of training sequences grows (C7_CORPUS ×); quick and tiny runs keep C4/C5's corpus
    import dataclasses

    from chainrule.lab.experiment import Context
    from chainrule.lab.experiments.rnn_dropout import (
        C7_CORPUS,
        C7WeightDrop,
        c7_config,
        lm_config,
    )

    full = Context(quick=False, seeds=(0, 1, 2), log=lambda s: None)
    quick = Context(quick=True, seeds=(0, 1, 2), log=lambda s: None)
    base, big = lm_config(full), c7_config(full)
    assert C7WeightDrop.corpus == C7_CORPUS >= 2
    assert big.n_train == C7_CORPUS * base.n_train == 512
    assert dataclasses.replace(big, n_train=base.n_train) == base
    assert c7_config(full, 1) == base and c7_config(quick) == lm_config(quick)
    with pytest.raises(ValueError, match="corpus"):
        c7_config(full, 0)
