"""NumPy/OpenBLAS backend: array-api-compat's NumPy namespace plus in-place hot paths.

The overrides below are the generic kernels of ``base.Backend`` rewritten to update fresh arrays
in place and to reuse gather buffers: the same arithmetic with fewer temporaries and page faults.
Each one is checked against the generic version in ``tests/test_kernels.py``;
``docs/performance.md``
gives the measurements behind them.
"""

from __future__ import annotations

from typing import Any

import array_api_compat.numpy as xp_numpy
import numpy as np

from .base import Backend


class NumpyBackend(Backend):
    name = "numpy"
    mode = "eager"

    def __init__(self, device: str = "cpu", threads: int | None = None) -> None:
        super().__init__(xp_numpy, device)
        self._limiter = None
        self.set_threads(threads)

    def to_numpy(self, x: Any) -> np.ndarray:
        return np.asarray(x)

    def set_threads(self, n: int | None) -> None:
        from threadpoolctl import threadpool_limits

        if self._limiter is not None:
            self._limiter.restore_original_limits()
            self._limiter = None
        if n is not None:
            self._limiter = threadpool_limits(limits=int(n), user_api="blas")

    def describe(self) -> dict:
        from ..machine import blas_info

        blas = blas_info()  # NumPy's own, where another library loaded a BLAS too
        info = super().describe()
        info["numpy"] = np.__version__
        if blas.get("library"):
            info["blas"] = f"{blas['library']} {blas.get('version')}"
            info["blas_threads"] = blas.get("threads")
        return info

    # Transposes as views: BLAS reads them through its own transpose flag, no copy is made.
    def matmul(self, a, b, transpose_a=False, transpose_b=False, out=None):
        return np.matmul(a.T if transpose_a else a, b.T if transpose_b else b, out=out)

    def dense(self, a, w, b):
        z = np.matmul(a, w)
        z += b
        return z

    def gather_rows(self, x, idx):
        # Into a buffer reused across batches: a fresh multi-megabyte array per batch costs page
        # faults, and take(out=) is unbuffered only with mode="clip" (idx is a valid permutation).
        buf = self.buffer((id(x), len(idx), x.shape[1:], x.dtype),
                          lambda: np.empty((len(idx), *x.shape[1:]), x.dtype))
        return np.take(x, idx, axis=0, out=buf, mode="clip")

    def scale_pixels(self, values, divisor, table, dtype=None):  # (no bfloat16 here)
        # a division: 5x faster than np.take on the table; casts the uint8 values to float32 first
        buf = self.buffer(("scaled", values.shape), lambda: np.empty(values.shape, divisor.dtype))
        return np.divide(values, divisor, out=buf)

    def sigmoid(self, z):
        # 0.5 * tanh(z / 2) + 0.5: the fastest form in NumPy, and it cannot overflow
        a = np.multiply(z, 0.5)
        np.tanh(a, out=a)
        a *= 0.5
        a += 0.5
        return a

    def sigmoid_backward(self, a, delta):
        t = np.subtract(1.0, a, dtype=a.dtype)
        t *= a
        delta *= t
        return delta

    def sum_squares(self, w):
        return np.vdot(w, w)

    def add_scaled(self, g, w, alpha):
        g += alpha * w
        return g

    def sgd_update(self, p, g, m, lr, momentum, nesterov):
        g *= lr
        if m is None:
            p -= g
            return p, None
        m *= momentum
        m -= g
        if nesterov:
            p += momentum * m
            p -= g
        else:
            p += m
        return p, m

    def rmsprop_update(self, p, g, v, lr, rho, eps):
        v *= rho
        t = np.multiply(g, g)
        t *= 1.0 - rho
        v += t
        np.add(v, eps, out=t)
        np.sqrt(t, out=t)
        np.divide(g, t, out=t)
        t *= lr
        p -= t
        return p, v

    def adam_update(self, p, g, m, v, alpha, beta_1, beta_2, eps):
        t = np.subtract(g, m)
        t *= 1.0 - beta_1
        m += t
        np.multiply(g, g, out=t)
        t -= v
        t *= 1.0 - beta_2
        v += t
        np.sqrt(v, out=t)
        t += eps
        np.divide(m, t, out=t)
        t *= alpha
        p -= t
        return p, m, v
