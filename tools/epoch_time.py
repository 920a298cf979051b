"""Median batch-loop seconds per epoch of a real fit (before/after checks of one optimisation).

    python tools/epoch_time.py [backend] [batch_size ...]
"""

import statistics
import sys

from mlp_core import MLP, get_backend, load_dataset

# the backend named, else the one selection picks ($MLP_BACKEND, else the default)
backend = get_backend(sys.argv[1] if len(sys.argv) > 1 else None).name
ds = load_dataset("fashion-mnist")
for bs in [int(b) for b in sys.argv[2:]] or [500, 10000]:
    model = MLP([784, 70, 30, 10], backend=get_backend(backend))
    h = model.fit(ds.x_train, ds.y_train, epochs=10, batch_size=bs, l2=[0.01, 0.01, 0.0],
                  verbose=False)
    times = h.history["time_batches"][2:]
    print(f"{backend} batch {bs}: median {1000 * statistics.median(times):.1f} ms/epoch "
          f"(min {1000 * min(times):.1f})")
