"""The bench's statistics, in one room: medians, spreads, intervals, ratios and verdicts.

Every table, plot and page takes its numbers from here (``docs/methodology.md`` explains them):
- a median's 95% interval is the distribution-free one from order statistics (the sign test's
  binomial; asv reports the same kind at 99%): it needs at least 6 values, and with fewer there is
  no interval, only the range;
- a ratio of two implementations is taken round by round (each round ran both, in a shuffled
  order), as the median of the paired log-ratios with the same order-statistic interval, back in
  ratio space: pairing removes what a round shares (the machine's speed then);
- a ratio of two independent runs (``mlp-core compare``: two bench folders) is the ratio of their
  medians with a percentile bootstrap interval (scipy.stats.bootstrap, resampling each run);
- a verdict names a winner only when the interval excludes 1, else it is a ``tie``;
- values whose coefficient of variation is 10% or more are ``unstable`` (pyperf's threshold).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

LEVEL = 0.95  # the confidence of every interval
#: ``--repeat auto`` stops adding rounds at a point decided at this level, looked at a few times
#: (runner.LOOKS): strict enough that the early stops and the final 95% verdict together name
#: a false winner in about 5% of ties (tests/test_statistics.py simulates it)
EARLY_STOP_LEVEL = 0.995
UNSTABLE_CV = 0.10  # pyperf warns from a standard deviation of 10% of the mean
MIN_FOR_INTERVAL = 6  # the fewest values whose order statistics reach 95% (1 - 2 / 2**6)


@dataclass(frozen=True)
class Estimate:
    """A median (of times, or of ratios) with its interval: ``low``/``high`` are None where
    there are too few values for the level."""

    value: float
    low: float | None
    high: float | None
    n: int

    @property
    def decided(self) -> bool:
        """Whether the interval lies wholly on one side of 1 (for a ratio)."""
        return self.low is not None and (self.low > 1 or self.high < 1)

    @property
    def half_width(self) -> float | None:
        """The interval's half-width relative to the value (``(high/low) ** 0.5 - 1`` for a
        ratio); None without an interval."""
        if self.low is None or self.low <= 0:
            return None
        return math.sqrt(self.high / self.low) - 1


def median_of(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def spread_pct(values: Sequence[float]) -> float | None:
    """(max - min) / median, in percent."""
    m = median_of(values)
    return 100 * (max(values) - min(values)) / m if m else None


def cv(values: Sequence[float]) -> float | None:
    """Coefficient of variation (sample standard deviation / mean); None for one value."""
    if len(values) < 2:
        return None
    mean = statistics.fmean(values)
    return statistics.stdev(values) / mean if mean else None


def unstable(values: Sequence[float]) -> bool:
    c = cv(values)
    return c is not None and c >= UNSTABLE_CV


def order_ranks(n: int, level: float = LEVEL) -> int | None:
    """The 1-based rank k such that [x(k), x(n-k+1)] of n sorted values covers the median with
    at least ``level`` (the sign test's interval), as wide as need be and no wider; None when
    even [min, max] falls short."""
    from scipy.stats import binom

    # coverage of [x(k), x(n-k+1)] = 1 - 2 * P(B(n, 1/2) <= k - 1)
    k = int(binom.ppf((1 - level) / 2, n, 0.5))  # the largest k - 1 with the tail <= alpha/2
    while k >= 1 and 1 - 2 * binom.cdf(k - 1, n, 0.5) < level:
        k -= 1
    return k if k >= 1 and k <= n - k + 1 else None


def median_interval(values: Sequence[float], level: float = LEVEL) -> Estimate:
    """The median with its distribution-free interval (order statistics)."""
    x = sorted(values)
    k = order_ranks(len(x), level)
    if k is None:
        return Estimate(median_of(x), None, None, len(x))
    return Estimate(median_of(x), x[k - 1], x[len(x) - k], len(x))


def paired_ratio(numerators: Sequence[float], denominators: Sequence[float],
                 level: float = LEVEL) -> Estimate:
    """The ratio numerator/denominator from pairs measured in the same round: the median of
    the paired log-ratios with its order-statistic interval, in ratio space."""
    logs = [math.log(a / b) for a, b in zip(numerators, denominators)]
    e = median_interval(logs, level)
    return Estimate(math.exp(e.value), None if e.low is None else math.exp(e.low),
                    None if e.high is None else math.exp(e.high), e.n)


def unpaired_ratio(new: Sequence[float], old: Sequence[float], level: float = LEVEL,
                   resamples: int = 10_000, seed: int = 0) -> Estimate:
    """median_of(new) / median_of(old) of two independent samples, with a percentile bootstrap
    interval; none with fewer than 3 values a side (a bootstrap of 2 values knows nothing)."""
    value = median_of(new) / median_of(old)
    if min(len(new), len(old)) < 3:
        return Estimate(value, None, None, min(len(new), len(old)))
    from scipy.stats import bootstrap

    res = bootstrap((np.asarray(new, float), np.asarray(old, float)),
                    lambda a, b, axis: np.median(a, axis=axis) / np.median(b, axis=axis),
                    confidence_level=level, n_resamples=resamples, method="percentile",
                    vectorized=True, random_state=np.random.default_rng(seed))
    ci = res.confidence_interval
    return Estimate(value, float(ci.low), float(ci.high), min(len(new), len(old)))


def fmt_ratio(e: Estimate | None) -> str:
    """``0.49x [0.44, 0.55]``, or ``0.49x`` without an interval."""
    if e is None:
        return ""
    if e.low is None:
        return f"{e.value:.2f}x"
    return f"{e.value:.2f}x [{e.low:.2f}, {e.high:.2f}]"


def fmt_seconds(seconds: float | None) -> str:
    """Seconds in a unit a person reads: µs, ms or s, three significant digits."""
    if seconds is None:
        return ""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if abs(seconds) >= scale or unit == "µs":
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds:.3g} s"
