"""Weight initialisation on the host, from one NumPy Generator, so every backend starts equal."""

from __future__ import annotations

import numpy as np

from .errors import choice_error


def _sqrt_nodes(rng, n_in, n_out, scale):
    lim = scale / np.sqrt(n_in)
    return rng.uniform(-lim, lim, (n_in, n_out))


def _const(rng, n_in, n_out, scale):
    return rng.uniform(-scale, scale, (n_in, n_out))


def _glorot(rng, n_in, n_out, scale):
    lim = scale * np.sqrt(6.0 / (n_in + n_out))
    return rng.uniform(-lim, lim, (n_in, n_out))


def _he(rng, n_in, n_out, scale):
    lim = scale * np.sqrt(6.0 / n_in)
    return rng.uniform(-lim, lim, (n_in, n_out))


INITIALIZERS = {
    "sqrt_nodes": _sqrt_nodes,  # uniform within +-f/sqrt(n_in)
    "const": _const,  # uniform within +-f
    "glorot": _glorot,  # Keras's default for Dense: uniform within +-f*sqrt(6/(n_in+n_out))
    "he": _he,  # He uniform: +-f*sqrt(6/n_in)
}


def init_params(sizes: list[int], method: str, scale: float, rng: np.random.Generator,
                dtype: str) -> list[np.ndarray]:
    """Flat list [W1, b1, W2, b2, ...]: W of shape (n_in, n_out), zero biases."""
    if method not in INITIALIZERS:
        raise choice_error("init", method, INITIALIZERS)
    params = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        params.append(INITIALIZERS[method](rng, n_in, n_out, scale).astype(dtype))
        params.append(np.zeros(n_out, dtype=dtype))
    return params
