"""Everything a bench run publishes from its rows: ``summary.md``/``.csv`` and ``plot.png``, the
scaling map after a sweep, and ``report.html``; and ``mlp-core report``, which rebuilds them from
the ``results.jsonl`` of one or more runs without measuring anything."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..errors import MLPError
from ..fileio import atomic_write_text
from .document import Block, Heading, Plot
from .html_report import write_html
from .report import summary_csv, summary_document, write_document
from .rows import LOCAL, RESULTS, key, read_results
from .scaling_report import is_sweep, scaling_documents


def write_outputs(rows: list[dict], out_dir: str | Path,
                  skipped: dict[str, str] | None = None) -> tuple[list[dict], list[Path]]:
    """Every file a run publishes in ``out_dir``; returns the summary and the files."""
    summary, written, page = _write_documents(rows, Path(out_dir), skipped)
    written.append(write_html(out_dir, [("", page)], commands_of(rows)))
    return summary, written


def _write_documents(rows: list[dict], out: Path, skipped: dict[str, str] | None
                     ) -> tuple[list[dict], list[Path], list[Block]]:
    """The summary's and, after a sweep, the scaling map's files; returns the summary, the
    files and the page's blocks, in the order a reader wants: the answer, the plots, the
    tables."""
    summary, blocks = summary_document(rows, skipped)
    written = write_document(blocks, out, "summary", summary_csv(summary))
    if is_sweep(rows):
        for suffix, more, csv_text in scaling_documents(rows):
            written += write_document(more, out, f"scaling{suffix}", csv_text)
            blocks = blocks + more
    return summary, written, page_order(blocks)


def page_order(blocks: list[Block]) -> list[Block]:
    """The title and the answer (the blocks before the first section), every plot, the rest."""
    first = next((i for i, b in enumerate(blocks) if isinstance(b, Heading) and b.level > 1),
                 len(blocks))
    return ([b for b in blocks[:first] if not isinstance(b, Plot)]
            + [b for b in blocks if isinstance(b, Plot)]
            + [b for b in blocks[first:] if not isinstance(b, Plot)])


def commands_of(rows: list[dict]) -> list[str]:
    """The distinct commands that measured ``rows``, in order."""
    return list(dict.fromkeys(r["command"] for r in rows if r.get("command")))


def merge(runs: list[list[dict]]) -> list[dict]:
    """The rows of several runs, each measurement once: the same machine, implementation,
    configuration, sweep point and repeat is kept once (a successful row before a failed one)."""
    kept: dict[tuple, dict] = {}
    for row in (r for rows in runs for r in rows):
        ident = (json.dumps(row["config"], sort_keys=True), *key(row),
                 row.get("timestamp") if row.get("status") == "flagged" else None)  # (kept)
        if ident not in kept or (kept[ident].get("status") != "ok" and row.get("status") == "ok"):
            kept[ident] = row
    return list(kept.values())


def rebuild(dirs: list[str | Path], out_dir: str | Path) -> list[Path]:
    """``mlp-core report``: read, merge and publish; runs of different configurations are
    published apart (``config-1/``, ``config-2/``, ...), each page section naming its own."""
    runs = []
    for d in map(Path, dirs):
        path = d / RESULTS if d.is_dir() else d
        if not path.is_file():
            raise MLPError(f"{d}: no {RESULTS} here (give the --out folder of a bench run)")
        result = read_results(path)
        for note in result.notes:
            print(f"mlp-core report: {note}", file=sys.stderr)
        runs.append(result.rows)
    hosts = {r.get("host") for rows in runs for r in rows if r.get("machine", LOCAL) == LOCAL}
    if len(hosts) > 1:  # local runs of several machines: each known by its host name
        for r in (r for rows in runs for r in rows if r.get("machine", LOCAL) == LOCAL):
            r["machine"] = r.get("host") or LOCAL
    rows = merge(runs)
    if not rows:
        raise MLPError("no rows to report: the results files are empty")
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MLPError(f"cannot create {out}: {exc.strerror or exc}") from None
    atomic_write_text(out / RESULTS, "".join(json.dumps(r, default=str) + "\n" for r in rows))
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(json.dumps(r["config"], sort_keys=True), []).append(r)
    if len(groups) == 1:
        return [out / RESULTS, *write_outputs(rows, out)[1]]
    written, sections = [out / RESULTS], []
    for i, group in enumerate(groups.values(), 1):
        folder = out / f"config-{i}"
        folder.mkdir(exist_ok=True)
        atomic_write_text(folder / RESULTS, "".join(json.dumps(r, default=str) + "\n"
                                                    for r in group))
        _, files, page = _write_documents(group, folder, None)
        written += [folder / RESULTS, *files]
        machines = sorted({r.get("machine", LOCAL) for r in group})
        sections.append((f"Configuration {i} ({len(group)} rows; machines: "
                         f"{', '.join(machines)})", page))
    written.append(write_html(out, sections, commands_of(rows),
                              title=f"mlp-core benchmark: {len(groups)} configurations"))
    return written
