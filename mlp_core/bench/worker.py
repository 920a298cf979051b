"""One measurement, in a fresh process: ``python -m mlp_core.bench.worker '<job as JSON>'``.

It prints one JSON line with the result. A fresh process per measurement keeps thread settings,
allocators and compiled functions of one implementation from leaking into the next.
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
from mlp_core.bench.config import BenchConfig
from mlp_core.bench.floor import products_per_epoch
from mlp_core.bench.impls import KERAS, ImplSpec, parse_impl


def _peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux, bytes on macOS
    scale = 1 / 1024 / 1024 if sys.platform == "darwin" else 1 / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def load_data(cfg: BenchConfig):
    from mlp_core.data import load_dataset

    return load_dataset(cfg.dataset, cfg.data_dir, scaler=cfg.scaler)


# TF's runtime needs more than its first call to settle: warm up by steps (at least 200, in
# whole epochs, but at most 5 epochs: at batch 60000 that is 5 steps)
WARMUP_STEPS = 200


def warmup_epochs(n: int, batch_size: int) -> int:
    """Enough epochs to cover WARMUP_STEPS steps, at least 1 and at most 5."""
    per_epoch = -(-n // batch_size)
    return max(1, min(5, -(-WARMUP_STEPS // per_epoch)))


def make_backend(impl: ImplSpec, cfg: BenchConfig):
    """The backend ``impl`` runs on, with the bench's thread count and device."""
    from mlp_core import get_backend

    options = dict(impl.options)
    if cfg.threads:
        options["threads"] = cfg.threads
    return get_backend(impl.backend, cfg.device, **options)


def thread_count(info: dict) -> int | str | None:
    """The compute threads a backend's ``describe()`` reports."""
    return info.get("blas_threads", info.get("intra_op_threads"))


def run_ours(impl: ImplSpec, cfg: BenchConfig, batch_size: int) -> dict:
    from mlp_core import MLP
    from mlp_core.optimizers import get_optimizer

    be = make_backend(impl, cfg)
    ds = load_data(cfg)
    dtype = impl.dtype or cfg.dtype
    sizes = [ds.x_train.shape[1], *cfg.layers, ds.n_classes]
    model = MLP(sizes, activation=cfg.activation, output=cfg.output, loss=cfg.loss,
                init=cfg.init, init_scale=cfg.init_scale, seed=cfg.seed, dtype=dtype, backend=be)
    initial = model.get_weights()
    # the shuffling generator as a fresh model leaves it (after drawing the initial weights), so
    # that the measured fit sees the very batches of `mlp-core train` with the same seed
    initial_rng = model.rng.bit_generator.state
    fit_args = dict(batch_size=batch_size, l1=cfg.l1, l2=cfg.l2, verbose=False,
                    reduction=cfg.reduction, eval_train=cfg.eval_train,
                    propagate_input_delta="input-delta" in impl.modifiers,
                    optimizer=get_optimizer(cfg.optimizer, learning_rate=cfg.learning_rate,
                                            momentum=cfg.momentum, decay=cfg.decay))
    if cfg.warmup:  # traces compiled steps, warms caches and allocators
        model.fit(ds.x_train, ds.y_train, epochs=warmup_epochs(len(ds.x_train), batch_size),
                  **fit_args)
        model.set_weights(initial)
        model.reset_optimizer()
        model.rng.bit_generator.state = initial_rng
    be.synchronize()
    t0 = perf_counter()
    history = model.fit(ds.x_train, ds.y_train, epochs=cfg.epochs, **fit_args)
    be.synchronize()
    fit_time = perf_counter() - t0
    result = model.evaluate(ds.x_test, ds.y_test)
    info = be.describe()
    return {"fit_time": fit_time, "train_time": history.train_time,
            "phases": history.phase_totals(), "epochs_run": history.epochs_run,
            "epoch_flops": products_per_epoch(sizes, len(ds.x_train), batch_size),
            "final_loss": history.history["loss"][-1] if history.epochs else None,
            "test_accuracy": result["accuracy"], "dtype": dtype, "backend": info,
            "threads": thread_count(info), "gpu_peak_mb": be.peak_memory_mb(),
            "stop_reason": history.stop_reason}


def run_floor(impl: ImplSpec, cfg: BenchConfig, batch_size: int) -> dict:
    from mlp_core.bench.floor import measure_floor, sgemm_peak_gflops

    be = make_backend(impl, cfg)
    ds = load_data(cfg)  # the products' shapes come from the data actually trained on
    n = ds.x_train.shape[0]
    sizes = [ds.x_train.shape[1], *cfg.layers, ds.n_classes]
    del ds
    per_epoch = measure_floor(be, sizes, n, batch_size, cfg.dtype)
    info = be.describe()
    return {"fit_time": per_epoch * cfg.epochs, "train_time": per_epoch * cfg.epochs,
            "floor_per_epoch": per_epoch, "epoch_flops": products_per_epoch(sizes, n, batch_size),
            "sgemm_peak_gflops": sgemm_peak_gflops(),
            "phases": {}, "epochs_run": cfg.epochs, "test_accuracy": None,
            "dtype": cfg.dtype, "backend": info, "threads": thread_count(info)}


def environment() -> dict:
    """The machine this measurement ran on: CPU and its vector extensions, the load before the
    run, the BLAS library with the kernel it chose and any pin of it, and library versions."""
    from mlp_core.machine import blas_info, cpu_flags, cpu_model

    versions = {"python": platform.python_version()}
    for lib in (*backends.libraries(), KERAS):
        module = sys.modules.get(lib)
        if module is not None:  # the libraries this measurement imported
            versions[lib] = getattr(module, "__version__", "?")
    return {"cpu": cpu_model(), "cpu_count": os.cpu_count(), "cpu_flags": cpu_flags(),
            "load_before": LOAD_AT_START, "blas": blas_info(), "versions": versions}


LOAD_AT_START = os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def run_job(job: dict) -> dict:
    from mlp_core.bench.keras_reference import run_keras

    impl = parse_impl(job["impl"])
    runner = run_floor if impl.is_floor else run_keras if impl.is_reference else run_ours
    result = runner(impl, BenchConfig.from_dict(job["config"]), job["batch_size"])
    epochs = result.get("epochs_run") or 1
    result["time_per_epoch"] = result["fit_time"] / epochs
    if result.get("epoch_flops"):  # the useful matrix-product work per second
        result["gflops"] = result["epoch_flops"] / result["time_per_epoch"] / 1e9
    result["library"] = impl.library
    result["peak_rss_mb"] = _peak_rss_mb()
    return {**result, **environment()}


def main() -> int:
    job = json.loads(sys.argv[1])
    try:
        result = {"status": "ok", **run_job(job)}
    except Exception as exc:  # reported in the row, the bench goes on with the next measurement
        result = {"status": "error", "error": f"{type(exc).__name__}: {exc}",
                  "traceback": traceback.format_exc(limit=5)}
    print(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
