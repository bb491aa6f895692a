"""LR schedulers against torch.optim.lr_scheduler: the lr sequence over 200 steps, per class."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import chainrule  # noqa: E402
from chainrule import optim  # noqa: E402
from chainrule.nn import Parameter  # noqa: E402
from chainrule.optim import schedules  # noqa: E402

STEPS = 200


class Scale:
    """A picklable callable lambda (its attributes go into state_dict)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate

    def __call__(self, t: int) -> float:
        return self.rate**t


def metric(t: int) -> float:
    """A scripted validation loss: improves, plateaus, improves a little, plateaus again."""
    if t < 30:
        return 1.0 / (1 + t)
    if t < 90:
        return 1.0 / 30 + 1e-7 * math.sin(t)
    if t < 120:
        return 0.03 - 1e-4 * (t - 90)
    return 0.027


# name -> (optimizer kind, factory(lr_scheduler module, optimizer))
SCHEDULERS = {
    "LambdaLR": ("sgd", lambda m, o: m.LambdaLR(o, Scale(0.98))),
    "LambdaLR-per-group": ("sgd", lambda m, o: m.LambdaLR(o, [Scale(0.98), Scale(0.9)])),
    "MultiplicativeLR": ("sgd", lambda m, o: m.MultiplicativeLR(o, lambda t: 0.99)),
    "StepLR": ("sgd", lambda m, o: m.StepLR(o, step_size=30, gamma=0.5)),
    "MultiStepLR": ("sgd", lambda m, o: m.MultiStepLR(o, milestones=[20, 50, 50, 120],
                                                      gamma=0.3)),
    "ConstantLR": ("sgd", lambda m, o: m.ConstantLR(o, factor=0.25, total_iters=40)),
    "LinearLR": ("sgd", lambda m, o: m.LinearLR(o, start_factor=0.05, end_factor=0.8,
                                                total_iters=70)),
    "ExponentialLR": ("sgd", lambda m, o: m.ExponentialLR(o, gamma=0.97)),
    "PolynomialLR": ("sgd", lambda m, o: m.PolynomialLR(o, total_iters=150, power=2.0)),
    "CosineAnnealingLR": ("sgd", lambda m, o: m.CosineAnnealingLR(o, T_max=60, eta_min=1e-4)),
    "CosineAnnealingWarmRestarts": ("sgd", lambda m, o: m.CosineAnnealingWarmRestarts(
        o, T_0=10, T_mult=2, eta_min=1e-5)),
    "CyclicLR-triangular": ("sgd", lambda m, o: m.CyclicLR(o, base_lr=0.01, max_lr=0.1,
                                                           step_size_up=15)),
    "CyclicLR-triangular2-adam": ("adam", lambda m, o: m.CyclicLR(
        o, base_lr=[0.001, 0.002], max_lr=0.05, step_size_up=10, step_size_down=25,
        mode="triangular2")),
    "CyclicLR-exp_range": ("sgd", lambda m, o: m.CyclicLR(o, base_lr=0.01, max_lr=0.1,
                                                          step_size_up=20, mode="exp_range",
                                                          gamma=0.99)),
    "OneCycleLR": ("sgd", lambda m, o: m.OneCycleLR(o, max_lr=0.5, total_steps=STEPS)),
    "OneCycleLR-three-phase-linear-adam": ("adam", lambda m, o: m.OneCycleLR(
        o, max_lr=[0.01, 0.02], epochs=10, steps_per_epoch=20, pct_start=0.25,
        anneal_strategy="linear", three_phase=True)),
    "SequentialLR": ("sgd", lambda m, o: m.SequentialLR(
        o, [m.LinearLR(o, start_factor=0.1, total_iters=10),
            m.CosineAnnealingLR(o, T_max=90), m.ExponentialLR(o, gamma=0.99)],
        milestones=[10, 100])),
    "ChainedScheduler": ("sgd", lambda m, o: m.ChainedScheduler(
        [m.ConstantLR(o, factor=0.1, total_iters=20), m.ExponentialLR(o, gamma=0.98),
         m.StepLR(o, step_size=45, gamma=0.5)])),
    "Cosine+Linear-on-one-optimizer": ("sgd", lambda m, o: m.ChainedScheduler(
        [m.LinearLR(o, start_factor=0.2, total_iters=15), m.CosineAnnealingLR(o, T_max=50)])),
}


def make(lib, kind: str, name: str):
    if lib is torch:
        params = [torch.zeros(3, requires_grad=True), torch.zeros(2, requires_grad=True)]
        mod_optim, mod = torch.optim, torch.optim.lr_scheduler
    else:
        params = [Parameter(chainrule.zeros(3)), Parameter(chainrule.zeros(2))]
        mod_optim, mod = optim, optim.lr_scheduler
    groups = [{"params": params[:1]}, {"params": params[1:], "lr": 0.05}]
    if kind == "sgd":
        opt = mod_optim.SGD(groups, lr=0.1, momentum=0.9)
    else:
        opt = mod_optim.Adam(groups, lr=0.01)
    return opt, SCHEDULERS[name][1](mod, opt)


def sequence(opt, sched, start: int = 0, stop: int = STEPS, plateau: bool = False):
    lrs, moms = [], []
    for t in range(start, stop):
        opt.step()
        if plateau:
            sched.step(metric(t))
        else:
            sched.step()
        lrs.append([float(v) for v in sched.get_last_lr()])
        g = opt.param_groups
        moms.append([gr["momentum"] if "momentum" in gr else gr["betas"][0] for gr in g])
        assert lrs[-1] == [gr["lr"] for gr in g]
    return np.array(lrs), np.array(moms)


@pytest.mark.parametrize("name", list(SCHEDULERS))
def test_lr_sequence_equals_torch(name):
    kind = SCHEDULERS[name][0]
    t_opt, t_sched = make(torch, kind, name)
    c_opt, c_sched = make(chainrule, kind, name)
    np.testing.assert_allclose(c_sched.get_last_lr(), t_sched.get_last_lr(), rtol=1e-12)
    t_lrs, t_moms = sequence(t_opt, t_sched)
    c_lrs, c_moms = sequence(c_opt, c_sched)
    np.testing.assert_allclose(c_lrs, t_lrs, rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(c_moms, t_moms, rtol=1e-10, atol=1e-15)
    assert len(np.unique(c_lrs[:, 0])) >= 2  # the schedule actually changes the lr


@pytest.mark.parametrize("kw", [dict(), dict(mode="max", threshold_mode="abs", cooldown=3,
                                             patience=5, factor=0.5, min_lr=[0.02, 0.001]),
                                dict(patience=3, threshold=1e-2, min_lr=0.004, eps=1e-3)])
def test_reduce_lr_on_plateau_with_scripted_metric(kw):
    out = []
    for lib in (torch, chainrule):
        opt, _ = make(lib, "sgd", "StepLR")
        mod = torch.optim.lr_scheduler if lib is torch else optim.lr_scheduler
        sched = mod.ReduceLROnPlateau(opt, **kw)
        sign = -1.0 if kw.get("mode") == "max" else 1.0
        lrs = []
        for t in range(STEPS):
            opt.step()
            sched.step(sign * metric(t))
            lrs.append(list(sched.get_last_lr()))
        out.append(np.array(lrs))
    np.testing.assert_allclose(out[1], out[0], rtol=1e-12)
    assert len(np.unique(out[1][:, 0])) >= 2


@pytest.mark.parametrize("name", ["StepLR", "CosineAnnealingLR", "OneCycleLR", "SequentialLR",
                                  "CyclicLR-triangular", "LambdaLR", "ChainedScheduler",
                                  "CosineAnnealingWarmRestarts"])
def test_state_dict_resumes_the_sequence(name):
    kind = SCHEDULERS[name][0]
    opt, sched = make(chainrule, kind, name)
    ref, _ = sequence(opt, sched)
    opt1, sched1 = make(chainrule, kind, name)
    sequence(opt1, sched1, 0, 100)
    o_state = copy.deepcopy(opt1.state_dict())
    s_state = copy.deepcopy(sched1.state_dict())
    opt2, sched2 = make(chainrule, kind, name)
    opt2.load_state_dict(o_state)
    sched2.load_state_dict(s_state)
    rest, _ = sequence(opt2, sched2, 100, STEPS)
    np.testing.assert_allclose(rest, ref[100:], rtol=1e-13)


def test_closed_form_functions():
    assert schedules.step_decay(65, 1.0, 30, 0.1) == pytest.approx(0.01)
    assert schedules.multistep_decay(50, 1.0, [10, 50], 0.5) == 0.25
    assert schedules.linear(0, 2.0, 0.5, 1.0, 10) == 1.0
    assert schedules.cosine(50, 1.0, 100) == pytest.approx(0.5)
    assert schedules.cosine_warm_restarts(15, 1.0, 10, 2) == pytest.approx(
        schedules.cosine(5, 1.0, 20))
    assert schedules.polynomial(10, 1.0, 10) == 0.0
    assert schedules.one_cycle(0, 1.0, 100) == pytest.approx(1.0 / 25)
    assert schedules.one_cycle(99, 1.0, 100) == pytest.approx(1.0 / 25 / 1e4)
    assert schedules.cyclic(10, 0.0, 1.0, step_size_up=10) == pytest.approx(1.0)
    lrs = [schedules.warmup_cosine(t, 1.0, 5, 50) for t in range(50)]
    assert lrs[4] == 1.0 and lrs[0] == 0.2 and lrs[-1] < 0.01


def test_closed_form_step_epoch_matches_torch():
    out = []
    for lib in (torch, chainrule):
        opt, sched = make(lib, "sgd", "CosineAnnealingLR")
        with pytest.warns(UserWarning):
            sched.step(37)
        out.append(sched.get_last_lr())
    np.testing.assert_allclose(out[1], out[0], rtol=1e-12)


def test_warns_when_scheduler_steps_before_optimizer():
    opt, sched = make(chainrule, "sgd", "StepLR")
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        sched.step()


def test_validation_messages():
    opt, _ = make(chainrule, "sgd", "StepLR")
    m = optim.lr_scheduler
    with pytest.raises(ValueError, match="Constant multiplicative factor expected"):
        m.ConstantLR(opt, factor=2.0)
    with pytest.raises(ValueError, match="Expected positive integer T_0"):
        m.CosineAnnealingWarmRestarts(opt, T_0=0)
    with pytest.raises(ValueError, match="total_steps OR"):
        m.OneCycleLR(opt, max_lr=0.1)
    with pytest.raises(ValueError, match="Factor should be < 1.0"):
        m.ReduceLROnPlateau(opt, factor=1.5)
    with pytest.raises(TypeError, match="is not an Optimizer"):
        m.StepLR(object(), step_size=3)
    with pytest.raises(ValueError, match="Tried to step 4 times"):
        s = m.OneCycleLR(opt, max_lr=0.1, total_steps=3)
        for _ in range(4):
            opt.step()
            s.step()


def test_state_dicts_survive_json():
    """Checkpoints store scheduler and optimizer state as JSON (string keys, lists)."""
    import json

    opt, sched = make(chainrule, "sgd", "MultiStepLR")
    ref, _ = sequence(opt, sched)
    opt1, sched1 = make(chainrule, "sgd", "MultiStepLR")
    for group in opt1.param_groups:
        for p in group["params"]:
            p.grad = chainrule.ones_like(p)  # so that SGD keeps momentum buffers
    sequence(opt1, sched1, 0, 30)
    s_state = json.loads(json.dumps(sched1.state_dict()))
    o_state = opt1.state_dict()
    o_state = {"state": {str(k): {n: v._array.copy() for n, v in st.items()}
                         for k, st in o_state["state"].items()},
               "param_groups": json.loads(json.dumps(o_state["param_groups"]))}
    opt2, sched2 = make(chainrule, "sgd", "MultiStepLR")
    opt2.load_state_dict(o_state)
    sched2.load_state_dict(s_state)
    assert len(opt2.state) == 2
    assert opt2.param_groups[0]["initial_lr"] == 0.1
    rest, _ = sequence(opt2, sched2, 30, STEPS)
    np.testing.assert_allclose(rest, ref[30:], rtol=1e-13)


def _keys(state: dict) -> dict:
    """A state dict's keys, with the nested schedulers' keys (SequentialLR, ChainedScheduler)."""
    return {k: ([_keys(s) for s in v] if k == "_schedulers" else None) for k, v in state.items()}


@pytest.mark.parametrize("name", list(SCHEDULERS) + ["ReduceLROnPlateau"])
def test_state_dict_keys_equal_torchs(name):
    """A checkpoint written by one library has the other's keys (PyTorch's private ones such
    as ``_get_lr_called_within_step`` and OneCycleLR's ``_schedule_phases`` included)."""
    states = []
    for lib in (torch, chainrule):
        if name == "ReduceLROnPlateau":
            opt, _ = make(lib, "sgd", "StepLR")
            mod = torch.optim.lr_scheduler if lib is torch else optim.lr_scheduler
            sched = mod.ReduceLROnPlateau(opt)
            sequence(opt, sched, 0, 20, plateau=True)
        else:
            opt, sched = make(lib, SCHEDULERS[name][0], name)
            sequence(opt, sched, 0, 20)
        states.append(sched.state_dict())
    assert _keys(states[1]) == _keys(states[0])
    if name.startswith("OneCycleLR"):
        assert states[1]["_schedule_phases"] == states[0]["_schedule_phases"]
    if name.startswith("CyclicLR"):
        assert states[1]["total_size"] == states[0]["total_size"]
        assert states[1]["step_ratio"] == pytest.approx(states[0]["step_ratio"], rel=1e-15)
    if name == "CosineAnnealingWarmRestarts":
        assert states[1]["_step_count"] == states[0]["_step_count"]


@pytest.mark.parametrize("name", ["StepLR", "CosineAnnealingLR", "OneCycleLR",
                                  "OneCycleLR-three-phase-linear-adam", "SequentialLR",
                                  "CyclicLR-triangular2-adam", "LambdaLR", "ChainedScheduler",
                                  "CosineAnnealingWarmRestarts", "MultiStepLR", "PolynomialLR"])
def test_torch_state_dict_loads_and_resumes(name):
    """PyTorch's optimizer and scheduler state dicts, taken at step 100, load into fresh
    chainrule objects, and the rest of the lr sequence is PyTorch's."""
    kind = SCHEDULERS[name][0]
    t_opt, t_sched = make(torch, kind, name)
    sequence(t_opt, t_sched, 0, 100)
    o_state, s_state = copy.deepcopy(t_opt.state_dict()), copy.deepcopy(t_sched.state_dict())
    t_rest, t_moms = sequence(t_opt, t_sched, 100, STEPS)
    c_opt, c_sched = make(chainrule, kind, name)
    c_opt.load_state_dict(o_state)
    c_sched.load_state_dict(s_state)
    c_rest, c_moms = sequence(c_opt, c_sched, 100, STEPS)
    np.testing.assert_allclose(c_rest, t_rest, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(c_moms, t_moms, rtol=1e-12, atol=1e-15)


def test_lrscheduler_old_name_is_subclassable():
    """``_LRScheduler`` (PyTorch's old name, still what most custom schedulers subclass)."""
    seqs = []
    for lib in (torch, chainrule):
        mod = torch.optim.lr_scheduler if lib is torch else optim.lr_scheduler

        class Warmup(mod._LRScheduler):
            def __init__(self, opt, warm, last_epoch=-1):
                self.warm = warm
                super().__init__(opt, last_epoch)

            def get_lr(self):
                return [b * min(1.0, (self.last_epoch + 1) / self.warm) for b in self.base_lrs]

        opt, _ = make(lib, "sgd", "StepLR")
        seqs.append(sequence(opt, Warmup(opt, 7), 0, 20)[0])
    np.testing.assert_allclose(seqs[1], seqs[0], rtol=1e-15)
