"""The ``+input-delta`` variant: the step as the seed article's first version ran it, also
computing the input layer's delta (``delta @ W1.T``, of the batch's size times the input width)
and dropping it. The core never computes it; this backend wrapper adds the product, so that the
bench can measure what skipping it saves.

The wrapper recognises the input layer's weight gradient, ``x.T @ delta``: the one product whose
transposed left operand is as wide as the input. Models with a hidden layer as wide as the input
are refused, since their gradients look the same. (Under a compiled backend the dropped product
may be removed by the compiler, as it was from the article's compiled code.)
"""

from __future__ import annotations

from typing import Any

from ..backends.base import Backend
from ..errors import MLPError


class _InputDelta:
    """Mixed in before the backend's own class: its ``matmul`` adds the input layer's delta."""

    n_inputs: int

    def matmul(self, a, b, transpose_a=False, transpose_b=False, out=None):
        product = super().matmul(a, b, transpose_a, transpose_b, out)
        if transpose_a and not transpose_b and a.shape[-1] == self.n_inputs:
            super().matmul(b, product, transpose_b=True)  # delta @ (a W1-shaped array).T
        return product


def with_input_delta(be: Backend, sizes: list[int]) -> Backend:
    """``be``, computing the input layer's delta too, for a model of these layer sizes."""
    if sizes[0] in sizes[1:-1]:
        raise MLPError(f"+input-delta needs hidden layers narrower or wider than the input "
                       f"({sizes[0]}): the model {sizes} has one as wide")
    cls = type(f"{type(be).__name__}WithInputDelta", (_InputDelta, type(be)), {})
    wrapped: Any = object.__new__(cls)
    wrapped.__dict__.update(be.__dict__)  # the same library, device, options and scratch
    wrapped.n_inputs = sizes[0]
    return wrapped
