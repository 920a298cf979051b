"""Helpers shared by the tests: the backend cases, real MNIST data, IDX files to read."""

from __future__ import annotations

import functools
import gzip
import os
from pathlib import Path

import numpy as np
import pytest

from mlp_core import backends, selection
from mlp_core.errors import BackendUnavailable

TESTS = Path(__file__).resolve().parent
# The MNIST test split ships with the tests (tests/data/mnist-t10k, CC BY-SA 3.0).
MNIST_T10K = Path(os.environ.get("MLP_TEST_MNIST_DIR", TESTS / "data" / "mnist-t10k"))

# (backend name, options, device): every tested variant of every backend in the registry on each
# of its devices; the GPU cases carry the ``gpu`` marker (``pytest -m gpu`` runs them alone)
BACKEND_CASES = [
    pytest.param((e.name, dict(v.options), device),
                 id=v.name if device == e.devices[0] else f"{v.name}-{device}",
                 marks=[pytest.mark.gpu] if device == "gpu" else [])
    for v, e in backends.variants(tested_only=True) for device in e.devices]


def make_backend(name: str, options: dict, device: str | None = None):
    """The backend, or a skip naming the reason (its library or device is missing here)."""
    missing = backends.missing_libraries(name)
    if missing:
        pytest.skip(f"{name}: {', '.join(missing)} not installed")
    try:
        return selection.get_backend(name, device, **options)
    except BackendUnavailable as exc:
        pytest.skip(str(exc))


def measured(rows: list[dict]) -> list[dict]:
    """A real run's rows without those the machine-speed monitor flagged and had measured again
    (on a busy test machine it may: that is the monitor working, not the test failing)."""
    return [r for r in rows if r["status"] != "flagged"]


def in_float64(fn):
    """Run ``fn`` (whose first argument, or ``backend=``, is a backend) inside the backend's
    float64 precision scope: JAX's 64-bit mode, for that call alone, as a float64 model has it."""

    @functools.wraps(fn)
    def scoped(*args, **kwargs):
        be = kwargs["backend"] if "backend" in kwargs else args[0]
        with be.precision_scope("float64"):
            return fn(*args, **kwargs)

    return scoped


IDX_CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D,
             np.float64: 0x0E}


def idx_bytes(a: np.ndarray) -> bytes:
    header = bytes([0, 0, IDX_CODES[a.dtype.type], a.ndim]) + np.array(a.shape, ">u4").tobytes()
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
        path = folder / (stem + (".gz" if compress else ""))
        path.write_bytes(gzip.compress(raw) if compress else raw)
    return parts


