"""The array-API subset that the mlp-core core uses, mapped onto low-level TensorFlow ops.

array-api-compat does not cover TensorFlow, and ``tf.experimental.numpy`` carries NumPy's
semantics and overhead; this module is exactly what the core calls, each function one TF op,
signatures as in the array API standard. ``tests/test_tensorflow.py`` checks it op by op against
NumPy. Arithmetic operators (+, -, *, /, comparisons) come from ``tf.Tensor`` itself.
"""

from __future__ import annotations

import tensorflow as tf

float32, float64, int32, int64, bool = tf.float32, tf.float64, tf.int32, tf.int64, tf.bool  # noqa: A001

__array_api_version__ = "2023.12"


def asarray(obj, /, *, dtype=None, device=None, copy=None):
    if isinstance(obj, tf.Tensor):
        out = obj if dtype is None or obj.dtype == dtype else tf.cast(obj, dtype)
        return tf.identity(out) if copy and out is obj else out
    return tf.convert_to_tensor(obj, dtype=dtype)


def astype(x, dtype, /, *, copy=True, device=None):
    return tf.cast(x, dtype)


# element-wise
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
    return tf.math.equal(x1, x2)


def clip(x, /, min=None, max=None):  # noqa: A002
    # the bounds become constants of x's dtype directly: a cast would round float64 bounds
    # through float32 first (1 - 1e-7 -> 0.99999988...)
    if min is not None:
        x = tf.math.maximum(x, tf.constant(min, dtype=x.dtype))
    if max is not None:
        x = tf.math.minimum(x, tf.constant(max, dtype=x.dtype))
    return x


def where(condition, x1, x2, /):
    return tf.where(condition, x1, x2)


def zeros_like(x, /, *, dtype=None, device=None):
    return tf.zeros_like(x, dtype=dtype)


# reductions
def sum(x, /, *, axis=None, dtype=None, keepdims=False):  # noqa: A001
    out = tf.math.reduce_sum(x, axis=axis, keepdims=keepdims)
    return out if dtype is None else tf.cast(out, dtype)


def mean(x, /, *, axis=None, keepdims=False):
    return tf.math.reduce_mean(x, axis=axis, keepdims=keepdims)


def max(x, /, *, axis=None, keepdims=False):  # noqa: A001
    return tf.math.reduce_max(x, axis=axis, keepdims=keepdims)


def argmax(x, /, *, axis=None, keepdims=False):
    if axis is None:
        x, axis = tf.reshape(x, [-1]), 0
    out = tf.math.argmax(x, axis=axis, output_type=tf.int64)
    return tf.expand_dims(out, axis) if keepdims else out


# linear algebra and indexing
def matmul(x1, x2, /):
    return tf.linalg.matmul(x1, x2)


def matrix_transpose(x, /):
    return tf.linalg.matrix_transpose(x)


def take(x, indices, /, *, axis=None):
    if axis is None:
        x, axis = tf.reshape(x, [-1]), 0
    return tf.gather(x, indices, axis=axis)
