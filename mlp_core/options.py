"""Command-line options shared by ``mlp-core train`` and ``mlp-core bench``.

This module imports no array library (the registry is read when the parser is built), so that
``mlp-core`` answers Ctrl-C during start-up with one line.

Options that a preset sets default to None here; :func:`resolve_options` takes each one the user
did not give from the preset (``Preset.resolve``), so an explicit option always wins over the
preset, and each value knows where it came from.
"""

from __future__ import annotations

import argparse
import math
import sys
import textwrap
from typing import NoReturn

from .presets import DEFAULT_PRESET, PRESET_OPTIONS, PRESETS, Resolved, get_preset


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, ``mlp-core: error: ...``, and exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"mlp-core: error: {message} (see {self.prog} --help)\n")


def list_items(text: str) -> list[str]:
    """``"a, b"`` -> ``["a", "b"]``; an empty list or an empty entry (``"8,,8"``, ``"8,"``) is
    an error, never dropped: the user meant something there."""
    items = [part.strip() for part in text.split(",")]
    if not any(items):
        raise argparse.ArgumentTypeError("expected a comma-separated list, got nothing")
    if not all(items):
        raise argparse.ArgumentTypeError(f"an empty entry in the list {text!r}")
    return items


def int_list(text: str) -> list[int]:
    """``"70,30"`` -> ``[70, 30]``: positive integers."""
    items = list_items(text)
    try:
        values = [int(v) for v in items]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def penalty_value(text: str) -> float | list[float]:
    """``"0.01"`` (every weight layer) or ``"0.01,0.01,0"`` (one per weight layer), each >= 0."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number or comma-separated numbers, got {text!r}") from None
    if not all(math.isfinite(v) and v >= 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected finite numbers >= 0, got {text!r}")
    return values[0] if len(values) == 1 else values


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def preset_help() -> str:
    lines = [f"{name}: {p.summary}" for name, p in PRESETS.items()]
    return f"defaults for the options below (default: {DEFAULT_PRESET}); " + "; ".join(lines)


def _shown(value) -> str:
    return ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def presets_epilog() -> str:
    """Every preset and each default it sets, for ``--help``."""
    lines = ["presets (an option given explicitly overrides the preset's value):"]
    for name, preset in PRESETS.items():
        settings = ", ".join(f"{k} {_shown(v)}" for k, v in preset.settings().items())
        lines.append(textwrap.fill(f"{name}: {settings}", width=90, initial_indent="  ",
                                   subsequent_indent="    "))
    return "\n".join(lines)


def _from_preset(key: str) -> str:
    """The end of a preset option's help: where its default comes from."""
    value = get_preset(DEFAULT_PRESET).settings()[key]
    shown = "none" if value is None else _shown(value)
    return f" (default: the preset's; {DEFAULT_PRESET}: {shown})"


def add_model_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model and training (defaults: the preset's; see --preset)")
    g.add_argument("--preset", default=DEFAULT_PRESET, help=preset_help())
    g.add_argument("--dataset", default="fashion-mnist",
                   help="mnist, fashion-mnist, synthetic (with --samples, --features, --classes) "
                   "or PATH.npz holding x_train, y_train, x_test, y_test (default: %(default)s)")
    g.add_argument("--samples", type=positive_int, help="synthetic: training rows")
    g.add_argument("--features", type=positive_int, help="synthetic: values per row")
    g.add_argument("--classes", type=positive_int,
                   help="synthetic: classes, at least 2 (default: 10)")
    g.add_argument("--data-dir",
                   help="a folder with the dataset files; when given, it must hold them")
    g.add_argument("--scaler", help="divide255, standard, minmax, normalize or none"
                   + _from_preset("scaler"))
    g.add_argument("--layers", type=int_list, help="hidden layer sizes, e.g. 70,30"
                   + _from_preset("layers"))
    g.add_argument("--activation", help="hidden activation: sigmoid, tanh, relu, identity"
                   + _from_preset("activation"))
    g.add_argument("--output", help="output activation: sigmoid, softmax, tanh, relu, identity"
                   + _from_preset("output"))
    g.add_argument("--loss", help="cce, cce-normalized, logloss, binary_crossentropy or mse"
                   + _from_preset("loss"))
    g.add_argument("--reduction", choices=["mean", "sum"],
                   help="combine a batch's losses by mean (Keras) or sum (the article's MLP)"
                   + _from_preset("reduction"))
    g.add_argument("--init", help="glorot, he, sqrt_nodes or const" + _from_preset("init"))
    g.add_argument("--init-scale", type=finite_float, help="the f of the init"
                   + _from_preset("init_scale"))
    g.add_argument("--epochs", type=int, help="passes over the training set"
                   + _from_preset("epochs"))
    g.add_argument("--optimizer", help="sgd, rmsprop or adam" + _from_preset("optimizer"))
    g.add_argument("--lr", "--learning-rate", dest="learning_rate", type=float,
                   help="learning rate (default: the preset's for its optimizer, else the "
                   "optimizer's own, Keras's)")
    g.add_argument("--momentum", type=float, help="SGD momentum (default: as --lr)")
    g.add_argument("--decay", type=float,
                   help="learning-rate decay: lr / (1 + decay * t) (default: as --lr)")
    g.add_argument("--l1", type=penalty_value, default=0.0,
                   help="L1 penalty: one number for every weight layer, or one per layer "
                   "(e.g. 0,0,0.01) (default: 0)")
    g.add_argument("--l2", type=penalty_value,
                   help="L2 penalty: one number for every weight layer, or one per layer "
                   "(e.g. 0.01,0.01,0) (default: the preset's; seed-keras: 0.01 on each hidden "
                   "kernel, following --layers)")
    g.add_argument("--seed", type=int, default=0, help="weights and shuffling (default: 0)")
    g.add_argument("--dtype", default="float32",
                   help="float32, float64 or mixed_bfloat16 (matrix products in bfloat16, the "
                   "rest float32; not on numpy: docs/precision.md) (default: float32)")


def resolve_options(args: argparse.Namespace) -> Resolved:
    """Every preset option: the user's where given, else ``args.preset``'s (see
    ``Preset.resolve``). ``args`` itself is left as parsed."""
    return get_preset(args.preset).resolve({k: getattr(args, k, None) for k in PRESET_OPTIONS})


def describe_options(resolved: Resolved) -> str:
    """``preset seed-keras; you set epochs 3, layers 16`` for the start of a run."""
    given = resolved.given()
    mine = ", ".join(f"{k} {_shown(v)}" for k, v in given.items())
    return f"preset {resolved.preset}" + (f"; you set {mine}" if mine else "")


def backend_names() -> str:
    from . import backends

    return ", ".join(backends.REGISTRY)


def mode_names() -> list[str]:
    from . import backends

    return sorted({m for e in backends.REGISTRY.values() for m in e.modes})


def add_backend_args(p: argparse.ArgumentParser) -> None:
    from . import backends

    g = p.add_argument_group("backend")
    g.add_argument("--backend", help=f"{backend_names()} (default: $MLP_BACKEND, else numpy)")
    g.add_argument("--device", help="cpu or gpu (default: $MLP_DEVICE, else the backend's first)")
    g.add_argument("--threads", type=positive_int, help="compute threads (BLAS / intra-op)")
    g.add_argument("--mode", choices=mode_names(),
                   help="backends with modes (" + ", ".join(
                       f"{e.name}: {'/'.join(e.modes)}" for e in backends.REGISTRY.values()
                       if e.modes) + "); the first is the default")
    g.add_argument("--xla", action="store_true", help="TensorFlow: compile with XLA (jit_compile)")


def backend_options(args: argparse.Namespace) -> dict:
    opts = {}
    if args.threads is not None:
        opts["threads"] = args.threads
    if args.mode is not None:
        opts["mode"] = args.mode
    if args.xla:
        opts["jit_compile"] = True
    return opts


def interrupted() -> int:
    print("mlp-core: interrupted", file=sys.stderr)
    return 130
