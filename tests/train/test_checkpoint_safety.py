"""What a checkpoint promises: kill -9 at every commit step, disk full, bit flips in every class
of metadata byte (keys, numbers, strings, structure), and stray-file cleanup.

Each check either loads content identical to what was saved or raises CheckpointError; the
reference for "identical" is the byte-exact re-serialisation of what was loaded.
"""

from __future__ import annotations

import errno
import io
import json
import os
import shutil
import signal
import struct
from collections.abc import Callable

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule import serialization as ser
from chainrule.serialization import CheckpointError
from chainrule.train import ModelCheckpoint, Trainer, checkpoint
from chainrule.utils.data import DataLoader, TensorDataset


# ---- a tiny trained state ----------------------------------------------------------------
def _data() -> TensorDataset:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 3)).astype(np.float32)
    return TensorDataset(cr.from_numpy(x), cr.from_numpy((x[:, 0] > 0).astype(np.int64)))


def _trainer(seed: int = 0) -> Trainer:
    cr.manual_seed(seed)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    opt = optim.AdamW(model.parameters(), lr=0.01, weight_decay=0.0)
    return Trainer(model, nn.CrossEntropyLoss(), opt, metrics=["accuracy"], quiet=True)


def _loader() -> DataLoader:
    return DataLoader(_data(), batch_size=10, shuffle=True,
                      generator=cr.Generator().manual_seed(1))


def _fingerprint(t: Trainer) -> bytes:
    """Model, optimizer and trainer state as bytes: equal bytes <=> equal content."""
    state = dict(t.state())
    state.pop("generators")  # the global generator is shared by every trainer in a process
    return (ser._serialize(t.model.state_dict(), None) + ser._serialize(t.optimizer.state_dict(),
                                                                        None)
            + json.dumps(state, sort_keys=True).encode())


def _loaded(path: str) -> Trainer:
    t = _trainer(seed=7)
    t.train_loader = _loader()
    t.load_checkpoint(path)
    return t


# ---- layout and commit -------------------------------------------------------------------
def test_pointer_layout_and_previous_checkpoint_removed_after_commit(tmp_path) -> None:
    t = _trainer()
    t.fit(_loader(), epochs=1)
    last = str(tmp_path / "last")
    t.save_checkpoint(last)
    first = os.readlink(last)
    t.fit(_loader(), epochs=2)
    t.save_checkpoint(last)
    second = os.readlink(last)
    assert first != second and sorted(os.listdir(tmp_path)) == sorted(["last", second])
    assert _fingerprint(_loaded(last)) == _fingerprint(t)
    assert _loaded(str(tmp_path / second)).epoch == 2  # the directory itself loads too


def test_stray_entries_are_cleaned_and_others_kept(tmp_path) -> None:
    t = _trainer()
    t.save_checkpoint(str(tmp_path / "last"))
    os.mkdir(tmp_path / "last.ckpt-0123456789abcdef")  # an interrupted save's directory
    (tmp_path / ".last.link-0123456789abcdef.tmp").write_text("x")
    (tmp_path / "notes.txt").write_text("mine")
    t.save_checkpoint(str(tmp_path / "best"))
    names = sorted(os.listdir(tmp_path))
    assert "notes.txt" in names and "last.ckpt-0123456789abcdef" not in names
    assert not [n for n in names if n.endswith(".tmp")]
    assert len(names) == 5  # last, best, their two directories, notes.txt
    os.mkdir(tmp_path / "best.ckpt-fedcba9876543210")
    ModelCheckpoint(tmp_path).on_train_begin(t)  # a run that starts cleans up too
    assert sorted(os.listdir(tmp_path)) == names


def _kill_at(k: int, when: str) -> None:
    """In a forked child: SIGKILL this process before or after the k-th file-system step
    (``mkdir``, ``symlink``, ``os.replace``, ``os.rename``, ``rmtree``) from now on."""
    calls = [0]

    def hooked(fn: Callable) -> Callable:
        def wrapper(*args: object, **kwargs: object) -> object:
            if calls[0] == k and when == "before":
                os.kill(os.getpid(), signal.SIGKILL)
            out = fn(*args, **kwargs)
            if calls[0] == k and when == "after":
                os.kill(os.getpid(), signal.SIGKILL)
            calls[0] += 1
            return out
        return wrapper

    for mod, name in ((os, "replace"), (os, "rename"), (os, "symlink"), (os, "mkdir"),
                      (shutil, "rmtree")):
        setattr(mod, name, hooked(getattr(mod, name)))


def _fork_and_save(fn: Callable[[], None]) -> int:
    """Run ``fn`` in a forked child; returns the signal that ended it (0: clean exit)."""
    pid = os.fork()
    if pid == 0:  # the child never returns into pytest
        try:
            fn()
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    return os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0


def test_sigkill_at_every_rename_of_a_save_leaves_old_or_new(tmp_path) -> None:
    t = _trainer()
    t.train_loader = _loader()
    t.fit(t.train_loader, epochs=1)
    seed = tmp_path / "seed"
    t.save_checkpoint(str(seed / "last"))
    old = _fingerprint(_loaded(str(seed / "last")))
    t.fit(t.train_loader, epochs=2)
    new = _fingerprint(t)
    outcomes = set()
    for k in range(6):
        for when in ("before", "after"):
            root = tmp_path / f"{k}-{when}"
            shutil.copytree(seed, root, symlinks=True)  # the old checkpoint, committed
            last = str(root / "last")

            def killed_save(last: str = last, k: int = k, when: str = when) -> None:
                _kill_at(k, when)
                t.save_checkpoint(last)

            sig = _fork_and_save(killed_save)
            got = _fingerprint(_loaded(last))
            assert got in (old, new), (k, when)
            outcomes.add((sig, got == new))
            t.save_checkpoint(last)  # the next save cleans what the killed one left
            assert len(os.listdir(root)) == 2, (k, when, os.listdir(root))
    # killed before the pointer switch: old; after it: new; the hooks count mkdir, symlink,
    # replace and rmtree, so the last values of k let the save finish
    assert {(signal.SIGKILL, False), (signal.SIGKILL, True), (0, True)} <= outcomes


@pytest.mark.parametrize("failing_file", range(4))
def test_disk_full_leaves_previous_checkpoint_loadable(tmp_path, monkeypatch,
                                                       failing_file: int) -> None:
    t = _trainer()
    t.train_loader = _loader()
    t.fit(t.train_loader, epochs=1)
    last = str(tmp_path / "last")
    t.save_checkpoint(last)
    old = _fingerprint(t)
    t.fit(t.train_loader, epochs=2)
    real, count = ser._write_all, [0]

    def full(f, data: bytes) -> None:  # the n-th file of the save hits a full disk halfway
        if count[0] == failing_file:
            real(f, data[: len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")
        count[0] += 1
        real(f, data)

    monkeypatch.setattr(ser, "_write_all", full)
    with pytest.raises(OSError, match="No space left"):
        t.save_checkpoint(last)
    monkeypatch.setattr(ser, "_write_all", real)
    assert _fingerprint(_loaded(last)) == old
    assert len(os.listdir(tmp_path)) == 2  # the partial directory was removed


# ---- bit flips ---------------------------------------------------------------------------
def json_byte_classes(text: str, base: int = 0) -> dict[str, list[int]]:
    """Positions (+ ``base``) of each class of byte in a JSON text: object keys, string
    values, numbers, and structure (punctuation, whitespace, literals)."""
    out: dict[str, list[int]] = {"key": [], "string": [], "number": [], "structure": []}
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            j = i + 1
            while text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            k = j + 1
            while k < n and text[k] in " \t\r\n":
                k += 1
            out["key" if k < n and text[k] == ":" else "string"] += range(base + i, base + j + 1)
            i = j + 1
        elif c in "-0123456789":
            j = i
            while j < n and text[j] in "+-0123456789.eE":
                j += 1
            out["number"] += range(base + i, base + j)
            i = j
        else:
            out["structure"].append(base + i)
            i += 1
    return out


def safetensors_byte_classes(data: bytes) -> dict[str, list[int]]:
    """Byte classes of a safetensors header: the length prefix, the header JSON's classes,
    and (prefixed "meta ") those of the chainrule JSON escaped inside its metadata string."""
    (n,) = struct.unpack("<Q", data[:8])
    header = data[8: 8 + n].decode()
    out = {"length": list(range(8)), **json_byte_classes(header, 8)}
    marker = '"chainrule":"'
    if marker in header:
        start = header.index(marker) + len(marker)
        inner, where, p = [], [], start
        while header[p] != '"':  # unescape, remembering where each character came from
            step = 2 if header[p] == "\\" else 1
            inner.append(header[p + step - 1])
            where.append(list(range(8 + p, 8 + p + step)))
            p += step
        for cls, positions in json_byte_classes("".join(inner)).items():
            out[f"meta {cls}"] = [q for i in positions for q in where[i]]
    return out


def _flips(classes: dict[str, list[int]], per_class: int, rng: np.random.Generator
           ) -> list[tuple[str, int, int]]:
    """(class, byte position, bit) for ``per_class`` sampled positions of every class."""
    out = []
    for cls, positions in classes.items():
        assert positions, f"no byte of class {cls!r}: the classifier is broken"
        picks = rng.choice(positions, size=min(per_class, len(positions)), replace=False)
        out += [(cls, int(p), int(rng.integers(8))) for p in picks]
    return out


def _flipped(data: bytes, pos: int, bit: int) -> bytes:
    b = bytearray(data)
    b[pos] ^= 1 << bit
    return bytes(b)


def test_bit_flips_in_checkpoint_metadata_never_load_altered_state(tmp_path) -> None:
    t = _trainer()
    t.train_loader = _loader()
    t.fit(t.train_loader, epochs=1)
    last = str(tmp_path / "last")
    t.save_checkpoint(last)
    reference = _fingerprint(_loaded(last))
    rng = np.random.default_rng(1234)
    tally: dict[str, list[int]] = {}
    for fname in ("manifest.json", "trainer_state.json", "model.safetensors",
                  "optimizer.safetensors"):
        file = os.path.join(last, fname)
        with open(file, "rb") as f:
            good = f.read()
        classes = (safetensors_byte_classes(good) if fname.endswith(".safetensors")
                   else json_byte_classes(good.decode()))
        for cls, pos, bit in _flips(classes, 6, rng):
            with open(file, "wb") as f:
                f.write(_flipped(good, pos, bit))
            try:
                got = _fingerprint(_loaded(last))
            except CheckpointError:
                outcome = 0
            else:
                assert got == reference, f"{fname} {cls} byte {pos} bit {bit}: altered state"
                outcome = 1
            tally.setdefault(f"{fname} {cls}", [0, 0])[outcome] += 1
        with open(file, "wb") as f:
            f.write(good)
    # every class was exercised, and every flip outside the manifest was caught
    assert len(tally) == 2 * 4 + 2 * (1 + 4 + 4)
    assert all(ok == 0 for name, (_, ok) in tally.items() if not name.startswith("manifest"))


def test_bit_flips_in_a_saved_file_never_load_altered_values(tmp_path) -> None:
    w = cr.randn(3, 2, generator=cr.Generator().manual_seed(0))
    opt = optim.AdamW([cr.zeros(3, requires_grad=True)], lr=1e-3, weight_decay=0.0)
    obj = {"state": {0: {"step": cr.tensor(3.0), "exp_avg": w}},
           "param_groups": opt.state_dict()["param_groups"], "note": "wd", "n": [1, 2.5, None]}
    buf = io.BytesIO()
    cr.save(obj, buf, metadata={"author": "test"})
    good = buf.getvalue()
    reference = ser._serialize(cr.load(io.BytesIO(good)), {"author": "test"})
    rng = np.random.default_rng(99)
    caught = 0
    flips = _flips(safetensors_byte_classes(good), 12, rng)
    assert len({c for c, _, _ in flips}) == 9  # length, 4 header classes, 4 metadata classes
    for cls, pos, bit in flips:
        try:
            back = cr.load(io.BytesIO(_flipped(good, pos, bit)))
        except CheckpointError:
            caught += 1
            continue
        meta = json.loads(_flipped(good, pos, bit)[8: 8 + struct.unpack("<Q", good[:8])[0]])
        user = {k: v for k, v in meta["__metadata__"].items() if k != "chainrule"}
        assert ser._serialize(back, user) == reference, f"{cls} byte {pos} bit {bit}"
    assert caught >= len(flips) - 2  # almost every flip changes content, so must be caught


def test_format_2_digest_covers_the_structure_json(tmp_path) -> None:
    # the reported case: weight_decay 0 -> 8 by one flipped bit ('0' ^ 0x08 == '8')
    path = tmp_path / "opt.safetensors"
    cr.save({"param_groups": [{"lr": 0.1, "weight_decay": 0}]}, path)
    data = path.read_bytes()
    i = data.index(b'weight_decay\\",0') + len(b'weight_decay\\",')
    path.write_bytes(_flipped(data, i, 3))
    with pytest.raises(CheckpointError, match="SHA-256 mismatch"):
        cr.load(path)


def test_missing_and_unlisted_files_are_corruption(tmp_path) -> None:
    t = _trainer()
    last = str(tmp_path / "last")
    t.save_checkpoint(last)
    opt_file = os.path.join(last, "optimizer.safetensors")
    os.rename(opt_file, opt_file + ".bak")
    with pytest.raises(CheckpointError, match="optimizer.safetensors: listed in manifest.json "
                                              "but missing"):
        _loaded(last)
    os.rename(opt_file + ".bak", opt_file)
    with open(os.path.join(last, "extra.bin"), "wb") as f:
        f.write(b"?")
    with pytest.raises(CheckpointError, match=r"not listed in manifest.json: \['extra.bin'\]"):
        _loaded(last)
    with pytest.raises(CheckpointError, match="does not exist"):
        _loaded(str(tmp_path / "lats"))


def test_corrupt_checkpoint_leaves_the_model_untouched(tmp_path) -> None:
    t = _trainer()
    last = str(tmp_path / "last")
    t.save_checkpoint(last)
    state = os.path.join(last, "trainer_state.json")
    with open(state, "rb") as f:
        data = f.read()
    with open(state, "wb") as f:
        f.write(data.replace(b'"epoch": 0', b'"epoch": 9'))
    victim = _trainer(seed=5)
    before = _fingerprint(victim)
    with pytest.raises(CheckpointError, match="trainer_state.json: SHA-256"):
        victim.load_checkpoint(last)
    assert _fingerprint(victim) == before


def test_trainer_state_shape_is_validated_with_named_errors() -> None:
    good = _trainer().state()
    checkpoint.validate_trainer_state(good, "s.json")
    for key, value, message in [("epoch", "3", "'epoch' is a str"),
                                ("global_step", -1, "'global_step' is negative"),
                                ("history", [1], "'history' must be a list of objects"),
                                ("epoch_loss", [0.0], "'epoch_loss' must be")]:
        bad = dict(good, **{key: value})
        with pytest.raises(CheckpointError, match=f"s.json: key {message}"):
            checkpoint.validate_trainer_state(bad, "s.json")
    with pytest.raises(CheckpointError, match="key 'config' is missing"):
        checkpoint.validate_trainer_state({k: v for k, v in good.items() if k != "config"}, "s")


def test_guarantees_page_snippets_run(tmp_path, monkeypatch, capsys) -> None:
    import re
    from pathlib import Path

    page = Path(__file__).resolve().parents[2] / "docs" / "guarantees.md"
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.S)
    assert blocks
    monkeypatch.chdir(tmp_path)
    env: dict = {}
    for i, block in enumerate(blocks):
        exec(compile(block, f"{page}:block{i}", "exec"), env)  # noqa: S102 - the docs' code
    out = capsys.readouterr().out
    assert "['manifest.json', 'model.safetensors', 'optimizer.safetensors', " \
           "'trainer_state.json']" in out
    assert "refused: SHA-256 does not match manifest.json" in out


def test_format_1_directory_is_refused_then_replaced_by_a_save(tmp_path) -> None:
    old = tmp_path / "last"
    old.mkdir()
    (old / "trainer_state.json").write_text('{"format_version": 1, "epoch": 3}')
    (old / "model.safetensors").write_bytes(b"")
    with pytest.raises(CheckpointError, match="format-1 checkpoint .no manifest. cannot be "
                                              "verified"):
        _loaded(str(old))
    t = _trainer()
    t.save_checkpoint(str(old))
    assert os.path.islink(old) and _loaded(str(old)).epoch == 0
    t.save_checkpoint(str(old))  # the moved-aside format-1 directory is cleaned up
    assert len(os.listdir(tmp_path)) == 2
