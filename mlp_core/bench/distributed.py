"""The benchmark on a Dask cluster: ``mlp-core bench --scheduler tcp://HOST:8786 --machines all``.

Each chosen worker (a machine) runs the whole matrix, one measurement at a time: every task asks
for the worker resource ``bench=1`` and is pinned to its worker. On the worker, a task runs the
measurement in a fresh process exactly as a local run does (``runner.run_job_subprocess``). A
measurement whose worker dies is a failed row; the machine goes on once its worker is back (a
``dask worker`` nanny restarts it) and rerunning the command redoes it. Dask is imported only here.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from ..errors import BackendUnavailable, MLPError
from .runner import run_job_subprocess

RESOURCE = "bench"  # workers offer one: at most one measurement at a time per machine
INSTALL = 'pip install "mlp-core[distributed]"'


def import_distributed() -> Any:
    """The ``distributed`` module, or an error naming the install command."""
    try:
        import distributed
    except ImportError:
        raise BackendUnavailable(f"--scheduler needs Dask distributed: {INSTALL}") from None
    return distributed


def measure_on_worker(job: dict, config: dict,
                      run_job: Callable[..., dict] = run_job_subprocess) -> dict:
    """The Dask task: one measurement on this worker; ``machine`` is the worker's name.

    The measurement's process gets the machine's environment, not the one-thread BLAS/OpenMP
    defaults a Dask nanny gives its worker (``distributed.nanny.pre-spawn-environ``), so it
    uses the machine's threads as a local run does; ``--threads`` sets them explicitly. The
    worker's own environment is left as it is: the measurement gets its own (``env=``).
    """
    import dask
    from distributed import get_worker

    defaults = dask.config.get("distributed.nanny.pre-spawn-environ", default={}) or {}
    env = {k: v for k, v in os.environ.items()
           if not (k in defaults and defaults[k] is not None and v == str(defaults[k]))}
    result = run_job(job, config, env=env)
    return {**result, "machine": str(get_worker().name)}


class DaskExecutor:
    """Runs bench jobs on the named workers of a Dask scheduler (``runner.Executor``).

    ``machines`` is ``"all"`` (every worker offering the ``bench`` resource) or comma-separated
    worker names. ``security`` is a ``distributed.Security`` (TLS), else Dask's configuration
    applies. ``rejoin_timeout``: how long a machine whose worker left may take to come back
    before its remaining jobs are failed rows.
    """

    def __init__(self, address: str, machines: str = "all", security: Any = None,
                 timeout: float = 5.0, run_job: Callable[..., dict] = run_job_subprocess,
                 poll: float = 1.0, rejoin_timeout: float = 60.0) -> None:
        distributed = import_distributed()
        self.address, self.run_job, self.poll = address, run_job, poll
        self.rejoin_timeout = rejoin_timeout
        security = security or distributed.Security()  # that of Dask's configuration
        _check_tls(address, security)
        try:
            self.client = distributed.Client(address, timeout=timeout, security=security,
                                             set_as_default=False)
        except (OSError, ValueError, TypeError) as exc:
            raise MLPError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
        try:
            self.machines = self._choose(machines)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Disconnect; the scheduler forgets the measurements not yet started."""
        self.client.close()

    def workers(self) -> dict[str, str]:
        """Name -> address of every worker offering the ``bench`` resource now."""
        try:
            info = self.client.scheduler_info()["workers"] if self._connected() else None
        except (OSError, KeyError):  # KeyError: the client's cached info of a lost scheduler
            info = None
        if info is None:
            raise self._lost()
        return {str(w["name"]): addr for addr, w in info.items()
                if w.get("resources", {}).get(RESOURCE, 0) >= 1}

    def _connected(self) -> bool:
        return self.client.status == "running"

    def _lost(self) -> MLPError:
        return MLPError(f"lost the Dask scheduler at {self.address}; the finished measurements "
                        "are saved: rerun the same command to resume")

    def _choose(self, machines: str) -> list[str]:
        names = sorted(self.workers())
        if not names:
            raise MLPError(f"no worker of the Dask scheduler at {self.address} offers the "
                           f"'{RESOURCE}' resource; start workers with: dask worker "
                           f"{self.address} --nworkers 1 --nthreads 1 --resources {RESOURCE}=1 "
                           "--name NAME")
        if machines.strip() == "all":
            return names
        chosen = list(dict.fromkeys(m.strip() for m in machines.split(",") if m.strip()))
        unknown = [m for m in chosen if m not in names]
        if unknown or not chosen:
            raise MLPError(f"unknown machine {', '.join(map(repr, unknown)) or repr(machines)}; "
                           f"valid: all, {', '.join(names)}")
        return chosen

    def run(self, jobs: list[dict], config: dict) -> Iterator[tuple[dict, dict]]:
        """Run ``jobs`` (each names its ``machine``), one at a time per machine, in order.

        Yields ``(job, result)`` as each ends. A failed task, a worker lost mid-measurement or a
        machine that does not come back gives a result with status ``error`` and the reason.
        """
        queues = {m: deque(j for j in jobs if j["machine"] == m) for m in self.machines}
        running: dict[str, tuple[Any, dict, str]] = {}  # machine -> (future, job, worker address)
        lost: dict[str, str] = {}  # machine -> why its running measurement was cancelled
        absent_since: dict[str, float] = {}
        try:
            while running or any(queues.values()):
                workers = self.workers()
                for machine, queue in queues.items():
                    if machine in running:
                        future, _, addr = running[machine]
                        if workers.get(machine) != addr and not future.done():
                            # dask would keep the task waiting for that address forever
                            lost[machine] = (f"worker {machine} ({addr}) left the cluster "
                                             "during the measurement")
                            future.cancel()
                    elif queue and machine in workers:
                        absent_since.pop(machine, None)
                        job = queue.popleft()
                        future = self.client.submit(
                            measure_on_worker, job, config, self.run_job, pure=False,
                            workers=[workers[machine]], allow_other_workers=False,
                            resources={RESOURCE: 1})
                        running[machine] = (future, job, workers[machine])
                    elif queue:
                        since = absent_since.setdefault(machine, time.monotonic())
                        if time.monotonic() - since > self.rejoin_timeout:
                            while queue:
                                yield queue.popleft(), _failed(f"worker {machine} is not in "
                                                               "the cluster")
                self._wait_any([f for f, _, _ in running.values()])
                if not self._connected():  # a lost scheduler cancels every task: not their fault
                    raise self._lost()
                for machine, (future, job, _) in list(running.items()):
                    if future.done():
                        del running[machine]
                        yield job, _result(future, lost.pop(machine, None))
        finally:
            for future, _, _ in running.values():
                future.cancel()

    def _wait_any(self, futures: list) -> None:
        """Return as soon as one of ``futures`` ends, or after ``poll`` seconds."""
        if not futures:
            time.sleep(self.poll)
            return
        distributed = import_distributed()
        try:
            next(distributed.as_completed(futures, loop=self.client.loop, timeout=self.poll))
        except distributed.TimeoutError:
            pass  # nothing ended: the caller looks at the workers again


def _check_tls(address: str, security: Any) -> None:
    """Refuse TLS settings that do not fit the address, before Dask fails at length."""
    try:
        context = security.get_connection_args("client")["ssl_context"]
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        raise MLPError(f"bad TLS files for the Dask scheduler: {exc}") from None
    tls = address.startswith("tls://")
    if tls and context is None:
        raise MLPError("a tls:// scheduler needs --tls-ca-file, --tls-cert and --tls-key "
                       "(or Dask's distributed.comm.tls.* configuration)")
    if not tls and security.require_encryption:
        raise MLPError(f"TLS is required but {address} is not a tls:// address")


def _result(future: Any, lost: str | None) -> dict:
    """The task's result, or a failed result saying why there is none."""
    if lost is not None:
        return _failed(lost)
    try:
        return future.result()
    except Exception as exc:  # KilledWorker, CommClosedError, CancelledError, ...
        return _failed(f"{type(exc).__name__}: {exc}")


def _failed(reason: str) -> dict:
    return {"status": "error", "error": reason}
