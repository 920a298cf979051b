"""Modes agree and compile time is recorded apart (every backend with modes, from the registry);
the batch loop and floors on every backend; PyTorch's and JAX's own options and errors.

The shared tests (agreement with NumPy, gradients, kernels) run on every backend through the
registry too.
"""

from __future__ import annotations

import numpy as np
import pytest

from mlp_core import MLP, BackendUnavailable, MLPError, backends, get_backend
from mlp_core.bench.floor import measure_floor

from .helpers import make_backend


def fit_tiny(be, data, epochs=2):
    x, y = data  # 64 rows at batch 10: six full batches and a last one of 4
    model = MLP([12, 8, 3], seed=3, backend=be)
    history = model.fit(x, y, epochs=epochs, batch_size=10, optimizer="adam", l2=0.01,
                        verbose=False)
    return model, history


# (backend, its op-by-op mode, a mode that compiles): every pair the registry declares
MODE_CASES = [(e.name, "eager", m) for e in backends.REGISTRY.values() if "eager" in e.modes
              for m in e.modes if m != "eager"]
TIMED = [e.name for e in backends.REGISTRY.values() if e.benchmark]


@pytest.mark.parametrize("name,eager,compiled", MODE_CASES)
def test_modes_agree_and_compile_time_is_apart(name, eager, compiled, tiny_data):
    ref_model, ref = fit_tiny(make_backend(name, {"mode": eager}), tiny_data)
    model, hist = fit_tiny(make_backend(name, {"mode": compiled}), tiny_data)
    for a, b in zip(model.get_weights(), ref_model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert hist.info["mode"] == compiled and ref.info["mode"] == eager
    # compiling happens in the first epoch only, and is not counted as the batches' time
    assert hist.history["time_compile"][0] > 0 and hist.history["time_compile"][1] == 0
    assert all(t > 0 for t in hist.history["time_batches"])
    assert ref.history["time_compile"] == [0.0, 0.0]
    assert hist.history["time_epoch"][0] >= hist.history["time_compile"][0]  # included
    again = model.fit(*tiny_data, epochs=1, batch_size=10, optimizer="adam", l2=0.01,
                      verbose=False)
    assert again.history["time_compile"] == [0.0]  # same shapes: compiled once, reused


@pytest.mark.parametrize("n,batch_size", [(23, 5), (20, 5), (3, 5)])
@pytest.mark.parametrize("name", TIMED)
def test_epoch_loop_visits_every_batch_in_order(name, n, batch_size):
    """The backend's batch loop (JAX: a compiled loop, then the last batch) is the plain one."""
    be = make_backend(name, {})
    perm = np.random.default_rng(0).permutation(n)

    def body(carry, idx, scale):  # order-sensitive: a different batch order gives another value
        return carry * 3.0 + scale * be.xp.sum(be.xp.astype(idx, carry.dtype))

    want = 0.0
    for start in range(0, n, batch_size):
        want = want * 3.0 + 2.0 * perm[start:start + batch_size].sum()
    run = be.compile(lambda c, p: be.epoch_loop(body, c, p, batch_size, 2.0))
    got = run(be.asarray(0.0, "float32"), be.asarray(perm, "int64"))
    assert float(be.to_numpy(got)) == pytest.approx(want, rel=1e-6)


@pytest.mark.parametrize("name", TIMED)
def test_floor_runs(name):
    be = make_backend(name, {})
    assert 0 < measure_floor(be, [20, 8, 4], n=50, batch_size=16, dtype="float32", repeats=2) < 10


def test_torch_threads_and_gpu():
    torch = pytest.importorskip("torch")
    default = make_backend("torch", {}).describe()["intra_op_threads"]
    be = get_backend("torch", threads=1)
    try:
        assert be.describe()["intra_op_threads"] == torch.get_num_threads() == 1
    finally:
        be.set_threads(None)
    assert torch.get_num_threads() == default
    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is visible here")
    with pytest.raises(BackendUnavailable, match="no CUDA GPU visible"):
        get_backend("torch", device="gpu")


def test_jax_float64_threads_and_gpu():
    jax = pytest.importorskip("jax")
    was = jax.config.jax_enable_x64
    model = MLP([4, 3, 2], dtype="float64", backend=make_backend("jax", {}))
    history = model.fit(np.random.default_rng(0).random((20, 4)), np.arange(20) % 2, epochs=2,
                        batch_size=8, verbose=False)
    assert model.get_weights()[0].dtype == np.float64 and history.info["x64"] is True
    assert model.predict_proba(np.ones((3, 4))).dtype == np.float64
    # 64-bit mode was the model's alone: the user's other JAX code keeps JAX's own setting
    assert jax.config.jax_enable_x64 == was and jax.numpy.asarray(1.0).dtype == np.float32
    if not was:
        with pytest.raises(MLPError, match="64-bit mode"):
            model.backend.asarray(np.ones(2), "float64")
    with pytest.raises(MLPError, match="thread pool"):
        get_backend("jax", threads=2)
    try:
        jax.devices("gpu")
        pytest.skip("a GPU is visible to JAX here")
    except RuntimeError:
        pass
    with pytest.raises(BackendUnavailable, match="no GPU visible to JAX"):
        get_backend("jax", device="gpu")
