"""The floor: how long the matrix products of an epoch alone take, with the same shapes and library.

Per batch, the products that any implementation of the network must do: one forward product per
layer, one weight-gradient product per layer, one delta product per layer but the first (no delta
into the input layer). Outputs go to preallocated buffers, so nothing but the products is timed.
"""

from __future__ import annotations

from time import perf_counter

import numpy as np


def _batch_sizes(n: int, batch_size: int) -> list[int]:
    return [min(batch_size, n - s) for s in range(0, n, batch_size)]


def _median_epoch(run_epoch, sync, repeats: int) -> float:
    run_epoch()  # warm-up
    sync()
    times = []
    for _ in range(repeats):
        t = perf_counter()
        run_epoch()
        sync()
        times.append(perf_counter() - t)
    return float(np.median(times))


def array_floor(xp, sizes: list[int], n: int, batch_size: int, dtype: str, sync=lambda: None,
                repeats: int = 5) -> float:
    """Seconds per epoch for NumPy-like libraries (NumPy, CuPy) with ``matmul(..., out=)``."""
    rng = np.random.default_rng(0)
    dt = getattr(xp, dtype)
    w = [xp.asarray(rng.random((a, b)), dtype=dt) for a, b in zip(sizes[:-1], sizes[1:])]
    shapes = sorted(set(_batch_sizes(n, batch_size)))
    bufs = {}
    for b in shapes:
        acts = [xp.asarray(rng.random((b, s)), dtype=dt) for s in sizes]  # layer outputs, input first
        bufs[b] = acts, [xp.empty((b, s), dtype=dt) for s in sizes[1:]]
    grads = [xp.empty((a, c), dtype=dt) for a, c in zip(sizes[:-1], sizes[1:])]
    batches = _batch_sizes(n, batch_size)

    def run_epoch():
        for b in batches:
            acts, out = bufs[b]
            for i, wi in enumerate(w):  # forward
                xp.matmul(acts[i], wi, out=out[i])
            for i in reversed(range(len(w))):  # backward: weight gradient, then delta
                xp.matmul(acts[i].T, acts[i + 1], out=grads[i])
                if i > 0:
                    xp.matmul(acts[i + 1], w[i].T, out=out[i - 1])

    return _median_epoch(run_epoch, sync, repeats)


def tensorflow_floor(sizes: list[int], n: int, batch_size: int, dtype: str, device: str,
                     repeats: int = 5) -> float:
    """Seconds per epoch for TensorFlow: the products of all batches in one traced loop."""
    from ..backends.tensorflow_backend import import_tensorflow

    tf = import_tensorflow()
    dt = getattr(tf, dtype)
    rng = np.random.default_rng(0)
    dev = "/GPU:0" if device == "gpu" else "/CPU:0"
    with tf.device(dev):
        w = [tf.constant(rng.random((a, b)), dtype=dt) for a, b in zip(sizes[:-1], sizes[1:])]
        def products(acts):
            # a scalar that depends on every product, so none is pruned from the graph
            total = tf.zeros((), dt)
            for i, wi in enumerate(w):
                total += tf.linalg.matmul(acts[i], wi)[0, 0]
            for i in reversed(range(len(w))):
                total += tf.linalg.matmul(acts[i], acts[i + 1], transpose_a=True)[0, 0]
                if i > 0:
                    total += tf.linalg.matmul(acts[i + 1], w[i], transpose_b=True)[0, 0]
            return total

        def make_acts(b):
            return [tf.constant(rng.random((b, s)), dtype=dt) for s in sizes]

        full, n_full = make_acts(batch_size), n // batch_size
        last = make_acts(n % batch_size) if n % batch_size else None

        @tf.function
        def epoch():
            total = tf.zeros((), dt)
            for _ in tf.range(n_full):
                total += products(full)
            if last is not None:
                total += products(last)
            return total

        def run_epoch():
            epoch().numpy()  # .numpy() waits for the result

        return _median_epoch(run_epoch, lambda: None, repeats)


def measure_floor(library: str, sizes: list[int], n: int, batch_size: int, dtype: str,
                  device: str) -> float:
    """Seconds per epoch of the matrix products alone, for ``library``."""
    if library == "numpy":
        return array_floor(np, sizes, n, batch_size, dtype)
    if library == "cupy":
        import cupy

        return array_floor(cupy, sizes, n, batch_size, dtype,
                           sync=cupy.cuda.get_current_stream().synchronize)
    if library == "tensorflow":
        return tensorflow_floor(sizes, n, batch_size, dtype, device)
    raise ValueError(library)
