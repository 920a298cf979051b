"""The worker protocol: one measurement in a fresh process, its result in a file of its own.

Modelled on pyperf's workers:
- the result travels in a file of its own, never parsed out of stdout, so whatever a library
  prints, at exit included, cannot break a measurement: an anonymous temporary file (unlinked
  from the start, so nothing is left behind however either process ends) whose descriptor the
  worker inherits (``python -m mlp_core.bench.worker JOB FD``);
- the worker runs in a process group of its own, and the whole group is killed when the
  measurement times out, when the bench is interrupted, and after the worker exits, so no
  grandchild (a compiler, a library's helper) outlives its measurement;
- every measurement has a timeout, so a hung worker (a GPU driver, a blocked read) becomes a
  failed row and the run goes on.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile

#: seconds a measurement may take by default (``--timeout``): far beyond any measurement of the
#: default configuration here (Keras's 35 epochs at batch 500, the slowest, take about 20 s), so
#: that only a hung worker reaches it, and a sweep of large models still fits
DEFAULT_TIMEOUT_S = 1800.0


class WorkerTimeout(Exception):
    """The worker did not finish within its timeout (it was killed, with its process group)."""


def run_worker(payload: dict, env: dict[str, str], timeout: float | None,
               show_progress: bool = False) -> dict:
    """Run ``python -m mlp_core.bench.worker`` on ``payload`` and return the result it wrote;
    a worker that wrote none (or a part of one) is a failed result with the tail of its
    output. ``show_progress``: its standard error goes to ours (its progress bar)."""
    with tempfile.TemporaryFile("w+b") as result:
        fd = result.fileno()
        argv = [sys.executable, "-m", "mlp_core.bench.worker", json.dumps(payload), str(fd)]
        code, output = run_group(argv, env, timeout, pass_fds=(fd,), show_progress=show_progress)
        result.seek(0)
        try:
            return json.loads(result.read().decode())
        except ValueError:
            tail = " | ".join(output.strip().splitlines()[-3:])
            return {"status": "error", "error": f"worker exited {code} without a result"
                    + (f": {tail}" if tail else "")}


def run_group(argv: list[str], env: dict[str, str], timeout: float | None,
              pass_fds: tuple[int, ...] = (), show_progress: bool = False) -> tuple[int, str]:
    """Run ``argv`` as the leader of a new process group; return its exit status and its
    output (stdout and stderr, in a file: a process it leaves behind holding a pipe could make
    a finished worker look hung). The group is killed once the leader is done, or on a timeout
    (:class:`WorkerTimeout`) or an interrupt (re-raised)."""
    with tempfile.TemporaryFile("w+") as output:
        proc = subprocess.Popen(argv, stdout=output,
                                stderr=None if show_progress else subprocess.STDOUT, text=True,
                                env=env, start_new_session=True, pass_fds=pass_fds)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc.pid)
            proc.wait()
            raise WorkerTimeout(f"timed out after {timeout:g} s") from None
        except BaseException:  # Ctrl-C, SIGTERM: the measurement goes with the bench
            _kill_group(proc.pid)
            proc.wait()
            raise
        # whatever the worker started and left behind; Linux hands out process ids in turn,
        # so the group's id is not another's a moment after its leader was reaped
        _kill_group(proc.pid)
        output.seek(0)
        return proc.returncode, output.read()


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):  # the group is gone already
        pass
