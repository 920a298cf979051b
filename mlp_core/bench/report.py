"""Summaries of benchmark rows: medians, spread, ratios to Keras and to the floor; table, plot."""

from __future__ import annotations

import csv
import io
import statistics
from pathlib import Path

from ..fileio import atomic_write_bytes, atomic_write_text
from .impls import FLOOR_PREFIX, KERAS
from .store import LOCAL

COLUMNS = ["machine", "impl", "batch_size", "runs", "median_s", "min_s", "max_s", "spread_pct",
           "per_epoch_s", "vs_keras", "vs_floor", "gflops", "pct_peak", "test_accuracy",
           "peak_rss_mb", "rss_vs_keras", "threads"]
HEADINGS = ["machine", "implementation", "batch", "runs", "median s", "min s", "max s", "spread",
            "s/epoch", "vs Keras", "vs floor", "GFLOP/s", "% sgemm peak", "test acc",
            "peak RSS MB", "RSS vs Keras", "threads"]


def summarize(rows: list[dict]) -> list[dict]:
    """One summary per (machine, implementation, batch size) from its successful rows.

    Ratios compare medians of the same machine and batch size.
    """
    cells: dict[tuple, list[dict]] = {}
    for r in rows:
        if r.get("status") == "ok":
            cells.setdefault((r.get("machine", LOCAL), r["impl"], r["batch_size"]), []).append(r)

    def median(key, group):
        values = [g[key] for g in group if g.get(key) is not None]
        return statistics.median(values) if values else None

    med = {k: median("fit_time", g) for k, g in cells.items()}
    rss = {k: median("peak_rss_mb", g) for k, g in cells.items()}
    peaks: dict[str, list[float]] = {}  # the machine's sgemm peak, measured with the floors
    for (mach, _, _), group in cells.items():
        peaks.setdefault(mach, []).extend(g["sgemm_peak_gflops"] for g in group
                                          if g.get("sgemm_peak_gflops"))
    out = []
    for (mach, impl, bs), group in sorted(cells.items(),
                                          key=lambda kv: (kv[0][0], kv[0][2], _order(kv[0][1]))):
        times = [g["fit_time"] for g in group]
        library = group[0].get("library")
        keras = med.get((mach, KERAS, bs))
        floor = med.get((mach, FLOOR_PREFIX + library, bs))
        floor_rows = cells.get((mach, FLOOR_PREFIX + library, bs), [])
        if floor_rows and floor_rows[0].get("dtype") != group[0].get("dtype"):
            floor = None  # a float64 run against a float32 floor would mean nothing
        m = med[(mach, impl, bs)]
        gflops = median("gflops", group)
        peak = statistics.median(peaks[mach]) if peaks.get(mach) else None
        out.append({
            "machine": mach, "impl": impl, "batch_size": bs, "runs": len(group), "median_s": m,
            "min_s": min(times), "max_s": max(times),
            "spread_pct": 100 * (max(times) - min(times)) / m if m else None,
            "per_epoch_s": median("time_per_epoch", group),
            "vs_keras": m / keras if keras and impl != KERAS else None,
            "vs_floor": m / floor if floor and not impl.startswith(FLOOR_PREFIX) else None,
            "gflops": gflops, "pct_peak": 100 * gflops / peak if gflops and peak else None,
            "test_accuracy": median("test_accuracy", group),
            "peak_rss_mb": None if impl.startswith(FLOOR_PREFIX) else rss[(mach, impl, bs)],
            "rss_vs_keras": (rss[(mach, impl, bs)] / rss[(mach, KERAS, bs)]
                             if (mach, KERAS, bs) in rss and impl != KERAS
                             and not impl.startswith(FLOOR_PREFIX) else None),
            "threads": group[0].get("threads"),
        })
    return out


def _order(impl: str) -> tuple:
    return (impl.startswith(FLOOR_PREFIX), impl == KERAS, impl)


def _fmt(value, key: str) -> str:
    if value is None:
        return ""
    if key in ("vs_keras", "vs_floor", "rss_vs_keras"):
        return f"{value:.2f}x"
    if key in ("spread_pct", "pct_peak"):
        return f"{value:.0f}%"
    if key == "gflops":
        return f"{value:.0f}"
    if key == "test_accuracy":
        return f"{value:.4f}"
    if key == "peak_rss_mb":
        return f"{value:.0f}"
    if isinstance(value, float):
        return f"{value:.3f}" if key == "per_epoch_s" else f"{value:.2f}"
    return str(value)


def _show_machine(items: list[dict]) -> bool:
    """Whether any row or summary comes from another machine (then every one names its machine)."""
    return any(s.get("machine", LOCAL) != LOCAL for s in items)


def markdown_table(summary: list[dict]) -> str:
    """The summary as a Markdown table; with a machine column unless every row is local."""
    head, columns = HEADINGS, COLUMNS
    if not _show_machine(summary):
        head, columns = head[1:], COLUMNS[1:]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for s in summary:
        lines.append("| " + " | ".join(_fmt(s[c], c) for c in columns) + " |")
    return "\n".join(lines)


def machine_description(group: list[dict]) -> str:
    """One machine's CPU, BLAS kernel (and pin), load before the runs, and library versions."""
    first = group[0]
    versions: dict = {}
    for r in group:
        versions.update(r.get("versions", {}))
    blas = first.get("blas") or {}
    pins = blas.get("pins") or {}
    loads = [r["load_before"] for r in group if r.get("load_before") is not None]
    peaks = [r["sgemm_peak_gflops"] for r in group if r.get("sgemm_peak_gflops")]
    text = (f"CPU: {first.get('cpu')} ({first.get('cpu_count')} cores"
            + (f"; {', '.join(first['cpu_flags'])}" if first.get("cpu_flags") else "") + ")")
    if blas.get("library"):
        text += (f"; BLAS: {blas['library']} {blas.get('version')}, {blas.get('architecture')} "
                 f"kernel, {blas.get('threads')} threads, "
                 + (f"pinned by {', '.join(f'{k}={v}' for k, v in pins.items())}" if pins
                    else "no kernel pin" + (" (--native-blas)"
                                            if first["config"].get("native_blas") else "")))
    if peaks:
        text += f"; sgemm peak {statistics.median(peaks):.0f} GFLOP/s"
    if loads:
        text += f"; load average before the runs {min(loads):.2f}-{max(loads):.2f}"
    return text + "; " + ", ".join(f"{k} {v}" for k, v in sorted(versions.items()))


def environment_line(rows: list[dict]) -> str:
    """The machines (by name when not all local) and the configuration."""
    ok = [r for r in rows if r.get("status") == "ok"]
    if not ok:
        return ""
    machines: dict[str, list[dict]] = {}
    for r in ok:
        machines.setdefault(r.get("machine", LOCAL), []).append(r)
    named = _show_machine(ok)
    parts = [(f"{name}: " if named else "") + machine_description(group)
             for name, group in sorted(machines.items())]
    cfg = ok[0]["config"]
    return (". ".join(parts)
            + f". Dataset {cfg['dataset']}, layers {cfg['layers']}, {cfg['activation']}/"
              f"{cfg['output']}, loss {cfg['loss']}, {cfg['optimizer']}, L2 {cfg['l2']}, "
              f"{cfg['epochs']} epochs, {cfg['dtype']}, threads {cfg['threads'] or 'default'}.")


def write_reports(rows: list[dict], out_dir: str | Path, skipped: dict[str, str] | None = None,
                  plot: bool = True) -> tuple[list[dict], list[Path]]:
    """``summary.md``, ``summary.csv`` and (with matplotlib) ``plot.png``, each written
    atomically; returns the summary and the files written."""
    out = Path(out_dir)
    summary = summarize(rows)
    errors = [r for r in rows if r.get("status") != "ok"]
    md = ["# mlp-core benchmark", "", environment_line(rows), "",
          "Median training time (`fit` wall time, each run in a fresh process, after a warm-up "
          "of at least 200 steps unless `--no-warmup`); `vs Keras` and `vs floor` divide "
          "medians of the same machine and batch size. "
          "The floor is the matrix products of the epochs alone in the implementation's "
          "library. GFLOP/s: the matrix products' useful work per second of training; "
          "`% sgemm peak` divides it by this machine's large-sgemm rate (NumPy's BLAS).", "",
          markdown_table(summary)]
    if skipped:
        md += ["", "Not measured: " + "; ".join(f"{k} ({v})" for k, v in skipped.items()) + "."]
    if errors:
        md += ["", "Failed measurements:"] + [
            f"- {r['impl']} batch {r['batch_size']} run {r['repeat']}"
            + (f" on {r['machine']}" if r.get("machine", LOCAL) != LOCAL else "")
            + f": {r.get('error')}" for r in errors]
    written = [out / "summary.md", out / "summary.csv"]
    atomic_write_text(written[0], "\n".join(md) + "\n")
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS)
    w.writeheader()
    w.writerows(summary)
    atomic_write_text(written[1], buf.getvalue())
    if plot and summary:
        ok = [r for r in rows if r.get("status") == "ok"]
        one_machine = len({r.get("machine", LOCAL) for r in ok}) == 1
        # the CPU, its BLAS kernel and sgemm peak (several machines: their names in the legend)
        title = "; ".join(machine_description(ok).split("; ")[:3]) if ok and one_machine else ""
        png = plot_summary(summary, title)
        if png is not None:
            atomic_write_bytes(out / "plot.png", png)
            written.append(out / "plot.png")
    return summary, written


def plot_summary(summary: list[dict], machine: str = "") -> bytes | None:
    """Train time against batch size per implementation (and machine), and the ratio to Keras
    (PNG bytes), titled with the machine description."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    series = list(dict.fromkeys((s["machine"], s["impl"]) for s in summary))
    named = _show_machine(summary)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.8))
    colors = {key: f"C{i % 10}" for i, key in enumerate(series)}  # the same in both panels
    for mach, impl in series:
        pts = sorted((s["batch_size"], s["median_s"], s["min_s"], s["max_s"], s["vs_keras"])
                     for s in summary if (s["machine"], s["impl"]) == (mach, impl))
        bs = [p[0] for p in pts]
        label = f"{impl} on {mach}" if named else impl
        style = ({"linestyle": "--", "marker": None} if impl.startswith(FLOOR_PREFIX)
                 else {"marker": "o"})
        style["color"] = colors[(mach, impl)]
        spread = [[p[1] - p[2] for p in pts], [p[3] - p[1] for p in pts]]
        ax1.errorbar(bs, [p[1] for p in pts], yerr=spread,
                     label=label, capsize=3, **style)
        ratio = [(b, p[4]) for b, p in zip(bs, pts) if p[4] is not None]
        if ratio:
            ax2.plot([r[0] for r in ratio], [r[1] for r in ratio], label=label, **style)
    ax1.set(xscale="log", yscale="log", xlabel="batch size", ylabel="training time (s, median)",
            title="Training time by batch size")
    ax2.axhline(1.0, color="grey", linewidth=1)
    ax2.set(xscale="log", xlabel="batch size", ylabel="time / Keras time",
            title="Relative to the Keras reference (below 1: faster)")
    if not ax2.get_lines()[1:]:  # only the 1.0 line: nothing was compared with Keras
        ax2.text(0.5, 0.5, "Keras not measured", ha="center", transform=ax2.transAxes)
    for ax in (ax1, ax2):
        ax.grid(True, which="both", alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    if machine:
        fig.suptitle(machine, fontsize=7, wrap=True)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()
