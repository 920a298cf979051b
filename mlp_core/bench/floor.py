"""The floor: how long the matrix products of an epoch alone take, with the same shapes and backend.

Per batch, the products that any implementation of the network must do: one forward product per
layer, one weight-gradient product per layer, one delta product per layer but the first (no delta
into the input layer). The products go through the backend's own ``matmul`` kernel (into reused
buffers where the backend writes into ``out``) inside the backend's own ``compile``, so a traced
backend runs them as one graph loop, as it runs training. Each product feeds one element into a
running total, so that no compiler can prune it; that costs one scalar read per product.
"""

from __future__ import annotations

from time import perf_counter

import numpy as np

from ..backends.base import Backend


def _median_epoch(run_epoch, repeats: int) -> float:
    run_epoch()  # warm-up (and trace)
    times = []
    for _ in range(repeats):
        t = perf_counter()
        run_epoch()
        times.append(perf_counter() - t)
    return float(np.median(times))


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
    rng = np.random.default_rng(0)

    def arr(*shape):
        return be.asarray(rng.random(shape), dtype)

    w = [arr(a, b) for a, b in zip(sizes[:-1], sizes[1:])]

    def buffers(b):  # a batch's layer outputs (input first), product outputs, weight gradients
        return ([arr(b, s) for s in sizes], [arr(b, s) for s in sizes[1:]],
                [arr(a, c) for a, c in zip(sizes[:-1], sizes[1:])])

    def products(bufs, total):
        acts, outs, grads = bufs
        for i, wi in enumerate(w):  # forward
            total = total + be.matmul(acts[i], wi, out=outs[i])[0, 0]
        for i in reversed(range(len(w))):  # backward: weight gradient, then delta
            total = total + be.matmul(acts[i], acts[i + 1], transpose_a=True, out=grads[i])[0, 0]
            if i > 0:
                total = total + be.matmul(acts[i + 1], w[i], transpose_b=True,
                                          out=outs[i - 1])[0, 0]
        return total

    n_full, rest = divmod(n, batch_size)
    full, last = buffers(batch_size), buffers(rest) if rest else None

    def epoch(total):
        for _ in be.batch_starts(n_full * batch_size, batch_size):
            total = products(full, total)
        if last is not None:
            total = products(last, total)
        return total

    compiled = be.compile(epoch)

    def run_epoch():
        total = compiled(be.asarray(0.0, dtype))
        be.synchronize()
        be.to_numpy(total)  # waits for the result where the backend runs asynchronously

    return _median_epoch(run_epoch, repeats)
