"""The ``mlp-core`` command: ``train``, ``info`` and ``bench``.

Bad input ends with one line on stderr (``mlp-core: error: ...``) and exit status 2, no traceback.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from .errors import MLPError


def _int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def add_backend_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("backend")
    g.add_argument("--backend", help="numpy, array-api-strict, tensorflow or cupy "
                   "(default: $MLP_BACKEND, else numpy)")
    g.add_argument("--device", help="cpu or gpu (default: $MLP_DEVICE, else the backend's first)")
    g.add_argument("--threads", type=int, help="compute threads (BLAS / TensorFlow intra-op)")
    g.add_argument("--mode", choices=["compiled", "eager"],
                   help="TensorFlow: trace the train step with tf.function (default) or run op by op")
    g.add_argument("--xla", action="store_true", help="TensorFlow: compile with XLA (jit_compile)")


def add_model_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model and training (defaults: the seed experiment)")
    g.add_argument("--dataset", default="fashion-mnist", help="mnist or fashion-mnist (default: %(default)s)")
    g.add_argument("--data-dir", help="folder with the dataset files (see README: where data is found)")
    g.add_argument("--scaler", default="divide255",
                   help="divide255, standard, minmax, normalize or none (default: %(default)s)")
    g.add_argument("--layers", type=_int_list, default=[70, 30],
                   help="hidden layer sizes, e.g. 70,30 (default: 70,30)")
    g.add_argument("--activation", default="sigmoid", help="hidden activation (default: sigmoid)")
    g.add_argument("--output", default="sigmoid", help="output activation (default: sigmoid)")
    g.add_argument("--loss", default="cce", help="cce, cce-normalized, logloss or mse (default: cce)")
    g.add_argument("--init", default="glorot", help="glorot, he, sqrt_nodes or const (default: glorot)")
    g.add_argument("--init-scale", type=float, default=1.0, help="the f of the init (default: 1)")
    g.add_argument("--epochs", type=int, default=35, help="(default: 35)")
    g.add_argument("--optimizer", default="rmsprop", help="sgd, rmsprop or adam (default: rmsprop)")
    g.add_argument("--lr", type=float, help="learning rate (default: Keras's for the optimizer)")
    g.add_argument("--momentum", type=float, help="SGD momentum (default: 0)")
    g.add_argument("--decay", type=float, help="learning-rate decay: lr / (1 + decay * t)")
    g.add_argument("--l1", type=float, default=0.0, help="L1 penalty on weights (default: 0)")
    g.add_argument("--l2", type=float, default=0.01, help="L2 penalty on weights (default: 0.01)")
    g.add_argument("--seed", type=int, default=0, help="weights and shuffling (default: 0)")
    g.add_argument("--dtype", default="float32", help="float32 or float64 (default: float32)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlp-core", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train an MLP and report accuracy and phase times")
    add_model_args(t)
    t.add_argument("--batch-size", type=int, default=500, help="(default: %(default)s)")
    add_backend_args(t)
    g = t.add_argument_group("evaluation and output")
    g.add_argument("--eval-every", type=int, default=0,
                   help="full pass over the test set every N epochs (default: 0, only at the end)")
    g.add_argument("--eval-train", action="store_true", help="full-set passes cover the training set too")
    g.add_argument("--json", metavar="PATH", help="write the training history as JSON")
    g.add_argument("--save", metavar="PATH", help="save the trained model (.npz)")
    g.add_argument("--quiet", action="store_true", help="no per-epoch progress")

    sub.add_parser("info", help="backends, devices, BLAS library and threads available here")

    from .bench.cli import add_bench_parser

    add_bench_parser(sub)
    return parser


def backend_options(args: argparse.Namespace) -> dict:
    opts = {}
    if args.threads is not None:
        opts["threads"] = args.threads
    if args.mode is not None:
        opts["mode"] = args.mode
    if args.xla:
        opts["jit_compile"] = True
    return opts


def cmd_train(args: argparse.Namespace) -> int:
    from .data import load_dataset
    from .model import MLP
    from .selection import get_backend

    be = get_backend(args.backend, args.device, **backend_options(args))
    scaler = None if args.scaler == "none" else args.scaler
    ds = load_dataset(args.dataset, args.data_dir, scaler=scaler)
    model = MLP([ds.x_train.shape[1], *args.layers, ds.n_classes], activation=args.activation,
                output=args.output, loss=args.loss, init=args.init, init_scale=args.init_scale,
                seed=args.seed, dtype=args.dtype, backend=be)
    from .optimizers import get_optimizer

    opt = get_optimizer(args.optimizer, learning_rate=args.lr, momentum=args.momentum,
                        decay=args.decay)
    print(f"{model} on {ds.name} ({ds.x_train.shape[0]} train / {ds.x_test.shape[0]} test, "
          f"from {ds.source}); mode {be.mode}",
          file=sys.stderr)
    history = model.fit(ds.x_train, ds.y_train, epochs=args.epochs, batch_size=args.batch_size,
                        optimizer=opt, l1=args.l1, l2=args.l2,
                        validation_data=(ds.x_test, ds.y_test) if args.eval_every else None,
                        eval_every=args.eval_every, eval_train=args.eval_train, verbose=not args.quiet)
    result = model.evaluate(ds.x_test, ds.y_test)
    history.info["test"] = result
    if args.json:
        history.to_json(args.json)
    if args.save:
        model.save(args.save)
    phases = history.phase_totals()
    print(f"train time {history.train_time:.2f} s (shuffle {phases.get('shuffle', 0):.2f}, "
          f"batches {phases.get('batches', 0):.2f}, eval {phases.get('eval', 0):.2f}) "
          f"over {history.epochs} epochs")
    print(f"test accuracy {result['accuracy']:.4f}  test loss {result['loss']:.4f}")
    if history.stop_reason:
        print(f"mlp-core: training stopped early: {history.stop_reason}", file=sys.stderr)
        return 1
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    import platform

    from . import backends

    from . import __version__

    print(f"mlp-core {__version__}, Python {platform.python_version()}, {platform.machine()}, "
          f"CPU: {cpu_model()}")
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
            extras = ", ".join(f"{k}={v}" for k, v in details.items() if k not in ("backend", "device"))
            print(f"- {name} [{device}]: available; {extras}")
    return 0


def cpu_model() -> str:
    import platform

    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "train":
            return cmd_train(args)
        if args.command == "info":
            return cmd_info(args)
        from .bench.cli import cmd_bench

        return cmd_bench(args)
    except MLPError as exc:
        print(f"mlp-core: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mlp-core: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
