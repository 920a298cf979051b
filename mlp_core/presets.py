"""Presets: the two sides of the seed article, as named sets of defaults.

A preset fixes the model, the optimizer, the penalties, the scaler and the training schedule.
Options given explicitly override it, one by one (``--l2 0`` with ``--preset seed-keras`` trains
without a penalty). Penalties that a preset puts on the hidden layers only follow the number of
hidden layers, so ``--layers 128,64,32`` keeps "hidden kernels only".

``seed-keras``, the article's Keras model (the default everywhere):
    784-70-30-10, sigmoid everywhere; L2 0.01 on the two hidden kernels, none on the output;
    categorical cross-entropy (as Keras 3 computes it: softmax cross-entropy of the output logits);
    RMSprop with Keras's defaults; Glorot-uniform weights, zero biases; batch 500, 35 epochs,
    shuffled; pixels divided by 255.

``seed-myann``, the author's own NumPy MLP, with the parameters the article lists:
    784-70-30-10 sigmoid, "LogLoss" (binary cross-entropy summed over the outputs); mini-batch
    500, 35 epochs, shuffled every epoch; SGD with learn_rate 0.001, decrease_const 1e-6 and
    mom_rate 5e-5; "sqrt_nodes" weights with init_weight_fact 2.0; gradients *summed* over the
    mini-batch (``reduction="sum"``) with lambda2·w added to that sum; accuracy from a full pass
    over the training set every epoch. Readings where the article is ambiguous:

    - lambda2 0.01: the article adds lambda2·w to the gradient, which is the gradient of
      (lambda2 / 2)·||w||²; mlp-core's ``l2`` is the coefficient of ||w||² (Keras's convention),
      so the preset sets ``l2 = 0.005`` on every weight layer (the article regularises them all).
    - The scaler comment reads "scaler1 = 1 # 1: StandardScaler (full set), 1: Normalizer (per
      sample)": two options under one number. We read 1 as the first one listed, StandardScaler,
      fitted on the full training set; the second is the one with the typo (it would be 2).
    - decrease_const: the learning rate at update t is lr / (1 + 1e-6·t) (mlp-core's ``decay``),
      per update as Keras's legacy ``decay``; over 35 epochs of 120 batches it lowers the rate by
      at most 0.4%.
    - mom_rate: Keras's SGD momentum (m = 0.00005·m - lr·g); at 5e-5 its effect is far below
      float32 rounding of the weights.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from .errors import choice_error

#: the options a preset sets, by the names that ``mlp-core train``/``bench``, ``BenchConfig``
#: and ``Preset.fit`` all use (``layers``: the hidden layers' sizes)
MODEL_OPTIONS = ("activation", "output", "loss", "init", "init_scale")
OPTIMIZER_OPTIONS = ("optimizer", "learning_rate", "momentum", "decay")
FIT_OPTIONS = ("epochs", "batch_size", "l2", "reduction", "eval_train")
PRESET_OPTIONS = ("layers", *MODEL_OPTIONS, *OPTIMIZER_OPTIONS, *FIT_OPTIONS, "scaler")


@dataclass(frozen=True)
class Resolved:
    """Every preset option's value, and where it came from: ``"user"`` (given explicitly),
    ``"preset"``, or ``"default"`` (the optimizer's own default, for another optimizer's
    hyper-parameters)."""

    preset: str
    values: dict[str, Any]
    sources: dict[str, str]

    def given(self) -> dict[str, Any]:
        """The options the user set."""
        return {k: v for k, v in self.values.items() if self.sources[k] == "user"}


@dataclass(frozen=True)
class Preset:
    """A named configuration: each field is the option of the same name (``l2`` is made of
    ``l2_hidden`` on each hidden layer's kernel and ``l2_output`` on the output's)."""

    name: str
    summary: str
    layers: tuple[int, ...] = (70, 30)
    activation: str = "sigmoid"
    output: str = "sigmoid"
    loss: str = "cce"
    init: str = "glorot"
    init_scale: float = 1.0
    optimizer: str = "rmsprop"
    learning_rate: float | None = None  # None: the optimizer's own (Keras's) default
    momentum: float | None = None
    decay: float | None = None
    l2_hidden: float = 0.0
    l2_output: float = 0.0
    reduction: str = "mean"
    epochs: int = 35
    batch_size: int = 500
    scaler: str = "divide255"
    eval_train: bool = False  # a full pass over the training set every epoch

    def l2(self, n_hidden: int | None = None) -> list[float]:
        """Per weight layer: the hidden layers' value on each hidden kernel, then the output's."""
        n = len(self.layers) if n_hidden is None else n_hidden
        return [self.l2_hidden] * n + [self.l2_output]

    def settings(self) -> dict[str, Any]:
        """Every option the preset sets, by name (for help texts and the README)."""
        fields = asdict(self)
        values = {k: fields[k] for k in PRESET_OPTIONS if k != "l2"}
        return {**values, "layers": list(self.layers), "l2": self.l2()}

    def resolve(self, given: Mapping[str, Any]) -> Resolved:
        """Each option from ``given`` where it is not None, else from the preset.

        The preset's learning rate, momentum and decay apply only to its own optimizer; and its
        "hidden kernels only" penalty follows the number of hidden layers actually asked for.
        """
        unknown = set(given) - set(PRESET_OPTIONS)
        if unknown:
            raise choice_error("preset option", sorted(unknown)[0], PRESET_OPTIONS)
        values, sources = {}, {}
        for key, preset_value in self.settings().items():
            if given.get(key) is not None:
                values[key], sources[key] = given[key], "user"
            else:
                values[key], sources[key] = preset_value, "preset"
        if sources["optimizer"] == "user" and values["optimizer"] != self.optimizer:
            for key in OPTIMIZER_OPTIONS[1:]:
                if sources[key] == "preset":
                    values[key], sources[key] = None, "default"
        if sources["l2"] == "preset":
            values["l2"] = self.l2(len(values["layers"]))
        values["layers"] = list(values["layers"])
        return Resolved(self.name, values, sources)

    def model_options(self) -> dict[str, Any]:
        """``MLP(...)`` keyword arguments other than the layer sizes."""
        return {k: getattr(self, k) for k in MODEL_OPTIONS}

    def fit(self, model: Any, x: Any, y: Any, **overrides: Any) -> Any:
        """``model.fit`` with the preset's optimizer, penalties and schedule (overrides win:
        any preset option, or any other argument of ``fit``)."""
        from .optimizers import get_optimizer

        preset_given = {k: v for k, v in overrides.items() if k in PRESET_OPTIONS}
        others = {k: v for k, v in overrides.items() if k not in PRESET_OPTIONS}
        optimizer = preset_given.pop("optimizer", None)
        if optimizer is not None and not isinstance(optimizer, str):  # an Optimizer instance
            others["optimizer"] = optimizer
            if "learning_rate" in preset_given:
                others["learning_rate"] = preset_given.pop("learning_rate")
        resolved = self.resolve({**preset_given, "optimizer": optimizer,
                                 "layers": model.layers[1:-1]})
        opts = resolved.values
        if "optimizer" not in others:
            others["optimizer"] = get_optimizer(
                opts["optimizer"], **{k: opts[k] for k in OPTIMIZER_OPTIONS[1:]})
        return model.fit(x, y, **{k: opts[k] for k in FIT_OPTIONS}, **others)


PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset("seed-keras", "the article's Keras model: cce, RMSprop, L2 0.01 on the hidden kernels",
           l2_hidden=0.01, l2_output=0.0),
    Preset("seed-myann", "the article's own NumPy MLP: logloss, SGD, summed gradients",
           loss="logloss", init="sqrt_nodes", init_scale=2.0, optimizer="sgd",
           learning_rate=0.001, momentum=5e-5, decay=1e-6, l2_hidden=0.005, l2_output=0.005,
           reduction="sum", scaler="standard", eval_train=True),
)}
DEFAULT_PRESET = "seed-keras"


def get_preset(name: str) -> Preset:
    """The preset called ``name``; an unknown name is an error listing the valid ones."""
    if name not in PRESETS:
        raise choice_error("preset", name, PRESETS)
    return PRESETS[name]


__all__ = ["DEFAULT_PRESET", "PRESETS", "PRESET_OPTIONS", "Preset", "Resolved", "get_preset"]
