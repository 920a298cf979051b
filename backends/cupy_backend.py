"""CuPy backend: the core on an NVIDIA GPU through array-api-compat's CuPy namespace.

The dataset is copied to the GPU once and stays there; shuffling is a device gather; every timer
reads after ``synchronize()``. With ``fused=True`` (default) the sigmoid, its derivative and the
optimizer updates run as single CuPy ``ElementwiseKernel`` launches that update in place; with
``fused=False`` they are the generic array-API code, which the tests compare them against.

Status: written against CuPy's documented API, not yet run on a GPU (no GPU was available when it
was written); ``tests/test_kernels.py`` and the shared agreement tests run on it where one is.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import BackendUnavailable
from .base import Backend


def _kernels(cupy):
    ek = cupy.ElementwiseKernel
    return {
        "sigmoid": ek("T z", "T a", "a = 1 / (1 + exp(-z))", "mlp_sigmoid"),
        "sigmoid_backward": ek("T a", "T d", "d = d * a * (1 - a)", "mlp_sigmoid_backward"),
        "sgd": ek("T g, T lr", "T p", "p -= lr * g", "mlp_sgd"),
        "sgd_momentum": ek("T g, T lr, T momentum, bool nesterov", "T p, T m",
                           "m = momentum * m - lr * g; p += nesterov ? momentum * m - lr * g : m",
                           "mlp_sgd_momentum"),
        "rmsprop": ek("T g, T lr, T rho, T eps", "T p, T v",
                      "v = rho * v + (1 - rho) * g * g; p -= lr * g / sqrt(v + eps)",
                      "mlp_rmsprop"),
        "adam": ek("T g, T alpha, T beta_1, T beta_2, T eps", "T p, T m, T v",
                   "m += (g - m) * (1 - beta_1); v += (g * g - v) * (1 - beta_2);"
                   "p -= alpha * m / (sqrt(v) + eps)", "mlp_adam"),
    }


class CupyBackend(Backend):
    name = "cupy"

    def __init__(self, device: str = "gpu", fused: bool = True) -> None:
        import cupy

        try:
            count = cupy.cuda.runtime.getDeviceCount()
        except cupy.cuda.runtime.CUDARuntimeError as exc:
            raise BackendUnavailable(f"cupy: no usable CUDA GPU here ({exc})") from None
        if count == 0:
            raise BackendUnavailable("cupy: no CUDA GPU here")
        import array_api_compat.cupy as xp_cupy

        super().__init__(xp_cupy, device)
        self.cupy = cupy
        self.mode = "fused" if fused else "eager"
        self._k = _kernels(cupy) if fused else None  # None: the generic kernels

    # -- fused kernels: one launch each, updating in place (fused=False: the generic ones)
    def sigmoid(self, z):
        if self._k is None:
            return super().sigmoid(z)
        return self._k["sigmoid"](z)

    def sigmoid_backward(self, a, delta):
        if self._k is None:
            return super().sigmoid_backward(a, delta)
        return self._k["sigmoid_backward"](a, delta)

    def sgd_update(self, p, g, m, lr, momentum, nesterov):
        if self._k is None:
            return super().sgd_update(p, g, m, lr, momentum, nesterov)
        if m is None:
            self._k["sgd"](g, lr, p)
        else:
            self._k["sgd_momentum"](g, lr, momentum, nesterov, p, m)
        return p, m

    def rmsprop_update(self, p, g, v, lr, rho, eps):
        if self._k is None:
            return super().rmsprop_update(p, g, v, lr, rho, eps)
        self._k["rmsprop"](g, lr, rho, eps, p, v)
        return p, v

    def adam_update(self, p, g, m, v, alpha, beta_1, beta_2, eps):
        if self._k is None:
            return super().adam_update(p, g, m, v, alpha, beta_1, beta_2, eps)
        self._k["adam"](g, alpha, beta_1, beta_2, eps, p, m, v)
        return p, m, v

    # -- data movement --------------------------------------------------------------------
    def asarray(self, host: Any, dtype: str | None = None) -> Any:
        host = np.asarray(host)
        return self.cupy.asarray(host.astype(dtype, copy=False) if dtype else host)

    def to_numpy(self, x: Any) -> np.ndarray:
        return self.cupy.asnumpy(x)

    def copy(self, x: Any) -> Any:
        return x.copy()

    def synchronize(self) -> None:
        self.cupy.cuda.get_current_stream().synchronize()

    def peak_memory_mb(self) -> float | None:
        # CuPy keeps no high-water mark; its pool only grows unless freed, so what it holds is one
        return self.cupy.get_default_memory_pool().total_bytes() / 2**20

    def describe(self) -> dict:
        cupy = self.cupy
        dev = cupy.cuda.Device()
        props = cupy.cuda.runtime.getDeviceProperties(dev.id)
        name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
        runtime = cupy.cuda.runtime.runtimeGetVersion()
        return {**super().describe(), "cupy": cupy.__version__, "gpu": name,
                "gpu_memory_gb": round(props["totalGlobalMem"] / 2**30, 1),
                "cuda_runtime": f"{runtime // 1000}.{runtime % 1000 // 10}"}

    # -- kernels ------------------------------------------------------------------------------
    def matmul(self, a, b, transpose_a=False, transpose_b=False, out=None):
        # transposed views: cuBLAS reads them through its transpose flags
        return self.cupy.matmul(a.T if transpose_a else a, b.T if transpose_b else b, out=out)

    def gather_rows(self, x, idx):
        return self.cupy.take(x, idx, axis=0)
