"""The floor: how long the matrix products of an epoch alone take, with the same shapes and backend.

Per batch, the products that any implementation of the network must do: one forward product per
layer, one weight-gradient product per layer, one delta product per layer but the first (no delta
into the input layer). The products go through the backend's own ``matmul`` kernel (into reused
buffers where the backend writes into ``out``) inside the backend's own ``compile`` and batch loop
(``epoch_loop``), so a traced backend runs them as one graph loop, as it runs training.

The products chain as in training: each layer's output feeds the next product, the deltas flow
back, and each weight gradient becomes the next batch's weight. So every product is needed for
the result and no batch repeats the last one: no compiler can prune a product or hoist the
batches' products out of the loop (XLA would hoist products of the same arrays in every batch).
The values start in [1, 2) and grow until they overflow (inf, then NaN), which costs nothing; they
never shrink into the subnormal numbers that would slow a CPU down.
"""

from __future__ import annotations

from time import perf_counter

import numpy as np

from ..backends.base import Backend
from . import stats


def _median_epoch(run_epoch, repeats: int) -> float:
    run_epoch()  # warm-up (and trace)
    times = []
    for _ in range(repeats):
        t = perf_counter()
        run_epoch()
        times.append(perf_counter() - t)
    return stats.median_of(times)


def products_per_epoch(sizes: list[int], n: int, batch_size: int) -> float:
    """Floating-point operations of the floor's products in one epoch (2·m·k·n per product)."""
    flops = 0.0
    for start in range(0, n, batch_size):
        b = min(batch_size, n - start)
        for i, (a, c) in enumerate(zip(sizes[:-1], sizes[1:])):
            flops += 2 * b * a * c * (3 if i > 0 else 2)  # forward, weight gradient, delta
    return flops


def measure_floor(be: Backend, sizes: list[int], n: int, batch_size: int, dtype: str,
                  repeats: int = 5) -> float:
    """Seconds per epoch of the matrix products alone on backend ``be``."""
    with be.precision_scope(dtype):
        return _measure_floor(be, sizes, n, batch_size, dtype, repeats)


def _measure_floor(be: Backend, sizes: list[int], n: int, batch_size: int, dtype: str,
                   repeats: int) -> float:
    rng = np.random.default_rng(0)

    def arr(*shape):
        return be.asarray(1.0 + rng.random(shape), dtype)

    def activations(b):  # a batch's layer outputs, the input first; the deltas reuse them
        return [arr(b, s) for s in sizes]

    layers = range(len(sizes) - 1)

    def products(w, spare, acts):
        """One batch: forward, then backward; returns the next batch's weights and buffers."""
        w, spare, acts = list(w), list(spare), list(acts)
        for i in layers:  # forward
            acts[i + 1] = be.matmul(acts[i], w[i], out=acts[i + 1])
        for i in reversed(layers):  # backward: weight gradient, then delta (into the activation)
            grad = be.matmul(acts[i], acts[i + 1], transpose_a=True, out=spare[i])
            if i > 0:
                acts[i] = be.matmul(acts[i + 1], w[i], transpose_b=True, out=acts[i])
            w[i], spare[i] = grad, w[i]  # the gradient is the next batch's weight
        return w, spare, acts

    def batch(carry, _rows):
        return products(*carry)

    def epoch(w, spare, full, last, rows):
        w, spare, full = be.epoch_loop(batch, (w, spare, full), rows, batch_size)
        if last is not None:
            w, spare, last = products(w, spare, last)
        return w, spare, full, last

    n_full, rest = divmod(n, batch_size)
    state = ([arr(a, c) for a, c in zip(sizes[:-1], sizes[1:])],  # weights
             [arr(a, c) for a, c in zip(sizes[:-1], sizes[1:])],  # weight-gradient buffers
             activations(batch_size), activations(rest) if rest else None)
    rows = be.asarray(np.arange(n_full * batch_size), "int64")  # the products ignore which rows
    compiled = be.compile(epoch)

    def run_epoch():
        nonlocal state
        with np.errstate(all="ignore"):  # NumPy's warnings about the overflowing values
            state = compiled(*state, rows)
        be.synchronize()
        be.to_numpy(state[0][0])  # waits for the result where the backend runs asynchronously

    return _median_epoch(run_epoch, repeats)


def sgemm_peak_gflops(size: int = 2048, repeats: int = 3) -> float:
    """This machine's float32 matrix-product rate with NumPy's BLAS: the best of a few large
    square products (the yardstick the floors and implementations are compared with)."""
    rng = np.random.default_rng(0)
    a, b = (rng.random((size, size), dtype=np.float32) for _ in range(2))
    out = np.empty_like(a)
    np.matmul(a, b, out=out)  # warm-up
    best = min(_timed(lambda: np.matmul(a, b, out=out)) for _ in range(repeats))
    return 2 * size**3 / best / 1e9


def _timed(fn) -> float:
    t = perf_counter()
    fn()
    return perf_counter() - t
