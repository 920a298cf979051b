"""``mlp-core bench``: every implementation side by side across batch sizes."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_bench_parser(sub) -> None:
    from ..options import add_model_args, int_list, positive_int
    from .config import DEFAULT_BATCH_SIZES, DEFAULT_IMPLS, BenchConfig
    from .impls import MODIFIERS, PEERS, base_names

    b = sub.add_parser("bench", help="time implementations side by side with the Keras reference "
                       "and each library's own idiom",
                       conflict_handler="resolve",  # --layers, --dtype: lists here
                       description="Each measurement runs in a fresh process after a warm-up "
                       "of at least 200 steps; implementations are interleaved; rows are saved as "
                       "they finish, and rerunning the same command resumes an interrupted run. "
                       f"Peers (each library's own idiom, not ours): {', '.join(PEERS)}; keras "
                       "is the reference (Keras on TensorFlow); docs/peers.md says how each "
                       "differs.")
    add_model_args(b)
    g = b.add_argument_group("what to measure")
    g.add_argument("--layers", action="append", type=int_list,
                   help="hidden layer sizes of one model; repeat it to sweep models, e.g. "
                   "--layers 70,30 --layers 512,512 (default: the preset's)")
    g.add_argument("--dtype", dest="dtypes", type=dtype_list,
                   help="float32, float64 or both, comma-separated (default: float32)")
    g.add_argument("--steps", type=positive_int,
                   help="time this many training steps per cell after a warm-up over the same "
                   "batches, instead of whole fits (for sweeps: seconds per step, per sample and "
                   "per epoch-equivalent, a cost model per implementation, crossovers)")
    g.add_argument("--impl", dest="impls", type=name_list, default=list(DEFAULT_IMPLS),
                   help=f"comma-separated: {', '.join(base_names())}; modifiers "
                   f"{', '.join('+' + m for m in MODIFIERS)} (default: {','.join(DEFAULT_IMPLS)})")
    g.add_argument("--batch-sizes", type=int_list, default=list(DEFAULT_BATCH_SIZES),
                   help=f"(default: {','.join(map(str, DEFAULT_BATCH_SIZES))})")
    g.add_argument("--repeat", dest="repeats", type=repeat_count,
                   help="rounds: each measures every implementation of every cell once, in a "
                   "shuffled order; a number, or 'auto': 6 rounds, then more for the cells whose "
                   "verdict is still open, until each is decided or its interval is within "
                   "--precision, or --budget is spent (default: 3; auto with --steps)")
    g.add_argument("--precision", type=positive_fraction,
                   help="with --repeat auto: the target half-width of each ratio's 95%% "
                   "interval, as a fraction or a percentage (default: 5%%)")
    g.add_argument("--budget", type=positive_seconds,
                   help="with --repeat auto: seconds the run may spend adding rounds "
                   "(default: 1800)")
    g.add_argument("--threads", type=int_list,
                   help="compute threads, comma-separated to sweep them, e.g. 1,2 (default: each "
                   "library's own)")
    g.add_argument("--device", help="cpu or gpu")
    g.add_argument("--timeout", type=positive_seconds,
                   default=BenchConfig.__dataclass_fields__["timeout"].default,
                   help="seconds one measurement may take; one that takes longer (a hung worker, "
                   "a GPU driver) is stopped with its processes and becomes a failed row, and the "
                   "run goes on (default: %(default)g: far beyond any measurement of the default "
                   "configuration)")
    g.add_argument("--predict", action="store_true",
                   help="with --steps: also predict each cell of ours from this machine's "
                   "calibration (made where missing, its products and calibration models "
                   "measured again every 5 minutes; docs/prediction.md), as predicted_s")
    g.add_argument("--no-floor", dest="floor", action="store_false",
                   help="skip the matrix-product floor")
    g.add_argument("--native-blas", action="store_true",
                   help="unset OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE in the measurements, so "
                   "OpenBLAS picks its kernel for this CPU (recorded in every row)")
    g.add_argument("--no-warmup", dest="warmup", action="store_false",
                   help="no warm-up: time a cold fit, tracing and compiling included")
    g.add_argument("--out", default="results", help="output folder (default: %(default)s)")
    g.add_argument("--fresh", action="store_true", help="set earlier results in --out aside")
    d = b.add_argument_group("across machines (Dask distributed; the distributed extra)")
    d.add_argument("--scheduler", metavar="ADDRESS",
                   help="run on the workers of this Dask scheduler, e.g. tcp://HOST:8786")
    d.add_argument("--machines", default="all",
                   help="comma-separated worker names, each runs the whole matrix "
                   "(default: %(default)s)")
    d.add_argument("--tls-ca-file", help="CA certificate for a tls:// scheduler")
    d.add_argument("--tls-cert", help="client certificate for a tls:// scheduler")
    d.add_argument("--tls-key", help="client private key for a tls:// scheduler")


def repeat_count(text: str) -> int | str:
    """``"5"`` -> 5, ``"auto"`` -> ``"auto"``."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1 or 'auto', got {text!r}")
    return value


def positive_fraction(text: str) -> float:
    """``"0.05"`` or ``"5%"`` -> 0.05: a fraction in (0, 1)."""
    try:
        value = float(text.rstrip("%")) / (100 if text.strip().endswith("%") else 1)
    except ValueError:
        value = float("nan")
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a fraction in (0, 1) such as 0.05 or 5%, "
                                         f"got {text!r}")
    return value


def positive_seconds(text: str) -> float:
    """``"90"`` -> ``90.0``: a finite number of seconds > 0."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text!r}")
    return value


def dtype_list(text: str) -> list[str]:
    """``"float32,float64"`` -> ``["float32", "float64"]`` (checked with the configuration)."""
    return name_list(text)


def name_list(text: str) -> list[str]:
    """``"numpy,keras"`` -> ``["numpy", "keras"]`` (no empty entry)."""
    from ..options import list_items

    return list_items(text)


def cmd_bench(args: argparse.Namespace) -> int:
    from ..errors import MLPError
    from ..signals import terminate_raises
    from .config import BenchConfig
    from .publish import write_outputs
    from .report import markdown_table
    from .rows import LOCAL
    from .runner import make_plan, progress_line, run_benchmark
    from .store import ResultsStore, select_rows

    cfg = BenchConfig.from_args(args)  # (the preset's batch size is not used: --batch-sizes are)
    plan = make_plan(cfg, local=not args.scheduler)
    for impl, why in plan.skipped.items():
        print(f"mlp-core bench: skipping {impl}: {why}", file=sys.stderr)
    for note in plan.notes:
        print(f"mlp-core bench: note: {note}", file=sys.stderr)
    if not plan.jobs:
        raise MLPError("nothing to measure: every implementation was skipped (see above)")
    if not args.scheduler:
        from ..machine import warnings_for_this_machine

        for warning in warnings_for_this_machine(args.native_blas):
            print(f"mlp-core bench: warning: {warning}", file=sys.stderr)
    bar = _progress_bar()
    out, machines, interrupted = Path(args.out), [LOCAL], False
    kept = [r for r in ResultsStore(out).rows() if r.get("config") == cfg.training()
            and r.get("status") == "ok"] if not args.fresh else []
    if kept:
        print(f"mlp-core bench: resuming: the {len(kept)} measurements of this configuration "
              f"already in {out} are kept; measuring the rest", file=sys.stderr)
    try:
        # SIGTERM ends a bench as Ctrl-C does (mlp_core.signals: the policy)
        with _executor(args) as executor, terminate_raises(KeyboardInterrupt):
            machines = executor.machines if executor else machines
            run_benchmark(cfg, out, fresh=args.fresh, executor=executor, plan=plan,
                          command=args.command_line, publish=False,
                          progress=lambda i, total, row: bar(progress_line(i, total, row), total))
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar(None, 0)
    # finished or interrupted: the report covers the measurements in the store
    mine = [r for r in ResultsStore(out).rows() if r.get("config") == cfg.training()]
    rounds = max([plan.rounds - 1, *(r["repeat"] for r in mine)]) + 1  # (auto: more rounds)
    rows = select_rows(mine, plan.on(machines, plan.through(rounds)))
    summary, written = write_outputs(rows, out, plan.skipped)
    if interrupted:
        done = sum(r.get("status") == "ok" for r in rows)
        print(f"mlp-core bench: interrupted; {done} finished measurements kept in "
              f"{out}; run the same command to resume", file=sys.stderr)
        return 130
    print(markdown_table(summary))
    print("wrote " + ", ".join(str(p) for p in [out / "results.jsonl", *written]), file=sys.stderr)
    # (a measurement the monitor redid is not a failure: its redo stands)
    return 0 if all(r.get("status") in ("ok", "flagged") for r in rows) else 1


def _executor(args: argparse.Namespace):
    """A context giving the Dask executor of ``--scheduler``, or None to run here."""
    from contextlib import nullcontext

    from ..errors import MLPError

    tls = {"tls_ca_file": args.tls_ca_file, "tls_client_cert": args.tls_cert,
           "tls_client_key": args.tls_key}
    if not args.scheduler:
        if args.machines != "all" or any(tls.values()):
            raise MLPError("--machines and --tls-* need --scheduler")
        return nullcontext()
    from functools import partial

    from .distributed import DaskExecutor, import_distributed
    from .runner import run_job_subprocess

    security = None
    if any(tls.values()):
        security = import_distributed().Security(**tls, require_encryption=True)
    return DaskExecutor(args.scheduler, args.machines, security=security,
                        run_job=partial(run_job_subprocess, timeout=args.timeout))


def _progress_bar():
    """A tqdm bar on a terminal, plain lines otherwise; call with (line, total); (None, 0)
    closes it."""
    state = {}

    def update(line, total):
        if line is None:
            if "bar" in state:
                state["bar"].close()
            return
        if not sys.stderr.isatty():
            print(line, file=sys.stderr, flush=True)
            return
        if "bar" not in state:
            from tqdm.auto import tqdm

            state["bar"] = tqdm(total=total, unit="run", file=sys.stderr)
        bar = state["bar"]
        bar.write(line)
        bar.total, bar.n = total, line_count(line)  # (a resumed run starts past 0; auto grows)
        bar.refresh()

    return update


def line_count(line: str) -> int:
    """The ``i`` of a progress line ``[i/total] ...``."""
    return int(line[1:line.index("/")])


def add_report_parser(sub) -> None:
    r = sub.add_parser("report", help="rebuild the summaries, plots and report.html from the "
                       "results of one or more bench runs, measuring nothing",
                       description="Reads each DIR/results.jsonl, merges the rows (a measurement "
                       "made twice is kept once), and writes summary.md, summary.csv, the plots "
                       "and report.html into --out; runs of different configurations are shown "
                       "apart, each in its own folder config-N/.")
    r.add_argument("dirs", nargs="+", metavar="DIR", help="a bench run's --out folder")
    r.add_argument("--out", required=True, help="where to write (may be one of the DIRs)")


def cmd_report(args: argparse.Namespace) -> int:
    from .publish import rebuild

    written = rebuild(args.dirs, args.out)
    print("wrote " + ", ".join(str(p) for p in written), file=sys.stderr)
    return 0


def add_compare_parser(sub) -> None:
    c = sub.add_parser("compare", help="compare two bench runs cell by cell, with intervals and "
                       "verdicts (faster, slower, no significant change)",
                       description="For two bench --out folders (before and after an upgrade, "
                       "or two machines): each shared cell's ratio NEW/OLD of the median times "
                       "with its 95%% interval, and a verdict; writes compare.md, compare.csv "
                       "and a self-contained compare.html.")
    c.add_argument("old", metavar="OLD", help="the --out folder of the earlier (reference) run")
    c.add_argument("new", metavar="NEW", help="the --out folder of the run to compare with it")
    c.add_argument("--out", help="where to write (default: NEW)")


def cmd_compare(args: argparse.Namespace) -> int:
    from .compare import write_compare
    from .document import Table, to_markdown

    blocks, written = write_compare(args.old, args.new, args.out or args.new)
    print(to_markdown([b for b in blocks if not isinstance(b, Table)][:3]
                      + [b for b in blocks if isinstance(b, Table)]).rstrip("\n"))
    print("wrote " + ", ".join(str(p) for p in written), file=sys.stderr)
    return 0
