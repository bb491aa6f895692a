"""Fault injection on ``chainrule.save``/``load`` and Trainer checkpoints: kill -9 at random
moments, full disks (simulated and real), read-only directories, directories as paths, bit
flips and truncations anywhere, and files that are not checkpoints (PyTorch pickles)."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time

import numpy as np
import pytest
import torch

import chainrule as cr
from chainrule import nn, optim
from chainrule import serialization as ser
from chainrule.serialization import CheckpointError
from chainrule.train import checkpoint


def _state(value: float, n: int = 2000) -> dict:
    return {"w": cr.full((n,), value), "b": cr.arange(5, dtype=cr.float64) * value,
            "step": int(value), "lr": 0.5 * value}


def _value(path: object) -> float:
    """The value a ``_state`` file holds, after checking it is internally consistent."""
    s = cr.load(path)
    v = float(s["step"])
    assert (s["w"].numpy() == v).all() and s["lr"] == 0.5 * v
    np.testing.assert_array_equal(s["b"].numpy(), np.arange(5.0) * v)
    return v


# ---- kill -9 ---------------------------------------------------------------------------------
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_sigkill_at_random_moments_of_repeated_saves_leaves_old_or_new(tmp_path) -> None:
    """30 children save in a loop and are SIGKILLed after a random delay: the file is always a
    complete checkpoint (old or new), checksummed, and leftovers never break the next save."""
    path = str(tmp_path / "m.safetensors")
    ck = str(tmp_path / "ck" / "last")
    model = nn.Linear(20, 10)
    rng = np.random.default_rng(0)
    last_seen = -1.0
    for _ in range(30):
        pid = os.fork()
        if pid == 0:  # child: save forever, new content every time
            try:
                i = int(last_seen) + 1
                while True:
                    cr.save(_state(float(i)), path)
                    with cr.no_grad():
                        model.weight.fill_(float(i))
                    checkpoint.save_checkpoint(ck, model, None, {"i": i})
                    i += 1
            finally:
                os._exit(0)
        time.sleep(float(rng.uniform(0.0, 0.08)))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        if os.path.exists(path):
            last_seen = max(last_seen, _value(path))
        if os.path.lexists(ck):
            m = nn.Linear(20, 10)
            i = checkpoint.load_checkpoint(ck, m, None)["i"]
            assert (m.weight.detach().numpy() == i).all()
    assert last_seen >= 0  # at least one save completed
    cr.save(_state(99.0), path)  # leftovers of dead writers do not break the next save
    checkpoint.save_checkpoint(ck, model, None, {"i": 99})
    assert _value(path) == 99.0
    assert sorted(os.listdir(tmp_path)) == ["ck", "m.safetensors"]  # dead writers' temps gone
    assert len(os.listdir(tmp_path / "ck")) == 2  # the pointer and its one directory


def test_a_live_writers_temp_file_is_kept_and_a_dead_ones_removed(tmp_path) -> None:
    path = tmp_path / "m.safetensors"
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()  # a pid that no longer runs
    dead = tmp_path / f".m.safetensors.{proc.pid}.abc.tmp"
    live = tmp_path / f".m.safetensors.{os.getppid()}.abc.tmp"
    other = tmp_path / ".n.safetensors.1.abc.tmp"  # another file's temp: never touched
    for p in (dead, live, other):
        p.write_bytes(b"partial")
    cr.save(_state(1.0), path)
    assert sorted(os.listdir(tmp_path)) == sorted(["m.safetensors", live.name, other.name])


# ---- full disk, read-only directory, directories as paths ----------------------------------
@pytest.mark.parametrize("where", ["write", "fsync"])
def test_no_space_names_the_path_and_keeps_the_old_file(tmp_path, monkeypatch, where) -> None:
    path = tmp_path / "m.safetensors"
    cr.save(_state(1.0), path)

    def full(*args: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    if where == "write":
        def half(f, data: bytes) -> None:  # noqa: ANN001
            f.write(data[: len(data) // 2])
            full()
        monkeypatch.setattr(ser, "_write_all", half)
    else:
        monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="no space") as e:
        cr.save(_state(2.0), path)
    assert e.value.errno == errno.ENOSPC and str(path) in str(e.value)
    monkeypatch.undo()
    assert _value(path) == 1.0 and os.listdir(tmp_path) == ["m.safetensors"]


def test_no_space_in_a_trainer_checkpoint_names_it(tmp_path, monkeypatch) -> None:
    model = nn.Linear(3, 2)
    ck = str(tmp_path / "last")
    checkpoint.save_checkpoint(ck, model, None, {"i": 1})
    monkeypatch.setattr(ser, "_write_all",
                        lambda f, d: (_ for _ in ()).throw(OSError(errno.ENOSPC, "full")))
    with pytest.raises(OSError, match=f"{ck}: no space"):
        checkpoint.save_checkpoint(ck, model, None, {"i": 2})
    monkeypatch.undo()
    assert checkpoint.read_state(ck)["i"] == 1


def test_file_size_limit_in_a_subprocess_keeps_the_old_file(tmp_path) -> None:
    """RLIMIT_FSIZE makes the kernel refuse the write itself (EFBIG) halfway through."""
    path = tmp_path / "m.safetensors"
    cr.save(_state(1.0, n=100), path)
    script = textwrap.dedent(f"""
        import resource, signal
        import chainrule as cr
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))
        try:
            cr.save({{"w": cr.ones(100000)}}, {str(path)!r})
        except OSError as e:
            print("ERR", e)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120, env={**os.environ})
    assert "ERR" in out.stdout and str(path) in out.stdout, out.stdout + out.stderr
    assert "no space" in out.stdout
    assert _value(path) == 1.0 and os.listdir(tmp_path) == ["m.safetensors"]


def _tiny_tmpfs() -> str | None:
    """A 64 KiB tmpfs (root with CAP_SYS_ADMIN only); None where it cannot be mounted."""
    if os.geteuid() != 0 or not sys.platform.startswith("linux"):
        return None
    d = tempfile.mkdtemp()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", d],
                       capture_output=True)
    if r.returncode != 0:
        os.rmdir(d)
        return None
    return d


def test_a_real_full_disk_keeps_the_old_checkpoint() -> None:
    d = _tiny_tmpfs()
    if d is None:
        pytest.skip("cannot mount a tiny tmpfs here")
    try:
        path = os.path.join(d, "m.safetensors")
        cr.save(_state(1.0, n=10000), path)  # 40 KB of 64 KB
        with pytest.raises(OSError, match="no space") as e:
            cr.save(_state(2.0, n=10000), path)
        assert path in str(e.value)
        assert _value(path) == 1.0 and os.listdir(d) == ["m.safetensors"]
        os.unlink(path)
        model = nn.Linear(100, 60)  # 24 KB of parameters
        ck = os.path.join(d, "last")
        checkpoint.save_checkpoint(ck, model, None, {"i": 1})
        with pytest.raises(OSError, match="no space"):
            checkpoint.save_checkpoint(ck, nn.Linear(100, 60), None, {"i": 2})
        m = nn.Linear(100, 60)
        assert checkpoint.load_checkpoint(ck, m, None)["i"] == 1
        np.testing.assert_array_equal(m.weight.detach().numpy(), model.weight.detach().numpy())
    finally:
        subprocess.run(["umount", d], check=False)
        os.rmdir(d)


def test_read_only_directory_names_the_path(tmp_path, monkeypatch) -> None:
    path = tmp_path / "m.safetensors"
    cr.save(_state(1.0), path)
    if os.geteuid() == 0:  # root writes anywhere: make the temp file's creation fail instead
        def refuse(*a: object, **k: object) -> None:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
        monkeypatch.setattr(tempfile, "mkstemp", refuse)
    else:
        tmp_path.chmod(0o555)
    try:
        with pytest.raises(PermissionError, match=f"cannot write {path}"):
            cr.save(_state(2.0), path)
    finally:
        tmp_path.chmod(0o755)
    assert _value(path) == 1.0


def test_a_directory_as_the_path_is_a_clear_error(tmp_path) -> None:
    (tmp_path / "d").mkdir()
    with pytest.raises(IsADirectoryError, match="is a directory"):
        cr.save(_state(1.0), tmp_path / "d")
    with pytest.raises(IsADirectoryError, match="is a directory"):
        cr.load(tmp_path / "d")
    assert os.listdir(tmp_path) == ["d"] and os.listdir(tmp_path / "d") == []


def test_trainer_checkpoint_never_replaces_a_users_directory(tmp_path) -> None:
    """Saving to ``runs/exp`` (a directory of the user's files) used to move it aside and
    delete it on the next save; now it is refused and the files stay."""
    user = tmp_path / "exp"
    user.mkdir()
    (user / "notes.txt").write_text("keep me")
    with pytest.raises(IsADirectoryError, match="not a checkpoint"):
        checkpoint.save_checkpoint(str(user), nn.Linear(2, 2), None, {})
    checkpoint.save_checkpoint(str(tmp_path / "last"), nn.Linear(2, 2), None, {})
    assert (user / "notes.txt").read_text() == "keep me"


# ---- corruption --------------------------------------------------------------------------------
def test_every_sampled_bit_flip_and_every_truncation_is_detected(tmp_path) -> None:
    path = tmp_path / "m.safetensors"
    cr.save({"w": cr.randn(3, 4, dtype=cr.float64), "n": cr.tensor(7), "lr": 0.1}, path)
    data = path.read_bytes()
    (header_len,) = np.frombuffer(data[:8], "<u8")
    digest_at = data.index(b"sha256") + 11  # inside the checksum's hex text
    rng = np.random.default_rng(0)
    offsets = set(range(8)) | set(range(digest_at, digest_at + 64, 5))  # length, checksum
    offsets |= set(rng.integers(8, 8 + header_len, 120).tolist())  # header and structure
    offsets |= set(rng.integers(8 + header_len, len(data), 60).tolist())  # tensor bytes
    bad = tmp_path / "bad"
    for i in sorted(offsets):
        for bit in (0, 3, 7) if i >= 8 else range(8):
            flipped = bytearray(data)
            flipped[i] ^= 1 << bit
            bad.write_bytes(bytes(flipped))
            with pytest.raises(CheckpointError, match="bad"):
                cr.load(bad)
    for n in range(0, len(data), 3):
        bad.write_bytes(data[:n])
        with pytest.raises(CheckpointError):
            cr.load(bad)


@pytest.mark.parametrize("legacy", [False, True])
def test_a_pytorch_pickle_is_refused_saying_why(tmp_path, legacy: bool) -> None:
    path = tmp_path / "model.pt"
    torch.save({"w": torch.ones(2)}, path, _use_new_zipfile_serialization=not legacy)
    with pytest.raises(CheckpointError, match="PyTorch") as e:
        cr.load(path)
    assert "pickle" in str(e.value) and "never unpickles" in str(e.value)


def test_random_bytes_and_other_formats_are_not_checkpoints(tmp_path) -> None:
    rng = np.random.default_rng(1)
    for size in (0, 5, 100, 5000):
        (tmp_path / "r").write_bytes(rng.bytes(size))
        with pytest.raises(CheckpointError):
            cr.load(tmp_path / "r")
    np.save(tmp_path / "a.npy", np.ones(3))
    with pytest.raises(CheckpointError, match="NumPy"):
        cr.load(tmp_path / "a.npy")


def test_a_header_length_that_looks_like_a_pickle_still_loads(tmp_path) -> None:
    """Format sniffing must not refuse a real file whose first bytes (the header length)
    happen to read 0x80 0x02 like a pickle's protocol opcode."""
    for pad in range(0, 800):
        blob = ser._serialize({"w": cr.ones(2)}, {"pad": "x" * pad})
        if blob[0] == 0x80 and 2 <= blob[1] <= 5:
            break
    else:
        pytest.fail("no padding gave a pickle-like header length")
    (tmp_path / "m").write_bytes(blob)
    assert cr.load(tmp_path / "m")["w"].tolist() == [1.0, 1.0]


def test_torch_load_arguments_are_accepted(tmp_path) -> None:
    path = tmp_path / "m"
    cr.save(_state(3.0), path)
    for kw in ({"weights_only": True}, {"weights_only": False}, {"map_location": "cpu"},
               {"map_location": cr.device("cpu")}, {"map_location": torch.device("cpu")},
               {"map_location": {"cuda:0": "cpu"}}, {"mmap": True}):
        assert cr.load(path, **kw)["step"] == 3
    with open(path, "rb") as f:
        assert cr.load(f, map_location="cpu")["step"] == 3


def test_optimizer_state_round_trips_through_a_checkpoint(tmp_path) -> None:
    model = nn.Linear(3, 2)
    opt = optim.Adam(model.parameters(), lr=0.1)
    model(cr.randn(4, 3)).sum().backward()
    opt.step()
    cr.save(opt.state_dict(), tmp_path / "o")
    opt2 = optim.Adam(nn.Linear(3, 2).parameters(), lr=0.5)
    opt2.load_state_dict(cr.load(tmp_path / "o"))
    assert opt2.param_groups[0]["lr"] == 0.1
    a, b = opt.state_dict()["state"][0], opt2.state_dict()["state"][0]
    np.testing.assert_array_equal(a["exp_avg"].numpy(), b["exp_avg"].numpy())
