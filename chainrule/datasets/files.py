"""File formats for data: IDX (MNIST's), CSV and NPZ, and the user cache directory.

IDX: a 4-byte magic (two zero bytes, a type code, the number of dimensions), one big-endian
uint32 per dimension, then the values big-endian in C order. Files may be gzip-compressed;
readers recognise gzip by its magic bytes, not by the file name.
"""

from __future__ import annotations

import gzip
import io
import os
import struct
import zipfile
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from chainrule.serialization import atomic_write

__all__ = [
    "cache_dir",
    "read_idx",
    "write_idx",
    "read_csv",
    "write_csv",
    "CSVData",
    "save_npz",
    "load_npz",
    "is_gzip",
]

_IDX_TYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_IDX_CODES = {np.dtype(v).newbyteorder("="): k for k, v in _IDX_TYPES.items()}


def cache_dir() -> Path:
    """Where generated data sets are cached: ``$CHAINRULE_CACHE``, else
    ``$XDG_CACHE_HOME/chainrule``, else ``~/.cache/chainrule`` (created on demand)."""
    env = os.environ.get("CHAINRULE_CACHE")
    if env:
        path = Path(env).expanduser()
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
        path = Path(base).expanduser() / "chainrule"
    path.mkdir(parents=True, exist_ok=True)
    return path


def is_gzip(path: str | os.PathLike) -> bool:
    """True if the file starts with the gzip magic bytes."""
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


def _read_bytes(path: str | os.PathLike) -> bytes:
    try:
        if is_gzip(path):
            with gzip.open(path, "rb") as f:
                return f.read()
        return Path(path).read_bytes()
    except (OSError, EOFError) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise ValueError(f"{path}: cannot read ({e}); the file is truncated or corrupted") from e


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (gzip-compressed or raw) into an array of native byte order.

    Example::

        images = read_idx("train-images-idx3-ubyte.gz")    # (60000, 28, 28) uint8
    """
    data = _read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(f"{path}: not an IDX file (bad magic number {data[:4].hex()})")
    code, ndim = data[2], data[3]
    if code not in _IDX_TYPES:
        raise ValueError(f"{path}: unknown IDX type code 0x{code:02x}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path}: truncated IDX header ({len(data)} bytes, {ndim} dims)")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = _IDX_TYPES[code]
    count = int(np.prod(dims, dtype=np.int64))
    need = count * dtype.itemsize
    have = len(data) - header
    if have != need:
        raise ValueError(
            f"{path}: IDX header says shape {tuple(dims)} of {dtype.name} ({need} bytes) but "
            f"the file holds {have} bytes of data; it is truncated or corrupted"
        )
    arr = np.frombuffer(data, dtype=dtype, count=count, offset=header)
    return arr.astype(dtype.newbyteorder("="), copy=True).reshape(dims)


def write_idx(path: str | os.PathLike, array: Any, compress: bool | None = None) -> None:
    """Write ``array`` as an IDX file; gzip it when ``compress`` (default: name ends in .gz)."""
    arr = np.asarray(array)
    native = arr.dtype.newbyteorder("=")
    if native not in _IDX_CODES:
        raise TypeError(f"IDX cannot store dtype {arr.dtype} (uint8, int8, int16, int32, "
                        "float32, float64 only)")
    code = _IDX_CODES[native]
    body = np.ascontiguousarray(arr, dtype=_IDX_TYPES[code]).tobytes()
    data = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + body
    if compress is None:
        compress = str(path).endswith(".gz")
    if compress:
        data = gzip.compress(data, mtime=0)
    atomic_write(path, data)


class CSVData(NamedTuple):
    """Columns of a CSV file: features ``X``, target ``y`` (or None) and the column names."""

    X: np.ndarray
    y: np.ndarray | None
    feature_names: list[str] | None
    target_name: str | None


def _open_text(path: str | os.PathLike) -> io.TextIOBase:
    if is_gzip(path):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return open(path, encoding="utf-8")


def _looks_like_header(line: str, delimiter: str) -> bool:
    for field in line.strip().split(delimiter):
        try:
            float(field)
        except ValueError:
            return True
    return False


def read_csv(path: str | os.PathLike, target: int | str | None = None, delimiter: str = ",",
             header: bool | None = None, dtype: Any = np.float32,
             validate: bool = True, num_classes: int | None = None) -> CSVData:
    """Read a numeric CSV file (optionally gzip-compressed) into arrays.

    ``target`` picks the label column (index, negative allowed, or header name); ``header``
    None detects a non-numeric first line. Integer-valued targets become int64. With
    ``validate`` a NaN/Inf value or a label outside ``[0, num_classes)`` raises
    :class:`~chainrule.datasets.checks.DataError` naming the file line, column and value.

    Example::

        X, y, names, _ = read_csv("iris.csv", target="species", num_classes=3)
    """
    with _open_text(path) as f:
        first = f.readline()
        if header is None:
            header = _looks_like_header(first, delimiter)
        names = [c.strip() for c in first.strip().split(delimiter)] if header else None
        rest = f.read() if header else first + f.read()
    try:
        table = np.loadtxt(io.StringIO(rest), delimiter=delimiter, dtype=np.float64, ndmin=2)
    except ValueError as e:
        raise ValueError(f"{path}: {e} (rows counted after the header)") from e
    ncol = table.shape[1]
    tcol = None
    if target is not None:
        if isinstance(target, str):
            if names is None or target not in names:
                raise KeyError(f"{path}: no column named {target!r} (columns: {names})")
            tcol = names.index(target)
        else:
            tcol = target % ncol if -ncol <= target < ncol else None
            if tcol is None:
                raise IndexError(f"{path}: target column {target} out of range ({ncol} columns)")
    keep = [c for c in range(ncol) if c != tcol]
    X = table[:, keep].astype(dtype)
    y = None
    if tcol is not None:
        col = table[:, tcol]
        y = col.astype(np.int64) if np.all(np.isfinite(col)) and np.all(col == np.round(col)) \
            else col.astype(dtype)
    fnames = [names[c] for c in keep] if names else None
    tname = names[tcol] if names and tcol is not None else None
    if validate:
        _validate_csv(path, X, y, num_classes, fnames, keep, 1 if header else 0)
    return CSVData(X, y, fnames, tname)


def _validate_csv(path: Any, X: np.ndarray, y: np.ndarray | None, num_classes: int | None,
                  fnames: list[str] | None, keep: list[int], skip: int) -> None:
    from chainrule.datasets.checks import DataError, validate

    try:
        validate(X, y, num_classes, feature_names=fnames)
    except DataError as e:
        line = e.row + skip + 1 if e.row is not None else None
        col = f", file column {keep[e.column] + 1}" if e.column is not None else ""
        raise DataError(f"{path}, line {line}{col}: {e}", row=e.row, column=e.column,
                        value=e.value) from None


def write_csv(path: str | os.PathLike, X: Any, y: Any = None,
              header: list[str] | None = None, delimiter: str = ",") -> None:
    """Write features (and a last label column) as CSV, atomically; gzip if name ends .gz."""
    X = np.asarray(X)
    cols = [X.reshape(len(X), -1)]
    if y is not None:
        cols.append(np.asarray(y).reshape(len(X), 1))
    table = np.hstack([c.astype(np.float64) for c in cols])
    buf = io.StringIO()
    np.savetxt(buf, table, delimiter=delimiter, fmt="%.17g",
               header=delimiter.join(header) if header else "", comments="")
    text = buf.getvalue() if header else buf.getvalue().lstrip("\n")
    data = text.encode()
    if str(path).endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    atomic_write(path, data)


def save_npz(path: str | os.PathLike, compressed: bool = False, **arrays: Any) -> None:
    """Save named arrays to an ``.npz`` file atomically (no pickled objects allowed)."""
    buf = io.BytesIO()
    clean = {k: np.asarray(v._array if hasattr(v, "grad_fn") else v) for k, v in arrays.items()}
    for k, v in clean.items():
        if v.dtype.kind == "O":
            raise TypeError(f"save_npz: array {k!r} has dtype object, which would need pickle")
    (np.savez_compressed if compressed else np.savez)(buf, **clean)
    atomic_write(path, buf.getvalue())


def load_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Load every array of an ``.npz`` file (never unpickling); a corrupt file raises
    ValueError naming it."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise ValueError(f"{path}: not a readable .npz file ({e}); delete it to regenerate") \
            from e
