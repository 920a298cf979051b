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
from ..validation import per_layer
from .config import BenchConfig
from .floor import products_per_epoch
from .impls import ImplSpec
from .worker import load_data, make_backend, thread_count, warmup_epochs

LOSSES = {"cce": "categorical_crossentropy", "mse": "mean_squared_error"}
ACTIVATIONS = {"identity": "linear"}  # mlp-core's name -> Keras's, where they differ


def build_model(keras, cfg: BenchConfig, sizes: list[int]):
    """The Sequential model of ``sizes`` with the configuration's activations, penalties and
    optimizer, compiled."""
    if cfg.loss not in LOSSES:
        raise MLPError(f"the keras reference supports loss {' and '.join(LOSSES)}, not "
                       f"{cfg.loss!r}")
    n_weights = len(sizes) - 1
    l1s, l2s = per_layer(cfg.l1, "l1", n_weights), per_layer(cfg.l2, "l2", n_weights)
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
                  loss=LOSSES[cfg.loss], metrics=["accuracy"])
    return model


def run_keras(impl: ImplSpec, cfg: BenchConfig, batch_size: int) -> dict:
    """Train the Keras model as the bench trains ours: same initial weights (from the seed),
    warm-up then a restore of the weights and the optimizer, one timed ``fit``."""
    from ..initializers import init_params

    be = make_backend(impl, cfg)  # its library starts quietly, with the threads and device
    os.environ.setdefault("KERAS_BACKEND", backends.entry(impl.backend).keras)
    import keras

    dtype = impl.dtype or cfg.dtype
    keras.backend.set_floatx(dtype)
    ds = load_data(cfg)
    sizes = [ds.x_train.shape[1], *cfg.layers, ds.n_classes]
    with be.device_scope():
        model = build_model(keras, cfg, sizes)
        initial = init_params(sizes, cfg.init, cfg.init_scale,
                              np.random.default_rng(cfg.seed), dtype)
        model.set_weights(initial)
        model.optimizer.build(model.trainable_variables)
        fresh_state = [v.numpy() for v in model.optimizer.variables]  # iterations, lr, slots
        x, y = ds.x_train.astype(dtype), np.eye(ds.n_classes, dtype=dtype)[ds.y_train]
        if cfg.warmup:
            model.fit(x, y, epochs=warmup_epochs(len(x), batch_size), batch_size=batch_size,
                      verbose=0)
            model.set_weights(initial)
            for v, value in zip(model.optimizer.variables, fresh_state):
                v.assign(value)
        t0 = perf_counter()
        hist = model.fit(x, y, epochs=cfg.epochs, batch_size=batch_size, shuffle=True, verbose=0)
        fit_time = perf_counter() - t0
        _, accuracy = model.evaluate(ds.x_test.astype(dtype), np.eye(ds.n_classes)[ds.y_test],
                                     batch_size=10_000, verbose=0)
    return {"fit_time": fit_time, "train_time": fit_time, "phases": {},
            "epochs_run": len(hist.history["loss"]), "final_loss": hist.history["loss"][-1],
            "epoch_flops": products_per_epoch(sizes, len(x), batch_size),
            "test_accuracy": float(accuracy), "dtype": dtype, "gpu_peak_mb": be.peak_memory_mb(),
            "backend": {**be.describe(), "backend": "keras", "keras": keras.__version__,
                        "keras_backend": keras.backend.backend()},
            "threads": thread_count(be.describe())}
