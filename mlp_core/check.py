"""``mlp-core check``: does every backend work here, on every device, and agree with NumPy?

For each backend variant and device it trains a small network deterministically (a few epochs on
generated data, from the same initial weights and batches) in float32 and float64 and compares the
weights with NumPy's float64 result, against the tolerance of that dtype; then it times one warm
epoch of the seed network (784-70-30-10, batch 500) and reads the peak device memory. A backend
whose library or device is missing is reported as unavailable, not failed; one that disagrees or
crashes fails the check.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass
from time import perf_counter

import numpy as np

from . import backends
from .errors import BackendUnavailable
from .history import BATCHES, SHUFFLE, time_key

#: the largest weight deviation from NumPy float64 allowed, relative to the largest weight: about
#: 400 times what float32 rounding gives over the check's 24 RMSprop steps (2.4e-7 on the CPU
#: backends), a million times float64's (1e-16), and two of bfloat16's rounding units (2**-8) for
#: mixed_bfloat16, on the backends that have it (docs/precision.md)
TOLERANCE = {"float32": 1e-4, "float64": 1e-10, "mixed_bfloat16": 2.0**-7}
DTYPES = tuple(TOLERANCE)
DATA = {"samples": 512, "features": 32, "classes": 4}
HIDDEN, EPOCHS, BATCH = [16, 8], 3, 64


@dataclass
class CheckResult:
    variant: str
    device: str
    status: str  # ok, disagrees, crashed: ..., unavailable: ..., skipped: ...
    versions: str = ""
    deviation: dict | None = None  # dtype -> largest relative weight deviation
    epoch_s: float | None = None  # one warm epoch of the seed network, float32
    peak_mb: float | None = None  # peak device memory (GPUs)

    @property
    def failed(self) -> bool:
        return self.status in ("disagrees",) or self.status.startswith("crashed")


def _check_data():
    from .data import load_dataset

    ds = load_dataset("synthetic", seed=0, **DATA)
    return ds.x_train, ds.y_train


def _train(be, x, y, dtype: str) -> list[np.ndarray]:
    from .model import MLP

    model = MLP([x.shape[1], *HIDDEN, DATA["classes"]], seed=1, dtype=dtype, backend=be)
    model.fit(x, y, epochs=EPOCHS, batch_size=BATCH, l2=[0.01, 0.01, 0.0], verbose=False)
    return model.get_weights()


def reference_backend() -> backends.Backend:
    """NumPy through the contract's generic array-API kernels: the reference that every
    backend's own kernels (NumPy's in-place ones included) are held to."""
    import array_api_compat.numpy as xp

    from .backends.base import Backend

    return Backend(xp)


def _deviation(weights: list[np.ndarray], reference: list[np.ndarray]) -> float:
    scale = max(float(np.max(np.abs(r))) for r in reference)
    return max(float(np.max(np.abs(w.astype(np.float64) - r))) for w, r in
               zip(weights, reference)) / scale


def _seed_epoch(be) -> float:
    """Seconds of one warm epoch of the seed network, batch 500, on 10,000 generated rows."""
    from .data import load_dataset
    from .model import MLP

    ds = load_dataset("synthetic", samples=10_000, features=784, classes=10, seed=0)
    model = MLP([784, 70, 30, 10], backend=be)
    history = model.fit(ds.x_train, ds.y_train, epochs=2, batch_size=500, l2=[0.01, 0.01, 0.0],
                        verbose=False)
    return (history.history[time_key(SHUFFLE)][1]
            + history.history[time_key(BATCHES)][1])


def check_variant(variant: backends.Variant, entry: backends.BackendEntry, device: str,
                  reference: list[np.ndarray], data, quick: bool) -> CheckResult:
    """One variant on one device: trained in each dtype, compared, timed."""
    missing = backends.missing_libraries(entry.name)
    if missing:
        return CheckResult(variant.name, device, f"unavailable: {', '.join(missing)} not "
                           f"installed ({entry.install})")
    if quick and variant.compiles_slowly:
        return CheckResult(variant.name, device, "skipped: compiles slowly (--quick)")
    try:
        be = backends.create(entry.name, device, **variant.options)
    except BackendUnavailable as exc:
        return CheckResult(variant.name, device, f"unavailable: {exc}")
    versions = ", ".join(f"{lib} {getattr(sys.modules[lib], '__version__', '?')}"
                         for lib in entry.requires if lib in sys.modules)
    result = CheckResult(variant.name, device, "ok", versions, {})
    try:
        for dtype in DTYPES:
            if dtype != "mixed_bfloat16" or entry.bfloat16:
                result.deviation[dtype] = _deviation(_train(be, *data, dtype), reference)
        result.epoch_s = _seed_epoch(be)
        result.peak_mb = be.peak_memory_mb()
    except Exception as exc:  # reported in the table; the other backends are still checked
        result.status = f"crashed: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
        return result
    if any(result.deviation[d] > TOLERANCE[d] for d in result.deviation):
        result.status = "disagrees"
    return result


def run_check(device: str = "all", names: list[str] | None = None, quick: bool = False,
              progress=None) -> list[CheckResult]:
    """Every variant of the named backends (all by default) on the devices asked for."""
    chosen = [backends.entry(n) for n in names] if names else list(backends.REGISTRY.values())
    data = _check_data()
    reference = _train(reference_backend(), *data, "float64")
    results = []
    for entry in chosen:
        for variant in entry.variants:
            for dev in entry.devices:
                if device in (dev, "all"):
                    t = perf_counter()
                    results.append(check_variant(variant, entry, dev, reference, data, quick))
                    if progress:
                        progress(results[-1], perf_counter() - t)
    return results


def _short(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def table(results: list[CheckResult]) -> str:
    """The results as an aligned text table (long reasons cut: the JSON has them whole)."""
    head = ["backend", "device", "status", "max deviation (f32 / f64 / mixed bf16)", "seed epoch",
            "peak MB", "libraries"]
    rows = [[r.variant, r.device, _short(r.status),
             " / ".join(f"{r.deviation[d]:.1e}" if d in r.deviation else "-" for d in DTYPES)
             if r.deviation else "",
             f"{r.epoch_s * 1e3:.0f} ms" if r.epoch_s is not None else "",
             f"{r.peak_mb:.0f}" if r.peak_mb is not None else "", r.versions] for r in results]
    widths = [max(len(str(c)) for c in col) for col in zip(head, *rows)]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip()
                     for row in [head, ["-" * w for w in widths], *rows])


def to_json(results: list[CheckResult]) -> dict:
    return {"format": "mlp-core-check", "version": 1, "tolerance": TOLERANCE,
            "results": [asdict(r) for r in results]}
