"""Forward and backward propagation and the penalty, written only against a backend.

Parameters are a flat list ``[W1, b1, W2, b2, ...]`` with ``W`` of shape (n_in, n_out) and separate
bias vectors. No delta is propagated into the input layer.

Under a mixed-precision policy (``Network.compute``, e.g. ``"bfloat16"``) every matrix product's
operands are rounded to that dtype, here and nowhere else: the input batch once, each weight matrix
and each delta where a product takes it. The backend multiplies them with float32 accumulation and
returns float32 (PyTorch and TensorFlow round the product to bfloat16 on the way:
``docs/precision.md``), so biases, activations, the loss, the gradients and the updates stay
float32.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .activations import Activation
from .backends.base import Backend
from .losses import Loss

REDUCTIONS = ("mean", "sum")


@dataclass(frozen=True)
class Network:
    """What the step needs to know about the model: activations, loss, penalties, reduction.

    ``l1`` and ``l2`` hold one value per weight layer (Keras's per-layer ``kernel_regularizer``).
    ``reduction`` is how the batch's per-sample losses combine into the objective: ``"mean"``
    (Keras) or ``"sum"`` (the seed article's own MLP, which sums gradients over the batch); the
    penalty is added once per batch either way.
    """

    activations: tuple[Activation, ...]  # one per layer, the output activation last
    loss: Loss
    l1: tuple[float, ...] = ()
    l2: tuple[float, ...] = ()
    reduction: str = "mean"
    #: the dtype of the matrix products' operands under a mixed-precision policy (None: the
    #: parameters' own)
    compute: str | None = None

    def __post_init__(self) -> None:
        n = len(self.activations)
        # an empty tuple means no penalty: the zeros are filled in here, once
        object.__setattr__(self, "l1", tuple(self.l1) or (0.0,) * n)
        object.__setattr__(self, "l2", tuple(self.l2) or (0.0,) * n)
        if len(self.l1) != n or len(self.l2) != n:
            raise ValueError(f"l1 and l2 need one value per weight layer ({n})")
        if self.reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {REDUCTIONS}, got {self.reduction!r}")


    def operand(self, be: Backend, a: Any) -> Any:
        """``a`` as a matrix product's operand: rounded to ``compute``, if the policy has one."""
        return be.cast(a, self.compute) if self.compute else a


def forward(be: Backend, net: Network, params: list, x: Any) -> tuple[list, Any]:
    """Activations of every layer (the input first, the output last) and the output's logits.
    The input is kept as the products take it (rounded once, under a mixed policy)."""
    outs = [net.operand(be, x)]
    for i, act in enumerate(net.activations):
        z = be.dense(net.operand(be, outs[-1]), net.operand(be, params[2 * i]), params[2 * i + 1])
        outs.append(act.forward(be, z))
    return outs, z


def penalty(be: Backend, net: Network, params: list) -> Any:
    """L1 and L2 on the weights (never the biases): only the terms that are non-zero."""
    xp, total = be.xp, 0.0
    for w, l1, l2 in zip(params[0::2], net.l1, net.l2):
        if l2:
            total = total + l2 * be.sum_squares(w)
        if l1:
            total = total + l1 * xp.sum(xp.abs(w))
    return total


def backward(be: Backend, net: Network, params: list, outs: list, z_out: Any, y: Any,
             delta: Any = None) -> list:
    """Gradients of (the batch's reduced loss + penalty), in the order of ``params``.

    ``delta``: the loss's output delta, where the caller computed it already (with the value)."""
    xp = be.xp
    n_layers = len(net.activations)
    if delta is None:
        delta = net.loss.output_delta(be, outs[-1], z_out, y, net.activations[-1])
    if net.reduction == "mean":
        delta = delta * (1.0 / be.row_count(y))
    grads: list = [None] * (2 * n_layers)
    for i in reversed(range(n_layers)):
        w, d = params[2 * i], net.operand(be, delta)
        gw = be.matmul(net.operand(be, outs[i]), d, transpose_a=True)
        if net.l2[i]:
            gw = be.add_scaled(gw, w, 2.0 * net.l2[i])
        if net.l1[i]:
            gw = be.add_scaled(gw, xp.sign(w), net.l1[i])
        grads[2 * i], grads[2 * i + 1] = gw, xp.sum(delta, axis=0)
        if i > 0:  # stop before the input layer
            delta = net.activations[i - 1].backward(
                be, outs[i], be.matmul(d, net.operand(be, w), transpose_b=True))
    return grads


def count_correct(be: Backend, a: Any, y: Any) -> Any:
    """How many rows of ``a`` have their largest output at the one-hot label's position."""
    xp = be.xp
    return xp.sum(xp.astype(xp.equal(xp.argmax(a, axis=1), xp.argmax(y, axis=1)), a.dtype))
