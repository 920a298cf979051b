"""MNIST-shaped datasets: an IDX reader, a search path, verified downloads, scalers.

``load_dataset(name)`` looks, in order, in: the ``data_dir`` argument, ``$MLP_DATA_DIR``, the Keras
cache ``~/.keras/datasets/`` (``mnist.npz``, ``fashion-mnist/``), ``/usr/share/datasets/<name>/``
(where Debian's ``dataset-fashion-mnist`` installs), and finally downloads from the URLs Keras uses
into the Keras cache, verified by SHA-256 and written atomically.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import DataError, MLPError, choice_error
from .fileio import atomic_write_bytes

KERAS_BASE_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte",
}


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    npz: str | None  # file name of Keras's single-file archive, if the dataset has one
    npz_sha256: str | None
    # SHA-256 of each *decompressed* IDX file, so any gzip of the same bytes verifies
    idx_sha256: dict[str, str] | None


DATASETS = {
    "mnist": DatasetSpec(
        "mnist", "mnist.npz", "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
        None),
    "fashion-mnist": DatasetSpec("fashion-mnist", None, None, {
        "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    }),
}

_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


# ---------------------------------------------------------------------------------------------
# IDX
def parse_idx(raw: bytes, source: str = "<bytes>") -> np.ndarray:
    """Decode the bytes of one IDX file (already decompressed)."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DataError(f"{source}: not an IDX file (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise DataError(f"{source}: truncated IDX header")
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", ndim, 4))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        raise DataError(f"{source}: IDX data is {len(raw)} bytes, its header says {expected} "
                        "(truncated or corrupt file)")
    # no copy for bytes (uint8); other types are byte-swapped to native order
    return np.frombuffer(raw, dtype, offset=header).reshape(shape).astype(
        dtype.newbyteorder("="), copy=False)


def _decompressed(path: Path) -> bytes:
    raw = path.read_bytes()
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: corrupt or truncated gzip file ({exc})") from None


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file, gzip-compressed (``.gz``) or not."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    return parse_idx(_decompressed(path), str(path))


# ---------------------------------------------------------------------------------------------
# Finding and fetching the data
def _idx_path(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def _load_idx_folder(folder: Path, spec: DatasetSpec) -> tuple | None:
    paths = {key: _idx_path(folder, stem) for key, stem in IDX_FILES.items()}
    if not all(paths.values()):
        return None
    a = {key: read_idx(p) for key, p in paths.items()}
    return (a["train_images"], a["train_labels"]), (a["test_images"], a["test_labels"])


def _load_npz(path: Path) -> tuple:
    try:
        with np.load(path, allow_pickle=False) as f:
            return (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])
    except (OSError, ValueError, KeyError, EOFError, zlib.error, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: corrupt or incomplete npz archive ({exc})") from None


def _candidate_folders(spec: DatasetSpec, data_dir: str | os.PathLike | None) -> list[Path]:
    folders = []
    for base in (data_dir, os.environ.get("MLP_DATA_DIR") or None):
        if base is not None:
            folders += [Path(base), Path(base) / spec.name]
    keras = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets"
    folders += [keras, keras / spec.name, Path("/usr/share/datasets") / spec.name]
    return folders


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _fetch(url: str, timeout: float = 60.0) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.read()
    except OSError as exc:
        raise DataError(f"download of {url} failed ({exc})") from None


def download(spec: DatasetSpec, dest: Path, base_url: str = KERAS_BASE_URL,
             fetch: Callable[[str], bytes] = _fetch) -> Path:
    """Download ``spec`` into ``dest``, verify every file, and only then keep it."""
    dest.mkdir(parents=True, exist_ok=True)
    if spec.npz:
        data = fetch(base_url + spec.npz)
        if _sha256(data) != spec.npz_sha256:
            raise DataError(f"{spec.npz}: SHA-256 mismatch after download; the file was not kept")
        atomic_write_bytes(dest / spec.npz, data)
        return dest / spec.npz
    folder = dest / spec.name
    fetched = {}
    for stem, digest in spec.idx_sha256.items():
        data = fetch(base_url + stem + ".gz")
        try:
            plain = gzip.decompress(data)
        except (OSError, EOFError, zlib.error):
            plain = b""
        if _sha256(plain) != digest:
            raise DataError(f"{stem}.gz: SHA-256 mismatch after download; the file was not kept")
        fetched[stem] = data
    folder.mkdir(parents=True, exist_ok=True)
    for stem, data in fetched.items():
        atomic_write_bytes(folder / (stem + ".gz"), data)
    return folder


def _find_local(spec: DatasetSpec, data_dir) -> tuple[tuple, str] | None:
    for folder in _candidate_folders(spec, data_dir):
        if spec.npz and (folder / spec.npz).is_file():
            return _load_npz(folder / spec.npz), str(folder / spec.npz)
        found = _load_idx_folder(folder, spec)
        if found is not None:
            return found, str(folder)
    return None


@dataclass
class Dataset:
    """Train and test splits: float32 images flattened to rows, int64 labels."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str  # where it was read from

    @property
    def n_classes(self) -> int:
        return int(max(self.y_train.max(), self.y_test.max())) + 1

    def __iter__(self):  # (x_train, y_train), (x_test, y_test) = load_dataset(...)
        return iter(((self.x_train, self.y_train), (self.x_test, self.y_test)))


def load_dataset(name: str, data_dir: str | os.PathLike | None = None,
                 scaler: str | None = "divide255", download_ok: bool = True) -> Dataset:
    """Load ``"mnist"`` or ``"fashion-mnist"``; scale with ``scaler`` (fitted on train).

    See the module docstring for where it looks. ``scaler=None`` keeps raw 0..255 values.
    """
    key = str(name).lower().replace("_", "-")
    if key not in DATASETS:
        raise choice_error("dataset", name, DATASETS)
    spec = DATASETS[key]
    found = _find_local(spec, data_dir)
    if found is None and download_ok:
        keras_cache = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets"
        try:
            download(spec, keras_cache)
        except DataError as exc:
            looked = ", ".join(str(f) for f in _candidate_folders(spec, data_dir))
            raise DataError(f"{key} not found (looked in: {looked}) and {exc}. Put the files in one "
                            "of those folders or pass data_dir"
                            + ("; on Debian: apt-get install dataset-fashion-mnist"
                               if key == "fashion-mnist" else "")) from None
        found = _find_local(spec, data_dir)
    if found is None:
        looked = ", ".join(str(f) for f in _candidate_folders(spec, data_dir))
        raise DataError(f"{key} not found (looked in: {looked})")
    ((xtr, ytr), (xte, yte)), source = found
    ds = Dataset(key, *_as_rows(xtr, ytr), *_as_rows(xte, yte), source=source)
    if scaler is not None:  # in place: the arrays are ours, and a copy would double peak memory
        s = make_scaler(scaler).fit(ds.x_train)
        ds.x_train, ds.x_test = s.transform(ds.x_train, copy=False), s.transform(ds.x_test, copy=False)
    return ds


def _as_rows(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if x.shape[0] != y.shape[0]:
        raise DataError(f"{x.shape[0]} images but {y.shape[0]} labels")
    return x.reshape(x.shape[0], -1).astype(np.float32), y.astype(np.int64)


# ---------------------------------------------------------------------------------------------
# Scalers (fit on training data, then transform any split), scikit-learn style
class Scaler:
    name = "none"

    def fit(self, x: np.ndarray) -> "Scaler":
        return self

    def transform(self, x: np.ndarray, copy: bool = True) -> np.ndarray:
        """Scaled float32 rows; ``copy=False`` may overwrite a float32 ``x`` in place."""
        return np.array(x, dtype=np.float32, copy=copy or None)

    def fit_transform(self, x: np.ndarray) -> np.ndarray:
        return self.fit(x).transform(x)


class Divide255(Scaler):
    name = "divide255"

    def transform(self, x, copy=True):
        out = np.array(x, dtype=np.float32, copy=copy or None)
        return np.divide(out, np.float32(255.0), out=out)


class StandardScaler(Scaler):
    """Per feature: subtract the training mean, divide by the training std (constant features: 1)."""

    name = "standard"

    def fit(self, x):
        x = np.asarray(x, dtype=np.float64)
        self.mean_, std = x.mean(axis=0), x.std(axis=0)
        self.scale_ = np.where(std > 0, std, 1.0)
        return self

    def transform(self, x, copy=True):
        return ((np.asarray(x, np.float64) - self.mean_) / self.scale_).astype(np.float32)


class MinMaxScaler(Scaler):
    """Per feature to [0, 1] over the training range (constant features: 0)."""

    name = "minmax"

    def fit(self, x):
        x = np.asarray(x, dtype=np.float64)
        self.min_, span = x.min(axis=0), x.max(axis=0) - x.min(axis=0)
        self.span_ = np.where(span > 0, span, 1.0)
        return self

    def transform(self, x, copy=True):
        return ((np.asarray(x, np.float64) - self.min_) / self.span_).astype(np.float32)


class Normalizer(Scaler):
    """Per sample: divide each row by its Euclidean norm (zero rows stay zero)."""

    name = "normalize"

    def transform(self, x, copy=True):
        x = np.array(x, dtype=np.float32, copy=copy or None)
        norm = np.linalg.norm(x, axis=1, keepdims=True)
        return np.divide(x, np.where(norm > 0, norm, 1.0).astype(np.float32), out=x)


SCALERS = {c.name: c for c in (Scaler, Divide255, StandardScaler, MinMaxScaler, Normalizer)}


def make_scaler(name: str) -> Scaler:
    if name not in SCALERS:
        raise choice_error("scaler", name, SCALERS)
    return SCALERS[name]()


def train_test_split(x: np.ndarray, y: np.ndarray, n_train: int) -> tuple:
    """First ``n_train`` rows to train, the rest held out (the data's own order)."""
    if not 0 < n_train < len(x):
        raise MLPError(f"n_train must be between 1 and {len(x) - 1}, got {n_train}")
    return (x[:n_train], y[:n_train]), (x[n_train:], y[n_train:])


__all__ = ["Dataset", "load_dataset", "read_idx", "parse_idx", "make_scaler", "SCALERS",
           "DATASETS", "train_test_split", "download"]
