"""Activation functions, each with its derivative written through its own output.

``backward(be, a, delta)`` returns ``delta * f'(z)`` given ``a = f(z)``: no pre-activation is kept.
"""

from __future__ import annotations

from typing import Any

from .backends.base import Backend
from .errors import choice_error


class Activation:
    name: str
    #: outputs lie strictly in (0, 1), as log loss and cross-entropy need
    in_unit_interval = False
    #: the output is sigmoid(z) element-wise: a loss may work from the logits z instead
    is_elementwise_sigmoid = False
    #: the output is softmax(z) over each row: a loss may reuse it as the probabilities
    is_row_softmax = False

    def forward(self, be: Backend, z: Any) -> Any:
        raise NotImplementedError

    def backward(self, be: Backend, a: Any, delta: Any) -> Any:
        raise NotImplementedError


class Sigmoid(Activation):
    name, in_unit_interval, is_elementwise_sigmoid = "sigmoid", True, True

    def forward(self, be, z):
        return be.sigmoid(z)

    def backward(self, be, a, delta):
        return be.sigmoid_backward(a, delta)


class Tanh(Activation):
    name = "tanh"

    def forward(self, be, z):
        return be.xp.tanh(z)

    def backward(self, be, a, delta):
        return delta * (1.0 - a * a)


class ReLU(Activation):
    name = "relu"

    def forward(self, be, z):
        xp = be.xp
        return xp.where(z > 0, z, xp.zeros_like(z))

    def backward(self, be, a, delta):
        xp = be.xp
        return xp.where(a > 0, delta, xp.zeros_like(delta))


class Identity(Activation):
    name = "identity"

    def forward(self, be, z):
        return z

    def backward(self, be, a, delta):
        return delta


class Softmax(Activation):
    """Row-wise softmax; meant for the output layer."""

    name, in_unit_interval, is_row_softmax = "softmax", True, True

    def forward(self, be, z):
        xp = be.xp
        e = xp.exp(z - xp.max(z, axis=1, keepdims=True))
        return e / xp.sum(e, axis=1, keepdims=True)

    def backward(self, be, a, delta):
        # vector-Jacobian product of softmax: a * (delta - <delta, a>) per row
        return a * (delta - be.xp.sum(delta * a, axis=1, keepdims=True))


ACTIVATIONS: dict[str, type[Activation]] = {
    c.name: c for c in (Sigmoid, Tanh, ReLU, Identity, Softmax)
}
HIDDEN_ACTIVATIONS = ("sigmoid", "tanh", "relu", "identity")


def get_activation(name: str, *, output: bool = False) -> Activation:
    valid = ACTIVATIONS if output else HIDDEN_ACTIVATIONS
    key = str(name).lower()
    if key not in valid:
        raise choice_error("output activation" if output else "activation", name, valid)
    return ACTIVATIONS[key]()
