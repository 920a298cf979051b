"""The network learns real data, and the seed configuration runs on Fashion-MNIST."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlp_core import MLP, load_dataset

FASHION = Path("/usr/share/datasets/fashion-mnist")


def test_seed_network_learns_mnist(mnist_t10k):
    (x, y), (x_held, y_held) = mnist_t10k
    model = MLP([784, 70, 30, 10], seed=0)
    history = model.fit(x, y, epochs=5, batch_size=50, optimizer="rmsprop", verbose=False)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert model.score(x_held, y_held) >= 0.90


@pytest.mark.skipif(not FASHION.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_seed_configuration_one_epoch_on_fashion_mnist():
    ds = load_dataset("fashion-mnist")
    assert ds.x_train.shape == (60000, 784) and ds.x_test.shape == (10000, 784)
    assert ds.x_train.dtype == np.float32 and 0.0 <= ds.x_train.min() and ds.x_train.max() <= 1.0
    model = MLP([784, 70, 30, 10])
    history = model.fit(ds.x_train, ds.y_train, epochs=1, batch_size=500, optimizer="rmsprop",
                        l2=0.01, validation_data=(ds.x_test, ds.y_test), verbose=False)
    assert history.epochs == 1 and 0.0 < history.history["reg_loss"][0] < history.history["loss"][0]
    assert history.history["val_accuracy"][0] > 0.2  # well above chance (0.1) after one epoch
