"""Accuracy parity: the seed-keras model on mlp-core's backends and on Keras, over several seeds.

    python examples/accuracy_parity.py --dataset fashion-mnist --seeds 0,1,2 --out results/parity

For each seed, one bench run (``OUT/seed-N``) trains the article's Keras model (the seed-keras
preset) with each implementation, from the same initial weights; mlp-core's backends also see the
same batches, Keras shuffles with its own generator. Prints the test accuracy per seed and the mean
per implementation as a Markdown table.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from mlp_core.bench.config import BenchConfig
from mlp_core.bench.runner import print_progress, run_benchmark


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="fashion-mnist")
    p.add_argument("--impl", default="numpy,tensorflow,keras")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--epochs", type=int, default=35)
    p.add_argument("--out", default="results/parity")
    args = p.parse_args()

    impls = [i for i in args.impl.split(",") if i]
    seeds = [int(s) for s in args.seeds.split(",")]
    acc: dict[str, list[float]] = {i: [] for i in impls}
    for seed in seeds:
        cfg = BenchConfig(dataset=args.dataset, seed=seed, epochs=args.epochs, impls=impls,
                          batch_sizes=[args.batch_size], repeats=1, floor=False)
        rows, skipped = run_benchmark(cfg, Path(args.out) / f"seed-{seed}", progress=print_progress)
        for r in rows:
            if r.get("status") == "ok":
                acc[r["impl"]].append(r["test_accuracy"])

    print("\n| implementation | " + " | ".join(f"seed {s}" for s in seeds) + " | mean |")
    print("| --- |" + " --- |" * (len(seeds) + 1))
    for impl, values in acc.items():
        if values:
            cells = " | ".join(f"{v:.4f}" for v in values)
            print(f"| {impl} | {cells} | {statistics.mean(values):.4f} |")


if __name__ == "__main__":
    main()
