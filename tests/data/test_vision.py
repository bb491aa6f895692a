"""Vision datasets on small generated files (nothing downloaded) and transforms."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule.datasets import files
from chainrule.serialization import sha256_file
from chainrule.utils.data import DataLoader, default_collate
from chainrule.vision import datasets as vd
from chainrule.vision import transforms as T

RNG = np.random.default_rng(0)


def write_mnist(folder: Path, n: int = 12, gz: bool = True, prefix: str = "train") -> tuple:
    images = RNG.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = RNG.integers(0, 10, size=n).astype(np.uint8)
    sfx = ".gz" if gz else ""
    files.write_idx(folder / f"{prefix}-images-idx3-ubyte{sfx}", images)
    files.write_idx(folder / f"{prefix}-labels-idx1-ubyte{sfx}", labels)
    return images, labels


@pytest.fixture()
def cache(tmp_path, monkeypatch):  # noqa: ANN001, ANN201
    monkeypatch.setenv("CHAINRULE_CACHE", str(tmp_path / "cache"))


# ---- MNIST / FashionMNIST ------------------------------------------------------------------
def test_mnist_reads_gz_and_raw_idx(tmp_path) -> None:  # noqa: ANN001
    images, labels = write_mnist(tmp_path / "MNIST" / "raw")
    t_images, t_labels = write_mnist(tmp_path, n=5, gz=False, prefix="t10k")
    train = vd.MNIST(tmp_path, train=True)
    test = vd.MNIST(tmp_path, train=False)
    assert len(train) == 12 and len(test) == 5
    assert train.data.shape == (12, 28, 28) and train.data.dtype == np.uint8
    assert train.targets.dtype == np.int64
    img, target = train[3]
    np.testing.assert_array_equal(img, images[3])
    assert target == int(labels[3]) and isinstance(target, int)
    np.testing.assert_array_equal(test.data.numpy(), t_images)


def test_mnist_transforms_batch_path_equals_per_sample(tmp_path) -> None:  # noqa: ANN001
    write_mnist(tmp_path)
    tf = T.Compose([T.ToTensor(), T.Normalize((0.1307,), (0.3081,))])
    ds = vd.MNIST(tmp_path, transform=tf)
    img, _ = ds[0]
    assert img.shape == (1, 28, 28) and img.dtype == np.float32
    fast = list(DataLoader(ds, batch_size=5))
    slow = list(DataLoader(ds, batch_size=5, collate_fn=lambda b: default_collate(b)))
    for (xf, yf), (xs, ys) in zip(fast, slow):
        np.testing.assert_allclose(xf.numpy(), xs.numpy(), rtol=1e-6)
        np.testing.assert_array_equal(yf.numpy(), ys.numpy())
    raw = next(iter(DataLoader(vd.MNIST(tmp_path), batch_size=4)))
    assert raw[0].shape == (4, 28, 28) and raw[0].dtype == np.uint8
    lam = vd.MNIST(tmp_path, transform=T.Lambda(lambda a: a.astype(np.float64)))
    assert next(iter(DataLoader(lam, batch_size=3)))[0].dtype == np.float64


def test_missing_files_error_suggests_download(tmp_path) -> None:  # noqa: ANN001
    with pytest.raises(RuntimeError, match="download=True"):
        vd.MNIST(tmp_path)


def serve(tmp_path: Path, names: list[str]) -> tuple[str, dict[str, str]]:
    srv = tmp_path / "server"
    srv.mkdir()
    write_mnist(srv)
    write_mnist(srv, n=4, prefix="t10k")
    return srv.as_uri() + "/", {n: sha256_file(srv / n) for n in names}


NAMES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]


def test_download_from_local_mirror_with_checksum(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    url, sums = serve(tmp_path, NAMES)
    monkeypatch.setattr(vd.MNIST, "mirrors", ["file:///nonexistent/mirror/", url])
    monkeypatch.setattr(vd.MNIST, "resources", sums)
    root = tmp_path / "root"
    ds = vd.MNIST(root, train=True, download=True)
    assert len(ds) == 12
    assert (root / "MNIST" / "raw" / "train-images-idx3-ubyte.gz").is_file()
    assert len(vd.MNIST(root, train=True)) == 12  # found without downloading again


def test_download_checksum_mismatch_and_offline(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    url, sums = serve(tmp_path, NAMES)
    bad = dict(sums, **{"train-images-idx3-ubyte.gz": "0" * 64})
    monkeypatch.setattr(vd.MNIST, "mirrors", [url])
    monkeypatch.setattr(vd.MNIST, "resources", bad)
    root = tmp_path / "root"
    with pytest.raises(RuntimeError, match=r"train-images-idx3-ubyte.gz.*SHA-256 mismatch "
                                           r"\(expected 0{64}, got [0-9a-f]{64}\)"):
        vd.MNIST(root, download=True)
    assert not any((root / "MNIST" / "raw").glob("*images*"))  # nothing half-trusted left
    monkeypatch.setattr(vd.MNIST, "mirrors", ["file:///nonexistent/mirror/"])
    with pytest.raises(RuntimeError, match="are you offline"):
        vd.MNIST(tmp_path / "other", download=True)


def test_fashion_mnist_found_in_system_dir(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    assert vd.FashionMNIST.system_dirs == [Path("/usr/share/datasets/fashion-mnist")]
    system = tmp_path / "usr-share"
    system.mkdir()
    write_mnist(system, n=7)
    monkeypatch.setattr(vd.FashionMNIST, "system_dirs", [system])
    ds = vd.FashionMNIST(tmp_path / "empty-root")
    assert len(ds) == 7 and ds.classes[0] == "T-shirt/top"


@pytest.mark.skipif(not vd.DEBIAN_FASHION_MNIST.is_dir(),
                    reason="Debian's dataset-fashion-mnist is not installed")
def test_fashion_mnist_from_debian_package() -> None:
    ds = vd.FashionMNIST(train=False)
    assert ds.data.shape == (10000, 28, 28)


# ---- CIFAR-10 ------------------------------------------------------------------------------
def write_cifar(folder: Path, per_file: int = 3) -> dict[str, np.ndarray]:
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        labels = RNG.integers(0, 10, size=per_file, dtype=np.uint8)
        chw = RNG.integers(0, 256, size=(per_file, 3, 32, 32), dtype=np.uint8)
        records = np.concatenate([labels[:, None], chw.reshape(per_file, -1)], axis=1)
        (folder / name).write_bytes(records.tobytes())
        out[name] = (labels, chw)
    (folder / "batches.meta.txt").write_text("\n".join(vd.CIFAR10.classes) + "\n\n")
    return out


def test_cifar10_binary_reader(tmp_path) -> None:  # noqa: ANN001
    written = write_cifar(tmp_path / "cifar-10-batches-bin")
    train = vd.CIFAR10(tmp_path, train=True)
    test = vd.CIFAR10(tmp_path, train=False)
    assert train.data.shape == (15, 32, 32, 3) and len(test) == 3
    labels, chw = written["data_batch_2.bin"]
    np.testing.assert_array_equal(train.data[3], chw[0].transpose(1, 2, 0))  # R,G,B planes
    assert train.targets[3] == int(labels[0]) and isinstance(train.targets, list)
    x, y = next(iter(DataLoader(vd.CIFAR10(tmp_path, transform=T.ToTensor()), batch_size=4)))
    assert x.shape == (4, 3, 32, 32) and y.dtype == np.int64
    np.testing.assert_allclose(x.numpy()[3], chw[0] / 255.0, rtol=1e-6)


def test_cifar10_truncated_file(tmp_path) -> None:  # noqa: ANN001
    folder = tmp_path / "cifar-10-batches-bin"
    write_cifar(folder)
    p = folder / "test_batch.bin"
    p.write_bytes(p.read_bytes()[:-100])
    with pytest.raises(ValueError, match=r"test_batch.bin: .*not a whole number of CIFAR-10"):
        vd.CIFAR10(tmp_path, train=False)


def test_cifar10_download_archive(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    src = tmp_path / "src"
    write_cifar(src / "cifar-10-batches-bin", per_file=2)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(src / "cifar-10-batches-bin", arcname="cifar-10-batches-bin")
    archive = tmp_path / "cifar-10-binary.tar.gz"
    archive.write_bytes(buf.getvalue())
    monkeypatch.setattr(vd.CIFAR10, "url", archive.as_uri())
    monkeypatch.setattr(vd.CIFAR10, "tgz_sha256", sha256_file(archive))
    ds = vd.CIFAR10(tmp_path / "root", train=True, download=True)
    assert len(ds) == 10


# ---- MNIST5k -------------------------------------------------------------------------------
def test_mnist5k_from_csv(tmp_path, cache) -> None:  # noqa: ANN001
    images = RNG.integers(0, 256, size=(6, 784))
    labels = np.arange(6) % 10
    rows = "\n".join(",".join(map(str, list(r) + [lab])) for r, lab in zip(images, labels))
    path = tmp_path / "mnist_5k.csv.gz"
    path.write_bytes(gzip.compress(rows.encode()))
    ds = vd.MNIST5k(path=path, transform=T.ToTensor())
    assert len(ds) == 6 and ds.data.shape == (6, 28, 28)
    np.testing.assert_array_equal(ds.data.numpy()[2].reshape(-1), images[2])
    assert ds[2][0].shape == (1, 28, 28) and ds[2][1] == 2
    assert len(vd.MNIST5k(path=path)) == 6  # second time from the .npz cache


# ---- transforms ----------------------------------------------------------------------------
def test_to_tensor_and_normalize() -> None:
    hw = np.full((2, 3), 255, np.uint8)
    assert T.ToTensor()(hw).shape == (1, 2, 3) and T.ToTensor()(hw).numpy().max() == 1.0
    hwc = RNG.integers(0, 256, (2, 3, 3), dtype=np.uint8)
    t = T.ToTensor()(hwc)
    np.testing.assert_allclose(t.numpy(), hwc.transpose(2, 0, 1) / 255, rtol=1e-6)
    n = T.Normalize((0.5, 0.25, 0.0), (0.5, 0.5, 1.0))(t)
    np.testing.assert_allclose(n.numpy()[1], (t.numpy()[1] - 0.25) / 0.5, rtol=1e-6)
    with pytest.raises(ValueError, match="std evaluated to zero"):
        T.Normalize((0.0,), (0.0,))
    with pytest.raises(TypeError, match="float tensor"):
        T.Normalize((0.0,), (1.0,))(cr.zeros(1, 2, 2, dtype=cr.int64))


def windows_of(padded: np.ndarray, crop: np.ndarray) -> list[tuple[int, int]]:
    """Offsets (i, j) where ``crop`` equals a window of ``padded`` (spatial dims last 2)."""
    th, tw = crop.shape[-2:]
    return [(i, j) for i in range(padded.shape[-2] - th + 1)
            for j in range(padded.shape[-1] - tw + 1)
            if np.array_equal(padded[..., i:i + th, j:j + tw], crop)]


def test_random_crop_per_sample_and_batch() -> None:
    img = cr.from_numpy(RNG.random((3, 8, 8)))
    crop = T.RandomCrop(8, padding=2, generator=cr.Generator().manual_seed(0))
    out = crop(img)
    padded = np.pad(img.numpy(), ((0, 0), (2, 2), (2, 2)))
    assert out.shape == (3, 8, 8) and windows_of(padded, out.numpy())
    again = T.RandomCrop(8, padding=2, generator=cr.Generator().manual_seed(0))(img)
    np.testing.assert_array_equal(out.numpy(), again.numpy())
    batch = cr.from_numpy(RNG.random((16, 3, 6, 6)))
    res = T.RandomCrop(4, generator=cr.Generator().manual_seed(1)).batch(batch)
    assert res.shape == (16, 3, 4, 4)
    offsets = set()
    for k in range(16):
        found = windows_of(batch.numpy()[k], res.numpy()[k])
        assert found
        offsets.add(found[0])
    assert len(offsets) > 3  # independent offsets per sample
    hwc = RNG.integers(0, 256, (5, 6, 6, 3), dtype=np.uint8)
    res = T.RandomCrop(4, padding=1, padding_mode="reflect",
                       generator=cr.Generator().manual_seed(2)).batch(hwc)
    assert res.shape == (5, 4, 4, 3)
    padded = np.pad(hwc, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
    for k in range(5):
        assert windows_of(padded[k].transpose(2, 0, 1), res[k].transpose(2, 0, 1))
    with pytest.raises(ValueError, match="larger than"):
        T.RandomCrop(10)(img)
    assert T.RandomCrop(10, pad_if_needed=True)(img).shape == (3, 10, 10)


def test_random_horizontal_flip() -> None:
    img = cr.from_numpy(RNG.random((1, 3, 4)))
    np.testing.assert_array_equal(T.RandomHorizontalFlip(1.0)(img).numpy(),
                                  img.numpy()[..., ::-1])
    assert T.RandomHorizontalFlip(0.0)(img) is img
    arr = RNG.integers(0, 256, (3, 4, 2), dtype=np.uint8)  # HWC array: flip the W axis
    np.testing.assert_array_equal(T.RandomHorizontalFlip(1.0)(arr), arr[:, ::-1])
    batch = RNG.random((400, 1, 2, 5))
    out = T.RandomHorizontalFlip(0.5, generator=cr.Generator().manual_seed(0)).batch(
        cr.from_numpy(batch)).numpy()
    flipped = np.all(out == batch[..., ::-1], axis=(1, 2, 3))
    kept = np.all(out == batch, axis=(1, 2, 3))
    assert np.all(flipped | kept) and 0.4 < flipped.mean() < 0.6


def test_compose_batch_support_flags() -> None:
    assert T.supports_batch(T.Compose([T.ToTensor(), T.RandomCrop(2)]))
    assert not T.supports_batch(T.Compose([T.ToTensor(), T.Lambda(lambda x: x)]))
    with pytest.raises(TypeError, match="callable"):
        T.Lambda(3)
