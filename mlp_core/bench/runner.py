"""Run the benchmark: every (repeat, batch size, implementation) in a fresh process, interleaved.

The plan lists the measurements; each one runs in a fresh worker process (here, or on each
machine of a Dask executor) and its row goes to the results store as soon as it ends.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Protocol

from .. import backends
from ..machine import PIN_VARIABLES
from .config import BenchConfig
from .impls import ImplSpec, floor_for, parse_impl
from .rows import LOCAL, key
from .store import ResultsStore, select_rows


@dataclass
class Plan:
    jobs: list[dict]
    skipped: dict[str, str]  # implementation -> why it cannot run here
    notes: list[str] = field(default_factory=list)  # how some cells are measured otherwise

    def on(self, machines: list[str]) -> list[dict]:
        """Every job on each of ``machines``."""
        return [{**j, "machine": m} for j in self.jobs for m in machines]


def make_plan(cfg: BenchConfig, local: bool = True) -> Plan:
    """Validate the config and list the measurements, interleaved: A B C A B C ...

    ``local``: they run on this machine (not on Dask workers), so its data folder and devices
    are theirs and are checked here."""
    cfg.validate(local)
    specs: list[ImplSpec] = []
    for name in cfg.impls:
        spec = parse_impl(name)
        if spec.spec not in [s.spec for s in specs]:
            specs.append(spec)
    skipped = {s.spec: f"{', '.join(s.missing())} not installed" for s in specs if s.missing()}
    if (why := cfg.keras_mismatch()):
        skipped.update({s.spec: why for s in specs if s.is_reference})
    for s in specs:
        if s.spec not in skipped and local and (why := _device_missing(s, cfg.device)):
            skipped[s.spec] = why
    runnable = [s for s in specs if s.spec not in skipped]
    if cfg.floor:
        for lib in dict.fromkeys(s.library for s in runnable):
            runnable.append(floor_for(lib))
    notes = [f"{s.spec} cannot set its thread count: measured once per cell, with its own"
             for s in runnable if any(cfg.threads) and not backends.entry(s.backend).threads]
    jobs: dict[str, dict] = {}  # (a backend without thread counts: one job for all of them)
    for r in range(cfg.repeats):
        for cell in cfg.cells():
            for s in runnable:
                threads = cell["threads"] if backends.entry(s.backend).threads else None
                job = {"impl": s.spec, **cell, "threads": threads,
                       "dtype": s.dtype or cell["dtype"], "repeat": r}  # (+f64: float64)
                jobs.setdefault(json.dumps(job, sort_keys=True), job)
    return Plan(list(jobs.values()), skipped, notes)


def _device_missing(spec: ImplSpec, device: str | None) -> str | None:
    """Why ``spec`` cannot run on its device here, for GPU runs only (probing a GPU backend means
    importing its library here; a CPU backend whose library is installed always runs)."""
    from ..errors import BackendUnavailable
    from ..selection import get_backend

    entry = backends.entry(spec.backend)
    if device != "gpu" and "cpu" in entry.devices:
        return None
    # this process only probes: JAX must not take 75% of the GPU for it (the workers need it)
    name, value = PROBE_ONLY
    if name not in os.environ:
        os.environ[name] = _probe_env[name] = value
    try:
        get_backend(spec.backend, device, **spec.options)
    except BackendUnavailable as exc:
        return str(exc)
    return None


PROBE_ONLY = ("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
_probe_env: dict[str, str] = {}  # what probing set in os.environ: not the workers' environment


def run_job_subprocess(job: dict, config: dict, timeout: float | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in _probe_env}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if config.get("native_blas"):
        for name in PIN_VARIABLES:
            env.pop(name, None)
    proc = subprocess.run([sys.executable, "-m", "mlp_core.bench.worker",
                           json.dumps({**job, "config": config})],
                          capture_output=True, text=True, env=env, timeout=timeout)
    lines = proc.stdout.strip().splitlines()
    try:
        return json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"status": "error", "error": f"worker exited {proc.returncode}: {' | '.join(tail)}"}


def progress_line(i: int, total: int, row: dict) -> str:
    """``[3/18] numpy batch 500 run 1: 6.21 s, acc 0.5689`` for one finished measurement (in a
    sweep also its model, threads and dtype; per step: its seconds per step)."""
    if row.get("status") != "ok":
        status = f"FAILED: {row.get('error')}"
    elif row.get("step_time") is not None:
        status = f"{row['step_time'] * 1e3:.3f} ms/step"
    else:
        status = f"{row['fit_time']:.2f} s"
    if row.get("status") == "ok" and row.get("test_accuracy") is not None:
        status += f", acc {row['test_accuracy']:.4f}"
    point = "".join(f" {name} {value}" for name, value in (
        ("model", "-".join(map(str, row.get("layers") or []))), ("threads", row.get("threads")),
        ("dtype", row.get("dtype"))) if value)
    where = "" if row.get("machine", LOCAL) == LOCAL else f" on {row['machine']}"
    return (f"[{i}/{total}] {row['impl']}{point} batch {row['batch_size']} "
            f"run {row['repeat'] + 1}{where}: {status}")


def print_progress(i: int, total: int, row: dict) -> None:
    print(progress_line(i, total, row), flush=True)


class Executor(Protocol):
    """Runs measurements elsewhere (``distributed.DaskExecutor``): on each of ``machines``."""

    machines: list[str]

    def run(self, jobs: list[dict], config: dict) -> Iterator[tuple[dict, dict]]:
        """Yield ``(job, result)`` as each measurement ends, in any order."""


def run_benchmark(cfg: BenchConfig, out_dir: str | os.PathLike, fresh: bool = False,
                  progress: Callable[[int, int, dict], None] | None = None,
                  run_job: Callable[[dict, dict], dict] = run_job_subprocess,
                  executor: Executor | None = None, plan: Plan | None = None,
                  command: str | None = None) -> tuple[list[dict], dict[str, str]]:
    """Run (or resume) the benchmark into ``out_dir``; return this configuration's rows and skips.

    Rows of an earlier run with the same training configuration are kept and their measurements
    skipped; an earlier run of another configuration is an error unless ``fresh``. Measurements
    run here one by one with ``run_job``, or on every machine of ``executor``. ``plan``: the
    caller's ``make_plan(cfg)``, if it made one already; ``command``: the command line, kept in
    each row (the report shows how to measure again).
    """
    if plan is None:  # a bad configuration fails here, before anything is created
        plan = make_plan(cfg, local=executor is None)
    store = ResultsStore(out_dir)
    training = cfg.training()
    rows = store.open_for(training, fresh)
    jobs = plan.on(executor.machines if executor else [LOCAL])
    done = {key(r) for r in rows if r.get("status") == "ok"}
    todo = [j for j in jobs if key(j) not in done]
    results = (executor.run(todo, training) if executor
               else ((job, run_job(job, training)) for job in todo))
    for i, (job, result) in enumerate(results, 1):
        row = {**job, **result, "config": training, "command": command,
               "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        store.append(row)
        rows.append(row)
        if progress:
            progress(i, len(todo), row)
    return select_rows(rows, jobs), plan.skipped
