"""The worker protocol (``mlp_core.bench.process``): a result that no output can spoil, a
timeout that turns a hung worker into a failed row, and no process left behind."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from mlp_core.bench.config import BenchConfig
from mlp_core.bench.process import WorkerTimeout, run_group
from mlp_core.bench.runner import run_benchmark, run_job_subprocess

from .helpers import write_idx_dataset

JOB = {"impl": "numpy", "batch_size": 20, "repeat": 0}


def _npz(path: Path) -> Path:
    rng = np.random.default_rng(0)
    np.savez(path, x_train=rng.random((60, 4)), y_train=rng.integers(0, 3, 60),
             x_test=rng.random((20, 4)), y_test=rng.integers(0, 3, 20))
    return path


def _config(dataset: Path, **more) -> BenchConfig:
    return BenchConfig(dataset=str(dataset), scaler="none", epochs=1, impls=["numpy"],
                       batch_sizes=[20], repeats=1, floor=False, models=[[4]], **more)


def test_a_library_that_prints_at_exit_does_not_spoil_the_result(tmp_path, monkeypatch):
    """Output on stdout, before and at exit, as libraries write it: the result still arrives."""
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(
        "import atexit, sys\n"
        "print('{\"status\": \"error\", \"error\": \"not the result\"}')\n"
        "atexit.register(lambda: print('a library says goodbye', flush=True))\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path / "site"), *sys.path]))
    cfg = _config(_npz(tmp_path / "data.npz"))
    row = run_job_subprocess(JOB, cfg.training())
    assert row["status"] == "ok", row.get("error")
    assert row["fit_time"] > 0 and row["test_accuracy"] is not None


def test_a_hung_worker_is_a_failed_row_after_its_timeout_and_the_run_goes_on(tmp_path):
    """The worker opens a named pipe nobody writes: a real hang, in the data loading. The run
    ends with that row failed, saying why."""
    data = tmp_path / "data"
    write_idx_dataset(data, n_train=60, n_test=20, compress=False)
    (data / "train-images-idx3-ubyte").unlink()
    os.mkfifo(data / "train-images-idx3-ubyte")
    cfg = BenchConfig(dataset="mnist", data_dir=str(data), epochs=1, impls=["numpy"],
                      batch_sizes=[20], repeats=1, floor=False, models=[[4]], timeout=3.0)
    rows, _ = run_benchmark(cfg, tmp_path / "out")
    assert [r["status"] for r in rows] == ["error"]
    assert "timed out after 3 s (--timeout)" in rows[0]["error"]
    good = _config(_npz(tmp_path / "data.npz"), timeout=60.0)
    rows, _ = run_benchmark(good, tmp_path / "out2")
    assert [r["status"] for r in rows] == ["ok"]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"  # (a zombie has ended; only its parent's wait is missing)


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to see processes")
@pytest.mark.parametrize("leader_waits", [True, False], ids=["timeout", "leader-exits"])
def test_no_process_of_a_measurement_outlives_it(tmp_path, leader_waits):
    """A grandchild that ignores its pipes' end (a daemon) is killed with its group, whether
    the worker times out or exits."""
    pid_file = tmp_path / "grandchild"
    code = (f"import subprocess, sys, time; "
            f"p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'], "
            f"stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
            f"open({str(pid_file)!r}, 'w').write(str(p.pid)); "
            + ("time.sleep(120)" if leader_waits else "print('done')"))
    if leader_waits:
        with pytest.raises(WorkerTimeout, match="timed out after 2 s"):
            run_group([sys.executable, "-c", code], dict(os.environ), timeout=2)
    else:
        status, output = run_group([sys.executable, "-c", code], dict(os.environ), timeout=60)
        assert status == 0 and "done" in output
    pid = int(pid_file.read_text())
    for _ in range(50):  # SIGKILL is delivered at once; the kernel may take a moment
        if not _alive(pid):
            break
        time.sleep(0.1)
    assert not _alive(pid)


def test_a_bad_timeout_is_one_error_before_anything_runs(tmp_path, capsys):
    from mlp_core.cli import main

    for value in ("0", "-5", "nan", "soon"):
        assert main(["bench", "--impl", "numpy", "--timeout", value,
                     "--out", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "--timeout: expected a number of" in err[0], err
    assert not (tmp_path / "out").exists()


def test_a_measurement_leaves_no_file_behind_even_when_its_bench_is_killed(tmp_path,
                                                                          monkeypatch):
    """The result and the output live in anonymous temporary files: nothing to clean up."""
    import tempfile

    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    cfg = _config(_npz(tmp_path / "data.npz"))
    assert run_job_subprocess(JOB, cfg.training())["status"] == "ok"
    code = ("import sys, tempfile; tempfile.tempdir = sys.argv[1]; "
            "from mlp_core.bench.process import run_worker; "
            "run_worker({'probe': 'numpy'}, {}, None)")
    proc = __import__("subprocess").Popen([sys.executable, "-c", code, str(temp)])
    time.sleep(0.5)
    proc.kill()  # the bench dies hard while its worker runs
    proc.wait()
    assert list(temp.iterdir()) == []


ALLOCATOR_SCRIPT = """
import ctypes
import numpy as np
from mlp_core.machine import keep_freed_memory

class MallInfo2(ctypes.Structure):  # glibc's mallinfo2(), its own count of the memory it holds
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2

def one_array():  # bytes in pages of their own while an array of 64 MiB lives; heap once freed
    a = np.ones(2 ** 24, np.float32)
    own_pages = libc.mallinfo2().hblkhd
    del a
    return own_pages, libc.mallinfo2().arena

before = one_array()
print(keep_freed_memory(), *before, *one_array())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_the_workers_keep_freed_memory_for_the_next_arrays_unless_told_not_to():
    import ctypes
    import subprocess

    if not hasattr(ctypes.CDLL(None), "mallinfo2"):
        pytest.skip("glibc before 2.33 has no mallinfo2")

    def run(**env):
        out = subprocess.run([sys.executable, "-c", ALLOCATOR_SCRIPT], capture_output=True,
                             text=True, check=True, env={**os.environ, **env}).stdout.split()
        return " ".join(out[:-4]), *(int(n) for n in out[-4:])

    size = 2 ** 26  # the array's bytes
    setting, own_pages, _, own_pages_kept, heap_kept = run()
    # glibc's default: the array has pages of its own, handed back when it is freed; kept: it
    # lies in the heap, which keeps the memory for the next array when it is freed
    assert setting == "glibc, freed memory kept"
    assert own_pages >= size and own_pages_kept < size <= heap_kept
    setting, own_pages, _, own_pages_after, _ = run(MLP_MALLOC="system")
    assert setting == "system" and min(own_pages, own_pages_after) >= size
