"""Train the seed network on every backend available here, side by side with Keras.

    python examples/compare_backends.py --epochs 35 --batch-sizes 500,10000 --out results/compare

The implementations are every tested variant of every backend in the registry worth timing
(not the array-api-strict conformance check) whose library is installed here, plus Keras;
MLP_BACKEND, if set, narrows the list to that backend's variants (plus Keras). A GPU-only backend
without a GPU is skipped with the reason. The same as ``mlp-core bench``, from Python: it
writes the same files, ``report.html`` included.
"""

from __future__ import annotations

import argparse
import os

from mlp_core import backends
from mlp_core.bench.config import BenchConfig
from mlp_core.bench.report import markdown_table
from mlp_core.bench.runner import print_progress, run_benchmark
from mlp_core.bench.summary import summarize


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="fashion-mnist")
    p.add_argument("--epochs", type=int, default=35)
    p.add_argument("--batch-sizes", default="500,10000")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--out", default="results/compare")
    args = p.parse_args()

    chosen = os.environ.get("MLP_BACKEND")
    impls = [v.name for v, e in backends.variants(tested_only=True)
             if e.benchmark and (not chosen or e.name == backends.entry(chosen).name)
             and not backends.missing_libraries(e.name)] + ["keras"]
    cfg = BenchConfig(dataset=args.dataset, epochs=args.epochs, impls=impls,
                      batch_sizes=[int(b) for b in args.batch_sizes.split(",")],
                      repeats=args.repeat, device=os.environ.get("MLP_DEVICE"))
    rows, _ = run_benchmark(cfg, args.out, progress=print_progress)  # (writes report.html)
    print(markdown_table(summarize(rows)))


if __name__ == "__main__":
    main()
