"""The results store: ``results.jsonl`` in a bench's output folder, one JSON line per finished
measurement, appended and fsynced as each one ends.

An interrupted run keeps everything it finished, and the same command resumes it: the runner
skips the measurements whose rows are here. The runner and the Ctrl-C path both read it.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

from ..errors import MLPError
from ..fileio import check_writable

RESULTS = "results.jsonl"
LOCAL = "local"  # the machine of rows measured here (rows without a machine field are local)


def key(row: dict) -> tuple:
    """What identifies a measurement: machine, implementation, sweep point and repeat."""
    layers = row.get("layers")
    return (row.get("machine", LOCAL), row["impl"], tuple(layers) if layers else None,
            row["batch_size"], row.get("threads"), row.get("dtype"),
            row["repeat"])


def select_rows(rows: list[dict], jobs: list[dict]) -> list[dict]:
    """The rows of these jobs, without failures that a later run of the same job redid."""
    wanted = {key(j) for j in jobs}
    redone = {key(r) for r in rows if r.get("status") == "ok"}
    return [r for r in rows if key(r) in wanted
            and (r.get("status") == "ok" or key(r) not in redone)]


class ResultsStore:
    """``results.jsonl`` in ``out_dir``."""

    def __init__(self, out_dir: str | os.PathLike) -> None:
        self.out = Path(out_dir)
        self.path = self.out / RESULTS

    def rows(self) -> list[dict]:
        """Every readable row; a line cut short by a crash is skipped (and its measurement
        redone)."""
        if not self.path.exists():
            return []
        rows = []
        for line in self.path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return rows

    def open_for(self, training: dict, fresh: bool = False) -> list[dict]:
        """Make the folder ready for rows of the ``training`` configuration and return the rows
        already there. Rows of another configuration are an error unless ``fresh``, which sets
        them aside in a dated file."""
        try:
            self.out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise MLPError(f"cannot create {self.out}: {exc.strerror or exc}") from None
        check_writable(self.path)
        rows = self.rows()
        if rows and fresh:
            self.path.rename(self.out / f"results-{datetime.now():%Y%m%d-%H%M%S}.jsonl")
            rows = []
        if rows and any(r.get("config") != training for r in rows):
            raise MLPError(f"{self.path} holds results of another configuration; "
                           "use another --out, or --fresh to set them aside")
        return rows

    def append(self, row: dict) -> None:
        """Append one JSON line and fsync it. A line cut short by a crash is first ended, so
        that it stays one unreadable line instead of swallowing this one. The file is only
        created with its first row."""
        try:
            with open(self.path, "ab") as f:
                if f.tell() > 0:
                    with open(self.path, "rb") as r:
                        r.seek(-1, os.SEEK_END)
                        if r.read(1) != b"\n":
                            f.write(b"\n")
                f.write((json.dumps(row, default=str) + "\n").encode())
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            raise MLPError(f"cannot write {self.path}: {exc.strerror or exc}; the measurements "
                           "finished before it are kept") from None


def load_rows(out_dir: str | os.PathLike) -> list[dict]:
    """The rows of ``out_dir/results.jsonl`` (none if it does not exist)."""
    return ResultsStore(out_dir).rows()
