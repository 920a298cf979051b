"""Checks at the boundary: a model's options, its inputs, penalties, and memory.

Each check raises one :class:`~mlp_core.errors.MLPError` whose message says what is wrong and what
is valid. ``MLP`` runs them; the bench and the CLI run the same ones before any long work starts,
without building a model.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from .activations import Activation, get_activation
from .errors import MLPError
from .initializers import INITIALIZERS
from .losses import Loss, get_loss
from .pixels import Pixels

DTYPES = ("float32", "float64", "mixed_bfloat16")
#: a mixed-precision policy: (the dtype of weights, optimizer state and everything else; the dtype
#: the matrix products' operands are rounded to). Keras's name; ``docs/precision.md`` says more.
POLICIES = {"mixed_bfloat16": ("float32", "bfloat16")}


def variable_dtype(dtype: str) -> str:
    """The dtype weights, optimizer state, losses and metrics are kept in under ``dtype``."""
    return POLICIES[dtype][0] if dtype in POLICIES else dtype


def compute_dtype(dtype: str) -> str | None:
    """The dtype the matrix products' operands are rounded to under ``dtype`` (None: its own)."""
    return POLICIES[dtype][1] if dtype in POLICIES else None


def check_model_options(layers: Sequence[int], activation: str, output: str, loss: str,
                        init: str, init_scale: float, seed: int | None,
                        dtype: str) -> tuple[list[int], Activation, Activation, Loss]:
    """Every option of ``MLP(...)`` and the memory of its weights; returns the layer sizes, the
    hidden and output activations and the loss they name."""
    sizes = check_layers(layers)
    if str(dtype) not in DTYPES:
        raise MLPError(f"unknown dtype {dtype!r}; valid: {', '.join(DTYPES)}")
    if not isinstance(init, str) or init not in INITIALIZERS:
        raise MLPError(f"unknown init {init!r}; valid: {', '.join(INITIALIZERS)}")
    if isinstance(init_scale, bool) or not isinstance(init_scale, (int, float, np.number)) \
            or not (math.isfinite(init_scale) and init_scale > 0):
        raise MLPError(f"init_scale must be a finite number > 0, got {init_scale!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
                             or seed < 0):
        raise MLPError(f"seed must be an integer >= 0 or None, got {seed!r}")
    hidden, out = get_activation(activation), get_activation(output, output=True)
    loss_fn = get_loss(loss, out)
    check_memory(param_count(sizes) * 4 * np.dtype(variable_dtype(str(dtype))).itemsize,
                 f"a {'-'.join(map(str, sizes))} network (weights and optimizer state)")
    return sizes, hidden, out, loss_fn


def check_inputs(x: Any, what: str, n_features: int, dtype: str) -> np.ndarray:
    """``x`` as a finite numeric 2-D array of ``n_features`` columns within ``dtype``'s range,
    or as :class:`~mlp_core.pixels.Pixels` of that shape (uint8: finite and in range)."""
    if isinstance(x, Pixels):
        if x.shape[1] != n_features or x.shape[0] == 0:
            raise MLPError(f"{what} x must have shape (n_samples, {n_features}), got {x.shape}")
        return x
    x = as_array(x, f"{what} x")
    if x.dtype.kind not in "biuf":
        raise MLPError(f"{what} x must be numeric, got dtype {x.dtype}")
    if x.ndim != 2 or x.shape[1] != n_features:
        raise MLPError(f"{what} x must have shape (n_samples, {n_features}), got {x.shape}")
    if x.shape[0] == 0:
        raise MLPError(f"{what} x is empty")
    # NaN and inf propagate through min/max: two reductions, no temporary the size of x
    if x.dtype.kind == "f" and not (np.isfinite(x.min()) and np.isfinite(x.max())):
        raise MLPError(f"{what} x contains NaN or infinite values")
    limit = float(np.finfo(variable_dtype(dtype)).max)
    if x.dtype.kind in "iuf" and max(abs(float(x.min())), abs(float(x.max()))) > limit:
        raise MLPError(f"{what} x holds values beyond the range of {dtype} (+-{limit:.3g})")
    return x


def check_labels(y: Any, what: str, x: np.ndarray, n_classes: int) -> np.ndarray:
    """``y`` as one integer class label in ``[0, n_classes)`` per row of ``x``."""
    y = as_array(y, f"{what} y")
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise MLPError(f"{what} y must be a 1-D array of integer class labels, "
                       f"got dtype {y.dtype} and shape {y.shape}")
    if y.shape[0] != np.shape(x)[0]:
        raise MLPError(f"{what} x has {np.shape(x)[0]} rows but y has {y.shape[0]} labels")
    if y.min() < 0 or y.max() >= n_classes:
        raise MLPError(f"{what} labels must lie in [0, {n_classes}), found {y.min()}..{y.max()}")
    return y


def per_layer(value: Any, name: str, n_layers: int) -> tuple[float, ...]:
    """A penalty as one float per weight layer: a number applies to every layer."""
    values = [value] * n_layers if is_number(value) else as_list(value)
    if values is None or len(values) != n_layers or not all(
            is_number(v) and math.isfinite(v) and v >= 0 for v in values):
        raise MLPError(f"{name} must be a number >= 0 or {n_layers} such numbers (one per weight "
                       f"layer), got {value!r}")
    return tuple(float(v) for v in values)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def param_count(layers: list[int]) -> int:
    return sum(a * b + b for a, b in zip(layers[:-1], layers[1:]))


def check_memory(n_bytes: int, what: str) -> None:
    """One clear error when ``n_bytes`` exceed this machine's physical memory."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return
    if n_bytes > total:
        raise MLPError(f"{what} needs about {n_bytes / 2**30:.1f} GiB of memory; this machine "
                       f"has {total / 2**30:.1f} GiB")


def check_layers(layers: Sequence[int]) -> list[int]:
    sizes = None if isinstance(layers, (str, bytes)) else as_list(layers)
    if sizes is None or len(sizes) < 2 or not all(
            isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s >= 1 for s in sizes):
        raise MLPError("layers must be at least two positive integers (input to output), "
                       f"got {layers!r}")
    return [int(s) for s in sizes]


def as_array(value: Any, what: str) -> np.ndarray:
    try:
        return np.asarray(value)
    except (ValueError, TypeError) as exc:  # ragged nested lists, odd objects
        raise MLPError(f"{what} is not an array: {exc}") from None


def as_list(value: Any) -> list | None:
    try:
        return list(value)
    except TypeError:
        return None


def positive_int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise MLPError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)
