"""Bundled data (MNIST-1D, scikit-learn tables), synthetic tasks and file formats."""

from __future__ import annotations

import gzip
import random

import numpy as np
import pytest

from chainrule.datasets import files, mnist1d, synthetic, tabular
from chainrule.datasets.checks import DataError
from chainrule.utils.data import DataLoader


@pytest.fixture()
def cache(tmp_path, monkeypatch):  # noqa: ANN001, ANN201
    monkeypatch.setenv("CHAINRULE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


# ---- files ---------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["u1", "i1", "i2", "i4", "f4", "f8"])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_round_trip(tmp_path, dtype: str, suffix: str) -> None:  # noqa: ANN001
    a = (np.arange(2 * 3 * 4) - 5).reshape(2, 3, 4).astype(dtype)
    path = tmp_path / f"a-idx3{suffix}"
    files.write_idx(path, a)
    assert files.is_gzip(path) == (suffix == ".gz")
    b = files.read_idx(path)
    assert b.dtype == np.dtype(dtype).newbyteorder("=") and b.shape == a.shape
    np.testing.assert_array_equal(a, b)


def test_idx_reads_mnist_layout_by_hand(tmp_path) -> None:  # noqa: ANN001
    raw = bytes([0, 0, 8, 1]) + (3).to_bytes(4, "big") + bytes([7, 8, 9])
    (tmp_path / "labels").write_bytes(gzip.compress(raw))
    assert files.read_idx(tmp_path / "labels").tolist() == [7, 8, 9]


def test_idx_errors(tmp_path) -> None:  # noqa: ANN001
    files.write_idx(tmp_path / "x", np.zeros((4, 5), np.uint8))
    data = (tmp_path / "x").read_bytes()
    (tmp_path / "short").write_bytes(data[:-3])
    with pytest.raises(ValueError, match=r"short: IDX header says shape \(4, 5\).*17 bytes"):
        files.read_idx(tmp_path / "short")
    (tmp_path / "bad").write_bytes(b"\x01\x02\x08\x01rest")
    with pytest.raises(ValueError, match="not an IDX file"):
        files.read_idx(tmp_path / "bad")
    (tmp_path / "trunc.gz").write_bytes(gzip.compress(data)[:-10])
    with pytest.raises(ValueError, match="truncated or corrupted"):
        files.read_idx(tmp_path / "trunc.gz")


def test_csv_round_trip_header_target_and_gzip(tmp_path) -> None:  # noqa: ANN001
    X = np.array([[1.5, 2.0], [3.0, 4.25], [5.0, 6.0]])
    y = np.array([0, 2, 1])
    for name in ("t.csv", "t.csv.gz"):
        files.write_csv(tmp_path / name, X, y, header=["a", "b", "label"])
        out = files.read_csv(tmp_path / name, target="label", num_classes=3)
        np.testing.assert_allclose(out.X, X)
        assert out.y.dtype == np.int64 and out.y.tolist() == [0, 2, 1]
        assert out.feature_names == ["a", "b"] and out.target_name == "label"
    files.write_csv(tmp_path / "n.csv", X)
    plain = files.read_csv(tmp_path / "n.csv", target=0)
    assert plain.feature_names is None and plain.y.dtype == np.float32  # non-integer target


def test_csv_bad_values_name_line_column_and_feature(tmp_path) -> None:  # noqa: ANN001
    (tmp_path / "d.csv").write_text("age,income,label\n30,100,0\n40,nan,1\n")
    with pytest.raises(DataError, match=r"d.csv, line 3, file column 2: .*row 1, column 1 "
                                        r"\('income'\): nan"):
        files.read_csv(tmp_path / "d.csv", target="label")
    (tmp_path / "l.csv").write_text("1,2,0\n3,4,7\n")
    with pytest.raises(DataError, match=r"line 2.*label at row 1 is 7, outside the 3 classes"):
        files.read_csv(tmp_path / "l.csv", target=-1, num_classes=3)
    (tmp_path / "s.csv").write_text("1,2\n3,x\n")
    with pytest.raises(ValueError, match=r"s.csv: could not convert string 'x'"):
        files.read_csv(tmp_path / "s.csv", header=False)


def test_npz_round_trip_and_corruption(tmp_path) -> None:  # noqa: ANN001
    files.save_npz(tmp_path / "a.npz", x=np.arange(5), y=np.ones((2, 2), np.float32))
    d = files.load_npz(tmp_path / "a.npz")
    assert d["x"].tolist() == [0, 1, 2, 3, 4] and d["y"].dtype == np.float32
    (tmp_path / "b.npz").write_bytes((tmp_path / "a.npz").read_bytes()[:40])
    with pytest.raises(ValueError, match="b.npz: not a readable .npz"):
        files.load_npz(tmp_path / "b.npz")


def test_cache_dir_env(cache) -> None:  # noqa: ANN001
    assert files.cache_dir() == cache and cache.is_dir()


# ---- MNIST-1D ------------------------------------------------------------------------------
def test_mnist1d_small_generation_cache_and_rng_hygiene(cache, monkeypatch) -> None:  # noqa: ANN001
    # The caller's global random streams must survive mnist1d's set_seed.
    np_state, py_state = np.random.get_state(), random.getstate()
    before_np, before_py = np.random.random(), random.random()
    np.random.set_state(np_state)
    random.setstate(py_state)
    d = mnist1d.mnist1d_arrays(num_samples=200)
    assert np.random.random() == before_np and random.random() == before_py
    assert d["x"].shape == (160, 40) and d["x_test"].shape == (40, 40)
    assert set(np.unique(d["y"])) <= set(range(10))
    assert len(list(cache.glob("mnist1d-*.npz"))) == 1

    def boom(args):  # noqa: ANN001, ANN202
        raise AssertionError("regenerated instead of reading the cache")

    monkeypatch.setattr(mnist1d, "_generate", boom)
    again = mnist1d.mnist1d_arrays(num_samples=200)
    np.testing.assert_array_equal(again["x"], d["x"])


def test_mnist1d_default_split_shapes_and_loader(cache) -> None:  # noqa: ANN001
    train, test = mnist1d.load_mnist1d()
    assert len(train) == 4000 and len(test) == 1000
    assert train.data.shape == (4000, 40) and train.data.dtype == np.float32
    assert train.targets.dtype == np.int64
    x, y = next(iter(DataLoader(train, batch_size=64)))
    assert x.shape == (64, 40) and y.shape == (64,)
    shuffled = mnist1d.MNIST1D(train=True, shuffle_seq=True, channel_dim=True)
    assert shuffled.data.shape == (4000, 1, 40)
    assert not np.allclose(shuffled.data.numpy()[:, 0], train.data.numpy())
    np.testing.assert_array_equal(shuffled.targets.numpy(), train.targets.numpy())
    with pytest.raises(TypeError, match="unknown MNIST-1D argument"):
        mnist1d.mnist1d_arrays(num_sample=3)


# ---- scikit-learn tables -------------------------------------------------------------------
@pytest.mark.parametrize("name, shape, k", [("digits", (1797, 64), 10),
                                            ("breast_cancer", (569, 30), 2),
                                            ("iris", (150, 4), 3), ("wine", (178, 13), 3)])
def test_tabular_loaders(name: str, shape: tuple[int, int], k: int) -> None:
    d = tabular.load_tabular(name)
    assert d.X.shape == shape and d.X.dtype == np.float32 and d.y.dtype == np.int64
    assert d.num_classes == k and len(d.feature_names) == shape[1]


def test_digits_images_and_split() -> None:
    d = tabular.load_digits(images=True)
    assert d.X.shape == (1797, 1, 8, 8) and d.X.max() <= 1.0
    import chainrule as cr

    tr, te = tabular.to_datasets(tabular.load_iris(), [0.8, 0.2],
                                 generator=cr.Generator().manual_seed(0), standardize=True)
    assert len(tr) == 120 and len(te) == 30
    assert np.bincount(te.tensors[1].numpy()).tolist() == [10, 10, 10]
    np.testing.assert_allclose(tr.tensors[0].numpy().mean(0), 0, atol=1e-5)
    with pytest.raises(KeyError, match="unknown table"):
        tabular.load_tabular("titanic")


# ---- synthetic -----------------------------------------------------------------------------
@pytest.mark.parametrize("fn", [synthetic.spirals, synthetic.moons, synthetic.circles,
                                synthetic.xor])
def test_synthetic_classification_seeded(fn) -> None:  # noqa: ANN001
    X, y = fn(101, seed=3)
    X2, y2 = fn(101, seed=3)
    X3, _ = fn(101, seed=4)
    assert X.shape == (101, 2) and X.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    assert not np.array_equal(X, X3)
    counts = np.bincount(y)
    assert counts.max() - counts.min() <= 1


def test_synthetic_geometry() -> None:
    X, y = synthetic.xor(8, noise=0.0)
    np.testing.assert_array_equal(y, (X[:, 0] * X[:, 1] < 0).astype(np.int64))
    X, y = synthetic.circles(200, noise=0.0, factor=0.3)
    r = np.linalg.norm(X, axis=1)
    np.testing.assert_allclose(r[y == 0], 1.0, atol=1e-6)
    np.testing.assert_allclose(r[y == 1], 0.3, atol=1e-6)
    X, y = synthetic.spirals(300, n_classes=3, noise=0.0)
    assert set(np.unique(y)) == {0, 1, 2} and np.linalg.norm(X, axis=1).max() <= 1.0 + 1e-6
    X, y = synthetic.sine_regression(4000, noise=0.1, seed=0)
    assert X.shape == (4000, 1) and y.shape == (4000, 1)
    assert abs(np.std(y - np.sin(X)) - 0.1) < 0.01
