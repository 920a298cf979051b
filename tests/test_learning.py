"""The network learns real data, and both presets of the seed article train end to end."""

from __future__ import annotations

import numpy as np
import pytest

from mlp_core import MLP, get_preset


def test_seed_network_learns_mnist(mnist_t10k):
    (x, y), (x_held, y_held) = mnist_t10k
    model = MLP([784, 70, 30, 10], seed=0)
    history = model.fit(x, y, epochs=5, batch_size=50, optimizer="rmsprop", verbose=False)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert model.score(x_held, y_held) >= 0.90


def test_seed_keras_preset_regularises_the_hidden_kernels_only(mnist_t10k):
    (x, y), (x_held, y_held) = mnist_t10k
    preset = get_preset("seed-keras")
    model = MLP.from_preset("seed-keras")
    history = preset.fit(model, x, y, epochs=10, verbose=False)
    assert history.info["fit"]["l2"] == [0.01, 0.01, 0.0]
    assert history.info["fit"]["optimizer"]["name"] == "rmsprop"
    assert 0.0 < history.history["reg_loss"][-1] < history.history["loss"][-1]
    assert model.score(x_held, y_held) > 0.5


def test_seed_myann_preset_records_full_set_accuracy_every_epoch(mnist_t10k):
    (x, y), _ = mnist_t10k
    preset = get_preset("seed-myann")
    model = MLP.from_preset("seed-myann")
    assert model.loss.name == "logloss" and model.init == "sqrt_nodes" and model.init_scale == 2.0
    x_std = (x - x.mean(axis=0)) / np.where(x.std(axis=0) > 0, x.std(axis=0), 1.0)
    history = preset.fit(model, x_std.astype(np.float32), y, epochs=3, verbose=False)
    fit = history.info["fit"]
    assert fit["reduction"] == "sum" and fit["optimizer"]["name"] == "sgd"
    assert fit["optimizer"]["momentum"] == pytest.approx(5e-5) and fit["l2"] == [0.005] * 3
    full = history.history["train_accuracy_full"]
    assert len(full) == 3 and all(a is not None for a in full) and full[-1] > 0.5
