"""The model API: bad input gives clear errors, save/load round trips, divergence keeps weights."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlp_core import MLP, SGD, BackendUnavailable, MLPError, ModelFileError, TrainingDiverged


@pytest.fixture
def model():
    return MLP([12, 8, 3], seed=3)


@pytest.mark.parametrize("make_xy,message", [
    (lambda x, y: (x[:, :5], y), r"shape \(n_samples, 12\)"),
    (lambda x, y: (x[0], y), r"shape \(n_samples, 12\)"),
    (lambda x, y: (x.astype(str), y), "must be numeric"),
    (lambda x, y: (x, y.astype(np.float32)), "1-D array of integer class labels"),
    (lambda x, y: (x, y[:, None]), "1-D array of integer class labels"),
    (lambda x, y: (x, y[:-1]), "64 rows but y has 63 labels"),
    (lambda x, y: (x, np.where(y == 0, 3, y)), r"labels must lie in \[0, 3\)"),
    (lambda x, y: (x, np.where(y == 0, -1, y)), r"labels must lie in \[0, 3\)"),
    (lambda x, y: (np.where(x > 0.5, np.nan, x), y), "NaN or infinite"),
    (lambda x, y: (np.where(x > 0.5, np.inf, x), y), "NaN or infinite"),
    (lambda x, y: (x[:0], y[:0]), "is empty"),
])
def test_bad_training_data(model, tiny_data, make_xy, message):
    before = model.get_weights()
    with pytest.raises(MLPError, match=message):
        model.fit(*make_xy(*tiny_data), epochs=1, verbose=False)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)  # nothing changed


@pytest.mark.parametrize("kwargs,message", [
    ({"batch_size": 0}, "batch_size must be an integer >= 1"),
    ({"batch_size": -5}, "batch_size must be an integer >= 1"),
    ({"batch_size": 2.5}, "batch_size must be an integer >= 1"),
    ({"epochs": -1}, "epochs must be an integer >= 0"),
    ({"optimizer": "adagrad"}, "unknown optimizer 'adagrad'; valid: adam, rmsprop, sgd"),
    ({"l2": -0.1}, "l2 must be a number >= 0"),
    ({"learning_rate": 0.0}, r"learning_rate must be a finite number in \(0, inf\)"),
    ({"validation_data": (1, 2, 3)}, "validation_data must be a pair"),
])
def test_bad_fit_arguments(model, tiny_data, kwargs, message):
    with pytest.raises(MLPError, match=message):
        model.fit(*tiny_data, verbose=False, **kwargs)


@pytest.mark.parametrize("kwargs,message", [
    ({"activation": "swish"}, "unknown activation 'swish'; valid: identity, relu, sigmoid, tanh"),
    ({"output": "gelu"},
     "unknown output activation 'gelu'; valid: identity, relu, sigmoid, softmax, tanh"),
    ({"loss": "hinge"},
     "unknown loss 'hinge'; valid: binary_crossentropy, cce, cce-normalized, logloss, mse"),
    ({"loss": "cce", "output": "identity"}, "needs outputs in \\(0, 1\\)"),
    ({"init": "zeros"}, "unknown init 'zeros'; valid: sqrt_nodes, const, glorot, he"),
    ({"dtype": "float16"}, "unknown dtype 'float16'; valid: float32, float64"),
    ({"layers": [784]}, "at least two positive integers"),
    ({"layers": [784, 0, 10]}, "at least two positive integers"),
    ({"layers": [784, 2.5, 10]}, "at least two positive integers"),
])
def test_bad_model_arguments(kwargs, message):
    kwargs = {"layers": [4, 3], **kwargs}
    with pytest.raises(MLPError, match=message):
        MLP(**kwargs)


def test_fit_history_and_json(model, tiny_data, tmp_path):
    x, y = tiny_data
    history = model.fit(x, y, epochs=3, batch_size=10, validation_data=(x, y), eval_every=2,
                        eval_train=True, l2=0.01, verbose=False)
    h = history.history
    assert history.epochs == 3 and len(h["loss"]) == len(h["time_batches"]) == 3
    assert h["val_accuracy"][0] is None and h["val_accuracy"][1] is not None  # epochs 2 and 3
    assert h["train_accuracy_full"][2] is not None
    assert len(h["mean_abs_w"][0]) == 2 and all(v > 0 for v in h["mean_abs_w"][0])
    assert all(0 < reg < loss for reg, loss in zip(h["reg_loss"], h["loss"]))
    history.to_json(tmp_path / "h.json")
    saved = json.loads((tmp_path / "h.json").read_text())
    assert saved["history"]["loss"] == h["loss"] and saved["info"]["backend"] == "numpy"
    assert saved["info"]["fit"]["batch_size"] == 10


def test_batch_tracked_metrics_match_a_full_pass_without_updates(tiny_data):
    """With a learning rate too small to move the weights, batch-tracked and full-pass agree."""
    x, y = tiny_data
    model = MLP([12, 8, 3], seed=1, dtype="float64")
    h = model.fit(x, y, epochs=1, batch_size=7, optimizer=SGD(learning_rate=1e-300),
                  validation_data=(x, y), l2=0.01, verbose=False).history
    assert h["loss"][0] == pytest.approx(h["val_loss"][0], rel=1e-12)
    assert h["accuracy"][0] == pytest.approx(h["val_accuracy"][0])


def test_predict_and_evaluate(backend, tiny_data, monkeypatch):
    x, y = tiny_data
    model = MLP([12, 8, 3], seed=3, backend=backend)
    proba = model.predict_proba(x)
    assert proba.shape == (64, 3) and ((proba > 0) & (proba < 1)).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)  # cce: softmax of the logits
    np.testing.assert_array_equal(model.predict(x), proba.argmax(axis=1))
    outputs = model.outputs(x)  # the sigmoid outputs themselves
    assert outputs.shape == (64, 3) and not np.allclose(outputs.sum(axis=1), 1.0)
    np.testing.assert_array_equal(outputs.argmax(axis=1), proba.argmax(axis=1))
    result = model.evaluate(x, y)
    assert result["accuracy"] == pytest.approx(np.mean(model.predict(x) == y))
    # in chunks of 10 rows (64 = 6 * 10 + 4): the same outputs, loss and accuracy
    monkeypatch.setattr("mlp_core.model.EVAL_CHUNK", 10)
    monkeypatch.setattr("mlp_core.training.EVAL_CHUNK", 10)
    np.testing.assert_allclose(model.predict_proba(x), proba, rtol=1e-6)
    chunked = model.evaluate(x, y)
    assert chunked["accuracy"] == result["accuracy"]
    assert chunked["loss"] == pytest.approx(result["loss"], rel=1e-6)


def test_save_load_round_trip(backend, tiny_data, tmp_path):
    x, y = tiny_data
    model = MLP([12, 8, 3], seed=3, backend=backend)
    model.fit(x, y, epochs=2, batch_size=16, l2=[0.01, 0.0], reduction="sum", verbose=False)
    model.save(tmp_path / "m.npz")
    loaded = MLP.load(tmp_path / "m.npz", backend=backend)
    assert loaded.config() == model.config() and loaded.l2 == (0.01, 0.0)
    assert loaded.reduction == "sum" and loaded.backend is backend
    np.testing.assert_array_equal(loaded.predict_proba(x), model.predict_proba(x))
    assert loaded.evaluate(x, y) == model.evaluate(x, y)
    assert not [p for p in tmp_path.iterdir() if p.name != "m.npz"]  # no temporary left over


def test_training_leaves_the_callers_weights_alone(model, tiny_data):
    weights = model.get_weights()
    kept = [w.copy() for w in weights]
    other = MLP([12, 8, 3], seed=9)
    other.set_weights(weights)
    other.fit(*tiny_data, epochs=1, verbose=False)
    for w, k in zip(weights, kept):
        np.testing.assert_array_equal(w, k)
    with pytest.raises(MLPError, match="set_weights needs 4 numeric arrays"):
        other.set_weights(weights[:2])


def test_load_rejects_other_files(tmp_path, model):
    with pytest.raises(ModelFileError, match="no such file"):
        MLP.load(tmp_path / "missing.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ModelFileError, match="not an mlp-core model file"):
        MLP.load(tmp_path / "text.npz")
    np.savez(tmp_path / "other.npz", weights=np.zeros(3))
    with pytest.raises(ModelFileError, match="not an mlp-core model file"):
        MLP.load(tmp_path / "other.npz")
    model.save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz") as f:
        arrays = dict(f)
    meta = json.loads(str(arrays["meta"]))
    meta["version"] = 99
    np.savez(tmp_path / "future.npz", **{**arrays, "meta": np.array(json.dumps(meta))})
    with pytest.raises(ModelFileError, match="version 99 is not supported"):
        MLP.load(tmp_path / "future.npz")
    meta["version"], meta["config"]["layers"] = 1, [12, 9, 3]
    np.savez(tmp_path / "arch.npz", **{**arrays, "meta": np.array(json.dumps(meta))})
    with pytest.raises(ModelFileError, match=r"do not match the architecture \[12, 9, 3\]"):
        MLP.load(tmp_path / "arch.npz")


def test_failed_save_leaves_existing_file_intact(model, tmp_path, monkeypatch):
    target = tmp_path / "m.npz"
    target.write_bytes(b"previous contents")
    import mlp_core.fileio as fileio

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(fileio.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        model.save(target)
    assert target.read_bytes() == b"previous contents"
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]


def test_unwritable_path_is_a_clear_error(model, tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(MLPError, match="cannot write"):
        model.save(tmp_path / "file" / "m.npz")  # a file where a folder should be


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning", "ignore:invalid:RuntimeWarning")
def test_divergence_stops_and_keeps_last_good_weights(backend, tiny_data):
    x, y = tiny_data

    def run(epochs):
        model = MLP([12, 8, 3], seed=0, loss="mse", output="identity", activation="identity",
                    backend=backend)
        return model, model.fit(x * 1e3, y, epochs=epochs, batch_size=64,
                                optimizer=SGD(learning_rate=10.0), verbose=False)

    with pytest.warns(TrainingDiverged, match="stopped and kept the weights"):
        model, history = run(50)
    assert history.stop_reason and 0 < history.epochs < 50
    assert np.isfinite(history.history["loss"]).all()
    # the weights kept are those at the end of the last epoch with a finite loss
    reference, _ = run(history.epochs)
    for kept, want in zip(model.get_weights(), reference.get_weights()):
        assert np.isfinite(kept).all()
        np.testing.assert_allclose(kept, want, rtol=1e-6)


def test_loading_a_mixed_model_where_bfloat16_is_missing_says_how(tmp_path):
    pytest.importorskip("torch")
    model = MLP([4, 3, 2], dtype="mixed_bfloat16", backend="torch")
    model.save(tmp_path / "m.npz")
    with pytest.raises(BackendUnavailable, match='dtype="float32"'):
        MLP.load(tmp_path / "m.npz", backend="numpy")
    assert MLP.load(tmp_path / "m.npz", backend="numpy", dtype="float32").dtype == "float32"
