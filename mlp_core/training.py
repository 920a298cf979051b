"""The training loop, in two levels.

- The *batch loop*: pure functions ``step``, ``train_batch`` and ``train_epoch`` that a backend may
  compile as a whole (TensorFlow traces the epoch into one graph loop). They take and return the
  training state as data: ``(params, opt_state, totals)``.
- The *epoch loop* (:func:`run_epochs`): plain Python around the compiled epoch. It shuffles, keeps
  the last good state, stops on divergence, runs the evaluation schedule, times each phase and
  writes the history.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from time import perf_counter
from typing import Any

import numpy as np

from .backends.base import Backend, CompiledEpoch
from .history import BATCHES, COMPILE, EPOCH, EVAL, SHUFFLE, History, time_key
from .network import Network, backward, count_correct, forward, penalty
from .optimizers import Optimizer
from .pixels import rows_of, slice_rows, take_rows
from .progress import EpochProgress

EVAL_CHUNK = 10_000  # rows per forward pass when evaluating a whole set


class TrainingDiverged(RuntimeWarning):
    """The loss or the weights became NaN or infinite: training stopped, the last good state
    kept."""


# ------------------------------------------------------------------------------------------------
# The batch loop: pure functions a backend may compile
def make_train_step(be: Backend, net: Network, opt: Optimizer) -> Callable:
    """``step(params, opt_state, x, y) -> (params, opt_state, metrics)``, a pure function.

    ``metrics`` holds three 0-d arrays: the batch's summed data loss, its penalty times the batch
    size (so sums over batches give Keras's size-weighted mean), and its count of correct outputs.
    """

    def step(params, opt_state, x, y):
        outs, z_out = forward(be, net, params, x)
        a = outs[-1]
        loss_sum, delta = net.loss.value_and_delta(be, a, z_out, y, net.activations[-1])
        metrics = (loss_sum, penalty(be, net, params) * be.row_count(y), count_correct(be, a, y))
        grads = backward(be, net, params, outs, z_out, y, delta)
        params, opt_state = opt.apply(be, params, grads, opt_state)
        return params, opt_state, metrics

    return step


def make_train_batch(be: Backend, net: Network, step: Callable) -> Callable:
    """One batch of an epoch: ``train_batch(state, idx, x_all, y_all) -> state``, with ``state``
    ``(params, opt_state, totals)``: gather rows ``idx``, step, add up the metrics."""

    def train_batch(state, idx, x_all, y_all):
        params, opt_state, totals = state
        x = take_rows(be, x_all, idx, net, params[0])  # (pixels: scaled after the gather)
        params, opt_state, metrics = step(params, opt_state, x, be.gather_rows(y_all, idx))
        return params, opt_state, tuple(t + m for t, m in zip(totals, metrics))

    return train_batch


def make_train_epoch(be: Backend, net: Network, step: Callable, batch_size: int) -> Callable:
    """``train_epoch(params, opt_state, totals, x_all, y_all, perm)``, which returns
    ``(params, opt_state, totals)``.

    Every batch of ``perm`` in order, the last one smaller if need be, through ``be.epoch_loop``:
    a Python loop over ``be.batch_starts`` by default (a graph loop where the backend traces it),
    a compiled loop in JAX.
    """
    train_batch = make_train_batch(be, net, step)

    def train_epoch(params, opt_state, totals, x_all, y_all, perm):
        return be.epoch_loop(train_batch, (params, opt_state, totals), perm, batch_size,
                             x_all, y_all)

    return train_epoch


# ------------------------------------------------------------------------------------------------
# Evaluation over a whole set
def evaluate_arrays(be: Backend, net: Network, params: list, x_dev: Any, y_dev: Any) -> dict:
    """``{"loss", "accuracy"}`` over a whole device-resident set, in chunks of EVAL_CHUNK rows.

    The loss is the mean over samples plus the penalty, as Keras reports it.
    """
    n = rows_of(x_dev)
    loss_sum = correct = 0.0
    for i in range(0, n, EVAL_CHUNK):
        rows = slice(i, min(i + EVAL_CHUNK, n))  # the array API leaves out-of-range stops open
        outs, z = forward(be, net, params, slice_rows(be, x_dev, rows, net, params[0]))
        a, yc = outs[-1], y_dev[rows, :]
        loss_sum += float(be.to_numpy(net.loss.value_sum(be, a, z, yc, net.activations[-1])))
        correct += float(be.to_numpy(count_correct(be, a, yc)))
    reg = penalty(be, net, params)
    reg = reg if isinstance(reg, float) else float(be.to_numpy(reg))
    return {"loss": loss_sum / n + reg, "accuracy": correct / n}


def copy_state(be: Backend, state: Any) -> Any:
    """A copy of nested lists/tuples/dicts of arrays (kernels may update arrays in place)."""
    if isinstance(state, dict):
        return {k: copy_state(be, v) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(copy_state(be, v) for v in state)
    return be.copy(state)


# ------------------------------------------------------------------------------------------------
# The epoch loop
@dataclass(frozen=True)
class EpochPlan:
    """What :func:`run_epochs` does around the compiled epoch.

    ``evals`` lists ``(loss_key, accuracy_key, x, y)`` for the full-set passes, which run every
    ``eval_every`` epochs and after the last (0: never) and are timed apart from the batches.
    """

    epochs: int
    shuffle: bool = True
    evals: tuple[tuple[str, str, Any, Any], ...] = ()
    eval_every: int = 0
    dtype: str = "float32"

    def evaluates(self, epoch: int) -> bool:
        return bool(self.eval_every) and (epoch % self.eval_every == 0 or epoch == self.epochs)


def run_epochs(be: Backend, net: Network, epoch_fn: CompiledEpoch, state: tuple[list, dict],
               data: tuple[Any, Any], plan: EpochPlan, rng: np.random.Generator,
               history: History, progress: EpochProgress) -> tuple[list, dict]:
    """Train ``plan.epochs`` epochs from ``state`` = ``(params, opt_state)`` on the device arrays
    ``data`` = ``(x, y)``; return the final (or last good) state.

    Seconds the backend spent compiling (``epoch_fn.last_compile_s``) are recorded as
    ``time_compile``: part of the epoch's time (``time_epoch``), apart from ``time_batches``.
    A non-finite loss or weight stops training: the state from the end of the last good epoch is
    returned, ``history.stop_reason`` says why and ``history.undone`` records the epoch that ran
    and was undone (the caller warns, once it holds that state).
    """
    for epoch in range(1, plan.epochs + 1):
        last_good = copy_state(be, state)
        state, rec, bad = _train_one_epoch(be, epoch_fn, state, data, plan, rng)
        rec["epoch"] = epoch
        if bad:
            kept = f"end of epoch {epoch - 1}" if epoch > 1 else "start"
            history.stop_reason = (f"{bad} in epoch {epoch}; stopped and kept the weights from the "
                                   f"{kept} (the learning rate is probably too large, or the "
                                   "inputs are not scaled)")
            history.undone = {"epoch": epoch, **{k: v for k, v in rec.items()
                                                 if k.startswith(time_key(""))}}
            return last_good
        t = perf_counter()
        if plan.evaluates(epoch):
            for loss_key, accuracy_key, xe, ye in plan.evals:
                r = evaluate_arrays(be, net, state[0], xe, ye)
                rec[loss_key], rec[accuracy_key] = r["loss"], r["accuracy"]
        be.synchronize()
        rec[time_key(EVAL)] = perf_counter() - t
        rec[time_key(EPOCH)] += rec[time_key(EVAL)]
        history.append(rec)
        progress.update(epoch, rec)
    return state


def _train_one_epoch(be: Backend, epoch_fn: CompiledEpoch, state: tuple[list, dict],
                     data: tuple[Any, Any], plan: EpochPlan, rng: np.random.Generator):
    """One epoch's batches: ``(state, record, why it diverged or None)``."""
    x_dev, y_dev = data
    n = rows_of(x_dev)
    t0 = perf_counter()
    perm = be.asarray(rng.permutation(n) if plan.shuffle else np.arange(n), "int64")
    be.synchronize()
    t1 = perf_counter()
    totals = tuple(be.asarray(0.0, plan.dtype) for _ in range(3))
    # NumPy's overflow warnings would only repeat what the divergence check below says
    with np.errstate(over="ignore", invalid="ignore"):
        params, opt_state, totals = epoch_fn(*state, totals, x_dev, y_dev, perm)
    be.synchronize()
    t2 = perf_counter()
    compile_s = epoch_fn.last_compile_s  # timed apart from the batches
    loss_sum, penalty_sum, correct = (float(be.to_numpy(t)) for t in totals)
    # the weights on the host, once per epoch (a few hundred kB): checked there, with no
    # device op to dispatch or, in JAX, to compile
    host = [be.to_numpy(p) for p in params]
    # the epoch's time includes compiling, as a cold Keras fit's does; the batches' excludes it
    rec = {"loss": (loss_sum + penalty_sum) / n, "reg_loss": penalty_sum / n,
           "accuracy": correct / n, time_key(SHUFFLE): t1 - t0, time_key(COMPILE): compile_s,
           time_key(BATCHES): t2 - t1 - compile_s, time_key(EPOCH): t2 - t0,
           "mean_abs_w": [float(np.mean(np.abs(w))) for w in host[0::2]]}
    return (params, opt_state), rec, _divergence(host, rec["loss"])


def _divergence(host_params: list[np.ndarray], loss: float) -> str | None:
    """Why this epoch's result cannot be kept, or None. The loss is computed before each update,
    so the epoch's last update is checked through the weights themselves."""
    if not math.isfinite(loss):
        return f"the loss became {loss}"
    if not all(np.isfinite(p).all() for p in host_params):
        return "the weights became NaN or infinite"
    return None
