"""The mlp-core command: train, info, check, bench, report and compare.

Exit status: 0 when the command did what it was asked; 1 when ``train`` stopped early because
training diverged (the model and history written hold the last good weights), a bench
measurement failed, or ``check`` found a backend that disagrees or crashes; 2 for bad input, with
one line on stderr (``mlp-core: error: ...``) and no traceback; 130 when interrupted (Ctrl-C, one
line ``mlp-core: interrupted``).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import warnings
from collections.abc import Sequence

from .errors import DataWarning, MLPError
from .options import (
    OneLineParser,
    add_backend_args,
    add_model_args,
    backend_options,
    describe_options,
    interrupted,
    positive_int,
    presets_epilog,
    resolve_options,
)
from .presets import MODEL_OPTIONS

EXIT_STOPPED_EARLY = 1


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="mlp-core", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train an MLP and report accuracy and phase times",
                       description="Train an MLP. The defaults are the --preset's (seed-keras: "
                       "the article's Keras model); an option given explicitly overrides it.",
                       epilog=presets_epilog(),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_args(t)
    t.add_argument("--batch-size", type=positive_int, help="rows per batch (the preset's: 500)")
    add_backend_args(t)
    g = t.add_argument_group("evaluation and output")
    g.add_argument("--eval-every", type=int, default=0,
                   help="full pass over the test set every N epochs (default: 0, only at the end)")
    g.add_argument("--eval-train", action=argparse.BooleanOptionalAction,
                   help="full-set passes cover the training set too (seed-myann: every epoch)")
    g.add_argument("--json", metavar="PATH", help="write the training history as JSON")
    g.add_argument("--save", metavar="PATH", help="save the trained model (.npz)")
    g.add_argument("--quiet", action="store_true", help="no per-epoch progress")

    sub.add_parser("info", help="backends, devices, BLAS library and threads available here",
                   description="Lists every backend of the registry with its library version or "
                   "why it is missing, the devices it sees, and this machine: CPU, BLAS library, "
                   "its kernel and threads.")
    c = sub.add_parser("check", help="train a small network on every backend and device here "
                       "and compare it with NumPy float64: what works, not only what is there",
                       description="Trains a small network for two epochs on every backend "
                       "variant and device here (and in mixed_bfloat16 where a backend has it), "
                       "compares its weights with NumPy's in float64 within a stated tolerance, "
                       "and prints a table: which backends work, which are missing and why, "
                       "and which disagree. Exit status 1 if any disagrees or crashes.")
    c.add_argument("--device", choices=["cpu", "gpu", "all"], default="all",
                   help="devices to check (default: %(default)s)")
    c.add_argument("--backend", help="comma-separated backends (default: every one)")
    c.add_argument("--quick", action="store_true",
                   help="skip the variants that compile slowly (torch.compile)")
    c.add_argument("--json", metavar="PATH", help="write the results as JSON")

    from .bench.advise import add_advise_parser
    from .bench.cli import add_bench_parser, add_compare_parser, add_report_parser

    add_bench_parser(sub)
    add_report_parser(sub)
    add_compare_parser(sub)
    add_advise_parser(sub)
    return parser


def cmd_train(args: argparse.Namespace) -> int:
    from .data import SYNTHETIC, dataset_key, dataset_shape, load_dataset, make_scaler
    from .machine import keep_freed_memory
    from .model import MLP, per_layer
    from .optimizers import get_optimizer
    from .selection import get_backend
    from .synthetic import check_sizes
    from .training import TrainingDiverged

    # everything that can be checked is checked before the data is read and training starts
    resolved = resolve_options(args)
    opts = resolved.values
    _check_schedule_and_outputs(args, opts["epochs"])
    opt = get_optimizer(opts["optimizer"], learning_rate=opts["learning_rate"],
                        momentum=opts["momentum"], decay=opts["decay"])
    be = get_backend(args.backend, args.device, **backend_options(args))
    make_scaler(opts["scaler"])
    if dataset_key(args.dataset) == SYNTHETIC:
        check_sizes(args.samples, args.features, args.classes)
    else:
        given = [f"--{n}" for n in ("samples", "features", "classes") if getattr(args, n)]
        if given:
            raise MLPError(f"{', '.join(given)} size the synthetic dataset; give "
                           "--dataset synthetic, or leave them out")
    shape = dataset_shape(args.dataset, args.features, args.classes)
    keep_freed_memory()  # each step's arrays reuse the last one's memory (MLP_MALLOC=system: not)

    def make_model(n_inputs: int, n_classes: int) -> MLP:
        model = MLP([n_inputs, *opts["layers"], n_classes], seed=args.seed, dtype=args.dtype,
                    backend=be, **{k: opts[k] for k in MODEL_OPTIONS})
        per_layer(args.l1, "l1", len(model.layers) - 1)
        per_layer(opts["l2"], "l2", len(model.layers) - 1)
        return model

    # where the dataset's shape is known, the model (made now) checks its options and memory
    # before the data is read; an .npz file's shape is known once it is read
    model = make_model(*shape) if shape else make_model(1, 2) and None
    with warnings.catch_warnings(record=True) as caught:  # said as one line each, below
        warnings.simplefilter("always", DataWarning)
        ds = load_dataset(args.dataset, args.data_dir, scaler=opts["scaler"],
                          samples=args.samples, features=args.features, classes=args.classes,
                          seed=args.seed, as_pixels=True)
    for w in caught:
        print(f"mlp-core: warning: {w.message}", file=sys.stderr)
    model = model or make_model(ds.x_train.shape[1], ds.n_classes)
    print(f"{model} on {ds.name} ({ds.x_train.shape[0]} train / {ds.x_test.shape[0]} test, "
          f"from {ds.source}); {describe_options(resolved)}; mode {be.mode}", file=sys.stderr)
    eval_every = 1 if opts["eval_train"] and not args.eval_every else args.eval_every
    with warnings.catch_warnings():  # a divergence is said once, below, as one line
        warnings.simplefilter("ignore", TrainingDiverged)
        history = model.fit(ds.x_train, ds.y_train, epochs=opts["epochs"],
                            batch_size=opts["batch_size"], optimizer=opt, l1=args.l1,
                            l2=opts["l2"], reduction=opts["reduction"],
                            validation_data=(ds.x_test, ds.y_test) if args.eval_every else None,
                            eval_every=eval_every, eval_train=opts["eval_train"],
                            verbose=not args.quiet)
    result = model.evaluate(ds.x_test, ds.y_test)
    history.info.update(test=result, preset=resolved.preset, options_given=resolved.given())
    if args.json:
        history.to_json(args.json)
    if args.save:
        model.save(args.save)
    print(train_summary(history))
    print(f"test accuracy {result['accuracy']:.4f}  test loss {result['loss']:.4f}")
    if history.stop_reason:  # the outputs above hold the last good weights
        print(f"mlp-core: training stopped early: {history.stop_reason}", file=sys.stderr)
        return EXIT_STOPPED_EARLY
    return 0


def _check_schedule_and_outputs(args: argparse.Namespace, epochs: int) -> None:
    from .fileio import check_writable

    if args.eval_every < 0:
        raise MLPError(f"--eval-every must be >= 0, got {args.eval_every}")
    if epochs < 0:
        raise MLPError(f"--epochs must be >= 0, got {epochs}")
    outputs = [check_writable(p) for p in (args.json, args.save) if p is not None]
    if len(set(outputs)) < len(outputs):
        raise MLPError("--json and --save name the same file")


def train_summary(history) -> str:
    """``train time 6.12 s (shuffle ..., batches ..., eval ...) over 35 epochs``."""
    from .history import BATCHES, COMPILE, EVAL, SHUFFLE

    phases = history.phase_totals()
    compiling = f"compile {phases[COMPILE]:.2f}, " if phases.get(COMPILE) else ""
    epochs = f"{history.epochs_run} epoch{'s' * (history.epochs_run != 1)}"
    if history.undone:
        epochs += f" (epoch {history.undone['epoch']} diverged and was undone)"
    return (f"train time {history.train_time:.2f} s ({compiling}"
            + ", ".join(f"{p} {phases.get(p, 0):.2f}" for p in (SHUFFLE, BATCHES, EVAL))
            + f") over {epochs}")


def cmd_info(args: argparse.Namespace) -> int:
    import platform

    from . import __version__, backends
    from .machine import blas_info, cpu_flags, cpu_model

    blas = blas_info()
    print(f"mlp-core {__version__}, Python {platform.python_version()}, {platform.machine()}, "
          f"CPU: {cpu_model()} ({', '.join(cpu_flags()) or 'no AVX'}); NumPy's BLAS: "
          f"{blas.get('library')} {blas.get('version')} with its {blas.get('architecture')} "
          f"kernel" + (f", pinned by {blas['pins']}" if blas["pins"] else ""))
    for name, entry in backends.REGISTRY.items():
        missing = backends.missing_libraries(name)
        if missing:
            print(f"- {name}: not available ({', '.join(missing)} missing: {entry.install})")
            continue
        for device in entry.devices:
            try:
                details = backends.create(name, device).describe()
            except MLPError as exc:
                print(f"- {name} [{device}]: not available ({exc})")
                continue
            extras = ", ".join(f"{k}={v}" for k, v in details.items()
                               if k not in ("backend", "device"))
            print(f"- {name} [{device}]: available; {extras}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    import json

    from . import backends
    from .check import run_check, table, to_json
    from .fileio import atomic_write_text, check_writable

    names = [n for n in (args.backend or "").split(",") if n.strip()]
    names = [backends.entry(n).name for n in names]  # an unknown name: one error, now
    if args.json:
        check_writable(args.json)

    def progress(result, seconds):
        print(f"{result.variant} [{result.device}]: {result.status} ({seconds:.1f} s)",
              file=sys.stderr, flush=True)

    results = run_check(args.device, names or None, args.quick, progress)
    print(table(results))
    if args.json:
        atomic_write_text(args.json, json.dumps(to_json(results), indent=1))
    failed = [r.variant for r in results if r.failed]
    if failed:
        print(f"mlp-core check: {', '.join(failed)} failed", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    try:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as exc:  # --help, or an argument error already printed on one line
            return int(exc.code or 0)
        if args.command == "train":
            return cmd_train(args)
        if args.command == "info":
            return cmd_info(args)
        if args.command == "check":
            return cmd_check(args)
        from .bench.cli import cmd_bench, cmd_compare, cmd_report

        if args.command == "report":
            return cmd_report(args)
        if args.command == "compare":
            return cmd_compare(args)
        if args.command == "advise":
            from .bench.advise import cmd_advise

            return cmd_advise(args)
        args.command_line = shlex.join(["mlp-core", *(sys.argv[1:] if argv is None else argv)])
        return cmd_bench(args)
    except MLPError as exc:
        print(f"mlp-core: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return interrupted()
    except BrokenPipeError:  # the reader went away (`mlp-core info | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
