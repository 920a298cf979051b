"""A generated dataset for sweeps: class clusters as 8-bit "pixels", the same bytes for a seed.

Each class has a centre drawn from a standard normal in every feature; a sample is its class's
centre plus standard-normal noise, mapped to pixel values ``128 + 32 * value`` and rounded into
0..255 (uint8, so the divide-by-255 scaler applies as to MNIST). The classes are well apart (the
centres' distance grows with the square root of the features), so a network learns them. The test
split has a tenth as many rows as the training split (at least one per class).

The rows are made in chunks of ``CHUNK`` rows, each from its own generator seeded by
``(seed, split, chunk index)``: the bytes depend on the seed and the sizes only, and 10^6 x 1024
needs no more memory than the result.
"""

from __future__ import annotations

import numpy as np

from .errors import MLPError
from .validation import check_memory

CHUNK = 65_536
PIXEL_CENTRE, PIXEL_SCALE = 128.0, 32.0
DEFAULT_CLASSES = 10  # as MNIST's


def test_rows(samples: int, classes: int) -> int:
    """Rows of the test split for ``samples`` training rows."""
    return max(classes, samples // 10)


def check_sizes(samples: object, features: object, classes: object = None) -> None:
    """One clear error for sizes that are missing, not positive, or too big for this machine
    (``classes`` None: DEFAULT_CLASSES)."""
    classes = DEFAULT_CLASSES if classes is None else classes
    for name, value in (("--samples", samples), ("--features", features),
                        ("--classes", classes)):
        if value is None:
            raise MLPError(f"the synthetic dataset needs {name}")
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise MLPError(f"{name} must be an integer >= 1, got {value!r}")
    if classes < 2:
        raise MLPError(f"--classes must be at least 2, got {classes}")
    rows = samples + test_rows(samples, classes)
    # the uint8 pixels, then the float32 rows the scaler makes of them, and the labels
    check_memory(rows * features * 5 + rows * 8,
                 f"a synthetic dataset of {rows} rows x {features} features")


def make(samples: int, features: int, classes: int | None = None,
         seed: int = 0) -> dict[str, np.ndarray]:
    """``x_train``, ``y_train``, ``x_test``, ``y_test`` (uint8 pixels, int64 labels)."""
    check_sizes(samples, features, classes)
    classes = DEFAULT_CLASSES if classes is None else classes
    centres = np.random.default_rng([seed, 0]).standard_normal((classes, features),
                                                              dtype=np.float32)
    out = {}
    for split, (name_x, name_y), rows in ((1, ("x_train", "y_train"), samples),
                                          (2, ("x_test", "y_test"), test_rows(samples, classes))):
        x, y = np.empty((rows, features), np.uint8), np.empty(rows, np.int64)
        for i, start in enumerate(range(0, rows, CHUNK)):
            rng = np.random.default_rng([seed, split, i])
            stop = min(start + CHUNK, rows)
            labels = rng.integers(0, classes, stop - start)
            values = rng.standard_normal((stop - start, features), dtype=np.float32)
            values += centres[labels]
            values *= PIXEL_SCALE
            values += PIXEL_CENTRE
            np.clip(np.rint(values, out=values), 0, 255, out=values)
            x[start:stop], y[start:stop] = values, labels
        out[name_x], out[name_y] = x, y
    return out
