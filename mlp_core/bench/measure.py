"""What every kind of measurement shares: its data, its backend, the warm-up, the step data."""

from __future__ import annotations

import numpy as np

from .config import BenchConfig, Cell
from .impls import ImplSpec

# TF's runtime needs more than its first call to settle: warm up by steps (at least 200, in
# whole epochs, but at most 5 epochs: at batch 60000 that is 5 steps)
WARMUP_STEPS = 200


def load_data(cfg: BenchConfig, as_pixels: bool = False):
    """The bench's dataset; ``as_pixels``: uint8 images where the scaler allows (ours: they are
    scaled batch by batch; the Keras reference gets the float32 array, as a Keras user has it)."""
    from ..data import load_dataset

    return load_dataset(cfg.dataset, cfg.data_dir, scaler=cfg.scaler, samples=cfg.samples,
                        features=cfg.features, classes=cfg.classes, seed=cfg.seed,
                        as_pixels=as_pixels)


def warmup_epochs(n: int, batch_size: int) -> int:
    """Enough epochs to cover WARMUP_STEPS steps, at least 1 and at most 5."""
    per_epoch = -(-n // batch_size)
    return max(1, min(5, -(-WARMUP_STEPS // per_epoch)))


def make_backend(impl: ImplSpec, cfg: BenchConfig, cell: Cell):
    """The backend ``impl`` runs on, with the cell's thread count and the bench's device."""
    from .. import get_backend

    options = dict(impl.options)
    if cell.threads:
        options["threads"] = cell.threads
    return get_backend(impl.backend, cfg.device, **options)


def thread_count(info: dict) -> int | str | None:
    """The compute threads a backend's ``describe()`` reports."""
    return info.get("blas_threads", info.get("intra_op_threads"))


def step_rows(x: np.ndarray, y: np.ndarray, steps: int, batch_size: int):
    """The training rows of exactly ``steps`` full batches: the first rows, cycled as needed.
    One epoch over them (shuffled) is the steps a per-step measurement times."""
    idx = np.arange(steps * batch_size) % x.shape[0]
    return x[idx], y[idx]
