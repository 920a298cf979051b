"""TensorFlow: the namespace op by op against NumPy, one trace per fit, threads, GPU, Keras."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from mlp_core import MLP, BackendUnavailable, get_backend

tf = pytest.importorskip("tensorflow", reason="TensorFlow is not installed (the tensorflow extra)")
from mlp_core.backends import tf_namespace as tnp  # noqa: E402

RNG = np.random.default_rng(0)
A = RNG.normal(size=(4, 5)).astype(np.float32)
B = RNG.normal(size=(5, 3)).astype(np.float32)
POS = np.abs(A) + 0.1

UNARY = [("abs", A), ("exp", A), ("log", POS), ("log1p", POS), ("sqrt", POS), ("tanh", A),
         ("sign", A)]


DTYPES = {"float32": (np.float32, 1e-6), "float64": (np.float64, 1e-13)}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,x", UNARY, ids=[u[0] for u in UNARY])
def test_elementwise(name, x, dtype):
    np_dtype, rtol = DTYPES[dtype]
    x = x.astype(np_dtype)
    got = getattr(tnp, name)(tf.constant(x))
    want = getattr(np, name)(x)
    assert got.dtype == getattr(tf, dtype) and got.shape == want.shape
    np.testing.assert_allclose(got.numpy(), want, rtol=rtol)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["sum", "mean", "max"])
@pytest.mark.parametrize("axis,keepdims", [(None, False), (0, False), (1, True)])
def test_reductions(name, axis, keepdims, dtype):
    np_dtype, rtol = DTYPES[dtype]
    a = A.astype(np_dtype)
    got = getattr(tnp, name)(tf.constant(a), axis=axis, keepdims=keepdims)
    want = getattr(np, name)(a, axis=axis, keepdims=keepdims)
    assert got.shape == want.shape and got.dtype == getattr(tf, dtype)
    np.testing.assert_allclose(got.numpy(), want, rtol=rtol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_clip_keeps_its_bounds_in_the_arrays_dtype(dtype):
    """float64 bounds must not round through float32 (1 - 1e-7 -> 0.99999988...)."""
    np_dtype, _ = DTYPES[dtype]
    x = np.array([0.0, 0.5, 1.0], np_dtype)
    got = tnp.clip(tf.constant(x), min=1e-7, max=1.0 - 1e-7).numpy()
    np.testing.assert_array_equal(got, np.clip(x, np_dtype(1e-7), np_dtype(1.0 - 1e-7)))



def test_argmax_equal_where_clip_zeros_like_astype():
    t = tf.constant(A)
    np.testing.assert_array_equal(tnp.argmax(t, axis=1).numpy(), A.argmax(axis=1))
    assert tnp.argmax(t, axis=1).dtype == tnp.int64
    np.testing.assert_array_equal(tnp.argmax(t, axis=1, keepdims=True).numpy(),
                                  A.argmax(axis=1)[:, None])
    np.testing.assert_array_equal(tnp.equal(t, t).numpy(), np.ones_like(A, bool))
    np.testing.assert_array_equal(tnp.where(t > 0, t, tnp.zeros_like(t)).numpy(),
                                  np.where(A > 0, A, 0))
    np.testing.assert_array_equal(tnp.clip(t, min=-0.5, max=0.5).numpy(), np.clip(A, -0.5, 0.5))
    assert tnp.zeros_like(t).dtype == tf.float32 and tnp.zeros_like(t).shape == A.shape
    assert tnp.astype(t, tnp.float64).dtype == tf.float64


def test_matmul_transpose_take_asarray():
    np.testing.assert_allclose(tnp.matmul(tf.constant(A), tf.constant(B)).numpy(), A @ B, rtol=1e-5)
    np.testing.assert_array_equal(tnp.matrix_transpose(tf.constant(A)).numpy(), A.T)
    idx = np.array([3, 0, 0, 2])
    np.testing.assert_array_equal(tnp.take(tf.constant(A), tf.constant(idx), axis=0).numpy(),
                                  A[idx])
    assert tnp.asarray(A, dtype=tnp.float64).dtype == tf.float64
    t = tf.constant(A)
    assert tnp.asarray(t) is t and tnp.asarray(t, copy=True) is not t


def test_backend_matmul_uses_transpose_flags_without_copies():
    be = get_backend("tensorflow")
    a, b = be.asarray(A), be.asarray(B.T.copy())
    np.testing.assert_allclose(be.to_numpy(be.matmul(a, b, transpose_b=True)), A @ B, rtol=1e-5)
    np.testing.assert_allclose(be.to_numpy(be.matmul(a, a, transpose_a=True)), A.T @ A, rtol=1e-5)


def test_compiled_step_is_traced_once(tiny_data):
    x, y = tiny_data
    be = get_backend("tensorflow", mode="compiled")
    traced = []
    real_compile = be.compile

    def spy(fn):
        run = real_compile(fn)
        traced.append(run.fn)
        return run

    be.compile = spy
    try:
        # 64 rows = 6 * 10 + 4
        MLP([12, 8, 3], backend=be).fit(x, y, epochs=3, batch_size=10, verbose=False)
    finally:
        del be.compile
    assert traced[0].experimental_get_tracing_count() == 1


def test_gpu_request_without_gpu_is_unavailable():
    if tf.config.list_physical_devices("GPU"):
        pytest.skip("a GPU is visible here")
    with pytest.raises(BackendUnavailable, match="no GPU visible"):
        get_backend("tensorflow", device="gpu")


def test_threads_after_start_are_an_error_not_ignored():
    code = ("import tensorflow as tf; from mlp_core import get_backend, MLPError\n"
            "be = get_backend('tensorflow', threads=1); be.asarray([1.0])\n"
            "print(be.describe()['intra_op_threads'])\n"
            "try:\n    get_backend('tensorflow', threads=2)\n"
            "except MLPError as e:\n    print('error:', e)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    lines = out.stdout.strip().splitlines()
    assert lines[0] == "1", out.stderr
    assert lines[1].startswith("error: TensorFlow thread counts can only be set before")


def test_reproduces_the_articles_keras_model(mnist_t10k):
    """Same initial weights, same batches: our seed-keras step is the article's Keras model's step
    (L2 0.01 on the two hidden kernels only, none on the output layer)."""
    keras = pytest.importorskip("keras")
    from mlp_core import get_preset

    (x, y), _ = mnist_t10k
    x, y = x[:2000], y[:2000]
    ours = MLP.from_preset("seed-keras", seed=5)
    reg = keras.regularizers.l2(0.01)
    ref = keras.Sequential([keras.Input((784,)),
                            keras.layers.Dense(70, activation="sigmoid", kernel_regularizer=reg),
                            keras.layers.Dense(30, activation="sigmoid", kernel_regularizer=reg),
                            keras.layers.Dense(10, activation="sigmoid")])
    ref.compile(optimizer=keras.optimizers.RMSprop(), loss="categorical_crossentropy",
                metrics=["accuracy"])
    ref.set_weights(ours.get_weights())
    keras_hist = ref.fit(x, np.eye(10)[y], epochs=2, batch_size=250, shuffle=False, verbose=0)
    hist = get_preset("seed-keras").fit(ours, x, y, epochs=2, batch_size=250, shuffle=False,
                                        verbose=False)
    assert hist.info["fit"]["l2"] == [0.01, 0.01, 0.0]
    for got, want in zip(ours.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(hist.history["loss"], keras_hist.history["loss"], rtol=1e-4)
    np.testing.assert_allclose(hist.history["accuracy"], keras_hist.history["accuracy"], atol=2e-3)
