"""Numerical correctness: clipped losses, exact-1.0 outputs, divergence, Keras's fit semantics."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from mlp_core import MLP, SGD, Adam, RMSprop, TrainingDiverged
from mlp_core.activations import get_activation
from mlp_core.losses import get_loss
from mlp_core.network import Network, backward, forward

from .helpers import in_float64

CLIPPED = [("cce-normalized", "sigmoid", [40.0, -40.0, -40.0]),
           ("cce-normalized", "softmax", [20.0, 0.0, 0.0]),
           ("logloss", "softmax", [20.0, 0.0, 0.0]),
           ("binary_crossentropy", "softmax", [20.0, 0.0, 0.0])]


@pytest.mark.parametrize("loss,output,logits", CLIPPED, ids=[f"{c[0]}-{c[1]}" for c in CLIPPED])
@in_float64
def test_saturated_outputs_have_the_clipped_gradient(backend, loss, output, logits):
    """One layer, outputs clipped at both ends: the loss is flat there, so is its gradient."""
    act = get_activation(output, output=True)
    net = Network((act,), get_loss(loss, act))
    params = [backend.asarray(np.array([logits]), "float64"),
              backend.asarray(np.zeros(3), "float64")]
    x = backend.asarray(np.ones((1, 1)), "float64")
    y = backend.asarray([[0.0, 1.0, 0.0]], "float64")
    outs, z = forward(backend, net, params, x)
    grads = [backend.to_numpy(g) for g in backward(backend, net, params, outs, z, y)]
    np.testing.assert_array_equal(grads[0], np.zeros((1, 3)))
    np.testing.assert_array_equal(grads[1], np.zeros(3))


def test_softmax_output_of_exactly_one_gives_no_nan(backend):
    act = get_activation("softmax", output=True)
    net = Network((act,), get_loss("logloss", act))
    params = [backend.asarray(np.array([[30.0, 0.0, 0.0]]), "float32"),
              backend.asarray(np.zeros(3), "float32")]
    x, y = backend.asarray(np.ones((2, 1)), "float32"), backend.asarray(np.eye(3)[:2], "float32")
    outs, z = forward(backend, net, params, x)
    assert backend.to_numpy(outs[-1])[0, 0] == 1.0  # rounds to exactly 1 in float32
    for g in backward(backend, net, params, outs, z, y):
        assert np.isfinite(backend.to_numpy(g)).all()


def test_relu_softmax_logloss_run_completes(mnist_t10k):
    """The realistic run that used to stop with a NaN gradient in epoch 13."""
    (x, y), _ = mnist_t10k
    model = MLP([784, 70, 30, 10], activation="relu", output="softmax", loss="logloss", seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", TrainingDiverged)
        history = model.fit(x[:2000], y[:2000], epochs=20, batch_size=100,
                            optimizer=Adam(learning_rate=3e-3), verbose=False)
    assert history.stop_reason is None and history.epochs == 20


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning", "ignore:invalid:RuntimeWarning")
@pytest.mark.parametrize("epochs", [1, 3])
def test_last_update_of_an_epoch_turning_weights_nan_is_caught(backend, tiny_data, epochs):
    """One batch per epoch: the loss (computed before the update) stays finite, the weights not."""
    x, y = tiny_data
    model = MLP([12, 8, 3], seed=0, backend=backend)
    initial = model.get_weights()
    with pytest.warns(TrainingDiverged, match="weights became NaN or infinite in epoch 1"):
        history = model.fit(x, y, epochs=epochs, batch_size=len(x),
                            optimizer=SGD(learning_rate=1e300), verbose=False)
    assert history.epochs == 0 and "learning rate" in history.stop_reason
    for kept, start in zip(model.get_weights(), initial):
        np.testing.assert_array_equal(kept, start)


def test_binary_crossentropy_is_the_mean_over_outputs_as_in_keras(tiny_data):
    x, y = tiny_data
    bce = MLP([12, 8, 3], loss="binary_crossentropy", seed=2, dtype="float64")
    logloss = MLP([12, 8, 3], loss="logloss", seed=2, dtype="float64")
    want = logloss.evaluate(x, y)["loss"] / 3
    assert bce.evaluate(x, y)["loss"] == pytest.approx(want, rel=1e-12)
    keras = pytest.importorskip("keras")
    p = bce.predict_proba(x)
    want = float(np.mean(keras.ops.convert_to_numpy(
        keras.losses.binary_crossentropy(np.eye(3)[y], p))))
    assert bce.evaluate(x, y)["loss"] == pytest.approx(want, rel=1e-5)


@pytest.mark.parametrize("optimizer", [RMSprop, Adam, lambda: SGD(0.1, momentum=0.9, decay=1e-3)],
                         ids=["rmsprop", "adam", "sgd-momentum-decay"])
def test_fit_twice_equals_fit_once_with_double_epochs(backend, mnist_t10k, optimizer):
    (x, y), _ = mnist_t10k
    x, y = x[:1000], y[:1000]
    once = MLP([784, 30, 10], seed=4, backend=backend)
    once.fit(x, y, epochs=2, batch_size=128, optimizer=optimizer(), l2=0.01, verbose=False)
    twice = MLP([784, 30, 10], seed=4, backend=backend)
    twice.fit(x, y, epochs=1, batch_size=128, optimizer=optimizer(), l2=0.01, verbose=False)
    history = twice.fit(x, y, epochs=1, batch_size=128, optimizer=optimizer(), l2=0.01,
                        verbose=False)
    assert history.info["fit"]["optimizer_continued"]
    for a, b in zip(twice.get_weights(), once.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_reset_optimizer_and_another_optimizer_start_afresh(tiny_data):
    x, y = tiny_data
    model = MLP([12, 8, 3], seed=1)
    model.fit(x, y, epochs=1, optimizer="adam", verbose=False)
    assert not model.fit(x, y, epochs=1, optimizer="rmsprop",
                         verbose=False).info["fit"]["optimizer_continued"]
    model.reset_optimizer()
    assert not model.fit(x, y, epochs=1, optimizer="rmsprop",
                         verbose=False).info["fit"]["optimizer_continued"]


def test_learning_rate_overrides_an_optimizer_instance(tiny_data):
    x, y = tiny_data
    history = MLP([12, 8, 3]).fit(x, y, epochs=1, optimizer=Adam(beta_1=0.8),
                                  learning_rate=0.05, verbose=False)
    opt = history.info["fit"]["optimizer"]
    assert opt["learning_rate"] == 0.05 and opt["beta_1"] == 0.8


def test_an_interrupted_fit_puts_back_the_weights_and_state(backend, tiny_data, monkeypatch):
    x, y = tiny_data
    model = MLP([12, 8, 3], seed=0, backend=backend)
    model.fit(x, y, epochs=1, batch_size=16, verbose=False)
    weights, state_t = model.get_weights(), float(backend.to_numpy(model.opt_state["t"]))

    calls = []

    def interrupt_in_epoch_two(rec_epoch, *args):
        calls.append(rec_epoch)
        if len(calls) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr("mlp_core.progress.EpochProgress.update",
                        lambda self, e, r: interrupt_in_epoch_two(e))
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, epochs=3, batch_size=16, l2=0.5, verbose=False)
    for a, b in zip(model.get_weights(), weights):
        np.testing.assert_array_equal(a, b)
    assert float(backend.to_numpy(model.opt_state["t"])) == state_t and model.l2 == (0.0, 0.0)


def test_the_update_counter_is_an_integer_that_counts_past_2_to_the_24(backend, tiny_data):
    """As Keras's ``iterations``: a float32 counter would stay at 2**24 (16,777,216 + 1 is
    16,777,216 in float32), and the learning-rate decay with it."""
    x, y = tiny_data
    model = MLP([12, 8, 3], seed=0, backend=backend)
    opt = SGD(learning_rate=0.01, decay=1e-3)
    model.fit(x, y, epochs=1, batch_size=64, optimizer=opt, verbose=False)
    model.opt_state["t"] = backend.asarray(2**24, "int64")
    model.fit(x, y, epochs=1, batch_size=32, optimizer=opt, verbose=False)  # two updates
    t = backend.to_numpy(model.opt_state["t"])
    assert np.issubdtype(t.dtype, np.integer) and int(t) == 2**24 + 2


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning", "ignore:invalid:RuntimeWarning")
def test_divergence_as_an_error_still_keeps_the_last_good_weights(tiny_data):
    x, y = tiny_data
    model = MLP([12, 8, 3], seed=0)
    initial = model.get_weights()
    with warnings.catch_warnings():
        warnings.simplefilter("error", TrainingDiverged)
        with pytest.raises(TrainingDiverged):
            model.fit(x, y, epochs=2, batch_size=len(x), optimizer=SGD(learning_rate=1e300),
                      verbose=False)
    for kept, start in zip(model.get_weights(), initial):
        np.testing.assert_array_equal(kept, start)
