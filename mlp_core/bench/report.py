"""Summaries of benchmark rows: medians, spread, ratios to Keras and to the floor; table, plot."""

from __future__ import annotations

import csv
import io
import statistics
from pathlib import Path

from ..fileio import atomic_write_bytes, atomic_write_text
from .impls import DTYPE_MODIFIERS, FLOOR_PREFIX, KERAS
from .rows import LOCAL, cell_key, measured_time, model_name

COLUMNS = ["machine", "impl", "model", "batch_size", "threads_asked", "dtype", "runs", "median_s",
           "min_s", "max_s", "spread_pct", "per_epoch_s", "vs_keras", "vs_floor", "gflops",
           "pct_peak", "test_accuracy", "peak_rss_mb", "rss_vs_keras", "threads"]
HEADINGS = ["machine", "implementation", "model", "batch", "threads asked", "dtype", "runs",
            "median s", "min s", "max s", "spread", "s/epoch", "vs Keras", "vs floor", "GFLOP/s",
            "% sgemm peak", "test acc", "peak RSS MB", "RSS vs Keras", "threads"]
#: columns shown only where their value varies between the rows (one machine: no machine column)
OPTIONAL = ("machine", "model", "threads_asked", "dtype")





def summarize(rows: list[dict]) -> list[dict]:
    """One summary per (machine, implementation, model, batch size, threads, dtype) from its
    successful rows. Ratios compare medians of the same machine and sweep point."""
    cells: dict[tuple, list[dict]] = {}
    for r in rows:
        if r.get("status") == "ok":
            cells.setdefault(cell_key(r), []).append(r)

    def median(key, group):
        values = [g[key] for g in group if g.get(key) is not None]
        return statistics.median(values) if values else None

    med = {k: statistics.median(measured_time(g) for g in group) for k, group in cells.items()}
    rss = {k: median("peak_rss_mb", g) for k, g in cells.items()}
    peaks: dict[str, list[float]] = {}  # the machine's sgemm peak, measured with the floors
    for (mach, *_), group in cells.items():
        peaks.setdefault(mach, []).extend(g["sgemm_peak_gflops"] for g in group
                                          if g.get("sgemm_peak_gflops"))
    # the Keras reference of each sweep point and dtype: "keras", or "keras+f64" and
    # "keras+mixed_bfloat16", whose modifier set the dtype (like for like)
    keras_of = {(k[0], *k[2:]): k for k in sorted(cells, key=lambda k: k[1] == KERAS)
                if _is_keras(k[1])}  # (plain "keras" last: it wins where both ran a dtype)
    out = []
    for k, group in sorted(cells.items(), key=lambda kv: (
            kv[0][0], _model_order(kv[0][2]), kv[0][3], str(kv[0][4]), str(kv[0][5]),
            _order(kv[0][1]))):
        mach, impl, model, bs, threads, dtype = k
        times = [measured_time(g) for g in group]
        library = group[0].get("library")
        keras_key = keras_of.get((mach, model, bs, threads, dtype))
        floor_key = (mach, FLOOR_PREFIX + library, model, bs, threads, dtype)
        keras, floor, m = med.get(keras_key), med.get(floor_key), med[k]
        gflops = median("gflops", group)
        peak = statistics.median(peaks[mach]) if peaks.get(mach) else None
        not_ours = _is_keras(impl) or impl.startswith(FLOOR_PREFIX)
        out.append({
            "machine": mach, "impl": impl, "model": model, "batch_size": bs,
            "threads_asked": threads, "dtype": dtype, "runs": len(group), "median_s": m,
            "min_s": min(times), "max_s": max(times),
            "spread_pct": 100 * (max(times) - min(times)) / m if m else None,
            "per_epoch_s": median("epoch_equivalent_time", group) or median("time_per_epoch",
                                                                             group),
            "vs_keras": m / keras if keras and not _is_keras(impl) else None,
            "vs_floor": m / floor if floor and not impl.startswith(FLOOR_PREFIX) else None,
            "gflops": gflops, "pct_peak": 100 * gflops / peak if gflops and peak else None,
            "test_accuracy": median("test_accuracy", group),
            "peak_rss_mb": None if impl.startswith(FLOOR_PREFIX) else rss[k],
            "rss_vs_keras": (rss[k] / rss[keras_key] if keras_key in rss and rss[keras_key]
                             and rss[k] and not not_ours else None),
            "threads": group[0].get("threads_used", group[0].get("threads")),
            "per_step": group[0].get("step_time") is not None,
        })
    return out


def _base(impl: str) -> str:
    """The backend variant (or keras) an implementation runs: no modifier, no floor prefix."""
    return impl.split("+")[0].removeprefix(FLOOR_PREFIX)


def _names_dtype(impl: str) -> bool:
    """Whether a modifier of ``impl`` sets its dtype (``+f64``, ``+mixed_bfloat16``)."""
    return any(m in DTYPE_MODIFIERS for m in impl.split("+")[1:])


def _is_keras(impl: str) -> bool:
    return impl.split("+")[0] == KERAS


def _model_order(model: str) -> tuple:
    """Smaller models first: by their total hidden units, then their sizes."""
    sizes = [int(n) for n in model.split("-") if n.isdigit()]
    return sum(sizes), sizes


def _order(impl: str) -> tuple:
    return (impl.startswith(FLOOR_PREFIX), _is_keras(impl), impl)


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
    if isinstance(value, float) and key in ("median_s", "min_s", "max_s") and value < 0.1:
        return f"{value:.3g}"  # seconds per step: three significant digits
    if isinstance(value, float):
        return f"{value:.3f}" if key == "per_epoch_s" else f"{value:.2f}"
    return str(value)


def _show_machine(items: list[dict]) -> bool:
    """Whether any row or summary comes from another machine (then every one names its machine)."""
    return any(s.get("machine", LOCAL) != LOCAL for s in items)


def markdown_table(summary: list[dict]) -> str:
    """The summary as a Markdown table; the machine, model, threads and dtype columns appear
    where they tell rows apart (the machine: unless every row is local)."""
    shown = [(h, c) for h, c in zip(HEADINGS, COLUMNS) if c not in OPTIONAL
             or (c == "machine" and _show_machine(summary))
             or (c != "machine" and len({str(s[c]) for s in summary}) > 1)]
    steps = summary and summary[0].get("per_step")
    lines = ["| " + " | ".join(h.replace("median s", "median s/step") if steps else h
                               for h, _ in shown) + " |", "|" + " --- |" * len(shown)]
    for s in summary:
        lines.append("| " + " | ".join(_fmt(s[c], c) for _, c in shown) + " |")
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
        threads = ", ".join(str(t) for t in sorted(
            {(r.get("blas") or {}).get("threads") for r in group} - {None}))
        text += (f"; BLAS: {blas['library']} {blas.get('version')}, {blas.get('architecture')} "
                 f"kernel, {threads or '?'} threads, "
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
    models = ", ".join(dict.fromkeys(model_name(r.get("layers")) for r in ok))
    threads = ", ".join(dict.fromkeys(str(r.get("threads") or "default") for r in ok))
    dtypes = ", ".join(dict.fromkeys(str(r.get("dtype")) for r in ok))
    l2 = f"preset {cfg.get('preset')}'s" if cfg.get("l2") is None else cfg["l2"]
    measure = (f"{cfg['steps']} steps per cell after a warm-up" if cfg.get("steps")
               else f"{cfg['epochs']} epochs")
    return (". ".join(parts)
            + f". Dataset {cfg['dataset']}, hidden layers {models}, {cfg['activation']}/"
              f"{cfg['output']}, loss {cfg['loss']}, {cfg['optimizer']}, L2 {l2}, {measure}, "
              f"{dtypes}, threads {threads}.")


def write_reports(rows: list[dict], out_dir: str | Path, skipped: dict[str, str] | None = None,
                  plot: bool = True) -> tuple[list[dict], list[Path]]:
    """``summary.md``, ``summary.csv`` and (with matplotlib) ``plot.png``, each written
    atomically; returns the summary and the files written."""
    out = Path(out_dir)
    summary = summarize(rows)
    errors = [r for r in rows if r.get("status") != "ok"]
    per_step = any(r.get("step_time") is not None for r in rows)
    measure = ("Median seconds per training step (one epoch of exactly `--steps` batches, timed "
               "after a warm-up over the same batches, each cell in a fresh process); "
               "`s/epoch` is that rate over an epoch of the training set" if per_step else
               "Median training time (`fit` wall time, each run in a fresh process, after a "
               "warm-up of at least 200 steps unless `--no-warmup`)")
    md = ["# mlp-core benchmark", "", environment_line(rows), "",
          measure + "; `vs Keras` and `vs floor` divide "
          "medians of the same machine and sweep point. "
          "The floor is the matrix products of the epochs alone in the implementation's "
          "library. GFLOP/s: the matrix products' useful work per second of training; "
          "`% sgemm peak` divides it by this machine's large-sgemm rate (NumPy's BLAS).", "",
          markdown_table(summary)]
    if skipped:
        md += ["", "Not measured: " + "; ".join(f"{k} ({v})" for k, v in skipped.items()) + "."]
    if errors:
        md += ["", "Failed measurements:"] + [
            f"- {r['impl']}" + (f" model {model_name(r['layers'])}" if r.get("layers") else "")
            + f" batch {r['batch_size']} run {r['repeat']}"
            + (f" on {r['machine']}" if r.get("machine", LOCAL) != LOCAL else "")
            + f": {r.get('error')}" for r in errors]
    written = [out / "summary.md", out / "summary.csv"]
    atomic_write_text(written[0], "\n".join(md) + "\n")
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, extrasaction="ignore")
    w.writeheader()
    w.writerows(summary)
    atomic_write_text(written[1], buf.getvalue())
    # (a per-step sweep's plots are the scaling map's)
    if plot and summary and not any(s["per_step"] for s in summary):
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
    try:  # a Figure, not pyplot: no global state, a notebook's plotting backend stays its own
        from matplotlib.figure import Figure
    except ImportError:
        return None
    # one line per implementation and whatever else varies: machine, model, threads, dtype
    varying = [c for c in ("model", "threads_asked", "dtype")
               if len({str(s[c]) for s in summary}) > 1]
    fig = Figure(figsize=(12, 4.8))
    ax1, ax2 = fig.subplots(1, 2)
    for label, style, pts in _plot_series(summary, varying):
        bs = [p[0] for p in pts]
        spread = [[p[1] - p[2] for p in pts], [p[3] - p[1] for p in pts]]
        ax1.errorbar(bs, [p[1] for p in pts], yerr=spread, label=label, capsize=3, **style)
        ratio = [(b, p[4]) for b, p in zip(bs, pts) if p[4] is not None]
        if ratio:
            ax2.plot([r[0] for r in ratio], [r[1] for r in ratio], label=label, **style)
    per_step = bool(summary[0].get("per_step"))
    ax1.set(xscale="log", yscale="log", xlabel="batch size",
            ylabel="seconds per step (median)" if per_step else "training time (s, median)",
            title="Time per step by batch size" if per_step else "Training time by batch size")
    ax2.axhline(1.0, color="grey", linewidth=1)
    ax2.set(xscale="log", xlabel="batch size", ylabel="time / Keras time",
            title="Relative to Keras of the same dtype (below 1: faster)")
    if not ax2.get_lines()[1:]:  # only the 1.0 line: nothing was compared with Keras
        ax2.text(0.5, 0.5, "Keras not measured", ha="center", transform=ax2.transAxes)
    for ax in (ax1, ax2):
        ax.grid(True, which="both", alpha=0.3)
    if machine:
        fig.suptitle(machine, fontsize=7, wrap=True)
    fig.tight_layout()
    handles, labels = ax1.get_legend_handles_labels()
    if handles:  # one legend for both panels, below them, so that it hides no line
        rows = -(-len(handles) // 4)
        fig.set_size_inches(12, 4.8 + 0.22 * rows)
        fig.subplots_adjust(bottom=(0.12 * 4.8 + 0.22 * rows) / (4.8 + 0.22 * rows))
        fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=8, frameon=False)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return buf.getvalue()


def _plot_series(summary: list[dict], varying: list[str]):
    """``(label, line style, points)`` of each line: points ``(batch size, median, min, max,
    vs Keras)``. One colour per base implementation and machine (a floor and a "+modifier" row
    take their library's; in a sweep, one per series), the same in both panels; the line style
    tells floors and modifiers apart."""
    named = _show_machine(summary)

    def series_of(s: dict) -> tuple:
        return (s["machine"], s["impl"], *(s[c] for c in varying))

    def colour_key(key: tuple) -> tuple:
        return key if varying else (key[0], _base(key[1]))

    series = list(dict.fromkeys(series_of(s) for s in summary))
    bases = list(dict.fromkeys(colour_key(k) for k in series))
    for key in series:
        mach, impl = key[:2]
        pts = sorted((s["batch_size"], s["median_s"], s["min_s"], s["max_s"], s["vs_keras"])
                     for s in summary if series_of(s) == key)
        label = " ".join([impl, *(f"{c.split('_')[0]} {v}" for c, v in zip(varying, key[2:])
                                  if not (c == "dtype" and _names_dtype(impl)))]
                         + ([f"on {mach}"] if named else []))
        style = ({"linestyle": "--", "marker": None} if impl.startswith(FLOOR_PREFIX)
                 else {"linestyle": ":", "marker": "s"} if "+" in impl else {"marker": "o"})
        style["color"] = f"C{bases.index(colour_key(key)) % 10}"
        yield label, style, pts
