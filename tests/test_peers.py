"""The peers: each library's own idiom trains the bench's model, and every row of ours is
compared with its library's idiom and with Keras on its library."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from mlp_core import MLPError, backends
from mlp_core.bench.config import BenchConfig
from mlp_core.bench.impls import PEERS, keras_on_same_library, own_idiom, parse_impl
from mlp_core.bench.runner import make_plan, run_benchmark
from mlp_core.bench.summary import summarize
from mlp_core.idx import read_idx

from .helpers import MNIST_T10K, idx_bytes, measured


@pytest.fixture(scope="module")
def real_digits(tmp_path_factory):
    """The shipped MNIST test split as a dataset folder: 8,000 training rows, 2,000 test rows
    (real digits, so that accuracy says whether a peer trained the same model)."""
    x = read_idx(MNIST_T10K / "t10k-images-idx3-ubyte.gz")
    y = read_idx(MNIST_T10K / "t10k-labels-idx1-ubyte.gz")
    folder = tmp_path_factory.mktemp("digits")
    for stem, a in {"train-images-idx3-ubyte": x[:8000], "train-labels-idx1-ubyte": y[:8000],
                    "t10k-images-idx3-ubyte": x[8000:], "t10k-labels-idx1-ubyte": y[8000:]}.items():
        (folder / f"{stem}.gz").write_bytes(gzip.compress(idx_bytes(np.ascontiguousarray(a))))
    return folder


def _config(folder, impls, **kw) -> BenchConfig:
    # a softmax output: Keras on JAX and PyTorch computes the cross-entropy of a sigmoid output
    # otherwise than on TensorFlow (docs/peers.md); of a softmax, every library agrees
    kw = {"epochs": 4, "batch_sizes": [50], **kw}
    return BenchConfig(dataset="mnist", data_dir=str(folder), impls=impls, repeats=1,
                       floor=False, output="softmax", **kw)


#: where a peer's update differs from ours, the configuration in which it is ours exactly:
#: scikit-learn has Adam alone and puts its L2 on every layer; torch's RMSprop adds its epsilon
#: outside the square root (docs/peers.md), while its Adam, like ours and Keras's, does too
LIKE_FOR_LIKE = {"sklearn": {"optimizer": "adam", "l2": 0.0},
                 "torch-native": {"optimizer": "adam"},
                 "torch-native-compiled": {"optimizer": "adam"}}

#: full-batch training: no peer's shuffling changes its gradients, so the same model from the same
#: weights trains to the same accuracy, up to the order of floating-point sums
FULL_BATCH = {"batch_sizes": [8000], "epochs": 30, "learning_rate": 0.003}


def _accuracy(folder, impl, out, **kw) -> float:
    rows, skipped = run_benchmark(_config(folder, [impl], **kw), out)
    assert not skipped
    (row,) = measured(rows)
    assert row["status"] == "ok", row.get("error")
    assert row["epochs_run"] == kw.get("epochs", 4) and row["fit_time"] > 0
    assert row["dtype"] == "float32"
    assert row["impl"] == impl and row["library"] == backends.entry(parse_impl(impl).backend).floor
    return row["test_accuracy"]


@pytest.mark.parametrize("peer", list(PEERS))
def test_each_peer_trains_the_benchs_model(peer, real_digits, tmp_path):
    """From the same initial weights and rows, each peer trains the model of ours: the same
    accuracy to within 10 of the 2,000 test digits (0.001 was the largest gap measured)."""
    spec = parse_impl(peer)
    if spec.missing():
        pytest.skip(f"{peer}: {', '.join(spec.missing())} not installed")
    options = {**FULL_BATCH, **LIKE_FOR_LIKE.get(peer, {})}
    ours = _accuracy(real_digits, "numpy", tmp_path / "ours", **options)
    theirs = _accuracy(real_digits, peer, tmp_path / "peer", **options)
    assert ours > 0.5  # it learned (chance: 0.1)
    assert abs(theirs - ours) <= 0.005, (theirs, ours)


@pytest.mark.parametrize("peer", ["torch-native", "jax-native", "keras-jax"])
def test_peers_time_steps_and_train_mixed_bfloat16(peer, real_digits, tmp_path):
    spec = parse_impl(peer)
    if spec.missing():
        pytest.skip(f"{peer}: {', '.join(spec.missing())} not installed")
    cfg = _config(real_digits, [peer + "+mixed_bfloat16"], steps=5)
    rows, _ = run_benchmark(cfg, tmp_path)
    (row,) = measured(rows)
    assert row["status"] == "ok", row.get("error")
    assert row["dtype"] == "mixed_bfloat16" and row["steps"] == 5 and row["step_time"] > 0
    assert row["step_time"] * 5 <= row["fit_time"]


def test_every_benchmarked_library_has_its_idiom_and_its_keras():
    for variant, entry in backends.variants():
        if not entry.benchmark or entry.name == "cupy":  # (CuPy: no idiom of its own yet)
            continue
        idiom = own_idiom(variant.name)
        assert idiom in PEERS and PEERS[idiom].backend == entry.name, variant.name
        if entry.keras:
            assert PEERS[keras_on_same_library(variant.name)].keras_backend == entry.keras
    assert own_idiom("torch") == "torch-native" and own_idiom("tensorflow") == "keras"
    assert keras_on_same_library("torch-compiled") == "keras-torch"
    assert own_idiom("keras") is None and keras_on_same_library("sklearn") is None


def test_every_row_of_ours_is_compared_with_its_librarys_idiom_and_keras():
    def row(impl, library, t, r, dtype="float32"):
        return {"status": "ok", "impl": impl, "batch_size": 10, "repeat": r, "fit_time": t,
                "time_per_epoch": t, "library": library, "dtype": dtype, "test_accuracy": None}

    rows = [row(i, lib, t, r, d) for i, lib, t, d in [
        ("torch", "torch", 2.0, "float32"), ("torch-native", "torch", 4.0, "float32"),
        ("keras-torch", "torch", 8.0, "float32"), ("keras", "tensorflow", 5.0, "float32"),
        ("torch+mixed_bfloat16", "torch", 1.0, "mixed_bfloat16"),
        ("torch-native+mixed_bfloat16", "torch", 4.0, "mixed_bfloat16"),
        ("numpy", "numpy", 3.0, "float32"), ("sklearn", "numpy", 6.0, "float32")]
        for r in range(6)]
    s = {x["impl"]: x for x in summarize(rows)}
    assert s["torch"]["vs_own_library"] == pytest.approx(0.5)
    assert s["torch"]["vs_keras_same_library"] == pytest.approx(0.25)
    assert s["torch"]["vs_keras"] == pytest.approx(0.4)
    assert s["torch+mixed_bfloat16"]["vs_own_library"] == pytest.approx(0.25)  # like for like
    assert s["torch+mixed_bfloat16"]["vs_keras_same_library"] is None  # no bfloat16 Keras ran
    assert s["numpy"]["vs_own_library"] == pytest.approx(0.5)
    assert s["numpy"]["vs_keras_same_library"] is None
    for peer in ("torch-native", "keras-torch", "sklearn"):  # a peer has no idiom of its own
        assert s[peer]["vs_own_library"] is None and s[peer]["vs_keras_same_library"] is None
    low, high = s["torch"]["vs_own_library_ci_low"], s["torch"]["vs_own_library_ci_high"]
    assert low <= 0.5 <= high


def test_a_peer_that_cannot_train_the_configuration_is_skipped_with_the_reason():
    plan = make_plan(BenchConfig(impls=["numpy", "sklearn", "torch-native"], batch_sizes=[10],
                                 loss="mse", repeats=1))
    assert "sklearn cannot match loss mse" in plan.skipped["sklearn"]
    assert "torch-native" not in plan.skipped or "not installed" in plan.skipped["torch-native"]
    plan = make_plan(BenchConfig(impls=["sklearn", "keras-jax"], batch_sizes=[10], momentum=0.9,
                                 optimizer="sgd", repeats=1))
    assert all("cannot match SGD momentum" in why for why in plan.skipped.values())


@pytest.mark.parametrize("spec,message", [
    ("sklearn+mixed_bfloat16", "sklearn has no bfloat16 products"),
    ("torch-native+input-delta", "torch-native computes no input-layer delta"),
    ("jax-natve", "unknown implementation 'jax-natve'"),
])
def test_bad_peer_specs(spec, message):
    with pytest.raises(MLPError, match=message):
        parse_impl(spec)


def test_keras_on_two_backends_in_one_process_is_one_clear_error():
    from mlp_core.bench.peers import keras_reference

    keras = pytest.importorskip("keras")
    other = next(p for p in PEERS.values() if p.keras_backend
                 and p.keras_backend != keras.backend.backend())
    with pytest.raises(MLPError, match="needs a fresh process"):
        keras_reference.run(parse_impl(other.name), BenchConfig(dataset="synthetic", samples=50,
                                                                 features=4),
                            BenchConfig(dataset="synthetic").cell({"batch_size": 10}))
