"""chainrule.compile: a compiled step equals the eager step bit for bit (NumPy path), its guards
recapture or fall back, and data flow outside the tracer keeps the function eager."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn

STEPS = 8  # 1 warm-up + 2 captures + 5 replays


@pytest.fixture(autouse=True)
def _numpy_path() -> Any:
    """These tests compare replay with eager *bitwise on the NumPy path*: with the ``fast``
    extra installed, eager steps would run Numba kernels that a capture records as their NumPy
    twins (equal only to rounding; fusion is tested to 1e-6 in test_compile_fuse.py)."""
    from chainrule import _jit

    with _jit.disabled():
        yield


def _np(t: Any) -> np.ndarray:
    """A copy of a tensor's values (or of a plain value) as an array."""
    return np.array(t.numpy(force=True) if isinstance(t, cr.Tensor) else t)


def _mlp() -> Any:
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3))


def _cnn() -> Any:
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Dropout(0.2), nn.Linear(4 * 4 * 4, 3))


def _conv1d() -> Any:
    return nn.Sequential(nn.Conv1d(2, 4, 3), nn.LayerNorm(6), nn.Tanh(), nn.AvgPool1d(2),
                         nn.Flatten(), nn.Linear(12, 3))


class _RNN(nn.Module):
    def __init__(self, cell: type) -> None:
        super().__init__()
        self.rnn = cell(3, 5, batch_first=True)
        self.head = nn.Linear(5, 3)

    def forward(self, x: Any) -> Any:
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


class _Embed(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(10, 4)
        self.head = nn.Linear(4, 3)

    def forward(self, x: Any) -> Any:
        return self.head(self.emb(x).mean(1))


def _inputs(kind: str, rng: np.random.Generator, loss: str = "ce") -> tuple[Any, Any]:
    shape = {"mlp": (8, 6), "cnn": (4, 1, 8, 8), "conv1d": (4, 2, 8), "lstm": (4, 5, 3),
             "gru": (4, 5, 3)}
    if kind == "embed":
        x = cr.tensor(rng.integers(0, 10, (4, 6)))
    else:
        x = cr.tensor(rng.standard_normal(shape[kind]))
    y = cr.tensor(rng.integers(0, 3, x.shape[0]))
    return x, (F.one_hot(y, 3).double() if loss == "mse" else y)


MODELS: dict[str, Callable[[], Any]] = {
    "mlp": _mlp, "cnn": _cnn, "conv1d": _conv1d, "lstm": lambda: _RNN(nn.LSTM),
    "gru": lambda: _RNN(nn.GRU), "embed": _Embed,
}
LOSSES = {"ce": F.cross_entropy, "mse": F.mse_loss}
OPTIMIZERS = {
    "sgd": lambda ps: cr.optim.SGD(ps, lr=0.1, momentum=0.9),
    "adam": lambda ps: cr.optim.Adam(ps, lr=0.01),
    "adamw": lambda ps: cr.optim.AdamW(ps, lr=0.01, weight_decay=0.1),
    "adam_l1": lambda ps: cr.optim.Adam(ps, lr=0.01, l1=1e-3),
}


def _setup(kind: str, opt: str, loss: str) -> tuple[Any, Any, Callable]:
    cr.manual_seed(0)
    model = MODELS[kind]().double()
    optimizer = OPTIMIZERS[opt](model.parameters())
    return model, optimizer, _train_step(model, optimizer, LOSSES[loss])


def _train_step(model: Any, optimizer: Any, loss_fn: Callable = F.cross_entropy) -> Callable:
    """The plain training step: zero_grad, loss, backward, optimizer step; returns the loss."""

    def step(x: Any, y: Any) -> Any:
        optimizer.zero_grad()
        out = loss_fn(model(x), y)
        out.backward()
        optimizer.step()
        return out

    return step


def _run(kind: str, opt: str, loss: str, compiled: bool) -> tuple[list, Any, Any]:
    model, optimizer, step = _setup(kind, opt, loss)
    fn = cr.compile(step) if compiled else step
    rng = np.random.default_rng(1)
    data = [_inputs(kind, rng, loss) for _ in range(STEPS)]
    cr.manual_seed(7)  # the dropout masks: the same generator state for both runs
    losses = [_np(fn(x, y)) for x, y in data]
    return losses, model, fn


def _state(model: Any) -> dict:
    out = {k: _np(v) for k, v in model.state_dict().items()}
    out.update({f"{k}.grad": _np(p.grad) for k, p in model.named_parameters()
                if p.grad is not None})
    return out


CASES = [("mlp", "sgd", "ce"), ("mlp", "adam", "mse"), ("cnn", "sgd", "ce"),
         ("cnn", "adam", "ce"), ("conv1d", "adam", "ce"), ("lstm", "sgd", "mse"),
         ("lstm", "adam", "ce"), ("gru", "adam", "ce"), ("embed", "sgd", "ce"),
         ("mlp", "adamw", "ce"), ("mlp", "adam_l1", "mse")]


@pytest.mark.parametrize("kind,opt,loss", CASES)
def test_compiled_step_equals_eager_bitwise(kind: str, opt: str, loss: str) -> None:
    eager_losses, eager_model, _ = _run(kind, opt, loss, compiled=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a fallback to eager would warn
        comp_losses, comp_model, fn = _run(kind, opt, loss, compiled=True)
    assert fn.replays == STEPS - 3, fn.reasons
    for a, b in zip(eager_losses, comp_losses):
        np.testing.assert_array_equal(a, b)
    se, sc = _state(eager_model), _state(comp_model)
    assert se.keys() == sc.keys()
    for k in se:
        np.testing.assert_array_equal(se[k], sc[k], err_msg=k)


# ---- guards: each change recaptures or falls back, never a wrong result ---------------------
def _twin(build: Callable, scenario: Callable) -> Any:
    """Run ``scenario(step, model)`` with the eager and the compiled step from the same seed;
    assert equal outputs and final states bit for bit; return the compiled function."""
    results = []
    for compiled in (False, True):
        cr.manual_seed(0)
        model, step = build()
        fn = cr.compile(step) if compiled else step
        cr.manual_seed(7)
        outs = [_np(o) for o in scenario(fn, model)]
        results.append((outs, _state(model), fn))
    (eo, es, _), (co, cs, fn) = results
    assert len(eo) == len(co)
    for a, b in zip(eo, co):
        np.testing.assert_array_equal(a, b)
    for k in es:
        np.testing.assert_array_equal(es[k], cs[k], err_msg=k)
    return fn


def _build_cnn() -> tuple[Any, Callable]:
    model, _, step = _setup("cnn", "sgd", "ce")
    return model, step


def _data(shape: tuple, n: int = 1, seed: int = 3, dtype: Any = np.float64) -> tuple[Any, Any]:
    rng = np.random.default_rng(seed)
    return (cr.tensor(rng.standard_normal(shape).astype(dtype)),
            cr.tensor(rng.integers(0, 3, shape[0])))


def test_guard_shape_change_recaptures() -> None:
    def scenario(step: Callable, model: Any) -> list:
        a, b = _data((4, 1, 8, 8)), _data((6, 1, 8, 8), seed=4)
        return [step(*a) for _ in range(4)] + [step(*b) for _ in range(4)] + [step(*a)]

    fn = _twin(_build_cnn, scenario)
    assert fn.replays == 1 + 2 + 1
    assert len(fn.entries) == 2


def test_guard_eval_mode_and_no_grad() -> None:
    def build() -> tuple[Any, Callable]:
        model = _cnn().double()
        # detached: a returned graph would keep the function eager (a replay has no graph)
        return model, lambda x: model(x).sum().detach()

    def scenario(step: Callable, model: Any) -> list:
        x = _data((4, 1, 8, 8))[0]
        outs = [step(x) for _ in range(4)]
        model.eval()  # dropout off, BatchNorm uses its running statistics
        outs += [step(x) for _ in range(4)]
        with cr.no_grad():
            outs += [step(x) for _ in range(4)]
        model.train()
        outs += [step(x) for _ in range(2)]
        return outs

    fn = _twin(build, scenario)
    assert fn.replays >= 4


def test_guard_dtype_change() -> None:
    def build() -> tuple[Any, Callable]:
        w = cr.nn.Parameter(cr.tensor(np.linspace(-1, 1, 6)))
        opt = cr.optim.SGD([w], lr=0.1, momentum=0.9)

        def step(x: Any) -> Any:
            opt.zero_grad()
            loss = (w * x).tanh().sum()
            loss.backward()
            opt.step()
            return loss

        model = cr.nn.Module()
        model.w = w
        return model, step

    def scenario(step: Callable, model: Any) -> list:
        x64 = cr.tensor(np.arange(6.0))
        x32 = cr.tensor(np.arange(6.0, dtype=np.float32))
        return [step(x64) for _ in range(4)] + [step(x32) for _ in range(4)] + [step(x64)]

    fn = _twin(build, scenario)
    assert fn.replays == 2 + 1 + 1


def test_guard_grad_set_to_none() -> None:
    def build() -> tuple[Any, Callable]:
        model = _mlp().double()
        opt = cr.optim.SGD(model.parameters(), lr=0.05)

        def step(x: Any, y: Any) -> Any:  # accumulates: no zero_grad inside
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss

        return model, step

    def scenario(step: Callable, model: Any) -> list:
        x, y = _data((8, 6))
        outs = [step(x, y) for _ in range(4)]
        for p in model.parameters():
            p.grad = None
        outs += [step(x, y) for _ in range(4)]
        return outs

    fn = _twin(build, scenario)
    assert fn.replays >= 1


def test_guard_value_guard_flips() -> None:
    def build() -> tuple[Any, Callable]:
        model = _mlp().double()
        opt = cr.optim.Adam(model.parameters(), lr=0.01)

        def step(x: Any) -> Any:
            opt.zero_grad()
            out = model(x)
            loss = out.pow(2).mean() if bool(x.min() >= 0) else out.abs().mean()
            loss.backward()
            opt.step()
            return loss

        return model, step

    def scenario(step: Callable, model: Any) -> list:
        x = _data((8, 6))[0]
        pos = x.abs()
        return [step(pos) for _ in range(5)] + [step(x) for _ in range(3)] + [step(pos)]

    fn = _twin(build, scenario)
    assert fn.replays >= 3


@pytest.mark.parametrize("source,message", [
    ("scalar", "captures differ at multiply"),  # a Python number from NumPy's global RNG
    ("array", "does not reproduce"),  # C code filling a buffer: caught by the validation
])
def test_untraced_data_keeps_the_function_eager(source: str, message: str) -> None:
    rng = np.random.default_rng(0)  # NumPy randomness the tracer cannot see
    w = cr.nn.Parameter(cr.tensor(np.ones(4)))

    def step(x: Any) -> Any:
        # detached: a returned graph would keep the function eager for another reason
        if source == "scalar":
            return (w * x * float(rng.random())).sum().detach()
        return (w * x + cr.tensor(rng.standard_normal(4))).sum().detach()

    fn = cr.compile(step)
    x = cr.tensor(np.arange(4.0))
    with pytest.warns(RuntimeWarning, match=message) as record:
        outs = [fn(x) for _ in range(8)]
    assert len(record) == 1  # one warning
    assert fn.replays == 0
    assert len({float(o) for o in outs}) == 8  # fresh randomness every call: stayed eager


def test_item_inside_the_step_refuses_capture() -> None:
    w = cr.tensor(np.ones(3), requires_grad=True)
    seen = []

    def step(x: Any) -> Any:
        loss = (w * x).sum()
        seen.append(loss.item())
        return loss

    fn = cr.compile(step)
    with pytest.warns(RuntimeWarning, match=r"\.item\(\)"):
        for k in range(5):
            fn(cr.tensor(np.full(3, float(k))))
    assert fn.replays == 0 and seen == [0.0, 3.0, 6.0, 9.0, 12.0]


def test_no_compile_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHAINRULE_NO_COMPILE", "1")
    model, _, step = _setup("mlp", "sgd", "ce")
    fn = cr.compile(step)
    x, y = _data((8, 6))
    for _ in range(5):
        fn(x, y)
    assert fn.replays == 0 and not fn.entries


def test_code_check_mode_and_lr_scheduler() -> None:
    def build() -> tuple[Any, Callable]:
        model = _mlp().double()
        opt = cr.optim.Adam(model.parameters(), lr=0.01)
        sched = cr.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)

        def step(x: Any, y: Any) -> Any:
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss

        def scheduled(x: Any, y: Any, fn: list = []) -> Any:  # noqa: B006 - per build
            return step(x, y)

        model.sched = sched  # (kept alive with the model)
        return model, step

    def scenario(step: Callable, model: Any) -> list:
        x, y = _data((8, 6))
        outs = []
        for _ in range(8):
            outs.append(step(x, y))
            model.sched.step()  # outside the step: the replay reads lr live
        return outs

    fn = _twin(build, scenario)
    assert fn.replays == 5
    assert "matmul(" in fn.code and "load_lr" in fn.code
    model, _, step = _setup("mlp", "adam", "ce")
    checked = cr.compile(step, check=True)
    x, y = _data((8, 6))
    for _ in range(6):
        checked(x, y)


# ---- every registry op: forward, backward and an SGD step, compiled == eager -------------------
def _registry() -> list:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from op_registry import OPS

    return OPS


def _op_step(spec: Any) -> tuple[list, Callable]:
    from op_registry import make_inputs

    params = [cr.nn.Parameter(cr.tensor(a)) for a in make_inputs(spec)]
    opt = cr.optim.SGD(params, lr=1e-3, momentum=0.5)
    rng = np.random.default_rng(5)
    cot: dict[tuple, Any] = {}

    def step() -> Any:
        opt.zero_grad()
        out = spec.fn(cr, *params)
        outs = [o for o in (out if isinstance(out, (tuple, list)) else (out,))
                if isinstance(o, cr.Tensor)]
        if not spec.grad:
            return outs[0]
        loss = None
        for o in outs:
            if o.requires_grad:
                c = cot.setdefault(o.shape, rng.standard_normal(o.shape))
                term = (o * cr.tensor(c)).sum()
                loss = term if loss is None else loss + term
        if loss is not None:
            loss.backward()
            opt.step()
        return outs[0]

    return params, step


@pytest.mark.parametrize("spec", _registry(), ids=repr)
def test_registry_op_compiled_equals_eager(spec: Any) -> None:
    runs = []
    for compiled in (False, True):
        params, step = _op_step(spec)
        fn = cr.compile(step) if compiled else step
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            outs = [_np(fn()) for _ in range(STEPS)]
        runs.append((outs, [_np(p) for p in params], fn))
    (eo, ep, _), (co, cp, fn) = runs
    for a, b in zip(eo + ep, co + cp):
        np.testing.assert_array_equal(a, b)
    assert fn.replays == STEPS - 3, fn.reasons


def test_trainer_compile_equals_eager() -> None:
    from chainrule.train.trainer import Trainer
    from chainrule.utils.data import DataLoader, TensorDataset

    rng = np.random.default_rng(2)
    X = cr.tensor(rng.standard_normal((52, 6)))
    Y = cr.tensor(rng.integers(0, 3, 52))
    runs = []
    for compile_ in (False, True):
        cr.manual_seed(0)
        model = _mlp().double()
        opt = cr.optim.Adam(model.parameters(), lr=0.01)
        sched = cr.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
        loader = DataLoader(TensorDataset(X, Y), batch_size=16, shuffle=True,
                            generator=cr.Generator().manual_seed(1))
        trainer = Trainer(model, F.cross_entropy, opt, scheduler=sched,
                          scheduler_interval="step", metrics=["accuracy"], quiet=True,
                          compile=compile_)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            history = trainer.fit(loader, epochs=3)
        runs.append((history, _state(model), trainer))
    (he, se, _), (hc, sc, trainer) = runs
    assert he["loss"] == hc["loss"] and he["accuracy"] == hc["accuracy"]
    for k in se:
        np.testing.assert_array_equal(se[k], sc[k], err_msg=k)
    assert trainer._compiled.replays >= 4


@pytest.mark.parametrize("case", ["create_graph", "module_hook", "tensor_hook"])
def test_unsupported_steps_stay_eager(case: str) -> None:
    model = nn.Linear(3, 1).double()
    calls = []
    if case == "module_hook":
        model.register_forward_hook(lambda m, i, o: calls.append(1))
    if case == "tensor_hook":
        model.weight.register_hook(lambda g: calls.append(1))

    def step(x: Any) -> Any:
        model.zero_grad()
        loss = model(x).pow(2).sum()
        loss.backward(create_graph=case == "create_graph")
        return loss

    fn = cr.compile(step)
    x = cr.tensor(np.ones((2, 3)))
    with pytest.warns(RuntimeWarning, match="stays eager"):
        for _ in range(5):
            fn(x)
    assert fn.replays == 0
    assert len(calls) == (5 if case != "create_graph" else 0)


def test_capture_skips_half_built_objects_that_gc_still_lists() -> None:
    """An optimizer or tensor whose __init__ raised, still held by a traceback (a
    ``pytest.raises`` keeps one), is listed by gc; capture must skip it, not read it."""
    kept: list[Any] = [cr.Tensor.__new__(cr.Tensor)]  # a tensor never given an array
    with pytest.raises(ValueError) as info:
        cr.optim.Adamax([cr.zeros(2, requires_grad=True)], betas=(0.9, 1.0))
    kept.append(info)
    other = cr.ones(2, requires_grad=True)  # hooked, with a graph-carrying grad, but not read
    other.register_hook(lambda g: g)       # by the step: must not keep the step eager
    (other * other).sum().backward(create_graph=True)
    kept.append(other)
    model = nn.Linear(3, 1).double()
    opt = cr.optim.SGD(model.parameters(), lr=0.1)
    x = cr.tensor(np.ones((4, 3)))

    def step() -> Any:
        opt.zero_grad()
        loss = model(x).pow(2).mean()
        loss.backward()
        opt.step()
        return loss

    fn = cr.compile(step)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        losses = [fn().item() for _ in range(5)]
    assert fn.replays == 2, fn.reasons  # calls 1-3: the warm-up and two captures that agree
    assert losses[-1] < losses[0]
    assert len(kept) == 3


# ---- replay into preallocated buffers ----------------------------------------------------------
def test_replay_reuses_its_buffers_and_hands_out_arrays_it_never_overwrites() -> None:
    """Intermediate results go to buffers allocated once per program (``out=b<k>``), while
    the gradients, the returned loss and the returned logits are arrays that later replays
    leave alone; a run that finds the buffers in use (another thread) takes fresh ones."""
    kept: list[tuple[np.ndarray, np.ndarray]] = []  # (array handed out, its value then)

    def build() -> tuple[Any, Callable]:
        model = _mlp().double()
        opt = cr.optim.Adam(model.parameters(), lr=0.01)

        def step(x: Any, y: Any) -> Any:
            opt.zero_grad()
            out = model(x)
            loss = F.cross_entropy(out, y)
            loss.backward()
            opt.step()
            return loss, out

        return model, step

    def scenario(step: Callable, model: Any) -> list:
        x, y = _data((8, 6))
        outs = []
        for k in range(8):
            if k == 6 and isinstance(step, cr.compile.CompiledFunction):
                step.entries[0].prog.busy.acquire()  # as if another thread were replaying
            loss, out = step(x, y)
            outs += [loss, out]
            for a in (loss._array, out._array, *(p.grad._array for p in model.parameters())):
                kept.append((a, a.copy()))
        return outs

    fn = _twin(build, scenario)
    assert fn.replays == 5
    for a, value in kept:
        np.testing.assert_array_equal(a, value)
    prog = fn.entries[0].prog
    assert "matmul(" in fn.code and "out=b0)" in fn.code
    assert prog.buffers is not None and len(prog.buffers) == len(prog.buffer_specs) > 3
    grads = {id(a) for a, _ in kept}
    assert not any(id(b) in grads or any(np.shares_memory(b, a) for a, _ in kept)
                   for b in prog.buffers)


def test_adadelta_blocked_update_replays_bitwise() -> None:
    """Adadelta updates a parameter of more than 2**16 elements in cache-sized blocks; the
    blocks' temporaries are optimizer state, so the capture records the blocked update
    itself (it used to fall back to whole-array passes, and to capture a third time because
    those passes made their scratch during the first capture)."""
    from chainrule.optim import adadelta

    def build() -> tuple[Any, Callable]:
        model = nn.Sequential(nn.Linear(300, 240), nn.Tanh(), nn.Linear(240, 3)).double()
        assert model[0].weight.numel() > adadelta._BLOCK
        opt = cr.optim.Adadelta(model.parameters(), lr=1.0, weight_decay=0.01)
        return model, _train_step(model, opt)

    def scenario(step: Callable, model: Any) -> list:
        x, y = _data((4, 300))
        return [step(x, y) for _ in range(STEPS)]

    fn = _twin(build, scenario)
    assert fn.replays == STEPS - 3, fn.reasons
    holders = fn.entries[0].prog.ext_holders.values()
    assert any(h[0] == "d" and isinstance(h[2], tuple) and h[2][0] == "block" for h in holders)


FLOAT32_OPTIMIZERS = {
    "sgd_l1": lambda ps: cr.optim.SGD(ps, lr=0.1, l1=1e-3),
    "sgd_nesterov_l1": lambda ps: cr.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True,
                                               l1=1e-3, weight_decay=1e-3),
    "adamw_amsgrad": lambda ps: cr.optim.AdamW(ps, lr=0.01, amsgrad=True),
    "adam_l1": lambda ps: cr.optim.Adam(ps, lr=0.01, l1=1e-3),
    "adadelta": lambda ps: cr.optim.Adadelta(ps, lr=1.0, weight_decay=0.01),
    "rmsprop": lambda ps: cr.optim.RMSprop(ps, lr=0.01, momentum=0.5, centered=True),
    "adagrad": lambda ps: cr.optim.Adagrad(ps, lr=0.1, lr_decay=0.01, weight_decay=0.01),
    # scalar coefficients from Python floats in one recorded call (optimizer.coefficients)
    "adamax": lambda ps: cr.optim.Adamax(ps, lr=0.01),
    "nadam": lambda ps: cr.optim.NAdam(ps, lr=0.01),
    "radam": lambda ps: cr.optim.RAdam(ps, lr=0.01),
}


@pytest.mark.parametrize("name", FLOAT32_OPTIMIZERS)
def test_float32_step_of_every_optimizer_equals_eager_bitwise(name: str) -> None:
    """float32 parameters: a capture must not change the update's arithmetic (a float64 0-d
    learning rate or step count where eager uses a Python float rounds differently), and an
    optimizer whose Python-number state a replay cannot advance keeps the step eager."""
    runs = []
    for compiled in (False, True):
        cr.manual_seed(0)
        model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))
        opt = FLOAT32_OPTIMIZERS[name](model.parameters())
        step = _train_step(model, opt)
        fn = cr.compile(step) if compiled else step
        rng = np.random.default_rng(1)
        data = [(cr.tensor(rng.standard_normal((8, 6)).astype(np.float32)),
                 cr.tensor(rng.integers(0, 3, 8))) for _ in range(STEPS)]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            losses = [_np(fn(x, y)) for x, y in data]
        steps = [float(opt.state[p].get("step", STEPS)) for p in model.parameters()]
        runs.append((losses, _state(model), steps, fn, caught))
    (le, se, te, _, _), (lc, sc, tc, fn, caught) = runs
    for a, b in zip(le, lc):
        np.testing.assert_array_equal(a, b)
    for k in se:
        np.testing.assert_array_equal(se[k], sc[k], err_msg=k)
    assert te == tc == [float(STEPS)] * 4  # the step count (SGD: none) advanced by every replay
    # RAdam's ρ_t > 5 flips at step 6: a value guard, one recapture (two more captured calls)
    expected = STEPS - 5 if name == "radam" else STEPS - 3
    assert fn.replays == expected and not caught, [str(w.message) for w in caught]


class _IntStepSGD(cr.optim.Optimizer):
    """A user's PyTorch-style optimizer keeping a Python-int step count in its state."""

    def __init__(self, params: Any, lr: float = 0.1) -> None:
        super().__init__(params, dict(lr=lr))

    @cr.no_grad()
    def step(self, closure: Any = None) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                st = self.state[p]
                st["step"] = st.get("step", 0) + 1
                p.add_(p.grad, alpha=-group["lr"] / st["step"] ** 0.5)


def test_python_number_state_that_the_step_changes_keeps_it_eager_with_a_warning() -> None:
    """A replay could not advance a Python number: the function stays eager (same results as
    eager), with one warning naming the optimizer and the entry."""
    runs = []
    for compiled in (False, True):
        cr.manual_seed(0)
        model = nn.Linear(3, 2).double()
        opt = _IntStepSGD(model.parameters())
        step = _train_step(model, opt)
        fn = cr.compile(step) if compiled else step
        x = cr.tensor(np.ones((4, 3)))
        y = cr.tensor(np.array([0, 1, 0, 1]))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            losses = [_np(fn(x, y)) for _ in range(6)]
        runs.append((losses, _state(model), fn, caught))
    (le, se, _, _), (lc, sc, fn, caught) = runs
    assert [a.tolist() for a in le] == [a.tolist() for a in lc] and fn.replays == 0
    assert len(caught) == 1 and "_IntStepSGD keeps 'step'" in str(caught[0].message)
    assert "a replay cannot advance" in str(caught[0].message)


def test_axpy_with_a_0d_coefficient_rounds_like_a_python_float() -> None:
    """Under capture the optimizers' coefficients are 0-d float64 arrays (from the live lr);
    axpy's NumPy fallback (non-contiguous arrays) must compute in y's dtype as eager does."""
    from chainrule.backend import axpy

    x = np.random.default_rng(0).standard_normal((50, 40)).astype(np.float32).T
    eager, captured = np.ones((40, 50), np.float32), np.ones((40, 50), np.float32)
    axpy(-0.1 * 0.9, x, eager)
    axpy(np.asarray(-0.1 * 0.9), x, captured)
    np.testing.assert_array_equal(eager, captured)


def test_threads_compiling_their_own_steps_equal_single_threaded_eager() -> None:
    """Four threads each train their own model under chainrule.compile at the same time:
    captures are refused while other threads run (a capture lists every live object and
    swaps every live tensor's array; CPython then failed another thread's tuple construction
    with a SystemError 1 run in 3), so each step stays eager with one warning saying why, and
    every thread's weights equal its single-threaded eager run bit for bit."""
    import threading

    def train(seed: int, compiled: bool) -> list[np.ndarray]:
        gen = cr.Generator().manual_seed(seed)
        model = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 3))
        with cr.no_grad():
            for p in model.parameters():
                p.copy_(cr.randn(*p.shape, generator=gen) * 0.3)
        opt = cr.optim.Adam(model.parameters(), lr=0.01)
        rng = np.random.default_rng(seed)
        x = cr.tensor(rng.standard_normal((32, 8)).astype(np.float32))
        y = cr.tensor(rng.integers(0, 3, 32))
        step = _train_step(model, opt)
        fn = cr.compile(step) if compiled else step
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for _ in range(30):
                fn(x, y)
        if compiled:
            reasons.extend(str(w.message) for w in caught)
        return [p.detach().numpy().copy() for p in model.parameters()]

    reasons: list[str] = []
    ref = [train(s, False) for s in range(4)]
    got: dict[int, Any] = {}
    errors: list[BaseException] = []

    def run(s: int) -> None:
        try:
            got[s] = train(s, True)
        except BaseException as e:  # (reported below, not lost in the thread)
            errors.append(e)

    threads = [threading.Thread(target=run, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for s in range(4):
        for a, b in zip(ref[s], got[s]):
            np.testing.assert_array_equal(a, b)
    # (a thread running alone at its capture, the others done, may compile: no warning then)
    assert reasons and all("another Python thread is running" in r for r in reasons)


def test_guards_missing_on_every_call_are_said_once_and_results_stay_eager() -> None:
    """OneCycleLR cycles SGD's momentum every step: a guarded hyper-parameter (only lr is read
    live), so no program ever replays. After MAX_PROGRAMS captures the step runs eagerly and
    says why, once (the reason names the hyper-parameter), with the eager results."""
    from chainrule.compile import MAX_PROGRAMS

    runs = []
    for compiled in (False, True):
        cr.manual_seed(0)
        model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3)).double()
        opt = cr.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        sched = cr.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.5, total_steps=40)

        def step(x: Any, y: Any, model: Any = model, opt: Any = opt) -> Any:
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss

        fn = cr.compile(step) if compiled else step
        x, y = _data((8, 6))
        losses = []
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            for _ in range(MAX_PROGRAMS + 6):
                losses.append(_np(fn(x, y)))
                sched.step()
        runs.append(losses)
    assert fn.replays == 0 and len(fn.reasons) == 1 and "'momentum'" in fn.reasons[0]
    assert sum("stays eager" in str(w.message) for w in seen) == 1
    for a, b in zip(*runs, strict=True):
        np.testing.assert_array_equal(a, b)
