"""Trainer checkpoints: one directory per checkpoint, committed by switching one pointer.

Layout of a checkpoint root (``runs/<run>/checkpoints``)::

    last -> last.ckpt-5e0c9a7b31d2f4a8     (a symbolic link: the commit point)
    last.ckpt-5e0c9a7b31d2f4a8/
        manifest.json                      (SHA-256 and size of every file, self-hashed)
        model.safetensors
        optimizer.safetensors
        trainer_state.json                 (epoch, step, loader, generators, callbacks, ...)
    best -> best.ckpt-91c3...

**Saving** writes every file of the new checkpoint into a fresh directory, fsyncs each file,
the directory and the root, then switches the pointer in one atomic step (a new symbolic link
``os.replace``'d over the old one; a rename is atomic on POSIX file systems) and fsyncs the
root again. Only then is the previous checkpoint directory removed. A process killed (or a
disk that fills up) at any moment therefore leaves ``last`` pointing at either the old or the
new checkpoint, both complete. Directories no pointer refers to (an interrupted save) and
``.*.tmp`` entries are removed at the start of the next save (:func:`clean_stale`).

**Loading** (:func:`load_checkpoint`, :func:`read_state`) verifies before it uses anything:
``manifest.json`` carries a SHA-256 of its own canonical content, and for every file its size
and the SHA-256 of its bytes (safetensors headers and ``trainer_state.json`` included). A
missing, extra, truncated or altered file, a malformed manifest or a trainer state of the
wrong shape raises :class:`~chainrule.serialization.CheckpointError` naming the file and the
problem; a corrupt checkpoint is reported, never loaded. Nothing is pickled.

``--resume runs/<run>/checkpoints/last`` names the pointer, which the OS resolves to the
committed directory.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import math
import os
import re
import secrets
import shutil
import threading
from collections.abc import Callable
from typing import Any

from chainrule import serialization as _ser
from chainrule.random import Generator, default_generator
from chainrule.serialization import CheckpointError, load, save, sha256_bytes

FORMAT_VERSION = 2
MANIFEST_FORMAT = "chainrule-checkpoint"
MANIFEST_FILE = "manifest.json"
MODEL_FILE = "model.safetensors"
OPTIMIZER_FILE = "optimizer.safetensors"
STATE_FILE = "trainer_state.json"
_KNOWN_FILES = (MODEL_FILE, OPTIMIZER_FILE, STATE_FILE)
# <name>.ckpt-<writer pid>-<token>; names without the pid come from older versions
_DATA_DIR = re.compile(r"^.+\.ckpt-(?:(\d+)-)?[0-9a-f]{16}$")
_LINK_TMP = re.compile(r"^\..+\.link-(?:(\d+)-)?[0-9a-f]{16}\.tmp$")
# directories and links this process is writing now: another thread's clean_stale must not
# take them for leftovers of an interrupted save
_IN_PROGRESS: set[str] = set()
_IN_PROGRESS_LOCK = threading.RLock()
_HINT = "the checkpoint is corrupted or from an interrupted save; use another checkpoint"


# ---- saving ----------------------------------------------------------------------------------
def _blob(obj: Any) -> bytes:
    buf = io.BytesIO()
    save(obj, buf)
    return buf.getvalue()


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=True).encode()


def _manifest_digest(body: dict[str, Any]) -> str:
    """SHA-256 of the manifest's canonical JSON without its ``sha256`` entry."""
    return sha256_bytes(b"chainrule-checkpoint-manifest\n" + _canonical(body))


def _manifest(files: dict[str, bytes]) -> bytes:
    body: dict[str, Any] = {
        "format": MANIFEST_FORMAT, "version": FORMAT_VERSION,
        "files": {name: {"size": len(data), "sha256": sha256_bytes(data)}
                  for name, data in files.items()},
    }
    body["sha256"] = _manifest_digest(body)
    return (json.dumps(body, indent=1) + "\n").encode()


def _write_file(path: str, data: bytes) -> None:
    """Create ``path`` (it must not exist), write ``data`` and fsync it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    with os.fdopen(fd, "wb") as f:
        _ser._write_all(f, data)  # looked up on the module so tests can make it fail
        f.flush()
        os.fsync(f.fileno())


def _pointed_to(root: str, entries: list[str]) -> set[str]:
    """Directories the committed pointers in ``root`` refer to (a ``.tmp`` link is not one)."""
    return {os.readlink(os.path.join(root, e)) for e in entries
            if not e.endswith(".tmp") and os.path.islink(os.path.join(root, e))}


def _writer_gone(match: re.Match[str] | None, full: str) -> bool:
    """Whether the save that made ``full`` has ended: its writer pid (in the name) no longer
    runs, or is this process and no thread of it is writing ``full`` (an older name has no
    pid: its writer is gone)."""
    pid = match.group(1) if match is not None else None
    if pid is None:
        return True
    if int(pid) == os.getpid():
        with _IN_PROGRESS_LOCK:
            return full not in _IN_PROGRESS
    return not _ser._pid_alive(int(pid))


def clean_stale(root: str) -> list[str]:
    """Remove what interrupted saves left in ``root``: checkpoint directories that no pointer
    refers to and ``.*.tmp`` entries, unless a save still running (another thread, another
    live process) is writing them. Other files are never touched. Returns what was removed.
    """
    # under the lock: a save of this process commits (its pointer then refers to its directory)
    # before it leaves _IN_PROGRESS, so the scan sees every directory as in progress or as
    # referenced, never as an orphan in between
    with _IN_PROGRESS_LOCK:
        return _clean_stale(root)


def _clean_stale(root: str) -> list[str]:
    try:
        entries = os.listdir(root)
    except FileNotFoundError:
        return []
    referenced = _pointed_to(root, entries)
    removed = []
    for e in entries:
        full = os.path.join(root, e)
        stray_tmp = (e.startswith(".") and e.endswith(".tmp")
                     and _writer_gone(_LINK_TMP.match(e), full))
        data = _DATA_DIR.match(e)
        orphan = (data is not None and e not in referenced and not os.path.islink(full)
                  and os.path.isdir(full) and _writer_gone(data, full))
        if not (stray_tmp or orphan):
            continue
        if os.path.isdir(full) and not os.path.islink(full):
            shutil.rmtree(full, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                os.unlink(full)
        removed.append(e)
    return removed


def save_checkpoint(path: str, model: Any, optimizer: Any, state: dict[str, Any]) -> str:
    """Write a checkpoint and commit it under the pointer ``path``; returns ``path``.

    ``path``'s parent is the checkpoint root; the files go to a new sibling directory, and
    ``path`` becomes a symbolic link to it once every byte is on disk (see the module
    docstring). Raises ``OSError`` (e.g. ENOSPC) with the previous checkpoint left intact.
    """
    pointer = os.path.abspath(os.fspath(path))
    root, name = os.path.split(pointer)
    if not name:
        raise ValueError(f"save_checkpoint: {path!r} does not name a checkpoint")
    _refuse_foreign_directory(pointer)
    try:
        os.makedirs(root, exist_ok=True)
    except OSError as e:
        raise _ser.io_error(e, pointer) from e
    clean_stale(root)
    files = {MODEL_FILE: _blob(model.state_dict())}
    if optimizer is not None:
        files[OPTIMIZER_FILE] = _blob(optimizer.state_dict())
    record = dict(state)
    record["format_version"] = FORMAT_VERSION
    files[STATE_FILE] = json.dumps(record, indent=1, allow_nan=True,
                                   default=_json_default).encode()
    token = secrets.token_hex(8)  # OS entropy: no global RNG state is consumed
    data_name = f"{name}.ckpt-{os.getpid()}-{token}"
    data_dir = os.path.join(root, data_name)
    link_tmp = os.path.join(root, f".{name}.link-{os.getpid()}-{token}.tmp")
    with _IN_PROGRESS_LOCK:
        _IN_PROGRESS.update((data_dir, link_tmp))
    try:
        os.mkdir(data_dir)
        for fname, data in files.items():
            _write_file(os.path.join(data_dir, fname), data)
        _write_file(os.path.join(data_dir, MANIFEST_FILE), _manifest(files))
        _ser._fsync_dir(data_dir)
        _ser._fsync_dir(root)
        old = _current_target(pointer, root, token)
        os.symlink(data_name, link_tmp)
        os.replace(link_tmp, pointer)  # the commit point
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(link_tmp)
        if not (os.path.islink(pointer) and os.readlink(pointer) == data_name):
            shutil.rmtree(data_dir, ignore_errors=True)
        if isinstance(e, OSError):  # name the checkpoint and say 'no space' in words
            raise _ser.io_error(e, pointer) from e
        raise
    finally:
        with _IN_PROGRESS_LOCK:
            _IN_PROGRESS.difference_update((data_dir, link_tmp))
    _ser._fsync_dir(root)
    stale = old is not None and old != data_name
    if stale and old not in _pointed_to(root, os.listdir(root)):
        shutil.rmtree(os.path.join(root, old), ignore_errors=True)
    return os.fspath(path)


def _refuse_foreign_directory(pointer: str) -> None:
    """A real directory at the pointer is moved aside and later deleted (format-1 checkpoints
    are upgraded so); refuse unless it is empty or a checkpoint, so user data is never lost."""
    if not os.path.isdir(pointer) or os.path.islink(pointer):
        return
    entries = os.listdir(pointer)
    if entries and STATE_FILE not in entries:
        raise IsADirectoryError(errno.EISDIR, f"cannot save a checkpoint at {pointer}: it is a "
                                f"directory that is not a checkpoint ({len(entries)} entries, "
                                f"no {STATE_FILE}), and saving would replace it; give a new "
                                f"name such as {pointer}/last")


def _current_target(pointer: str, root: str, token: str) -> str | None:
    """The directory ``pointer`` refers to now (None if none); a real directory in its place
    (format 1) is moved aside, to be removed by :func:`clean_stale`."""
    if os.path.islink(pointer):
        target = os.readlink(pointer)
        return target if os.path.basename(target) == target and _DATA_DIR.match(target) else None
    if os.path.isdir(pointer):
        os.rename(pointer, os.path.join(root, f".{os.path.basename(pointer)}.old-{token}.tmp"))
    return None


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"trainer state: {type(obj).__name__} is not JSON-serialisable ({obj!r})")


# ---- verifying -------------------------------------------------------------------------------
def _is_hex64(v: Any) -> bool:
    return isinstance(v, str) and re.fullmatch(r"[0-9a-f]{64}", v) is not None


def _check_manifest(data: bytes, file: str) -> dict[str, dict[str, Any]]:
    """Parse ``manifest.json``, check its own SHA-256 and its structure; returns its files."""
    try:
        manifest = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(file, f"invalid JSON ({e}); {_HINT}") from e
    if not isinstance(manifest, dict) or not _is_hex64(manifest.get("sha256")):
        raise CheckpointError(file, f"no valid 'sha256' entry; {_HINT}")
    body = {k: v for k, v in manifest.items() if k != "sha256"}
    if _manifest_digest(body) != manifest["sha256"]:
        raise CheckpointError(file, f"SHA-256 of the manifest does not match its content; {_HINT}")
    if body.get("format") != MANIFEST_FORMAT:
        raise CheckpointError(file, f"format {body.get('format')!r} is not {MANIFEST_FORMAT!r}")
    if body.get("version") != FORMAT_VERSION:
        raise CheckpointError(file, f"checkpoint format version {body.get('version')!r}; this "
                                    f"chainrule reads version {FORMAT_VERSION}")
    files = body.get("files")
    if not isinstance(files, dict):
        raise CheckpointError(file, "'files' is not a JSON object")
    for name, entry in files.items():
        if name not in _KNOWN_FILES:
            raise CheckpointError(file, f"lists an unknown file {name!r}")
        if (not isinstance(entry, dict) or type(entry.get("size")) is not int
                or entry["size"] < 0 or not _is_hex64(entry.get("sha256"))):
            raise CheckpointError(file, f"entry of {name!r} needs a 'size' and a 'sha256'")
    for name in (MODEL_FILE, STATE_FILE):
        if name not in files:
            raise CheckpointError(file, f"does not list {name!r}; {_HINT}")
    return files


def verified_files(path: str) -> dict[str, bytes]:
    """Read a checkpoint (a pointer or its directory) and check every byte against its
    manifest; returns ``{file name: bytes}``. Raises :class:`CheckpointError` otherwise."""
    path = os.fspath(path)
    if os.path.islink(path) and not os.path.exists(path):
        raise CheckpointError(path, f"points to {os.readlink(path)!r}, which does not exist")
    if not os.path.exists(path):
        raise CheckpointError(path, "no checkpoint here: the path does not exist")
    if not os.path.isdir(path):
        raise CheckpointError(path, "not a checkpoint directory")
    # resolve the pointer once: every file then comes from one checkpoint even if a writer
    # commits a new one while this reads
    path = os.path.realpath(path)
    manifest_file = os.path.join(path, MANIFEST_FILE)
    if not os.path.isfile(manifest_file):
        if os.path.isfile(os.path.join(path, STATE_FILE)):
            raise CheckpointError(manifest_file, "missing: a format-1 checkpoint (no manifest) "
                                  "cannot be verified; retrain or re-save it with this version")
        raise CheckpointError(manifest_file, "missing: not a chainrule checkpoint directory")
    with open(manifest_file, "rb") as f:
        files = _check_manifest(f.read(), manifest_file)
    out = {}
    for name, entry in files.items():
        file = os.path.join(path, name)
        if not os.path.isfile(file):
            raise CheckpointError(file, f"listed in {MANIFEST_FILE} but missing; {_HINT}")
        with open(file, "rb") as f:
            data = f.read()
        if len(data) != entry["size"]:
            raise CheckpointError(file, f"{len(data)} bytes, {MANIFEST_FILE} says "
                                        f"{entry['size']} (truncated?); {_HINT}")
        if sha256_bytes(data) != entry["sha256"]:
            raise CheckpointError(file, f"SHA-256 does not match {MANIFEST_FILE}; {_HINT}")
        out[name] = data
    extra = sorted(set(os.listdir(path)) - set(files) - {MANIFEST_FILE})
    if extra:
        raise CheckpointError(path, f"files not listed in {MANIFEST_FILE}: {extra}; {_HINT}")
    return out


def _parse_state(data: bytes, file: str) -> dict[str, Any]:
    try:
        state = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(file, f"invalid JSON ({e}); {_HINT}") from e
    if not isinstance(state, dict):
        raise CheckpointError(file, "not a JSON object")
    if state.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(file, f"format version {state.get('format_version')!r}, this "
                                    f"chainrule reads {FORMAT_VERSION}")
    return state


def read_state(path: str) -> dict[str, Any]:
    """Verify the checkpoint at ``path`` and return its ``trainer_state.json``."""
    files = verified_files(path)
    return _parse_state(files[STATE_FILE], os.path.join(path, STATE_FILE))


def _load_blob(file: str, data: bytes) -> Any:
    buf = io.BytesIO(data)
    buf.name = file  # CheckpointErrors raised by load() name the file
    return load(buf)


def load_checkpoint(path: str, model: Any, optimizer: Any = None, *,
                    check_state: Callable[[dict[str, Any], str], None] | None = None
                    ) -> dict[str, Any]:
    """Verify and load a checkpoint into ``model`` (and ``optimizer``); returns the state.

    Everything is verified (and the state checked by ``check_state(state, file)``, e.g.
    :func:`validate_trainer_state`) before anything is loaded, so a corrupt checkpoint leaves
    ``model`` and ``optimizer`` untouched. The files are read once.
    """
    files = verified_files(path)
    state = _parse_state(files[STATE_FILE], os.path.join(path, STATE_FILE))
    if check_state is not None:
        check_state(state, os.path.join(path, STATE_FILE))
    model_sd = _load_blob(os.path.join(path, MODEL_FILE), files[MODEL_FILE])
    opt_sd = None
    if optimizer is not None:
        if OPTIMIZER_FILE not in files:
            raise CheckpointError(os.path.join(path, OPTIMIZER_FILE),
                                  "this checkpoint holds no optimizer state; load it with "
                                  "optimizer=None to restore the model only")
        opt_sd = _load_blob(os.path.join(path, OPTIMIZER_FILE), files[OPTIMIZER_FILE])
    model.load_state_dict(model_sd)
    if opt_sd is not None:
        optimizer.load_state_dict(opt_sd)
    return state


_TRAINER_STATE: dict[str, tuple[type, ...]] = {
    "epoch": (int,), "global_step": (int,), "epoch_loss": (list,), "metrics": (list,),
    "history": (list,), "callbacks": (list,), "loader": (dict, type(None)),
    "generators": (dict,), "config": (dict,), "wall_time": (int, float),
}


def validate_trainer_state(state: dict[str, Any], file: str) -> None:
    """Raise :class:`CheckpointError` naming the key unless ``state`` has the shape that
    ``Trainer.state()`` writes."""
    for key, types in _TRAINER_STATE.items():
        if key not in state:
            raise CheckpointError(file, f"key {key!r} is missing")
        v = state[key]
        if not isinstance(v, types) or isinstance(v, bool):
            raise CheckpointError(file, f"key {key!r} is a {type(v).__name__}, expected "
                                        f"{' or '.join(t.__name__ for t in types)}")
    for key in ("epoch", "global_step"):
        if state[key] < 0:
            raise CheckpointError(file, f"key {key!r} is negative ({state[key]})")
    loss = state["epoch_loss"]
    if (len(loss) != 2 or not isinstance(loss[0], (int, float)) or type(loss[1]) is not int
            or loss[1] < 0):
        raise CheckpointError(file, f"key 'epoch_loss' must be [sum, count], got {loss!r}")
    if not all(isinstance(e, dict) for e in state["history"]):
        raise CheckpointError(file, "key 'history' must be a list of objects")
    if not math.isfinite(state["wall_time"]):
        raise CheckpointError(file, f"key 'wall_time' is {state['wall_time']}")


# ---- random generators -----------------------------------------------------------------------
def _module_generators(model: Any) -> dict[str, Generator]:
    """Every chainrule Generator held by a module of ``model`` (dropout layers' masks)."""
    out: dict[str, Generator] = {}
    if model is None or not hasattr(model, "named_modules"):
        return out
    for prefix, m in model.named_modules():
        for attr, v in vars(m).items():
            if isinstance(v, Generator):
                out[f"{prefix}.{attr}" if prefix else attr] = v
    return out


def generator_states(model: Any) -> dict[str, Any]:
    """States of the default generator and of every generator inside ``model``."""
    states = {"default": default_generator.get_state()}
    for name, g in _module_generators(model).items():
        states[f"module:{name}"] = g.get_state()
    return states


def set_generator_states(model: Any, states: dict[str, Any]) -> None:
    """Restore what :func:`generator_states` saved (unknown names are an error)."""
    gens = _module_generators(model)
    for name, st in states.items():
        if name == "default":
            default_generator.set_state(st)
        elif name.startswith("module:") and name[7:] in gens:
            gens[name[7:]].set_state(st)
        else:
            raise CheckpointError(STATE_FILE, f"generator {name!r} is not in this model")
