"""``chainrule.save`` / ``chainrule.load``: state dicts as safetensors plus JSON, never pickle.

File format (one ``.safetensors`` file, whatever its name):

* every Tensor / NumPy array of the object is a safetensors tensor (C-contiguous,
  little-endian). In a flat state dict the tensor names are the state-dict keys, so the file
  loads in PyTorch with ``safetensors.torch.load_file`` and ``model.load_state_dict``; nested
  objects (optimizer state) name tensors by their dotted path (``state.0.exp_avg``);
* the non-tensor structure (dicts with their key types, lists, tuples, Python numbers, strings,
  None) is JSON stored in the safetensors header metadata under the key ``"chainrule"``, with a
  format version and a SHA-256 that covers the whole content (format 2): the structure JSON,
  every other metadata entry, and each tensor's name, dtype, shape and bytes, in name order.
  Every bit of the file is therefore checked on load: a flip in the tensor bytes, in the
  safetensors header (names, dtypes, shapes, offsets) or in the structure JSON (keys, numbers,
  strings, punctuation) either leaves the decoded content identical or raises
  :class:`CheckpointError`. The metadata lives inside the file (no sidecar) so a checkpoint is
  always one file, replaced in one atomic step. Format-1 files (digest of the tensors only)
  still load.
* what ``torch.save`` also keeps is recorded in the structure: one Tensor reached twice (tied
  weights) loads as one object, tensors that shared memory (views, ``detach()``) load as views
  of one new buffer, and a Parameter loads as a Parameter. Each tensor is still stored whole
  under its own name, so the flat-state-dict property above holds.

A safetensors file written by another tool (no ``"chainrule"`` metadata) loads as an ordered
dict of name -> Tensor.

Writes are atomic: the bytes go to a temporary file in the same directory, which is flushed,
fsync'ed and then ``os.replace``'d over the target; a crash at any point leaves the previous
file intact. Reading a truncated or corrupted file raises :class:`CheckpointError` naming the
file and the problem.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import math
import os
import struct
import tempfile
from collections import OrderedDict
from pathlib import Path
from typing import IO, Any

import numpy as np

from chainrule.tensor import Tensor, _wrap

__all__ = [
    "CheckpointError",
    "save",
    "safe_globals",
    "add_safe_globals",
    "get_safe_globals",
    "clear_safe_globals",
    "load",
    "atomic_write",
    "write_json",
    "read_json",
    "sha256_bytes",
    "sha256_file",
    "verify_sha256",
    "FORMAT_VERSION",
]

FORMAT_VERSION = 2
META_KEY = "chainrule"
# what a chainrule header value starts with: a renamed META_KEY (a flipped bit) is still ours
_SIGNATURE = '{"format":"chainrule"'
_HINT = "the file is truncated or corrupted; load the previous checkpoint"

PathLike = str | os.PathLike


class CheckpointError(RuntimeError):
    """A checkpoint file cannot be read: truncated, corrupted, or not a chainrule file."""

    def __init__(self, path: Any, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


# ---- hashing -------------------------------------------------------------------------------
def sha256_bytes(data: bytes | bytearray | memoryview) -> str:
    """Hex SHA-256 of a bytes-like object."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: PathLike, chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks (constant memory)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk_size):
            h.update(block)
    return h.hexdigest()


def verify_sha256(path: PathLike, expected: str) -> None:
    """Raise :class:`CheckpointError` unless ``path``'s SHA-256 is ``expected``."""
    got = sha256_file(path)
    if got.lower() != expected.lower():
        raise CheckpointError(path, f"SHA-256 mismatch: expected {expected}, got {got}; {_HINT}")


# ---- atomic writes -------------------------------------------------------------------------
def _write_all(f: IO[bytes], data: bytes) -> None:
    """Write ``data`` to the open temporary file (a separate function so tests can crash it)."""
    f.write(data)


def _fsync_dir(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot fsync a directory; the rename is still atomic
    finally:
        os.close(fd)


def _tmp_prefix(target: str) -> str:
    """Temporary files of ``target`` are ``.<name>.<pid>.<random>.tmp``: the writer's pid lets a
    later save tell a leftover of a killed process from a save still running elsewhere."""
    return f".{os.path.basename(target)}."


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists but is someone else's (or unknowable): keep its file
    return True


def remove_stale_temps(target: PathLike) -> list[str]:
    """Remove the temporary files that writers of ``target`` killed mid-save left behind
    (their pid no longer runs); a temp file of a live process is kept. Returns the names."""
    target = os.fspath(target)
    directory = os.path.dirname(os.path.abspath(target))
    prefix = _tmp_prefix(target)
    removed = []
    try:
        entries = os.listdir(directory)
    except OSError:
        return removed
    for e in entries:
        if not (e.startswith(prefix) and e.endswith(".tmp")):
            continue
        pid = e[len(prefix):-4].split(".", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(directory, e))
                removed.append(e)
    return removed


def io_error(e: OSError, path: str, action: str = "write") -> OSError:
    """``e`` again (same class and errno), its message naming ``path`` and, for a full disk,
    saying so in words ('no space left') and that the previous file was kept."""
    why = e.strerror or str(e)
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        why = f"no space left on the device ({why})"
    elif e.errno == errno.EFBIG:
        why = f"no space for a file this large ({why}: the size limit was reached)"
    msg = f"cannot {action} {path}: {why}"
    if action == "write":
        msg += "; the previous file (if any) is left intact"
    return type(e)(e.errno, msg) if e.errno is not None else type(e)(msg)


def _check_target(target: str) -> None:
    if os.path.isdir(target):
        raise IsADirectoryError(errno.EISDIR, f"cannot write {target}: it is a directory; "
                                "give the path of a file inside it", target)


def atomic_write(path: PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: temp file in the same dir, fsync, ``os.replace``,
    fsync of the directory (the one commit point is the rename).

    Readers see either the old file or the complete new one, never a partial write. An
    ``OSError`` (no space, read-only directory, ``path`` a directory) names ``path`` and
    leaves the previous file intact; temp files of writers killed earlier are removed first.
    """
    target = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(target))
    _check_target(target)
    try:
        os.makedirs(directory, exist_ok=True)
        remove_stale_temps(target)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f"{_tmp_prefix(target)}{os.getpid()}.",
                                   suffix=".tmp")
    except OSError as e:
        raise io_error(e, target) from e
    try:
        mask = os.umask(0)
        os.umask(mask)
        os.fchmod(fd, 0o666 & ~mask)
        with os.fdopen(fd, "wb") as f:
            _write_all(f, data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise io_error(e, target) from e
        raise
    _fsync_dir(directory)


def write_json(path: PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    atomic_write(path, (json.dumps(obj, indent=2, allow_nan=False) + "\n").encode())


def read_json(path: PathLike) -> Any:
    """Read a JSON file; a truncated or invalid one raises :class:`CheckpointError`."""
    try:
        return json.loads(Path(path).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(path, f"invalid JSON ({e}); {_HINT}") from e


# ---- encoding the structure ----------------------------------------------------------------
def _owner(arr: np.ndarray) -> np.ndarray:
    """The array that owns ``arr``'s memory (``arr`` itself when it is not a view)."""
    while isinstance(arr.base, np.ndarray):
        arr = arr.base
    return arr


def _address(arr: np.ndarray) -> int:
    return arr.__array_interface__["data"][0]


class _Encoder:
    """Turn a nested object into (JSON tree, {name: array}) with path-derived tensor names.

    Each tensor is stored whole under its own name (so a flat state dict stays a plain
    safetensors file whose names are its keys). What PyTorch's format also keeps is recorded
    beside it in the tree: ``"ref"`` numbers each distinct Tensor object, so one tensor reached
    twice (tied weights) loads as one object; ``"s"`` = [storage, byte offset, byte strides]
    marks tensors that share memory (a tensor and its views, ``x`` and ``x.detach()``), so they
    load as views of one new buffer and an in-place change to one shows in the others."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}
        self.refs: dict[int, tuple[int, Any, dict[str, Any]]] = {}  # id(Tensor) -> ref, obj, node
        # id(owner) -> [owner, {id(obj): (obj, array, node)}] for every saved tensor/array
        self.storages: dict[int, list[Any]] = {}

    def name_for(self, path: list[str]) -> str:
        base = ".".join(path) if path else "tensor"
        name, k = base, 1
        while name in self.arrays:
            name, k = f"{base}#{k}", k + 1
        return name

    def add(self, arr: np.ndarray, path: list[str], where: str) -> str:
        if arr.dtype.kind in "OUSV":
            raise TypeError(f"chainrule.save: {where} is an array of dtype {arr.dtype}, "
                            "which cannot be stored as a tensor")
        if not arr.flags.c_contiguous:  # (np.ascontiguousarray would turn 0-d into 1-d)
            arr = arr.copy(order="C")
        if arr.dtype.byteorder == ">":
            arr = arr.astype(arr.dtype.newbyteorder("<"))
        name = self.name_for(path)
        self.arrays[name] = arr
        return name

    def encode(self, obj: Any, path: list[str], where: str) -> Any:
        if isinstance(obj, Tensor):
            seen = self.refs.get(id(obj))
            if seen is not None:  # the same Tensor again: one object on load
                node = dict(seen[2])
                node["T"] = self.add(obj._array, path, where)
                return node
            node = {"T": self.add(obj._array, path, where), "ref": len(self.refs)}
            if obj.requires_grad:
                node["rg"] = True
            if type(obj).__name__ == "Parameter":
                node["P"] = True
            self.refs[id(obj)] = (node["ref"], obj, node)
            self._note_storage(obj, obj._array, node)
            return node
        if isinstance(obj, np.ndarray):
            node = {"A": self.add(obj, path, where)}
            self._note_storage(obj, obj, node)
            return node
        if obj is None or isinstance(obj, (bool, int, str)):
            return obj
        if isinstance(obj, float):
            return obj if math.isfinite(obj) else {"F": repr(obj)}
        if isinstance(obj, complex):
            return {"C": [self.encode(obj.real, path, where), self.encode(obj.imag, path, where)]}
        if isinstance(obj, np.generic):
            return {"S": obj.dtype.str, "v": self.encode(obj.item(), path, where)}
        if isinstance(obj, np.dtype):
            return {"dtype": obj.str}
        if isinstance(obj, dict):
            items = [[self.encode(k, path, f"{where} key"),
                      self.encode(v, path + [str(k)], f"{where}[{k!r}]")] for k, v in obj.items()]
            node = {"D": items}
            if isinstance(obj, OrderedDict):
                node["O"] = True
            return node
        if isinstance(obj, list):
            return {"L": [self.encode(v, path + [str(i)], f"{where}[{i}]")
                          for i, v in enumerate(obj)]}
        if isinstance(obj, tuple):
            return {"U": [self.encode(v, path + [str(i)], f"{where}[{i}]")
                          for i, v in enumerate(obj)]}
        _refuse_stateful(obj, where)
        if type(obj).__module__.split(".")[0] == "torch":
            raise TypeError(f"chainrule.save: {where} is a PyTorch {type(obj).__name__}, not a "
                            "chainrule one; convert it first (chainrule.from_numpy("
                            "t.detach().cpu().numpy()) for a tensor)")
        raise TypeError(
            f"chainrule.save: {where} is a {type(obj).__name__}; only tensors, arrays, numbers, "
            "strings, None and dicts/lists/tuples of them can be saved (chainrule never pickles)"
        )

    def _note_storage(self, obj: Any, arr: np.ndarray, node: dict[str, Any]) -> None:
        owner = _owner(arr)
        group = self.storages.setdefault(id(owner), [owner, {}])
        group[1].setdefault(id(obj), []).append((arr, node))

    def mark_shared(self) -> None:
        """Give every tensor whose memory another saved tensor shares its ``"s"`` entry."""
        sid = 0
        for owner, members in self.storages.values():
            if len(members) < 2:  # one object (possibly reached twice): nothing shared
                continue
            base = _address(owner)
            for entries in members.values():
                for arr, node in entries:
                    node["s"] = [sid, _address(arr) - base, list(arr.strides)]
            sid += 1


def _refuse_stateful(obj: Any, where: str) -> None:
    """A whole module or optimizer would need pickling (code, not data): say what to save
    instead, as the error a PyTorch user meets on ``torch.save(model, path)``."""
    kind = ("module" if callable(getattr(obj, "named_parameters", None))
            else "optimizer" if callable(getattr(obj, "zero_grad", None)) else None)
    if kind is None or not callable(getattr(obj, "state_dict", None)):
        return
    name = type(obj).__name__
    raise TypeError(
        f"chainrule.save: {where} is a whole {kind} ({name}). chainrule never pickles objects "
        f"(a pickle runs code when it is loaded), so save its state instead: "
        f"torch.save({kind}.state_dict(), path), then rebuild the {kind} and call "
        f"{kind}.load_state_dict(torch.load(path))")


class safe_globals:
    """``torch.serialization.safe_globals(globals)``, accepted for compatibility.

    PyTorch's unpickler with ``weights_only=True`` only rebuilds the globals listed here.
    chainrule's files are safetensors plus JSON and loading never unpickles, so there is
    nothing to allow: the list is recorded (``get_safe_globals``) and otherwise unused.

    Example::

        with chainrule.serialization.safe_globals([dict]):
            pass
    """

    def __init__(self, safe_globals: list[Any]) -> None:
        self.globals = list(safe_globals)

    def __enter__(self) -> safe_globals:
        _SAFE_GLOBALS.extend(self.globals)
        return self

    def __exit__(self, *exc: Any) -> None:
        for g in self.globals:
            _SAFE_GLOBALS.remove(g)


_SAFE_GLOBALS: list[Any] = []


def add_safe_globals(safe_globals: list[Any]) -> None:
    """As ``torch.serialization.add_safe_globals``: recorded, never needed (no unpickling)."""
    _SAFE_GLOBALS.extend(safe_globals)


def get_safe_globals() -> list[Any]:
    """The globals recorded by :func:`add_safe_globals` and open :class:`safe_globals`."""
    return list(_SAFE_GLOBALS)


def clear_safe_globals() -> None:
    """Forget the recorded globals."""
    _SAFE_GLOBALS.clear()


def _shared_nodes(node: Any, found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every tensor/array node of the tree that carries a shared-storage entry ``"s"``."""
    if isinstance(node, dict):
        if "s" in node and ("T" in node or "A" in node):
            found.append(node)
        for v in node.values():
            _shared_nodes(v, found)
    elif isinstance(node, list):
        for v in node:
            _shared_nodes(v, found)
    return found


def _extent(shape: tuple[int, ...], strides: list[int], offset: int, itemsize: int
            ) -> tuple[int, int]:
    """The byte range [lo, hi) a view with this geometry touches (empty views touch none)."""
    if 0 in shape:
        return offset, offset
    lo = offset + sum(min(0, (n - 1) * s) for n, s in zip(shape, strides))
    hi = offset + sum(max(0, (n - 1) * s) for n, s in zip(shape, strides)) + itemsize
    return lo, hi


class _Decoder:
    """Rebuilds the saved object: shared-memory groups as views of one fresh buffer each,
    and one Tensor per saved ``"ref"``."""

    def __init__(self, tree: Any, arrays: dict[str, np.ndarray], path: str) -> None:
        self.arrays, self.path = arrays, path
        self.tensors: dict[int, Tensor] = {}
        self.views: dict[int, np.ndarray] = {}  # id(node) -> its view of the shared buffer
        groups: dict[int, list[tuple[dict[str, Any], np.ndarray]]] = {}
        for node in _shared_nodes(tree, []):
            sid, _, _ = node["s"]
            groups.setdefault(int(sid), []).append(
                (node, _array(arrays, node["T"] if "T" in node else node["A"], path)))
        for members in groups.values():
            self._rebuild(members)

    def _rebuild(self, members: list[tuple[dict[str, Any], np.ndarray]]) -> None:
        ranges = []
        for node, a in members:
            _, offset, strides = node["s"]
            if len(strides) != a.ndim or int(offset) < 0:
                raise CheckpointError(self.path, f"malformed shared-storage entry {node['s']}")
            ranges.append(_extent(a.shape, [int(s) for s in strides], int(offset), a.itemsize))
        if any(lo < 0 for lo, _ in ranges):
            raise CheckpointError(self.path, "a shared-storage view starts before its buffer")
        buffer = np.zeros(max(hi for _, hi in ranges) if ranges else 0, dtype=np.uint8)
        for node, a in members:
            _, offset, strides = node["s"]
            view = np.ndarray(a.shape, a.dtype, buffer=buffer, offset=int(offset),
                              strides=tuple(int(s) for s in strides))
            view[...] = a  # overlapping members came from the same memory: same bytes
            self.views[id(node)] = view

    def array(self, node: dict[str, Any], key: str) -> np.ndarray:
        view = self.views.get(id(node))
        return view if view is not None else _array(self.arrays, node[key], self.path)

    def tensor(self, node: dict[str, Any]) -> Tensor:
        ref = node.get("ref")
        if ref is not None and ref in self.tensors:
            return self.tensors[ref]
        a = self.array(node, "T")
        if node.get("P"):
            from chainrule.nn.parameter import Parameter

            t: Tensor = Parameter(_wrap(a), requires_grad=bool(node.get("rg")))
        else:
            t = _wrap(a)
            if node.get("rg"):
                t.requires_grad_(True)
        if ref is not None:
            self.tensors[ref] = t
        return t

    def decode(self, node: Any) -> Any:
        return _decode(node, self)


def _decode(node: Any, dec: _Decoder) -> Any:
    path = dec.path
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    if isinstance(node, list):
        raise CheckpointError(path, "malformed structure metadata (bare list)")
    if "T" in node:
        return dec.tensor(node)
    if "A" in node:
        return dec.array(node, "A")
    if "F" in node:
        return float(node["F"])
    if "C" in node:
        re_, im = (_decode(v, dec) for v in node["C"])
        return complex(re_, im)
    if "S" in node:
        return np.dtype(node["S"]).type(_decode(node["v"], dec))
    if "dtype" in node:
        return np.dtype(node["dtype"])
    if "D" in node:
        pairs = [(_key(_decode(k, dec)), _decode(v, dec))
                 for k, v in node["D"]]
        return OrderedDict(pairs) if node.get("O") else dict(pairs)
    if "L" in node:
        return [_decode(v, dec) for v in node["L"]]
    if "U" in node:
        return tuple(_decode(v, dec) for v in node["U"])
    raise CheckpointError(path, f"malformed structure metadata (unknown node {sorted(node)})")


def _key(k: Any) -> Any:
    return tuple(k) if isinstance(k, list) else k


def _array(arrays: dict[str, np.ndarray], name: str, path: str) -> np.ndarray:
    try:
        return arrays[name]
    except KeyError:
        raise CheckpointError(path, f"tensor {name!r} named in the metadata is missing; "
                              f"{_HINT}") from None


def _digest(arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 over names, dtypes, shapes and bytes of all tensors, in name order."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = arrays[name]
        a = a if a.flags.c_contiguous else a.copy(order="C")
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.reshape(-1).view(np.uint8))
    return h.hexdigest()


def _canonical(obj: Any) -> bytes:
    """One byte string per JSON value: sorted keys, no spaces (what the digest hashes)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=True).encode()


def _full_digest(body: dict[str, Any], user_meta: dict[str, str],
                 arrays: dict[str, np.ndarray]) -> str:
    """Format-2 SHA-256: the structure JSON (every key but ``sha256``), the other metadata
    entries and the tensors' names, dtypes, shapes and bytes."""
    h = hashlib.sha256(b"chainrule-2\n")
    h.update(_canonical(body) + b"\n")
    h.update(_canonical(user_meta) + b"\n")
    h.update(_digest(arrays).encode())
    return h.hexdigest()


# ---- save / load ---------------------------------------------------------------------------
def _serialize(obj: Any, metadata: dict[str, str] | None) -> bytes:
    from safetensors.numpy import save as st_save

    enc = _Encoder()
    tree = enc.encode(obj, [], "object")
    enc.mark_shared()
    meta = {str(k): str(v) for k, v in (metadata or {}).items()}
    if META_KEY in meta:
        raise ValueError(f"metadata key {META_KEY!r} is reserved")
    body = {"format": "chainrule", "version": FORMAT_VERSION, "tree": tree}
    body["sha256"] = _full_digest(body, meta, enc.arrays)
    meta[META_KEY] = json.dumps(body, separators=(",", ":"), allow_nan=False)
    try:
        return st_save(enc.arrays, metadata=meta)
    except Exception as e:
        raise TypeError(f"chainrule.save: safetensors cannot store these tensors: {e}") from e


def save(obj: Any, f: PathLike | IO[bytes], pickle_module: Any = None,
         pickle_protocol: int | None = None, _use_new_zipfile_serialization: bool = True,
         *, metadata: dict[str, str] | None = None) -> None:
    """Save a tensor, a state dict or a nested dict/list of tensors and Python scalars.

    ``f`` is a path (written atomically) or a binary file object. ``metadata`` adds string
    entries to the safetensors header. The pickle arguments are accepted for PyTorch
    compatibility and ignored: nothing is ever pickled.

    Example::

        chainrule.save(model.state_dict(), "model.safetensors")
        model.load_state_dict(chainrule.load("model.safetensors"))
    """
    data = _serialize(obj, metadata)
    if hasattr(f, "write"):
        f.write(data)  # type: ignore[union-attr]
        return
    atomic_write(f, data)  # type: ignore[arg-type]


def _parse(data: bytes, path: str) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    from safetensors.numpy import load as st_load

    if len(data) < 9 or data[8:9] != b"{":  # a safetensors header is a JSON object
        foreign = _foreign_format(data)
        if foreign is not None:
            raise CheckpointError(path, foreign)
    if len(data) < 8:
        raise CheckpointError(path, f"only {len(data)} bytes, too short for a safetensors "
                              f"header; {_HINT}")
    (n,) = struct.unpack("<Q", data[:8])
    if 8 + n > len(data):
        what = ("header" if data[8:9] == b"{" else "header (the file does not look like a "
                "safetensors/chainrule checkpoint at all)")
        raise CheckpointError(path, f"{what} claims {n} bytes but the file has {len(data)}; "
                              f"{_HINT}")
    try:
        arrays = st_load(bytes(data))
        header = json.loads(data[8: 8 + n])
    except Exception as e:  # SafetensorError, JSON or UTF-8 errors
        raise CheckpointError(path, f"not a readable safetensors file ({e}); {_HINT}") from e
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise CheckpointError(path, f"the safetensors metadata is not a JSON object; {_HINT}")
    return arrays, meta


_REFUSED_PICKLE = (
    "chainrule never unpickles (loading a pickle can run arbitrary code); in PyTorch, convert "
    "it once with safetensors.torch.save_file(torch.load(path, weights_only=True), new_path) "
    "and load new_path")


def _foreign_format(data: bytes) -> str | None:
    """A sentence naming the format of a file that is recognisably not safetensors."""
    if data[:4] == b"PK\x03\x04":
        if b"data.pkl" in data[:4096] or b"/data/" in data[:4096]:
            return ("this is a PyTorch pickle checkpoint (the zip format of torch.save), not a "
                    "chainrule/safetensors file; " + _REFUSED_PICKLE)
        return "this is a zip archive, not a chainrule/safetensors checkpoint"
    if len(data) >= 2 and data[0] == 0x80 and 2 <= data[1] <= 5:
        return ("this is a Python pickle (PyTorch's legacy torch.save format or pickle.dump), "
                "not a chainrule/safetensors file; " + _REFUSED_PICKLE)
    if data[:6] == b"\x93NUMPY":
        return "this is a NumPy .npy file; load it with numpy.load, not chainrule.load"
    return None


def load(f: PathLike | IO[bytes], map_location: Any = None, pickle_module: Any = None, *,
         weights_only: bool | None = None, mmap: bool | None = None, **kwargs: Any) -> Any:
    """Load what :func:`save` wrote (or any safetensors file, as a dict of Tensors).

    ``map_location`` may name the CPU (the only device); ``weights_only`` is accepted for
    PyTorch compatibility (loading never runs code, so it is always "weights only").

    Example::

        state = chainrule.load("model.safetensors")
    """
    if isinstance(map_location, str) or map_location.__class__.__name__ == "device":
        from chainrule._device import data_device

        data_device(map_location)  # raises for a device chainrule does not have
    if hasattr(f, "read"):
        path = getattr(f, "name", "<file object>")
        data = f.read()  # type: ignore[union-attr]
    else:
        path = os.fspath(f)  # type: ignore[arg-type]
        if os.path.isdir(path):
            raise IsADirectoryError(errno.EISDIR, f"cannot load {path}: it is a directory, not "
                                    "a checkpoint file (a Trainer checkpoint directory is read "
                                    "by chainrule.train.checkpoint.load_checkpoint)")
        data = Path(path).read_bytes()
    arrays, meta = _parse(data, str(path))
    if META_KEY not in meta:
        if any(isinstance(v, str) and v.startswith(_SIGNATURE) for v in meta.values()):
            raise CheckpointError(path, f"chainrule metadata under a key other than "
                                  f"{META_KEY!r}; {_HINT}")
        return OrderedDict((k, _wrap(v)) for k, v in arrays.items())
    info = _verified_info(meta, arrays, str(path))
    try:
        return _Decoder(info["tree"], arrays, str(path)).decode(info["tree"])
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
        raise CheckpointError(path, f"malformed structure metadata ({type(e).__name__}: {e}); "
                              f"{_HINT}") from e


def _verified_info(meta: dict[str, Any], arrays: dict[str, np.ndarray], path: str
                   ) -> dict[str, Any]:
    """The parsed ``"chainrule"`` metadata after checking its format and SHA-256."""
    try:
        info = json.loads(meta[META_KEY])
    except (json.JSONDecodeError, TypeError) as e:
        raise CheckpointError(path, f"invalid chainrule metadata ({e}); {_HINT}") from e
    if not isinstance(info, dict) or info.get("format") != "chainrule" or "tree" not in info:
        raise CheckpointError(path, f"metadata is not chainrule's format; {_HINT}")
    version, expected = info.get("version"), info.get("sha256")
    if type(version) is not int or version < 1:
        raise CheckpointError(path, f"format version {version!r} is not valid; {_HINT}")
    if version > FORMAT_VERSION:
        raise CheckpointError(path, f"written by a newer chainrule (format version "
                              f"{version} > {FORMAT_VERSION}); upgrade chainrule")
    if not isinstance(expected, str):
        raise CheckpointError(path, f"the SHA-256 entry is missing; {_HINT}")
    if version == 1:  # format 1 hashed the tensors only
        got = _digest(arrays)
    else:
        body = {k: v for k, v in info.items() if k != "sha256"}
        got = _full_digest(body, {k: v for k, v in meta.items() if k != META_KEY}, arrays)
    if got != expected:
        raise CheckpointError(path, f"SHA-256 mismatch (expected {expected}, got {got}): "
                              f"the header or the tensor data changed; {_HINT}")
    return info
