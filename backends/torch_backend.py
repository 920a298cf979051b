"""PyTorch backend: the core on array-api-compat's torch namespace, eagerly or compiled.

Data and weights live on ``device`` ("cpu", or "gpu": CUDA); the dataset moves there once and
shuffling is a device gather. Gradients are computed by hand, so autograd records nothing: every
epoch runs under ``torch.no_grad()``.

``mode="eager"`` (default) runs op by op with in-place kernels (the NumPy backend's, in torch ops;
about 10% faster per epoch than the generic kernels here, within this machine's noise).
``mode="compiled"`` compiles the per-batch function (``train_batch``, through ``epoch_loop``) with
``torch.compile`` (Inductor) and keeps the Python loop over batches; its kernels are the pure
generic ones, which Inductor fuses. Each batch shape (the full batches, a smaller last one) is
compiled once, with static shapes (``dynamic=False``).

Why per batch, not the whole epoch: Dynamo unrolls the epoch's batch loop into one graph. Measured
on the seed network 784-70-30-10, RMSprop, L2, batch 500, the 10,000-row MNIST test split (20
batches), torch 2.13 on 2 shared CPU cores, seconds per epoch (median of epochs 2 to 11, two runs):
eager 0.050 and 0.037; per-batch compiled 0.046 and 0.031, after compiling for 22 s (5 s with
Inductor's on-disk cache warm); whole epoch compiled 0.025, after compiling for 71 s. The whole
epoch runs a fifth faster, but its compile time grows with the batches per epoch (120 for
Fashion-MNIST at batch 500, 600 at batch 100) and is paid again for every dataset length; the
per-batch graph is compiled in seconds, once, for any dataset. (Fashion-MNIST, 60,000 rows, 3
epochs: eager 0.32 to 0.42 s per epoch, compiled 0.21 to 0.26 s after 11 s of compiling.)

Compile time is reported apart: a compiled epoch's ``last_compile_s`` attribute holds the seconds
its latest call spent compiling (the first ``torch.compile`` imports Dynamo and Inductor; then each
call that meets a new batch shape: tracing, compiling and running that one batch), and the training
loop moves them from the batches' time into ``time_compile``. Dynamo's limit of 8 graphs per
function is lifted while compiling, since every model configuration is a graph of one function.
"""

from __future__ import annotations

from time import perf_counter
from typing import Any, Callable

import numpy as np

from ..errors import BackendUnavailable, MLPError

from .base import Backend

MODES = ("eager", "compiled")
_DEFAULT_THREADS: int | None = None  # torch's own thread count, before any backend set one


class TorchBackend(Backend):
    name = "torch"

    def __init__(self, device: str = "cpu", mode: str = "eager",
                 threads: int | None = None) -> None:
        if mode not in MODES:
            raise MLPError(f"unknown mode {mode!r}; valid: {', '.join(MODES)}")
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
        self._compile_s = 0.0  # seconds spent compiling in the current epoch call
        if mode == "eager":  # decided once: in-place kernels replace the generic ones here
            self.sigmoid_backward = self._inplace_sigmoid_backward
            self.add_scaled, self.sgd_update = self._inplace_add_scaled, self._inplace_sgd
            self.rmsprop_update, self.adam_update = self._inplace_rmsprop, self._inplace_adam

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

    def compile(self, fn: Callable) -> Callable:
        """``fn`` under ``no_grad``; in compiled mode ``epoch_loop`` compiles its batch body."""
        torch = self.torch

        def run(*args):
            self._compile_s = 0.0
            with torch.no_grad():
                out = fn(*args)
            run.last_compile_s = self._compile_s
            return out

        run.last_compile_s = 0.0
        return run

    def epoch_loop(self, body, carry, perm, batch_size, *args):
        if self.mode == "compiled":
            if body not in self._bodies:
                t = perf_counter()  # the first torch.compile imports Dynamo and Inductor: seconds
                self._bodies[body] = self._compiled(body)
                self._compile_s += perf_counter() - t
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
            self._compile_s += perf_counter() - t
            seen.add(key)
            return out

        return run

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
        if out is None or self.mode == "compiled":  # no writes into inputs under torch.compile
            return self.torch.matmul(a, b)
        return self.torch.matmul(a, b, out=out)

    def gather_rows(self, x, idx):
        return self.torch.index_select(x, 0, idx)

    def sigmoid(self, z):
        return self.torch.sigmoid(z)

    # -- in-place kernels (eager mode): the generic arithmetic on fresh arrays, fewer temporaries
    def _inplace_sigmoid_backward(self, a, delta):
        return delta.mul_(a * (1.0 - a))

    def _inplace_add_scaled(self, g, w, alpha):
        return g.add_(w, alpha=alpha)

    def _inplace_sgd(self, p, g, m, lr, momentum, nesterov):
        g.mul_(lr)
        if m is None:
            return p.sub_(g), None
        m.mul_(momentum).sub_(g)
        if nesterov:
            p.add_(m, alpha=momentum).sub_(g)
        else:
            p.add_(m)
        return p, m

    def _inplace_rmsprop(self, p, g, v, lr, rho, eps):
        v.mul_(rho).addcmul_(g, g, value=1.0 - rho)
        t = (v + eps).sqrt_()
        return p.sub_(self.torch.div(g, t, out=t).mul_(lr)), v

    def _inplace_adam(self, p, g, m, v, alpha, beta_1, beta_2, eps):
        m.add_((g - m).mul_(1.0 - beta_1))
        v.add_((g * g).sub_(v).mul_(1.0 - beta_2))
        t = v.sqrt().add_(eps)
        return p.sub_(self.torch.div(m, t, out=t).mul_(alpha)), m, v
