"""Images kept as their raw uint8 pixels, scaled batch by batch as they are gathered.

The divide-by-255 scaler turns each pixel ``v`` into ``float32(v) / float32(255)``. Done once on
load, the training set is held as float32: 4 bytes a pixel, and every shuffled batch gathers 4
bytes a pixel. :class:`Pixels` keeps the uint8 values instead (4x less memory, 4x fewer bytes
gathered); ``fit``, ``evaluate`` and ``predict`` scale each batch (or chunk) with the same
float32 division, so the network sees bit for bit the values the scaled float32 array holds
(``tests/test_pixels.py`` proves it on every backend).

On a device the pixels travel as :class:`DevicePixels`: the uint8 array, the divisor as a 0-d
float32 array, and the 256 scaled values as a table made on the host. Each backend's
``scale_pixels`` kernel takes the exact way that is faster for it: a division (NumPy, PyTorch,
TensorFlow), or a look-up in the table (the generic kernel; JAX, whose CPU division differs from
IEEE division in the last bit). The divisor is data, not a constant, because graph compilers may
rewrite a division by a constant into a multiplication by its reciprocal (TensorFlow's does),
which rounds differently for half of the 256 values.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .errors import MLPError
from .scalers import Divide255

DIVISOR = Divide255.divisor
TABLE = Divide255().transform(np.arange(256, dtype=np.uint8))  # what each value stands for


class Pixels:
    """uint8 image rows standing for ``float32(v) / 255``: what ``load_dataset(...,
    as_pixels=True)`` returns for the ``divide255`` scaler, and what ``MLP.fit``, ``evaluate``,
    ``predict`` and ``score`` accept wherever they take ``x``.

    ``np.asarray(pixels)`` gives the scaled float32 array (made on request); ``pixels[rows]``
    selects rows and stays :class:`Pixels`; ``.values`` is the uint8 array itself.
    """

    def __init__(self, values: Any) -> None:
        values = np.asarray(values)
        if values.dtype != np.uint8:
            raise MLPError(f"Pixels holds uint8 values (0-255), got dtype {values.dtype}")
        if values.ndim != 2:
            raise MLPError(f"Pixels holds rows of pixels (a 2-D array), got shape {values.shape}")
        self.values = values

    @property
    def shape(self) -> tuple[int, ...]:
        return self.values.shape

    @property
    def ndim(self) -> int:
        return 2

    @property
    def dtype(self) -> np.dtype:
        """The dtype of what the pixels stand for."""
        return np.dtype(np.float32)

    @property
    def nbytes(self) -> int:
        return self.values.nbytes

    def __len__(self) -> int:
        return self.values.shape[0]

    def __getitem__(self, rows: Any) -> Pixels:
        picked = self.values[rows]
        if picked.ndim != 2:
            raise MLPError("index Pixels by rows only (a slice, or an array of row numbers)")
        return Pixels(picked)

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        if copy is False:
            raise ValueError("Pixels make their float32 array on request: it cannot be a view")
        scaled = Divide255().transform(self.values)  # the scaler's own arithmetic
        return scaled if dtype is None else scaled.astype(dtype, copy=False)

    def __repr__(self) -> str:
        return f"Pixels({self.shape[0]} rows x {self.shape[1]} uint8 values, scaled by 1/255)"


class DevicePixels(NamedTuple):
    """Pixels on a backend's device: the uint8 array, the divisor (a 0-d float32 array) and the
    table of the 256 scaled values. A named tuple, so that JAX, TensorFlow and torch.compile
    pass it through as arrays."""

    values: Any
    divisor: Any
    table: Any


def to_device(be: Any, x: Any, dtype: str) -> Any:
    """``x`` on the backend's device: host arrays in ``dtype``, pixels as :class:`DevicePixels`."""
    if isinstance(x, Pixels):
        return DevicePixels(be.asarray(x.values, "uint8"), be.asarray(DIVISOR, "float32"),
                            be.asarray(TABLE, "float32"))
    return be.asarray(x, dtype)


def take_rows(be: Any, x: Any, idx: Any, net: Any, weights: Any) -> Any:
    """Rows ``idx`` of the device inputs ``x``, as the network's input: pixels are gathered as
    uint8 and scaled after the gather, to ``weights``' dtype, or straight to the dtype of the
    products' operands under a mixed-precision policy (``net.compute``; one pass over the batch
    instead of two, the same values as rounding the float32 batch)."""
    if isinstance(x, DevicePixels):
        return scaled(be, be.gather_rows(x.values, idx), x, net, weights)
    return be.gather_rows(x, idx)


def slice_rows(be: Any, x: Any, rows: slice, net: Any, weights: Any) -> Any:
    """Rows ``rows`` (a slice) of the device inputs ``x``, as :func:`take_rows` gives them."""
    if isinstance(x, DevicePixels):
        return scaled(be, x.values[rows, :], x, net, weights)
    return x[rows, :]


def scaled(be: Any, values: Any, pixels: DevicePixels, net: Any, weights: Any) -> Any:
    """float32(values) / 255: rounded to ``net.compute`` if the policy has one, else in
    ``weights``' dtype (a float64 model widens the float32 values, as it widens a float32 array
    it is given)."""
    if net.compute:
        return be.scale_pixels(values, pixels.divisor, pixels.table, net.compute)
    out = be.scale_pixels(values, pixels.divisor, pixels.table)
    return out if out.dtype == weights.dtype else be.xp.astype(out, weights.dtype)


def rows_of(x: Any) -> int:
    return x.values.shape[0] if isinstance(x, DevicePixels) else x.shape[0]
