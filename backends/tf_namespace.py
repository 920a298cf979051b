"""An array-API namespace (standard 2023.12) for TensorFlow, on low-level TF ops.

array-api-compat does not cover TensorFlow, and ``tf.experimental.numpy`` carries NumPy's
semantics and overhead. This module defines the functions the mlp-core core calls, with the
standard's signatures and semantics for every input the standard allows, for the dtypes it has:
bool, int32, int64, float32, float64 (default integer int64, default float float64). Type promotion
follows the standard's table and happens only when dtypes differ: the common case (one dtype) is
one TF op after cheap Python checks, eagerly or traced into a ``tf.function`` (a traced ``take``
adds three small ops on its indices). Mixed kinds (bool/int/float), which the standard leaves
unspecified, raise TypeError. ``where`` and ``equal`` also take Python scalars (2024.12's rules).

The array object is ``tf.Tensor`` itself: its operators (+, -, *, /, comparisons) are TensorFlow's
own (no promotion between dtypes), its ``shape`` is a ``TensorShape``, and it is immutable, so code
that writes into an array cannot work. Placement follows TensorFlow's device scope.

``tests/test_tf_namespace.py`` checks every function against array-api-strict, the standard's
reference implementation (Hypothesis property tests: values, dtype, shape, NaN positions, signed
zeros), with a regression test for each defect fixed; ``tests/test_tensorflow.py`` checks it op by
op against NumPy as the core uses it. ``docs/tf-namespace.md`` reports the standard's conformance
suite (data-apis/array-api-tests) on it.
"""

from __future__ import annotations

import builtins

import numpy as np
import tensorflow as tf

float32, float64, int32, int64, bool = tf.float32, tf.float64, tf.int32, tf.int64, tf.bool  # noqa: A001

__array_api_version__ = "2023.12"

_ARRAY = (tf.Tensor, tf.Variable)
_SCALAR = (builtins.bool, int, float)


# -- helpers: promotion, Python scalars, GPU -----------------------------------------------
def _result_type(d1, d2):
    """The standard's type promotion of two dtypes; TypeError where it specifies none."""
    if d1 == d2:
        return d1
    if d1.is_floating and d2.is_floating:
        return d1 if d1.size >= d2.size else d2
    if d1.is_integer and d2.is_integer:
        if d1.is_unsigned == d2.is_unsigned:
            return d1 if d1.size >= d2.size else d2
        u, s = (d1, d2) if d1.is_unsigned else (d2, d1)
        if s.size > u.size:
            return s
        if u.size < 8:  # uint8 with int8 -> int16, ...; uint64 with a signed int has no rule
            return tf.as_dtype(f"int{16 * u.size}")
    raise TypeError(f"the array API standard does not promote {d1.name} with {d2.name}")


def _scalar(value, dtype):
    """The Python scalar ``value`` as a constant of ``dtype``, as the standard's array-scalar rules
    allow (bool with bool; int with int or float; float with float). TensorFlow's eager cache of
    scalar constants keys 0.0 and -0.0 alike, so zeros go through NumPy to keep their sign."""
    if isinstance(value, builtins.bool):
        ok = dtype.is_bool
    elif isinstance(value, int):
        ok = dtype.is_integer or dtype.is_floating
    else:
        ok = dtype.is_floating
    if not ok:
        raise TypeError(f"a Python {type(value).__name__} does not combine with {dtype.name}")
    if value == 0:
        return tf.constant(np.asarray(value, dtype=dtype.as_numpy_dtype))
    return tf.constant(value, dtype=dtype)


def _promote(x1, x2):
    """x1 and x2 as tensors of one dtype: the promoted one, or the array's for a Python scalar."""
    s1, s2 = isinstance(x1, _SCALAR), isinstance(x2, _SCALAR)
    if s1 != s2:
        if s1:
            x2 = asarray(x2)
            return _scalar(x1, x2.dtype), x2
        x1 = asarray(x1)
        return x1, _scalar(x2, x1.dtype)
    x1, x2 = asarray(x1), asarray(x2)
    dtype = _result_type(x1.dtype, x2.dtype)
    return (x1 if x1.dtype == dtype else tf.cast(x1, dtype),
            x2 if x2.dtype == dtype else tf.cast(x2, dtype))


def _gpu_visible():
    """Whether TensorFlow may place ops on a GPU here (asked once, lazily)."""
    global _GPU
    if _GPU is None:
        _GPU = builtins.bool(tf.config.list_physical_devices("GPU"))
    return _GPU


_GPU = None


# -- creation and data types -----------------------------------------------------------------
def asarray(obj, /, *, dtype=None, device=None, copy=None):
    if device is not None:
        with tf.device(device):
            out = asarray(obj, dtype=dtype, copy=copy)
            return tf.identity(out) if out is obj else out  # the copy lands on `device`
    if isinstance(obj, _ARRAY):
        if dtype is None or obj.dtype == dtype:
            return tf.identity(obj) if copy else obj
        if copy is False:
            raise ValueError(f"asarray: a {obj.dtype.name} array as {tf.as_dtype(dtype).name} "
                             "needs a copy, and copy=False forbids one")
        return tf.cast(obj, dtype)
    if copy is False:  # TensorFlow always copies from host memory (NumPy buffers included)
        raise ValueError("asarray: a tensor cannot share memory with a Python object or buffer, "
                         "and copy=False forbids a copy")
    # NumPy infers the standard's default dtypes ([False, 0] -> int64, floats -> float64) and, for
    # Python scalars, keeps clear of TensorFlow's scalar-constant cache (which confuses 0.0, -0.0)
    return tf.constant(np.asarray(obj, dtype=None if dtype is None else
                                  tf.as_dtype(dtype).as_numpy_dtype))


def astype(x, dtype, /, *, copy=True, device=None):
    if device is not None:
        with tf.device(device):
            return tf.identity(x) if x.dtype == dtype else tf.cast(x, dtype)
    if x.dtype == dtype:
        return tf.identity(x) if copy else x
    return tf.cast(x, dtype)


def zeros_like(x, /, *, dtype=None, device=None):
    if device is not None:
        with tf.device(device):
            return tf.zeros_like(x, dtype=dtype)
    return tf.zeros_like(x, dtype=dtype)


# -- element-wise ------------------------------------------------------------------------------
def abs(x, /):  # noqa: A001
    return tf.math.abs(x)


def exp(x, /):
    return tf.math.exp(x)


def log(x, /):
    return tf.math.log(x)


def log1p(x, /):
    return tf.math.log1p(x)


def sqrt(x, /):
    return tf.math.sqrt(x)


def tanh(x, /):
    return tf.math.tanh(x)


def sign(x, /):
    return tf.math.sign(x)


def equal(x1, x2, /):
    if not (isinstance(x1, _ARRAY) and isinstance(x2, _ARRAY) and x1.dtype == x2.dtype):
        x1, x2 = _promote(x1, x2)
    return tf.math.equal(x1, x2)


def _bound(b, dtype):
    """A clip bound in ``x``'s dtype (the result's): arrays cast, scalars made constants of it
    directly (a cast would round float64 bounds through float32: 1 - 1e-7 -> 0.99999988...)."""
    if isinstance(b, _ARRAY):
        return b if b.dtype == dtype else tf.cast(b, dtype)
    if dtype.is_integer and isinstance(b, int) and not isinstance(b, builtins.bool):
        b = builtins.min(builtins.max(b, dtype.min), dtype.max)  # past the range: no bound
    return _scalar(b, dtype)


def clip(x, /, min=None, max=None):  # noqa: A002
    if min is not None:
        x = tf.math.maximum(x, _bound(min, x.dtype))
    if max is not None:
        x = tf.math.minimum(x, _bound(max, x.dtype))
    return x


def where(condition, x1, x2, /):
    if not (isinstance(x1, _ARRAY) and isinstance(x2, _ARRAY) and x1.dtype == x2.dtype):
        x1, x2 = _promote(x1, x2)
    return tf.where(condition, x1, x2)


# -- reductions --------------------------------------------------------------------------------
# the standard's default accumulation dtypes: smaller signed ints sum as the default int (int64),
# smaller unsigned ones as the unsigned int of its size (uint64); the others keep their dtype
_SUM_DTYPE = {tf.int8: tf.int64, tf.int16: tf.int64, tf.int32: tf.int64,
              tf.uint8: tf.uint64, tf.uint16: tf.uint64, tf.uint32: tf.uint64}


def sum(x, /, *, axis=None, dtype=None, keepdims=False):  # noqa: A001
    if dtype is None:
        dtype = _SUM_DTYPE.get(x.dtype, x.dtype)
    if x.dtype != dtype:
        x = tf.cast(x, dtype)  # before summing: the dtype is there to prevent overflow
    return tf.math.reduce_sum(x, axis=axis, keepdims=keepdims)


def mean(x, /, *, axis=None, keepdims=False):
    if x.dtype.is_integer:  # an integer mean is the default float's, not truncated
        x = tf.cast(x, tf.float64)
    return tf.math.reduce_mean(x, axis=axis, keepdims=keepdims)


def max(x, /, *, axis=None, keepdims=False):  # noqa: A001
    return tf.math.reduce_max(x, axis=axis, keepdims=keepdims)


def argmax(x, /, *, axis=None, keepdims=False):
    if axis is None:
        out = tf.math.argmax(tf.reshape(x, [-1]), axis=0, output_type=tf.int64)
        return tf.reshape(out, [1] * x.shape.rank) if keepdims else out
    out = tf.math.argmax(x, axis=axis, output_type=tf.int64)
    return tf.expand_dims(out, axis) if keepdims else out


# -- linear algebra and indexing ---------------------------------------------------------------
def matmul(x1, x2, /):
    if x1.dtype != x2.dtype:
        x1, x2 = _promote(x1, x2)
    n1, n2 = x1.shape.rank, x2.shape.rank
    if n1 >= 2 and n2 >= 2:
        return tf.linalg.matmul(x1, x2)
    if n1 == 0 or n2 == 0:
        raise ValueError("matmul: the operands must have at least one dimension")
    # a vector is a one-row (x1) or one-column (x2) matrix, and that dimension is removed again
    if n1 == 1 and n2 == 1:
        return tf.reshape(tf.linalg.matmul(x1[None, :], x2[:, None]), [])
    if n1 == 1:
        return tf.squeeze(tf.linalg.matmul(x1[None, :], x2), axis=-2)
    return tf.squeeze(tf.linalg.matmul(x1, x2[:, None]), axis=-1)


def matrix_transpose(x, /):
    return tf.linalg.matrix_transpose(x)


def take(x, indices, /, *, axis=None):
    if axis is None:
        if x.shape.rank != 1:
            raise ValueError("take: axis is required for an array of more than one dimension")
        axis = 0
    # Negative indices count from the end. An index out of range is an error everywhere (the
    # standard leaves it open; a GPU's gather gives 0 for it without a word).
    if tf.executing_eagerly():
        if not _gpu_visible():
            try:  # the common case, one op: the CPU kernel refuses negative or too large indices
                return tf.gather(x, indices, axis=axis)
            except tf.errors.InvalidArgumentError:
                pass  # (TensorFlow logs the refusal at its default log level)
        # the indices read on the host (on a GPU, waiting for them); on the CPU only once its
        # kernel has refused them, so that the common case pays nothing
        idx = indices.numpy() if isinstance(indices, tf.Tensor) else np.asarray(indices)
        n = x.shape[axis]
        if idx.size and idx.min() < 0:
            idx = np.where(idx < 0, idx + n, idx)
            indices = tf.constant(idx)
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise IndexError(f"take: an index is out of range for axis {axis} of size {n}")
        return tf.gather(x, indices, axis=axis)
    # traced: the wrap is three small ops on the indices; a graph that may run on a GPU also
    # asserts the range, one on a CPU relies on its kernel's check. Under XLA (jit_compile)
    # assertions are dropped and gather clamps indices, on any device.
    indices = tf.convert_to_tensor(indices)
    n = x.shape[axis]
    if n is None:
        n = tf.shape(x, out_type=indices.dtype)[axis]
    indices = tf.where(indices < 0, indices + n, indices)
    if _gpu_visible():
        unsigned = tf.uint32 if indices.dtype.size <= 4 else tf.uint64
        in_range = tf.cast(indices, unsigned) < tf.cast(n, unsigned)  # a negative one: huge
        check = tf.debugging.Assert(tf.reduce_all(in_range), ["take: an index is out of range"])
        # the gather waits for the check: as independent nodes either may run first, and a
        # GPU's gather, which checks nothing, would return zeros before the check could fail
        with tf.control_dependencies([check]):
            indices = tf.identity(indices)
    return tf.gather(x, indices, axis=axis)
