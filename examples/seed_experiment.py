"""Replay the seed article: the Keras model against the author's own NumPy MLP, and what each fix
buys.

The article trained two models on MNIST: a Keras/TF2 model (the ``seed-keras`` preset) and the
author's hand-written NumPy MLP (the ``seed-myann`` preset: logloss, SGD, summed gradients, a
full pass over the training set every epoch). The NumPy MLP started 6x slower than Keras at batch
500 and came within 1.05x after two changes: float32 instead of float64, and no delta propagated
into the input layer. This script measures the author's MLP with each fix switched on and off,
beside the Keras model, every measurement in a fresh process, interleaved:

    python examples/seed_experiment.py --dataset fashion-mnist --out results/seed

Rows: the author's MLP as it started (float64, input delta), with one fix, with both; Keras.
Two bench runs, one per preset, in ``OUT/seed-keras`` and ``OUT/seed-myann``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mlp_core.bench import stats
from mlp_core.bench.config import BenchConfig
from mlp_core.bench.runner import print_progress, run_benchmark
from mlp_core.bench.summary import summarize

MYANN = {
    "numpy+f64+input-delta": "the author's MLP as it started: float64, input delta",
    "numpy+f64": "float64, no input delta",
    "numpy+input-delta": "float32, input delta",
    "numpy": "float32, no input delta (both fixes)",
}
KERAS = {"keras": "the Keras model (float32)", "numpy": "mlp-core numpy, the Keras model"}


def config(preset_name: str, impls: list[str], args: argparse.Namespace) -> BenchConfig:
    return BenchConfig.from_preset(preset_name, dataset=args.dataset, epochs=args.epochs,
                                   impls=impls,
                                   batch_sizes=[int(b) for b in args.batch_sizes.split(",")],
                                   repeats=args.repeat, floor=False, native_blas=args.native_blas)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="fashion-mnist")
    p.add_argument("--epochs", type=int, default=35)
    p.add_argument("--batch-sizes", default="500,10000")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--out", default="results/seed")
    p.add_argument("--native-blas", action="store_true",
                   help="unset the OpenBLAS kernel pin in the measurements (as mlp-core bench)")
    args = p.parse_args()

    summaries = {}
    for preset, impls in (("seed-keras", KERAS), ("seed-myann", MYANN)):
        out = Path(args.out) / preset
        rows, _ = run_benchmark(config(preset, list(impls), args), out,
                                progress=print_progress)  # (writes each run's report.html)
        summaries[preset] = {(s["impl"], s["batch_size"]): s for s in summarize(rows)}

    for bs in [int(b) for b in args.batch_sizes.split(",")]:
        keras = summaries["seed-keras"].get(("keras", bs))
        print(f"\nbatch {bs}:")
        for preset, impls in (("seed-keras", KERAS), ("seed-myann", MYANN)):
            for impl, what in impls.items():
                s = summaries[preset].get((impl, bs))
                if s is None:
                    print(f"  {what:55s} not measured")
                    continue
                # two runs (one per preset): the ratio of medians, with a bootstrap interval
                ratio = (stats.fmt_ratio(stats.unpaired_ratio(list(s["rounds"].values()),
                                                              list(keras["rounds"].values())))
                         + " Keras" if keras else "")
                print(f"  {what:55s} {s['median_s']:7.2f} s  {ratio:28s} "
                      f"test acc {s['test_accuracy']:.4f}")


if __name__ == "__main__":
    main()
