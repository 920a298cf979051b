"""The Keras reference: the article's Keras model, trained from the same initial weights and data
as mlp-core's implementations, timed the same way.

Keras runs on the backend whose registry entry declares it (``BackendEntry.keras``, the value of
``KERAS_BACKEND``); that backend is created first, so its library starts as the bench asks
(quiet, with the thread count), and the model is built inside its ``device_scope()``.
"""

from __future__ import annotations

import os
from time import perf_counter

import numpy as np

from .. import backends
from ..errors import MLPError
from ..validation import POLICIES, per_layer, variable_dtype
from .config import BenchConfig, Cell
from .impls import KERAS_LOSSES, ImplSpec
from .measure import load_data, make_backend, step_rows, thread_count, warmup_epochs

ACTIVATIONS = {"identity": "linear"}  # mlp-core's name -> Keras's, where they differ


def build_model(keras, cfg: BenchConfig, sizes: list[int], l2s: tuple[float, ...]):
    """The Sequential model of ``sizes`` with the configuration's activations, penalties and
    optimizer, compiled."""
    if cfg.loss not in KERAS_LOSSES:
        raise MLPError(f"the keras reference supports loss {' and '.join(KERAS_LOSSES)}, not "
                       f"{cfg.loss!r}")
    n_weights = len(sizes) - 1
    l1s = per_layer(cfg.l1, "l1", n_weights)
    activations = [cfg.activation] * (n_weights - 1) + [cfg.output]
    layers = [keras.layers.Dense(n, activation=ACTIVATIONS.get(a, a),
                                 kernel_regularizer=keras.regularizers.L1L2(l1=l1, l2=l2)
                                 if (l1 or l2) else None)
              for n, a, l1, l2 in zip(sizes[1:], activations, l1s, l2s)]
    model = keras.Sequential([keras.Input((sizes[0],)), *layers])
    optimizer = {"sgd": keras.optimizers.SGD, "rmsprop": keras.optimizers.RMSprop,
                 "adam": keras.optimizers.Adam}[cfg.optimizer]
    model.compile(optimizer=optimizer(**({"learning_rate": cfg.learning_rate}
                                         if cfg.learning_rate else {})),
                  loss=KERAS_LOSSES[cfg.loss], metrics=["accuracy"])
    return model


def run_keras(impl: ImplSpec, cfg: BenchConfig, cell: Cell) -> dict:
    """Train the Keras model as the bench trains ours: same initial weights (from the seed),
    warm-up then a restore of the weights and the optimizer, one timed ``fit`` (per step: one
    epoch of exactly ``cfg.steps`` batches, timed from its start to its end)."""
    from ..initializers import init_params

    be = make_backend(impl, cfg, cell)  # its library starts quietly, with the threads and device
    os.environ.setdefault("KERAS_BACKEND", backends.entry(impl.backend).keras)
    import keras

    policy = impl.dtype or cell.dtype
    dtype = variable_dtype(policy)  # (mixed_bfloat16: float32 variables, bfloat16 compute)
    keras.backend.set_floatx(dtype)
    keras.mixed_precision.set_global_policy(policy if policy in POLICIES else dtype)
    ds = load_data(cfg)
    sizes = [ds.x_train.shape[1], *cell.layers, ds.n_classes]
    x, y = ds.x_train.astype(dtype), np.eye(ds.n_classes, dtype=dtype)[ds.y_train]
    epochs, bs = cfg.epochs, cell.batch_size
    if cfg.steps:
        x, y = step_rows(x, y, cfg.steps, bs)
        epochs = 1
    timer = epoch_timer(keras)
    with be.device_scope():
        model = build_model(keras, cfg, sizes, cell.l2)
        initial = init_params(sizes, cfg.init, cfg.init_scale,
                              np.random.default_rng(cfg.seed), dtype)
        model.set_weights(initial)
        model.optimizer.build(model.trainable_variables)
        fresh_state = [v.numpy() for v in model.optimizer.variables]  # iterations, lr, slots
        if cfg.warmup or cfg.steps:
            model.fit(x, y, epochs=1 if cfg.steps else warmup_epochs(len(x), bs), batch_size=bs,
                      verbose=0)
            model.set_weights(initial)
            for v, value in zip(model.optimizer.variables, fresh_state):
                v.assign(value)
        t0 = perf_counter()
        hist = model.fit(x, y, epochs=epochs, batch_size=bs, shuffle=True, verbose=0,
                         callbacks=[timer])
        fit_time = perf_counter() - t0
        _, accuracy = model.evaluate(ds.x_test.astype(dtype), np.eye(ds.n_classes)[ds.y_test],
                                     batch_size=10_000, verbose=0)
    return {"fit_time": fit_time, "train_time": fit_time, "phases": {},
            "epochs_run": len(hist.history["loss"]), "final_loss": hist.history["loss"][-1],
            "sizes": sizes, "n_train": len(ds.x_train),
            "step_time": sum(timer.seconds) / cfg.steps if cfg.steps else None,
            "test_accuracy": float(accuracy), "dtype": policy, "gpu_peak_mb": be.peak_memory_mb(),
            "backend": {**be.describe(), "backend": "keras", "keras": keras.__version__,
                        "keras_backend": keras.backend.backend()},
            "threads_used": thread_count(be.describe())}


def epoch_timer(keras):
    """A Keras callback that times each epoch from the start of its first batch to the end of
    its last (``seconds``): the steps, without the epoch's set-up (its data iterator), as ours
    are timed. (Its batch hooks cost Keras a few microseconds a step.)"""

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.seconds: list[float] = []
            self._start = self._end = 0.0

        def on_train_batch_begin(self, batch, logs=None) -> None:
            if batch == 0:
                self._start = perf_counter()

        def on_train_batch_end(self, batch, logs=None) -> None:
            self._end = perf_counter()

        def on_epoch_end(self, epoch, logs=None) -> None:
            self.seconds.append(self._end - self._start)

    return EpochTimer()
