"""Interleaved A/B of resident uint8 pixels against the resident float32 array, in one process.

    python tools/pixels_ab.py BACKEND BATCH_SIZE [DTYPE]

Trains two models side by side, one epoch each in turn (8 rounds, the first dropped), one on
``load_dataset(..., as_pixels=True)`` and one on the float32 array, and prints the median and
minimum epoch time of each. A measurement aid for docs/performance.md, not a benchmark: in one
process, alternating, so that this VM's drift hits both alike.
"""

from __future__ import annotations

import statistics
import sys
import time

from mlp_core import MLP, load_dataset

if __name__ == "__main__":
    backend, batch_size = sys.argv[1], int(sys.argv[2])
    dtype = sys.argv[3] if len(sys.argv) > 3 else "float32"
    data = {"pixels": load_dataset("fashion-mnist", as_pixels=True),
            "float32": load_dataset("fashion-mnist")}
    models = {k: MLP([784, 70, 30, 10], backend=backend, dtype=dtype) for k in data}
    times: dict[str, list[float]] = {k: [] for k in data}
    for round_ in range(8):
        for k, ds in data.items():
            t = time.perf_counter()
            models[k].fit(ds.x_train, ds.y_train, epochs=1, batch_size=batch_size,
                          l2=[0.01, 0.01, 0.0], verbose=False)
            if round_:
                times[k].append(time.perf_counter() - t)
    print(f"{backend} {dtype} batch {batch_size}: " + ", ".join(
        f"{k} median {statistics.median(v) * 1e3:.0f} ms/epoch (min {min(v) * 1e3:.0f})"
        for k, v in times.items()))
