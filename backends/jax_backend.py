"""JAX backend: the core on ``jax.numpy``, one XLA-compiled loop per epoch.

``mode="compiled"`` (default) compiles the whole epoch with ``jax.jit``: ``epoch_loop`` runs the
full batches as one ``lax.fori_loop`` whose body takes each batch's rows of the permutation with
``lax.dynamic_slice`` (XLA needs static shapes, so no ``perm[start:stop]`` with traced bounds), then
the last, smaller batch (its size is static too) after it. One compile per dataset size and batch
size; the epoch then runs without returning to Python, which pays against a jitted batch function
called from a Python loop (``docs/performance.md`` has the measurement). ``mode="eager"`` runs op
by op (the default Python loop), for debugging.

JAX arrays are immutable: the backend keeps the pure generic kernels, and ``copy`` returns its
argument. Compile time is reported apart: the first call with new argument shapes lowers and
compiles ahead of time, timed, and the compiled epoch's ``last_compile_s`` says how long its
latest call spent doing so (the training loop records it as ``time_compile``).

float64 needs JAX's 64-bit mode: ``precision_scope("float64")`` switches it on for the block and
its thread alone (``jax.enable_x64``), and a float64 model does all its work inside it, so that
the rest of the process, a user's other JAX code included, keeps JAX's own setting. A float64
array asked for outside it is an error, not a silent float32. Without 64-bit mode, int64 indices
are made int32 (the rows of a data set fit), and so is the optimizer's update counter.
Products run at full float32 precision (``precision=highest``;
JAX's GPU default would use TF32). XLA sizes its CPU thread pool when JAX starts, so ``threads``
cannot be set here: run the process under ``taskset`` to limit it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from time import perf_counter
from typing import Any

import numpy as np

from ..errors import BackendUnavailable, MLPError
from .base import Backend, CompiledEpoch


class JaxBackend(Backend):
    name = "jax"

    def __init__(self, device: str = "cpu", *, mode: str, threads: int | None = None) -> None:
        import jax
        import jax.numpy as jnp

        try:
            self.jax_device = jax.devices(device)[0]
        except RuntimeError:
            raise BackendUnavailable(
                "jax: no GPU visible to JAX here (needs an NVIDIA GPU, its driver and JAX's CUDA "
                'build: pip install "jax[cuda12]")') from None
        super().__init__(jnp, device)
        self.jax, self.mode = jax, mode
        self.set_threads(threads)

    # -- data movement --------------------------------------------------------------------
    def asarray(self, host: Any, dtype: str | None = None) -> Any:
        host = np.asarray(host)
        dtype = np.dtype(dtype or host.dtype)
        if dtype == np.float64 and not self.jax.config.jax_enable_x64:
            raise MLPError("jax: float64 arrays need JAX's 64-bit mode: make them inside "
                           "backend.precision_scope('float64') (a float64 MLP does), or set "
                           "JAX_ENABLE_X64=1 for the whole process")
        if dtype == np.int64 and not self.jax.config.jax_enable_x64:
            dtype = np.dtype(np.int32)  # what JAX would truncate it to, without its warning
        out = self.jax.device_put(host.astype(dtype, copy=False), self.jax_device)
        self.scratch["pending"] = out  # the latest result dispatched, for synchronize()
        return out

    def to_numpy(self, x: Any) -> np.ndarray:
        return np.asarray(x)

    def copy(self, x: Any) -> Any:
        return x  # immutable: the array itself is as good as a copy

    def synchronize(self) -> None:
        pending = self.scratch.pop("pending", None)
        if pending is not None:
            self.jax.block_until_ready(pending)

    def compile(self, fn: Callable) -> CompiledEpoch:
        """``jax.jit(fn)``, compiled ahead of time (and timed) once per argument signature; in
        eager mode ``fn`` itself. Either way the result is kept for ``synchronize``."""
        return _JitEpoch(fn, self)

    def device_scope(self):
        return self.jax.default_device(self.jax_device)

    def precision_scope(self, dtype: str):
        if dtype == "float64":  # this thread, this block (module docstring)
            enable_x64 = getattr(self.jax, "enable_x64", None)
            if enable_x64 is None:  # (older JAX has it under jax.experimental only)
                from jax.experimental import enable_x64
            return enable_x64(True)
        return super().precision_scope(dtype)

    def epoch_loop(self, body, carry, perm, batch_size, *args):
        if self.mode == "eager":
            return super().epoch_loop(body, carry, perm, batch_size, *args)
        lax = self.jax.lax
        n = perm.shape[0]
        n_full, rest = divmod(n, batch_size)

        def full_batch(i, c):
            return body(c, lax.dynamic_slice_in_dim(perm, i * batch_size, batch_size), *args)

        if n_full:  # (a loop of none would still trace a batch larger than perm)
            carry = lax.fori_loop(0, n_full, full_batch, carry)
        if rest:  # a static size too: traced once, after the loop
            carry = body(carry, perm[n - rest:], *args)
        return carry

    def peak_memory_mb(self) -> float | None:
        if self.device != "gpu":
            return None
        stats = self.jax_device.memory_stats() or {}
        return stats["peak_bytes_in_use"] / 2**20 if "peak_bytes_in_use" in stats else None

    # -- threads and description ------------------------------------------------------------
    def set_threads(self, n: int | None) -> None:
        if n is not None:
            raise MLPError("jax: XLA sizes its CPU thread pool when JAX starts and it cannot be "
                           "set afterwards; limit the cores the process may use instead (taskset)")

    def describe(self) -> dict:
        import jaxlib

        info = {**super().describe(), "jax": self.jax.__version__, "jaxlib": jaxlib.__version__,
                "x64": bool(self.jax.config.jax_enable_x64)}
        if self.device == "gpu":
            info["gpu"] = self.jax_device.device_kind
        else:  # XLA's pool: one thread per core this process may run on
            info["intra_op_threads"] = (len(os.sched_getaffinity(0))
                                        if hasattr(os, "sched_getaffinity") else os.cpu_count())
        return info

    # -- kernels: pure (JAX arrays are immutable), products at full precision ----------------
    def matmul(self, a, b, transpose_a=False, transpose_b=False, out=None):
        # one dot_general that contracts the transposed axis in place: ``a.mT @ b`` would copy
        # the transpose first in eager mode (a 2048x2048 weight: 6x the product at 16 rows)
        contract = ((0 if transpose_a else 1,), (1 if transpose_b else 0,)), ((), ())
        if a.dtype == self.xp.bfloat16:  # accumulated and returned in float32
            return self.jax.lax.dot_general(a, b, contract,
                                            preferred_element_type=self.xp.float32)
        return self.jax.lax.dot_general(a, b, contract,
                                        precision=self.jax.lax.Precision.HIGHEST)

    def gather_rows(self, x, idx):
        return self.xp.take(x, idx, axis=0, mode="clip")  # idx is a valid permutation: no fill


class _JitEpoch(CompiledEpoch):
    def __init__(self, fn: Callable, backend: JaxBackend) -> None:
        super().__init__(fn)
        self.backend = backend
        self.jitted = backend.jax.jit(fn)
        self.executables: dict = {}

    def __call__(self, *args: Any) -> Any:
        be, jax = self.backend, self.backend.jax
        self.last_compile_s, call = 0.0, self.fn
        if be.mode == "compiled":
            leaves, tree = jax.tree_util.tree_flatten(args)
            key = (tree, jax.config.jax_enable_x64,
                   tuple((x.shape, x.dtype, getattr(x, "weak_type", False)) for x in leaves))
            if key not in self.executables:
                t = perf_counter()
                self.executables[key] = self.jitted.lower(*args).compile()
                self.last_compile_s = perf_counter() - t
            call = self.executables[key]
        out = be.scratch["pending"] = call(*args)
        return out
