"""Forward and backward propagation and the pure train step, written only against a backend.

Parameters are a flat list ``[W1, b1, W2, b2, ...]`` with ``W`` of shape (n_in, n_out) and separate
bias vectors. No delta is propagated into the input layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from backends.base import Backend

from .activations import Activation
from .losses import Loss
from .optimizers import Optimizer


@dataclass(frozen=True)
class Network:
    """What the step needs to know about the model: its activations, loss and penalties."""

    activations: tuple[Activation, ...]  # one per layer, the output activation last
    loss: Loss
    l1: float = 0.0
    l2: float = 0.0
    #: also compute the (unused) delta of the input layer, as the seed experiment's original code
    #: did; only for measuring what skipping it saves
    input_delta: bool = False


def forward(be: Backend, net: Network, params: list, x: Any) -> tuple[list, Any]:
    """Activations of every layer (the input first, the output last) and the output's logits."""
    outs = [x]
    for i, act in enumerate(net.activations):
        z = be.dense(outs[-1], params[2 * i], params[2 * i + 1])
        outs.append(act.forward(be, z))
    return outs, z


def penalty(be: Backend, net: Network, params: list) -> Any:
    """L1 and L2 on the weights (never the biases), only the terms that are non-zero."""
    xp, total = be.xp, 0.0
    for w in params[0::2]:
        if net.l2:
            total = total + net.l2 * be.sum_squares(w)
        if net.l1:
            total = total + net.l1 * xp.sum(xp.abs(w))
    return total


def backward(be: Backend, net: Network, params: list, outs: list, z_out: Any, y: Any) -> list:
    """Gradients of (mean loss over the batch + penalty), in the order of ``params``."""
    xp = be.xp
    n_layers = len(net.activations)
    delta = net.loss.output_delta(be, outs[-1], z_out, y, net.activations[-1]) * (1.0 / be.row_count(y))
    grads: list = [None] * (2 * n_layers)
    for i in reversed(range(n_layers)):
        w = params[2 * i]
        gw = be.matmul(outs[i], delta, transpose_a=True)
        if net.l2:
            gw = be.add_scaled(gw, w, 2.0 * net.l2)
        if net.l1:
            gw = be.add_scaled(gw, xp.sign(w), net.l1)
        grads[2 * i], grads[2 * i + 1] = gw, xp.sum(delta, axis=0)
        if i > 0:  # stop before the input layer
            delta = net.activations[i - 1].backward(
                be, outs[i], be.matmul(delta, w, transpose_b=True))
        elif net.input_delta:
            grads.append(be.matmul(delta, w, transpose_b=True))  # computed, then dropped
    del grads[2 * n_layers:]
    return grads


def count_correct(be: Backend, a: Any, y: Any) -> Any:
    xp = be.xp
    return xp.sum(xp.astype(xp.equal(xp.argmax(a, axis=1), xp.argmax(y, axis=1)), a.dtype))


def make_train_step(be: Backend, net: Network, opt: Optimizer) -> Callable:
    """``step(params, opt_state, x, y) -> (params, opt_state, metrics)``, a pure function.

    ``metrics`` holds three 0-d arrays: the batch's summed data loss, its penalty times the batch
    size (so sums over batches give Keras's size-weighted mean), and its count of correct outputs.
    """

    def step(params, opt_state, x, y):
        outs, z_out = forward(be, net, params, x)
        a = outs[-1]
        metrics = (net.loss.value_sum(be, a, z_out, y, net.activations[-1]),
                   penalty(be, net, params) * be.row_count(y),
                   count_correct(be, a, y))
        grads = backward(be, net, params, outs, z_out, y)
        params, opt_state = opt.apply(be, params, grads, opt_state)
        return params, opt_state, metrics

    return step


def make_train_epoch(be: Backend, step: Callable, batch_size: int) -> Callable:
    """One epoch: every batch of ``perm`` in order, the last one smaller if need be.

    ``train_epoch(params, opt_state, totals, x_all, y_all, perm) -> (params, opt_state, totals)``
    is pure too, so a backend may compile the whole loop (TensorFlow turns it into one graph
    loop, so no Python runs between batches); on NumPy it is a plain Python loop.
    """
    train_batch = make_train_batch(be, step)

    def train_epoch(params, opt_state, totals, x_all, y_all, perm):
        n = perm.shape[0]
        for start in be.batch_starts(n, batch_size):
            params, opt_state, totals = train_batch(params, opt_state, totals, x_all, y_all, perm,
                                                    start, be.minimum(start + batch_size, n))
        return params, opt_state, totals

    return train_epoch


def make_train_batch(be: Backend, step: Callable) -> Callable:
    """One batch of an epoch: gather rows ``perm[start:stop]``, step, add up the metrics.

    Pure, like the step, and the unit a backend compiles. The slice happens inside, with the
    bounds as arguments, so the last, smaller batch needs no separate trace.
    """

    def train_batch(params, opt_state, totals, x_all, y_all, perm, start, stop):
        idx = perm[start:stop]
        params, opt_state, metrics = step(params, opt_state, be.gather_rows(x_all, idx),
                                          be.gather_rows(y_all, idx))
        return params, opt_state, tuple(t + m for t, m in zip(totals, metrics))

    return train_batch
