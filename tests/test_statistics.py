"""The statistics, proved by simulation: generated timings, no real processes (but one test,
which starts a busy loop and watches the monitor see it)."""

from __future__ import annotations

import math
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

from mlp_core.bench import runner, stats
from mlp_core.bench.config import BenchConfig
from mlp_core.bench.runner import run_benchmark
from mlp_core.bench.summary import summarize, verdicts


def _rows(times: dict[str, list[float]]) -> list[dict]:
    return [{"status": "ok", "impl": impl, "batch_size": 16, "repeat": r, "fit_time": t,
             "step_time": t, "library": "numpy", "config": {}}
            for impl, ts in times.items() for r, t in enumerate(ts)]


def test_two_identical_implementations_under_20_percent_noise_are_a_tie():
    """500 simulated runs of 10 rounds: a winner named in at most 5% of them."""
    rng = np.random.default_rng(0)
    ties = 0
    for _ in range(500):
        times = {i: list(np.exp(rng.normal(0, 0.2, 10))) for i in ("numpy", "torch")}
        [point] = verdicts(summarize(_rows(times)))
        ties += point["verdict"] == "tie"
    assert ties >= 0.95 * 500


def test_95_percent_intervals_cover_the_true_ratio():
    """Paired rounds with a shared per-round speed and 10% noise of their own: the interval of
    the ratio covers the true 1.1 in at least 93% of 500 runs."""
    rng = np.random.default_rng(1)
    covered = 0
    for _ in range(500):
        machine = np.exp(rng.normal(0, 0.3, 12))  # the machine's speed in each round
        a = 1.1 * machine * np.exp(rng.normal(0, 0.1, 12))
        b = machine * np.exp(rng.normal(0, 0.1, 12))
        e = stats.paired_ratio(a, b)
        covered += e.low <= 1.1 <= e.high
    assert covered >= 0.93 * 500


def test_the_median_interval_and_unpaired_bootstrap_cover_the_truth():
    rng = np.random.default_rng(2)
    medians = [stats.median_interval(np.exp(rng.normal(0, 0.2, 9))) for _ in range(300)]
    assert sum(e.low <= 1 <= e.high for e in medians) >= 0.93 * 300
    assert stats.median_interval([1.0, 2.0, 3.0]).low is None  # too few for 95%
    ratios = [stats.unpaired_ratio(1.2 * np.exp(rng.normal(0, 0.1, 12)),
                                   np.exp(rng.normal(0, 0.1, 12)), resamples=1000)
              for _ in range(100)]
    assert sum(e.low <= 1.2 <= e.high for e in ratios) >= 0.88 * 100  # (the bootstrap's own
    # percentile interval runs a little narrow at 12 values a side)


class Clock:
    """Simulated time: each measurement advances it by its own seconds."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now


def _simulate(monkeypatch, tmp_path, truth: dict[str, float], noise: float, seed: int,
              budget: float = 400.0, slow: set[tuple] = frozenset()):
    """One ``--repeat auto`` run on fake measurements: each implementation's time is its true
    time with log-normal noise; each takes 1 simulated second; ``slow`` jobs (impl, repeat)
    run with a slow reference workload the first time."""
    clock, rng, seen = Clock(), np.random.default_rng(seed), set()
    monkeypatch.setattr(runner.time, "monotonic", clock.monotonic)
    monkeypatch.setattr(runner.os, "fsync", lambda fd: None)  # (no disk wait per fake row)

    def measure(job, config):
        clock.now += 1.0
        first = (job["impl"], job["repeat"]) not in seen
        seen.add((job["impl"], job["repeat"]))
        t = truth[job["impl"]] * math.exp(rng.normal(0, noise))
        slowed = first and (job["impl"], job["repeat"]) in slow
        return {"status": "ok", "fit_time": t, "step_time": t, "time_per_epoch": t,
                "library": "numpy", "reference_s": 1.5 if slowed else 1.0 + 0.01 * rng.random()}

    cfg = BenchConfig(impls=list(truth), batch_sizes=[16], repeats="auto", budget=budget,
                      floor=False, steps=10)
    return run_benchmark(cfg, tmp_path / f"run{seed}", run_job=measure)[0]


def test_repeat_auto_decides_a_true_10_percent_difference_under_10_percent_noise(
        monkeypatch, tmp_path):
    """Within its budget in at least 80% of 100 runs, and always in the right direction."""
    truth = {"numpy": 1.0, "array-api-strict": 1.1}
    decided = 0
    for seed in range(100):
        rows = _simulate(monkeypatch, tmp_path, truth, 0.10, seed)
        [point] = verdicts(summarize(rows))
        if point["verdict"] == "winner":
            decided += 1
            assert point["fastest"] == "numpy"
    assert decided >= 80


def test_repeat_auto_names_no_winner_between_identical_implementations(monkeypatch, tmp_path):
    """The whole procedure, its looks at the data included: 500 runs of two identical
    implementations under 20% noise end in a tie in at least 95% of them."""
    same = {"numpy": 1.0, "array-api-strict": 1.0}
    ties = 0
    for seed in range(500):
        [point] = verdicts(summarize(_simulate(monkeypatch, tmp_path, same, 0.2, seed)))
        ties += point["verdict"] == "tie"
    assert ties >= 0.95 * 500


def test_repeat_auto_stops_where_the_verdict_is_clear(monkeypatch, tmp_path):
    truth = {"numpy": 1.0, "array-api-strict": 3.0}
    rows = _simulate(monkeypatch, tmp_path, truth, 0.05, seed=0)
    # decided at the first look where the stricter stopping level can be reached
    assert max(r["repeat"] for r in rows) + 1 == runner.LOOKS[1]
    same = {"numpy": 1.0, "array-api-strict": 1.0}
    rows = _simulate(monkeypatch, tmp_path, same, 0.3, seed=1, budget=30.0)
    rounds = max(r["repeat"] for r in rows) + 1
    assert runner.MIN_ROUNDS < rounds <= runner.MIN_ROUNDS + 30 // 2 + 1  # the budget stopped it


def test_measurements_made_while_the_reference_ran_slow_are_flagged_and_redone(
        monkeypatch, tmp_path):
    truth = {"numpy": 1.0, "array-api-strict": 1.5}
    slow = {("numpy", 3), ("array-api-strict", 4)}
    rows = _simulate(monkeypatch, tmp_path, truth, 0.05, seed=3, slow=slow)
    flagged = [(r["impl"], r["repeat"]) for r in rows if r["status"] == "flagged"]
    assert sorted(flagged) == sorted(slow)
    ok = {(r["impl"], r["repeat"]) for r in rows if r["status"] == "ok"}
    assert slow <= ok  # measured again
    summary = summarize(rows)
    assert all(s["runs"] == max(r["repeat"] for r in rows) + 1 for s in summary)


@pytest.mark.slow
def test_a_busy_loop_on_one_core_is_seen_by_the_monitor(tmp_path):
    """A real run of real workers; a busy loop runs during some of its measurements."""
    cfg = BenchConfig(dataset="synthetic", samples=400, features=16, classes=3, impls=["numpy"],
                      batch_sizes=[16], repeats=8, floor=False, steps=5, models=[[8]],
                      warmup=False)
    busy = []

    def progress(i, total, row):
        if i == 3:
            busy.append(subprocess.Popen([sys.executable, "-c", "while True: pass"]))
        if i == 6:
            busy[0].kill()

    try:
        rows, _ = run_benchmark(cfg, tmp_path / "out", progress=progress)
    finally:
        for p in busy:
            p.kill()
    refs = [(r["repeat"], r["reference_s"]) for r in rows if r.get("reference_s")]
    during = [ref for rep, ref in refs if rep in (3, 4, 5)]
    quiet = [ref for rep, ref in refs if rep in (0, 1, 2)]
    flagged = [r for r in rows if r["status"] == "flagged" or r.get("slow_machine")]
    assert flagged or max(during) > 1.15 * stats.median_of(quiet), refs


def test_the_command_reports_every_round_that_repeat_auto_added(tmp_path, monkeypatch):
    """The summary that `mlp-core bench` prints and writes counts the rounds added after the
    first six, not only those."""
    import csv

    from mlp_core.cli import main

    rng = np.random.default_rng(0)

    def fake(job, config, timeout=None, env=None):
        t = (1.0 if job["impl"] == "numpy" else 1.02) * math.exp(rng.normal(0, 0.15))
        return {"status": "ok", "fit_time": t, "step_time": t, "time_per_epoch": t,
                "library": "numpy", "reference_s": 1.0}

    monkeypatch.setattr(runner, "run_job_subprocess", fake)
    out = tmp_path / "out"
    assert main(["bench", "--dataset", "synthetic", "--samples", "100", "--features", "4",
                 "--impl", "numpy,array-api-strict", "--batch-sizes", "16", "--steps", "5",
                 "--no-floor", "--budget", "60", "--out", str(out)]) == 0  # auto: --steps
    with open(out / "summary.csv") as f:
        runs = {row["impl"]: int(row["runs"]) for row in csv.DictReader(f)}
    assert runs["numpy"] > runner.MIN_ROUNDS and runs["numpy"] == runs["array-api-strict"]


def test_a_run_whose_monitor_redid_measurements_succeeds(tmp_path, monkeypatch, capsys):
    """Redone measurements are not failures: exit status 0, and the summary counts them."""
    from mlp_core.cli import main

    seen = set()

    def fake(job, config, timeout=None, env=None):
        slow = (job["impl"], job["repeat"]) == ("numpy", 4) and job["repeat"] not in seen
        seen.add(job["repeat"]) if slow else None
        return {"status": "ok", "fit_time": 1.0, "time_per_epoch": 1.0, "library": "numpy",
                "reference_s": 2.0 if slow else 1.0}

    monkeypatch.setattr(runner, "run_job_subprocess", fake)
    out = tmp_path / "out"
    assert main(["bench", "--impl", "numpy", "--batch-sizes", "16", "--repeat", "6",
                 "--no-floor", "--out", str(out)]) == 0
    assert "1 measurement was redone" in (out / "summary.md").read_text()
    assert "redone: the machine ran slow" in capsys.readouterr().err


def test_progress_counts_on_from_a_resumed_run(tmp_path):
    cfg = BenchConfig(impls=["numpy"], batch_sizes=[16, 32], repeats=3, floor=False)

    def fake(job, config):
        return {"status": "ok", "fit_time": 1.0, "time_per_epoch": 1.0, "library": "numpy"}

    lines = []
    run_benchmark(replace(cfg, repeats=2), tmp_path, run_job=fake, publish=False)
    run_benchmark(cfg, tmp_path, run_job=fake, publish=False,
                  progress=lambda i, total, row: lines.append((i, total)))
    assert lines == [(5, 6), (6, 6)]  # 4 done before, then the third round's two
