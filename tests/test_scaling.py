"""The scaling map: sweeps over models, batch sizes and threads, per-step timing, the synthetic
and .npz datasets, the cost model and the crossovers. No timing is asserted: only what is
computed from timings, and that the outputs are there and say what they should."""

from __future__ import annotations

import csv
import hashlib
import math

import numpy as np
import pytest

from mlp_core import MLP, DataError, MLPError, load_dataset
from mlp_core.bench.config import BenchConfig
from mlp_core.bench.runner import make_plan, run_benchmark
from mlp_core.bench.scaling import (
    Point,
    cost_models,
    crossings,
    crossovers,
    fit_cost_model,
    predicted_crossing,
    winners,
)
from mlp_core.bench.scaling_report import write_scaling
from mlp_core.cli import main

from .helpers import measured


def test_the_cost_model_recovers_known_parameters_exactly():
    flops = np.array([2e5, 3e6, 4e7, 5e8, 6e9])
    times = 35e-6 + flops / 120e9
    model = fit_cost_model(flops, times)
    assert model.overhead_s == pytest.approx(35e-6, rel=1e-9)
    assert model.rate_gflops == pytest.approx(120.0, rel=1e-9)
    assert model.median_rel_error < 1e-9 and model.cells == 5
    # the batch size where a step is half overhead, half compute: overhead * rate / per sample
    assert model.half_overhead_batch(1e6) == pytest.approx(35e-6 * 120e9 / 1e6)


def test_the_cost_model_keeps_its_parameters_non_negative():
    flops = np.array([1e6, 1e7, 1e8])
    only_compute = fit_cost_model(flops, flops / 50e9 * np.array([0.7, 1.0, 1.3]))
    assert only_compute.overhead_s == 0.0 and only_compute.rate_gflops > 0
    flat = fit_cost_model(flops, np.array([2e-3, 1e-3, 1e-3]))  # more work, no more time
    assert flat.rate_gflops == math.inf and flat.overhead_s > 0


def test_crossings_interpolate_in_log_space_or_say_none():
    # the ratio falls through 1 halfway (in log terms) between 100 and 10000: at 1000
    assert crossings([100, 10000], [2.0, 0.5]) == [pytest.approx(1000.0)]
    assert crossings([16, 128, 1024], [3.0, 2.0, 1.5]) == []  # none in range
    assert crossings([10, 100, 1000], [0.5, 2.0, 0.5]) == [pytest.approx(31.62, rel=1e-3),
                                                           pytest.approx(316.2, rel=1e-3)]


def test_predicted_crossing_from_two_cost_models():
    fast_start = fit_cost_model([1e6, 1e8], [10e-6 + 1e6 / 20e9, 10e-6 + 1e8 / 20e9])
    fast_rate = fit_cost_model([1e6, 1e8], [1e-3 + 1e6 / 200e9, 1e-3 + 1e8 / 200e9])
    per_sample = 1e5
    b = predicted_crossing(fast_start, fast_rate, per_sample)
    # at b both take the same time
    assert fast_start.predict(b * per_sample) == pytest.approx(fast_rate.predict(b * per_sample))
    assert predicted_crossing(fast_start, fast_start, per_sample) is None


def _points():
    """Two implementations on two models whose times follow known cost models exactly."""
    pts = []
    for impl, overhead, rate in (("numpy", 20e-6, 50e9), ("keras", 2e-3, 200e9)):
        for model, per_sample in (("32", 1e4), ("512-512", 1e6)):
            for b in (16, 128, 1024, 8192):
                f = per_sample * b
                t = overhead + f / rate
                rounds = {r: t * (1 + 0.02 * ((r * 7) % 5 - 2) / 2) for r in range(8)}
                pts.append(Point("local", impl, model, b, "2", "float32", t, f, 300.0, rounds))
    return pts


def test_winners_and_crossovers_follow_the_cost_models():
    pts = _points()
    models = cost_models(pts)
    assert models[("local", "2", "float32", "keras")].rate_gflops == pytest.approx(200.0, rel=0.01)
    wins = {(w["model"], w["batch_size"]): w for w in winners(pts)}
    assert wins[("32", 16)]["fastest"] == "numpy" and wins[("512-512", 8192)]["fastest"] == "keras"
    assert wins[("32", 16)]["margin"] > 1 and wins[("32", 16)]["margin_ci_low"] > 1
    assert wins[("32", 16)]["verdict"] == "winner"
    [big] = [c for c in crossovers(pts, models) if c["model"] == "512-512"]
    # measured (interpolated) and predicted crossings agree where the times follow the models
    assert big["faster_at_smallest"] == "numpy"
    assert big["measured"][0] == pytest.approx(big["predicted"], rel=0.3)
    lo, hi = big["significant"]  # where the intervals show the change: around the crossing
    assert lo < big["measured"][0] < hi
    model = models[("local", "2", "float32", "numpy")]
    assert model.overhead_ci[0] <= model.overhead_s <= model.overhead_ci[1]
    assert model.misfit_beyond_noise is False  # the times follow the model: only noise is left


def test_a_cell_whose_implementations_cannot_be_told_apart_is_a_tie():
    def point(impl, rounds):
        return Point("local", impl, "32", 16, "2", "float32", float(np.median(rounds)), 1e6,
                     None, dict(enumerate(rounds)))

    rng = np.random.default_rng(3)
    same = [point(i, list(1e-3 * (1 + 0.2 * rng.standard_normal(8)))) for i in ("a", "b")]
    [cell] = winners(same)
    assert cell["verdict"] == "tie" and sorted(cell["tied"]) == ["a", "b"]
    assert cell["margin_ci_low"] < 1 < cell["margin_ci_high"]
    few = [point("a", [1.0, 1.0, 1.0]), point("b", [2.0, 2.0, 2.0])]  # 3 rounds: no interval
    [cell] = winners(few)
    assert cell["verdict"] == "tie" and cell["margin"] == 2.0 and cell["margin_ci_low"] is None


def test_synthetic_data_is_deterministic_and_learnable():
    a = load_dataset("synthetic", samples=1200, features=20, classes=3, seed=4, scaler=None)
    b = load_dataset("synthetic", samples=1200, features=20, classes=3, seed=4, scaler=None)
    c = load_dataset("synthetic", samples=1200, features=20, classes=3, seed=5, scaler=None)
    digest = [hashlib.sha256(d.x_train.tobytes()).hexdigest() for d in (a, b, c)]
    assert digest[0] == digest[1] != digest[2]
    assert a.x_test.shape == (120, 20) and a.n_classes == 3 and a.x_train.max() <= 255
    ds = load_dataset("synthetic", samples=1200, features=20, classes=3, seed=4)
    model = MLP([20, 16, 3], backend="numpy", seed=0)
    model.fit(ds.x_train, ds.y_train, epochs=15, batch_size=20, optimizer="adam", verbose=False)
    assert model.score(ds.x_test, ds.y_test) >= 0.9


def test_synthetic_data_is_made_chunk_by_chunk(monkeypatch):
    """Each chunk has its own generator: more rows extend fewer, and no chunk needs the rest
    in memory."""
    from mlp_core import synthetic

    monkeypatch.setattr(synthetic, "CHUNK", 100)
    short, long = synthetic.make(200, 8, 4, seed=1), synthetic.make(1000, 8, 4, seed=1)
    assert np.array_equal(long["x_train"][:200], short["x_train"])
    assert np.array_equal(long["y_train"][:200], short["y_train"])


def test_npz_dataset_is_checked_as_mnist_npz_is(tmp_path):
    rng = np.random.default_rng(0)
    good = dict(x_train=rng.random((40, 6)), y_train=rng.integers(0, 3, 40),
                x_test=rng.random((10, 6)), y_test=rng.integers(0, 3, 10))
    np.savez(tmp_path / "mine.npz", **good)
    ds = load_dataset(str(tmp_path / "mine.npz"), scaler="none")
    assert ds.x_train.shape == (40, 6) and ds.name == "mine.npz" and ds.n_classes == 3
    np.savez(tmp_path / "no_test.npz", x_train=good["x_train"], y_train=good["y_train"])
    with pytest.raises(DataError, match="no x_test, y_test in the archive"):
        load_dataset(str(tmp_path / "no_test.npz"))
    np.savez(tmp_path / "float_labels.npz", **{**good, "y_train": good["y_train"] + 0.5})
    with pytest.raises(DataError, match="labels must be integers"):
        load_dataset(str(tmp_path / "float_labels.npz"))
    np.savez(tmp_path / "ragged.npz", **{**good, "x_test": rng.random((10, 7))})
    with pytest.raises(DataError, match="images of 6 values"):
        load_dataset(str(tmp_path / "ragged.npz"))
    with pytest.raises(DataError, match="no such file|cannot read"):
        load_dataset(str(tmp_path / "missing.npz"))


def test_train_takes_an_npz_dataset(tmp_path, capsys):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "mine.npz", x_train=rng.random((60, 5)), y_train=rng.integers(0, 4, 60),
             x_test=rng.random((20, 5)), y_test=rng.integers(0, 4, 20))
    assert main(["train", "--dataset", str(tmp_path / "mine.npz"), "--scaler", "none",
                 "--epochs", "2", "--layers", "8", "--quiet"]) == 0
    assert "MLP(5-8-4" in capsys.readouterr().err


@pytest.mark.parametrize("argv,message", [
    (["--layers", "0,4"], "expected positive integers"),
    (["--threads", "0,2"], "expected positive integers"),
    (["--samples", "0"], "expected an integer >= 1"),
    (["--dataset", "synthetic", "--samples", "10"], "the synthetic dataset needs --features"),
    (["--dataset", "synthetic", "--samples", "100000000", "--features", "100000",
      "--classes", "3"], "needs about"),
    (["--dataset", "synthetic", "--samples", "10", "--features", "4", "--classes", "1"],
     "--classes must be at least 2"),
    (["--dtype", "float16"], "dtypes must be among float32, float64"),
    (["--layers", "8,,8"], "an empty entry in the list '8,,8'"),
    (["--layers", "8,"], "an empty entry"),
    (["--dtype", ""], "expected a comma-separated list, got nothing"),
    (["--dtype", "float32,"], "an empty entry"),
    (["--impl", "numpy,,torch"], "an empty entry"),
    (["--batch-sizes", ""], "expected a comma-separated list, got nothing"),
    (["--dataset", "nowhere.npz"], "nowhere.npz: no such file"),
])
def test_bad_sweep_input_is_one_line_before_anything_runs(tmp_path, argv, message, capsys):
    rc = main(["bench", "--impl", "numpy", "--out", str(tmp_path / "out"), *argv])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_an_empty_model_list_is_an_error():
    with pytest.raises(MLPError, match="each model"):
        make_plan(BenchConfig(impls=["numpy"], models=[], floor=False))


def test_a_tiny_sweep_writes_the_scaling_map(tmp_path):
    cfg = BenchConfig(dataset="synthetic", samples=300, features=20, classes=3,
                      impls=["numpy"], models=[[8], [32, 16]], batch_sizes=[16, 64],
                      threads=[1, 2], steps=2, repeats=1, floor=False)
    rows = measured(run_benchmark(cfg, tmp_path)[0])
    assert len(rows) == 8 and all(r["status"] == "ok" for r in rows), rows[0].get("error")
    for r in rows:
        assert r["steps"] == 2 and r["step_time"] > 0 and r["flops_per_step"] > 0
        assert r["sample_time"] == pytest.approx(r["step_time"] / r["batch_size"])
        assert r["epoch_equivalent_time"] == pytest.approx(
            r["step_time"] * math.ceil(300 / r["batch_size"]))
    written = write_scaling(rows, tmp_path)
    names = {p.name for p in written}
    assert {"scaling.md", "scaling.csv", "scaling-time.png", "scaling-roofline.png",
            "scaling-winners.png"} <= names
    md = (tmp_path / "scaling.md").read_text()
    assert "## Cost model" in md and "## Fastest implementation per cell" in md
    assert "## Crossovers" in md and "| numpy | 1 | float32 |" in md
    sections = {row["section"] for row in csv.DictReader(open(tmp_path / "scaling.csv"))}
    assert sections == {"cost_model", "fastest"}  # one implementation: nothing to cross
    # interrupted and rerun, a sweep resumes cell by cell: nothing is measured twice
    again, _ = run_benchmark(cfg, tmp_path, run_job=lambda job, config: pytest.fail("rerun"))
    assert len(measured(again)) == 8
