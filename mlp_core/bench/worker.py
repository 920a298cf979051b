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

import numpy as np

from mlp_core.bench.floor import products_per_epoch
from mlp_core.model import per_layer


def _peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux, bytes on macOS
    scale = 1 / 1024 / 1024 if sys.platform == "darwin" else 1 / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def _data(cfg: dict):
    from mlp_core.data import load_dataset

    return load_dataset(cfg["dataset"], cfg.get("data_dir"), scaler=cfg.get("scaler", "divide255"))


def _initial_weights(cfg: dict, sizes: list[int], dtype: str) -> list[np.ndarray]:
    from mlp_core.initializers import init_params

    return init_params(sizes, cfg["init"], cfg.get("init_scale", 1.0),
                       np.random.default_rng(cfg["seed"]), dtype)


# TF's runtime needs more than its first call to settle: warm up by steps (at least 200, in
# whole epochs, but at most 5 epochs: at batch 60000 that is 5 steps)
WARMUP_STEPS = 200


def warmup_epochs(n: int, batch_size: int) -> int:
    """Enough epochs to cover WARMUP_STEPS steps, at least 1 and at most 5."""
    per_epoch = -(-n // batch_size)
    return max(1, min(5, -(-WARMUP_STEPS // per_epoch)))


def _backend(impl, cfg: dict):
    """The backend ``impl`` runs on, with the bench's thread count and device."""
    from mlp_core import get_backend

    options = dict(impl.options)
    if cfg.get("threads"):
        options["threads"] = cfg["threads"]
    return get_backend(impl.backend or "tensorflow", cfg.get("device"), **options)


def run_ours(impl, cfg: dict, batch_size: int) -> dict:
    from mlp_core import MLP
    from mlp_core.optimizers import get_optimizer

    be = _backend(impl, cfg)
    ds = _data(cfg)
    dtype = impl.dtype or cfg["dtype"]
    sizes = [ds.x_train.shape[1], *cfg["layers"], ds.n_classes]
    model = MLP(sizes, activation=cfg["activation"], output=cfg["output"], loss=cfg["loss"],
                init=cfg["init"], init_scale=cfg.get("init_scale", 1.0), seed=cfg["seed"],
                dtype=dtype, backend=be)
    initial = model.get_weights()
    # the shuffling generator as a fresh model leaves it (after drawing the initial weights), so
    # that the measured fit sees the very batches of `mlp-core train` with the same seed
    initial_rng = model.rng.bit_generator.state
    fit_args = dict(batch_size=batch_size, l1=cfg["l1"], l2=cfg["l2"], verbose=False,
                    reduction=cfg.get("reduction", "mean"),
                    eval_train=cfg.get("eval_train", False),
                    propagate_input_delta="input-delta" in impl.modifiers,
                    optimizer=get_optimizer(cfg["optimizer"], learning_rate=cfg.get("lr"),
                                            momentum=cfg.get("momentum"),
                                            decay=cfg.get("decay")))
    if cfg.get("warmup", True):  # traces compiled steps, warms caches and allocators
        model.fit(ds.x_train, ds.y_train, epochs=warmup_epochs(len(ds.x_train), batch_size),
                  **fit_args)
        model.set_weights(initial)
        model.reset_optimizer()
        model.rng.bit_generator.state = initial_rng
    be.synchronize()
    t0 = perf_counter()
    history = model.fit(ds.x_train, ds.y_train, epochs=cfg["epochs"], **fit_args)
    be.synchronize()
    fit_time = perf_counter() - t0
    result = model.evaluate(ds.x_test, ds.y_test)
    info = be.describe()
    return {"fit_time": fit_time, "train_time": history.train_time,
            "phases": history.phase_totals(), "epochs_run": history.epochs,
            "epoch_flops": products_per_epoch(sizes, len(ds.x_train), batch_size),
            "final_loss": history.history["loss"][-1] if history.epochs else None,
            "test_accuracy": result["accuracy"], "dtype": dtype, "backend": info,
            "threads": info.get("blas_threads", info.get("intra_op_threads")),
            "gpu_peak_mb": be.peak_memory_mb(), "stop_reason": history.stop_reason}


def run_keras(impl, cfg: dict, batch_size: int) -> dict:
    """The article's Keras model, from the same initial weights and data."""
    from mlp_core.errors import MLPError

    be = _backend(impl, cfg)  # the TensorFlow backend: imports TF quietly, sets threads, device
    tf = be.tf
    import keras

    dtype = impl.dtype or cfg["dtype"]
    keras.backend.set_floatx(dtype)
    losses = {"cce": "categorical_crossentropy", "mse": "mean_squared_error"}
    if cfg["loss"] not in losses:
        raise MLPError(f"the keras reference supports loss cce and mse, not {cfg['loss']!r}")
    act = {"identity": "linear"}
    ds = _data(cfg)
    sizes = [ds.x_train.shape[1], *cfg["layers"], ds.n_classes]
    n_weights = len(sizes) - 1
    l1s, l2s = per_layer(cfg["l1"], "l1", n_weights), per_layer(cfg["l2"], "l2", n_weights)
    layers = [keras.layers.Dense(n, activation=act.get(a, a),
                                 kernel_regularizer=keras.regularizers.L1L2(l1=l1, l2=l2)
                                 if (l1 or l2) else None)
              for n, a, l1, l2 in zip(sizes[1:], [cfg["activation"]] * (len(sizes) - 2)
                                      + [cfg["output"]], l1s, l2s)]
    with tf.device(be.tf_device):
        model = keras.Sequential([keras.Input((sizes[0],)), *layers])
        opt = {"sgd": keras.optimizers.SGD, "rmsprop": keras.optimizers.RMSprop,
               "adam": keras.optimizers.Adam}[cfg["optimizer"]]
        model.compile(optimizer=opt(**({"learning_rate": cfg["lr"]} if cfg.get("lr") else {})),
                      loss=losses[cfg["loss"]], metrics=["accuracy"])
        initial = _initial_weights(cfg, sizes, dtype)
        model.set_weights(initial)
        model.optimizer.build(model.trainable_variables)
        fresh_state = [v.numpy() for v in model.optimizer.variables]  # iterations, lr, slots
        x, y = ds.x_train.astype(dtype), np.eye(ds.n_classes, dtype=dtype)[ds.y_train]
        if cfg.get("warmup", True):
            model.fit(x, y, epochs=warmup_epochs(len(x), batch_size), batch_size=batch_size,
                      verbose=0)
            model.set_weights(initial)
            for v, value in zip(model.optimizer.variables, fresh_state):
                v.assign(value)
        t0 = perf_counter()
        hist = model.fit(x, y, epochs=cfg["epochs"], batch_size=batch_size, shuffle=True, verbose=0)
        fit_time = perf_counter() - t0
        _, accuracy = model.evaluate(ds.x_test.astype(dtype), np.eye(ds.n_classes)[ds.y_test],
                                     batch_size=10_000, verbose=0)
    return {"fit_time": fit_time, "train_time": fit_time, "phases": {},
            "epochs_run": len(hist.history["loss"]), "final_loss": hist.history["loss"][-1],
            "epoch_flops": products_per_epoch(sizes, len(x), batch_size),
            "test_accuracy": float(accuracy), "dtype": dtype, "gpu_peak_mb": be.peak_memory_mb(),
            "backend": {"backend": "keras", "keras": keras.__version__, "tensorflow": tf.__version__},
            "threads": be.describe()["intra_op_threads"]}


def run_floor(impl, cfg: dict, batch_size: int) -> dict:
    from mlp_core.bench.floor import measure_floor, sgemm_peak_gflops

    be = _backend(impl, cfg)
    ds = _data(cfg)  # the products' shapes come from the data actually trained on
    n = ds.x_train.shape[0]
    sizes = [ds.x_train.shape[1], *cfg["layers"], ds.n_classes]
    del ds
    per_epoch = measure_floor(be, sizes, n, batch_size, cfg["dtype"])
    info = be.describe()
    return {"fit_time": per_epoch * cfg["epochs"], "train_time": per_epoch * cfg["epochs"],
            "floor_per_epoch": per_epoch, "epoch_flops": products_per_epoch(sizes, n, batch_size),
            "sgemm_peak_gflops": sgemm_peak_gflops(),
            "phases": {}, "epochs_run": cfg["epochs"], "test_accuracy": None,
            "dtype": cfg["dtype"], "backend": info,
            "threads": info.get("blas_threads", info.get("intra_op_threads"))}


def environment() -> dict:
    """The machine this measurement ran on: CPU and its vector extensions, the load before the
    run, the BLAS library with the kernel it chose and any pin of it, and library versions."""
    from mlp_core.bench.machine import blas_info, cpu_flags, cpu_model

    versions = {"python": platform.python_version(), "numpy": np.__version__}
    for mod in ("tensorflow", "keras", "cupy", "torch", "jax", "array_api_compat"):
        m = sys.modules.get(mod)
        if m is not None:
            versions[mod] = getattr(m, "__version__", "?")
    return {"cpu": cpu_model(), "cpu_count": os.cpu_count(), "cpu_flags": cpu_flags(),
            "load_before": LOAD_AT_START, "blas": blas_info(), "versions": versions}


LOAD_AT_START = os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def run_job(job: dict) -> dict:
    from mlp_core.bench.impls import parse_impl

    impl = parse_impl(job["impl"])
    runner = run_floor if impl.is_floor else run_keras if impl.is_reference else run_ours
    result = runner(impl, job["config"], job["batch_size"])
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
