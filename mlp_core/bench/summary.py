"""From rows to numbers: one summary per cell, and a verdict per sweep point.

A *cell* is one implementation at one sweep point on one machine
(:func:`rows.cell_key`). Its summary holds the median time with its interval, its spread, and
its ratios to the Keras reference, to its library's own idiom (``torch`` to ``torch-native``),
to Keras on its library (``torch`` to ``keras-torch``) and to the floor, each taken round by
round (the rows of the same repeat) with its interval; :mod:`mlp_core.bench.stats` computes
every one of them. A *point*'s verdict names the fastest implementation only where the interval
of its ratio to the runner-up excludes 1; otherwise the implementations that cannot be told
apart are a ``tie``.
"""

from __future__ import annotations

from . import stats
from .impls import FLOOR_PREFIX, KERAS, is_peer, keras_on_same_library, own_idiom
from .rows import cell_key, measured_time

#: the ratio columns: each has ``<name>_ci_low`` and ``<name>_ci_high`` beside it
RATIOS = ("vs_keras", "vs_own_library", "vs_keras_same_library", "vs_floor")


def base_of(impl: str) -> str:
    return impl.split("+")[0]


def is_keras(impl: str) -> bool:
    return base_of(impl) == KERAS


def is_floor(impl: str) -> bool:
    return impl.startswith(FLOOR_PREFIX)


def _times_by_round(group: list[dict]) -> dict[int, float]:
    """A cell's time in each round (its repeat); the first row where a round has two."""
    out: dict[int, float] = {}
    for g in group:
        out.setdefault(g["repeat"], measured_time(g))
    return out


def paired(a: dict[int, float], b: dict[int, float],
           level: float = stats.LEVEL) -> stats.Estimate | None:
    """The ratio a/b over the rounds both have; None if they share none."""
    shared = sorted(set(a) & set(b))
    if not shared:
        return None
    return stats.paired_ratio([a[r] for r in shared], [b[r] for r in shared], level)


def judge(ranked: list[tuple[str, dict[int, float]]], level: float = stats.LEVEL) -> dict:
    """The verdict of one point, from its implementations ``(name, times by round)`` ranked
    fastest first: the runner-up's ratio to the fastest (round by round, with its interval),
    ``winner`` where that interval excludes 1, else ``tie`` with every implementation whose
    ratio to the fastest is not significant. The one rule for every table and map."""
    (first, rounds), rest = ranked[0], ranked[1:]
    margins = {name: paired(r, rounds, level) for name, r in rest}

    def slower(e: stats.Estimate | None) -> bool:
        return bool(e and e.low is not None and e.low > 1)

    margin = margins[rest[0][0]] if rest else None
    decided = not rest or slower(margin)
    return {"fastest": first, "runner_up": rest[0][0] if rest else None,
            **_ratio_fields("margin", margin), "verdict": "winner" if decided else "tie",
            "tied": [] if decided else [first] + [n for n, e in margins.items() if not slower(e)],
            "rounds": margin.n if margin else 0}


def _ratio_fields(name: str, e: stats.Estimate | None) -> dict:
    return {name: e and e.value, f"{name}_ci_low": e and e.low, f"{name}_ci_high": e and e.high}


def summarize(rows: list[dict]) -> list[dict]:
    """One summary per (machine, implementation, model, batch size, threads, dtype) from its
    successful rows, ordered by machine, model, batch size, threads, dtype, implementation."""
    cells: dict[tuple, list[dict]] = {}
    for r in rows:
        if r.get("status") == "ok":
            cells.setdefault(cell_key(r), []).append(r)
    rounds = {k: _times_by_round(g) for k, g in cells.items()}
    rss = {k: _middle("peak_rss_mb", g) for k, g in cells.items()}
    peaks: dict[str, list[float]] = {}  # the machine's sgemm peak, measured with the floors
    for (mach, *_), group in cells.items():
        peaks.setdefault(mach, []).extend(g["sgemm_peak_gflops"] for g in group
                                          if g.get("sgemm_peak_gflops"))
    # each peer's cell at each sweep point and dtype: e.g. "keras", or "keras+f64" and
    # "keras+mixed_bfloat16", whose modifier set the dtype (like for like)
    # (the plain spec last: it wins where both ran a dtype)
    peer_of = {(k[0], base_of(k[1]), *k[2:]): k
               for k in sorted(cells, key=lambda k: "+" not in k[1]) if is_peer(k[1])}

    def versus(k: tuple, peer: str | None) -> tuple[tuple | None, stats.Estimate | None]:
        """The cell of ``peer`` at ``k``'s point, and ``k``'s time over it, round by round."""
        other = peer_of.get((k[0], peer, *k[2:])) if peer else None
        return other, paired(rounds[k], rounds[other]) if other else None

    out = []
    for k, group in sorted(cells.items(), key=lambda kv: _cell_order(kv[0])):
        mach, impl, model, bs, threads, dtype = k
        times = [measured_time(g) for g in group]
        ours = not is_peer(impl) and not is_floor(impl)
        keras_key, vs_keras = versus(k, KERAS if not is_keras(impl) else None)
        _, vs_own = versus(k, own_idiom(base_of(impl)) if ours else None)
        _, vs_keras_same = versus(k, keras_on_same_library(base_of(impl)) if ours else None)
        floor_key = (mach, FLOOR_PREFIX + str(group[0].get("library")), model, bs, threads,
                     dtype)
        vs_floor = (paired(rounds[k], rounds[floor_key])
                    if floor_key in rounds and not is_floor(impl) else None)
        median = stats.median_interval(times)
        gflops = _middle("gflops", group)
        peak = stats.median_of(peaks[mach]) if peaks.get(mach) else None
        out.append({
            "machine": mach, "impl": impl, "model": model, "batch_size": bs,
            "threads_asked": threads, "dtype": dtype, "runs": len(group),
            "median_s": median.value, "median_s_ci_low": median.low,
            "median_s_ci_high": median.high, "predicted_s": _middle("predicted_s", group),
            "min_s": min(times), "max_s": max(times),
            "spread_pct": stats.spread_pct(times), "cv": stats.cv(times),
            "unstable": stats.unstable(times),
            "per_epoch_s": (_middle("epoch_equivalent_time", group)
                            or _middle("time_per_epoch", group)),
            **_ratio_fields("vs_keras", vs_keras), **_ratio_fields("vs_own_library", vs_own),
            **_ratio_fields("vs_keras_same_library", vs_keras_same),
            **_ratio_fields("vs_floor", vs_floor),
            "gflops": gflops, "pct_peak": 100 * gflops / peak if gflops and peak else None,
            "test_accuracy": _middle("test_accuracy", group),
            "peak_rss_mb": None if is_floor(impl) else rss[k],
            "rss_vs_keras": (rss[k] / rss[keras_key] if keras_key in rss and rss[keras_key]
                             and rss[k] and ours else None),
            "threads": group[0].get("threads_used", group[0].get("threads")),
            "per_step": group[0].get("step_time") is not None,
            "rounds": rounds[k],
        })
    return out


def _middle(key: str, group: list[dict]) -> float | None:
    """The median of a field over the rows that have it."""
    values = [g[key] for g in group if g.get(key) is not None]
    return stats.median_of(values) if values else None


def verdicts(summary: list[dict], level: float = stats.LEVEL) -> list[dict]:
    """Per sweep point (machine, model, batch size, threads, dtype) with two implementations
    or more (floors apart): the fastest by median, its ratio to the runner-up (runner-up time
    over the fastest's, round by round, with its interval), and the verdict: ``winner`` where
    that interval excludes 1, else ``tie`` with every implementation whose ratio to the fastest
    is not significant."""
    points: dict[tuple, list[dict]] = {}
    for s in summary:
        if not is_floor(s["impl"]):
            key = (s["machine"], s["model"], s["batch_size"], s["threads_asked"], s["dtype"])
            points.setdefault(key, []).append(s)
    out = []
    for (mach, model, bs, threads, dtype), group in points.items():
        if len(group) < 2:
            continue
        ranked = sorted(group, key=lambda s: s["median_s"])
        out.append({"machine": mach, "model": model, "batch_size": bs, "threads": threads,
                    "dtype": dtype, "seconds": ranked[0]["median_s"],
                    **judge([(s["impl"], s["rounds"]) for s in ranked], level)})
    return out


def answer(verdicts_: list[dict]) -> str:
    """The verdicts in a sentence: ``numpy is fastest in 5 of 6 points, by 1.20-2.70x; 1 tie``."""
    if not verdicts_:
        return ""
    wins: dict[str, list[float]] = {}
    for v in verdicts_:
        if v["verdict"] == "winner":
            wins.setdefault(v["fastest"], []).append(v["margin"])
    ties = sum(v["verdict"] == "tie" for v in verdicts_)
    n = len(verdicts_)
    parts = [f"{impl} is fastest in {len(m)} of {n} point{'s' * (n > 1)}, by "
             + (f"{min(m):.2f}x" if len(m) == 1 else f"{min(m):.2f}-{max(m):.2f}x")
             for impl, m in sorted(wins.items(), key=lambda kv: -len(kv[1]))]
    if ties:
        parts.append(f"{ties} tie{'s' * (ties > 1)} (no significant difference at 95%)")
    return "; ".join(parts) + "."


def _cell_order(k: tuple) -> tuple:
    mach, impl, model, bs, threads, dtype = k
    sizes = [int(n) for n in model.split("-") if n.isdigit()]
    return (mach, (sum(sizes), sizes), bs, str(threads), str(dtype),
            (is_floor(impl), is_peer(impl), impl))


def open_points(summary: list[dict], precision: float,
                stop_level: float = stats.EARLY_STOP_LEVEL) -> set[tuple]:
    """The sweep points ``(model, batch size, threads, dtype)`` whose verdict is still open for
    ``--repeat auto``: not yet decided at ``stop_level`` (stricter than the verdict's 95%: each
    look at the data is another chance for noise to pass for a difference), and with a 95%
    interval wider than ``precision`` (a relative half-width): the runner-up's ratio, or, where
    an implementation ran alone, its median."""
    def loose(value: float, low: float | None, high: float | None) -> bool:
        half = stats.Estimate(value, low, high, 0).half_width
        return half is None or half > precision

    closed: dict[tuple, bool] = {}  # (machine, point) -> closed
    for v, strict in zip(verdicts(summary), verdicts(summary, stop_level)):
        closed[(v["machine"], v["model"], v["batch_size"], v["threads"], v["dtype"])] = (
            strict["verdict"] == "winner"
            or not loose(v["margin"], v["margin_ci_low"], v["margin_ci_high"]))
    out = set()
    for s in summary:  # a point is open while it is open on any machine
        key = (s["machine"], s["model"], s["batch_size"], s["threads_asked"], s["dtype"])
        if is_floor(s["impl"]):
            continue
        if key in closed:
            if not closed[key]:
                out.add(key[1:])
        elif loose(s["median_s"], s["median_s_ci_low"], s["median_s_ci_high"]):
            out.add(key[1:])
    return out
