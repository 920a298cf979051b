"""IDX reading, the dataset search path, verified downloads, scalers."""

from __future__ import annotations

import gzip
import hashlib
import io

import numpy as np
import pytest

from mlp_core import DataError, MLPError, load_dataset, make_scaler, read_idx
from mlp_core import data as data_mod

from .conftest import MNIST_T10K


def idx_bytes(a: np.ndarray) -> bytes:
    codes = {np.uint8: 0x08, np.int32: 0x0C}
    header = bytes([0, 0, codes[a.dtype.type], a.ndim]) + np.array(a.shape, ">u4").tobytes()
    return header + a.astype(a.dtype.newbyteorder(">")).tobytes()


def write_idx_dataset(folder, n_train=30, n_test=10, compress=True):
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    parts = {"train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
             "train-labels-idx1-ubyte": rng.integers(0, 10, n_train).astype(np.uint8),
             "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
             "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test).astype(np.uint8)}
    for stem, a in parts.items():
        raw = idx_bytes(a)
        (folder / (stem + (".gz" if compress else ""))).write_bytes(gzip.compress(raw) if compress else raw)
    return parts


def test_read_real_mnist_test_split():
    if not MNIST_T10K.exists():
        pytest.skip("MNIST test split not available")
    images = read_idx(MNIST_T10K / "t10k-images-idx3-ubyte.gz")
    labels = read_idx(MNIST_T10K / "t10k-labels-idx1-ubyte.gz")
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,) and set(np.unique(labels)) == set(range(10))
    assert labels[:5].tolist() == [7, 2, 1, 0, 4]  # the well-known first test digits


def test_idx_round_trip_plain_and_gzip(tmp_path):
    a = np.arange(24, dtype=np.int32).reshape(2, 3, 4)
    (tmp_path / "a.idx").write_bytes(idx_bytes(a))
    (tmp_path / "a.idx.gz").write_bytes(gzip.compress(idx_bytes(a)))
    np.testing.assert_array_equal(read_idx(tmp_path / "a.idx"), a)
    np.testing.assert_array_equal(read_idx(tmp_path / "a.idx.gz"), a)


@pytest.mark.parametrize("mangle,message", [
    (lambda raw: raw[:-5], "truncated or corrupt"),
    (lambda raw: raw + b"xx", "truncated or corrupt"),
    (lambda raw: b"\x01\x02" + raw[2:], "bad magic number"),
    (lambda raw: raw[:6], "truncated IDX header"),
])
def test_corrupt_idx_is_a_clear_error(tmp_path, mangle, message):
    (tmp_path / "bad").write_bytes(mangle(idx_bytes(np.zeros((4, 3), np.uint8))))
    with pytest.raises(DataError, match=message):
        read_idx(tmp_path / "bad")


def test_truncated_gzip_is_a_clear_error(tmp_path):
    raw = gzip.compress(idx_bytes(np.zeros((50, 30), np.uint8)))
    (tmp_path / "bad.gz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataError, match="corrupt or truncated gzip"):
        read_idx(tmp_path / "bad.gz")


def test_explicit_dir_then_env_then_keras_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    write_idx_dataset(tmp_path / "keras" / "datasets" / "mnist", n_train=5)
    write_idx_dataset(tmp_path / "env" / "mnist", n_train=6)
    write_idx_dataset(tmp_path / "explicit", n_train=7, compress=False)
    assert load_dataset("mnist", download_ok=False).x_train.shape == (5, 784)
    monkeypatch.setenv("MLP_DATA_DIR", str(tmp_path / "env"))
    assert load_dataset("mnist", download_ok=False).x_train.shape == (6, 784)
    ds = load_dataset("mnist", tmp_path / "explicit", download_ok=False)
    assert ds.x_train.shape == (7, 784) and ds.y_train.dtype == np.int64
    assert ds.x_train.dtype == np.float32 and ds.x_train.max() <= 1.0  # divided by 255
    (x_train, y_train), (x_test, y_test) = ds
    assert x_test.shape == (10, 784) and y_test.shape == (10,)


def test_keras_npz_archive(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "mnist.npz", x_train=rng.integers(0, 256, (4, 28, 28), dtype=np.uint8),
             y_train=np.arange(4, dtype=np.uint8), x_test=np.zeros((2, 28, 28), np.uint8),
             y_test=np.arange(2, dtype=np.uint8))
    ds = load_dataset("mnist", tmp_path, scaler=None, download_ok=False)
    assert ds.x_train.shape == (4, 784) and ds.x_train.max() > 1
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "mnist.npz").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(DataError, match="corrupt or incomplete npz"):
        load_dataset("mnist", tmp_path / "bad", download_ok=False)


def test_nothing_found_offline_names_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))

    def offline(url):
        raise DataError(f"download of {url} failed (network unreachable)")

    monkeypatch.setattr(data_mod, "_fetch", offline)
    with pytest.raises(DataError, match=r"mnist not found \(looked in: .*keras.*\) and download"):
        load_dataset("mnist", tmp_path / "nothing-here")
    assert not (tmp_path / "keras" / "datasets" / "mnist.npz").exists()


def test_download_verifies_checksum_and_keeps_nothing_bad(tmp_path):
    good = io.BytesIO()
    np.savez(good, x_train=np.zeros((1, 2)))
    payload = good.getvalue()
    spec = data_mod.DatasetSpec("toy", "toy.npz", hashlib.sha256(payload).hexdigest(), None)
    with pytest.raises(DataError, match="SHA-256 mismatch.*not kept"):
        data_mod.download(spec, tmp_path, fetch=lambda url: payload + b"tampered")
    assert list(tmp_path.iterdir()) == []
    path = data_mod.download(spec, tmp_path, fetch=lambda url: payload)
    assert path.read_bytes() == payload and sorted(p.name for p in tmp_path.iterdir()) == ["toy.npz"]


def test_fashion_download_checks_the_decompressed_files(tmp_path):
    spec = data_mod.DATASETS["fashion-mnist"]
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz: SHA-256 mismatch"):
        data_mod.download(spec, tmp_path, fetch=lambda url: gzip.compress(b"not the data"))
    assert not (tmp_path / "fashion-mnist").exists()


def test_unknown_dataset_and_scaler():
    with pytest.raises(MLPError, match="unknown dataset 'cifar'; valid: fashion-mnist, mnist"):
        load_dataset("cifar")
    with pytest.raises(MLPError, match="unknown scaler 'zscore'; valid: divide255"):
        make_scaler("zscore")


def test_scalers():
    x = np.array([[0.0, 10.0, 5.0], [255.0, 30.0, 5.0]], dtype=np.float32)
    assert make_scaler("divide255").fit_transform(x)[1, 0] == pytest.approx(1.0)
    s = make_scaler("standard").fit_transform(x)
    np.testing.assert_allclose(s.mean(axis=0), 0, atol=1e-6)
    np.testing.assert_allclose(s[:, :2].std(axis=0), 1, atol=1e-6)
    assert (s[:, 2] == 0).all()  # a constant feature stays finite
    m = make_scaler("minmax").fit(x)
    np.testing.assert_allclose(m.transform(x)[:, :2], [[0, 0], [1, 1]])
    n = make_scaler("normalize").transform(x)
    np.testing.assert_allclose(np.linalg.norm(n, axis=1), 1, rtol=1e-6)
