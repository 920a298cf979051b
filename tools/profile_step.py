"""Per-part time of one epoch of the train step on a backend, op by op (a profiling aid, not a
benchmark: each part is synchronized, so compiled backends run eagerly here).

    python tools/profile_step.py [--backend NAME] [--dtype DTYPE] [--float32-data]
                                 [--batch-sizes 500,10000]

The images are resident as uint8 pixels, scaled after the gather, as ``fit`` keeps them;
``--float32-data`` keeps the scaled float32 array instead (the path before pixels).
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from time import perf_counter

from mlp_core import MLP, get_backend, load_dataset
from mlp_core.network import backward, count_correct, forward, penalty
from mlp_core.optimizers import RMSprop
from mlp_core.pixels import take_rows, to_device


def profile(backend: str, batch_size: int, dtype: str, pixels: bool, epochs: int = 5) -> dict:
    be = get_backend(backend)
    with be.precision_scope(MLP([1, 1], dtype=dtype, backend=be).variable_dtype):
        return _profile(be, batch_size, dtype, pixels, epochs)


def _profile(be, batch_size: int, dtype: str, pixels: bool, epochs: int) -> dict:
    ds = load_dataset("fashion-mnist", as_pixels=pixels)
    model = MLP([784, 70, 30, 10], backend=be, dtype=dtype)
    model.l2 = (0.01, 0.01, 0.0)  # the seed-keras penalties
    net = model._network()
    opt = RMSprop()
    x_all = to_device(be, ds.x_train, model.variable_dtype)
    y_all = be.asarray(model._one_hot(ds.y_train), model.variable_dtype)
    params, state = model.params, opt.init_state(be, model.params, model.variable_dtype)
    n = len(ds.x_train)
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
            x = timed("gather", take_rows, be, x_all, idx, net, params[0])
            y = timed("gather", be.gather_rows, y_all, idx)
            outs, z = timed("forward", forward, be, net, params, x)
            timed("metrics", lambda o, z, y, p: (
                net.loss.value_sum(be, o[-1], z, y, net.activations[-1]),
                penalty(be, net, p), count_correct(be, o[-1], y)), outs, z, y, params)
            grads = timed("backward", backward, be, net, params, outs, z, y)
            params, state = timed("optimizer", opt.apply, be, params, grads, state)
    return {k: v / epochs for k, v in t.items()}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--float32-data", action="store_true")
    parser.add_argument("--batch-sizes", default="500,10000")
    args = parser.parse_args()
    backend = get_backend(args.backend).name
    for bs in [int(b) for b in args.batch_sizes.split(",")]:
        parts = profile(backend, bs, args.dtype, not args.float32_data)
        total = sum(parts.values())
        print(f"{backend} {args.dtype} batch {bs}: {total * 1000:.1f} ms/epoch  " + "  ".join(
            f"{k} {v * 1000:.1f} ({100 * v / total:.0f}%)" for k, v in parts.items()))
