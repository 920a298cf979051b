"""MNIST-shaped datasets: ``load_dataset`` finds, reads, checks and scales one.

Where the files are looked for and how they are downloaded: :mod:`mlp_core.sources`; the IDX
format: :mod:`mlp_core.idx`; the generated dataset: :mod:`mlp_core.synthetic`; the scalers:
:mod:`mlp_core.scalers`.

Whatever is read is checked before use: images are 2-D or 3-D arrays of numbers, labels are
integers in ``0 .. n_classes - 1``, and the counts and image shapes agree. Every problem is a
:class:`~mlp_core.errors.DataError` with a one-line message naming the file.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import synthetic
from .errors import DataError, DataWarning, choice_error
from .idx import parse_idx, read_idx
from .pixels import Pixels
from .scalers import SCALERS, make_scaler
from .sources import DATASETS, IMAGE_PIXELS, N_CLASSES, download, find, load_npz

SYNTHETIC = "synthetic"


@dataclass
class Dataset:
    """Train and test splits: float32 images flattened to rows (or :class:`Pixels`), int64
    labels."""

    name: str
    x_train: np.ndarray | Pixels
    y_train: np.ndarray
    x_test: np.ndarray | Pixels
    y_test: np.ndarray
    source: str  # where it was read from

    @property
    def n_classes(self) -> int:
        return int(max(self.y_train.max(), self.y_test.max())) + 1

    def __iter__(self):  # (x_train, y_train), (x_test, y_test) = load_dataset(...)
        return iter(((self.x_train, self.y_train), (self.x_test, self.y_test)))


def load_dataset(name: str, data_dir: str | os.PathLike | None = None,
                 scaler: str | None = "divide255", download_ok: bool = True, *,
                 samples: int | None = None, features: int | None = None,
                 classes: int | None = None, seed: int = 0, as_pixels: bool = False) -> Dataset:
    """Load a dataset and scale it with ``scaler`` (fitted on the training split).

    ``as_pixels=True``, with the ``divide255`` scaler and images of uint8 values, keeps the
    images as :class:`~mlp_core.pixels.Pixels`: the uint8 values, 4x smaller than the float32
    array, scaled batch by batch to the same bits (:mod:`mlp_core.pixels`). With another scaler
    or other values it changes nothing.

    ``name`` is ``"mnist"`` or ``"fashion-mnist"`` (see :mod:`mlp_core.sources` for where they
    are looked for), ``"synthetic"`` (``samples`` training rows of ``features`` values in
    ``classes`` classes, made from ``seed``: :mod:`mlp_core.synthetic`), or the path of an
    ``.npz`` file holding ``x_train``, ``y_train``, ``x_test`` and ``y_test`` (images as rows or
    2-D, integer labels from 0), checked as Keras's ``mnist.npz`` is. ``scaler=None`` keeps the
    raw values.
    """
    key = dataset_key(name)
    if key == SYNTHETIC:
        classes = synthetic.DEFAULT_CLASSES if classes is None else classes
        arrays = synthetic.make(samples, features, classes, seed)
        sources = {k: f"synthetic {k}" for k in arrays}
        source, n_classes = f"generated: {samples} x {features}, {classes} classes, seed {seed}", \
            classes
    elif key.endswith(".npz"):
        (arrays, sources), source, n_classes = load_npz(Path(name)), str(name), None
    else:
        spec = DATASETS[key]
        (arrays, sources), source = find(spec, data_dir, download_ok)
        n_classes = spec.n_classes
    keep = as_pixels and scaler == "divide255" and all(
        arrays[k].dtype == np.uint8 for k in ("x_train", "x_test"))
    xtr, ytr = _as_rows(arrays["x_train"], arrays["y_train"], sources["x_train"],
                        sources["y_train"], n_classes, keep)
    xte, yte = _as_rows(arrays["x_test"], arrays["y_test"], sources["x_test"],
                        sources["y_test"], n_classes, keep)
    if xtr.shape[1] != xte.shape[1]:
        raise DataError(f"{sources['x_train']} has images of {xtr.shape[1]} values but "
                        f"{sources['x_test']} has images of {xte.shape[1]}")
    ds = Dataset(key if key in DATASETS or key == SYNTHETIC else Path(name).name,
                 xtr, ytr, xte, yte, source=source)
    if n_classes is None:  # a user's .npz: its labels define the classes
        _warn_about_classes(ds, source)
    # copy=False: the arrays are ours, so divide255, normalize and none scale in place (a copy
    # would double peak memory); standard and minmax compute in float64 and return new arrays
    if keep:
        ds.x_train, ds.x_test = Pixels(xtr), Pixels(xte)
    elif scaler is not None:
        s = make_scaler(scaler).fit(ds.x_train)
        ds.x_train = s.transform(ds.x_train, copy=False)
        ds.x_test = s.transform(ds.x_test, copy=False)
    return ds


def dataset_shape(name: str, features: int | None = None,
                  classes: int | None = None) -> tuple[int, int] | None:
    """(values per row, classes) of a dataset before it is read (the synthetic sizes are checked
    here); None for an ``.npz`` file, which only its arrays tell."""
    key = dataset_key(name)
    if key == SYNTHETIC:
        return features, synthetic.DEFAULT_CLASSES if classes is None else classes
    if key in DATASETS:
        return IMAGE_PIXELS, DATASETS[key].n_classes
    return None


def dataset_key(name: str) -> str:
    """``"mnist"``, ``"fashion-mnist"``, ``"synthetic"``, or an ``.npz`` path as given; any other
    name is an error listing the valid ones."""
    text = str(name)
    if text.lower().endswith(".npz"):
        return text
    key = text.lower().replace("_", "-")
    if key not in (*DATASETS, SYNTHETIC):
        raise choice_error("dataset", name, [*DATASETS, SYNTHETIC, "PATH.npz"])
    return key


def _check_images(x: np.ndarray, source: str) -> None:
    if x.dtype.kind not in "uif":
        raise DataError(f"{source}: images must be numbers, not {x.dtype}")
    if x.ndim not in (2, 3):
        raise DataError(f"{source}: images must be a 2-D or 3-D array, not of shape {x.shape}")
    if x.size == 0:
        raise DataError(f"{source}: holds no images (shape {x.shape})")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise DataError(f"{source}: images contain NaN or infinity")


def _warn_about_classes(ds: Dataset, source: str) -> None:
    """The rule for a user's labels: classes are 0 .. the largest label; a class without a
    training row, or a test label that training never saw, trains a network that cannot get
    those right, so it is said (``DataWarning``)."""
    seen = set(np.unique(ds.y_train).tolist())
    empty = sorted(set(range(ds.n_classes)) - seen - set(np.unique(ds.y_test).tolist()))
    unseen = sorted(set(np.unique(ds.y_test).tolist()) - seen)
    if empty:
        warnings.warn(f"{source}: classes are 0 to {ds.n_classes - 1} (the largest label), but "
                      f"no row has label {_few(empty)}: the network gets {ds.n_classes} outputs, "
                      f"{len(empty)} of them never trained; relabel the classes 0 .. n-1",
                      DataWarning, stacklevel=3)
    if unseen:
        warnings.warn(f"{source}: test label {_few(unseen)} never occurs in the training labels: "
                      "the network cannot learn it", DataWarning, stacklevel=3)


def _few(values: list[int]) -> str:
    return ", ".join(map(str, values[:5])) + (f" (and {len(values) - 5} more)"
                                              if len(values) > 5 else "")


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
             n_classes: int | None = None, keep_dtype: bool = False
             ) -> tuple[np.ndarray, np.ndarray]:
    """Checked float32 rows (``keep_dtype``: rows of the values' own dtype) and int64 labels."""
    _check_images(x, x_source)
    _check_labels(y, y_source, n_classes)
    if x.shape[0] != y.shape[0]:
        raise DataError(f"{x.shape[0]} images in {x_source} but {y.shape[0]} labels in {y_source}")
    rows = x.reshape(x.shape[0], -1)
    return rows if keep_dtype else rows.astype(np.float32), y.astype(np.int64)


__all__ = ["DATASETS", "IMAGE_PIXELS", "N_CLASSES", "SCALERS", "SYNTHETIC", "Dataset", "Pixels",
           "dataset_key", "download", "load_dataset", "make_scaler", "parse_idx", "read_idx"]
