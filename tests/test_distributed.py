"""The bench on a real Dask cluster of two named workers on loopback: rows, pinning, faults."""

from __future__ import annotations

import functools
import logging
import os
import signal
import socket
import sys

import pytest

distributed = pytest.importorskip("distributed")

from mlp_core import BackendUnavailable, MLPError  # noqa: E402
from mlp_core.bench.config import BenchConfig  # noqa: E402
from mlp_core.bench.distributed import DaskExecutor, import_distributed  # noqa: E402
from mlp_core.bench.runner import run_benchmark  # noqa: E402
from mlp_core.bench.store import load_rows  # noqa: E402
from mlp_core.cli import main  # noqa: E402

from .test_data import write_idx_dataset  # noqa: E402


@pytest.fixture(scope="module")
def scheduler():
    """Workers ``a`` and ``b`` as ``dask worker --nworkers 1 --nthreads 1 --resources bench=1
    --name NAME`` starts them, each under a nanny that restarts it if it dies."""
    loopback = {"host": "127.0.0.1", "dashboard": False, "dashboard_address": "127.0.0.1:0"}
    worker = {"cls": distributed.Nanny,
              "options": {"nthreads": 1, "resources": {"bench": 1}, **loopback}}
    with distributed.SpecCluster(
            scheduler={"cls": distributed.Scheduler,
                       "options": loopback},
            workers={"a": worker, "b": worker}, silence_logs=logging.ERROR) as cluster:
        yield cluster.scheduler_address


def bench_args(data, out):
    return ["bench", "--dataset", "mnist", "--data-dir", str(data), "--layers", "8",
            "--epochs", "1", "--impl", "numpy", "--batch-sizes", "100", "--repeat", "1",
            "--no-floor", "--out", str(out)]


def test_each_machine_runs_the_matrix_with_rows_like_local_ones(scheduler, tmp_path, capsys):
    write_idx_dataset(tmp_path / "data", n_train=300, n_test=60)
    assert main(bench_args(tmp_path / "data", tmp_path / "local")) == 0
    capsys.readouterr()
    args = bench_args(tmp_path / "data", tmp_path / "dist")
    assert main([*args, "--scheduler", scheduler, "--machines", "all"]) == 0
    table = capsys.readouterr().out
    assert "| a | numpy | 100 |" in table and "| b | numpy | 100 |" in table
    [local] = load_rows(tmp_path / "local")
    rows = load_rows(tmp_path / "dist")
    # the machine is the name of the worker that ran the task: each ran its own row
    assert sorted(r["machine"] for r in rows) == ["a", "b"] and local["machine"] == "local"
    for r in rows:
        assert r["status"] == "ok", r.get("error")
        assert set(r) == set(local) and r["config"] == local["config"]
        assert r["cpu"] and r["versions"]["numpy"] and r["fit_time"] > 0
        if not {"OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"} & set(os.environ):
            assert r["threads"] == local["threads"]  # not the nanny's one-thread BLAS default
    assert main([*args, "--scheduler", scheduler]) == 0  # resumed: nothing left to run
    assert len(load_rows(tmp_path / "dist")) == 2


def kill_worker_once(job: dict, config: dict, marker: str, env: dict | None = None) -> dict:
    """A measurement that kills its worker process the first time it runs run 0 on ``b``."""
    if job["machine"] == "b" and job["repeat"] == 0 and not os.path.exists(marker):
        open(marker, "w").close()
        os.kill(os.getpid(), signal.SIGKILL)
    return {"status": "ok", "fit_time": 1.0, "time_per_epoch": 1.0, "library": "numpy",
            "test_accuracy": 0.5, "pid": os.getpid()}


def test_a_worker_dying_mid_measurement_is_a_failed_row_then_resumed(scheduler, tmp_path):
    cfg = BenchConfig(impls=["numpy"], batch_sizes=[10], repeats=2, floor=False)
    run_job = functools.partial(kill_worker_once, marker=str(tmp_path / "killed"))
    with DaskExecutor(scheduler, run_job=run_job, poll=0.2, rejoin_timeout=60) as ex:
        rows, _ = run_benchmark(cfg, tmp_path, executor=ex)
        [failed] = [r for r in rows if r["status"] != "ok"]
        assert (failed["machine"], failed["repeat"]) == ("b", 0)
        assert "b" in failed["error"]  # left the cluster, or KilledWorker
        ok = {(r["machine"], r["repeat"]): r["pid"] for r in rows if r["status"] == "ok"}
        assert set(ok) == {("a", 0), ("a", 1), ("b", 1)}  # b goes on once its nanny restarts it
        rows, _ = run_benchmark(cfg, tmp_path, executor=ex)
    assert all(r["status"] == "ok" for r in rows) and len(rows) == 4
    assert len(load_rows(tmp_path)) == 5  # the rerun only redid the failed measurement


def test_machines_are_checked(scheduler):
    with pytest.raises(MLPError, match=r"unknown machine 'zz'; valid: all, a, b"):
        DaskExecutor(scheduler, "a,zz")
    with DaskExecutor(scheduler, " b ") as ex:
        assert ex.machines == ["b"]


def test_an_unreachable_scheduler_is_one_error(tmp_path, capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    with pytest.raises(MLPError, match=f"cannot reach the Dask scheduler at {address}"):
        DaskExecutor(address, timeout=1)
    argv = ["bench", "--impl", "numpy", "--out", str(tmp_path), "--scheduler", "127.0.0.1"]
    assert main(argv) == 2
    assert "cannot reach the Dask scheduler" in capsys.readouterr().err
    assert not (tmp_path / "results.jsonl").exists()


def test_without_dask_the_error_names_the_extra(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(BackendUnavailable, match=r'pip install "mlp-core\[distributed\]"'):
        import_distributed()
    assert main(["bench", "--impl", "numpy", "--out", str(tmp_path),
                 "--scheduler", "tcp://127.0.0.1:8786"]) == 2
    assert 'pip install "mlp-core[distributed]"' in capsys.readouterr().err



def test_tls_settings_must_fit_the_address():
    with pytest.raises(MLPError, match="a tls:// scheduler needs --tls-ca-file"):
        DaskExecutor("tls://127.0.0.1:8786")
    with pytest.raises(MLPError, match="bad TLS files"):
        DaskExecutor("tls://127.0.0.1:8786", security=distributed.Security(
            tls_ca_file="missing-ca.pem", tls_client_cert="missing.pem", require_encryption=True))
    with pytest.raises(MLPError, match="TLS is required but tcp://127.0.0.1:8786 is not a tls://"):
        DaskExecutor("tcp://127.0.0.1:8786", security=distributed.Security(require_encryption=True))
