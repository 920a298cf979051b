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
from .rows import RESULTS, key, read_results


def select_rows(rows: list[dict], jobs: list[dict]) -> list[dict]:
    """The rows of these jobs, without failures that a later run of the same job redid (rows
    the monitor flagged stay: the summary counts them)."""
    wanted = {key(j) for j in jobs}
    redone = {key(r) for r in rows if r.get("status") == "ok"}
    return [r for r in rows if key(r) in wanted
            and (r.get("status") in ("ok", "flagged") or key(r) not in redone)]


class ResultsStore:
    """``results.jsonl`` in ``out_dir``."""

    def __init__(self, out_dir: str | os.PathLike) -> None:
        self.out = Path(out_dir)
        self.path = self.out / RESULTS

    def rows(self) -> list[dict]:
        """Every row, read by :func:`rows.read_results` (a crash's cut-off last row is left
        out, and its measurement redone; any other damage is an error)."""
        return read_results(self.path).rows if self.path.exists() else []

    def _drop_cut_row(self) -> None:
        """Cut a row cut off by a crash from the end of the file, so that the rows appended
        next follow whole ones."""
        with open(self.path, "rb+") as f:
            data = f.read()
            if data and not data.endswith(b"\n"):
                f.truncate(data.rfind(b"\n") + 1)

    def open_for(self, training: dict, fresh: bool = False) -> list[dict]:
        """Make the folder ready for rows of the ``training`` configuration and return the rows
        already there. Rows of another configuration are an error unless ``fresh``, which sets
        them aside in a dated file."""
        try:
            self.out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise MLPError(f"cannot create {self.out}: {exc.strerror or exc}") from None
        check_writable(self.path)
        if self.path.exists():
            self._drop_cut_row()
        rows = self.rows()
        if rows and fresh:
            self.path.rename(self.out / f"results-{datetime.now():%Y%m%d-%H%M%S}.jsonl")
            rows = []
        if rows and any(r.get("config") != training for r in rows):
            raise MLPError(f"{self.path} holds results of another configuration; "
                           "use another --out, or --fresh to set them aside")
        return rows

    def append(self, row: dict) -> None:
        """Append one JSON line and fsync it. The file is only created with its first row."""
        try:
            with open(self.path, "ab") as f:
                f.write((json.dumps(row, default=str) + "\n").encode())
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            raise MLPError(f"cannot write {self.path}: {exc.strerror or exc}; the measurements "
                           "finished before it are kept") from None


def load_rows(out_dir: str | os.PathLike) -> list[dict]:
    """The rows of ``out_dir/results.jsonl`` (none if it does not exist)."""
    return ResultsStore(out_dir).rows()
