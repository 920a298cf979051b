"""Losses: the per-sample value (summed over the batch) and the delta at the output layer.

Each loss sees the output layer's activations ``a`` and its pre-activations (logits) ``z``.
Definitions, per sample, with ``clip(p) = min(max(p, 1e-7), 1 - 1e-7)`` (Keras's epsilon):

- ``cce``: categorical cross-entropy as Keras 3 computes it. Keras's ``sigmoid`` and ``softmax``
  activations cache their input as logits, and its cross-entropy then uses those logits, so for a
  sigmoid *or* softmax output it is ``-sum_k y_k log softmax(z)_k`` (no clipping). A sigmoid
  output is therefore trained as a softmax over the output logits; the sigmoid only shapes what
  ``predict`` returns.
- ``cce-normalized``: Keras 2's reading: ``-sum_k y_k log clip(a_k / sum_j a_j)``.
- ``logloss``: binary cross-entropy summed over the outputs. For a sigmoid output it is computed
  from the logits, ``sum_k max(z_k, 0) - z_k y_k + log(1 + exp(-|z_k|))`` (no clipping, as Keras).
  For a softmax output it is ``-sum_k y_k log clip(a_k) + (1 - y_k) log(1 - clip(a_k))``; Keras 3
  differs here: its ``binary_crossentropy`` after a softmax applies the cached logits as *sigmoid*
  logits and ignores the softmax.
- ``binary_crossentropy``: Keras's name: ``logloss`` divided by the number of outputs (the mean
  over outputs, as Keras takes it).
- ``mse``: ``sum_k (a_k - y_k)^2 / n_outputs``.

Where a value clips a probability, its gradient is the clip's: zero for the probabilities outside
[1e-7, 1 - 1e-7], as Keras/TensorFlow and autograd differentiate it. So the gradient is the exact
derivative of the value computed, and an output that rounds to exactly 0 or 1 gives no NaN.
The batch's value is the sum over samples; ``Network.reduction`` decides mean or sum.
"""

from __future__ import annotations

from typing import Any

from .activations import Activation
from .backends.base import Backend
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

    def value_and_delta(self, be: Backend, a: Any, z: Any, y: Any, act: Activation) -> tuple:
        """Both at once, for the train step; a loss overrides it where they share work."""
        return self.value_sum(be, a, z, y, act), self.output_delta(be, a, z, y, act)

    def probabilities(self, be: Backend, a: Any, z: Any, act: Activation) -> Any:
        """What this loss treats as the class probabilities of the outputs ``a`` (logits
        ``z``): the outputs themselves here (per-output probabilities for the log losses)."""
        return a


def _log_softmax(xp, z):
    s = z - xp.max(z, axis=1, keepdims=True)
    return s - xp.log(xp.sum(xp.exp(s), axis=1, keepdims=True))


class CategoricalCrossEntropy(Loss):
    name, needs_unit_interval = "cce", True

    def value_sum(self, be, a, z, y, act):
        xp = be.xp
        return -xp.sum(y * _log_softmax(xp, z))

    def output_delta(self, be, a, z, y, act):
        return self.value_and_delta(be, a, z, y, act)[1]

    def probabilities(self, be, a, z, act):
        return a if act.is_row_softmax else be.xp.exp(_log_softmax(be.xp, z))

    def value_and_delta(self, be, a, z, y, act):
        xp = be.xp
        log_p = _log_softmax(xp, z)  # once, for the value and the delta
        p = a if act.is_row_softmax else xp.exp(log_p)
        return -xp.sum(y * log_p), p * xp.sum(y, axis=1, keepdims=True) - y


def _clip_mask(xp, p):
    """clip(p) and where its derivative is 1 (inside the interval, bounds included, as TF)."""
    return xp.clip(p, min=EPS, max=1.0 - EPS), (p >= EPS) & (p <= 1.0 - EPS)


class NormalizedCrossEntropy(Loss):
    name, needs_unit_interval = "cce-normalized", True

    def probabilities(self, be, a, z, act):
        return a / be.xp.sum(a, axis=1, keepdims=True)

    def value_sum(self, be, a, z, y, act):
        xp = be.xp
        p, _ = _clip_mask(xp, a / xp.sum(a, axis=1, keepdims=True))
        return -xp.sum(y * xp.log(p))

    def output_grad(self, be, a, y):
        # loss = -sum_k y_k log clip(q_k), q = a / S, S = sum_j a_j
        # dL/dq_k = -y_k / q_k inside the clip interval, 0 outside;
        # dL/da_j = (dL/dq_j - sum_k dL/dq_k q_k) / S
        xp = be.xp
        s = xp.sum(a, axis=1, keepdims=True)
        q = a / s
        p, inside = _clip_mask(xp, q)
        g = xp.where(inside, -y / p, xp.zeros_like(p))
        return (g - xp.sum(g * q, axis=1, keepdims=True)) / s


class LogLoss(Loss):
    name, needs_unit_interval = "logloss", True
    #: divide by the number of outputs (Keras's binary_crossentropy takes the mean over them)
    mean_over_outputs = False

    def _scale(self, a):
        return 1.0 / a.shape[1] if self.mean_over_outputs else 1.0

    def value_sum(self, be, a, z, y, act):
        xp = be.xp
        if act.is_elementwise_sigmoid:  # stable, from the logits: max(z,0) - z*y + log(1+e^-|z|)
            total = xp.sum(xp.where(z > 0, z, xp.zeros_like(z)) - z * y
                           + xp.log1p(xp.exp(-xp.abs(z))))
        else:
            p, _ = _clip_mask(xp, a)
            total = -xp.sum(y * xp.log(p) + (1.0 - y) * xp.log(1.0 - p))
        return total * self._scale(a)

    def output_grad(self, be, a, y):
        # d/dp of -(y log p + (1-y) log(1-p)) at the clipped p, zero outside the clip interval
        xp = be.xp
        p, inside = _clip_mask(xp, a)
        g = xp.where(inside, (p - y) / (p * (1.0 - p)), xp.zeros_like(p))
        return g * self._scale(a)

    def output_delta(self, be, a, z, y, act):
        if act.is_elementwise_sigmoid:  # the canonical pair: the derivative cancels
            return (a - y) * self._scale(a)
        return super().output_delta(be, a, z, y, act)


class BinaryCrossEntropy(LogLoss):
    name = "binary_crossentropy"
    mean_over_outputs = True


class MeanSquaredError(Loss):
    name = "mse"

    def value_sum(self, be, a, z, y, act):
        d = a - y
        return be.xp.sum(d * d) / a.shape[1]

    def output_grad(self, be, a, y):
        return (a - y) * (2.0 / a.shape[1])


LOSSES: dict[str, type[Loss]] = {
    c.name: c for c in (CategoricalCrossEntropy, NormalizedCrossEntropy, LogLoss,
                        BinaryCrossEntropy, MeanSquaredError)}
ALIASES = {"categorical_crossentropy": "cce", "log_loss": "logloss",
           "cce_normalized": "cce-normalized", "bce": "binary_crossentropy",
           "mean_squared_error": "mse"}


def get_loss(name: str, output: Activation) -> Loss:
    key = ALIASES.get(str(name).lower(), str(name).lower())
    if key not in LOSSES:
        raise choice_error("loss", name, LOSSES)
    loss = LOSSES[key]()
    if loss.needs_unit_interval and not output.in_unit_interval:
        raise MLPError(f"loss {key!r} needs outputs in (0, 1): use output 'sigmoid' or 'softmax', "
                       f"not {output.name!r}")
    return loss
