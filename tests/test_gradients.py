"""Analytic gradients against central differences, in float64, on every combination."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from mlp_core import selection
from mlp_core.activations import HIDDEN_ACTIVATIONS, get_activation
from mlp_core.initializers import init_params
from mlp_core.losses import LOSSES, get_loss
from mlp_core.network import Network, backward, forward, penalty

from .helpers import in_float64

OUTPUTS = {"cce": ["sigmoid", "softmax"], "cce-normalized": ["sigmoid", "softmax"],
           "logloss": ["sigmoid", "softmax"], "binary_crossentropy": ["sigmoid", "softmax"],
           "mse": ["sigmoid", "softmax", "tanh", "relu", "identity"]}
REGS = {"none": (0.0, 0.0), "l1": (0.03, 0.0), "l2": (0.0, 0.02), "l1+l2": (0.03, 0.02)}
assert set(OUTPUTS) == set(LOSSES)

COMBOS = [(h, o, loss, reg) for loss in OUTPUTS for o in OUTPUTS[loss]
          for h, reg in itertools.product(HIDDEN_ACTIVATIONS, REGS)]


@in_float64
def relative_errors(be, hidden, output, loss_name, l1, l2, seed=0, saturate=0):
    """Norm-wise relative error ||g - g_num|| / (||g|| + ||g_num||) for each parameter array.

    ``saturate`` rows of the batch are scaled up 50-fold, so that their outputs saturate and
    clipped losses clip their probabilities; the other rows keep the gradient well above the
    rounding noise of the finite differences."""
    rng = np.random.default_rng(seed)
    sizes = [5, 4, 3, 3]
    host = init_params(sizes, "glorot", 1.0, rng, "float64")
    host = [p + rng.normal(0, 0.1, p.shape) for p in host]  # non-zero biases too
    x = rng.normal(0, 1, (7, sizes[0]))
    if saturate:
        x[-saturate:] *= 50.0
    labels = rng.integers(0, sizes[-1], 7)
    y = np.eye(sizes[-1])[labels]
    acts = (get_activation(hidden),) * 2 + (get_activation(output, output=True),)
    net = Network(acts, get_loss(loss_name, acts[-1]), (l1,) * 3, (l2,) * 3)
    xd, yd = be.asarray(x, "float64"), be.asarray(y, "float64")

    def total_loss(params_host):
        params = [be.asarray(p, "float64") for p in params_host]
        outs, z = forward(be, net, params, xd)
        value = (net.loss.value_sum(be, outs[-1], z, yd, acts[-1]) / x.shape[0]
                 + penalty(be, net, params))
        return float(be.to_numpy(value))

    params = [be.asarray(p, "float64") for p in host]
    outs, z = forward(be, net, params, xd)
    grads = [be.to_numpy(g) for g in backward(be, net, params, outs, z, yd)]
    h = 1e-6
    errors = []
    for k, p in enumerate(host):
        num = np.zeros_like(p)
        for i in np.ndindex(p.shape):
            plus = [q.copy() for q in host]
            minus = [q.copy() for q in host]
            plus[k][i] += h
            minus[k][i] -= h
            num[i] = (total_loss(plus) - total_loss(minus)) / (2 * h)
        denom = np.linalg.norm(grads[k]) + np.linalg.norm(num)
        errors.append(np.linalg.norm(grads[k] - num) / denom if denom else 0.0)
    return errors


@pytest.mark.parametrize("hidden,output,loss,reg", COMBOS, ids=["-".join(c) for c in COMBOS])
def test_gradient_check_numpy(hidden, output, loss, reg):
    be = selection.get_backend("numpy")
    assert max(relative_errors(be, hidden, output, loss, *REGS[reg])) <= 1e-6


@pytest.mark.parametrize("loss", sorted(OUTPUTS))
def test_gradient_check_every_backend(backend, loss):
    """Every backend's gradients pass the same check (one combination per loss, both penalties)."""
    assert max(relative_errors(backend, "tanh", OUTPUTS[loss][0], loss, *REGS["l1+l2"])) <= 1e-6


CLIPPED = [("cce-normalized", "sigmoid"), ("cce-normalized", "softmax"), ("logloss", "softmax"),
           ("binary_crossentropy", "softmax")]


@pytest.mark.parametrize("loss,output", CLIPPED, ids=["-".join(c) for c in CLIPPED])
def test_gradient_check_saturated_outputs(backend, loss, output):
    """With outputs saturated far beyond the clip interval, the gradient is the clipped value's."""
    for seed in range(3):
        errors = relative_errors(backend, "identity", output, loss, 0.0, 0.0, seed=seed,
                                 saturate=3)
        assert max(errors) <= 1e-6, seed
