"""Per-epoch progress: one line per epoch, as Keras keeps them (loss, accuracy, phase times),
and on a terminal a tqdm bar below them for the epochs still to come."""

from __future__ import annotations

import sys
from typing import TextIO

from .history import BATCHES, EVAL, SHUFFLE, time_key


def format_epoch(epoch: int, epochs: int, rec: dict) -> str:
    parts = [f"epoch {epoch:>{len(str(epochs))}}/{epochs}", f"loss {rec['loss']:.4f}"]
    if rec.get("reg_loss"):
        parts[-1] += f" (reg {rec['reg_loss']:.4f})"
    parts.append(f"acc {rec['accuracy']:.4f}")
    if "val_accuracy" in rec:
        parts.append(f"val_loss {rec['val_loss']:.4f} val_acc {rec['val_accuracy']:.4f}")
    if "train_accuracy_full" in rec:
        parts.append(f"full-train acc {rec['train_accuracy_full']:.4f}")
    parts.append("| " + " ".join(f"{phase} {rec[time_key(phase)]:.3f}s"
                                 for phase in (SHUFFLE, BATCHES, EVAL)))
    return "  ".join(parts)


class EpochProgress:
    def __init__(self, epochs: int, enabled: bool = True, stream: TextIO | None = None) -> None:
        self.epochs, self.enabled = epochs, enabled
        self.stream = stream or sys.stderr
        self.bar = None
        if enabled and self.stream.isatty():
            from tqdm.auto import tqdm

            self.bar = tqdm(total=epochs, unit="epoch", file=self.stream, dynamic_ncols=True)

    def update(self, epoch: int, rec: dict) -> None:
        if not self.enabled:
            return
        line = format_epoch(epoch, self.epochs, rec)
        if self.bar is not None:  # the epoch's line stays above the bar, which moves on
            self.bar.write(line, file=self.stream)
            self.bar.update(1)
        else:
            print(line, file=self.stream, flush=True)

    def message(self, text: str) -> None:
        if self.enabled:
            (self.bar.write if self.bar is not None else
             lambda t: print(t, file=self.stream, flush=True))(text)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
