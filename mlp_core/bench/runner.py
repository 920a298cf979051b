"""Run the benchmark: every (repeat, batch size, implementation) in a fresh process, interleaved.

Rows are appended to ``results.jsonl`` as soon as each measurement ends, so an interrupted run
keeps everything it finished, and running the same command again resumes where it stopped.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator, Protocol

from .. import backends
from ..errors import MLPError
from ..fileio import check_writable
from ..presets import DEFAULT_PRESET, get_preset
from .machine import PIN_VARIABLES
from .impls import ImplSpec, floor_for, parse_impl

DEFAULT_IMPLS = ("numpy", "tensorflow", "keras")
DEFAULT_BATCH_SIZES = (100, 500, 1000, 10000, 60000)
RESULTS = "results.jsonl"
LOCAL = "local"  # the machine of rows measured here (rows without a machine field are local)


@dataclass
class BenchConfig:
    """What is trained (the seed configuration by default) and what is measured."""

    dataset: str = "fashion-mnist"
    data_dir: str | None = None
    scaler: str = "divide255"
    layers: list[int] = field(default_factory=lambda: [70, 30])
    activation: str = "sigmoid"
    output: str = "sigmoid"
    loss: str = "cce"
    init: str = "glorot"
    init_scale: float = 1.0
    optimizer: str = "rmsprop"
    lr: float | None = None
    momentum: float | None = None
    decay: float | None = None
    reduction: str = "mean"
    eval_train: bool = False  # a full pass over the training set every epoch (seed-myann)
    l1: float = 0.0
    l2: float | list[float] = field(default_factory=lambda: get_preset(DEFAULT_PRESET).l2())
    epochs: int = 35
    seed: int = 0
    dtype: str = "float32"
    threads: int | None = None
    device: str | None = None
    native_blas: bool = False  # unset the OpenBLAS kernel pin (OPENBLAS_CORETYPE, ...) in workers
    warmup: bool = True
    impls: list[str] = field(default_factory=lambda: list(DEFAULT_IMPLS))
    batch_sizes: list[int] = field(default_factory=lambda: list(DEFAULT_BATCH_SIZES))
    repeats: int = 3
    floor: bool = True

    @classmethod
    def from_preset(cls, name: str, **overrides) -> "BenchConfig":
        """The configuration of preset ``name`` (see :mod:`mlp_core.presets`); overrides win."""
        p = get_preset(name)
        opt = p.optimizer_options
        return cls(**{**dict(scaler=p.scaler, layers=list(p.hidden), **p.model,
                             optimizer=p.optimizer, lr=opt.get("learning_rate"),
                             momentum=opt.get("momentum"), decay=opt.get("decay"),
                             reduction=p.reduction, eval_train=p.eval_train, l2=p.l2(),
                             epochs=p.epochs), **overrides})

    def training(self) -> dict:
        """The part every row must share for rows to be comparable (and resumable)."""
        d = asdict(self)
        for k in ("impls", "batch_sizes", "repeats", "floor"):
            d.pop(k)
        return d


def validate_training(cfg: BenchConfig, local: bool = True) -> None:
    """Check the training configuration here, before any worker starts: one clear error.
    ``local``: the measurements run on this machine, so its paths are theirs."""
    from ..data import DATASETS, make_scaler
    from ..model import MLP, per_layer
    from ..optimizers import get_optimizer

    if str(cfg.dataset).lower().replace("_", "-") not in DATASETS:
        raise MLPError(f"unknown dataset {cfg.dataset!r}; valid: {', '.join(DATASETS)}")
    if local and cfg.data_dir is not None and not Path(cfg.data_dir).is_dir():
        raise MLPError(f"--data-dir {cfg.data_dir}: no such folder")
    make_scaler(cfg.scaler)
    get_optimizer(cfg.optimizer, learning_rate=cfg.lr, momentum=cfg.momentum, decay=cfg.decay)
    model = MLP([784, *cfg.layers, 10], activation=cfg.activation, output=cfg.output,
                loss=cfg.loss, init=cfg.init, init_scale=cfg.init_scale, seed=cfg.seed,
                dtype=cfg.dtype, backend="numpy")
    if cfg.reduction not in ("mean", "sum"):
        raise MLPError(f"unknown reduction {cfg.reduction!r}; valid: mean, sum")
    per_layer(cfg.l1, "l1", len(model.layers) - 1)
    per_layer(cfg.l2, "l2", len(model.layers) - 1)


@dataclass
class Plan:
    jobs: list[dict]
    skipped: dict[str, str]  # implementation -> why it cannot run here


def make_plan(cfg: BenchConfig, local: bool = True) -> Plan:
    """Validate the config and list the measurements, interleaved: A B C A B C ...

    ``local``: they run on this machine (not on Dask workers), so its data folder and devices
    are theirs and are checked here."""
    validate_training(cfg, local)
    if cfg.repeats < 1:
        raise MLPError(f"repeats must be >= 1, got {cfg.repeats}")
    if not cfg.batch_sizes or any(b < 1 for b in cfg.batch_sizes):
        raise MLPError(f"batch sizes must be positive integers, got {cfg.batch_sizes}")
    if cfg.epochs < 1:
        raise MLPError(f"epochs must be >= 1, got {cfg.epochs}")
    if not cfg.impls:
        raise MLPError("no implementation to measure")
    specs: list[ImplSpec] = []
    for name in cfg.impls:
        spec = parse_impl(name)
        if spec.spec not in [s.spec for s in specs]:
            specs.append(spec)
    skipped = {s.spec: f"{', '.join(s.missing())} not installed" for s in specs if s.missing()}
    if (why := keras_mismatch(cfg)):
        skipped.update({s.spec: why for s in specs if s.is_reference})
    for s in specs:
        if s.spec in skipped:
            continue
        entry = backends.entry(s.backend or "tensorflow")
        if cfg.threads and not entry.threads:
            skipped[s.spec] = f"{entry.name} cannot set its thread count (--threads)"
        elif local and (why := _device_missing(s, cfg.device)):
            skipped[s.spec] = why
    runnable = [s for s in specs if s.spec not in skipped]
    if cfg.floor:
        for lib in dict.fromkeys(s.library for s in runnable):
            runnable.append(floor_for(lib))
    jobs = [{"impl": s.spec, "batch_size": b, "repeat": r}
            for r in range(cfg.repeats) for b in cfg.batch_sizes for s in runnable]
    return Plan(jobs, skipped)


def keras_mismatch(cfg: BenchConfig) -> str | None:
    """Why the Keras reference cannot train this configuration, or None."""
    unmatched = [name for name, value, plain in (
        ("SGD momentum", cfg.momentum, None), ("learning-rate decay", cfg.decay, None),
        ("an init scale", cfg.init_scale, 1.0), ("a summed reduction", cfg.reduction, "mean"),
        ("a full training-set pass every epoch", cfg.eval_train, False),
        (f"loss {cfg.loss}", cfg.loss in ("cce", "mse"), True)) if (value or plain) != plain]
    if unmatched:
        return f"the Keras reference cannot match {', '.join(unmatched)}"
    return None


def _device_missing(spec: ImplSpec, device: str | None) -> str | None:
    """Why ``spec`` cannot run on its device here, for GPU runs only (probing a GPU backend means
    importing its library here; a CPU backend whose library is installed always runs)."""
    from ..errors import BackendUnavailable
    from ..selection import get_backend

    name = spec.backend or "tensorflow"
    entry = backends.entry(name)
    if device != "gpu" and "cpu" in entry.devices:
        return None
    try:
        get_backend(name, device, **spec.options)
    except BackendUnavailable as exc:
        return str(exc)
    return None


def load_rows(out_dir: Path) -> list[dict]:
    path = out_dir / RESULTS
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut short by a crash: that measurement is simply redone
    return rows


def _key(row: dict) -> tuple:
    return row.get("machine", LOCAL), row["impl"], row["batch_size"], row["repeat"]


def run_job_subprocess(job: dict, config: dict, timeout: float | None = None) -> dict:
    env = dict(os.environ)
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
    """``[3/18] numpy batch 500 run 1: 6.21 s, acc 0.5689`` for one finished measurement."""
    if row.get("status") == "ok":
        status = f"{row['fit_time']:.2f} s"
        if row.get("test_accuracy") is not None:
            status += f", acc {row['test_accuracy']:.4f}"
    else:
        status = f"FAILED: {row.get('error')}"
    where = "" if row.get("machine", LOCAL) == LOCAL else f" on {row['machine']}"
    return (f"[{i}/{total}] {row['impl']} batch {row['batch_size']} run {row['repeat'] + 1}"
            f"{where}: {status}")


def print_progress(i: int, total: int, row: dict) -> None:
    print(progress_line(i, total, row), flush=True)


class Executor(Protocol):
    """Runs measurements elsewhere (``distributed.DaskExecutor``): on each of ``machines``."""

    machines: list[str]

    def run(self, jobs: list[dict], config: dict) -> Iterator[tuple[dict, dict]]:
        """Yield ``(job, result)`` as each measurement ends, in any order."""


def _append_row(path: Path, row: dict) -> None:
    """Append one JSON line and fsync it. A line cut short by a crash is first ended, so that
    it stays one unreadable line (skipped, and its measurement redone) instead of swallowing this
    one. The file is only created with its first row."""
    try:
        with open(path, "ab") as f:
            if f.tell() > 0:
                with open(path, "rb") as r:
                    r.seek(-1, os.SEEK_END)
                    if r.read(1) != b"\n":
                        f.write(b"\n")
            f.write((json.dumps(row, default=str) + "\n").encode())
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        raise MLPError(f"cannot write {path}: {exc.strerror or exc}; the measurements "
                       "finished before it are kept") from None


def run_benchmark(cfg: BenchConfig, out_dir: str | os.PathLike, fresh: bool = False,
                  progress: Callable[[int, int, dict], None] | None = None,
                  run_job: Callable[[dict, dict], dict] = run_job_subprocess,
                  executor: Executor | None = None,
                  plan: Plan | None = None) -> tuple[list[dict], dict[str, str]]:
    """Run (or resume) the benchmark into ``out_dir``; return this configuration's rows and skips.

    Rows of an earlier run with the same training configuration are kept and their measurements
    skipped; an earlier run of another configuration is an error unless ``fresh``. Measurements
    run here one by one with ``run_job``, or on every machine of ``executor``. ``plan``: the
    caller's ``make_plan(cfg)``, if it made one already.
    """
    if plan is None:  # a bad configuration fails here, before anything is created
        plan = make_plan(cfg, local=executor is None)
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MLPError(f"cannot create {out}: {exc.strerror or exc}") from None
    check_writable(out / RESULTS)
    training = cfg.training()
    rows = load_rows(out)
    if rows and fresh:
        (out / RESULTS).rename(out / f"results-{datetime.now():%Y%m%d-%H%M%S}.jsonl")
        rows = []
    if rows and any(r.get("config") != training for r in rows):
        raise MLPError(f"{out / RESULTS} holds results of another configuration; "
                       "use another --out, or --fresh to set them aside")
    machines = executor.machines if executor else [LOCAL]
    jobs = [{**j, "machine": m} for j in plan.jobs for m in machines]
    done = {_key(r) for r in rows if r.get("status") == "ok"}
    todo = [j for j in jobs if _key(j) not in done]
    results = (executor.run(todo, training) if executor
               else ((job, run_job(job, training)) for job in todo))
    for i, (job, result) in enumerate(results, 1):
        row = {**job, **result, "config": training,
               "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        _append_row(out / RESULTS, row)
        rows.append(row)
        if progress:
            progress(i, len(todo), row)
    return select_rows(rows, jobs), plan.skipped


def select_rows(rows: list[dict], jobs: list[dict]) -> list[dict]:
    """The rows of these jobs, without failures that a later run of the same job redid."""
    wanted = {_key(j) for j in jobs}
    redone = {_key(r) for r in rows if r.get("status") == "ok"}
    return [r for r in rows if _key(r) in wanted
            and (r.get("status") == "ok" or _key(r) not in redone)]
