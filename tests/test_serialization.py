"""chainrule.save / chainrule.load: round trips, atomic writes, corruption, PyTorch interop."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import textwrap
from collections import OrderedDict

import numpy as np
import pytest

import chainrule as cr
from chainrule import serialization as ser
from chainrule.serialization import CheckpointError


def state_dict() -> OrderedDict:
    rng = np.random.default_rng(0)
    return OrderedDict([
        ("0.weight", cr.from_numpy(rng.standard_normal((4, 3)).astype(np.float32))),
        ("0.bias", cr.from_numpy(rng.standard_normal(4).astype(np.float32))),
        ("bn.running_mean", cr.zeros(4, dtype=cr.float64)),
        ("bn.num_batches_tracked", cr.tensor(7)),
        ("mask", cr.tensor([True, False])),
        ("half", cr.ones(2, dtype=cr.float16)),
        ("pixels", cr.from_numpy(np.arange(6, dtype=np.uint8))),
        ("transposed", cr.from_numpy(rng.standard_normal((3, 5))).T),  # not contiguous
    ])


def assert_same(a: object, b: object) -> None:
    assert type(a) is type(b), (type(a), type(b))
    if isinstance(a, cr.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape and a.requires_grad == b.requires_grad
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    elif isinstance(a, float) and np.isnan(a):
        assert np.isnan(b)
    else:
        assert a == b


def test_state_dict_round_trip(tmp_path) -> None:  # noqa: ANN001
    sd = state_dict()
    cr.save(sd, tmp_path / "m.safetensors")
    back = cr.load(tmp_path / "m.safetensors")
    assert_same(sd, back)
    back["0.weight"].data += 1  # loaded arrays are writable
    from safetensors.numpy import load_file

    assert set(load_file(tmp_path / "m.safetensors")) == set(sd)  # names = state-dict keys


def test_optimizer_like_nested_state(tmp_path) -> None:  # noqa: ANN001
    w = cr.randn(3, 2)
    opt = {
        "state": {0: {"step": cr.tensor(12.0), "exp_avg": cr.randn(3, 2),
                      "exp_avg_sq": cr.rand(3, 2)},
                  1: {"momentum_buffer": None}},
        "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0,
                          "amsgrad": False, "maximize": False, "foreach": None,
                          "params": [0, 1], "name": "decoder", "inf": float("inf"),
                          "nan": float("nan"), "big": 2**100, "np32": np.float32(0.5),
                          "c": 1 + 2j, "dtype": np.dtype(np.float32)}],
        "extra": {(1, "a"): [np.arange(3), w.requires_grad_(True)], "": "empty key"},
    }
    path = tmp_path / "opt.safetensors"
    cr.save(opt, path)
    back = cr.load(path)
    assert_same(opt, back)
    assert isinstance(back["param_groups"][0]["np32"], np.float32)
    assert list(back["state"]) == [0, 1]  # int keys stay ints


def test_file_objects_and_single_tensor() -> None:
    buf = io.BytesIO()
    cr.save(cr.arange(5), buf)
    buf.seek(0)
    assert cr.load(buf).tolist() == [0, 1, 2, 3, 4]


def test_unsupported_objects_are_refused_with_their_path(tmp_path) -> None:  # noqa: ANN001
    with pytest.raises(TypeError, match=r"object\['cfg'\]\['fn'\] is a function.*never pickles"):
        cr.save({"cfg": {"fn": lambda x: x}}, tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_map_location(tmp_path) -> None:  # noqa: ANN001
    cr.save({"a": cr.ones(1)}, tmp_path / "a")
    assert cr.load(tmp_path / "a", map_location="cpu", weights_only=True)["a"].item() == 1
    with pytest.raises(RuntimeError, match="not available"):
        cr.load(tmp_path / "a", map_location="cuda:0")


# ---- atomicity -----------------------------------------------------------------------------
def test_failed_write_leaves_previous_file(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    path = tmp_path / "ckpt.safetensors"
    cr.save({"w": cr.zeros(1000)}, path)
    before = path.read_bytes()

    def crash(f, data):  # noqa: ANN001, ANN202
        f.write(data[: len(data) // 2])
        f.flush()
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(ser, "_write_all", crash)
    with pytest.raises(OSError, match="simulated"):
        cr.save({"w": cr.ones(1000)}, path)
    assert path.read_bytes() == before
    assert cr.load(path)["w"].numpy().sum() == 0
    assert os.listdir(tmp_path) == ["ckpt.safetensors"]  # the partial temp file is removed


def test_process_killed_mid_write_leaves_previous_file(tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "ckpt.safetensors"
    cr.save({"w": cr.zeros(1000)}, path)
    script = textwrap.dedent(f"""
        import os
        import chainrule as cr
        from chainrule import serialization as ser

        def die(f, data):
            f.write(data[: len(data) // 3])
            f.flush()
            os._exit(9)  # the process dies with the temp file half written

        ser._write_all = die
        cr.save({{"w": cr.ones(1000)}}, {str(path)!r})
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert proc.returncode == 9, proc.stderr.decode()
    assert cr.load(path)["w"].numpy().sum() == 0
    leftovers = [p for p in os.listdir(tmp_path) if p != "ckpt.safetensors"]
    assert len(leftovers) == 1 and leftovers[0].endswith(".tmp")  # never the real name


# ---- corruption ----------------------------------------------------------------------------
def test_truncated_and_corrupted_files_raise_checkpoint_error(tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "good.safetensors"
    cr.save(state_dict(), path)
    data = path.read_bytes()
    cases = {
        "truncated.safetensors": data[: len(data) - 7],
        "header-cut.safetensors": data[:50],
        "empty.safetensors": b"",
        "garbage.safetensors": b"this is not a checkpoint at all",
    }
    flipped = bytearray(data)
    flipped[-3] ^= 0xFF  # inside the tensor bytes: only the checksum can notice
    cases["bitflip.safetensors"] = bytes(flipped)
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(CheckpointError, match=name) as e:
            cr.load(tmp_path / name)
        assert "previous checkpoint" in str(e.value)
        assert e.value.path.endswith(name)
    with pytest.raises(CheckpointError, match="SHA-256 mismatch"):
        cr.load(tmp_path / "bitflip.safetensors")


def test_sha256_and_json_helpers(tmp_path) -> None:  # noqa: ANN001
    p = tmp_path / "blob"
    ser.atomic_write(p, b"hello")
    assert ser.sha256_file(p) == hashlib.sha256(b"hello").hexdigest() == ser.sha256_bytes(
        b"hello")
    ser.verify_sha256(p, hashlib.sha256(b"hello").hexdigest().upper())
    with pytest.raises(CheckpointError, match="blob: SHA-256 mismatch"):
        ser.verify_sha256(p, "0" * 64)
    ser.write_json(tmp_path / "s.json", {"epoch": 3, "gen": {"state": 2**80}})
    assert ser.read_json(tmp_path / "s.json")["gen"]["state"] == 2**80
    (tmp_path / "t.json").write_text('{"epoch": 3, "ge')
    with pytest.raises(CheckpointError, match=r"t.json: invalid JSON"):
        ser.read_json(tmp_path / "t.json")


# ---- PyTorch interop -----------------------------------------------------------------------
def test_chainrule_file_loads_into_torch_twin_and_back(tmp_path) -> None:  # noqa: ANN001
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file, save_file

    twin = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    rng = np.random.default_rng(1)
    ours = OrderedDict((k, cr.from_numpy(rng.standard_normal(tuple(v.shape)).astype(np.float32)))
                       for k, v in twin.state_dict().items())
    cr.save(ours, tmp_path / "ours.safetensors")
    twin.load_state_dict(load_file(tmp_path / "ours.safetensors"), strict=True)
    for k, v in twin.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), ours[k].numpy())

    theirs = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    save_file(theirs.state_dict(), tmp_path / "theirs.safetensors")
    back = cr.load(tmp_path / "theirs.safetensors")
    assert set(back) == set(theirs.state_dict())
    for k, v in theirs.state_dict().items():
        np.testing.assert_array_equal(back[k].numpy(), v.numpy())


def test_module_state_dict_interop(tmp_path) -> None:  # noqa: ANN001
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file, save_file

    nn = cr.nn
    if not (hasattr(nn, "Linear") and hasattr(nn, "Sequential")):
        pytest.skip("chainrule.nn.Linear/Sequential not available yet")
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)) if hasattr(
        nn, "Tanh") else nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    twin = torch.nn.Sequential(*[torch.nn.Linear(m.in_features, m.out_features) if isinstance(
        m, nn.Linear) else torch.nn.Tanh() for m in model])
    cr.save(model.state_dict(), tmp_path / "m.safetensors")
    twin.load_state_dict(load_file(tmp_path / "m.safetensors"))
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    np.testing.assert_allclose(twin(torch.from_numpy(x)).detach().numpy(),
                               model(cr.from_numpy(x)).detach().numpy(), rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        for p in twin.parameters():
            p.add_(1.0)
    save_file(twin.state_dict(), tmp_path / "t.safetensors")
    model.load_state_dict(cr.load(tmp_path / "t.safetensors"))
    np.testing.assert_allclose(twin(torch.from_numpy(x)).detach().numpy(),
                               model(cr.from_numpy(x)).detach().numpy(), rtol=1e-5, atol=1e-6)


# ---- PyTorch spellings around saving (issue 18) ---------------------------------------------
def test_saving_a_whole_module_or_optimizer_says_what_to_save_instead(tmp_path):
    import pytest
    import torch

    import chainrule as cr

    model = cr.nn.Linear(2, 3)
    opt = cr.optim.SGD(model.parameters(), lr=0.1)
    torch.save(torch.nn.Linear(2, 3), tmp_path / "torch.pt")  # PyTorch pickles the module
    for obj, kind in ((model, "module"), (opt, "optimizer"), ({"net": model}, "module")):
        with pytest.raises(TypeError, match=rf"whole {kind} .*{kind}\.state_dict\(\)"):
            cr.save(obj, tmp_path / "x.safetensors")
    assert not (tmp_path / "x.safetensors").exists()
    cr.save(model.state_dict(), tmp_path / "m.safetensors")  # what the message says works
    twin = cr.nn.Linear(2, 3)
    twin.load_state_dict(cr.load(tmp_path / "m.safetensors"))
    assert (twin.weight.detach().numpy() == model.weight.detach().numpy()).all()


def test_safe_globals_are_accepted_as_in_torch(tmp_path):
    import torch

    import chainrule as cr
    from chainrule import serialization

    class Config:
        pass

    state = {"w": cr.ones(2)}
    cr.save(state, tmp_path / "s.safetensors")
    torch.save({"w": torch.ones(2)}, tmp_path / "s.pt")
    with torch.serialization.safe_globals([Config]):
        torch.load(tmp_path / "s.pt")
    with serialization.safe_globals([Config]):
        assert Config in serialization.get_safe_globals()
        loaded = cr.load(tmp_path / "s.safetensors")
    assert Config not in serialization.get_safe_globals()
    assert (loaded["w"].numpy() == 1).all()
    serialization.add_safe_globals([Config])
    assert serialization.get_safe_globals() == [Config]
    serialization.clear_safe_globals()
    assert serialization.get_safe_globals() == []
