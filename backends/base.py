"""The backend contract: the one seam between the core and an array library.

A backend names its array namespace (``xp``) and device, moves data between host and device,
synchronizes, compiles the train step, and offers a few *kernels*: hot paths whose default here is
plain array-API code. A backend overrides a kernel only where a profile shows it pays (fused or
in-place versions); the generic version stays the reference that tests compare against.

Kernels may return their inputs updated in place (NumPy does), so the core never reads an array
again after passing it to a kernel that returns its replacement.

One backend instance serves every model that selects it (``selection`` caches them), in any
thread. So a backend keeps no training state of its own: what a kernel reuses from one batch to
the next (NumPy's gather buffers, the latest result dispatched, the seconds spent compiling) lives
in ``self.scratch``, which is per thread. A fit runs on one thread from start to end, so per thread
is per fit: two models trained at once in two threads never share a buffer
(``tests/test_isolation.py``).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import numpy as np


class CompiledEpoch:
    """What :meth:`Backend.compile` returns: the epoch function, callable as it was, that says in
    ``last_compile_s`` how many seconds its latest call spent tracing or compiling (0 when it ran
    what was compiled before). The training loop records them apart from the batches' time."""

    def __init__(self, fn: Callable) -> None:
        self.fn = fn
        self.last_compile_s = 0.0

    def __call__(self, *args: Any) -> Any:
        return self.fn(*args)


class Backend:
    """Generic array-API backend; subclasses set ``name`` and ``xp`` and override hot paths."""

    name: str = "generic"
    #: how the train step runs: "eager" (op by op) or "compiled" (traced once)
    mode: str = "eager"

    def __init__(self, xp: Any, device: str = "cpu") -> None:
        self.xp = xp
        self.device = device
        #: the options it was created with (``backends.create`` sets them), so that a backend
        #: made again for another device keeps them
        self.options: dict = {}
        self._local = threading.local()

    @property
    def scratch(self) -> dict:
        """This thread's scratch state: what kernels reuse from one batch to the next (see the
        module docstring); never shared with a fit on another thread."""
        try:
            return self._local.scratch
        except AttributeError:
            self._local.scratch = {}
            return self._local.scratch

    def buffer(self, key: tuple, make: Callable[[], Any]) -> Any:
        """A buffer reused by every batch of the same ``key`` (the next batch overwrites it),
        made by ``make()`` the first time, in this thread's scratch state. Reused because a
        fresh multi-megabyte array per batch costs page faults on the CPU: the kernel zeroes
        every page of it on first touch, at a cost that varies from run to run."""
        buffers = self.scratch.setdefault("buffers", {})
        buf = buffers.get(key)
        if buf is None:
            if len(buffers) >= 8:  # buffers of earlier fits
                buffers.clear()
            buf = buffers[key] = make()
        return buf

    # -- data movement -------------------------------------------------------------------
    def asarray(self, host: Any, dtype: str | None = None) -> Any:
        """Host (NumPy) array -> device array, cast to ``dtype`` ("float32", "int64", ...)."""
        host = np.asarray(host)
        if dtype is not None:
            host = host.astype(dtype, copy=False)
        return self.xp.asarray(host, dtype=getattr(self.xp, str(host.dtype)))

    def to_numpy(self, x: Any) -> np.ndarray:
        """Device array -> host NumPy array."""
        return np.asarray(x)

    def copy(self, x: Any) -> Any:
        return self.xp.asarray(x, copy=True)

    def synchronize(self) -> None:
        """Wait until queued device work is finished (a no-op on the CPU)."""

    def compile(self, fn: Callable) -> CompiledEpoch:
        """The core's pure epoch function ``fn``, as is here, or traced/compiled."""
        return CompiledEpoch(fn)

    def device_scope(self) -> AbstractContextManager:
        """A context in which the library places new arrays and functions on this backend's
        device (TensorFlow's ``tf.device``); nothing to do here. The bench's Keras reference
        builds its model inside it."""
        return contextlib.nullcontext()

    def precision_scope(self, dtype: str) -> AbstractContextManager:
        """A context in which the library computes in ``dtype`` (the model's variables' dtype):
        JAX's 64-bit mode for float64, for this thread and block only; nothing to do here. A
        model does all its work on the backend inside it."""
        return contextlib.nullcontext()

    # -- threads and description ---------------------------------------------------------
    def set_threads(self, n: int | None) -> None:
        """Limit the threads the backend's compute library uses (None: library default)."""

    def describe(self) -> dict:
        """Name, device, mode and library details, for ``mlp-core info``, the history and the
        bench; a GPU backend adds the GPU's model under ``"gpu"``."""
        return {"backend": self.name, "device": self.device, "mode": self.mode}

    def peak_memory_mb(self) -> float | None:
        """Peak device memory in use so far, in MiB (None on the CPU, or where unknown)."""
        return None

    # -- kernels: generic array-API versions -----------------------------------------------
    def matmul(self, a: Any, b: Any, transpose_a: bool = False, transpose_b: bool = False,
               out: Any = None) -> Any:
        """a @ b, either operand transposed. A backend may write the result into ``out`` (a
        buffer of the result's shape) and return it; the generic version ignores ``out``.

        Operands in bfloat16 (the ``mixed_bfloat16`` policy; backends whose registry entry says
        ``bfloat16``) give a float32 product, accumulated in float32 where the library can."""
        xp = self.xp
        if transpose_a:
            a = xp.matrix_transpose(a)
        if transpose_b:
            b = xp.matrix_transpose(b)
        return xp.matmul(a, b)

    def cast(self, x: Any, dtype: str) -> Any:
        """``x`` in the dtype named ``dtype`` (``"bfloat16"``, ...): ``x`` itself if it is."""
        return self.xp.astype(x, getattr(self.xp, dtype), copy=False)

    def scale_pixels(self, values: Any, divisor: Any, table: Any, dtype: str | None = None) -> Any:
        """The float32 value each uint8 pixel stands for: float32(v) / divisor, correctly
        rounded, which ``table`` holds for each of the 256 values; ``dtype`` (``"bfloat16"``):
        that value rounded to it. The generic kernel looks the values up; a backend whose
        division is IEEE division and faster divides instead."""
        xp = self.xp
        if dtype is not None:
            table = self.cast(table, dtype)
        return xp.reshape(xp.take(table, xp.reshape(values, (-1,)), axis=0), values.shape)

    def dense(self, a: Any, w: Any, b: Any) -> Any:
        """a @ w + b (bias broadcast over rows)."""
        return self.matmul(a, w) + b

    def row_count(self, x: Any) -> Any:
        """Number of rows of ``x``, as a number usable in arithmetic with arrays of x's dtype."""
        return x.shape[0]

    def batch_starts(self, n: int, batch_size: int):
        """The first row of each batch: an iterable the epoch loop runs over."""
        return range(0, n, batch_size)

    def minimum(self, a, b):
        """min of two batch offsets (Python ints here, tensors inside a traced loop)."""
        return min(a, b)

    def epoch_loop(self, body: Callable, carry: Any, perm: Any, batch_size: int, *args: Any) -> Any:
        """``carry = body(carry, idx, *args)`` for each batch ``idx`` of ``perm`` (rows
        ``perm[start:start + batch_size]``, the last batch smaller if need be); returns ``carry``.

        A Python loop over ``batch_starts`` here (a graph loop where they are a tensor range); a
        backend whose compiler needs static shapes overrides it (JAX: a compiled loop over the
        full batches, then the last one).
        """
        n = perm.shape[0]
        for start in self.batch_starts(n, batch_size):
            carry = body(carry, perm[start:self.minimum(start + batch_size, n)], *args)
        return carry

    def gather_rows(self, x: Any, idx: Any) -> Any:
        """Rows ``idx`` of ``x``. The result may be a buffer that the next gather from the same
        array overwrites: the train loop uses each batch before it gathers the next."""
        return self.xp.take(x, idx, axis=0)

    def sum_squares(self, w: Any) -> Any:
        """sum(w * w), for the L2 penalty."""
        return self.xp.sum(w * w)

    def add_scaled(self, g: Any, w: Any, alpha: float) -> Any:
        """g + alpha * w (may update g in place), for the penalties' gradients."""
        return g + alpha * w

    def sigmoid(self, z: Any) -> Any:
        xp = self.xp
        return 1.0 / (1.0 + xp.exp(-z))

    def sigmoid_backward(self, a: Any, delta: Any) -> Any:
        """delta * sigmoid'(z), written through the output a = sigmoid(z)."""
        return delta * (a * (1.0 - a))

    def sgd_update(self, p, g, m, lr, momentum: float, nesterov: bool):
        """SGD as Keras does it: m = momentum*m - lr*g; p += m (or momentum*m - lr*g, Nesterov)."""
        if m is None:
            return p - lr * g, None
        m = momentum * m - lr * g
        step = momentum * m - lr * g if nesterov else m
        return p + step, m

    def rmsprop_update(self, p, g, v, lr, rho: float, eps: float):
        """RMSprop as Keras does it: v = rho*v + (1-rho)*g^2; p -= lr*g / sqrt(v + eps)."""
        v = rho * v + (1.0 - rho) * (g * g)
        return p - lr * g / self.xp.sqrt(v + eps), v

    def adam_update(self, p, g, m, v, alpha, beta_1: float, beta_2: float, eps: float):
        """Adam as Keras does it, with alpha = lr * sqrt(1 - b2^t) / (1 - b1^t)."""
        m = m + (g - m) * (1.0 - beta_1)
        v = v + (g * g - v) * (1.0 - beta_2)
        return p - alpha * m / (self.xp.sqrt(v) + eps), m, v

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} device={self.device} mode={self.mode}>"
