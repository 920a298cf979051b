"""A bench row, declared once: what identifies it, its fields and their types, and the one reader
of a results file (``results.jsonl``) that the store, ``mlp-core report`` and ``compare`` share.

The reader's policy: a row cut off by a crash (the file's last line, unterminated and not JSON) is
left out, and the reader says so; any other damage (a line that is not JSON, a row missing a field
or holding a field of the wrong type, a time that is not a finite positive number, an unknown
implementation) is one :class:`DataError` naming the file and the line.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError, MLPError

RESULTS = "results.jsonl"
LOCAL = "local"  # the machine of rows measured here (rows without a machine field are local)
#: ``ok``; ``error``: the measurement failed; ``flagged``: it ran while the machine was slow
#: (the monitor's reference workload says so) and was measured again
STATUSES = ("ok", "error", "flagged")
#: what every bench row holds
REQUIRED = ("impl", "batch_size", "repeat", "status", "config")
#: a successful row's times in seconds: finite and positive where present (fit_time always is)
TIMES = ("fit_time", "train_time", "time_per_epoch", "step_time", "sample_time",
         "epoch_equivalent_time", "floor_per_epoch", "predicted_s")
#: other numbers: finite and >= 0 where present
AMOUNTS = ("test_accuracy", "gflops", "sgemm_peak_gflops", "peak_rss_mb", "gpu_peak_mb",
           "epoch_flops", "flops_per_step", "epochs_run", "load_before", "reference_s",
           "steal_pct")


@dataclass(frozen=True)
class ReadResult:
    """The rows of a results file, and what the reader left out (a crash's cut-off line)."""

    rows: list[dict]
    notes: list[str]


def model_name(layers) -> str:
    """``[70, 30]`` -> ``"70-30"`` (the hidden layers)."""
    return "-".join(map(str, layers)) if layers else ""


def cell_key(row: dict) -> tuple:
    """A row's cell: (machine, implementation, model, batch size, threads asked, dtype)."""
    return (row.get("machine", LOCAL), row["impl"], model_name(row.get("layers")),
            row["batch_size"], row.get("threads"), row.get("dtype"))


def key(row: dict) -> tuple:
    """A measurement: its cell and its repeat (a job and the row it gave share it)."""
    return (*cell_key(row), row["repeat"])


def names_machines(items: list[dict]) -> bool:
    """Whether any row (or summary) comes from another machine than this one: then every table
    and label names its machine."""
    return any(s.get("machine", LOCAL) != LOCAL for s in items)


def measured_time(row: dict) -> float:
    """A row's time: seconds per step in a per-step sweep, else the whole fit's seconds."""
    return row["step_time"] if row.get("step_time") is not None else row["fit_time"]


def check_row(row: object) -> str | None:
    """What is wrong with a parsed row, or None."""
    if not isinstance(row, dict) or not all(k in row for k in REQUIRED):
        return f"not an mlp-core bench row (it needs {', '.join(REQUIRED)})"
    from .impls import parse_impl

    if not isinstance(row["impl"], str):
        return f"impl must be a name, got {row['impl']!r}"
    try:
        parse_impl(row["impl"])
    except MLPError as exc:
        return str(exc)
    for name, minimum in (("batch_size", 1), ("repeat", 0), ("threads", 1)):
        value = row.get(name)
        if (value is not None or name != "threads") and not _is_int(value, minimum):
            return f"{name} must be an integer >= {minimum}, got {value!r}"
    layers = row.get("layers")
    if layers is not None and not (isinstance(layers, list) and all(_is_int(n, 1)
                                                                     for n in layers)):
        return f"layers must be a list of positive integers, got {layers!r}"
    if not isinstance(row["config"], dict):
        return "config must be an object"
    for name in ("machine", "dtype"):
        if row.get(name) is not None and not isinstance(row[name], str):
            return f"{name} must be a string, got {row[name]!r}"
    if row["status"] not in STATUSES:
        return f"status must be one of {', '.join(map(repr, STATUSES))}, got {row['status']!r}"
    if row["status"] != "ok":
        return None
    if "fit_time" not in row:
        return "a successful row needs fit_time"
    for names, positive in ((TIMES, True), (AMOUNTS, False)):
        for name in names:
            value = row.get(name)
            if value is not None and not _is_number(value, positive):
                kind = "a finite number > 0" if positive else "a finite number >= 0"
                return f"{name} must be {kind}, got {value!r}"
    return None


def _is_int(value: object, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _is_number(value: object, positive: bool) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return False
    return value > 0 if positive else value >= 0


def read_results(path: str | Path) -> ReadResult:
    """Every row of a results file, checked (this module's docstring says the policy)."""
    path = Path(path)
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a results file (not UTF-8 text)") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    lines = text.split("\n")
    rows, notes = [], []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines) and line.lstrip().startswith("{"):  # unterminated: a crash's
                notes.append(f"{path}:{number}: the last row is cut off (a crash while it was "
                             "written); left out")
                continue
            raise DataError(f"{path}:{number}: damaged line (not JSON)") from None
        if (why := check_row(row)) is not None:
            raise DataError(f"{path}:{number}: {why}")
        rows.append(row)
    return ReadResult(rows, notes)
