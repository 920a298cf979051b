"""Predicting a training step's time from the calibration, before anything is trained.

The step is its operations (:mod:`step_ops`, recorded from the core). Each costs what the
calibration says (:mod:`calibration`): a product its own measured time, any other operation
its kind's curve at its number of elements. One call of either pays the per-call cost of an
eager call, which the step does not pay as such, so an operation's *work* is its calibrated time
less that cost (a product's: one of its form with next to no work). The step is then::

    step = (products' work) + d * (products' bytes) + b * (the rest's work) + c * (operations)

with three terms fitted (non-negative least squares, on relative error) to real steps of seven
calibration models, ``b`` held near 1 unless the steps say otherwise. The products enter as
measured, at their own shapes: ``d`` is what each byte a product reads and writes costs in a
step beyond the single call, whose operands stay in the cache from one call to the next (the
memory side of the roofline); ``b`` how much slower (or faster) the rest runs in a step than in
single calls (below 1 where a compiler fuses element-wise work into fewer passes: XLA); ``c``
the step's own cost per operation (Python and dispatch eagerly, the executor's per-node cost in
a graph). An epoch is ``ceil(rows / batch)`` steps.
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .. import backends
from ..errors import MLPError
from ..machine import least_stolen
from . import calibration as cal
from . import stats
from .step_ops import Op, step_operations

#: the weight of the fit's prior that b = 1, against one calibration model's relative error
PRIOR_WEIGHT = 0.5

#: beyond the libraries' own names: what a backend's describe() reports of versions
VERSION_KEYS = ("blas", "jaxlib")


@dataclass(frozen=True)
class Step:
    """One training step's configuration: what its operations depend on."""

    sizes: tuple[int, ...]  # layer sizes, input to output
    batch_size: int
    dtype: str = "float32"
    activation: str = "sigmoid"
    output: str = "sigmoid"
    loss: str = "cce"
    optimizer: str = "rmsprop"
    l1: tuple[float, ...] = ()
    l2: tuple[float, ...] = ()
    reduction: str = "mean"
    pixels: bool = False  # uint8 images, scaled batch by batch
    n_rows: int | None = None  # the training set's rows (default: one batch)

    def ops(self) -> list[Op]:
        return list(_recorded_ops(self))

    def with_model(self, hidden: tuple[int, ...], batch_size: int) -> Step:
        """The same training with other hidden layers and batch size (L2 on every hidden
        kernel as this one has it on its first)."""
        l2 = (self.l2[0],) * len(hidden) + (self.l2[-1],) if self.l2 else ()
        return Step((self.sizes[0], *hidden, self.sizes[-1]), batch_size, self.dtype,
                    self.activation, self.output, self.loss, self.optimizer, (), l2,
                    self.reduction, False, None)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Step:
        return cls(**{**d, "sizes": tuple(d["sizes"]), "l1": tuple(d.get("l1", ())),
                      "l2": tuple(d.get("l2", ()))})


@functools.lru_cache(maxsize=64)
def _recorded_ops(step: Step) -> tuple[Op, ...]:
    """The step's operations, recorded once per configuration (a recording runs the step)."""
    return tuple(step_operations(
        list(step.sizes), step.batch_size, activation=step.activation, output=step.output,
        loss=step.loss, dtype=step.dtype, l1=step.l1 or None, l2=step.l2 or None,
        optimizer=step.optimizer, reduction=step.reduction, pixels=step.pixels,
        n_rows=step.n_rows))


@dataclass
class Prediction:
    """A step's predicted seconds and their parts: the products' work, the rest's work, and
    the overhead (per-call and fixed costs)."""

    seconds: float
    products: float
    elementwise: float
    overhead: float
    operations: int = 0
    error: float | None = None  # the calibration's own relative error (its check model)

    def to_dict(self) -> dict:
        return asdict(self)


def predict(entry: dict, ops: list[Op]) -> Prediction:
    """The step of ``ops`` under the calibration ``entry`` (which has every piece they need)."""
    products, rest = work_sums(entry, ops)
    products += entry["product_byte_s"] * product_bytes(ops, entry.get("itemsize", 4))
    elementwise = entry["fusion"] * rest
    overhead = len(ops) * entry["op_overhead_s"]
    return Prediction(products + elementwise + overhead, products, elementwise, overhead,
                      len(ops), entry.get("check_error"))


def work_sums(entry: dict, ops: list[Op]) -> tuple[float, float]:
    """The products' work and the other operations' work, as single calls measure them: each
    call's time less what a call costs (a product's: one of its form with next to no work)."""
    per_call = entry["per_call_s"]
    products = sum(cal.product_work(entry["products"], op.variant, *op.mnk)
                   for op in ops if op.is_product)
    rest = sum(max(0.0, cal.interpolate_curve(entry["curves"][op.kind], op.elements) - per_call)
               for op in ops if not op.is_product)
    return products, rest


def product_bytes(ops: list[Op], itemsize: int) -> int:
    """The bytes the products read and write: both operands and the result of each."""
    return sum(itemsize * (m * k + k * n + m * n) for m, k, n in
               (op.mnk for op in ops if op.is_product))


def versions(be: Any) -> dict:
    info, keys = be.describe(), (*backends.libraries(), *VERSION_KEYS)
    return {k: str(info[k]) for k in keys if k in info}


def eager_sibling(variant: str, threads: int | None):
    """The backend of ``variant``, and the same library in eager mode, whose single calls the
    calibration times (the variant itself where it is eager)."""
    from .. import get_backend

    v, entry = backends.variant(variant)
    options = dict(v.options)
    if threads and entry.threads:
        options["threads"] = threads
    be = get_backend(entry.name, **options)
    if options.get("mode", "eager") == "eager" or "eager" not in entry.modes:
        return be, be
    return be, get_backend(entry.name, **{**options, "mode": "eager"})


def real_step_seconds(be: Any, steps: list[Step], rounds: int,
                      tick=lambda: None) -> list[list[float]]:
    """Seconds per step of each of ``steps`` trained on ``be`` as the bench's ``--steps``
    trains, in ``rounds`` rounds (a list of each step's seconds per round): one epoch of
    CALIBRATION_STEPS batches after a warm-up over the same batches. Each round trains every
    step once, so that a slow moment of the machine weighs on all of them alike (as the bench
    interleaves its cells), and is measured again while the hypervisor takes the CPU
    (``machine.least_stolen``)."""
    from ..model import MLP

    runs = []
    for step in steps:
        rows = cal.CALIBRATION_STEPS * step.batch_size
        rng = np.random.default_rng(0)
        x = rng.random((rows, step.sizes[0])).astype(step.dtype)
        y = rng.integers(0, step.sizes[-1], rows)
        model = MLP(list(step.sizes), activation=step.activation, output=step.output,
                    loss=step.loss, dtype=step.dtype, seed=0, backend=be)
        args = dict(batch_size=step.batch_size, verbose=False, optimizer=step.optimizer,
                    l1=list(step.l1) or 0.0, l2=list(step.l2) or 0.0, reduction=step.reduction)
        model.fit(x, y, epochs=1, **args)
        runs.append((model, x, y, args))

    def one_round() -> list[float]:
        times = []
        for model, x, y, args in runs:
            times.append(model.fit(x, y, epochs=1, **args).step_time(cal.CALIBRATION_STEPS))
            tick()
        return times

    return [least_stolen(one_round) for _ in range(rounds)]


def calibrated(variant: str, threads: int | None, dtype: str, steps: list[Step],
               store: cal.Store, progress: Any = None,
               refresh_after: float | None = None) -> dict:
    """The calibration entry of ``variant`` at ``threads`` and ``dtype`` with every piece
    ``steps`` need, measuring here what the store lacks (and storing it). ``refresh_after``
    (seconds): where the calibration models' real steps were last measured longer ago, they
    are measured once more and the terms fitted again to every round kept (the bench's
    ``--predict``: a calibration sampled across a sweep, not in one minute of it)."""
    if dtype not in ("float32", "float64"):
        raise MLPError(f"predictions cover float32 and float64, not {dtype!r}")
    be, eager = eager_sibling(variant, threads)
    with be.precision_scope(dtype), eager.precision_scope(dtype):
        key = cal.entry_key(variant, threads, dtype)
        entry = store.entry(key, versions(be)) or {"versions": versions(be), "curves": {},
                                                   "products": {}}
        needs_fit = "fusion" not in entry
        refresh = not needs_fit and refresh_after is not None and (
            time.time() - entry["calibration_steps"]["measured_at"] > refresh_after)
        like = steps[0] if steps else Step((784, 10), 1, dtype)
        # the calibration models: recorded and measured only where the terms are not fitted
        # yet, or their real steps are due again
        model_steps = [like.with_model(*m) for m in (*cal.FIT_MODELS, cal.CHECK_MODEL)
                       ] if needs_fit or refresh else []
        all_ops = [s.ops() for s in (*model_steps, *steps)]
        kernels = cal.Kernels(eager, dtype)
        kinds = sorted(({"arith"} | {op.kind for ops in all_ops for op in ops
                                     if not op.is_product}) - set(entry["curves"]))
        new_products = cal.missing_products(entry["products"], [
            (op.variant, *op.mnk) for ops in all_ops for op in ops if op.is_product])
        # where the real steps are due again, so is one more pass of every product kept
        kept_products = [cal.product_of_key(k) for k in entry["products"]] if refresh else []
        passes = [new_products + kept_products] + [new_products] * (cal.PRODUCT_PASSES - 1)
        models = [[list(s.sizes), s.batch_size] for s in model_steps]
        # more rounds of the same models, or 3 of new ones (another input or output size)
        kept = entry["calibration_steps"]["rounds_s"] if refresh and entry[
            "calibration_steps"]["models"] == models else []
        rounds = 1 if kept else cal.CALIBRATION_ROUNDS
        timings = (len(kinds) * len(cal.CURVE_ELEMENTS) + sum(map(len, passes))
                   + rounds * len(model_steps))
        _tick = _progress(progress, timings, f"calibrating {variant}")
        # each phase measured again while the hypervisor takes the CPU (steal time)
        entry["curves"].update(least_stolen(lambda: kernels.curves(kinds, _tick)))
        entry["per_call_s"] = entry["curves"]["arith"][0][1]
        # passes a pass apart, each product's median kept: a product slowed by a passing stall
        # in one pass (a few milliseconds, seen in torch), or measured while the machine ran
        # fast, does not set its cost alone
        for products in passes:
            for product, seconds in zip(products, least_stolen(
                    lambda products=products: kernels.products(products, _tick))):
                name = cal.product_key(*product)
                entry["products"][name] = cal.keep_latest(entry["products"].get(name, []),
                                                          [seconds])
        if model_steps:
            measured = real_step_seconds(be, model_steps, rounds, _tick)
            entry["calibration_steps"] = {
                "models": models, "rounds_s": cal.keep_latest(kept, measured),
                "measured_at": time.time()}
            _fit_terms(entry, all_ops[:len(model_steps)], np.dtype(dtype).itemsize)
    if kinds or new_products or model_steps:
        store.put(key, entry)
    return entry


def _fit_terms(entry: dict, ops: list[list[Op]], itemsize: int) -> None:
    """The step's three terms from the calibration models' real steps (each model's median
    over the rounds kept; the last model held out: its error is the calibration's
    ``check_error``)."""
    from scipy.optimize import nnls

    measured = [stats.median_of(times) for times in zip(*entry["calibration_steps"]["rounds_s"])]
    rows = [(*work_sums(entry, o), len(o), product_bytes(o, itemsize)) for o in ops[:-1]]
    # relative error: each model's row divided by its measured time, less its products'
    # measured work (they enter as measured: a free scale on them traded products for the
    # rest, a = 0.34-0.61 in JAX with b = 0, and missed its largest models by 40%); and a row
    # that holds b near 1 (single calls predict the rest) unless the steps say otherwise
    design = np.array([[e / t, n / t, nbytes / t] for (_, e, n, nbytes), t in zip(rows, measured)]
                      + [[PRIOR_WEIGHT, 0, 0]])
    target = np.array([1 - p / t for (p, *_), t in zip(rows, measured)] + [PRIOR_WEIGHT])
    (fusion, overhead, byte_s), _ = nnls(design, target)
    entry.update(fusion=float(fusion), op_overhead_s=float(overhead),
                 product_byte_s=float(byte_s), itemsize=itemsize)
    entry["check_error"] = abs(predict(entry, ops[-1]).seconds - measured[-1]) / measured[-1]


def _progress(progress: Any, total: int, label: str):
    """A tick function: a progress bar on ``progress`` (a stream), or nothing."""
    if progress is None or total == 0:
        return lambda: None
    from tqdm import tqdm

    bar = tqdm(total=total, desc=label, file=progress, leave=False, unit="timing")

    def tick() -> None:
        bar.update()
        if bar.n >= total:
            bar.close()

    return tick


def error_stats(pairs: list[tuple[float, float]]) -> dict:
    """Median and 90th-percentile |predicted - measured| / measured over (predicted, measured)
    pairs."""
    errors = sorted(abs(p - m) / m for p, m in pairs if m)
    if not errors:
        return {"n": 0, "median": None, "p90": None}
    return {"n": len(errors), "median": stats.median_of(errors),
            "p90": float(np.quantile(errors, 0.9))}


def steps_per_epoch(rows: int, batch_size: int) -> int:
    return math.ceil(rows / batch_size)
