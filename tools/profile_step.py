"""Per-part time of one epoch of the train step on a backend (profiling aid, not a benchmark).

    python tools/profile_step.py [backend] [batch_size ...]
"""

from __future__ import annotations

import sys
from collections import defaultdict
from time import perf_counter

from mlp_core import MLP, get_backend, load_dataset
from mlp_core.network import backward, count_correct, forward, penalty
from mlp_core.optimizers import RMSprop


def profile(backend: str, batch_size: int, epochs: int = 5) -> dict:
    be = get_backend(backend)
    ds = load_dataset("fashion-mnist")
    model = MLP([784, 70, 30, 10], backend=be)
    model.l2 = (0.01, 0.01, 0.0)  # the seed-keras penalties
    net = model._network()
    opt = RMSprop()
    x_all = be.asarray(ds.x_train, "float32")
    y_all = be.asarray(model._one_hot(ds.y_train), "float32")
    params, state = model.params, opt.init_state(be, model.params, "float32")
    n = x_all.shape[0]
    t = defaultdict(float)

    def timed(name, fn, *a):
        s = perf_counter()
        out = fn(*a)
        be.synchronize()
        t[name] += perf_counter() - s
        return out

    for _ in range(epochs):
        perm = be.asarray(model.rng.permutation(n), "int64")
        for start in range(0, n, batch_size):
            idx = perm[start:min(start + batch_size, n)]
            x = timed("gather", be.gather_rows, x_all, idx)
            y = timed("gather", be.gather_rows, y_all, idx)
            outs, z = timed("forward", forward, be, net, params, x)
            timed("metrics", lambda o, z, y, p: (
                net.loss.value_sum(be, o[-1], z, y, net.activations[-1]),
                penalty(be, net, p), count_correct(be, o[-1], y)), outs, z, y, params)
            grads = timed("backward", backward, be, net, params, outs, z, y)
            params, state = timed("optimizer", opt.apply, be, params, grads, state)
    return {k: v / epochs for k, v in t.items()}


if __name__ == "__main__":
    backend = get_backend(sys.argv[1] if len(sys.argv) > 1 else None).name
    for bs in [int(b) for b in sys.argv[2:]] or [500, 10000]:
        parts = profile(backend, bs)
        total = sum(parts.values())
        print(f"{backend} batch {bs}: {total * 1000:.1f} ms/epoch  " + "  ".join(
            f"{k} {v * 1000:.1f} ({100 * v / total:.0f}%)" for k, v in parts.items()))
