"""The benchmark end to end on a tiny configuration; interruption, resume and bad arguments."""

from __future__ import annotations

import csv
import json
import sys

import pytest

from mlp_core import MLPError
from mlp_core.bench.config import BenchConfig
from mlp_core.bench.impls import parse_impl
from mlp_core.bench.report import summarize, write_reports
from mlp_core.bench.runner import make_plan, run_benchmark
from mlp_core.bench.store import load_rows
from mlp_core.cli import main

from .helpers import measured, write_idx_dataset


@pytest.fixture
def toy_cfg(tmp_path):
    write_idx_dataset(tmp_path / "data", n_train=300, n_test=60)
    return BenchConfig(dataset="mnist", data_dir=str(tmp_path / "data"), epochs=1,
                       impls=["numpy", "array-api-strict", "keras"], batch_sizes=[50, 300],
                       repeats=1)


def test_bench_end_to_end(toy_cfg, tmp_path):
    out = tmp_path / "out"
    rows, skipped = run_benchmark(toy_cfg, out)
    rows = measured(rows)
    impls = {"numpy", "array-api-strict", "floor-numpy"}
    if "keras" not in skipped:
        impls |= {"keras", "floor-tensorflow"}
    assert {r["impl"] for r in rows} == impls
    assert all(r["status"] == "ok" for r in rows), [r.get("error") for r in rows]
    assert len(rows) == len(impls) * 2
    lines = (out / "results.jsonl").read_text().splitlines()
    for row in measured(list(map(json.loads, lines))):
        assert row["fit_time"] > 0 and row["peak_rss_mb"] > 0 and row["cpu"]
        assert row["config"]["dataset"] == "mnist" and row["versions"]["numpy"]
    ours = [r for r in rows if r["impl"] == "numpy"]
    assert all(0 <= r["test_accuracy"] <= 1 and r["phases"]["batches"] > 0 for r in ours)
    _, written = write_reports(rows, out, skipped)
    table = (out / "summary.md").read_text()
    assert "| numpy | 50 |" in table and "vs floor" in table
    with open(out / "summary.csv") as f:
        summary = list(csv.DictReader(f))
    assert {s["impl"] for s in summary} == impls
    numpy_row = next(s for s in summary if s["impl"] == "numpy" and s["batch_size"] == "50")
    assert float(numpy_row["vs_floor"]) > 0
    if "keras" in impls:
        assert float(numpy_row["vs_keras"]) > 0
    pytest.importorskip("matplotlib")
    assert (out / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out / "plot.png" in written


def fake_job(job, config):
    """Stands in for the worker: instant, deterministic rows."""
    return {"status": "ok", "fit_time": 1.0 + job["repeat"], "time_per_epoch": 1.0,
            "test_accuracy": 0.5, "peak_rss_mb": 100.0, "library": "numpy"}


def test_interrupted_run_keeps_rows_and_resumes(tmp_path):
    cfg = BenchConfig(impls=["numpy"], batch_sizes=[10, 20], repeats=2)
    calls = []

    def interrupted(job, config):
        if len(calls) == 3:
            raise KeyboardInterrupt
        calls.append(job)
        return fake_job(job, config)

    with pytest.raises(KeyboardInterrupt):
        run_benchmark(cfg, tmp_path, run_job=interrupted)
    assert len(load_rows(tmp_path)) == 3  # every finished measurement is on disk
    resumed = []
    rows, _ = run_benchmark(cfg, tmp_path, run_job=lambda j, c: resumed.append(j) or fake_job(j, c))
    assert len(rows) == 8 and len(resumed) == 5  # only the missing measurements ran
    keys = {(r["impl"], r["batch_size"], r["repeat"]) for r in rows}
    assert len(keys) == 8


def test_a_truncated_last_line_is_redone(tmp_path):
    cfg = BenchConfig(impls=["numpy"], batch_sizes=[10], repeats=1, floor=False)
    run_benchmark(cfg, tmp_path, run_job=fake_job)
    text = (tmp_path / "results.jsonl").read_text()
    (tmp_path / "results.jsonl").write_text(text[: len(text) // 2])  # a crash mid-write
    ran = []
    rows, _ = run_benchmark(cfg, tmp_path, run_job=lambda j, c: ran.append(j) or fake_job(j, c))
    assert len(ran) == 1 and len(rows) == 1


def test_other_configuration_in_out_dir_is_refused(tmp_path):
    run_benchmark(BenchConfig(impls=["numpy"], batch_sizes=[10], repeats=1), tmp_path,
                  run_job=fake_job)
    other = BenchConfig(impls=["numpy"], batch_sizes=[10], repeats=1, epochs=3)
    with pytest.raises(MLPError, match="another configuration.*--fresh"):
        run_benchmark(other, tmp_path, run_job=fake_job)
    rows, _ = run_benchmark(other, tmp_path, fresh=True, run_job=fake_job)
    assert len(rows) == 2 and len(list(tmp_path.glob("results-*.jsonl"))) == 1


def test_plan_interleaves_implementations():
    plan = make_plan(BenchConfig(impls=["numpy", "array-api-strict"], batch_sizes=[10, 20],
                                 repeats=2))
    order = [(j["repeat"], j["batch_size"], j["impl"]) for j in plan.jobs]
    impls = {"numpy", "array-api-strict", "floor-numpy"}
    # a round measures every implementation of a point once, in an order of its own
    assert {o[2] for o in order[:3]} == impls and {o[:2] for o in order[:3]} == {(0, 10)}
    assert order[3][1] == 20 and order[6][0] == 1 and {o[2] for o in order[6:9]} == impls
    orders = {tuple(j["impl"] for j in plan.round(r)[:3]) for r in range(12)}
    assert len(orders) > 1  # shuffled, round by round
    assert plan.round(5) == make_plan(BenchConfig(impls=["numpy", "array-api-strict"],
                                                  batch_sizes=[10, 20], repeats=2)).round(5)


def test_summary_ratios():
    rows = [{"status": "ok", "impl": i, "batch_size": 10, "repeat": r, "fit_time": t,
             "time_per_epoch": t, "peak_rss_mb": m, "library": lib, "test_accuracy": None}
            for i, lib, t, m in [("numpy", "numpy", 2.0, 200.0),
                                 ("keras", "tensorflow", 4.0, 800.0),
                                 ("floor-numpy", "numpy", 1.0, 50.0)] for r in range(3)]
    s = {x["impl"]: x for x in summarize(rows)}
    assert s["numpy"]["vs_keras"] == pytest.approx(0.5)
    assert s["numpy"]["vs_floor"] == pytest.approx(2.0)
    assert s["numpy"]["rss_vs_keras"] == pytest.approx(0.25)
    assert s["numpy"]["runs"] == 3 and s["numpy"]["spread_pct"] == 0


def test_each_row_is_compared_with_the_keras_row_of_its_dtype():
    """+mixed_bfloat16 with keras+mixed_bfloat16, +f64 with keras+f64: like for like."""
    def row(impl, dtype, t, r):
        return {"status": "ok", "impl": impl, "batch_size": 10, "repeat": r, "fit_time": t,
                "time_per_epoch": t, "peak_rss_mb": 100.0, "library": "torch", "dtype": dtype,
                "test_accuracy": None}

    rows = [row(i, d, t, r) for i, d, t in [
        ("torch", "float32", 2.0), ("keras", "float32", 4.0),
        ("torch+mixed_bfloat16", "mixed_bfloat16", 1.0),
        ("keras+mixed_bfloat16", "mixed_bfloat16", 5.0),
        ("torch+f64", "float64", 3.0), ("keras+f64", "float64", 6.0)] for r in range(3)]
    s = {x["impl"]: x for x in summarize(rows)}
    assert s["torch"]["vs_keras"] == pytest.approx(0.5)
    assert s["torch+mixed_bfloat16"]["vs_keras"] == pytest.approx(0.2)
    assert s["torch+f64"]["vs_keras"] == pytest.approx(0.5)
    assert all(s[k]["vs_keras"] is None and s[k]["rss_vs_keras"] is None
               for k in ("keras", "keras+mixed_bfloat16", "keras+f64"))
    assert parse_impl("torch+mixed_bfloat16").dtype == "mixed_bfloat16"
    assert parse_impl("keras+mixed_bfloat16").dtype == "mixed_bfloat16"


@pytest.mark.parametrize("spec,message", [
    ("pytorch", "unknown implementation 'pytorch'"),
    ("numpy+f16", "unknown modifier of 'numpy' 'f16'"),
    ("keras+input-delta", "keras computes no input-layer delta"),
    ("numpy+mixed_bfloat16", "'numpy' has no bfloat16 matrix products"),
    ("torch+f64+mixed_bfloat16", "names two dtypes"),
])
def test_bad_impl_specs(spec, message):
    with pytest.raises(MLPError, match=message):
        parse_impl(spec)


@pytest.mark.parametrize("argv,message", [
    (["--impl", "pytorch"], "unknown implementation 'pytorch'"),
    (["--repeat", "0"], "argument --repeat: expected an integer >= 1"),
    (["--epochs", "0"], "epochs must be >= 1"),
    (["--impl", ""], "--impl: expected a comma-separated list, got nothing"),
])
def test_bench_cli_bad_arguments(argv, message, tmp_path, capsys):
    assert main(["bench", "--out", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("mlp-core: error:") and message in err[-1]


def test_bench_cli_bad_batch_sizes(tmp_path, capsys):
    assert main(["bench", "--out", str(tmp_path), "--batch-sizes", "0,10"]) == 2
    err = capsys.readouterr().err
    assert "expected positive integers" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("change,message", [
    ({"activation": "swish"}, "unknown activation 'swish'"),
    ({"learning_rate": -1.0}, "learning_rate must be a finite number"),
    ({"dataset": "cifar"}, "unknown dataset 'cifar'"),
    ({"l2": -1.0}, "l2 must be a number >= 0"),
    ({"dtypes": ["float16"]}, "dtypes must be among float32, float64"),
])
def test_bad_configuration_fails_before_any_worker(toy_cfg, tmp_path, change, message):
    from dataclasses import replace

    calls = []
    with pytest.raises(MLPError, match=message):
        run_benchmark(replace(toy_cfg, **change), tmp_path / "out",
                      run_job=lambda job, cfg: calls.append(job) or fake_job(job, cfg))
    assert not calls and not (tmp_path / "out").exists()
    rows, _ = run_benchmark(toy_cfg, tmp_path / "out", run_job=fake_job)  # the corrected command
    assert rows and all(r["status"] == "ok" for r in rows)


def test_a_cut_last_line_does_not_swallow_the_next_row(toy_cfg, tmp_path):
    out = tmp_path / "out"
    rows, _ = run_benchmark(toy_cfg, out, run_job=fake_job)
    text = (out / "results.jsonl").read_text().splitlines()
    (out / "results.jsonl").write_text("\n".join(text[:-1]) + "\n" + text[-1][:20])  # cut short
    rows, _ = run_benchmark(toy_cfg, out, run_job=fake_job)
    assert len(rows) == len(text) and all(r["status"] == "ok" for r in rows)
    assert len(load_rows(out)) == len(text)  # the cut line is skipped, the redone row is whole


def test_unwritable_out_is_one_error_and_leaves_nothing(toy_cfg, tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(MLPError, match="cannot create"):
        run_benchmark(toy_cfg, tmp_path / "file" / "out", run_job=fake_job)


def test_sigterm_writes_the_summary_and_stops_the_worker(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    write_idx_dataset(tmp_path / "data", n_train=300, n_test=60)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlp_core", "bench", "--dataset", "mnist", "--data-dir",
         str(tmp_path / "data"), "--impl", "numpy", "--batch-sizes", "50", "--epochs", "1",
         "--repeat", "50", "--no-floor", "--out", str(tmp_path / "out")],
        stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:  # wait for the first finished measurement
        if line.startswith("[1/"):
            break
    os.kill(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "interrupted" in err
    assert (tmp_path / "out" / "summary.md").exists()
    time.sleep(0.5)
    workers = subprocess.run(["pgrep", "-f", "mlp_core.bench.worker.*" + str(tmp_path)],
                             capture_output=True, text=True).stdout.split()
    assert not workers


def test_rows_describe_their_machine_and_native_blas_unsets_the_pin(tmp_path, monkeypatch):
    from mlp_core.bench.report import environment_line
    from mlp_core.bench.runner import run_job_subprocess
    from mlp_core.machine import PIN_VARIABLES

    write_idx_dataset(tmp_path / "data", n_train=120, n_test=30)
    # the pins are this test's own, whatever the machine running it sets
    for name in PIN_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    monkeypatch.delenv("MLP_MALLOC", raising=False)
    cfg = BenchConfig(dataset="mnist", data_dir=str(tmp_path / "data"), epochs=1, repeats=1,
                      impls=["numpy"], batch_sizes=[60])
    job = {"impl": "floor-numpy", "batch_size": 60, "repeat": 0}
    pinned = run_job_subprocess(job, cfg.training())
    native = run_job_subprocess(job, {**cfg.training(), "native_blas": True})
    for row in (pinned, native):
        assert row["status"] == "ok", row.get("error")
        assert row["blas"]["architecture"] and row["cpu_flags"] is not None
        assert row["load_before"] >= 0 and row["sgemm_peak_gflops"] > 0 and row["gflops"] > 0
        if sys.platform.startswith("linux"):  # every worker keeps freed memory (glibc)
            assert row["allocator"] == "glibc, freed memory kept"
    assert pinned["blas"]["pins"] == {"OPENBLAS_CORETYPE": "Haswell"}
    assert native["blas"]["pins"] == {}
    line = environment_line([{**pinned, **job, "config": cfg.training()}])
    assert "pinned by OPENBLAS_CORETYPE=Haswell" in line and "sgemm peak" in line
    assert f"C allocator: {pinned['allocator']}" in line


def test_a_warmed_up_measurement_trains_exactly_as_a_cold_fit(toy_cfg):
    """The warm-up leaves no trace: same weights, optimizer and shuffling as a fresh model."""
    from dataclasses import replace

    from mlp_core.bench.worker import run_job

    job = {"impl": "numpy", "batch_size": 50, "repeat": 0}
    warm = run_job({**job, "config": replace(toy_cfg, epochs=3).training()})
    cold = run_job({**job, "config": replace(toy_cfg, epochs=3, warmup=False).training()})
    assert warm["final_loss"] == cold["final_loss"]
    assert warm["test_accuracy"] == cold["test_accuracy"]


def test_the_default_configuration_is_the_seed_keras_preset():
    assert BenchConfig.from_preset("seed-keras").training() == BenchConfig().training()
    myann = BenchConfig.from_preset("seed-myann", epochs=2)
    assert myann.reduction == "sum" and myann.momentum == 5e-5 and myann.epochs == 2
