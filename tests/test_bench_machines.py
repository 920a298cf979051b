"""Bench rows of several machines, without Dask: resume per machine, summaries per machine."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mlp_core.bench.config import BenchConfig
from mlp_core.bench.report import environment_line, markdown_table, summarize, write_reports
from mlp_core.bench.runner import progress_line, run_benchmark
from mlp_core.bench.store import load_rows
from mlp_core.cli import main

from .test_bench import fake_job

CFG = BenchConfig(impls=["numpy"], batch_sizes=[10, 20], repeats=1, floor=False)


class FakeExecutor:
    """Two machines; results come back in reverse order; ``fail`` names jobs that fail."""

    machines = ["a", "b"]

    def __init__(self, fail: tuple = ()) -> None:
        self.fail, self.ran = fail, []

    def run(self, jobs, config):
        for job in reversed(jobs):
            self.ran.append((job["machine"], job["batch_size"]))
            if (job["machine"], job["batch_size"]) in self.fail:
                yield job, {"status": "error", "error": "KilledWorker: worker died"}
            else:
                yield job, {**fake_job(job, config), "machine": job["machine"], "cpu": "x"}


def test_every_machine_runs_the_matrix_and_resumes_on_its_own(tmp_path):
    ex = FakeExecutor(fail=(("b", 20),))
    rows, _ = run_benchmark(CFG, tmp_path, executor=ex)
    assert sorted(ex.ran) == [("a", 10), ("a", 20), ("b", 10), ("b", 20)]
    failed = [r for r in rows if r["status"] != "ok"]
    assert [(r["machine"], r["batch_size"]) for r in failed] == [("b", 20)]
    again = FakeExecutor()
    rows, _ = run_benchmark(CFG, tmp_path, executor=again)
    assert again.ran == [("b", 20)]  # only the failed measurement, on its machine
    assert len(rows) == 4 and all(r["status"] == "ok" for r in rows)  # the failure is redone
    local = []
    run_benchmark(CFG, tmp_path, run_job=lambda j, c: local.append(j) or fake_job(j, c))
    assert len(local) == 2  # the local machine's matrix is a matrix of its own


def test_rows_without_machine_are_local(tmp_path):
    run_benchmark(CFG, tmp_path, run_job=fake_job)
    rows = load_rows(tmp_path)
    assert {r["machine"] for r in rows} == {"local"}
    (tmp_path / "results.jsonl").write_text(  # rows written before rows named their machine
        "".join(json.dumps({k: v for k, v in r.items() if k != "machine"}) + "\n" for r in rows))
    ran = []
    rows, _ = run_benchmark(CFG, tmp_path, run_job=lambda j, c: ran.append(j) or fake_job(j, c))
    assert ran == [] and len(rows) == 2
    assert "machine" not in markdown_table(summarize(rows))
    assert "on local" not in progress_line(1, 2, rows[0])


def row(machine, impl, time, lib="numpy"):
    return {"status": "ok", "machine": machine, "impl": impl, "batch_size": 10, "repeat": 0,
            "fit_time": time, "time_per_epoch": time, "peak_rss_mb": 100.0, "library": lib,
            "test_accuracy": None, "cpu": f"cpu-{machine}", "cpu_count": 2,
            "versions": {"numpy": "2"}, "config": BenchConfig().training()}


def test_summary_compares_within_each_machine(tmp_path):
    rows = [row("a", "numpy", 2.0), row("a", "keras", 4.0, "tensorflow"),
            row("b", "numpy", 6.0), row("b", "keras", 3.0, "tensorflow")]
    s = {(x["machine"], x["impl"]): x for x in summarize(rows)}
    assert s[("a", "numpy")]["vs_keras"] == pytest.approx(0.5)
    assert s[("b", "numpy")]["vs_keras"] == pytest.approx(2.0)
    table = markdown_table(summarize(rows))
    assert table.startswith("| machine | implementation |") and "| b | numpy | 10 |" in table
    assert "a: CPU: cpu-a" in environment_line(rows) and "b: CPU: cpu-b" in environment_line(rows)
    failed = {**row("b", "numpy", 1.0), "status": "error", "error": "KilledWorker: gone"}
    write_reports(rows + [failed], tmp_path, plot=False)
    md = (tmp_path / "summary.md").read_text()
    assert "- numpy batch 10 run 0 on b: KilledWorker: gone" in md
    assert (tmp_path / "summary.csv").read_text().startswith("machine,impl,")
    assert progress_line(1, 4, failed).startswith("[1/4] numpy batch 10 run 1 on b: FAILED")


def test_the_local_bench_does_not_import_dask():
    code = ("import sys; import mlp_core.cli, mlp_core.bench.cli, mlp_core.bench.runner, "
            "mlp_core.bench.report; print('distributed' in sys.modules or 'dask' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_machines_need_a_scheduler(tmp_path, capsys):
    assert main(["bench", "--impl", "numpy", "--out", str(tmp_path), "--machines", "a"]) == 2
    assert "--machines and --tls-* need --scheduler" in capsys.readouterr().err
