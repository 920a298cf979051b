"""Fixtures: every backend from the registry, real MNIST data, clean selection state."""

from __future__ import annotations

import numpy as np
import pytest

from mlp_core import selection
from mlp_core.data import read_idx

from .helpers import BACKEND_CASES, MNIST_T10K, make_backend


@pytest.fixture(params=BACKEND_CASES)
def backend(request):
    """Each backend variant on each device usable here; the others skip with the reason."""
    name, options, device = request.param
    return make_backend(name, options, device)


@pytest.fixture(autouse=True)
def clean_selection(monkeypatch):
    # the tests see none of the project's variables that the machine running them may set
    for name in ("MLP_BACKEND", "MLP_DEVICE", "MLP_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    selection.reset_backend()
    yield
    selection.reset_backend()


@pytest.fixture(scope="session")
def mnist_t10k():
    """The real MNIST test split: 8,000 rows to train, 2,000 held out, scaled to [0, 1]."""
    x = read_idx(MNIST_T10K / "t10k-images-idx3-ubyte.gz").reshape(10_000, -1)
    x = x.astype(np.float32) / 255.0
    y = read_idx(MNIST_T10K / "t10k-labels-idx1-ubyte.gz").astype(np.int64)
    return (x[:8000], y[:8000]), (x[8000:], y[8000:])


@pytest.fixture
def tiny_data():
    rng = np.random.default_rng(1)
    x = rng.random((64, 12), dtype=np.float32)
    y = rng.integers(0, 3, 64)
    return x, y
