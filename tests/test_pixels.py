"""Resident uint8 images: every backend scales each batch to the bits of the float32 path."""

from __future__ import annotations

import numpy as np
import pytest

from mlp_core import MLP, Pixels, backends, load_dataset
from mlp_core.activations import get_activation
from mlp_core.errors import MLPError
from mlp_core.losses import get_loss
from mlp_core.network import Network
from mlp_core.pixels import slice_rows, take_rows, to_device
from mlp_core.scalers import Divide255

from .helpers import write_idx_dataset


def every_value(rows: int = 64) -> np.ndarray:
    """uint8 rows holding each of the 256 values, shuffled."""
    values = np.resize(np.arange(256, dtype=np.uint8), rows * 32)
    return np.random.default_rng(3).permutation(values).reshape(rows, 32)


def bits(a) -> np.ndarray:
    a = np.asarray(a)
    return a.view(np.uint32 if a.dtype == np.float32 else np.uint64)


def test_the_host_array_is_the_divide255_scaler():
    raw = every_value()
    assert np.array_equal(bits(np.asarray(Pixels(raw))), bits(Divide255().transform(raw)))


def test_batches_are_bit_identical_to_the_float32_path(backend):
    raw = every_value()
    scaled = Divide255().transform(raw)  # today's path: the whole array scaled on the host
    x_dev, weights = to_device(backend, Pixels(raw), "float32"), backend.asarray(scaled[0])
    idx = backend.asarray(np.random.default_rng(4).permutation(raw.shape[0])[:40], "int64")
    sigmoid = get_activation("sigmoid", output=True)
    net = Network((sigmoid,), get_loss("mse", sigmoid))
    got = backend.to_numpy(take_rows(backend, x_dev, idx, net, weights))
    assert np.array_equal(bits(got), bits(scaled[backend.to_numpy(idx)]))
    got = backend.to_numpy(slice_rows(backend, x_dev, slice(5, 50), net, weights))
    assert np.array_equal(bits(got), bits(scaled[5:50]))
    if not backends.REGISTRY[backend.name].bfloat16:
        return
    # mixed_bfloat16: pixels go straight to the products' dtype, as if the batch were rounded
    mixed = Network((sigmoid,), get_loss("mse", sigmoid), compute="bfloat16")
    got = take_rows(backend, x_dev, idx, mixed, weights)
    want = backend.cast(take_rows(backend, x_dev, idx, net, weights), "bfloat16")
    assert np.array_equal(backend.to_numpy(backend.cast(got, "float32")),
                          backend.to_numpy(backend.cast(want, "float32")))


@pytest.mark.parametrize("dtype", ["float32", "float64", "mixed_bfloat16"])
def test_training_on_pixels_is_bit_identical(backend, dtype):
    """Through the whole (compiled, where the backend compiles) epoch and the evaluation; under
    mixed_bfloat16 the pixels go straight to bfloat16, the array is rounded in the forward pass."""
    if dtype == "mixed_bfloat16" and not backends.REGISTRY[backend.name].bfloat16:
        pytest.skip(f"{backend.name} has no bfloat16 products (its refusal: test_precision)")
    raw = np.random.default_rng(5).integers(0, 256, (600, 64), dtype=np.uint8)
    raw[:4] = np.arange(256, dtype=np.uint8).reshape(4, 64)  # every value at least once
    y = np.random.default_rng(6).integers(0, 4, 600)
    results = []
    for x in (Pixels(raw), Divide255().transform(raw)):
        model = MLP([64, 16, 4], seed=2, dtype=dtype, backend=backend)
        history = model.fit(x, y, epochs=2, batch_size=128, validation_data=(x[:100], y[:100]),
                            verbose=False)
        results.append((model.get_weights(), history.history, model.predict_proba(x[:50])))
    (w_pix, h_pix, p_pix), (w_f32, h_f32, p_f32) = results
    assert all(np.array_equal(a, b) for a, b in zip(w_pix, w_f32))
    assert h_pix["loss"] == h_f32["loss"] and h_pix["val_accuracy"] == h_f32["val_accuracy"]
    assert np.array_equal(p_pix, p_f32)


def test_load_dataset_keeps_the_pixels_4x_smaller(tmp_path):
    write_idx_dataset(tmp_path / "mnist", n_train=30, n_test=10)
    floats = load_dataset("mnist", tmp_path / "mnist", download_ok=False)
    pixels = load_dataset("mnist", tmp_path / "mnist", download_ok=False, as_pixels=True)
    assert isinstance(pixels.x_train, Pixels) and isinstance(pixels.x_test, Pixels)
    assert pixels.x_train.nbytes * 4 == floats.x_train.nbytes
    assert np.array_equal(bits(np.asarray(pixels.x_train)), bits(floats.x_train))
    assert np.array_equal(pixels.y_train, floats.y_train)
    # another scaler needs the whole array: as_pixels changes nothing there
    standard = load_dataset("mnist", tmp_path / "mnist", "standard", download_ok=False,
                            as_pixels=True)
    assert isinstance(standard.x_train, np.ndarray) and standard.x_train.dtype == np.float32


def test_pixels_behave_like_rows_and_refuse_what_they_cannot_hold():
    p = Pixels(every_value())
    assert p.shape == (64, 32) and len(p) == 64 and p.dtype == np.float32
    assert isinstance(p[3:9], Pixels) and p[3:9].shape == (6, 32)
    assert np.array_equal(np.asarray(p[[1, 3]]), np.asarray(p)[[1, 3]])
    with pytest.raises(MLPError, match="uint8"):
        Pixels(np.zeros((2, 3), np.float32))
    with pytest.raises(MLPError, match="2-D"):
        Pixels(np.zeros(3, np.uint8))
    with pytest.raises(MLPError, match="rows only"):
        p[0]
    with pytest.raises(MLPError, match=r"shape \(n_samples, 10\)"):
        MLP([10, 3]).fit(p, np.zeros(64, int), verbose=False)
