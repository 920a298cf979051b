"""The summary's plot: time against batch size per implementation (and machine), and the
ratio to Keras, with each ratio's interval."""

from __future__ import annotations

import io

from .impls import DTYPE_MODIFIERS, FLOOR_PREFIX
from .rows import names_machines


def _base(impl: str) -> str:
    """The backend variant (or keras) an implementation runs: no modifier, no floor prefix."""
    return impl.split("+")[0].removeprefix(FLOOR_PREFIX)


def _names_dtype(impl: str) -> bool:
    """Whether a modifier of ``impl`` sets its dtype (``+f64``, ``+mixed_bfloat16``)."""
    return any(m in DTYPE_MODIFIERS for m in impl.split("+")[1:])


def plot_summary(summary: list[dict], machine: str = "") -> bytes | None:
    """Train time against batch size per implementation (and machine), and the ratio to Keras
    (PNG bytes), titled with the machine description."""
    try:  # a Figure, not pyplot: no global state, a notebook's plotting backend stays its own
        from matplotlib.figure import Figure
    except ImportError:
        return None
    # one line per implementation and whatever else varies: machine, model, threads, dtype
    varying = [c for c in ("model", "threads_asked", "dtype")
               if len({str(s[c]) for s in summary}) > 1]
    fig = Figure(figsize=(12, 4.8))
    ax1, ax2 = fig.subplots(1, 2)
    for label, style, pts in _plot_series(summary, varying):
        bs = [p[0] for p in pts]
        spread = [[p[1] - p[2] for p in pts], [p[3] - p[1] for p in pts]]
        ax1.errorbar(bs, [p[1] for p in pts], yerr=spread, label=label, capsize=3, **style)
        ratio = [(b, *p[4]) for b, p in zip(bs, pts) if p[4][0] is not None]
        if ratio:  # the ratio, its interval as the error bar where there is one
            err = [[r[1] - (r[2] if r[2] is not None else r[1]) for r in ratio],
                   [(r[3] if r[3] is not None else r[1]) - r[1] for r in ratio]]
            ax2.errorbar([r[0] for r in ratio], [r[1] for r in ratio], yerr=err, capsize=3,
                         label=label, **style)
    per_step = bool(summary[0].get("per_step"))
    ax1.set(xscale="log", yscale="log", xlabel="batch size",
            ylabel="seconds per step (median)" if per_step else "training time (s, median)",
            title="Time per step by batch size" if per_step else "Training time by batch size")
    ax2.axhline(1.0, color="grey", linewidth=1)
    ax2.set(xscale="log", xlabel="batch size", ylabel="time / Keras time",
            title="Time / Keras time, same dtype (95% intervals)")
    if len(ax2.get_lines()) < 2:  # only the 1.0 line: nothing was compared with Keras
        ax2.text(0.5, 0.5, "Keras not measured", ha="center", transform=ax2.transAxes)
    for ax in (ax1, ax2):
        ax.grid(True, which="both", alpha=0.3)
    if machine:
        fig.suptitle(machine, fontsize=7, wrap=True)
    fig.tight_layout()
    handles, labels = ax1.get_legend_handles_labels()
    if handles:  # one legend for both panels, below them, so that it hides no line
        rows = -(-len(handles) // 4)
        fig.set_size_inches(12, 4.8 + 0.22 * rows)
        fig.subplots_adjust(bottom=(0.12 * 4.8 + 0.22 * rows) / (4.8 + 0.22 * rows))
        fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=8, frameon=False)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return buf.getvalue()


def _plot_series(summary: list[dict], varying: list[str]):
    """``(label, line style, points)`` of each line: points ``(batch size, median, min, max,
    (vs Keras, its interval's low and high))``. One colour per base implementation and machine
    (a floor and a "+modifier" row take their library's; in a sweep, one per series), the same
    in both panels; the line style tells floors and modifiers apart."""
    named = names_machines(summary)

    def series_of(s: dict) -> tuple:
        return (s["machine"], s["impl"], *(s[c] for c in varying))

    def colour_key(key: tuple) -> tuple:
        return key if varying else (key[0], _base(key[1]))

    series = list(dict.fromkeys(series_of(s) for s in summary))
    bases = list(dict.fromkeys(colour_key(k) for k in series))
    for key in series:
        mach, impl = key[:2]
        pts = sorted(((s["batch_size"], s["median_s"], s["min_s"], s["max_s"],
                       (s["vs_keras"], s["vs_keras_ci_low"], s["vs_keras_ci_high"]))
                      for s in summary if series_of(s) == key), key=lambda p: p[0])
        label = " ".join([impl, *(f"{c.split('_')[0]} {v}" for c, v in zip(varying, key[2:])
                                  if not (c == "dtype" and _names_dtype(impl)))]
                         + ([f"on {mach}"] if named else []))
        style = ({"linestyle": "--", "marker": None} if impl.startswith(FLOOR_PREFIX)
                 else {"linestyle": ":", "marker": "s"} if "+" in impl else {"marker": "o"})
        style["color"] = f"C{bases.index(colour_key(key)) % 10}"
        yield label, style, pts
