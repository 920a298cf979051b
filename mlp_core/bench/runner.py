"""Run the benchmark: every (repeat, batch size, implementation) in a fresh process, interleaved.

The plan lists the measurements; each one runs in a fresh worker process (here, or on each
machine of a Dask executor) and its row goes to the results store as soon as it ends.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from typing import Protocol

from .. import backends
from ..machine import PIN_VARIABLES
from . import stats
from .config import BenchConfig
from .impls import ImplSpec, floor_for, parse_impl
from .process import DEFAULT_TIMEOUT_S, WorkerTimeout, run_worker
from .rows import LOCAL, check_row, key, model_name
from .store import ResultsStore, select_rows

MIN_ROUNDS = 6  # the fewest rounds whose order statistics give a 95% interval
MAX_ROUNDS = 40  # ``--repeat auto`` stops adding rounds here, whatever the budget left
#: the rounds after which ``--repeat auto`` looks at the verdicts (between them, the open
#: points get rounds): a few looks, growing apart, rather than one after every round
LOOKS = (MIN_ROUNDS, 9, 13, 19, 28, MAX_ROUNDS)
MAX_REDOS = 2  # measurements redone at most this often when the machine ran slow during them


@dataclass
class Plan:
    """What to measure: every runnable implementation (floors included) at every sweep point,
    in rounds. A round measures each implementation of a point once, in an order shuffled for
    each round and point (seeded: a run is reproducible, and resumable job by job)."""

    specs: list[ImplSpec]
    points: list[dict]  # the sweep points, as ``BenchConfig.cells`` names them
    rounds: int  # the first rounds: all of them, or the first of ``--repeat auto``
    seed: int
    skipped: dict[str, str]  # implementation -> why it cannot run here
    notes: list[str] = field(default_factory=list)  # how some cells are measured otherwise

    def round(self, r: int, points: list[dict] | None = None) -> list[dict]:
        """The jobs of round ``r`` at ``points`` (default: every point)."""
        jobs: dict[str, dict] = {}  # (a backend without thread counts: one job for all of them)
        for point in self.points if points is None else points:
            order = list(self.specs)
            random.Random(f"{self.seed}/{r}/{json.dumps(point, sort_keys=True)}").shuffle(order)
            for s in order:
                threads = point["threads"] if backends.entry(s.backend).threads else None
                job = {"impl": s.spec, **point, "threads": threads,
                       "dtype": s.dtype or point["dtype"], "repeat": r}  # (+f64: float64)
                jobs.setdefault(json.dumps(job, sort_keys=True), job)
        return list(jobs.values())

    @property
    def jobs(self) -> list[dict]:
        """The jobs of the first rounds."""
        return self.through(self.rounds)

    def through(self, rounds: int) -> list[dict]:
        """The jobs of rounds ``0 .. rounds - 1`` at every point (with ``--repeat auto``, a
        superset of those measured: later rounds measure the open points alone)."""
        return [j for r in range(rounds) for j in self.round(r)]

    def on(self, machines: list[str], jobs: list[dict] | None = None) -> list[dict]:
        """``jobs`` (default: the first rounds') on each of ``machines``."""
        return [{**j, "machine": m} for j in (self.jobs if jobs is None else jobs)
                for m in machines]


def make_plan(cfg: BenchConfig, local: bool = True) -> Plan:
    """Validate the config and plan the measurements in rounds.

    ``local``: they run on this machine (not on Dask workers), so its data folder and devices
    are theirs and are checked here."""
    cfg.validate(local)
    specs: list[ImplSpec] = []
    for name in cfg.impls:
        spec = parse_impl(name)
        if spec.spec not in [s.spec for s in specs]:
            specs.append(spec)
    skipped = {s.spec: f"{', '.join(s.missing())} not installed"
               + (f" ({s.peer.install})" if s.peer else "") for s in specs if s.missing()}
    for s in specs:
        if s.peer and s.spec not in skipped and (why := cfg.peer_mismatch(s.base)):
            skipped[s.spec] = why
    for s in specs:
        if s.spec not in skipped and local and (why := _device_missing(s, cfg.device, cfg.timeout)):
            skipped[s.spec] = why
    runnable = [s for s in specs if s.spec not in skipped]
    if cfg.floor:
        for lib in dict.fromkeys(s.library for s in runnable):
            runnable.append(floor_for(lib))
    notes = [f"{s.spec} cannot set its thread count: measured once per cell, with its own"
             for s in runnable if any(cfg.threads) and not backends.entry(s.backend).threads]
    rounds = MIN_ROUNDS if cfg.auto else cfg.repeats
    return Plan(runnable, cfg.cells(), rounds, cfg.seed, skipped, notes)


def _device_missing(spec: ImplSpec, device: str | None, timeout: float) -> str | None:
    """Why ``spec`` cannot run on its device here, for GPU runs only; asked of a worker process,
    so that this one never holds a GPU (a CPU backend whose library is installed always runs)."""
    entry = backends.entry(spec.backend)
    if device != "gpu" and "cpu" in entry.devices:
        return None
    # the probe only looks: JAX must not take 75% of the GPU for it
    env = {**worker_env({}), "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}
    try:
        result = run_worker({"probe": spec.spec, "device": device}, env, timeout)
    except WorkerTimeout as exc:
        return f"probing its {device} {exc}"
    return None if result["status"] == "ok" else result.get("error")


def worker_env(config: dict, base: dict[str, str] | None = None) -> dict[str, str]:
    """A measurement's environment: ``base`` (default: this process's), with TensorFlow's
    start-up log quiet and, with ``native_blas``, no OpenBLAS kernel pin."""
    env = dict(os.environ if base is None else base)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if config.get("native_blas"):
        for name in PIN_VARIABLES:
            env.pop(name, None)
    return env


def run_job_subprocess(job: dict, config: dict, timeout: float | None = DEFAULT_TIMEOUT_S,
                       env: dict[str, str] | None = None) -> dict:
    """One measurement in a fresh worker process (:mod:`mlp_core.bench.process`); ``env``: the
    environment to start from (default: this process's). A measurement that times out is a
    failed row saying so."""
    try:
        return run_worker({**job, "config": config}, worker_env(config, env), timeout)
    except WorkerTimeout as exc:
        return {"status": "error", "error": f"{exc} (--timeout); the worker and its processes "
                "were stopped"}


def progress_line(i: int, total: int, row: dict) -> str:
    """``[3/18] numpy batch 500 run 1: 6.21 s, acc 0.5689`` for one finished measurement (in a
    sweep also its model, threads and dtype; per step: its seconds per step)."""
    if row.get("status") == "flagged":
        status = f"redone: {row.get('error')}"
    elif row.get("status") != "ok":
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
                  run_job: Callable[[dict, dict], dict] | None = None,
                  executor: Executor | None = None, plan: Plan | None = None,
                  command: str | None = None,
                  publish: bool = True) -> tuple[list[dict], dict[str, str]]:
    """Run (or resume) the benchmark into ``out_dir``; return this configuration's rows and skips.

    Rows of an earlier run with the same training configuration are kept and their measurements
    skipped; an earlier run of another configuration is an error unless ``fresh``. Measurements
    run here one by one with ``run_job`` (default: each in a worker process, with the
    configuration's timeout), or on every machine of ``executor``. ``plan``: the
    caller's ``make_plan(cfg)``, if it made one already; ``command``: the command line, kept in
    each row (the report shows how to measure again; from Python, the call itself). ``publish``:
    write the summaries, plots and ``report.html`` at the end, as ``mlp-core bench`` does.
    """
    if plan is None:  # a bad configuration fails here, before anything is created
        plan = make_plan(cfg, local=executor is None)
    store = ResultsStore(out_dir)
    training = cfg.training()
    command = command or f"(Python) run_benchmark({cfg.python()}, {str(out_dir)!r})"
    rows = store.open_for(training, fresh)
    machines = executor.machines if executor else [LOCAL]
    run_job = run_job or partial(run_job_subprocess, timeout=cfg.timeout)
    monitor = Monitor(rows)
    measured: list[dict] = []  # every job planned so far
    done_before = {key(x) for x in rows if x.get("status") == "ok"}  # a resumed run's
    count = sum(key(j) in done_before for j in plan.on(machines))
    r, points, clock = 0, plan.points, {}  # clock: when the first rounds ended (the budget's)
    while points:
        jobs = plan.on(machines, plan.round(r, points))
        measured += jobs
        done = {key(x) for x in rows if x.get("status") == "ok"}
        todo = [j for j in jobs if key(j) not in done]
        results = (executor.run(todo, training) if executor
                   else monitor.measure(todo, lambda job: run_job(job, training)))
        for job, result in results:
            row = {**job, **result, "config": training, "command": command,
                   "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds")}
            if (why := check_row(row)) is not None:  # kept readable: a failed row, with why
                row = {**row, "status": "error", "error": f"an invalid result: {why}"}
            store.append(row)
            rows.append(row)
            count += row.get("status") != "flagged"
            if progress:
                progress(count, count + _left(plan, machines, r, jobs, rows), row)
        r += 1
        if r == plan.rounds:
            clock["start"] = time.monotonic()
        points = _next_points(plan, cfg, r, select_rows(rows, measured), clock, points)
    selected = select_rows(rows, measured)
    if publish:
        from .publish import write_outputs

        write_outputs(selected, out_dir, plan.skipped)
    return selected, plan.skipped


def _left(plan: Plan, machines: list[str], r: int, jobs: list[dict], rows: list[dict]) -> int:
    """Measurements known to be left: this round's, and those of the first rounds still to come
    (``--repeat auto`` may add rounds beyond them)."""
    done = {key(x) for x in rows if x.get("status") in ("ok", "error")}
    later = [j for r2 in range(r + 1, plan.rounds) for j in plan.on(machines, plan.round(r2))]
    return sum(key(j) not in done for j in [*jobs, *later])


def _next_points(plan: Plan, cfg: BenchConfig, r: int, rows: list[dict], clock: dict,
                 points: list[dict]) -> list[dict]:
    """The sweep points of round ``r`` (``points``: those of the round before): every one
    until the first rounds are done; then, with ``--repeat auto``, those whose verdict was
    still open at the last look (``LOOKS``), while the budget (counted from the end of the
    first rounds) and ``MAX_ROUNDS`` last."""
    if r < plan.rounds:
        return plan.points
    if not cfg.auto or r >= MAX_ROUNDS or time.monotonic() - clock["start"] > cfg.budget_s:
        return []
    if r not in LOOKS:
        return points
    from .summary import open_points, summarize

    open_keys = open_points(summarize(rows), cfg.precision_frac)
    return [p for p in plan.points if any(_belongs(k, p, cfg) for k in open_keys)]


def _belongs(open_key: tuple, point: dict, cfg: BenchConfig) -> bool:
    """Whether a summary's point ``(model, batch, threads, dtype)`` was measured at sweep
    ``point``: a backend that sets no threads reports none, an implementation whose modifier
    sets its dtype (``+f64``) reports that dtype."""
    model, batch, threads, dtype = open_key
    return (model == model_name(point["layers"]) and batch == point["batch_size"]
            and threads in (point["threads"], None)
            and (dtype == point["dtype"] or dtype not in cfg.dtypes))


class Monitor:
    """The machine-speed monitor: every measurement times a fixed reference workload before and
    after it (``reference_s``); one whose reference ran more than 15% slower than the run's
    median is flagged (status ``flagged``, kept in the results file for the record) and
    measured again, at most ``MAX_REDOS`` times (the last one stands, marked ``slow_machine``)."""

    SLOWER = 1.15

    def __init__(self, rows: list[dict]) -> None:
        self.references = [x["reference_s"] for x in rows
                           if x.get("status") == "ok" and x.get("reference_s")]

    def slow(self, row: dict) -> bool:
        ref = row.get("reference_s")
        if row.get("status") != "ok" or not ref or len(self.references) < 3:
            return False
        return ref > self.SLOWER * stats.median_of(self.references)

    def measure(self, jobs: list[dict], run: Callable[[dict], dict]):
        """Yield ``(job, result)`` for each job, redoing those measured while slow."""
        for job in jobs:
            for attempt in range(MAX_REDOS + 1):
                result = run(job)
                if not self.slow(result):
                    break
                if attempt == MAX_REDOS:
                    result = {**result, "slow_machine": True}
                    break
                median = stats.median_of(self.references)
                slower = result["reference_s"] / median
                yield job, {**result, "status": "flagged", "error": (
                    f"the machine ran slow: its reference took {slower:.2f}x the run's median; "
                    "measured again")}
            if result.get("status") == "ok" and result.get("reference_s"):
                self.references.append(result["reference_s"])
            yield job, result
