"""``scaling.md``, ``scaling.csv`` and the scaling plots, written after a per-step sweep
(``--steps``): per machine, the winner of each cell, the cost models and the crossovers.
"""

from __future__ import annotations

import csv
import io
import math
import statistics
from pathlib import Path

from ..backends import DEFAULT_BACKEND
from ..fileio import atomic_write_bytes, atomic_write_text
from .impls import KERAS
from .report import environment_line
from .rows import LOCAL
from .scaling import BAD_FIT, CostModel, Point, cost_models, crossovers, points, winners


def is_sweep(rows: list[dict]) -> bool:
    """Whether a run timed steps (``--steps``): then the scaling map is made."""
    return any(r.get("status") == "ok" and r.get("step_time") is not None for r in rows)


def write_scaling(rows: list[dict], out_dir: str | Path) -> list[Path]:
    """The scaling outputs for each machine in ``rows`` (named ``scaling-<machine>.*`` when
    there are several); returns the files written."""
    pts = points(rows)
    machines = sorted({p.machine for p in pts})
    written = []
    for machine in machines:
        mine = [p for p in pts if p.machine == machine]
        suffix = f"-{machine}" if len(machines) > 1 else ""
        written += _write_one(mine, [r for r in rows if r.get("machine", LOCAL) == machine],
                              Path(out_dir), suffix)
    return written


def _write_one(pts: list[Point], rows: list[dict], out: Path, suffix: str) -> list[Path]:
    models = cost_models(pts)
    refs = [r for r in (KERAS, DEFAULT_BACKEND) if any(p.impl == r for p in pts)]
    crosses = crossovers(pts, models, refs)
    wins = winners(pts)
    peaks = [p.peak_gflops for p in pts if p.peak_gflops]
    peak = statistics.median(peaks) if peaks else None
    md = ["# mlp-core scaling map", "", environment_line(rows), "",
          *_cost_model_section(models, pts, peak), "", *_winner_section(wins), "",
          *_crossover_section(crosses)]
    paths = [out / f"scaling{suffix}.md", out / f"scaling{suffix}.csv"]
    atomic_write_text(paths[0], "\n".join(md) + "\n")
    atomic_write_text(paths[1], _csv(models, wins, crosses, pts))
    from .scaling_plots import plot_scaling

    for name, png in plot_scaling(pts, models, wins, peak).items():
        atomic_write_bytes(out / f"{name}{suffix}.png", png)
        paths.append(out / f"{name}{suffix}.png")
    return paths


def _flops_per_sample(pts: list[Point], model: str) -> float:
    p = next(p for p in pts if p.model == model)
    return p.flops / p.batch_size


def _cost_model_section(models: dict[tuple, CostModel], pts: list[Point],
                        peak: float | None) -> list[str]:
    model_names = sorted({p.model for p in pts}, key=lambda m: _flops_per_sample(pts, m))
    lines = ["## Cost model: t_step = overhead + FLOPs / rate", "",
             "Fitted per implementation, thread count and dtype on the relative error over its "
             "cells. `half-overhead batch`: the batch size where a step is half overhead and "
             "half compute (overhead-bound below it, compute-bound above), for each model. "
             + (f"The machine's sgemm peak: {peak:.0f} GFLOP/s." if peak else ""), "",
             "| implementation | threads | dtype | overhead (µs) | rate (GFLOP/s) | % sgemm peak "
             "| median error | cells | " + " | ".join(f"half-overhead batch, {m}"
                                                    for m in model_names) + " |",
             "|" + " --- |" * (8 + len(model_names))]
    bad = []
    for (_, threads, dtype, impl), m in sorted(models.items()):
        halves = [m.half_overhead_batch(_flops_per_sample(pts, name)) for name in model_names]
        rate = f"{m.rate_gflops:.1f}" if math.isfinite(m.rate_gflops) else "∞"
        share = (f"{100 * m.rate_gflops / peak:.0f}%" if peak and math.isfinite(m.rate_gflops)
                 else "")
        lines.append(f"| {impl} | {threads} | {dtype} | {1e6 * m.overhead_s:.1f} | {rate} | "
                     f"{share} | {100 * m.median_rel_error:.0f}% | {m.cells} | "
                     + " | ".join(f"{h:.0f}" if h else "" for h in halves) + " |")
        if m.median_rel_error > BAD_FIT:
            bad.append(f"- **{impl}** (threads {threads}, {dtype}): median error "
                       f"{100 * m.median_rel_error:.0f}%; {_why_bad(m, pts, impl, threads, dtype)}")
    if bad:
        lines += ["", "Not described well by the model (median relative error above "
                  f"{100 * BAD_FIT:.0f}%), with what the residuals show:", *bad]
    return lines


def _why_bad(m: CostModel, pts: list[Point], impl: str, threads: str, dtype: str) -> str:
    """What the residuals show: a rate that falls (or rises) with the size of the products."""
    mine = sorted((p for p in pts if (p.impl, p.threads, p.dtype) == (impl, threads, dtype)),
                  key=lambda p: p.flops)
    low, high = mine[: len(mine) // 3 or 1], mine[-(len(mine) // 3 or 1):]

    def slow(group):  # measured over predicted
        return sum(p.seconds / m.predict(p.flops) for p in group) / len(group)

    if slow(high) > 1.15 * slow(low):
        return "its rate falls for the largest products (slower than fitted there)"
    if slow(low) > 1.15 * slow(high):
        return "its rate rises with the size of the products (small ones run below it)"
    return "its step times scatter around the fit without a trend (noise, or a cost per step " \
           "that depends on more than the FLOPs)"


def _winner_section(wins: list[dict]) -> list[str]:
    lines = ["## Fastest implementation per cell", "",
             "`margin`: the runner-up's time over the fastest's.", "",
             "| threads | dtype | model | batch | fastest | s/step | margin | runner-up |",
             "|" + " --- |" * 8]
    for w in wins:
        margin = f"{w['margin']:.2f}x" if w["margin"] else ""
        lines.append(f"| {w['threads']} | {w['dtype']} | {w['model']} | {w['batch_size']} | "
                     f"{w['fastest']} | {w['seconds']:.3g} | {margin} | {w['runner_up'] or ''} |")
    return lines


def _crossover_section(crosses: list[dict]) -> list[str]:
    lines = ["## Crossovers", "",
             "The batch size where the faster of an implementation and a reference changes: "
             "measured (interpolated in log space between neighbouring cells) and as the two "
             "cost models predict.", "",
             "| threads | dtype | model | implementation | against | faster at the smallest batch "
             "| measured | predicted |", "|" + " --- |" * 8]
    for c in crosses:
        measured = ", ".join(f"{b:.0f}" for b in c["measured"]) or "none in range"
        lo, hi = c["range"]
        pred = c["predicted"]
        predicted = ("none" if pred is None else f"{pred:.0f}"
                     + ("" if lo <= pred <= hi else " (outside the measured range)"))
        lines.append(f"| {c['threads']} | {c['dtype']} | {c['model']} | {c['impl']} | "
                     f"{c['reference']} | {c['faster_at_smallest']} | {measured} | {predicted} |")
    return lines


def _csv(models: dict[tuple, CostModel], wins: list[dict], crosses: list[dict],
         pts: list[Point]) -> str:
    """One table, a ``section`` column telling its three parts apart."""
    fields = ["section", "machine", "threads", "dtype", "impl", "model", "batch_size",
              "seconds", "runner_up", "margin", "overhead_us", "rate_gflops",
              "median_rel_error", "reference", "measured_crossover", "predicted_crossover"]
    out = []
    for (machine, threads, dtype, impl), m in sorted(models.items()):
        out.append({"section": "cost_model", "machine": machine, "threads": threads,
                    "dtype": dtype, "impl": impl, "overhead_us": 1e6 * m.overhead_s,
                    "rate_gflops": m.rate_gflops, "median_rel_error": m.median_rel_error})
    for w in wins:
        out.append({"section": "fastest", **{k: w[k] for k in (
            "machine", "threads", "dtype", "model", "batch_size", "seconds", "runner_up",
            "margin")}, "impl": w["fastest"]})
    for c in crosses:
        out.append({"section": "crossover", **{k: c[k] for k in (
            "machine", "threads", "dtype", "model", "impl", "reference")},
            "measured_crossover": " ".join(f"{b:.0f}" for b in c["measured"]) or "none",
            "predicted_crossover": "" if c["predicted"] is None else f"{c['predicted']:.0f}"})
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields)
    writer.writeheader()
    writer.writerows(out)
    return buf.getvalue()
