"""The bench's configuration: what is trained and what is measured, stated once.

``BenchConfig`` is built from the parsed command line by its field names
(:meth:`BenchConfig.from_args`), checked once before anything runs (:meth:`validate`), and travels
to each measurement's worker process as itself: :meth:`to_dict` and :meth:`from_dict`, with the
defaults written only here.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .. import backends
from ..errors import MLPError
from ..presets import DEFAULT_PRESET, get_preset
from .impls import KERAS

DEFAULT_IMPLS = (backends.DEFAULT_BACKEND, *(e.variants[0].name for e in backends.REGISTRY.values()
                                            if e.keras), KERAS)
DEFAULT_BATCH_SIZES = (100, 500, 1000, 10000, 60000)
#: the fields that say what is measured, not what is trained: rows of one training configuration
#: stay comparable (and a run resumable) whatever these are
MEASURED = ("impls", "batch_sizes", "repeats", "floor")


def _default(name: str) -> Any:
    return get_preset(DEFAULT_PRESET).settings()[name]


@dataclass
class BenchConfig:
    """What is trained (the default preset's configuration) and what is measured."""

    dataset: str = "fashion-mnist"
    data_dir: str | None = None
    scaler: str = field(default_factory=lambda: _default("scaler"))
    layers: list[int] = field(default_factory=lambda: _default("layers"))  # hidden sizes
    activation: str = field(default_factory=lambda: _default("activation"))
    output: str = field(default_factory=lambda: _default("output"))
    loss: str = field(default_factory=lambda: _default("loss"))
    init: str = field(default_factory=lambda: _default("init"))
    init_scale: float = field(default_factory=lambda: _default("init_scale"))
    optimizer: str = field(default_factory=lambda: _default("optimizer"))
    learning_rate: float | None = field(default_factory=lambda: _default("learning_rate"))
    momentum: float | None = field(default_factory=lambda: _default("momentum"))
    decay: float | None = field(default_factory=lambda: _default("decay"))
    reduction: str = field(default_factory=lambda: _default("reduction"))
    eval_train: bool = field(default_factory=lambda: _default("eval_train"))
    l1: float | list[float] = 0.0
    l2: float | list[float] = field(default_factory=lambda: _default("l2"))
    epochs: int = field(default_factory=lambda: _default("epochs"))
    seed: int = 0
    dtype: str = "float32"
    threads: int | None = None
    device: str | None = None
    native_blas: bool = False  # unset the OpenBLAS kernel pin (OPENBLAS_CORETYPE, ...) in workers
    warmup: bool = True
    impls: list[str] = field(default_factory=lambda: list(DEFAULT_IMPLS))
    batch_sizes: list[int] = field(default_factory=lambda: list(DEFAULT_BATCH_SIZES))
    repeats: int = 3
    floor: bool = True

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> BenchConfig:
        """The configuration of preset ``name`` (see :mod:`mlp_core.presets`); overrides win."""
        preset = get_preset(name)
        given = {k: v for k, v in overrides.items() if k in preset.settings()}
        resolved = preset.resolve(given).values
        names = {f.name for f in fields(cls)}
        return cls(**{**{k: v for k, v in resolved.items() if k in names}, **overrides})

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> BenchConfig:
        """From ``mlp-core bench``'s parsed arguments, field by field: each preset option as
        resolved against ``--preset``, every other field from the argument of its name."""
        from ..options import resolve_options

        resolved = resolve_options(args).values
        return cls(**{f.name: resolved[f.name] if f.name in resolved else getattr(args, f.name)
                      for f in fields(cls)})

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> BenchConfig:
        """The configuration a :meth:`to_dict` (or :meth:`training`) gave; missing fields take
        their defaults."""
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise MLPError(f"not a bench configuration: unknown field {sorted(unknown)[0]!r}")
        return cls(**data)

    def training(self) -> dict:
        """The part every row must share for rows to be comparable (and resumable)."""
        return {k: v for k, v in self.to_dict().items() if k not in MEASURED}

    def validate(self, local: bool = True) -> None:
        """Check everything here, before any worker starts, without building a model: one clear
        error. ``local``: the measurements run on this machine, so its paths are theirs."""
        from ..data import DATASETS, IMAGE_PIXELS, N_CLASSES, make_scaler
        from ..network import REDUCTIONS
        from ..optimizers import get_optimizer
        from ..validation import check_model_options, per_layer

        if str(self.dataset).lower().replace("_", "-") not in DATASETS:
            raise MLPError(f"unknown dataset {self.dataset!r}; valid: {', '.join(DATASETS)}")
        if local and self.data_dir is not None and not Path(self.data_dir).is_dir():
            raise MLPError(f"--data-dir {self.data_dir}: no such folder")
        make_scaler(self.scaler)
        get_optimizer(self.optimizer, learning_rate=self.learning_rate, momentum=self.momentum,
                      decay=self.decay)
        sizes = check_model_options([IMAGE_PIXELS, *self.layers, N_CLASSES], self.activation,
                                    self.output, self.loss, self.init, self.init_scale,
                                    self.seed, self.dtype)
        if self.reduction not in REDUCTIONS:
            raise MLPError(f"unknown reduction {self.reduction!r}; valid: "
                           f"{', '.join(REDUCTIONS)}")
        per_layer(self.l1, "l1", len(sizes) - 1)
        per_layer(self.l2, "l2", len(sizes) - 1)
        if self.repeats < 1:
            raise MLPError(f"repeats must be >= 1, got {self.repeats}")
        if not self.batch_sizes or any(b < 1 for b in self.batch_sizes):
            raise MLPError(f"batch sizes must be positive integers, got {self.batch_sizes}")
        if self.epochs < 1:
            raise MLPError(f"epochs must be >= 1, got {self.epochs}")
        if not self.impls:
            raise MLPError("no implementation to measure")

    def keras_mismatch(self) -> str | None:
        """Why the Keras reference cannot train this configuration, or None."""
        unmatched = [name for name, value, plain in (
            ("SGD momentum", self.momentum, None), ("learning-rate decay", self.decay, None),
            ("an init scale", self.init_scale, 1.0), ("a summed reduction", self.reduction, "mean"),
            ("a full training-set pass every epoch", self.eval_train, False),
            (f"loss {self.loss}", self.loss in ("cce", "mse"), True)) if (value or plain) != plain]
        if unmatched:
            return f"the Keras reference cannot match {', '.join(unmatched)}"
        return None
