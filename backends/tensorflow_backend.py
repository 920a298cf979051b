"""TensorFlow 2 backend: the core on low-level TF ops, eagerly or as one traced epoch.

``mode="compiled"`` (default) traces the whole epoch once with ``tf.function`` (``jit_compile``
adds XLA, and then the epoch runs batches of a static size: XLA's CPU backend runs slices with
tensor bounds 20-100x slower); ``mode="eager"`` runs it op by op. Data and weights live on
``device`` ("cpu" or "gpu"). TensorFlow's start-up log is kept quiet unless ``MLP_TF_LOG`` is set.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from time import perf_counter
from typing import Any

import numpy as np

from ..errors import BackendUnavailable, MLPError
from .base import Backend, CompiledEpoch


def import_tensorflow():
    """Import TensorFlow with its C++ and Python start-up logging quiet (unless MLP_TF_LOG)."""
    if "tensorflow" in sys.modules or os.environ.get("MLP_TF_LOG"):
        import tensorflow as tf

        return tf
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # TF's native start-up lines (oneDNN notice, absl preamble) are written to file descriptor 2
    # before its log level applies, so stderr is pointed at /dev/null for the import alone.
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            import tensorflow as tf
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    tf.get_logger().setLevel("ERROR")
    return tf


def set_tf_threads(tf, intra: int | None, inter: int | None) -> None:
    """Set TensorFlow's thread pools; a clear error if TF started already with other values."""
    for value, get, set_ in (
            (intra, tf.config.threading.get_intra_op_parallelism_threads,
             tf.config.threading.set_intra_op_parallelism_threads),
            (inter, tf.config.threading.get_inter_op_parallelism_threads,
             tf.config.threading.set_inter_op_parallelism_threads)):
        if value is None or get() == value:
            continue
        try:
            set_(int(value))
        except RuntimeError:
            raise MLPError("TensorFlow thread counts can only be set before TensorFlow starts "
                           f"running (it runs with {get() or 'default'} threads now): set them on "
                           "the first TensorFlow backend of the process") from None


class TensorFlowBackend(Backend):
    name = "tensorflow"

    def __init__(self, device: str = "cpu", *, mode: str, jit_compile: bool = False,
                 threads: int | None = None, inter_op_threads: int | None = None) -> None:
        tf = import_tensorflow()
        set_tf_threads(tf, threads, inter_op_threads)
        gpus = tf.config.list_physical_devices("GPU")
        if device == "gpu":
            if not gpus:
                raise BackendUnavailable(
                    "tensorflow: no GPU visible to TensorFlow here (needs an NVIDIA GPU, its "
                    'driver and the CUDA build: pip install "mlp-core[tensorflow-gpu]")')
            for gpu in gpus:
                try:
                    tf.config.experimental.set_memory_growth(gpu, True)
                except RuntimeError:  # already initialised: growth was set by an earlier backend
                    pass
        from . import tf_namespace

        super().__init__(tf_namespace, device)
        self.tf = tf
        self.mode, self.jit_compile = mode, bool(jit_compile)
        #: the TensorFlow device string that every tensor and traced function is placed on
        self.tf_device = "/GPU:0" if device == "gpu" else "/CPU:0"
        self._gpu_name = (tf.config.experimental.get_device_details(gpus[0]).get("device_name")
                          if device == "gpu" else None)

    # -- data movement --------------------------------------------------------------------
    def asarray(self, host: Any, dtype: str | None = None) -> Any:
        host = np.asarray(host)
        with self.tf.device(self.tf_device):
            return self.tf.constant(host, dtype=getattr(self.tf, dtype or str(host.dtype)))

    def to_numpy(self, x: Any) -> np.ndarray:
        return x.numpy() if hasattr(x, "numpy") else np.asarray(x)

    def copy(self, x: Any) -> Any:
        return x  # tensors are immutable: the tensor itself is as good as a copy

    def synchronize(self) -> None:
        if self.device == "gpu":
            self.tf.test.experimental.sync_devices()

    def compile(self, fn: Callable) -> CompiledEpoch:
        if self.mode == "compiled":
            return _TracedEpoch(self.tf.function(fn, jit_compile=self.jit_compile or None), self)
        return _PlacedEpoch(fn, self)

    def device_scope(self):
        return self.tf.device(self.tf_device)

    def peak_memory_mb(self) -> float | None:
        if self.device != "gpu":
            return None
        return self.tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20

    # -- threads and description ------------------------------------------------------------
    def set_threads(self, n: int | None) -> None:
        set_tf_threads(self.tf, n, None)

    def describe(self) -> dict:
        tf = self.tf
        threading = tf.config.threading
        info = {**super().describe(), "tensorflow": tf.__version__,
                "jit_compile": self.jit_compile,
                "intra_op_threads": threading.get_intra_op_parallelism_threads() or "default",
                "inter_op_threads": threading.get_inter_op_parallelism_threads() or "default"}
        if self._gpu_name:
            info["gpu"] = self._gpu_name
        return info

    # -- kernels: transposes as flags, batch size from the dynamic shape ----------------------
    def matmul(self, a, b, transpose_a=False, transpose_b=False, out=None):
        product = self.tf.linalg.matmul(a, b, transpose_a=transpose_a, transpose_b=transpose_b)
        if product.dtype == self.tf.bfloat16:
            # oneDNN accumulates in float32 but TF's CPU kernel returns bfloat16 (its float32
            # output type is XLA's alone): the product is rounded to bfloat16, then widened
            return self.tf.cast(product, self.tf.float32)
        return product

    def cast(self, x, dtype):
        return self.tf.cast(x, getattr(self.tf, dtype))

    def scale_pixels(self, values, divisor, table, dtype=None):
        # a division, 4x faster than tf.gather on the table (the divisor is a tensor argument:
        # Grappler turns a division by a constant into a multiplication by its reciprocal).
        # In bfloat16 (exact for 0-255 and 255), TF divides in float32 and rounds once.
        target = getattr(self.tf, dtype) if dtype else divisor.dtype
        return self.tf.cast(values, target) / self.tf.cast(divisor, target)

    def row_count(self, x):
        return self.tf.cast(self.tf.shape(x)[0], x.dtype)

    def gather_rows(self, x, idx):
        return self.tf.gather(x, idx)

    def epoch_loop(self, body, carry, perm, batch_size, *args):
        if not self.jit_compile:
            return super().epoch_loop(body, carry, perm, batch_size, *args)
        # XLA: batches of a static size (a slice whose bounds are tensors has a dynamic shape,
        # which XLA's CPU backend runs 20-100x slower): the full batches in a graph loop, then
        # the last, smaller one, as the JAX backend does
        tf = self.tf
        n = perm.shape[0]
        n_full, rest = divmod(n, batch_size)
        for i in tf.range(n_full):
            carry = body(carry, tf.slice(perm, [i * batch_size], [batch_size]), *args)
        if rest:
            carry = body(carry, perm[n - rest:], *args)
        return carry

    def batch_starts(self, n, batch_size):
        # a tensor range: inside tf.function, autograph turns the epoch's for-loop into a graph loop
        return self.tf.range(0, n, batch_size, dtype=self.tf.int64)

    def minimum(self, a, b):
        return self.tf.minimum(a, self.tf.cast(b, self.tf.int64))

    def sigmoid(self, z):
        return self.tf.math.sigmoid(z)


class _PlacedEpoch(CompiledEpoch):
    """The epoch run op by op on the backend's device."""

    def __init__(self, fn: Callable, backend: TensorFlowBackend) -> None:
        super().__init__(fn)
        self.backend = backend

    def __call__(self, *args: Any) -> Any:
        with self.backend.device_scope():
            return self.fn(*args)


class _TracedEpoch(_PlacedEpoch):
    """The epoch as one ``tf.function``: a call whose arguments need a new trace traces first,
    timed apart (the call itself then reuses it; a known signature costs a cache look-up).
    TensorFlow's graph optimisation still happens inside the first call."""

    def __call__(self, *args: Any) -> Any:
        traced = self.fn
        with self.backend.device_scope():
            traces, t = traced.experimental_get_tracing_count(), perf_counter()
            traced.get_concrete_function(*args)
            retraced = traced.experimental_get_tracing_count() > traces
            self.last_compile_s = perf_counter() - t if retraced else 0.0
            return traced(*args)
