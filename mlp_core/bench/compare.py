"""``mlp-core compare OLD NEW``: two bench runs, cell by cell, as ``asv compare`` and pyperf's
``compare_to`` do it: before and after a library upgrade, or two machines.

Each cell that both runs measured gets the ratio NEW/OLD of their median times with a 95%
bootstrap interval (:func:`stats.unpaired_ratio`: the two runs are independent samples), and a
verdict: ``faster`` or ``slower`` where the interval excludes 1, else ``no significant change``.
Where the configurations or the machines differ, the comparison says so first.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import MLPError
from ..fileio import atomic_write_text
from . import stats
from .document import Block, Bullets, Column, Heading, Paragraph, Table, to_markdown
from .html_report import write_html
from .report import machine_description
from .rows import LOCAL, RESULTS, measured_time, model_name, read_results

COLUMNS = [
    Column("machine", "machine"), Column("impl", "implementation"), Column("model", "model"),
    Column("batch_size", "batch"),
    Column("threads", "threads"), Column("dtype", "dtype"),
    Column("old_s", "OLD median", stats.fmt_seconds), Column("new_s", "NEW median",
                                                             stats.fmt_seconds),
    Column("old_runs", "OLD runs"), Column("new_runs", "NEW runs"),
    Column("ratio", "NEW / OLD [95%]", whole_row=True, csv=("ratio", "ratio_ci_low",
                                                            "ratio_ci_high"),
           fmt=lambda r: stats.fmt_ratio(stats.Estimate(r["ratio"], r["ratio_ci_low"],
                                                        r["ratio_ci_high"], 0))),
    Column("verdict", "verdict"),
]


def _load(folder: str | Path) -> list[dict]:
    path = Path(folder)
    path = path / RESULTS if path.is_dir() else path
    if not path.is_file():
        raise MLPError(f"{folder}: no {RESULTS} here (give the --out folder of a bench run)")
    rows = [r for r in read_results(path).rows if r.get("status") == "ok"]
    if not rows:
        raise MLPError(f"{path}: no successful measurement to compare")
    configs = {json.dumps(r["config"], sort_keys=True) for r in rows}
    if len(configs) > 1:
        raise MLPError(f"{path} holds runs of {len(configs)} configurations: compare one of "
                       "them (mlp-core report puts each in a config-N folder)")
    return rows


def _cells(rows: list[dict]) -> dict[tuple, list[float]]:
    """Each cell's times: (machine, implementation, model, batch size, threads, dtype) ->
    seconds (two local runs share the machine name ``local``, whatever their CPU)."""
    out: dict[tuple, list[float]] = {}
    for r in rows:
        cell = (r.get("machine", LOCAL), r["impl"], model_name(r.get("layers")),
                r["batch_size"], r.get("threads"), r.get("dtype"))
        out.setdefault(cell, []).append(measured_time(r))
    return out


def compare(old_dir: str | Path, new_dir: str | Path) -> tuple[list[dict], list[str]]:
    """The comparison of every shared cell, and what differs between the two runs."""
    old, new = _load(old_dir), _load(new_dir)
    a, b = _cells(old), _cells(new)
    shared = [c for c in a if c in b]
    if not shared:
        raise MLPError(f"{old_dir} and {new_dir} have no cell in common (implementation, "
                       "model, batch size, threads and dtype): nothing to compare")
    out = []
    for cell in shared:
        e = stats.unpaired_ratio(b[cell], a[cell])
        verdict = ("faster" if e.high is not None and e.high < 1 else
                   "slower" if e.low is not None and e.low > 1 else "no significant change")
        machine, impl, model, batch, threads, dtype = cell
        out.append({"machine": machine, "impl": impl, "model": model, "batch_size": batch,
                    "threads": threads, "dtype": dtype, "old_s": stats.median_of(a[cell]),
                    "new_s": stats.median_of(b[cell]), "old_runs": len(a[cell]),
                    "new_runs": len(b[cell]), "ratio": e.value, "ratio_ci_low": e.low,
                    "ratio_ci_high": e.high, "verdict": verdict})
    return out, _differences(old, new)


def _differences(old: list[dict], new: list[dict]) -> list[str]:
    notes = []
    configs = [{json.dumps(r["config"], sort_keys=True) for r in rows} for rows in (old, new)]
    if configs[0] != configs[1]:
        first = [json.loads(sorted(c)[0]) for c in configs]
        fields = sorted(k for k in set(first[0]) | set(first[1])
                        if first[0].get(k) != first[1].get(k))
        notes.append("The training configurations differ: "
                     + (", ".join(f"{k} {first[0].get(k)!r} -> {first[1].get(k)!r}"
                                  for k in fields) or "several in one run") + ".")
    machines = [machine_description(rows).split("; ")[0] for rows in (old, new)]
    if machines[0] != machines[1]:
        notes.append(f"The machines differ: OLD {machines[0]}; NEW {machines[1]}.")
    versions = [{k: v for r in rows for k, v in (r.get("versions") or {}).items()}
                for rows in (old, new)]
    changed = sorted(k for k in set(versions[0]) & set(versions[1])
                     if versions[0][k] != versions[1][k])
    if changed:
        notes.append("Library versions differ: " + ", ".join(
            f"{k} {versions[0][k]} -> {versions[1][k]}" for k in changed) + ".")
    refs = [[r["reference_s"] for r in rows if r.get("reference_s")] for rows in (old, new)]
    if all(refs):  # the monitor's reference workload: the machine's own speed in each run
        e = stats.unpaired_ratio(refs[1], refs[0])
        if e.decided:
            notes.append(f"The machine itself ran at another speed: the monitor's reference "
                         f"workload took {stats.fmt_ratio(e)} as long in NEW as in OLD, so "
                         "part of every ratio below may be the machine's, not the code's.")
    return notes


def compare_document(result: list[dict], notes: list[str], old: str, new: str) -> list[Block]:
    counts = {v: sum(r["verdict"] == v for r in result)
              for v in ("faster", "slower", "no significant change")}
    answer = (f"NEW against OLD in {len(result)} shared cell{'s' * (len(result) != 1)}: "
              f"{counts['faster']} faster, {counts['slower']} slower, "
              f"{counts['no significant change']} with no significant change (95% intervals).")
    shown = [c for c in COLUMNS if any(c.cell(r) for r in result)
             and (c.key not in ("machine", "model", "threads", "dtype")
                  or len({str(r[c.key]) for r in result}) > 1)]
    blocks: list[Block] = [Heading("mlp-core compare", 1), Paragraph(f"**{answer}**")]
    if notes:
        blocks.append(Bullets(notes))
    blocks += [Paragraph(f"OLD: `{old}`; NEW: `{new}`. Ratio NEW/OLD of the median times, "
                         "with a 95% percentile-bootstrap interval over both runs' "
                         "measurements; a verdict only where the interval excludes 1 "
                         "(`docs/methodology.md`)."), Table(shown, result)]
    return blocks


def write_compare(old: str, new: str, out_dir: str | Path) -> tuple[list[Block], list[Path]]:
    """``compare.md``, ``compare.csv`` and ``compare.html`` in ``out_dir``."""
    import csv
    import io

    result, notes = compare(old, new)
    blocks = compare_document(result, notes, old, new)
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MLPError(f"cannot create {out}: {exc.strerror or exc}") from None
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=[f for c in COLUMNS for f in c.csv_fields],
                            extrasaction="ignore")
    writer.writeheader()
    writer.writerows(result)
    atomic_write_text(out / "compare.md", to_markdown(blocks))
    atomic_write_text(out / "compare.csv", buf.getvalue())
    page = write_html(out, [("", blocks)], [f"mlp-core compare {old} {new} --out {out}"],
                      title="mlp-core compare", page="compare.html")
    return blocks, [out / "compare.md", out / "compare.csv", page]
