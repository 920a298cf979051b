"""Where a dataset comes from: its files, the search path, and verified downloads.

``find(spec, data_dir)`` with a ``data_dir`` reads from that folder (or its ``<name>/`` subfolder)
and nowhere else: a folder that does not exist or lacks the files is an error saying what was
expected. Without one it looks, in order, in: ``$MLP_DATA_DIR`` (and its ``<name>/``), the Keras
cache ``~/.keras/datasets/`` (``mnist.npz``, ``fashion-mnist/``), ``/usr/share/datasets/<name>/``
(where Debian's ``dataset-fashion-mnist`` installs), and finally downloads from the URLs Keras
uses into the Keras cache, verified by SHA-256 and written atomically.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import urllib.request
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DataError, one_line
from .fileio import atomic_write_bytes
from .idx import read_idx

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
    install_hint: str = ""  # how a system package installs it, for the not-found error


DATASETS = {
    "mnist": DatasetSpec(
        "mnist", "mnist.npz", "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
        None),
    "fashion-mnist": DatasetSpec("fashion-mnist", None, None, {
        "train-images-idx3-ubyte":
            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte":
            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte":
            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte":
            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    }, install_hint="on Debian: apt-get install dataset-fashion-mnist"),
}


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


def load_npz(path: Path) -> Arrays:
    """The four arrays of an ``.npz`` archive (Keras's ``mnist.npz``, or a user's), checked."""
    try:
        fh = open(path, "rb")
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or one_line(exc)})") from None
    arrays = {}
    with fh:
        try:
            f = np.load(fh, allow_pickle=False)
        except _NPZ_ERRORS as exc:
            raise DataError(
                f"{path}: corrupt or incomplete npz archive ({one_line(exc)})") from None
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
                    raise DataError(f"{path}: cannot load {key} ({one_line(exc)})") from None
    return arrays, {key: f"{path} ({key})" for key in SPLITS}


def _load_folder(spec: DatasetSpec, folder: Path) -> tuple[Arrays, str] | None:
    """The dataset from ``folder`` and its source, or None if its files are not there."""
    if spec.npz and os.path.lexists(folder / spec.npz):
        return load_npz(folder / spec.npz), str(folder / spec.npz)
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
        reason = one_line(exc)
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


def find(spec: DatasetSpec, data_dir: str | os.PathLike | None = None,
         download_ok: bool = True) -> tuple[Arrays, str]:
    """The dataset's four arrays, where each came from, and its source (see the docstring)."""
    if data_dir is not None:
        return _load_data_dir(spec, data_dir)
    found = _find_local(spec)
    if found is None and download_ok:
        try:
            download(spec, _keras_cache())
        except DataError as exc:
            looked = ", ".join(str(f) for f in _candidate_folders(spec))
            hint = f"; {spec.install_hint}" if spec.install_hint else ""
            raise DataError(f"{spec.name} not found (looked in: {looked}) and {exc}. Put the "
                            "files in one of those folders or give their folder (--data-dir; "
                            f"data_dir in Python){hint}") from None
        found = _find_local(spec)
    if found is None:
        looked = ", ".join(str(f) for f in _candidate_folders(spec))
        raise DataError(f"{spec.name} not found (looked in: {looked})")
    return found
