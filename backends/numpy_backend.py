"""NumPy/OpenBLAS backend: array-api-compat's NumPy namespace plus in-place hot paths."""

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
        from threadpoolctl import threadpool_info

        blas = [p for p in threadpool_info() if p.get("user_api") == "blas"]
        info = super().describe()
        info["numpy"] = np.__version__
        if blas:
            info["blas"] = f"{blas[0].get('internal_api')} {blas[0].get('version')}"
            info["blas_threads"] = blas[0].get("num_threads")
        return info

    # Transposes as views: BLAS reads them through its own transpose flag, no copy is made.
    def matmul(self, a, b, transpose_a=False, transpose_b=False):
        return np.matmul(a.T if transpose_a else a, b.T if transpose_b else b)
