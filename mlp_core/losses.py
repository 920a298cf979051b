"""Losses: the per-sample value (summed over the batch) and the delta at the output layer.

Each loss sees the output layer's activations ``a`` and its pre-activations ``z`` and follows what
Keras 3 (TensorFlow backend) computes, so that the Keras reference model is reproduced:

- ``cce``: categorical cross-entropy. Keras's ``sigmoid`` and ``softmax`` activations cache their
  input as logits, and Keras's cross-entropy then works on those logits: for a sigmoid *or* softmax
  output it is softmax cross-entropy of ``z``. (A sigmoid output is therefore trained as a softmax
  over the output logits; the sigmoid only shapes what ``predict`` returns.)
- ``cce-normalized``: the other reading, Keras 2's: sigmoid outputs divided by their sum per sample,
  clipped to [eps, 1 - eps], then cross-entropy.
- ``logloss``: the sum over outputs of binary cross-entropy, averaged over samples (from the
  logits for a sigmoid output, as Keras does; clipped probabilities otherwise).
- ``mse``: squared error averaged over outputs, then over samples.
"""

from __future__ import annotations

from typing import Any

from .backends.base import Backend

from .activations import Activation
from .errors import MLPError, choice_error

EPS = 1e-7  # Keras's epsilon for clipping probabilities


class Loss:
    name: str
    needs_unit_interval = False

    def value_sum(self, be: Backend, a: Any, z: Any, y: Any, act: Activation) -> Any:
        """Sum over the batch of the per-sample loss (a 0-d array)."""
        raise NotImplementedError

    def output_grad(self, be: Backend, a: Any, y: Any) -> Any:
        """d(per-sample loss)/d(output), before the output activation's derivative."""
        raise NotImplementedError

    def output_delta(self, be: Backend, a: Any, z: Any, y: Any, act: Activation) -> Any:
        """d(per-sample loss)/d(pre-activation) of the output layer."""
        return act.backward(be, a, self.output_grad(be, a, y))


def _log_softmax(xp, z):
    s = z - xp.max(z, axis=1, keepdims=True)
    return s - xp.log(xp.sum(xp.exp(s), axis=1, keepdims=True))


class CategoricalCrossEntropy(Loss):
    name, needs_unit_interval = "cce", True

    def value_sum(self, be, a, z, y, act):
        xp = be.xp
        return -xp.sum(y * _log_softmax(xp, z))

    def output_delta(self, be, a, z, y, act):
        xp = be.xp
        p = a if act.name == "softmax" else xp.exp(_log_softmax(xp, z))
        return p * xp.sum(y, axis=1, keepdims=True) - y


class NormalizedCrossEntropy(Loss):
    name, needs_unit_interval = "cce-normalized", True

    def value_sum(self, be, a, z, y, act):
        xp = be.xp
        p = xp.clip(a / xp.sum(a, axis=1, keepdims=True), min=EPS, max=1.0 - EPS)
        return -xp.sum(y * xp.log(p))

    def output_grad(self, be, a, y):
        # loss = -sum_k y_k log(a_k / S), S = sum_k a_k
        xp = be.xp
        return xp.sum(y, axis=1, keepdims=True) / xp.sum(a, axis=1, keepdims=True) - y / a

    def output_delta(self, be, a, z, y, act):
        xp = be.xp
        if act.name == "softmax":  # outputs already sum to one: the Jacobian collapses
            return a * xp.sum(y, axis=1, keepdims=True) - y
        if act.name == "sigmoid":  # fused: (1 - a) * (a * sum(y) / S - y)
            scale = xp.sum(y, axis=1, keepdims=True) / xp.sum(a, axis=1, keepdims=True)
            return (1.0 - a) * (a * scale - y)
        return super().output_delta(be, a, z, y, act)


class LogLoss(Loss):
    name, needs_unit_interval = "logloss", True

    def value_sum(self, be, a, z, y, act):
        xp = be.xp
        if act.name == "sigmoid":  # stable form from the logits: max(z,0) - z*y + log(1+e^-|z|)
            return xp.sum(xp.where(z > 0, z, xp.zeros_like(z)) - z * y
                          + xp.log1p(xp.exp(-xp.abs(z))))
        p = xp.clip(a, min=EPS, max=1.0 - EPS)
        return -xp.sum(y * xp.log(p) + (1.0 - y) * xp.log(1.0 - p))

    def output_grad(self, be, a, y):
        return (a - y) / (a * (1.0 - a))

    def output_delta(self, be, a, z, y, act):
        if act.name == "sigmoid":  # the canonical pair: the derivative cancels
            return a - y
        return super().output_delta(be, a, z, y, act)


class MeanSquaredError(Loss):
    name = "mse"

    def value_sum(self, be, a, z, y, act):
        d = a - y
        return be.xp.sum(d * d) / a.shape[1]

    def output_grad(self, be, a, y):
        return (a - y) * (2.0 / a.shape[1])


LOSSES: dict[str, type[Loss]] = {
    c.name: c for c in (CategoricalCrossEntropy, NormalizedCrossEntropy, LogLoss, MeanSquaredError)}
ALIASES = {"categorical_crossentropy": "cce", "binary_crossentropy": "logloss", "log_loss": "logloss",
           "cce_normalized": "cce-normalized"}


def get_loss(name: str, output: Activation) -> Loss:
    key = ALIASES.get(str(name).lower(), str(name).lower())
    if key not in LOSSES:
        raise choice_error("loss", name, LOSSES)
    loss = LOSSES[key]()
    if loss.needs_unit_interval and not output.in_unit_interval:
        raise MLPError(f"loss {key!r} needs outputs in (0, 1): use output 'sigmoid' or 'softmax', "
                       f"not {output.name!r}")
    return loss
