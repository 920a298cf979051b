"""The peers: the bench's training written in each library's own idiom (:data:`impls.PEERS`).

Each module's ``run(impl, cfg, cell, **options)`` trains as the bench trains ours, so that only
the code differs: the same data (float32 arrays, scaled as ours are, the way a user of the
library holds them), the same initial weights (from the seed), the same batches per epoch and
optimizer hyper-parameters as closely as the library allows (each peer's ``differs`` says where
not), a warm-up then a restore of the weights and the optimizer state, and one timed fit (per
step: one epoch of exactly ``cfg.steps`` batches, timed from its first step to its last). The
library starts through our backend for it (:func:`measure.make_backend`), so that its threads and
device are set as they are for ours.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...initializers import init_params
from ...optimizers import Optimizer, get_optimizer
from ...validation import per_layer, variable_dtype
from ..config import BenchConfig, Cell
from ..impls import ImplSpec
from ..measure import load_data, make_backend, step_rows, thread_count, warmup_epochs


@dataclass
class Setup:
    """What a peer trains, prepared once for every peer."""

    be: Any  # our backend for the peer's library: threads, device, synchronize
    x: np.ndarray  # training rows (float32 or float64), as many as the measured epoch has
    labels: np.ndarray  # their class indices
    x_test: np.ndarray
    labels_test: np.ndarray
    sizes: list[int]  # layer sizes, input to output
    initial: list[np.ndarray]  # [W1, b1, W2, b2, ...], W of shape (n_in, n_out)
    l1: tuple[float, ...]  # per weight layer
    l2: tuple[float, ...]
    activation: str  # hidden layers'
    output: str
    loss: str  # cce or mse
    optimizer: Optimizer  # its hyper-parameters (learning rate, rho, epsilon, betas)
    policy: str  # float32, float64 or mixed_bfloat16
    dtype: str  # the variables' dtype
    batch_size: int
    epochs: int  # timed epochs (per step: 1)
    warmup_epochs: int  # 0: cold
    steps: int | None
    n_train: int  # the dataset's training rows (for the per-epoch figures)
    seed: int

    def one_hot(self, labels: np.ndarray) -> np.ndarray:
        return np.eye(self.sizes[-1], dtype=self.dtype)[labels]


def prepare(impl: ImplSpec, cfg: BenchConfig, cell: Cell) -> Setup:
    be = make_backend(impl, cfg, cell)  # its library starts quietly, with the threads and device
    ds = load_data(cfg)
    policy = impl.dtype or cell.dtype
    dtype = variable_dtype(policy)
    sizes = [ds.x_train.shape[1], *cell.layers, ds.n_classes]
    x, labels = ds.x_train.astype(dtype), ds.y_train
    epochs, warmup = cfg.epochs, warmup_epochs(len(x), cell.batch_size) if cfg.warmup else 0
    if cfg.steps:
        x, labels = step_rows(x, labels, cfg.steps, cell.batch_size)
        epochs, warmup = 1, 1
    return Setup(
        be=be, x=x, labels=labels, x_test=ds.x_test.astype(dtype), labels_test=ds.y_test,
        sizes=sizes, l1=per_layer(cfg.l1, "l1", len(sizes) - 1), l2=cell.l2,
        initial=init_params(sizes, cfg.init, cfg.init_scale, np.random.default_rng(cfg.seed),
                            dtype),
        activation=cfg.activation, output=cfg.output, loss=cfg.loss,
        optimizer=get_optimizer(cfg.optimizer, learning_rate=cfg.learning_rate),
        policy=policy, dtype=dtype, batch_size=cell.batch_size, epochs=epochs,
        warmup_epochs=warmup, steps=cfg.steps, n_train=len(ds.x_train), seed=cfg.seed)


def result(setup: Setup, *, fit_time: float, step_seconds: float | None, epochs_run: int,
           final_loss: float | None, test_accuracy: float, library: dict) -> dict:
    """The worker's result fields for a peer's measurement. ``step_seconds``: the timed
    epoch's steps alone (per-step runs); ``library``: what the peer adds to the backend's
    description (its library's versions)."""
    info = setup.be.describe()
    return {"fit_time": fit_time, "train_time": fit_time, "phases": {},
            "epochs_run": epochs_run, "final_loss": final_loss, "sizes": setup.sizes,
            "n_train": setup.n_train,
            "step_time": step_seconds / setup.steps if setup.steps else None,
            "test_accuracy": float(test_accuracy), "dtype": setup.policy,
            "gpu_peak_mb": setup.be.peak_memory_mb(), "backend": {**info, **library},
            "threads_used": thread_count(info)}


def run_peer(impl: ImplSpec, cfg: BenchConfig, cell: Cell) -> dict:
    """Measure the peer ``impl`` with its module's ``run``."""
    module = importlib.import_module(f"{__name__}.{impl.peer.runner}")
    return module.run(impl, cfg, cell, **dict(impl.peer.options))
