"""Every backend, from the same seed and batches, ends an epoch with the NumPy backend's weights."""

from __future__ import annotations

import numpy as np
import pytest

from mlp_core import MLP, SGD, Adam, RMSprop

from .helpers import make_backend

OPTIMIZERS = {"sgd-momentum": lambda: SGD(learning_rate=0.1, momentum=0.9, decay=1e-3),
              "rmsprop": RMSprop, "adam": Adam}
TOLERANCE = {"float32": dict(rtol=1e-4, atol=1e-5), "float64": dict(rtol=1e-10, atol=1e-10)}


def one_epoch(backend, data, optimizer, dtype):
    (x, y), _ = data
    model = MLP([784, 70, 30, 10], seed=7, dtype=dtype, backend=backend)
    history = model.fit(x[:4000], y[:4000], epochs=1, batch_size=300, optimizer=optimizer(),
                        l2=0.01, verbose=False)  # 300 does not divide 4000: a smaller last batch
    return model.get_weights(), history


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("opt", sorted(OPTIMIZERS))
def test_one_epoch_agrees_with_numpy(backend, mnist_t10k, opt, dtype):
    reference, ref_hist = one_epoch(make_backend("numpy", {}), mnist_t10k, OPTIMIZERS[opt], dtype)
    weights, hist = one_epoch(backend, mnist_t10k, OPTIMIZERS[opt], dtype)
    for got, want in zip(weights, reference):
        assert got.dtype == np.dtype(dtype)
        np.testing.assert_allclose(got, want, **TOLERANCE[dtype])
    np.testing.assert_allclose(hist.history["loss"], ref_hist.history["loss"], rtol=1e-4)
    assert hist.history["accuracy"] == pytest.approx(ref_hist.history["accuracy"], abs=1e-3)


def test_tensorflow_eager_and_compiled_agree(mnist_t10k):
    eager = one_epoch(make_backend("tensorflow", {"mode": "eager"}), mnist_t10k, RMSprop, "float32")
    compiled = one_epoch(make_backend("tensorflow", {"mode": "compiled"}), mnist_t10k, RMSprop,
                         "float32")
    assert eager[1].info["mode"] == "eager" and compiled[1].info["mode"] == "compiled"
    for a, b in zip(eager[0], compiled[0]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_tensorflow_xla_agrees_with_compiled(mnist_t10k):
    """XLA runs batches of a static size (the full ones in a loop, then the smaller last one)."""
    xla = one_epoch(make_backend("tensorflow", {"mode": "compiled", "jit_compile": True}),
                    mnist_t10k, RMSprop, "float32")
    compiled = one_epoch(make_backend("tensorflow", {"mode": "compiled"}), mnist_t10k, RMSprop,
                         "float32")
    assert xla[1].info["jit_compile"] and not compiled[1].info["jit_compile"]
    for a, b in zip(xla[0], compiled[0]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert xla[1].history["accuracy"] == pytest.approx(compiled[1].history["accuracy"], abs=1e-3)
