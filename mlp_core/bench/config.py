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
from ..presets import DEFAULT_PRESET, PRESET_OPTIONS, get_preset
from .impls import KERAS, KERAS_LOSSES, SKLEARN
from .process import DEFAULT_TIMEOUT_S

DEFAULT_IMPLS = (backends.DEFAULT_BACKEND, *(e.variants[0].name for e in backends.REGISTRY.values()
                                            if e.keras == backends.REFERENCE_KERAS), KERAS)
DEFAULT_BATCH_SIZES = (100, 500, 1000, 10000, 60000)
# the sweep's dtypes (said here so that parsing needs no NumPy); mixed_bfloat16 is the
# +mixed_bfloat16 modifier instead, since NumPy and the floors cannot run it
DTYPES = ("float32", "float64")
#: the axes of the sweep and the measurement: rows of one training configuration stay comparable
#: (and a run resumable, cell by cell) whatever these are
MEASURED = ("impls", "models", "batch_sizes", "threads", "dtypes", "repeats", "floor", "timeout",
            "precision", "budget")
AUTO = "auto"  # --repeat auto: rounds until every verdict is clear, within a budget
DEFAULT_PRECISION = 0.05  # --precision: the target half-width of a ratio's interval
DEFAULT_BUDGET_S = 1800.0  # --budget: seconds --repeat auto may spend


def _default(name: str) -> Any:
    return get_preset(DEFAULT_PRESET).settings()[name]


@dataclass(frozen=True)
class Cell:
    """One point of the sweep: a model, a batch size, a thread count and a dtype."""

    layers: tuple[int, ...]  # hidden sizes
    batch_size: int
    threads: int | None  # None: the library's default
    dtype: str
    l2: tuple[float, ...]  # per weight layer, for this model


@dataclass
class BenchConfig:
    """What is trained (the default preset's configuration) and what is measured.

    ``models`` lists the hidden layers of each model; ``l2`` None means the preset's rule for
    each model (``seed-keras``: 0.01 on every hidden kernel, none on the output).
    ``steps``: time that many training steps per cell after a warm-up, instead of whole fits.
    ``samples``, ``features`` and ``classes`` size the ``synthetic`` dataset.
    """

    dataset: str = "fashion-mnist"
    data_dir: str | None = None
    samples: int | None = None
    features: int | None = None
    classes: int | None = None
    preset: str = DEFAULT_PRESET
    scaler: str = field(default_factory=lambda: _default("scaler"))
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
    l2: float | list[float] | None = None
    epochs: int = field(default_factory=lambda: _default("epochs"))
    steps: int | None = None
    seed: int = 0
    device: str | None = None
    native_blas: bool = False  # unset the OpenBLAS kernel pin (OPENBLAS_CORETYPE, ...) in workers
    warmup: bool = True
    impls: list[str] = field(default_factory=lambda: list(DEFAULT_IMPLS))
    models: list[list[int]] = field(default_factory=lambda: [_default("layers")])
    batch_sizes: list[int] = field(default_factory=lambda: list(DEFAULT_BATCH_SIZES))
    threads: list[int | None] = field(default_factory=lambda: [None])
    dtypes: list[str] = field(default_factory=lambda: ["float32"])
    repeats: int | str = 3  # rounds, or "auto"
    floor: bool = True
    timeout: float = DEFAULT_TIMEOUT_S  # seconds a measurement may take before it is stopped
    precision: float | None = None  # with repeats "auto": DEFAULT_PRECISION unless given
    budget: float | None = None  # with repeats "auto": DEFAULT_BUDGET_S unless given
    predict: bool = False  # --steps: predict each cell of ours from the calibration too (the
    # workers read it from the training configuration they are given, so it is part of it)

    @property
    def auto(self) -> bool:
        return self.repeats == AUTO

    @property
    def precision_frac(self) -> float:
        return DEFAULT_PRECISION if self.precision is None else self.precision

    @property
    def budget_s(self) -> float:
        return DEFAULT_BUDGET_S if self.budget is None else self.budget

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> BenchConfig:
        """The configuration of preset ``name`` (see :mod:`mlp_core.presets`); overrides win."""
        preset = get_preset(name)
        given = {k: v for k, v in overrides.items() if k in PRESET_OPTIONS}
        resolved = preset.resolve(given).values
        names = {f.name for f in fields(cls)} - {"l2"}
        others = {k: v for k, v in overrides.items() if k not in PRESET_OPTIONS or k == "l2"}
        return cls(**{**{k: v for k, v in resolved.items() if k in names}, "preset": name,
                      "models": [resolved["layers"]], **others})

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> BenchConfig:
        """From ``mlp-core bench``'s parsed arguments, field by field: each preset option as
        resolved against ``--preset`` (``--layers``, repeatable, gives ``models``), every other
        field from the argument of its name."""
        preset = get_preset(args.preset)
        given = {k: getattr(args, k, None) for k in PRESET_OPTIONS if k != "layers"}
        resolved = preset.resolve(given).values
        values = {f.name: resolved[f.name] if f.name in resolved else getattr(args, f.name, None)
                  for f in fields(cls)}
        values.update(l2=args.l2, models=args.layers or [list(preset.layers)],
                      threads=args.threads or [None], dtypes=args.dtypes or ["float32"])
        if values["repeats"] is None:  # a sweep repeats until its verdicts are clear
            values["repeats"] = AUTO if args.steps else cls.__dataclass_fields__["repeats"].default
        return cls(**values)

    def to_dict(self) -> dict:
        return asdict(self)

    def python(self) -> str:
        """``BenchConfig(...)`` with the fields that differ from the defaults: the call that
        makes this configuration again."""
        default = BenchConfig().to_dict()
        given = {k: v for k, v in self.to_dict().items() if v != default[k]}
        return "BenchConfig(" + ", ".join(f"{k}={v!r}" for k, v in given.items()) + ")"

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

    def l2_for(self, hidden: list[int] | tuple[int, ...]) -> tuple[float, ...]:
        """The L2 penalty of each weight layer of the model with these hidden layers."""
        from ..validation import per_layer

        value = get_preset(self.preset).l2(len(hidden)) if self.l2 is None else self.l2
        return per_layer(value, "l2", len(hidden) + 1)

    def cell(self, job: dict) -> Cell:
        """The sweep point a job of the plan measures (what it leaves out: the first of each)."""
        layers = job.get("layers", self.models[0])
        return Cell(tuple(layers), job["batch_size"], job.get("threads", self.threads[0]),
                    job.get("dtype", self.dtypes[0]), self.l2_for(layers))

    def cells(self) -> list[dict]:
        """Every sweep point as the plan's jobs name it, in the order they interleave."""
        return [{"layers": list(m), "batch_size": b, "threads": t, "dtype": d}
                for m in self.models for b in self.batch_sizes for t in self.threads
                for d in self.dtypes]

    def validate(self, local: bool = True) -> None:
        """Check everything here, before any worker starts, without building a model: one clear
        error. ``local``: the measurements run on this machine, so its paths are theirs."""
        from ..data import SYNTHETIC, dataset_key, dataset_shape, make_scaler
        from ..network import REDUCTIONS
        from ..optimizers import get_optimizer
        from ..synthetic import check_sizes
        from ..validation import check_model_options, per_layer

        key = dataset_key(self.dataset)
        if key == SYNTHETIC:
            check_sizes(self.samples, self.features, self.classes)
        elif local and key.endswith(".npz") and not Path(key).is_file():
            raise MLPError(f"--dataset {key}: no such file")
        if local and self.data_dir is not None and not Path(self.data_dir).is_dir():
            raise MLPError(f"--data-dir {self.data_dir}: no such folder")
        make_scaler(self.scaler)
        get_optimizer(self.optimizer, learning_rate=self.learning_rate, momentum=self.momentum,
                      decay=self.decay)
        if self.reduction not in REDUCTIONS:
            raise MLPError(f"unknown reduction {self.reduction!r}; valid: "
                           f"{', '.join(REDUCTIONS)}")
        self._check_axes()
        n_inputs, n_classes = dataset_shape(key, self.features, self.classes) or (1, 2)
        for hidden in self.models:
            for dtype in self.dtypes:
                check_model_options([n_inputs, *hidden, n_classes], self.activation, self.output,
                                    self.loss, self.init, self.init_scale, self.seed, dtype)
            per_layer(self.l1, "l1", len(hidden) + 1)
            self.l2_for(hidden)

    def _check_axes(self) -> None:
        if not self.models or any(not m or any(isinstance(s, bool) or not isinstance(s, int)
                                               or s < 1 for s in m) for m in self.models):
            raise MLPError(f"each model (--layers) must be positive layer sizes, got {self.models}")
        if not self.batch_sizes or any(b < 1 for b in self.batch_sizes):
            raise MLPError(f"batch sizes must be positive integers, got {self.batch_sizes}")
        if not self.threads or any(t is not None and t < 1 for t in self.threads):
            raise MLPError(f"thread counts must be positive integers, got {self.threads}")
        if not self.dtypes or any(d not in DTYPES for d in self.dtypes):
            hint = ("; mixed_bfloat16 is a modifier of the implementations that have it "
                    "(NumPy and the floors do not), e.g. --impl torch+mixed_bfloat16"
                    if "mixed_bfloat16" in self.dtypes else "")
            raise MLPError(f"dtypes must be among {', '.join(DTYPES)}, got {self.dtypes}{hint}")
        if self.repeats != AUTO and (isinstance(self.repeats, bool)
                                     or not isinstance(self.repeats, int) or self.repeats < 1):
            raise MLPError(f"repeats must be an integer >= 1 or 'auto', got {self.repeats!r}")
        if not self.auto and (self.precision is not None or self.budget is not None):
            raise MLPError("--precision and --budget go with --repeat auto, not with a number "
                           "of repeats")
        for name, value in (("precision", self.precision), ("budget", self.budget)):
            if value is not None and not 0 < value < float("inf"):
                raise MLPError(f"{name} must be a number > 0, got {value!r}")
        if self.epochs < 1:
            raise MLPError(f"epochs must be >= 1, got {self.epochs}")
        if self.steps is not None and self.steps < 1:
            raise MLPError(f"steps must be >= 1, got {self.steps}")
        if self.predict and not self.steps:
            raise MLPError("--predict predicts training steps: it goes with --steps")
        if not self.impls:
            raise MLPError("no implementation to measure")
        if not (isinstance(self.timeout, (int, float)) and 0 < self.timeout < float("inf")):
            raise MLPError(f"timeout must be a number of seconds > 0, got {self.timeout!r}")

    def peer_mismatch(self, peer: str) -> str | None:
        """Why the peer ``peer`` (e.g. ``keras``) cannot train this configuration, or None."""
        unmatched = [name for name, value, plain in (
            ("SGD momentum", self.momentum, None), ("learning-rate decay", self.decay, None),
            ("an init scale", self.init_scale, 1.0), ("a summed reduction", self.reduction, "mean"),
            ("a full training-set pass every epoch", self.eval_train, False),
            (f"loss {self.loss}", self.loss not in KERAS_LOSSES, False))
            if (value or plain) != plain]
        if peer == SKLEARN:  # MLPClassifier: softmax cross-entropy of the logits, L2 alone
            unmatched += [name for name, differs in (
                (f"loss {self.loss}", self.loss != "cce" and f"loss {self.loss}" not in unmatched),
                ("L1", self.l1 != 0)) if differs]
        if unmatched:
            return f"{peer} cannot match {', '.join(unmatched)}"
        return None
