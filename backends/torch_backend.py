"""PyTorch backend: the core on array-api-compat's torch namespace, eagerly or compiled.

Data and weights live on ``device`` ("cpu", or "gpu": CUDA); the dataset moves there once and
shuffling is a device gather. Gradients are computed by hand, so autograd records nothing: every
epoch runs under ``torch.no_grad()``.

``mode="eager"`` (the registry's default) runs op by op with in-place kernels (the NumPy backend's,
in torch ops). ``mode="compiled"`` compiles the per-batch function (``train_batch``, through
``epoch_loop``) with ``torch.compile`` (Inductor) and keeps the Python loop over batches; its
kernels are the pure generic ones, which Inductor fuses. Each batch shape (the full batches, a
smaller last one) is compiled once, with static shapes (``dynamic=False``). Per batch rather than
the whole epoch, because Dynamo unrolls an epoch's batch loop into one graph whose compile time
grows with the batches per epoch; ``docs/performance.md`` has the measurements behind both choices.

Compile time is reported apart: the compiled epoch's ``last_compile_s`` holds the seconds its
latest call spent compiling (the first ``torch.compile`` imports Dynamo and Inductor; then each
call that meets a new batch shape: tracing, compiling and running that one batch), and the training
loop moves them from the batches' time into ``time_compile``. Dynamo's limit of 8 graphs per
function is lifted while compiling, since every model configuration is a graph of one function.
"""

from __future__ import annotations

from collections.abc import Callable
from time import perf_counter
from typing import Any

import numpy as np

from ..errors import BackendUnavailable
from .base import Backend, CompiledEpoch

_DEFAULT_THREADS: int | None = None  # torch's own thread count, before any backend set one


class TorchBackend(Backend):
    name = "torch"

    def __init__(self, device: str = "cpu", *, mode: str, threads: int | None = None) -> None:
        import torch

        if device == "gpu" and not torch.cuda.is_available():
            raise BackendUnavailable(
                f"torch: no CUDA GPU visible to PyTorch here (torch {torch.__version__}; needs an "
                "NVIDIA GPU, its driver and a CUDA build of torch: see https://pytorch.org)")
        import array_api_compat.torch as xp_torch

        super().__init__(xp_torch, device)
        self.torch, self.mode = torch, mode
        #: the torch device every tensor is placed on
        self.torch_device = torch.device("cuda" if device == "gpu" else "cpu")
        global _DEFAULT_THREADS
        if _DEFAULT_THREADS is None:
            _DEFAULT_THREADS = torch.get_num_threads()
        if threads is not None:
            self.set_threads(threads)
        self._bodies: dict[Callable, Callable] = {}  # batch function -> its compiled version
        self._inplace = mode == "eager"  # in-place kernels; the compiled mode keeps pure ones

    # -- data movement --------------------------------------------------------------------
    def asarray(self, host: Any, dtype: str | None = None) -> Any:
        host = np.asarray(host)
        # a copy: the caller's array stays untouched by in-place kernels, and may be read-only
        return self.torch.tensor(host, dtype=getattr(self.torch, dtype or str(host.dtype)),
                                 device=self.torch_device)

    def to_numpy(self, x: Any) -> np.ndarray:
        return x.detach().cpu().numpy() if isinstance(x, self.torch.Tensor) else np.asarray(x)

    def copy(self, x: Any) -> Any:
        return x.clone()

    def synchronize(self) -> None:
        if self.device == "gpu":
            self.torch.cuda.synchronize()

    def compile(self, fn: Callable) -> CompiledEpoch:
        """``fn`` under ``no_grad``; in compiled mode ``epoch_loop`` compiles its batch body."""
        return _NoGradEpoch(fn, self)

    def device_scope(self):
        return self.torch_device  # a torch.device is a context manager: the default device

    def epoch_loop(self, body, carry, perm, batch_size, *args):
        if self.mode == "compiled":
            if body not in self._bodies:
                t = perf_counter()  # the first torch.compile imports Dynamo and Inductor: seconds
                self._bodies[body] = self._compiled(body)
                self._count_compile(perf_counter() - t)
            body = self._bodies[body]
        return super().epoch_loop(body, carry, perm, batch_size, *args)

    def _compiled(self, body: Callable) -> Callable:
        """``body`` through ``torch.compile``; calls meeting a new shape are timed as compiling."""
        torch = self.torch
        compiled = torch.compile(body, dynamic=False)
        from torch._dynamo import config

        # Dynamo keeps at most recompile_limit (8) graphs per code object, then runs it eagerly:
        # every model configuration and batch shape is a graph of the one train_batch here
        limit = {"recompile_limit" if hasattr(config, "recompile_limit")
                 else "cache_size_limit": 1024}  # (its name before torch 2.6)
        seen: set = set()

        def run(*args):
            leaves, spec = torch.utils._pytree.tree_flatten(args)
            key = (spec, tuple((x.shape, x.dtype) if isinstance(x, torch.Tensor) else x
                               for x in leaves))  # about 20 us a batch
            if key in seen:
                return compiled(*args)
            t = perf_counter()
            with config.patch(**limit):
                out = compiled(*args)
            self.synchronize()
            self._count_compile(perf_counter() - t)
            seen.add(key)
            return out

        return run

    def _count_compile(self, seconds: float) -> None:
        """Add to the seconds this thread's current epoch call spent compiling."""
        self.scratch["compile_s"] = self.scratch.get("compile_s", 0.0) + seconds

    def peak_memory_mb(self) -> float | None:
        if self.device != "gpu":
            return None
        return self.torch.cuda.max_memory_allocated() / 2**20

    # -- threads and description ------------------------------------------------------------
    def set_threads(self, n: int | None) -> None:
        """torch's intra-op threads, process-wide (None: the count torch started with)."""
        self.torch.set_num_threads(int(n) if n is not None else _DEFAULT_THREADS)

    def describe(self) -> dict:
        torch = self.torch
        info = {**super().describe(), "torch": torch.__version__,
                "intra_op_threads": torch.get_num_threads()}
        if self.device == "gpu":
            info["gpu"] = torch.cuda.get_device_name(self.torch_device)
            info["cuda_runtime"] = torch.version.cuda
        return info

    # -- kernels: transposes as views (BLAS flags), native sigmoid and gather -----------------
    def matmul(self, a, b, transpose_a=False, transpose_b=False, out=None):
        a, b = (a.mT if transpose_a else a), (b.mT if transpose_b else b)
        if a.dtype == self.torch.bfloat16:
            # oneDNN accumulates in float32 but returns bfloat16 on the CPU (torch.mm's out_dtype
            # exists for CUDA alone): the product is rounded to bfloat16, then widened
            return self.torch.matmul(a, b).float()
        if out is None or self.mode == "compiled":  # no writes into inputs under torch.compile
            return self.torch.matmul(a, b)
        return self.torch.matmul(a, b, out=out)

    def cast(self, x, dtype):
        return x.to(getattr(self.torch, dtype))

    def scale_pixels(self, values, divisor, table, dtype=None):
        # a division, 8x faster than indexing the table; by a 0-d tensor on the device, since
        # CUDA multiplies by the reciprocal of a Python number instead (rounded differently).
        # In float32 (exact for 0-255 and 255), rounded once to bfloat16 where asked. Eagerly,
        # in one pass into a buffer reused by every batch (Backend.buffer says why).
        target = getattr(self.torch, dtype) if dtype else divisor.dtype
        if self.mode == "compiled":
            return self.torch.div(values.to(target), divisor.to(target))
        buf = self.buffer(("scaled", values.shape, target),
                          lambda: self.torch.empty(values.shape, dtype=divisor.dtype,
                                                   device=values.device))
        buf.copy_(values).div_(divisor)  # (torch.div(out=) would cast into a temporary)
        return buf if target == buf.dtype else buf.to(target)

    def gather_rows(self, x, idx):
        if self.mode == "compiled":
            return self.torch.index_select(x, 0, idx)
        buf = self.buffer((id(x), len(idx), x.shape[1:], x.dtype),
                          lambda: x.new_empty((len(idx), *x.shape[1:])))
        return self.torch.index_select(x, 0, idx, out=buf)

    def sigmoid(self, z):
        return self.torch.sigmoid(z)

    # -- in-place kernels (eager mode): the generic arithmetic on fresh arrays, fewer temporaries;
    # under torch.compile the pure generic forms, which Inductor fuses
    def sigmoid_backward(self, a, delta):
        if not self._inplace:
            return super().sigmoid_backward(a, delta)
        return delta.mul_(a * (1.0 - a))

    def add_scaled(self, g, w, alpha):
        if not self._inplace:
            return super().add_scaled(g, w, alpha)
        return g.add_(w, alpha=alpha)

    def sgd_update(self, p, g, m, lr, momentum, nesterov):
        if not self._inplace:
            return super().sgd_update(p, g, m, lr, momentum, nesterov)
        g.mul_(lr)
        if m is None:
            return p.sub_(g), None
        m.mul_(momentum).sub_(g)
        if nesterov:
            p.add_(m, alpha=momentum).sub_(g)
        else:
            p.add_(m)
        return p, m

    def rmsprop_update(self, p, g, v, lr, rho, eps):
        if not self._inplace:
            return super().rmsprop_update(p, g, v, lr, rho, eps)
        v.mul_(rho).addcmul_(g, g, value=1.0 - rho)
        t = (v + eps).sqrt_()
        return p.sub_(self.torch.div(g, t, out=t).mul_(lr)), v

    def adam_update(self, p, g, m, v, alpha, beta_1, beta_2, eps):
        if not self._inplace:
            return super().adam_update(p, g, m, v, alpha, beta_1, beta_2, eps)
        m.add_((g - m).mul_(1.0 - beta_1))
        v.add_((g * g).sub_(v).mul_(1.0 - beta_2))
        t = v.sqrt().add_(eps)
        return p.sub_(self.torch.div(m, t, out=t).mul_(alpha)), m, v


class _NoGradEpoch(CompiledEpoch):
    """The epoch under ``torch.no_grad()``; the seconds its batch bodies spent compiling (in
    compiled mode) are its ``last_compile_s``."""

    def __init__(self, fn: Callable, backend: TorchBackend) -> None:
        super().__init__(fn)
        self.backend = backend

    def __call__(self, *args: Any) -> Any:
        be = self.backend
        be.scratch["compile_s"] = 0.0
        with be.torch.no_grad():
            out = self.fn(*args)
        self.last_compile_s = be.scratch["compile_s"]
        return out
