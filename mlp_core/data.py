"""MNIST-shaped datasets: an IDX reader, a search path, verified downloads, scalers.

``load_dataset(name, data_dir)`` with a ``data_dir`` reads from that folder (or its ``<name>/``
subfolder) and nowhere else: a folder that does not exist or lacks the files is an error saying
what was expected. Without one it looks, in order, in: ``$MLP_DATA_DIR`` (and its ``<name>/``),
the Keras cache ``~/.keras/datasets/`` (``mnist.npz``, ``fashion-mnist/``),
``/usr/share/datasets/<name>/`` (where Debian's ``dataset-fashion-mnist`` installs), and finally
downloads from the URLs Keras uses into the Keras cache, verified by SHA-256 and written atomically.

Whatever is read is checked before use: images are 2-D or 3-D arrays of numbers, labels are
integers in ``0 .. n_classes - 1``, and the counts and image shapes agree. Every problem is a
:class:`~mlp_core.errors.DataError` with a one-line message naming the file.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import math
import os
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import DataError, choice_error
from .fileio import atomic_write_bytes

KERAS_BASE_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
SPLITS = ("x_train", "y_train", "x_test", "y_test")  # also the array names in Keras's npz files
IMAGE_PIXELS, N_CLASSES = 784, 10  # every dataset below: 28 x 28 images, 10 classes
IDX_FILES = {
    "x_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte",
}


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    npz: str | None  # file name of Keras's single-file archive, if the dataset has one
    npz_sha256: str | None
    # SHA-256 of each *decompressed* IDX file, so any gzip of the same bytes verifies
    idx_sha256: dict[str, str] | None
    n_classes: int = 10  # labels must lie in 0 .. n_classes - 1


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
# The format allows 255 dimensions; images and labels need at most 3, and more is surely garbage
MAX_IDX_DIMS = 4


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


# ---------------------------------------------------------------------------------------------
# IDX
def parse_idx(raw: bytes, source: str = "<bytes>") -> np.ndarray:
    """Decode the bytes of one IDX file (already decompressed)."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DataError(f"{source}: not an IDX file (bad magic number)")
    ndim = raw[3]
    if not 1 <= ndim <= MAX_IDX_DIMS:
        raise DataError(f"{source}: IDX header gives {ndim} dimensions; 1 to {MAX_IDX_DIMS} "
                        "are supported")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{source}: truncated IDX header")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    if 0 in shape:
        raise DataError(f"{source}: IDX file holds no data (shape {shape})")
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = header + math.prod(shape) * dtype.itemsize  # Python ints: no overflow
    if len(raw) != expected:
        raise DataError(f"{source}: IDX data is {len(raw)} bytes, its header says {expected} "
                        "(truncated or corrupt file)")
    # no copy for bytes (uint8); other types are byte-swapped to native order
    return np.frombuffer(raw, dtype, offset=header).reshape(shape).astype(
        dtype.newbyteorder("="), copy=False)


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except OSError as exc:  # permission denied, is a directory, I/O error...
        raise DataError(f"{path}: cannot read ({exc.strerror or _one_line(exc)})") from None


def _decompressed(path: Path) -> bytes:
    raw = _read_bytes(path)
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: corrupt or truncated gzip file ({_one_line(exc)})") from None


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file, gzip-compressed (``.gz``) or not."""
    path = Path(path)
    return parse_idx(_decompressed(path), str(path))


# ---------------------------------------------------------------------------------------------
# Finding and fetching the data
# A load gives the four arrays and, for error messages, where each came from.
Arrays = tuple[dict[str, np.ndarray], dict[str, str]]


def _idx_path(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if os.path.lexists(folder / name):  # present but unreadable is an error, not absent
            return folder / name
    return None


def _load_idx_folder(folder: Path) -> Arrays | None:
    paths = {key: _idx_path(folder, stem) for key, stem in IDX_FILES.items()}
    if not all(paths.values()):
        return None
    return {key: read_idx(p) for key, p in paths.items()}, {k: str(p) for k, p in paths.items()}


# What a damaged or hostile archive can raise while it is opened or a member decoded (a header
# may claim more memory than there is; a zip may use a version or method zipfile lacks)
_NPZ_ERRORS = (OSError, ValueError, EOFError, zlib.error, zipfile.BadZipFile, NotImplementedError,
               RuntimeError, MemoryError)


def _load_npz(path: Path) -> Arrays:
    try:
        fh = open(path, "rb")
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or _one_line(exc)})") from None
    arrays = {}
    with fh:
        try:
            f = np.load(fh, allow_pickle=False)
        except _NPZ_ERRORS as exc:
            raise DataError(
                f"{path}: corrupt or incomplete npz archive ({_one_line(exc)})") from None
        if not isinstance(f, np.lib.npyio.NpzFile):
            raise DataError(f"{path}: not an npz archive (a single .npy array)")
        with f:
            missing = [k for k in SPLITS if k not in f.files]
            if missing:
                held = ", ".join(repr(name) for name in f.files)  # repr: a name may hold a newline
                raise DataError(f"{path}: no {', '.join(missing)} in the archive "
                                f"(it holds: {held or 'nothing'})")
            for key in SPLITS:
                try:
                    arrays[key] = f[key]
                except _NPZ_ERRORS as exc:
                    raise DataError(f"{path}: cannot load {key} ({_one_line(exc)})") from None
    return arrays, {key: f"{path} ({key})" for key in SPLITS}


def _load_folder(spec: DatasetSpec, folder: Path) -> tuple[Arrays, str] | None:
    """The dataset from ``folder`` and its source, or None if its files are not there."""
    if spec.npz and os.path.lexists(folder / spec.npz):
        return _load_npz(folder / spec.npz), str(folder / spec.npz)
    found = _load_idx_folder(folder)
    return None if found is None else (found, str(folder))


def _expected_files(spec: DatasetSpec) -> str:
    idx = "the four IDX files " + ", ".join(IDX_FILES.values()) + " (each may end in .gz)"
    return f"{spec.npz} or {idx}" if spec.npz else idx


def _load_data_dir(spec: DatasetSpec, data_dir: str | os.PathLike) -> tuple[Arrays, str]:
    """The dataset from the folder the caller named; there is no fallback."""
    base = Path(data_dir)
    if not base.is_dir():
        why = "does not exist" if not os.path.lexists(base) else "is not a folder"
        raise DataError(f"data_dir {base} {why}; it should hold {_expected_files(spec)}")
    for folder in (base, base / spec.name):
        if folder.is_dir():
            found = _load_folder(spec, folder)
            if found is not None:
                return found
    partial = [stem for stem in IDX_FILES.values() if _idx_path(base, stem)
               or _idx_path(base / spec.name, stem)]
    missing = [stem for stem in IDX_FILES.values() if stem not in partial]
    detail = f" (missing: {', '.join(missing)})" if partial else ""
    raise DataError(f"data_dir {base}: no {spec.name} data in it or in {base / spec.name}; "
                    f"expected {_expected_files(spec)}{detail}")


def _candidate_folders(spec: DatasetSpec) -> list[Path]:
    """The search path used when no ``data_dir`` is given."""
    folders = []
    env = os.environ.get("MLP_DATA_DIR") or None
    if env is not None:
        folders += [Path(env), Path(env) / spec.name]
    keras = _keras_cache()
    folders += [keras, keras / spec.name, Path("/usr/share/datasets") / spec.name]
    return folders


def _keras_cache() -> Path:
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets"


def _find_local(spec: DatasetSpec) -> tuple[Arrays, str] | None:
    for folder in _candidate_folders(spec):
        if folder.is_dir():
            found = _load_folder(spec, folder)
            if found is not None:
                return found
    return None


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _fetch(url: str, timeout: float = 60.0) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.read()
    # OSError: network, DNS, HTTP status (URLError, HTTPError), timeouts; HTTPException: a
    # connection cut short (IncompleteRead) or a garbled reply; ValueError: a malformed URL
    except (OSError, http.client.HTTPException, ValueError) as exc:
        reason = _one_line(exc)
        if isinstance(exc, http.client.IncompleteRead):
            reason = f"connection closed after {len(exc.partial)} bytes"
        raise DataError(f"download of {url} failed ({reason})") from None


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create {folder} for the download: {exc.strerror or exc}") from None


def download(spec: DatasetSpec, dest: Path, base_url: str = KERAS_BASE_URL,
             fetch: Callable[[str], bytes] = _fetch) -> Path:
    """Download ``spec`` into ``dest``, verify every file, and only then keep it."""
    _make_folder(dest)
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
    _make_folder(folder)
    for stem, data in fetched.items():
        atomic_write_bytes(folder / (stem + ".gz"), data)
    return folder


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
    if data_dir is not None:
        found = _load_data_dir(spec, data_dir)
    else:
        found = _find_local(spec)
        if found is None and download_ok:
            try:
                download(spec, _keras_cache())
            except DataError as exc:
                looked = ", ".join(str(f) for f in _candidate_folders(spec))
                raise DataError(
                    f"{key} not found (looked in: {looked}) and {exc}. Put the files in one of "
                    "those folders or pass data_dir"
                    + ("; on Debian: apt-get install dataset-fashion-mnist"
                       if key == "fashion-mnist" else "")) from None
            found = _find_local(spec)
        if found is None:
            looked = ", ".join(str(f) for f in _candidate_folders(spec))
            raise DataError(f"{key} not found (looked in: {looked})")
    (arrays, sources), source = found
    xtr, ytr = _as_rows(arrays["x_train"], arrays["y_train"], sources["x_train"],
                        sources["y_train"], spec.n_classes)
    xte, yte = _as_rows(arrays["x_test"], arrays["y_test"], sources["x_test"],
                        sources["y_test"], spec.n_classes)
    if xtr.shape[1] != xte.shape[1]:
        raise DataError(f"{sources['x_train']} has images of {xtr.shape[1]} values but "
                        f"{sources['x_test']} has images of {xte.shape[1]}")
    ds = Dataset(key, xtr, ytr, xte, yte, source=source)
    # copy=False: the arrays are ours, so divide255, normalize and none scale in place (a copy
    # would double peak memory); standard and minmax compute in float64 and return new arrays
    if scaler is not None:
        s = make_scaler(scaler).fit(ds.x_train)
        ds.x_train, ds.x_test = s.transform(ds.x_train, copy=False), s.transform(ds.x_test, copy=False)
    return ds


def _check_images(x: np.ndarray, source: str) -> None:
    if x.dtype.kind not in "uif":
        raise DataError(f"{source}: images must be numbers, not {x.dtype}")
    if x.ndim not in (2, 3):
        raise DataError(f"{source}: images must be a 2-D or 3-D array, not of shape {x.shape}")
    if x.size == 0:
        raise DataError(f"{source}: holds no images (shape {x.shape})")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise DataError(f"{source}: images contain NaN or infinity")


def _check_labels(y: np.ndarray, source: str, n_classes: int | None) -> None:
    if y.dtype.kind not in "ui":
        raise DataError(f"{source}: labels must be integers, not {y.dtype}")
    if y.ndim != 1:
        raise DataError(f"{source}: labels must be a 1-D array, not of shape {y.shape}")
    bad = np.flatnonzero((y < 0) | (y >= n_classes) if n_classes else y < 0)
    if bad.size:
        limits = f"0 to {n_classes - 1}" if n_classes else "at least 0"
        raise DataError(f"{source}: label {y[bad[0]]} at index {bad[0]} is out of range "
                        f"(labels must be {limits})")


def _as_rows(x: np.ndarray, y: np.ndarray, x_source: str = "images", y_source: str = "labels",
             n_classes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Checked float32 rows and int64 labels."""
    _check_images(x, x_source)
    _check_labels(y, y_source, n_classes)
    if x.shape[0] != y.shape[0]:
        raise DataError(f"{x.shape[0]} images in {x_source} but {y.shape[0]} labels in {y_source}")
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


__all__ = ["Dataset", "load_dataset", "read_idx", "parse_idx", "make_scaler", "SCALERS",
           "DATASETS", "download"]
