"""Trainer checkpoints: a directory with ``model.safetensors``, ``optimizer.safetensors`` and
``trainer_state.json``.

``trainer_state.json`` holds the epoch, step, position in the epoch (the loader's state), the
scheduler and callback states, every random generator's state, the config, the format version
and the SHA-256 of each blob. Each file is written atomically (temp file in the same directory,
fsync, ``os.replace``) and the state file last, so an interrupted save leaves the previous
checkpoint whole: the blobs are replaced only after both are fully on disk, and a mismatch
between a blob and its recorded hash is reported as :class:`CheckpointError`, never loaded.
Nothing is pickled.
"""

from __future__ import annotations

import io
import json
import os
from typing import Any

from chainrule.random import Generator, default_generator
from chainrule.serialization import CheckpointError, atomic_write, load, save, sha256_bytes

FORMAT_VERSION = 1
MODEL_FILE = "model.safetensors"
OPTIMIZER_FILE = "optimizer.safetensors"
STATE_FILE = "trainer_state.json"


def _blob(obj: Any) -> bytes:
    buf = io.BytesIO()
    save(obj, buf)
    return buf.getvalue()


def save_checkpoint(path: str, model: Any, optimizer: Any, state: dict[str, Any]) -> str:
    """Write a checkpoint directory; returns its path."""
    os.makedirs(path, exist_ok=True)
    blobs = {MODEL_FILE: _blob(model.state_dict())}
    if optimizer is not None:
        blobs[OPTIMIZER_FILE] = _blob(optimizer.state_dict())
    record = dict(state)
    record["format_version"] = FORMAT_VERSION
    record["sha256"] = {name: sha256_bytes(data) for name, data in blobs.items()}
    text = json.dumps(record, indent=1, allow_nan=True, default=_json_default)
    for name, data in blobs.items():
        atomic_write(os.path.join(path, name), data)
    atomic_write(os.path.join(path, STATE_FILE), text.encode())
    return path


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"trainer state: {type(obj).__name__} is not JSON-serialisable ({obj!r})")


def read_state(path: str) -> dict[str, Any]:
    """Read and validate ``trainer_state.json`` of a checkpoint directory."""
    file = os.path.join(path, STATE_FILE)
    if not os.path.isfile(file):
        raise CheckpointError(file, "missing: not a chainrule checkpoint directory")
    try:
        with open(file) as f:
            state = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(file, f"invalid JSON ({e}); use the previous checkpoint") from e
    version = state.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(file, f"format version {version!r}, this chainrule reads "
                                    f"{FORMAT_VERSION}")
    return state


def _verified(path: str, name: str, state: dict[str, Any]) -> Any:
    file = os.path.join(path, name)
    expected = state["sha256"].get(name)
    if not os.path.isfile(file):
        raise CheckpointError(file, "missing; use the previous checkpoint")
    with open(file, "rb") as f:
        data = f.read()
    if expected is not None and sha256_bytes(data) != expected:
        raise CheckpointError(
            file, "SHA-256 does not match trainer_state.json (truncated, corrupted or from an "
                  "interrupted save); use the previous checkpoint"
        )
    return load(io.BytesIO(data))


def load_checkpoint(path: str, model: Any, optimizer: Any = None) -> dict[str, Any]:
    """Verify and load a checkpoint into ``model`` (and ``optimizer``); returns the state."""
    state = read_state(path)
    model.load_state_dict(_verified(path, MODEL_FILE, state))
    if optimizer is not None and OPTIMIZER_FILE in state["sha256"]:
        optimizer.load_state_dict(_verified(path, OPTIMIZER_FILE, state))
    return state


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
