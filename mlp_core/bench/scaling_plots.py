"""The scaling plots: (a) time per sample against batch size, a panel per model; (b) achieved
GFLOP/s against FLOPs per step, with the sgemm peak and each fitted cost model, a roofline
picture; (c) the winner map, model by batch size coloured by the fastest implementation."""

from __future__ import annotations

import io
import math

import numpy as np

from .scaling import CostModel, Point


def plot_scaling(pts: list[Point], models: dict[tuple, CostModel], wins: list[dict],
                 peak: float | None) -> dict[str, bytes]:
    """PNG bytes by name (nothing without matplotlib)."""
    try:  # Figure objects, not pyplot: no global state, a notebook's backend stays its own
        from matplotlib import figure, patches
    except ImportError:
        return {}
    series = sorted({(p.impl, p.threads, p.dtype) for p in pts})
    several = len({(t, d) for _, t, d in series}) > 1
    colors = {impl: f"C{i % 10}" for i, impl in enumerate(sorted({s[0] for s in series}))}
    styles = {key: ["-", "--", ":", "-."][i % 4]
              for i, key in enumerate(sorted({(t, d) for _, t, d in series}))}

    def label(impl, threads, dtype):
        return f"{impl} ({threads} thr, {dtype})" if several else impl

    out = {"scaling-time": _time_per_sample(figure, pts, series, colors, styles, label),
           "scaling-roofline": _roofline(figure, pts, models, series, colors, styles, label,
                                         peak),
           "scaling-winners": _winner_map(figure, patches, wins, colors)}
    return out


def _png(fig) -> bytes:
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")  # (legends outside the axes)
    return buf.getvalue()


def _model_order(pts: list[Point]) -> list[str]:
    per_sample = {p.model: p.flops / p.batch_size for p in pts}
    return sorted(per_sample, key=per_sample.get)


def _time_per_sample(figure, pts, series, colors, styles, label) -> bytes:
    names = _model_order(pts)
    fig = figure.Figure(figsize=(4.2 * len(names), 4))
    axes = fig.subplots(1, len(names), squeeze=False)
    for ax, model in zip(axes[0], names):
        for impl, threads, dtype in series:
            mine = sorted((p.batch_size, p.seconds / p.batch_size) for p in pts
                          if (p.model, p.impl, p.threads, p.dtype) == (model, impl, threads, dtype))
            if mine:
                ax.plot(*zip(*mine), marker="o", color=colors[impl],
                        linestyle=styles[(threads, dtype)], label=label(impl, threads, dtype))
        batches = sorted({p.batch_size for p in pts if p.model == model})
        ax.set(xscale="log", yscale="log", xlabel="batch size", title=f"model {model}")
        ax.set_xticks(batches, [str(b) for b in batches], minor=False)
        ax.set_xticks([], minor=True)
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel("seconds per sample (one step / batch size)")
    axes[0][-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1))
    return _png(fig)


def _roofline(figure, pts, models, series, colors, styles, label, peak) -> bytes:
    fig = figure.Figure(figsize=(7.5, 5))
    ax = fig.subplots()
    flops_all = [p.flops for p in pts]
    grid = np.logspace(math.log10(min(flops_all)), math.log10(max(flops_all)), 60)
    for impl, threads, dtype in series:
        mine = [p for p in pts if (p.impl, p.threads, p.dtype) == (impl, threads, dtype)]
        ax.scatter([p.flops for p in mine], [p.flops / p.seconds / 1e9 for p in mine],
                   color=colors[impl], s=18, label=label(impl, threads, dtype))
        model = models.get((mine[0].machine, threads, dtype, impl))
        if model:
            ax.plot(grid, [f / model.predict(f) / 1e9 for f in grid], color=colors[impl],
                    linestyle=styles[(threads, dtype)], linewidth=1)
    if peak:
        ax.axhline(peak, color="black", linewidth=1)
        ax.text(grid[0], peak * 1.1, f"sgemm peak {peak:.0f} GFLOP/s", fontsize=8)
    ax.set(xscale="log", yscale="log", xlabel="FLOPs per step (matrix products)",
           ylabel="achieved GFLOP/s", title="Achieved rate against work per step\n"
           "(points: measured; lines: fitted overhead + FLOPs / rate)")
    ax.title.set_fontsize(9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1))
    return _png(fig)


def _winner_map(figure, patches, wins, colors) -> bytes:
    groups = sorted({(w["threads"], w["dtype"]) for w in wins})
    fig = figure.Figure(figsize=(6.5 * len(groups), 3.8))
    axes = fig.subplots(1, len(groups), squeeze=False)
    for ax, (threads, dtype) in zip(axes[0], groups):
        mine = [w for w in wins if (w["threads"], w["dtype"]) == (threads, dtype)]
        model_names = list(dict.fromkeys(w["model"] for w in mine))
        batches = sorted({w["batch_size"] for w in mine})
        for w in mine:
            x, y = batches.index(w["batch_size"]), model_names.index(w["model"])
            tie = w["verdict"] == "tie"  # hatched, with every tied name
            ax.add_patch(patches.Rectangle((x - 0.5, y - 0.5), 1, 1, alpha=0.8,
                                           facecolor=colors[w["fastest"]],
                                           hatch="///" if tie else None, edgecolor="white"))
            margin = f"\n{w['margin']:.2f}x" if w["margin"] else ""
            names = w["tied"] if tie else [w["fastest"]]
            name = ("tie: " if tie else "") + "\n".join(n.replace(" (own threads)", "*")
                                                      for n in names)
            ax.text(x, y, f"{name}{margin}", ha="center", va="center", fontsize=7,
                    bbox={"facecolor": "white", "alpha": 0.6, "linewidth": 0} if tie else None)
        ax.set(xlim=(-0.5, len(batches) - 0.5), ylim=(-0.5, len(model_names) - 0.5),
               xticks=range(len(batches)), xticklabels=batches,
               yticks=range(len(model_names)), yticklabels=model_names,
               xlabel="batch size", ylabel="model (hidden layers)",
               title=f"Fastest per cell (threads: {threads}, {dtype}); under each name: the "
               "runner-up's time over its own\nhatched: a tie, no significant difference at 95% "
               "(*: a backend that runs with its own threads)")
        ax.title.set_fontsize(9)
    return _png(fig)


def plot_predictions(cells: list[dict]) -> bytes | None:
    """Predicted against measured seconds per step, one point per cell, on log axes with the
    diagonal (and ±25% about it); None without matplotlib."""
    try:
        from matplotlib import figure
    except ImportError:
        return None
    fig = figure.Figure(figsize=(5.5, 5))
    ax = fig.subplots()
    impls = sorted({c["impl"] for c in cells})
    for i, impl in enumerate(impls):
        mine = [c for c in cells if c["impl"] == impl]
        ax.scatter([c["median_s"] for c in mine], [c["predicted_s"] for c in mine],
                   color=f"C{i % 10}", label=impl, s=25)
    values = [v for c in cells for v in (c["median_s"], c["predicted_s"])]
    lo, hi = min(values) / 1.5, max(values) * 1.5
    ax.plot([lo, hi], [lo, hi], color="black", linewidth=1, label="predicted = measured")
    for f in (0.75, 1.25):
        ax.plot([lo, hi], [lo * f, hi * f], color="grey", linewidth=0.7, linestyle="--")
    ax.set(xscale="log", yscale="log", xlim=(lo, hi), ylim=(lo, hi),
           xlabel="measured seconds per step (median)", ylabel="predicted seconds per step",
           title="Predicted against measured (dashed: ±25%)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig)
