"""The record of a training run: per-epoch metrics and phase times, exportable to JSON."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from .fileio import atomic_write_text

#: the phases of an epoch, timed apart; the history records each as ``time_<phase>``
SHUFFLE, COMPILE, BATCHES, EVAL, EPOCH = "shuffle", "compile", "batches", "eval", "epoch"


def time_key(phase: str) -> str:
    """The history's key of a phase's seconds: ``time_shuffle``, ..."""
    return f"time_{phase}"


@dataclass
class History:
    """Per-epoch values, Keras-style: ``history["loss"][i]`` is epoch i+1's loss.

    Keys: ``loss`` (mean over samples, penalty included), ``reg_loss`` (the penalty's share),
    ``accuracy`` (tracked from the training batches, as Keras does), ``val_loss`` /
    ``val_accuracy`` and ``train_loss_full`` / ``train_accuracy_full`` on epochs with a full-set
    evaluation pass (None on the others), ``mean_abs_w`` (one value per layer), and the phase times
    in seconds ``time_shuffle``, ``time_batches``, ``time_eval``, ``time_epoch``, and
    ``time_compile``: what a compiling backend (TensorFlow compiled: tracing; JAX, torch compiled)
    spent compiling in the epoch. It is part of ``time_epoch`` (so the train time of a cold run
    includes it, as a cold Keras ``fit`` does) and kept out of ``time_batches``.
    """

    history: dict[str, list] = field(default_factory=dict)
    info: dict = field(default_factory=dict)  # backend, mode, configuration, versions
    stop_reason: str | None = None  # set when training stopped early (a non-finite loss)
    #: the epoch that ran and was undone when training diverged: its number and phase times
    undone: dict | None = None

    @property
    def epochs(self) -> int:
        """Epochs trained and kept."""
        return len(self.history.get("loss", []))

    @property
    def epochs_run(self) -> int:
        """Epochs that ran: the kept ones and an undone one."""
        return self.epochs + (self.undone is not None)

    def append(self, record: dict) -> None:
        n = self.epochs
        for key in set(self.history) | set(record):
            self.history.setdefault(key, [None] * n).append(record.get(key))

    @property
    def train_time(self) -> float:
        """Seconds spent in the epochs that ran, all phases (compile, shuffle, batches,
        evaluation), an undone epoch's included."""
        return self.phase_totals().get(EPOCH, 0.0)

    def phase_totals(self) -> dict[str, float]:
        """Seconds per phase over the epochs that ran (an undone one's included)."""
        prefix = time_key("")
        totals = {k[len(prefix):]: float(sum(v)) for k, v in self.history.items()
                  if k.startswith(prefix)}
        for key, value in (self.undone or {}).items():
            if key.startswith(prefix):
                totals[key[len(prefix):]] = totals.get(key[len(prefix):], 0.0) + value
        return totals

    def step_time(self, steps: int) -> float:
        """Seconds per training step over ``steps`` steps: the shuffles and the batches (no
        compiling, no evaluation)."""
        phases = self.phase_totals()
        return (phases.get(SHUFFLE, 0.0) + phases.get(BATCHES, 0.0)) / steps

    def to_dict(self) -> dict:
        return {"format": "mlp-core-history", "version": 1, "info": self.info,
                "stop_reason": self.stop_reason, "undone": self.undone,
                "phase_totals": self.phase_totals(),
                "history": self.history}

    def to_json(self, path: str | os.PathLike) -> None:
        """Write the history as JSON, atomically."""
        atomic_write_text(path, json.dumps(self.to_dict(), indent=1))
