"""``scaling.md``, ``scaling.csv`` and the scaling plots, written after a per-step sweep
(``--steps``): per machine, the verdict of each cell, the cost models and the crossovers, as a
document (:mod:`mlp_core.bench.document`) that ``report.html`` shows too.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from ..backends import DEFAULT_BACKEND
from . import stats
from .document import Block, Bullets, Column, Heading, Paragraph, Plot, Table
from .impls import KERAS
from .report import environment_line, write_document
from .rows import LOCAL
from .scaling import BAD_FIT, CostModel, Point, cost_models, crossovers, points, winners


def is_sweep(rows: list[dict]) -> bool:
    """Whether a run timed steps (``--steps``): then the scaling map is made."""
    return any(r.get("status") == "ok" and r.get("step_time") is not None for r in rows)


def scaling_documents(rows: list[dict]) -> list[tuple[str, list[Block], str]]:
    """For each machine in ``rows``: the name's suffix (``-<machine>`` when there are several),
    the document and the CSV."""
    pts = points(rows)
    machines = sorted({p.machine for p in pts})
    out = []
    for machine in machines:
        suffix = f"-{machine}" if len(machines) > 1 else ""
        out.append((suffix, *_document([p for p in pts if p.machine == machine],
                                       [r for r in rows if r.get("machine", LOCAL) == machine],
                                       suffix)))
    return out


def write_scaling(rows: list[dict], out_dir: str | Path) -> list[Path]:
    """The scaling outputs for each machine in ``rows``; returns the files written."""
    return [path for suffix, blocks, csv_text in scaling_documents(rows)
            for path in write_document(blocks, Path(out_dir), f"scaling{suffix}", csv_text)]


def _document(pts: list[Point], rows: list[dict], suffix: str) -> tuple[list[Block], str]:
    models = cost_models(pts)
    refs = [r for r in (KERAS, DEFAULT_BACKEND) if any(p.impl == r for p in pts)]
    crosses = crossovers(pts, models, refs)
    wins = winners(pts)
    peaks = [p.peak_gflops for p in pts if p.peak_gflops]
    peak = stats.median_of(peaks) if peaks else None
    blocks: list[Block] = [Heading("mlp-core scaling map", 1), Paragraph(environment_line(rows)),
                           *_winner_section(wins), *_cost_model_section(models, pts, peak),
                           *_crossover_section(crosses)]
    from .scaling_plots import plot_scaling

    blocks += [Plot(f"{name}{suffix}", png)
               for name, png in plot_scaling(pts, models, wins, peak).items()]
    blocks += _prediction_section(rows, suffix)
    return blocks, _csv(models, wins, crosses)


def _prediction_section(rows: list[dict], suffix: str) -> list[Block]:
    """Predicted against measured, where the cells have a prediction (``--predict``): each
    implementation's median and 90th-percentile error, and the plot."""
    from .prediction import error_stats
    from .summary import summarize

    cells = [s for s in summarize(rows) if s.get("predicted_s") and s.get("per_step")]
    if not cells:
        return []
    table = []
    for impl in sorted({c["impl"] for c in cells}):
        mine = [c for c in cells if c["impl"] == impl]
        st = error_stats([(c["predicted_s"], c["median_s"]) for c in mine])
        worst = max(mine, key=lambda c: abs(c["predicted_s"] / c["median_s"] - 1))
        table.append({"impl": impl, "cells": st["n"], "median": st["median"], "p90": st["p90"],
                      "worst": f"{worst['model']} batch {worst['batch_size']}: "
                               f"{worst['predicted_s'] / worst['median_s']:.2f}x"})
    every = error_stats([(c["predicted_s"], c["median_s"]) for c in cells])
    pct = lambda v: f"{100 * v:.0f}%"  # noqa: E731
    blocks: list[Block] = [
        Heading("Predicted against measured"),
        Paragraph(f"Each cell's step predicted from this machine's calibration "
                  f"(`docs/prediction.md`) against its measured median: over {every['n']} cells "
                  f"the median error is {pct(every['median'])} and the 90th percentile "
                  f"{pct(every['p90'])} (|predicted - measured| / measured)."),
        Table([Column("impl", "implementation"), Column("cells", "cells"),
               Column("median", "median error", pct), Column("p90", "90th percentile", pct),
               Column("worst", "worst cell (predicted / measured)")], table)]
    from .scaling_plots import plot_predictions

    png = plot_predictions(cells)
    if png is not None:
        blocks.append(Plot(f"scaling-predicted{suffix}", png))
    return blocks


def _flops_per_sample(pts: list[Point], model: str) -> float:
    p = next(p for p in pts if p.model == model)
    return p.flops / p.batch_size


def _cost_model_section(models: dict[tuple, CostModel], pts: list[Point],
                        peak: float | None) -> list[Block]:
    model_names = sorted({p.model for p in pts}, key=lambda m: _flops_per_sample(pts, m))
    rows, bad = [], []
    for (_, threads, dtype, impl), m in sorted(models.items()):
        row = {"impl": impl, "threads": threads, "dtype": dtype, "overhead": m.overhead_s,
               "rate": m.rate_gflops, "overhead_ci": m.overhead_ci, "rate_ci": m.rate_ci,
               "share": 100 * m.rate_gflops / peak if peak and math.isfinite(m.rate_gflops)
               else None, "error": m.median_rel_error, "noise": m.noise,
               "misfit": m.misfit_beyond_noise, "cells": m.cells}
        for name in model_names:
            row[f"half {name}"] = m.half_overhead_batch(_flops_per_sample(pts, name))
        rows.append(row)
        if m.median_rel_error > BAD_FIT:
            bad.append(f"**{impl}** (threads {threads}, {dtype}): median error "
                       f"{100 * m.median_rel_error:.0f}%; {_why_bad(m, pts, impl, threads, dtype)}")
    columns = [Column("impl", "implementation"), Column("threads", "threads"),
               Column("dtype", "dtype"),
               Column("overhead", "overhead (µs) [95%]", _with_ci(1e6, "overhead_ci"), True),
               Column("rate", "rate (GFLOP/s) [95%]", _with_ci(1, "rate_ci"), True),
               Column("share", "% sgemm peak", lambda v: f"{v:.0f}%"),
               Column("error", "median error", lambda v: f"{100 * v:.0f}%"),
               Column("noise", "noise", lambda v: f"{100 * v:.0f}%"),
               Column("misfit", "misfit", lambda v: "beyond noise: the model is wrong here" if v
                      else "within noise"),
               Column("cells", "cells"),
               *[Column(f"half {name}", f"half-overhead batch, {name}", lambda v: f"{v:.0f}")
                 for name in model_names]]
    blocks: list[Block] = [
        Heading("Cost model: t_step = overhead + FLOPs / rate"),
        Paragraph("Fitted per implementation, thread count and dtype on the relative error over "
                  "every sample (each cell's time in each round), with 95% intervals of the two "
                  "parameters from a bootstrap over rounds. `noise`: how far a sample lies from "
                  "its cell's median (the median of that); `misfit`: whether the fit misses the "
                  "cells by more than twice that noise (then the model is wrong for the "
                  "implementation; within it, more rounds would tell). `half-overhead batch`: "
                  "the batch size where a step is half overhead and half compute, for each "
                  "model. " + (f"The machine's sgemm peak: {peak:.0f} GFLOP/s." if peak else "")),
        Table(columns, rows)]
    if bad:
        blocks += [Paragraph("Not described well by the model (median relative error above "
                             f"{100 * BAD_FIT:.0f}%), with what the residuals show:"),
                   Bullets(bad)]
    return blocks


def _with_ci(scale: float, ci_key: str):
    def fmt(row: dict) -> str:
        key = "overhead" if ci_key == "overhead_ci" else "rate"
        value, ci = row[key], row[ci_key]
        text = f"{scale * value:.3g}" if math.isfinite(value) else "∞"
        if ci and all(math.isfinite(c) for c in ci):
            text += f" [{scale * ci[0]:.3g}, {scale * ci[1]:.3g}]"
        return text
    return fmt


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


def _winner_section(wins: list[dict]) -> list[Block]:
    columns = [Column("threads", "threads"), Column("dtype", "dtype"), Column("model", "model"),
               Column("batch_size", "batch"),
               Column("verdict", "fastest", whole_row=True,
                      fmt=lambda w: w["fastest"] if w["verdict"] == "winner"
                      else "tie: " + ", ".join(w["tied"])),
               Column("seconds", "median per step", stats.fmt_seconds),
               Column("margin", "runner-up / fastest [95%]", whole_row=True,
                      fmt=lambda w: stats.fmt_ratio(stats.Estimate(
                          w["margin"], w["margin_ci_low"], w["margin_ci_high"], 0))),
               Column("runner_up", "runner-up")]
    return [Heading("Fastest implementation per cell"),
            Paragraph("A cell's fastest implementation is named only where the 95% interval of "
                      "the runner-up's time over its own, round by round, excludes 1; otherwise "
                      "the cell is a tie of the implementations that cannot be told apart "
                      "(hatched in the winner map)."),
            Table(columns, wins)]


def _crossover_section(crosses: list[dict]) -> list[Block]:
    def significant(c: dict) -> str:
        if c["significant"]:
            return f"between {c['significant'][0]} and {c['significant'][1]}"
        return f"none: {c['always']} is faster at every batch" if c["always"] else "not resolved"

    def predicted(c: dict) -> str:
        lo, hi = c["range"]
        pred = c["predicted"]
        return "none" if pred is None else f"{pred:.0f}" + (
            "" if lo <= pred <= hi else " (outside the measured range)")

    columns = [Column("threads", "threads"), Column("dtype", "dtype"), Column("model", "model"),
               Column("impl", "implementation"), Column("reference", "against"),
               Column("faster_at_smallest", "faster at the smallest batch"),
               Column("impl", "significant change", significant, whole_row=True),
               Column("measured", "medians cross at", lambda m: ", ".join(
                   f"{b:.0f}" for b in m) or "none in range"),
               Column("impl", "predicted", predicted, whole_row=True)]
    return [Heading("Crossovers"),
            Paragraph("Where the faster of an implementation and a reference changes: "
                      "`significant change` lies between the batch sizes where the ratio's 95% "
                      "interval excludes 1 on either side (`none` where one of the two is "
                      "significantly faster at every batch size, `not resolved` where the "
                      "intervals do not show a change); `medians cross at` interpolates the "
                      "medians in log space; `predicted` is where the two cost models meet."),
            Table(columns, crosses)]


def _csv(models: dict[tuple, CostModel], wins: list[dict], crosses: list[dict]) -> str:
    """One table, a ``section`` column telling its three parts apart."""
    fields = ["section", "machine", "threads", "dtype", "impl", "model", "batch_size",
              "seconds", "verdict", "tied", "runner_up", "margin", "margin_ci_low",
              "margin_ci_high", "overhead_us", "overhead_us_ci_low", "overhead_us_ci_high",
              "rate_gflops", "rate_gflops_ci_low", "rate_gflops_ci_high", "median_rel_error",
              "noise", "reference", "measured_crossover", "significant_crossover",
              "predicted_crossover"]
    out = []
    for (machine, threads, dtype, impl), m in sorted(models.items()):
        o, g = m.overhead_ci or (None, None), m.rate_ci or (None, None)
        out.append({"section": "cost_model", "machine": machine, "threads": threads,
                    "dtype": dtype, "impl": impl, "overhead_us": 1e6 * m.overhead_s,
                    "overhead_us_ci_low": o[0] and 1e6 * o[0],
                    "overhead_us_ci_high": o[1] and 1e6 * o[1], "rate_gflops": m.rate_gflops,
                    "rate_gflops_ci_low": g[0], "rate_gflops_ci_high": g[1],
                    "median_rel_error": m.median_rel_error, "noise": m.noise})
    for w in wins:
        out.append({"section": "fastest", **{k: w[k] for k in (
            "machine", "threads", "dtype", "model", "batch_size", "seconds", "verdict",
            "runner_up", "margin", "margin_ci_low", "margin_ci_high")},
            "tied": " ".join(w["tied"]), "impl": w["fastest"]})
    for c in crosses:
        out.append({"section": "crossover", **{k: c[k] for k in (
            "machine", "threads", "dtype", "model", "impl", "reference")},
            "measured_crossover": " ".join(f"{b:.0f}" for b in c["measured"]) or "none",
            "significant_crossover": " ".join(map(str, c["significant"] or ())) or
            "not resolved",
            "predicted_crossover": "" if c["predicted"] is None else f"{c['predicted']:.0f}"})
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields)
    writer.writeheader()
    writer.writerows(out)
    return buf.getvalue()
