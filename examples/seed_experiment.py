"""Replay the seed experiment: Keras/TF2 against our NumPy MLP, and what each fix buys.

The original hand-written NumPy MLP (784-70-30-10, sigmoid, L2 0.01, 35 epochs) was 6x slower
than Keras at batch 500 until two changes: float32 instead of float64, and no delta propagated
into the input layer. This script measures all four combinations of those two changes against
Keras at batch 500 and 10000, interleaved, each run in a fresh process:

    python examples/seed_experiment.py --dataset fashion-mnist --out results/seed

Rows: numpy+f64+input-delta (the original), numpy+f64, numpy+input-delta, numpy (both fixes).
"""

from __future__ import annotations

import argparse

from mlp_core.bench.report import summarize, write_reports
from mlp_core.bench.runner import BenchConfig, print_progress, run_benchmark

VARIANTS = {
    "numpy+f64+input-delta": "original: float64, delta into the input layer",
    "numpy+f64": "float64, no input delta",
    "numpy+input-delta": "float32, delta into the input layer",
    "numpy": "float32, no input delta (both fixes)",
    "keras": "Keras/TF2 reference (float32)",
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="fashion-mnist")
    p.add_argument("--epochs", type=int, default=35)
    p.add_argument("--batch-sizes", default="500,10000")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--out", default="results/seed")
    args = p.parse_args()

    cfg = BenchConfig(dataset=args.dataset, epochs=args.epochs, impls=list(VARIANTS),
                      batch_sizes=[int(b) for b in args.batch_sizes.split(",")],
                      repeats=args.repeat, floor=False)
    rows, skipped = run_benchmark(cfg, args.out, progress=print_progress)
    write_reports(rows, args.out, skipped)
    summary = summarize(rows)
    for bs in cfg.batch_sizes:
        print(f"\nbatch {bs}:")
        cells = {s["impl"]: s for s in summary if s["batch_size"] == bs}
        base = cells.get("numpy+f64+input-delta")
        for impl, what in VARIANTS.items():
            s = cells.get(impl)
            if s is None:
                print(f"  {what:48s} not measured ({skipped.get(impl, 'failed')})")
                continue
            vs_keras = f"{s['vs_keras']:.2f}x Keras" if s["vs_keras"] else "reference"
            speedup = f", {base['median_s'] / s['median_s']:.2f}x faster than the original" if base else ""
            print(f"  {what:48s} {s['median_s']:7.2f} s  {vs_keras}{speedup}")


if __name__ == "__main__":
    main()
