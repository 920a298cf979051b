"""IDX reading, the dataset search path, verified downloads, scalers."""

from __future__ import annotations

import gzip
import hashlib
import io

import numpy as np
import pytest

from mlp_core import DataError, MLPError, load_dataset, make_scaler, read_idx, sources
from mlp_core import data as data_mod

from .helpers import MNIST_T10K, idx_bytes, write_idx_dataset


def idx_header(code: int, dims: list[int]) -> bytes:
    return bytes([0, 0, code, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims)


def test_read_real_mnist_test_split():
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
    monkeypatch.setenv("MLP_DATA_DIR", str(tmp_path / "nothing-here"))  # search path: skipped

    def offline(url):
        raise DataError(f"download of {url} failed (network unreachable)")

    monkeypatch.setattr(sources, "_fetch", offline)
    with pytest.raises(DataError, match=r"mnist not found \(looked in: .*nothing-here.*keras.*\) "
                                        "and download"):
        load_dataset("mnist")
    assert not (tmp_path / "keras" / "datasets" / "mnist.npz").exists()


def test_download_verifies_checksum_and_keeps_nothing_bad(tmp_path):
    good = io.BytesIO()
    np.savez(good, x_train=np.zeros((1, 2)))
    payload = good.getvalue()
    spec = sources.DatasetSpec("toy", "toy.npz", hashlib.sha256(payload).hexdigest(), None)
    with pytest.raises(DataError, match="SHA-256 mismatch.*not kept"):
        data_mod.download(spec, tmp_path, fetch=lambda url: payload + b"tampered")
    assert list(tmp_path.iterdir()) == []
    path = data_mod.download(spec, tmp_path, fetch=lambda url: payload)
    assert path.read_bytes() == payload
    assert sorted(p.name for p in tmp_path.iterdir()) == ["toy.npz"]


def test_fashion_download_checks_the_decompressed_files(tmp_path):
    spec = data_mod.DATASETS["fashion-mnist"]
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz: SHA-256 mismatch"):
        data_mod.download(spec, tmp_path, fetch=lambda url: gzip.compress(b"not the data"))
    assert not (tmp_path / "fashion-mnist").exists()


def test_unknown_dataset_and_scaler():
    with pytest.raises(MLPError, match="unknown dataset 'cifar'; valid: PATH.npz, fashion-mnist, "
                                       "mnist, synthetic"):
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


# ---------------------------------------------------------------------------------------------
# A data_dir the caller names is used, or the call fails; it never falls back
@pytest.fixture
def keras_has_mnist(tmp_path, monkeypatch):
    """A valid MNIST in the Keras cache, and no download: a fallback would find it."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.delenv("MLP_DATA_DIR", raising=False)
    write_idx_dataset(tmp_path / "keras" / "datasets" / "mnist", n_train=5)

    def no_download(url):
        raise AssertionError("must not download")

    monkeypatch.setattr(sources, "_fetch", no_download)


def test_data_dir_that_does_not_exist_is_an_error(tmp_path, keras_has_mnist):
    with pytest.raises(DataError, match=r"data_dir .*missing does not exist; it should hold "
                                        r"mnist.npz or the four IDX files train-images-idx3-ubyte"):
        load_dataset("mnist", tmp_path / "missing")
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(DataError, match="a-file is not a folder"):
        load_dataset("mnist", tmp_path / "a-file")


def test_empty_or_incomplete_data_dir_is_an_error(tmp_path, keras_has_mnist):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"data_dir .*empty: no mnist data in it or in "
                                        r".*empty/mnist; expected mnist.npz or the four IDX"):
        load_dataset("mnist", tmp_path / "empty", download_ok=True)
    write_idx_dataset(tmp_path / "partial")
    (tmp_path / "partial" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"\(missing: t10k-labels-idx1-ubyte\)$"):
        load_dataset("mnist", tmp_path / "partial")


def test_data_dir_subfolder_named_after_the_dataset(tmp_path, keras_has_mnist):
    write_idx_dataset(tmp_path / "data" / "mnist", n_train=8)
    ds = load_dataset("mnist", tmp_path / "data")
    assert ds.x_train.shape == (8, 784) and ds.source == str(tmp_path / "data" / "mnist")


def test_missing_env_dir_is_only_a_search_path_entry(tmp_path, keras_has_mnist, monkeypatch):
    monkeypatch.setenv("MLP_DATA_DIR", str(tmp_path / "missing"))
    assert load_dataset("mnist").x_train.shape == (5, 784)  # from the Keras cache


# ---------------------------------------------------------------------------------------------
# Labels and images are checked on load
def test_label_out_of_range_names_file_and_value(tmp_path):
    parts = write_idx_dataset(tmp_path, compress=False)
    labels = parts["train-labels-idx1-ubyte"].copy()
    labels[3] = 200  # would have built a 201-class network
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(labels))
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte: label 200 at index 3 is out of "
                                        r"range \(labels must be 0 to 9\)"):
        load_dataset("mnist", tmp_path)


@pytest.mark.parametrize("value", [2**31 - 1, -1, 10])
def test_int32_labels_out_of_range(tmp_path, value):
    write_idx_dataset(tmp_path, compress=False)
    labels = np.zeros(10, np.int32)
    labels[-1] = value
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(labels))
    with pytest.raises(DataError, match=rf"t10k-labels-idx1-ubyte: label {value} at index 9"):
        load_dataset("mnist", tmp_path)


@pytest.mark.parametrize("stem,array,message", [
    ("train-labels-idx1-ubyte", np.zeros(30, np.float32), "labels must be integers, not float32"),
    ("train-labels-idx1-ubyte", np.zeros((30, 2), np.uint8), "labels must be a 1-D array"),
    ("train-labels-idx1-ubyte", np.zeros(29, np.uint8), "30 images in .* but 29 labels in"),
    ("train-images-idx3-ubyte", np.zeros(30, np.uint8), "images must be a 2-D or 3-D array"),
    ("train-images-idx3-ubyte", np.zeros((30, 1, 28, 28), np.uint8), "2-D or 3-D array"),
    ("t10k-images-idx3-ubyte", np.zeros((10, 27, 28), np.uint8),
     "has images of 784 values but .*t10k-images-idx3-ubyte has images of 756"),
    ("train-images-idx3-ubyte", np.full((30, 28, 28), np.nan, np.float32), "NaN or infinity"),
])
def test_bad_idx_arrays_are_data_errors(tmp_path, stem, array, message):
    write_idx_dataset(tmp_path, compress=False)
    (tmp_path / stem).write_bytes(idx_bytes(array))
    with pytest.raises(DataError, match=message):
        load_dataset("mnist", tmp_path)


def save_mnist_npz(path, **overrides):
    arrays = {"x_train": np.zeros((4, 28, 28), np.uint8), "y_train": np.arange(4, dtype=np.uint8),
              "x_test": np.zeros((2, 28, 28), np.uint8), "y_test": np.arange(2, dtype=np.uint8)}
    arrays.update(overrides)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})


@pytest.mark.parametrize("overrides,message", [
    ({"x_train": np.array([["a", "b"], ["c", "d"], ["e", "f"], ["g", "h"]])},
     r"mnist.npz \(x_train\): images must be numbers, not <U1"),
    ({"x_train": np.array(5.0)},
     r"\(x_train\): images must be a 2-D or 3-D array, not of shape \(\)"),
    ({"x_train": np.array([[1, None]] * 4, dtype=object)},
     r"cannot load x_train \(Object arrays cannot be loaded when allow_pickle=False\)"),
    ({"y_test": np.array([0, 12])}, r"\(y_test\): label 12 at index 1 is out of range"),
    ({"x_test": np.zeros((0, 28, 28), np.uint8), "y_test": np.zeros(0, np.uint8)},
     r"\(x_test\): holds no images"),
    ({"x_test": np.ones((2, 28, 28), np.complex64)}, "images must be numbers, not complex64"),
    ({"y_test": None}, r"no y_test in the archive \(it holds: 'x_train', 'y_train', 'x_test'\)"),
])
def test_bad_npz_content_is_a_data_error(tmp_path, overrides, message):
    save_mnist_npz(tmp_path / "mnist.npz", **overrides)
    with pytest.raises(DataError, match=message) as info:
        load_dataset("mnist", tmp_path)
    assert "\n" not in str(info.value)


def test_npy_or_pickle_named_npz_is_a_data_error(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros(3))
    (tmp_path / "x.npy").rename(tmp_path / "mnist.npz")
    with pytest.raises(DataError, match="not an npz archive"):
        load_dataset("mnist", tmp_path)
    import pickle

    (tmp_path / "mnist.npz").write_bytes(pickle.dumps({"x_train": 1}))
    with pytest.raises(DataError, match="corrupt or incomplete npz archive"):
        load_dataset("mnist", tmp_path)


def test_as_rows_refuses_non_numeric_arrays():
    with pytest.raises(DataError, match="images must be numbers, not <U1"):
        data_mod._as_rows(np.array([["a"]]), np.array([0]))
    with pytest.raises(DataError, match="images must be numbers, not object"):
        data_mod._as_rows(np.array([[1.0, None]], dtype=object), np.array([0]))
    with pytest.raises(DataError, match="images must be numbers, not bool"):
        data_mod._as_rows(np.ones((1, 2), bool), np.array([0]))
    x, y = data_mod._as_rows(np.ones((2, 2, 2), np.uint8), np.array([0, 1], np.uint8))
    assert x.shape == (2, 4) and x.dtype == np.float32 and y.dtype == np.int64


# ---------------------------------------------------------------------------------------------
# IDX headers: no rows, too many dimensions, sizes that overflow 64 bits
@pytest.mark.parametrize("raw,message", [
    (idx_header(0x08, [0, 28, 28]), r"holds no data \(shape \(0, 28, 28\)\)"),
    (idx_header(0x08, [3, 0]), "holds no data"),
    (idx_header(0x08, [1] * 5) + b"x", "IDX header gives 5 dimensions; 1 to 4 are supported"),
    (bytes([0, 0, 8, 255]) + b"\0" * 2000, "gives 255 dimensions"),
    (bytes([0, 0, 8, 0]), "gives 0 dimensions"),
    # 2**16 ** 4 == 2**64 wraps to 0 in int64: the 20-byte header alone used to pass
    (idx_header(0x08, [2**16] * 4), r"IDX data is 20 bytes, its header says 18446744073709551636"),
    (idx_header(0x0E, [2**32 - 1] * 3) + b"abcd", "truncated or corrupt"),
])
def test_hostile_idx_headers_are_data_errors(tmp_path, raw, message):
    with pytest.raises(DataError, match=message):
        data_mod.parse_idx(raw)
    (tmp_path / "f.gz").write_bytes(gzip.compress(raw))
    with pytest.raises(DataError, match=message):
        read_idx(tmp_path / "f.gz")


# ---------------------------------------------------------------------------------------------
# Unreadable files
def test_unreadable_files_are_data_errors_naming_the_file(tmp_path, monkeypatch):
    (tmp_path / "dir.idx").mkdir()
    with pytest.raises(DataError, match=r"dir.idx: cannot read \(Is a directory\)"):
        read_idx(tmp_path / "dir.idx")
    with pytest.raises(DataError, match=r"nope.idx: no such file"):
        read_idx(tmp_path / "nope.idx")
    (tmp_path / "locked.idx").write_bytes(idx_bytes(np.zeros(3, np.uint8)))
    real_read_bytes = sources.Path.read_bytes

    def read_bytes(self):  # chmod 000 means nothing to root, so fake the refusal
        if self.name == "locked.idx":
            raise PermissionError(13, "Permission denied", str(self))
        if self.name == "bad-disk.idx":
            raise OSError(5, "Input/output error", str(self))
        return real_read_bytes(self)

    monkeypatch.setattr(sources.Path, "read_bytes", read_bytes)
    with pytest.raises(DataError, match=r"locked.idx: cannot read \(Permission denied\)"):
        read_idx(tmp_path / "locked.idx")
    with pytest.raises(DataError, match=r"bad-disk.idx: cannot read \(Input/output error\)"):
        read_idx(tmp_path / "bad-disk.idx")


def test_unreadable_dataset_files_are_errors_not_absent(tmp_path):
    write_idx_dataset(tmp_path / "idx")
    (tmp_path / "idx" / "train-images-idx3-ubyte.gz").unlink()
    (tmp_path / "idx" / "train-images-idx3-ubyte.gz").mkdir()
    with pytest.raises(DataError, match=r"idx3-ubyte.gz: cannot read \(Is a directory\)"):
        load_dataset("mnist", tmp_path / "idx")
    (tmp_path / "npz" / "mnist.npz").mkdir(parents=True)
    with pytest.raises(DataError, match=r"mnist.npz: cannot read \(Is a directory\)"):
        load_dataset("mnist", tmp_path / "npz")


# ---------------------------------------------------------------------------------------------
# Downloads cut short
@pytest.fixture
def http_server():
    """A local server answering every request with ``responses[0]`` raw bytes, then closing."""
    import socket
    import threading

    responses = [b""]
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()

    def serve():
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                conn.sendall(responses[0])

    threading.Thread(target=serve, daemon=True).start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/", responses
    sock.close()


def test_download_cut_short_is_a_data_error(http_server):
    url, responses = http_server
    responses[0] = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 10
    with pytest.raises(DataError, match=r"failed \(connection closed after 10 bytes\)"):
        sources._fetch(url + "mnist.npz", timeout=5)
    responses[0] = b"garbage, not HTTP\r\n\r\n"
    with pytest.raises(DataError, match="download of .* failed"):
        sources._fetch(url, timeout=5)
    responses[0] = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
    with pytest.raises(DataError, match=r"failed \(HTTP Error 404: Not Found\)"):
        sources._fetch(url, timeout=5)


def test_download_of_a_bad_url_is_a_data_error():
    with pytest.raises(DataError, match="download of not a url failed .*unknown url type"):
        sources._fetch("not a url")


def test_train_test_split_is_gone():
    assert not hasattr(data_mod, "train_test_split") and "train_test_split" not in data_mod.__all__


def test_npz_member_claiming_huge_shape_is_a_data_error(tmp_path):
    import zipfile

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "|u1", "fortran_order": False, "shape": (2**40, 28, 28)})
    with zipfile.ZipFile(tmp_path / "mnist.npz", "w") as z:
        for key in ("x_train", "y_train", "y_test"):
            buf = io.BytesIO()
            np.save(buf, np.zeros((2, 28, 28) if key == "x_train" else 2, np.uint8))
            z.writestr(key + ".npy", buf.getvalue())
        z.writestr("x_test.npy", header.getvalue() + b"\0" * 100)  # 100 bytes, not 2**40 * 784
    with pytest.raises(DataError, match=r"mnist.npz: cannot load x_test \("):
        load_dataset("mnist", tmp_path)


def test_labels_that_leave_classes_empty_or_unseen_are_said(tmp_path, capsys):
    """The rule: classes are 0 .. the largest label. Training labels 20-22 and test labels 0-2
    train 23 outputs, 20 of them never, and test labels the network never saw."""
    from mlp_core.cli import main
    from mlp_core.errors import DataWarning

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "shifted.npz", x_train=rng.random((60, 5)),
             y_train=rng.integers(20, 23, 60), x_test=rng.random((20, 5)),
             y_test=rng.integers(0, 3, 20))
    with pytest.warns(DataWarning) as caught:
        load_dataset(str(tmp_path / "shifted.npz"), scaler="none")
    text = " ".join(str(w.message) for w in caught)
    assert "classes are 0 to 22" in text and "never occurs in the training labels" in text
    assert main(["train", "--dataset", str(tmp_path / "shifted.npz"), "--scaler", "none",
                 "--epochs", "1", "--layers", "4", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert err.count("mlp-core: warning:") == 2 and "DataWarning" not in err
