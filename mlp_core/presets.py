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

from dataclasses import dataclass, field
from typing import Any

from .errors import choice_error


@dataclass(frozen=True)
class Preset:
    """A named configuration: model options, optimizer, penalties and schedule."""

    name: str
    summary: str
    hidden: tuple[int, ...] = (70, 30)
    model: dict = field(default_factory=dict)  # MLP(...) options other than layers
    optimizer: str = "rmsprop"
    optimizer_options: dict = field(default_factory=dict)  # learning_rate, momentum, decay
    l2_hidden: float = 0.0  # on each hidden layer's kernel
    l2_output: float = 0.0  # on the output layer's kernel
    reduction: str = "mean"
    epochs: int = 35
    batch_size: int = 500
    scaler: str = "divide255"
    eval_train: bool = False  # a full pass over the training set every epoch

    def l2(self, n_hidden: int | None = None) -> list[float]:
        """Per weight layer: the hidden layers' value on each hidden kernel, then the output's."""
        n = len(self.hidden) if n_hidden is None else n_hidden
        return [self.l2_hidden] * n + [self.l2_output]

    def settings(self) -> dict[str, Any]:
        """Every default the preset sets, by option name (for help texts and the README)."""
        return {"layers": list(self.hidden), **self.model, "optimizer": self.optimizer,
                **self.optimizer_options, "l2": self.l2(), "reduction": self.reduction,
                "epochs": self.epochs, "batch_size": self.batch_size, "scaler": self.scaler,
                "eval_train": self.eval_train}

    def build(self, n_inputs: int = 784, n_classes: int = 10, **overrides: Any):
        """An ``MLP`` with the preset's architecture and model options (overrides win)."""
        from .model import MLP

        options = {**self.model, **overrides}
        layers = options.pop("layers", [n_inputs, *self.hidden, n_classes])
        return MLP(layers, **options)

    def fit(self, model, x, y, **overrides: Any):
        """``model.fit`` with the preset's optimizer, penalties and schedule (overrides win)."""
        from .optimizers import get_optimizer

        options = {"epochs": self.epochs, "batch_size": self.batch_size,
                   "l2": self.l2(len(model.layers) - 2), "reduction": self.reduction,
                   "eval_train": self.eval_train, **overrides}
        if "optimizer" not in options:
            options["optimizer"] = get_optimizer(self.optimizer, **self.optimizer_options)
        return model.fit(x, y, **options)


PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset("seed-keras", "the article's Keras model: cce, RMSprop, L2 0.01 on the hidden kernels",
           model={"activation": "sigmoid", "output": "sigmoid", "loss": "cce", "init": "glorot",
                  "init_scale": 1.0},
           optimizer="rmsprop", l2_hidden=0.01, l2_output=0.0),
    Preset("seed-myann", "the article's own NumPy MLP: logloss, SGD, summed gradients",
           model={"activation": "sigmoid", "output": "sigmoid", "loss": "logloss",
                  "init": "sqrt_nodes", "init_scale": 2.0},
           optimizer="sgd", optimizer_options={"learning_rate": 0.001, "momentum": 5e-5,
                                               "decay": 1e-6},
           l2_hidden=0.005, l2_output=0.005, reduction="sum", scaler="standard", eval_train=True),
)}
DEFAULT_PRESET = "seed-keras"


def get_preset(name: str) -> Preset:
    """The preset called ``name``; an unknown name is an error listing the valid ones."""
    if name not in PRESETS:
        raise choice_error("preset", name, PRESETS)
    return PRESETS[name]


__all__ = ["Preset", "PRESETS", "DEFAULT_PRESET", "get_preset"]
