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
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from . import stats
from .impls import FLOOR_PREFIX, KERAS
from .rows import LOCAL, cell_key, measured_time, model_name
from .summary import judge, paired

#: a median relative error above this: the model does not describe the implementation well, and
#: the map names it with what its residuals show
BAD_FIT = 0.15


@dataclass(frozen=True)
class CostModel:
    """``t_step = overhead_s + flops / (rate_gflops * 1e9)``, and how well it fits."""

    overhead_s: float
    rate_gflops: float  # math.inf when the steps cost no more for more work
    median_rel_error: float  # of the fit against the cells' medians
    cells: int
    #: 95% intervals of the two parameters, from a bootstrap over rounds (None: one round)
    overhead_ci: tuple[float, float] | None = None
    rate_ci: tuple[float, float] | None = None
    #: the measurement noise: median |sample - its cell's median| / that median
    noise: float | None = None

    @property
    def misfit_beyond_noise(self) -> bool | None:
        """Whether the fit misses the cells by more than their samples scatter (then the model
        is wrong for this implementation; otherwise more rounds would narrow it down)."""
        if self.noise is None:
            return None
        return self.median_rel_error > max(2 * self.noise, 0.02)

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
    return CostModel(float(o), rate, stats.median_of(list(error)), len(t))


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
    seconds: float  # per step: the median over the rounds
    flops: float  # per step
    peak_gflops: float | None
    rounds: dict[int, float] = field(default_factory=dict, compare=False)  # repeat -> seconds

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
            rounds: dict[int, float] = {}
            for g in group:
                rounds.setdefault(g["repeat"], measured_time(g))
            out.append(Point(first.get("machine", LOCAL), f"{impl} (own threads)" if own else impl,
                             model_name(first.get("layers")), first["batch_size"], t,
                             str(first.get("dtype")), stats.median_of(list(rounds.values())),
                             first["flops_per_step"], stats.median_of(peaks) if peaks else None,
                             rounds))
    return out


def cost_models(pts: list[Point], resamples: int = 200) -> dict[tuple, CostModel]:
    """One cost model per (machine, threads, dtype, implementation), fitted on every sample
    (each cell's time in each round), with its parameters' intervals from a bootstrap over
    rounds and the noise it is judged against."""
    by: dict[tuple, list[Point]] = {}
    for p in pts:
        by.setdefault((*p.group, p.impl), []).append(p)
    return {k: _fit_with_noise(v, resamples) for k, v in by.items() if len(v) >= 2}


def _fit_with_noise(cells: list[Point], resamples: int) -> CostModel:
    samples = [(p.flops, t, r) for p in cells for r, t in p.rounds.items()] or [
        (p.flops, p.seconds, 0) for p in cells]
    fit = fit_cost_model([f for f, _, _ in samples], [t for _, t, _ in samples])
    median_error = stats.median_of([abs(fit.predict(p.flops) - p.seconds) / p.seconds
                                 for p in cells])
    noise = [abs(t - p.seconds) / p.seconds for p in cells for t in p.rounds.values()]
    rounds = sorted({r for _, _, r in samples})
    overhead_ci = rate_ci = None
    if len(rounds) > 1:
        rng = np.random.default_rng(0)
        fits = []
        for _ in range(resamples):
            chosen = rng.choice(rounds, len(rounds))
            picked = [(f, t) for r in chosen for f, t, rr in samples if rr == r]
            fits.append(fit_cost_model([f for f, _ in picked], [t for _, t in picked]))
        o = np.percentile([m.overhead_s for m in fits], [2.5, 97.5])
        g = np.percentile([m.rate_gflops for m in fits], [2.5, 97.5])
        overhead_ci, rate_ci = (float(o[0]), float(o[1])), (float(g[0]), float(g[1]))
    return CostModel(fit.overhead_s, fit.rate_gflops, median_error, len(cells), overhead_ci,
                     rate_ci, stats.median_of(noise) if len(rounds) > 1 else None)


def winners(pts: list[Point]) -> list[dict]:
    """Each cell's verdict: the fastest by median; ``winner`` where the interval of the
    runner-up's time over its own, round by round, excludes 1, else a ``tie`` of every
    implementation whose ratio to the fastest is not significant."""
    by: dict[tuple, list[Point]] = {}
    for p in pts:
        by.setdefault((*p.group, p.model, p.batch_size), []).append(p)
    out = []
    for (machine, threads, dtype, model, batch), cell in sorted(by.items(), key=_cell_order):
        ranked = sorted(cell, key=lambda p: p.seconds)
        out.append({"machine": machine, "threads": threads, "dtype": dtype, "model": model,
                    "batch_size": batch, "seconds": ranked[0].seconds,
                    **judge([(p.impl, p.rounds) for p in ranked])})
    return out


def significant_crossover(batch_sizes: Sequence[int],
                          ratios: Sequence[stats.Estimate | None]) -> tuple[int, int] | None:
    """Where the faster of two implementations changes, as far as the intervals say: the
    batch sizes ``(below, above)`` where the ratio is significant on either side, with no
    significant ratio between them; None where no such change is resolved."""
    sides = [(b, 1 if e.low > 1 else -1) for b, e in zip(batch_sizes, ratios)
             if e is not None and e.decided]
    for (b1, s1), (b2, s2) in zip(sides, sides[1:]):
        if s1 != s2:
            return b1, b2
    return None


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
                intervals = [paired(impls[impl][b].rounds, impls[ref][b].rounds) for b in shared]
                per_sample = impls[impl][shared[0]].flops / shared[0]
                a, b = (models.get((machine, threads, dtype, x)) for x in (impl, ref))
                out.append({"machine": machine, "threads": threads, "dtype": dtype,
                            "model": model, "impl": impl, "reference": ref,
                            "faster_at_smallest": impl if ratios[0] < 1 else ref,
                            "measured": crossings(shared, ratios),
                            "significant": significant_crossover(shared, intervals),
                            "always": _always_faster(intervals, impl, ref),
                            "predicted": predicted_crossing(a, b, per_sample) if a and b
                            else None, "range": (shared[0], shared[-1])})
    return out


def _always_faster(ratios: Sequence[stats.Estimate | None], impl: str, ref: str) -> str | None:
    """The one of the two that is significantly faster at every batch size, if one is."""
    if ratios and all(e is not None and e.high is not None and e.high < 1 for e in ratios):
        return impl
    if ratios and all(e is not None and e.low is not None and e.low > 1 for e in ratios):
        return ref
    return None


def _cell_order(item) -> tuple:
    (machine, threads, dtype, model, batch), _ = item
    return machine, threads, dtype, _model_size(model), batch


def _model_size(model: str) -> tuple:
    return tuple(int(n) for n in model.split("-") if n.isdigit())
