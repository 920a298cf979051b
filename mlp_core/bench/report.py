"""The summary of a bench run as a document: the answer (the verdicts), the plot, the table of
every cell, the verdict of every sweep point, the failures; written as ``summary.md`` and
``summary.csv`` and shown on ``report.html``. The numbers come from :mod:`summary`, their
statistics from :mod:`stats`; each column is declared once, below."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from ..fileio import atomic_write_bytes, atomic_write_text
from . import stats
from .document import Block, Bullets, Column, Heading, Paragraph, Plot, Table, to_markdown
from .impls import PEERS
from .rows import LOCAL, model_name, names_machines
from .runner import MAX_REDOS
from .summary import answer, summarize, verdicts


def _ratio(name: str, heading: str) -> Column:
    """A ratio with its interval, ``0.49x [0.44, 0.55]``."""
    def fmt(row: dict) -> str:
        return stats.fmt_ratio(stats.Estimate(row[name], row.get(f"{name}_ci_low"),
                                              row.get(f"{name}_ci_high"), 0))
    return Column(name, heading, fmt, whole_row=True,
                  csv=(name, f"{name}_ci_low", f"{name}_ci_high"))


def _interval(row: dict) -> str:
    low, high = row.get("median_s_ci_low"), row.get("median_s_ci_high")
    return "" if low is None else f"[{stats.fmt_seconds(low)}, {stats.fmt_seconds(high)}]"


#: the summary's columns, once: heading, format, CSV fields
COLUMNS = [
    Column("machine", "machine"), Column("impl", "implementation"), Column("model", "model"),
    Column("batch_size", "batch"), Column("threads_asked", "threads asked"),
    Column("dtype", "dtype"), Column("runs", "runs"),
    Column("median_s", "median", stats.fmt_seconds),
    Column("median_s_ci_low", "95% interval", _interval, whole_row=True,
           csv=("median_s_ci_low", "median_s_ci_high")),
    Column("predicted_s", "predicted", stats.fmt_seconds),
    Column("min_s", "min", stats.fmt_seconds), Column("max_s", "max", stats.fmt_seconds),
    Column("spread_pct", "spread", lambda v: f"{v:.0f}%"),
    Column("unstable", "stable", lambda v: "unstable" if v else "yes", csv=("cv", "unstable")),
    Column("per_epoch_s", "per epoch", stats.fmt_seconds),
    _ratio("vs_keras", "vs Keras"), _ratio("vs_own_library", "vs own library"),
    _ratio("vs_keras_same_library", "vs Keras, same library"), _ratio("vs_floor", "vs floor"),
    Column("gflops", "GFLOP/s", lambda v: f"{v:.0f}"),
    Column("pct_peak", "% sgemm peak", lambda v: f"{v:.0f}%"),
    Column("test_accuracy", "test acc", lambda v: f"{v:.4f}"),
    Column("peak_rss_mb", "peak RSS MB", lambda v: f"{v:.0f}"),
    Column("rss_vs_keras", "RSS vs Keras", lambda v: f"{v:.2f}x"),
    Column("threads", "threads"),
]
#: shown only where their value varies between the rows (one machine: no machine column)
OPTIONAL = ("machine", "model", "threads_asked", "dtype")
CSV_FIELDS = [f for c in COLUMNS for f in c.csv_fields]

VERDICT_COLUMNS = [
    Column("machine", "machine"), Column("model", "model"), Column("batch_size", "batch"),
    Column("threads", "threads"), Column("dtype", "dtype"), Column("fastest", "fastest"),
    Column("seconds", "median", stats.fmt_seconds), Column("runner_up", "runner-up"),
    _ratio("margin", "runner-up / fastest"),
    Column("verdict", "verdict", whole_row=True,
           fmt=lambda v: "winner" if v["verdict"] == "winner"
           else "tie: " + ", ".join(v["tied"])),
    Column("rounds", "rounds"),
]


def shown_columns(columns: list[Column], items: list[dict]) -> list[Column]:
    """The columns a table shows: none that is empty in every row; the optional ones where
    they tell rows apart (the machine: unless every row is local)."""
    def varies(c: Column) -> bool:
        if c.key == "machine":
            return names_machines(items)
        return len({str(s.get(c.key)) for s in items}) > 1

    return [c for c in columns if any(c.cell(s) for s in items)
            and (c.key not in OPTIONAL or varies(c))]


def summary_table(summary: list[dict]) -> Table:
    return Table(shown_columns(COLUMNS, summary), summary)


def markdown_table(summary: list[dict]) -> str:
    """The summary as a Markdown table (what ``mlp-core bench`` prints)."""
    return to_markdown([summary_table(summary)]).rstrip("\n")


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
        text += f"; sgemm peak {stats.median_of(peaks):.0f} GFLOP/s"
    if first.get("allocator"):
        text += f"; C allocator: {first['allocator']}"
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
    named = names_machines(ok)
    parts = [(f"{name}: " if named else "") + machine_description(group)
             for name, group in sorted(machines.items())]
    cfg = ok[0]["config"]
    models = ", ".join(dict.fromkeys(model_name(r.get("layers")) for r in ok))
    threads = ", ".join(dict.fromkeys(str(r.get("threads") or "default") for r in ok))
    dtypes = ", ".join(dict.fromkeys(str(r.get("dtype")) for r in ok))
    l2 = f"as the preset {cfg.get('preset')} sets it" if cfg.get("l2") is None else cfg["l2"]
    measure = (f"{cfg['steps']} steps per cell after a warm-up" if cfg.get("steps")
               else f"{cfg['epochs']} epochs")
    return (". ".join(parts)
            + f". Dataset {cfg['dataset']}, hidden layers {models}, {cfg['activation']}/"
              f"{cfg['output']}, loss {cfg['loss']}, {cfg['optimizer']}, L2 {l2}, {measure}, "
              f"{dtypes}, threads {threads}.")


def summary_document(rows: list[dict], skipped: dict[str, str] | None = None,
                     plot: bool = True) -> tuple[list[dict], list[Block]]:
    """The summary of ``rows`` and its document: the answer, the plot, the tables, the notes."""
    summary = summarize(rows)
    points = verdicts(summary)
    per_step = any(s["per_step"] for s in summary)
    blocks: list[Block] = [Heading("mlp-core benchmark", 1)]
    if points:
        blocks.append(Paragraph("**" + answer(points) + "**"))
    blocks.append(Paragraph(environment_line(rows)))
    if plot and summary and not per_step:  # (a per-step sweep's plots are the scaling map's)
        from .summary_plot import plot_summary

        ok = [r for r in rows if r.get("status") == "ok"]
        one_machine = len({r.get("machine", LOCAL) for r in ok}) == 1
        # the CPU, its BLAS kernel and sgemm peak (several machines: their names in the legend)
        title = "; ".join(machine_description(ok).split("; ")[:3]) if one_machine else ""
        png = plot_summary(summary, title)
        if png is not None:
            blocks.append(Plot("plot", png))
    measure = ("Median seconds per training step (one epoch of exactly `--steps` batches, "
               "timed after a warm-up over the same batches, each cell in a fresh process); "
               "`per epoch` is that rate over an epoch of the training set" if per_step else
               "Median training time (`fit` wall time, each run in a fresh process, after a "
               "warm-up of at least 200 steps unless `--no-warmup`)")
    blocks += [Heading("Every cell"), Paragraph(
        measure + ". Each median has its 95% interval (order statistics; none below 6 runs). "
        "`vs Keras` (the reference: Keras on TensorFlow), `vs own library` (our backend over "
        "its library's own idiom: torch over torch-native, jax over jax-native, tensorflow "
        "over keras, numpy over sklearn), `vs Keras, same library` (over Keras 3 on the same "
        "library: torch over keras-torch) and `vs floor` are ratios of times taken round by "
        "round on the same machine and sweep point, with their 95% intervals; below 1 is "
        "faster. The floor is the matrix products of the epochs alone in the "
        "implementation's library. `unstable`: runs whose coefficient of "
        "variation is 10% or more. GFLOP/s: the matrix products' useful work per second of "
        "training; `% sgemm peak` divides it by this machine's large-sgemm rate (NumPy's "
        "BLAS). `docs/methodology.md` explains the statistics."), summary_table(summary)]
    if points:
        blocks += [Heading("Verdicts"), Paragraph(
            "A sweep point's fastest implementation is named only where the 95% interval of "
            "the runner-up's time over its own, round by round, excludes 1; otherwise the "
            "implementations that cannot be told apart are a tie."),
            Table(shown_columns(VERDICT_COLUMNS, points), points)]
    return summary, blocks + _notes(rows, skipped)


def _notes(rows: list[dict], skipped: dict[str, str] | None) -> list[Block]:
    out: list[Block] = []
    peers = [PEERS[b] for b in dict.fromkeys(r["impl"].split("+")[0] for r in rows)
             if b in PEERS]
    if peers:
        out += [Paragraph("The peers, each library's own idiom, train the same model from the "
                          "same initial weights and data; where they differ:"),
                Bullets([f"{p.name}: {p.differs}." for p in peers])]
    if skipped:
        out.append(Paragraph("Not measured: " + "; ".join(f"{k} ({v})"
                                                          for k, v in skipped.items()) + "."))
    flagged = [r for r in rows if r.get("status") == "flagged"]
    slow = [r for r in rows if r.get("slow_machine")]
    if flagged or slow:
        out.append(Paragraph(
            f"The machine-speed monitor: {len(flagged)} measurement"
            f"{'s were' if len(flagged) != 1 else ' was'} redone because the machine ran slow "
            "during them (the reference workload timed around each measurement ran more than "
            "15% slower than the run's median)"
            + (f"; {len(slow)} still ran slow after {MAX_REDOS} redos and stand, marked "
               "`slow_machine` in the results" if slow else "") + "."))
    errors = [r for r in rows if r.get("status") == "error"]
    if errors:
        out += [Paragraph("Failed measurements:"), Bullets([
            f"{r['impl']}" + (f" model {model_name(r['layers'])}" if r.get("layers") else "")
            + f" batch {r['batch_size']} run {r['repeat']}"
            + (f" on {r['machine']}" if r.get("machine", LOCAL) != LOCAL else "")
            + f": {r.get('error')}" for r in errors])]
    return out


def summary_csv(summary: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore")
    w.writeheader()
    w.writerows(summary)
    return buf.getvalue()


def write_reports(rows: list[dict], out_dir: str | Path, skipped: dict[str, str] | None = None,
                  plot: bool = True) -> tuple[list[dict], list[Path]]:
    """``summary.md``, ``summary.csv`` and (with matplotlib) ``plot.png``, each written
    atomically; returns the summary and the files written."""
    summary, blocks = summary_document(rows, skipped, plot)
    return summary, write_document(blocks, Path(out_dir), "summary", summary_csv(summary))


def write_document(blocks: list[Block], out: Path, name: str, csv_text: str) -> list[Path]:
    """``<name>.md``, ``<name>.csv`` and the document's plots (``<plot name>.png``)."""
    written = [out / f"{name}.md", out / f"{name}.csv"]
    atomic_write_text(written[0], to_markdown(blocks))
    atomic_write_text(written[1], csv_text)
    for b in blocks:
        if isinstance(b, Plot):
            atomic_write_bytes(out / f"{b.name}.png", b.png)
            written.append(out / f"{b.name}.png")
    return written
