"""The mixed_bfloat16 policy: products in bfloat16, everything else float32.

Agreement with NumPy float64 (the contract's reference) is checked against a stated bfloat16
tolerance: the largest weight deviation after one epoch, relative to the largest weight, stays
within ``BF16_TOLERANCE`` = 2**-7, two of bfloat16's rounding units (2**-8; measured: 4e-4 to
2.2e-3 on every CPU backend). It must also exceed float32's level (``ROUNDED``), which proves the
products did run in bfloat16. A backend without bfloat16 products refuses the policy instead.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from mlp_core import MLP, backends
from mlp_core.errors import BackendUnavailable, MLPError

from .test_agreement import OPTIMIZERS, one_epoch

BF16_TOLERANCE = 2.0**-7
ROUNDED = 1e-5  # float32 runs deviate by <= 5e-7


def relative_deviation(weights, reference) -> float:
    return max(float(np.max(np.abs(w - r))) for w, r in zip(weights, reference)) / max(
        float(np.max(np.abs(r))) for r in reference)


def has_bfloat16(backend) -> bool:
    return backends.REGISTRY[backend.name].bfloat16


@pytest.mark.parametrize("opt", sorted(OPTIMIZERS))
def test_mixed_bfloat16_agrees_with_numpy_float64(backend, mnist_t10k, opt):
    if not has_bfloat16(backend):
        with pytest.raises(MLPError, match="no bfloat16 matrix products"):
            one_epoch(backend, mnist_t10k, OPTIMIZERS[opt], "mixed_bfloat16")
        return
    reference, ref_hist = one_epoch("numpy", mnist_t10k, OPTIMIZERS[opt], "float64")
    weights, hist = one_epoch(backend, mnist_t10k, OPTIMIZERS[opt], "mixed_bfloat16")
    assert all(w.dtype == np.float32 for w in weights)  # the weights stay float32
    assert ROUNDED < relative_deviation(weights, reference) <= BF16_TOLERANCE
    np.testing.assert_allclose(hist.history["loss"], ref_hist.history["loss"], rtol=1e-2)
    assert hist.info["model"]["dtype"] == "mixed_bfloat16"


def test_a_backend_without_bfloat16_is_one_clear_error_naming_those_with_it():
    having = [e.name for e in backends.REGISTRY.values() if e.bfloat16]
    assert having and "numpy" not in having
    with pytest.raises(MLPError) as err:
        MLP([4, 3], dtype="mixed_bfloat16", backend="numpy")
    message = str(err.value)
    assert "'numpy'" in message and all(name in message for name in having)
    assert "\n" not in message


def test_the_command_line_refuses_it_before_reading_data(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "mlp_core", "train", "--backend", "numpy", "--dtype",
         "mixed_bfloat16", "--dataset", "mnist", "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and "no bfloat16 matrix products" in run.stderr
    assert run.stdout == ""


def test_state_and_saved_models_are_float32(backend, tmp_path, tiny_data):
    if not has_bfloat16(backend):
        pytest.skip(f"{backend.name} has no bfloat16 products (refusal tested above)")
    x, y = tiny_data
    model = MLP([12, 8, 3], dtype="mixed_bfloat16", backend=backend)
    model.fit(x, y, epochs=2, batch_size=16, optimizer="adam", verbose=False)
    state = [backend.to_numpy(a) for a in model.opt_state["m"] + model.opt_state["v"]]
    assert all(a.dtype == np.float32 for a in state + model.get_weights())
    model.save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz") as stored:
        assert all(stored[k].dtype == np.float32 for k in stored.files if k.startswith("param_"))
    loaded = MLP.load(tmp_path / "m.npz", backend=backend)
    assert loaded.dtype == "mixed_bfloat16"
    assert np.array_equal(loaded.predict_proba(x), model.predict_proba(x))
    # on numpy: refused as the backend's limit (not a damaged file), or loaded as float32
    with pytest.raises(BackendUnavailable, match="no bfloat16 matrix products"):
        MLP.load(tmp_path / "m.npz", backend="numpy")
    as_float32 = MLP.load(tmp_path / "m.npz", backend="numpy", dtype="float32")
    assert all(np.array_equal(a, b) for a, b in zip(as_float32.get_weights(),
                                                    model.get_weights()))
    with pytest.raises(MLPError, match="unknown dtype 'bf16'"):
        MLP.load(tmp_path / "m.npz", backend="numpy", dtype="bf16")
