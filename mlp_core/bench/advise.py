"""``mlp-core advise``: how fast each backend will train a model here, predicted from the
calibration (:mod:`prediction`), before anything is trained.

Each backend is calibrated, where the stored calibration lacks something, in a fresh process
of its own (the bench's worker), so that its library starts alone with the thread count asked.
"""

from __future__ import annotations

import argparse
import sys
from time import perf_counter
from typing import TYPE_CHECKING

from .. import backends
from ..errors import MLPError, choice_error
from ..options import int_list, list_items, positive_int
from ..presets import DEFAULT_PRESET, get_preset

if TYPE_CHECKING:  # (the parser is built without NumPy; the command imports these)
    from .calibration import Store
    from .prediction import Prediction, Step

#: the backends advise compares by default: each benchmarked CPU library's default variant
DEFAULT_BACKENDS = tuple(e.variants[0].name for e in backends.REGISTRY.values()
                         if e.benchmark and "cpu" in e.devices)
TIE_ERROR = 0.10  # at least this relative error is assumed of any prediction (the target's)
CALIBRATE_TIMEOUT_S = 600.0


def add_advise_parser(sub) -> None:
    a = sub.add_parser(
        "advise", help="predict each backend's training speed for a model, before training",
        description="Predicts the seconds per training step and per epoch of the model on each "
        "backend here, from a per-operation calibration of this machine (made on first use, "
        f"15-25 s per backend here, and kept; docs/prediction.md). The training is the "
        f"{DEFAULT_PRESET} preset's: sigmoid layers, categorical cross-entropy, RMSprop, L2 "
        "0.01 on the hidden kernels.")
    a.add_argument("--layers", type=int_list, required=True,
                   help="hidden layer sizes, e.g. 512,512")
    a.add_argument("--batch-size", type=positive_int, required=True)
    a.add_argument("--features", type=positive_int, default=784, help="inputs (default: 784)")
    a.add_argument("--classes", type=positive_int, default=10, help="outputs (default: 10)")
    a.add_argument("--rows", type=positive_int, default=60_000,
                   help="training rows per epoch (default: 60000)")
    a.add_argument("--backend", type=list_items, default=list(DEFAULT_BACKENDS),
                   help=f"comma-separated backend variants (default: {','.join(DEFAULT_BACKENDS)})")
    a.add_argument("--threads", type=positive_int, help="threads (default: the library's own)")
    a.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    a.add_argument("--calibration", metavar="FILE",
                   help="the calibration file to use and extend (default: one per machine in "
                   "$MLP_CALIBRATION_DIR or ~/.cache/mlp-core)")


def check_backends(names: list[str]) -> list[str]:
    """The variants named, each known and benchmarkable on the CPU; one clear error if not."""
    known = [v.name for v, e in backends.variants() if e.benchmark and "cpu" in e.devices]
    for name in names:
        if name not in known:
            raise choice_error("backend", name, known)
    return list(dict.fromkeys(names))


def step_of(args: argparse.Namespace) -> Step:
    from .prediction import Step

    if args.classes < 2:
        raise MLPError(f"--classes must be at least 2, got {args.classes}")
    preset = get_preset(DEFAULT_PRESET)
    settings, hidden = preset.settings(), tuple(args.layers)
    return Step((args.features, *hidden, args.classes), args.batch_size, args.dtype,
                settings["activation"], settings["output"], settings["loss"],
                settings["optimizer"], (), tuple(preset.l2(len(hidden))),
                settings["reduction"], False, args.rows)


def cmd_advise(args: argparse.Namespace) -> int:
    from .calibration import Store
    from .prediction import Prediction
    from .process import WorkerTimeout, run_worker
    from .runner import worker_env

    names = check_backends(args.backend)
    step = step_of(args)
    store = Store(args.calibration)  # a foreign or damaged file: one error, before any work
    missing = {n: backends.missing_libraries(backends.variant(n)[1].name) for n in names}
    started = perf_counter()
    results: dict[str, Prediction] = {}
    for name in names:
        if missing[name]:
            print(f"mlp-core advise: skipping {name}: {', '.join(missing[name])} not installed",
                  file=sys.stderr)
            continue
        job = {"calibrate": name, "threads": args.threads, "dtype": args.dtype,
               "steps": [step.to_dict()], "store": str(store.path), "progress": True}
        try:
            out = run_worker(job, worker_env({}), CALIBRATE_TIMEOUT_S, show_progress=True)
        except WorkerTimeout as exc:
            raise MLPError(f"calibrating {name} {exc}") from None
        if out.get("status") != "ok":
            raise MLPError(f"calibrating {name}: {out.get('error')}")
        results[name] = Prediction(**out["predictions"][0])
    if not results:
        raise MLPError("no backend to advise on: none of them is installed (see above)")
    print(answer(step, results, args.threads, store, perf_counter() - started))
    return 0


def answer(step: Step, results: dict[str, Prediction], threads: int | None, store: Store,
           seconds: float) -> str:
    """The table of predictions and the recommendation, as Markdown."""
    from .calibration import describe
    from .prediction import steps_per_epoch

    per_epoch = steps_per_epoch(step.n_rows or step.batch_size, step.batch_size)
    ranked = sorted(results.items(), key=lambda kv: kv[1].seconds)
    lines = [f"Predicted for {'-'.join(map(str, step.sizes))}, batch {step.batch_size}, "
             f"{step.dtype}, {threads or 'default'} threads, {per_epoch} steps per epoch "
             f"({step.n_rows} rows), on {describe(store.here)}:", "",
             "| backend | ms per step | s per epoch | products | element-wise | overhead | "
             "model error |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, p in ranked:
        def share(part: float, total: float = p.seconds) -> str:
            return f"{100 * part / total:.0f}%"

        lines.append(f"| {name} | {1e3 * p.seconds:.3g} | {p.seconds * per_epoch:.3g} | "
                     f"{share(p.products)} | {share(p.elementwise)} | {share(p.overhead)} | "
                     + (f"{100 * p.error:.0f}%" if p.error is not None else "") + " |")
    lines.append("")
    (best, first), rest = ranked[0], ranked[1:]
    if not rest:
        lines.append(f"Only {best} was predicted.")
    else:
        runner, second = rest[0]
        margin = second.seconds / first.seconds
        error = max(TIE_ERROR, first.error or 0, second.error or 0)
        if margin - 1 <= error:
            tied = [best] + [n for n, p in rest if p.seconds / first.seconds - 1 <= error]
            lines.append(f"**A tie: {', '.join(tied)}**, within the model's error ({error:.0%}) "
                         f"of each other; {best} is predicted fastest by {margin:.2f}x.")
        else:
            lines.append(f"**Use {best}**: predicted {margin:.2f}x faster than {runner}, beyond "
                         f"the model's error ({error:.0%}).")
    lines.append(f"(answered in {seconds:.0f} s; calibration: {store.path})")
    return "\n".join(lines)
