"""Keras 3 as a peer: the article's Keras model, on each backend Keras runs on.

``keras`` (the reference, on TensorFlow), ``keras-torch`` and ``keras-jax`` run this one module
under the ``KERAS_BACKEND`` of their peer (:data:`impls.PEERS`; each registry entry declares the
Keras backend it hosts), one backend per worker process, since Keras picks its backend when it
is first imported. Our backend for that library is created first, so that the library starts as
the bench asks (quiet, with the thread count), and the model is built inside its
``device_scope()``.
"""

from __future__ import annotations

import os
import sys
from time import perf_counter

from ...errors import MLPError
from ...validation import POLICIES, per_layer
from ..config import BenchConfig, Cell
from ..impls import KERAS_LOSSES, ImplSpec
from . import prepare, result

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


def run(impl: ImplSpec, cfg: BenchConfig, cell: Cell) -> dict:
    """Train the Keras model as the bench trains ours (:mod:`mlp_core.bench.peers`); per step,
    its epoch is timed from the start of its first batch to the end of its last."""
    setup = prepare(impl, cfg, cell)
    wanted = impl.peer.keras_backend
    if "keras" in sys.modules and sys.modules["keras"].backend.backend() != wanted:
        raise MLPError(f"Keras already runs on {sys.modules['keras'].backend.backend()} in this "
                       f"process; {impl.base} needs a fresh process (the bench's worker)")
    os.environ["KERAS_BACKEND"] = wanted  # read once, when keras is first imported
    import keras

    keras.backend.set_floatx(setup.dtype)
    keras.mixed_precision.set_global_policy(setup.policy if setup.policy in POLICIES
                                            else setup.dtype)
    x, y, bs = setup.x, setup.one_hot(setup.labels), setup.batch_size
    timer = epoch_timer(keras)
    with setup.be.device_scope():
        model = build_model(keras, cfg, setup.sizes, cell.l2)
        model.set_weights(setup.initial)
        model.optimizer.build(model.trainable_variables)
        fresh_state = [v.numpy() for v in model.optimizer.variables]  # iterations, lr, slots
        if setup.warmup_epochs:
            model.fit(x, y, epochs=setup.warmup_epochs, batch_size=bs, verbose=0)
            model.set_weights(setup.initial)
            for v, value in zip(model.optimizer.variables, fresh_state):
                v.assign(value)
        t0 = perf_counter()
        hist = model.fit(x, y, epochs=setup.epochs, batch_size=bs, shuffle=True, verbose=0,
                         callbacks=[timer])
        fit_time = perf_counter() - t0
        _, accuracy = model.evaluate(setup.x_test, setup.one_hot(setup.labels_test),
                                     batch_size=10_000, verbose=0)
    return result(setup, fit_time=fit_time, step_seconds=sum(timer.seconds),
                  epochs_run=len(hist.history["loss"]), final_loss=hist.history["loss"][-1],
                  test_accuracy=accuracy,
                  library={"backend": impl.base, "keras": keras.__version__,
                           "keras_backend": keras.backend.backend()})


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
