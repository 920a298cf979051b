"""One measurement, in a fresh process: ``python -m mlp_core.bench.worker JOB FD``.

``JOB`` is the job as JSON; the result is written, as JSON, to the file descriptor ``FD``, an
anonymous temporary file the bench made (:mod:`mlp_core.bench.process` says why a file). A
fresh process per measurement keeps thread settings, allocators and compiled functions of one
implementation from leaking into the next. A job ``{"probe": IMPL, "device": DEVICE}`` only
checks that the implementation's backend can be made on that device, so that the bench's own
process never imports a GPU library.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import sys
import traceback
from time import perf_counter

from mlp_core import backends
from mlp_core.bench.config import BenchConfig, Cell
from mlp_core.bench.floor import products_per_epoch
from mlp_core.bench.impls import PEERS, ImplSpec, parse_impl
from mlp_core.bench.input_delta import with_input_delta
from mlp_core.bench.measure import load_data, make_backend, step_rows, thread_count, warmup_epochs
from mlp_core.machine import with_steal


def _peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux, bytes on macOS
    scale = 1 / 1024 / 1024 if sys.platform == "darwin" else 1 / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def run_ours(impl: ImplSpec, cfg: BenchConfig, cell: Cell) -> dict:
    from mlp_core import MLP
    from mlp_core.optimizers import get_optimizer
    from mlp_core.pixels import Pixels

    be = make_backend(impl, cfg, cell)
    ds = load_data(cfg, as_pixels=True)
    dtype = impl.dtype or cell.dtype
    sizes = [ds.x_train.shape[1], *cell.layers, ds.n_classes]
    if "input-delta" in impl.modifiers:
        be = with_input_delta(be, sizes)
    model = MLP(sizes, activation=cfg.activation, output=cfg.output, loss=cfg.loss,
                init=cfg.init, init_scale=cfg.init_scale, seed=cfg.seed, dtype=dtype, backend=be)
    x, y = ds.x_train, ds.y_train
    epochs = cfg.epochs
    if cfg.steps:  # one epoch of exactly `steps` batches, the same shapes warm and timed
        x, y = step_rows(x, y, cfg.steps, cell.batch_size)
        epochs = 1
    # the model as it is made: the measured fit starts from it after the warm-up, so that it
    # sees the very weights and batches of `mlp-core train` with the same seed
    initial = model.snapshot()
    fit_args = dict(batch_size=cell.batch_size, l1=cfg.l1, l2=list(cell.l2), verbose=False,
                    reduction=cfg.reduction, eval_train=cfg.eval_train and not cfg.steps,
                    optimizer=get_optimizer(cfg.optimizer, learning_rate=cfg.learning_rate,
                                            momentum=cfg.momentum, decay=cfg.decay))
    if cfg.warmup or cfg.steps:  # traces compiled steps, warms caches and allocators
        model.fit(x, y, epochs=1 if cfg.steps else warmup_epochs(len(x), cell.batch_size),
                  **fit_args)
        model.restore(initial)
    be.synchronize()
    t0 = perf_counter()
    history = model.fit(x, y, epochs=epochs, **fit_args)
    be.synchronize()
    fit_time = perf_counter() - t0
    result = model.evaluate(ds.x_test, ds.y_test)
    info = be.describe()
    phases = history.phase_totals()
    predicted = predicted_step(impl, cfg, cell, sizes, x.shape[0], dtype,
                               as_pixels=isinstance(ds.x_train, Pixels)) if cfg.steps else {}
    return {**predicted, "fit_time": fit_time, "train_time": history.train_time, "phases": phases,
            "epochs_run": history.epochs_run, "sizes": sizes, "n_train": len(ds.x_train),
            "step_time": history.step_time(cfg.steps) if cfg.steps else None,
            "final_loss": history.history["loss"][-1] if history.epochs else None,
            "test_accuracy": result["accuracy"], "dtype": dtype, "backend": info,
            "threads_used": thread_count(info), "gpu_peak_mb": be.peak_memory_mb(),
            "stop_reason": history.stop_reason}


def predicted_step(impl: ImplSpec, cfg: BenchConfig, cell: Cell, sizes: list[int], rows: int,
                   dtype: str, as_pixels: bool) -> dict:
    """``predicted_s``: this cell's step as this machine's calibration predicts it, after the
    measurement (calibrating what is missing), where ``--predict`` asks or a calibration of
    this implementation exists; ``prediction_error`` if it could not be made. Under
    ``--predict`` the calibration models' real steps are then measured again where they are
    due (``calibration.REFRESH_AFTER_S``), for the cells measured after this one."""
    from mlp_core.bench import calibration
    from mlp_core.bench.prediction import Step, calibrated, predict
    from mlp_core.validation import per_layer

    if impl.modifiers and impl.modifiers != ("f64",):
        return {}
    try:
        store = calibration.Store()
        key = calibration.entry_key(impl.base, cell.threads, dtype)
        if not cfg.predict and key not in store.data["entries"]:
            return {}
        step = Step(tuple(sizes), cell.batch_size, dtype, cfg.activation, cfg.output, cfg.loss,
                    cfg.optimizer, per_layer(cfg.l1, "l1", len(sizes) - 1), tuple(cell.l2),
                    cfg.reduction, as_pixels, rows)
        entry = calibrated(impl.base, cell.threads, dtype, [step], store)
        predicted = predict(entry, step.ops()).seconds
        if cfg.predict:  # then, for the cells after this one: real steps due again
            calibrated(impl.base, cell.threads, dtype, [step], store,
                       refresh_after=calibration.REFRESH_AFTER_S)
        return {"predicted_s": predicted}
    except Exception as exc:  # the measurement stands; the row says why it has no prediction
        return {"prediction_error": f"{type(exc).__name__}: {exc}"}


def run_floor(impl: ImplSpec, cfg: BenchConfig, cell: Cell) -> dict:
    from mlp_core.bench.floor import measure_floor

    be = make_backend(impl, cfg, cell)
    ds = load_data(cfg)  # the products' shapes come from the data actually trained on
    n = ds.x_train.shape[0]
    sizes = [ds.x_train.shape[1], *cell.layers, ds.n_classes]
    del ds
    epoch_rows = cfg.steps * cell.batch_size if cfg.steps else n
    per_epoch = measure_floor(be, sizes, epoch_rows, cell.batch_size, cell.dtype)
    info = be.describe()
    epochs = 1 if cfg.steps else cfg.epochs
    return {"fit_time": per_epoch * epochs, "train_time": per_epoch * epochs,
            "floor_per_epoch": per_epoch, "sizes": sizes, "n_train": n,
            "step_time": per_epoch / cfg.steps if cfg.steps else None,
            "phases": {}, "epochs_run": epochs, "test_accuracy": None,
            "dtype": cell.dtype, "backend": info, "threads_used": thread_count(info)}


def environment() -> dict:
    """The machine this measurement ran on: CPU and its vector extensions, the load before the
    run, the BLAS library with the kernel it chose and any pin of it, and library versions."""
    from mlp_core.machine import allocator, blas_info, cpu_flags, cpu_model

    versions = {"python": platform.python_version()}
    for lib in dict.fromkeys((*backends.libraries(), *(m for p in PEERS.values()
                                                        for m in p.requires))):
        module = sys.modules.get(lib)
        if module is not None:  # the libraries this measurement imported
            versions[lib] = getattr(module, "__version__", "?")
    return {"host": platform.node(), "cpu": cpu_model(), "cpu_count": os.cpu_count(),
            "cpu_flags": cpu_flags(),
            "load_before": LOAD_AT_START, "blas": blas_info(), "allocator": allocator(),
            "versions": versions}


LOAD_AT_START = os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def reference_seconds() -> float:
    """The machine-speed monitor's fixed workload, a few milliseconds: 256x256 float32 products
    on every core (NumPy's BLAS) and a short Python loop; the best of three, so that a blip
    does not count and a slow period does."""
    import numpy as np
    from threadpoolctl import threadpool_limits

    a = np.full((256, 256), 0.5, np.float32)
    best = float("inf")
    with threadpool_limits(os.cpu_count(), user_api="blas"):
        for _ in range(3):
            t = perf_counter()
            for _ in range(8):
                a @ a
            total = 0
            for i in range(20_000):
                total += i
            best = min(best, perf_counter() - t)
    return best


def monitored(measure) -> dict:
    """``measure()``'s result with the monitor's readings: the reference workload's seconds
    (the mean of before and after), the load average after, the CPU steal time during it."""
    before = reference_seconds()
    result, steal = with_steal(measure)
    after = reference_seconds()
    return {**result, "reference_s": (before + after) / 2, "reference_before_s": before,
            "reference_after_s": after, "steal_pct": steal,
            "load_after": os.getloadavg()[0] if hasattr(os, "getloadavg") else None}


def run_job(job: dict) -> dict:
    from mlp_core.bench.floor import sgemm_peak_gflops
    from mlp_core.bench.peers import run_peer

    impl = parse_impl(job["impl"])
    cfg = BenchConfig.from_dict(job["config"])
    cell = cfg.cell(job)
    # the yardstick: NumPy's large-sgemm rate here, before any backend limits threads
    peak = sgemm_peak_gflops() if impl.is_floor or cfg.steps else None
    runner = run_floor if impl.is_floor else run_peer if impl.peer else run_ours
    result = monitored(lambda: runner(impl, cfg, cell))
    sizes, n, bs = result.pop("sizes"), result["n_train"], cell.batch_size
    result.update(sgemm_peak_gflops=peak, epoch_flops=products_per_epoch(sizes, n, bs),
                  time_per_epoch=result["fit_time"] / (result.get("epochs_run") or 1))
    if cfg.steps:  # per step, per sample, and an epoch of the training set at that rate
        step, flops = result["step_time"], products_per_epoch(sizes, bs, bs)
        result.update(steps=cfg.steps, flops_per_step=flops, sample_time=step / bs,
                      epoch_equivalent_time=step * -(-n // bs), gflops=flops / step / 1e9)
    else:  # the useful matrix-product work per second
        result["gflops"] = result["epoch_flops"] / result["time_per_epoch"] / 1e9
    result["library"] = impl.library
    result["peak_rss_mb"] = _peak_rss_mb()
    return {**result, **environment()}


def probe(job: dict) -> dict:
    """Whether the backend of ``job["probe"]`` can be made on ``job["device"]``: ``ok``, or
    ``unavailable`` with the reason."""
    from mlp_core import get_backend
    from mlp_core.errors import BackendUnavailable

    spec = parse_impl(job["probe"])
    try:
        get_backend(spec.backend, job.get("device"), **spec.options)
    except BackendUnavailable as exc:
        return {"status": "unavailable", "error": str(exc)}
    return {"status": "ok"}


def calibrate(job: dict) -> dict:
    """Calibrate ``job["calibrate"]`` (a backend variant) for ``job["steps"]`` and predict
    them (``mlp-core advise``)."""
    from mlp_core.bench.calibration import Store
    from mlp_core.bench.prediction import Step, calibrated, predict

    steps = [Step.from_dict(s) for s in job["steps"]]
    entry = calibrated(job["calibrate"], job.get("threads"), job["dtype"], steps,
                       Store(job.get("store")), sys.stderr if job.get("progress") else None)
    return {"status": "ok", "predictions": [predict(entry, s.ops()).to_dict() for s in steps]}


def main() -> int:
    from mlp_core.machine import keep_freed_memory

    job, result_fd = json.loads(sys.argv[1]), int(sys.argv[2])
    keep_freed_memory()  # for every measurement alike: ours, the peers, the calibration
    try:
        result = (probe(job) if "probe" in job else calibrate(job) if "calibrate" in job
                  else {"status": "ok", **run_job(job)})
    except Exception as exc:  # reported in the row, the bench goes on with the next measurement
        result = {"status": "error", "error": f"{type(exc).__name__}: {exc}",
                  "traceback": traceback.format_exc(limit=5)}
    with os.fdopen(result_fd, "w") as f:
        f.write(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
