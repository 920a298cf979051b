"""The scaling map: a cost model per implementation, the crossovers, the winner of each cell.

The cost model is the two-parameter one used for anything with a fixed cost per call and a
throughput (Hockney's alpha-beta model; the roofline for kernels): ``t_step = overhead + flops /
rate``, fitted by least squares on the relative error over every cell an implementation ran on one
machine, with one thread count and dtype. It says why a backend wins: a small overhead wins small
batches, a high rate large ones, and the batch size where the two costs are equal
(``overhead * rate / flops_per_sample``) divides overhead-bound from compute-bound.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .impls import FLOOR_PREFIX, KERAS
from .rows import LOCAL, cell_key, measured_time, model_name

#: a median relative error above this: the model does not describe the implementation well, and
#: the map names it with what its residuals show
BAD_FIT = 0.15


@dataclass(frozen=True)
class CostModel:
    """``t_step = overhead_s + flops / (rate_gflops * 1e9)``, and how well it fits."""

    overhead_s: float
    rate_gflops: float  # math.inf when the steps cost no more for more work
    median_rel_error: float
    cells: int

    def predict(self, flops: float) -> float:
        return self.overhead_s + (flops / (self.rate_gflops * 1e9) if self.rate_gflops else 0)

    def half_overhead_batch(self, flops_per_sample: float) -> float | None:
        """The batch size at which a step is half overhead and half compute."""
        if not math.isfinite(self.rate_gflops) or flops_per_sample <= 0:
            return None
        return self.overhead_s * self.rate_gflops * 1e9 / flops_per_sample


def fit_cost_model(flops: Sequence[float], times: Sequence[float]) -> CostModel:
    """Least squares on relative error, ``sum(((o + f * s) - t) / t) ** 2``, with o, s >= 0:
    linear in (o, s = 1 / rate), so exact timings give back exact parameters."""
    f, t = np.asarray(flops, float), np.asarray(times, float)
    a = np.column_stack([1.0 / t, f / t])
    (o, s), *_ = np.linalg.lstsq(a, np.ones_like(t), rcond=None)
    if o < 0:  # the best with no overhead
        o, s = 0.0, float(np.sum(f / t) / np.sum((f / t) ** 2))
    if s <= 0:  # the best with no cost per flop
        o, s = float(np.sum(1 / t) / np.sum(1 / t**2)), 0.0
    error = np.abs(o + f * s - t) / t
    rate = float(1 / s / 1e9) if s > 0 else math.inf
    return CostModel(float(o), rate, float(np.median(error)), len(t))


def crossings(batch_sizes: Sequence[float], ratios: Sequence[float]) -> list[float]:
    """Batch sizes where ``ratios`` (one time over another, by increasing batch size) cross 1,
    interpolated in log space between neighbouring cells; [] when the faster never changes."""
    out = []
    points = [(math.log(b), math.log(r)) for b, r in zip(batch_sizes, ratios)]
    for (b1, r1), (b2, r2) in zip(points, points[1:]):
        if r1 == 0:
            out.append(math.exp(b1))
        elif r1 * r2 < 0:
            out.append(math.exp(b1 + (0 - r1) * (b2 - b1) / (r2 - r1)))
    return out


def predicted_crossing(a: CostModel, b: CostModel, flops_per_sample: float) -> float | None:
    """The batch size where the cost models of ``a`` and ``b`` predict equal step times."""
    s_a = 1 / (a.rate_gflops * 1e9) if math.isfinite(a.rate_gflops) else 0.0
    s_b = 1 / (b.rate_gflops * 1e9) if math.isfinite(b.rate_gflops) else 0.0
    denominator = flops_per_sample * (s_a - s_b)
    if denominator == 0:
        return None
    batch = (b.overhead_s - a.overhead_s) / denominator
    return batch if batch > 0 else None


@dataclass(frozen=True)
class Point:
    """One implementation's median over the repeats of one cell."""

    machine: str
    impl: str
    model: str
    batch_size: int
    threads: str  # the thread count asked for ("default": none was)
    dtype: str
    seconds: float  # per step
    flops: float  # per step
    peak_gflops: float | None

    @property
    def group(self) -> tuple[str, str, str]:
        """What must match for two implementations to be compared: machine, threads, dtype."""
        return self.machine, self.threads, self.dtype


def points(rows: list[dict]) -> list[Point]:
    """The medians of the per-step rows (floors apart), one per implementation and cell.

    Implementations are compared at the thread count asked for. One that cannot set its thread
    count (it ran once per cell, with its own) is compared in every thread group of its cell,
    as ``"<impl> (own threads)"``."""
    from .. import backends
    from .impls import parse_impl

    cells: dict[tuple, list[dict]] = {}
    for r in rows:
        if (r.get("status") == "ok" and r.get("flops_per_step")
                and not r["impl"].startswith(FLOOR_PREFIX)):
            cells.setdefault(cell_key(r), []).append(r)
    asked = sorted({str(r.get("threads")) for r in rows if r.get("threads") is not None})
    out = []
    for group in cells.values():
        first = group[0]
        impl, threads = first["impl"], first.get("threads")
        own = threads is None and asked and not backends.entry(parse_impl(impl).backend).threads
        peaks = [g["sgemm_peak_gflops"] for g in group if g.get("sgemm_peak_gflops")]
        for t in asked if own else ["default" if threads is None else str(threads)]:
            out.append(Point(first.get("machine", LOCAL), f"{impl} (own threads)" if own else impl,
                             model_name(first.get("layers")), first["batch_size"], t,
                             str(first.get("dtype")),
                             statistics.median(measured_time(g) for g in group),
                             first["flops_per_step"], statistics.median(peaks) if peaks else None))
    return out


def cost_models(pts: list[Point]) -> dict[tuple, CostModel]:
    """One cost model per (machine, threads, dtype, implementation)."""
    by: dict[tuple, list[Point]] = {}
    for p in pts:
        by.setdefault((*p.group, p.impl), []).append(p)
    return {k: fit_cost_model([p.flops for p in v], [p.seconds for p in v])
            for k, v in by.items() if len(v) >= 2}


def winners(pts: list[Point]) -> list[dict]:
    """The fastest implementation of each cell, and its margin over the next one."""
    by: dict[tuple, list[Point]] = {}
    for p in pts:
        by.setdefault((*p.group, p.model, p.batch_size), []).append(p)
    out = []
    for (machine, threads, dtype, model, batch), cell in sorted(by.items(), key=_cell_order):
        ranked = sorted(cell, key=lambda p: p.seconds)
        out.append({"machine": machine, "threads": threads, "dtype": dtype, "model": model,
                    "batch_size": batch, "fastest": ranked[0].impl,
                    "seconds": ranked[0].seconds,
                    "runner_up": ranked[1].impl if len(ranked) > 1 else None,
                    "margin": ranked[1].seconds / ranked[0].seconds if len(ranked) > 1 else None})
    return out


def crossovers(pts: list[Point], models: dict[tuple, CostModel],
               references: Sequence[str] = (KERAS,)) -> list[dict]:
    """For each implementation against each reference, per model: the batch sizes where the
    faster of the two changes, measured (interpolated) and as the cost models predict."""
    by: dict[tuple, dict[str, dict[int, Point]]] = {}
    for p in pts:
        by.setdefault((*p.group, p.model), {}).setdefault(p.impl, {})[p.batch_size] = p
    out = []
    for (machine, threads, dtype, model), impls in sorted(
            by.items(), key=lambda kv: (*kv[0][:3], _model_size(kv[0][3]))):
        for k, ref in enumerate(references):
            others = set(impls) - set(references[:k + 1])  # (a pair of references: once)
            for impl in sorted(others) if ref in impls else ():
                shared = sorted(set(impls[impl]) & set(impls[ref]))
                if len(shared) < 2:
                    continue
                ratios = [impls[impl][b].seconds / impls[ref][b].seconds for b in shared]
                per_sample = impls[impl][shared[0]].flops / shared[0]
                a, b = (models.get((machine, threads, dtype, x)) for x in (impl, ref))
                out.append({"machine": machine, "threads": threads, "dtype": dtype,
                            "model": model, "impl": impl, "reference": ref,
                            "faster_at_smallest": impl if ratios[0] < 1 else ref,
                            "measured": crossings(shared, ratios),
                            "predicted": predicted_crossing(a, b, per_sample) if a and b
                            else None, "range": (shared[0], shared[-1])})
    return out


def _cell_order(item) -> tuple:
    (machine, threads, dtype, model, batch), _ = item
    return machine, threads, dtype, _model_size(model), batch


def _model_size(model: str) -> tuple:
    return tuple(int(n) for n in model.split("-") if n.isdigit())
