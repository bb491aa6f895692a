"""MNIST-1D, generated locally by the ``mnist1d`` package and cached as ``.npz``.

The data is made with ``mnist1d.data.make_dataset(get_dataset_args())`` (never its
``get_dataset``, which downloads): 5,000 one-dimensional signals of length 40, 10 classes,
split 4,000 train / 1,000 test. Generation takes about 1.5 s (plus ~2 s to import the package
and matplotlib) on one core; the arrays are then cached under
``cache_dir()/mnist1d-<hash>.npz`` (``$CHAINRULE_CACHE`` overrides the directory), so later
loads take milliseconds. ``mnist1d`` seeds NumPy's and Python's *global* random state; the
generator saves and restores both so the caller's random streams are untouched.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.datasets.files import cache_dir, load_npz, save_npz
from chainrule.tensor import Tensor, _wrap
from chainrule.utils.data.dataset import Dataset, take_rows

__all__ = ["MNIST1D", "load_mnist1d", "mnist1d_arrays"]

_KEYS = ("x", "y", "x_test", "y_test", "t")


def _args(**overrides: Any) -> Any:
    from mnist1d.data import get_dataset_args

    args = get_dataset_args(as_dict=True)
    unknown = set(overrides) - set(args)
    if unknown:
        raise TypeError(f"unknown MNIST-1D argument(s) {sorted(unknown)}; known: {sorted(args)}")
    args.update(overrides)
    return args


def _generate(args: dict[str, Any]) -> dict[str, np.ndarray]:
    from mnist1d.data import make_dataset
    from mnist1d.utils import ObjectView

    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        data = make_dataset(ObjectView(dict(args)))
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    return {k: np.asarray(data[k]) for k in _KEYS}


def _cache_path(args: dict[str, Any], directory: Path | None) -> Path:
    from importlib.metadata import version

    key = {k: v for k, v in args.items() if k != "url"}
    key["mnist1d_version"] = version("mnist1d")
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return (directory or cache_dir()) / f"mnist1d-{digest}.npz"


def mnist1d_arrays(cache: bool = True, cache_directory: str | Path | None = None,
                   **args: Any) -> dict[str, np.ndarray]:
    """The raw MNIST-1D arrays ``x, y, x_test, y_test, t`` (float64 signals, int64 labels).

    Keyword arguments override ``mnist1d``'s defaults (``num_samples=5000``,
    ``train_split=0.8``, ``final_seq_length=40``, ``shuffle_seq=False``, ``seed=42``...).

    Example::

        d = mnist1d_arrays()
        d["x"].shape        # (4000, 40)
    """
    full = _args(**args)
    path = _cache_path(full, Path(cache_directory) if cache_directory else None)
    if cache and path.exists():
        try:
            data = load_npz(path)
            if all(k in data for k in _KEYS):
                return data
        except ValueError:
            pass  # a damaged cache file is regenerated below
    data = _generate(full)
    if cache:
        save_npz(path, **data)
    return data


class MNIST1D(Dataset):
    """The MNIST-1D train or test split as an array-backed dataset of (signal, label).

    Signals are float32 (``dtype``) of shape (40,), or (1, 40) with ``channel_dim=True``
    for ``Conv1d``; labels are int64. ``shuffle_seq=True`` permutes the time steps (the
    same permutation for every signal), which destroys locality.

    Example::

        train = MNIST1D(train=True)
        loader = DataLoader(train, batch_size=100, shuffle=True)
    """

    classes = [str(i) for i in range(10)]

    def __init__(self, train: bool = True, shuffle_seq: bool = False, dtype: Any = np.float32,
                 channel_dim: bool = False, cache: bool = True,
                 cache_directory: str | Path | None = None, **args: Any) -> None:
        d = mnist1d_arrays(cache=cache, cache_directory=cache_directory,
                           shuffle_seq=shuffle_seq, **args)
        x, y = (d["x"], d["y"]) if train else (d["x_test"], d["y_test"])
        x = x.astype(dtype)
        if channel_dim:
            x = x[:, None, :]
        self.train = train
        self.data: Tensor = _wrap(np.ascontiguousarray(x))
        self.targets: Tensor = _wrap(y.astype(np.int64))
        self.t = d["t"]

    def __len__(self) -> int:
        return int(self.targets.shape[0])

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        return self.data[index], int(self.targets._array[index])

    def get_batch(self, indices: Any) -> list[Tensor]:
        idx = np.asarray(indices, dtype=np.int64)
        return [take_rows(self.data, idx), take_rows(self.targets, idx)]


def load_mnist1d(**kwargs: Any) -> tuple[MNIST1D, MNIST1D]:
    """``(train, test)`` MNIST-1D datasets (4,000 / 1,000 by default)."""
    return MNIST1D(train=True, **kwargs), MNIST1D(train=False, **kwargs)
