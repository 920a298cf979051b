"""Calibration: what each operation of a training step costs here, per backend variant, thread
count and dtype, kept per machine in a JSON file.

What is measured, with the library's own eager calls (a compiled variant's operations are timed
in its library's eager mode: the same kernels, one call each):

- **Curves**, seconds against elements, for every kind of operation that is not a product: the
  element-wise arithmetic, transcendental and reduction classes (``xp.multiply``, ``xp.exp``,
  ``xp.sum``) and each backend kernel the step calls (``sigmoid_backward``, ``rmsprop_update``,
  the gather and the scaling of a batch, ...), at 64 to 16M elements, a factor of 4 apart,
  made monotone. The arithmetic curve's first value is the **per-call cost** of an
  element-wise operation.
- **Products**, seconds of ``a @ b`` in the three forms the core uses (NN, ``a.T @ b``,
  ``a @ b.T``), at the shapes (rows, inner, columns) that a prediction needs: three passes,
  a pass apart, the first time one is needed, and one more pass of every product kept each
  time the real steps below are measured again; a product costs the median of its last
  :data:`MAX_ROUNDS_KEPT` passes. (This machine's speed moves by up to 1.8x between minutes,
  and not alike for every shape: one pass, or the least of two, set a product 0.7-1.8x off
  what it cost half an hour later, and each cell's prediction with it. A grid at powers of two,
  interpolated in log space, missed the first layer's products by up to 28%: BLAS runs an
  inner size of 784 at another rate than 512 or 1024. A shape measured alone costs one
  timing where an interpolation needs eight.) A product of each form at 8x8x8
  (:data:`CALL_PRODUCTS`) is what a call of a product costs.
- **Real steps** of seven calibration models (:data:`FIT_MODELS`), trained as ``mlp-core
  bench --steps`` trains, to which :mod:`prediction` fits the step's three terms, and of an
  eighth held out (:data:`CHECK_MODEL`), whose prediction error is kept as the calibration's
  own error. Every round of them is kept (the last :data:`MAX_ROUNDS_KEPT`), and ``bench
  --predict`` measures one more whenever the newest is over :data:`REFRESH_AFTER_S` old.

Each phase is measured again while the hypervisor takes the CPU (:func:`machine.least_stolen`).
A calibration names its machine (CPU, cores, vector extensions, BLAS kernel and pin) and its
libraries' versions; one made on another machine, or with other versions, is refused with the
reason (:class:`Store`).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from time import perf_counter
from typing import Any

import numpy as np

from ..errors import MLPError
from ..fileio import atomic_write_text

FORMAT = 5  # 2: products at their own shapes; 3: monotone curves, products less a call, no
# scale; 4: the calibration models' real steps kept by round; 5: products kept by pass
CURVE_ELEMENTS = tuple(4 ** k for k in range(3, 13))  # 64 .. 16M elements
GATHER_SOURCE_ROWS = 16_384  # the rows a calibration gathers from
WIDTH = 64  # columns of the arrays an element-wise curve is measured on
PIXEL_WIDTH = 784  # columns of a gathered or scaled batch of images
MAX_PRODUCT_ELEMENTS = 2 ** 28  # a product whose operands exceed this is refused
#: the calibration models (hidden layers, batch size) whose real steps fit the step's three
#: terms: all overhead; element-wise work weighing; the products weighing; both; a narrow layer
#: on many rows; a wide one on few (its update weighs); a product-bound middle
FIT_MODELS = (((8,), 8), ((64, 64), 2048), ((1024, 1024), 128), ((256, 256), 512),
              ((32,), 1024), ((4096,), 32), ((512, 512), 1024))
CHECK_MODEL = ((128, 64), 64)  # held out: its error is the calibration's own
CALIBRATION_STEPS = 20
CALIBRATION_ROUNDS = 3  # of the calibration models' real steps, interleaved; their median
PRODUCT_PASSES = 3  # over a product the first time it is needed, a pass apart; their median
#: the bench's --predict measures the calibration models' real steps once more when they are
#: older than this (a sweep's calibration sampled across it: the machine's speed moves by up
#: to 1.5x within minutes, and one minute of it set every prediction of a 45-minute sweep
#: 4-10% high or low); the fit takes each model's median over the last MAX_ROUNDS_KEPT rounds
REFRESH_AFTER_S = 300
MAX_ROUNDS_KEPT = 24


def machine() -> dict:
    """What makes a calibration valid on a machine: its CPU, cores, vector extensions and
    NumPy's BLAS kernel (with any pin of it), and whether the workers keep freed memory
    (:func:`machine.keep_freed_memory`: a step ran up to 1.9x faster with it)."""
    from ..machine import blas_info, cpu_flags, cpu_model, freed_memory_wanted

    blas = blas_info()
    return {"cpu": cpu_model(), "cpu_count": os.cpu_count(), "cpu_flags": cpu_flags(),
            "blas": f"{blas.get('library')} {blas.get('version')} {blas.get('architecture')}",
            "blas_pins": blas.get("pins") or {},
            "malloc": "freed memory kept" if freed_memory_wanted() else "system"}


def machine_id(desc: dict) -> str:
    return hashlib.sha256(json.dumps(desc, sort_keys=True).encode()).hexdigest()[:12]


def default_path() -> Path:
    """``$MLP_CALIBRATION_DIR`` (default ``~/.cache/mlp-core``)/``calibration-<machine>.json``."""
    folder = Path(os.environ.get("MLP_CALIBRATION_DIR")
                  or Path.home() / ".cache" / "mlp-core")
    return folder / f"calibration-{machine_id(machine())}.json"


def entry_key(variant: str, threads: int | None, dtype: str) -> str:
    return f"{variant}|{threads or 'default'}|{dtype}"


class Store:
    """A machine's calibrations in one JSON file: ``{"format", "machine", "entries"}``, one
    entry per backend variant, thread count and dtype."""

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        self.path = Path(path) if path is not None else default_path()
        self.here = machine()
        self.data: dict = {"format": FORMAT, "machine": self.here, "entries": {}}
        if self.path.exists():
            self.data = self._read()

    def _read(self) -> dict:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError) as exc:
            raise MLPError(f"{self.path}: not a calibration file ({exc})") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(
                data.get("entries"), dict):
            raise MLPError(f"{self.path}: not a calibration file of format {FORMAT} (one made by "
                           "another mlp-core version?); calibrate again (remove the file)")
        theirs = data.get("machine") or {}
        if theirs != self.here:
            differs = [k for k in self.here if theirs.get(k) != self.here[k]]
            raise MLPError(f"{self.path}: a calibration from another machine ({', '.join(differs)} "
                           f"differ: {describe(theirs)}; here: {describe(self.here)}); calibrate "
                           "here, with another --calibration file")
        return data

    def entry(self, key: str, versions: dict) -> dict | None:
        """The entry for ``key``, or None; one made with other library versions is refused."""
        found = self.data["entries"].get(key)
        if found is None:
            return None
        if found.get("versions") != versions:
            raise MLPError(f"{self.path}: the calibration of {key} was made with "
                           f"{_versions(found.get('versions'))}, and this is "
                           f"{_versions(versions)}; calibrate again (remove the file)")
        return found

    def put(self, key: str, entry: dict) -> None:
        self.data["entries"][key] = entry
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.path, json.dumps(self.data, indent=1, sort_keys=True))


def describe(desc: dict) -> str:
    """A machine description in a few words."""
    return f"{desc.get('cpu')}, {desc.get('cpu_count')} cores, {desc.get('blas')}"


def _versions(v: dict | None) -> str:
    return ", ".join(f"{k} {x}" for k, x in sorted((v or {}).items())) or "unknown versions"


# -------------------------------------------------------------------------------------------
# Interpolation, in log space
def interpolate_curve(points: list[list[float]], elements: float) -> float:
    """The value at ``elements`` of a curve of (elements, value) points: linear in log-log
    between points; beyond the last, in proportion to the elements (a cost curve there is
    bandwidth-bound); below the first, the first's value (per-call-bound)."""
    xs = [math.log(p[0]) for p in points]
    ys = [math.log(p[1]) for p in points]
    x = math.log(max(elements, 1))
    if x <= xs[0]:
        return points[0][1]
    if x >= xs[-1]:
        return points[-1][1] * elements / points[-1][0]
    return math.exp(float(np.interp(x, xs, ys)))


def product_key(variant: str, m: int, k: int, n: int) -> str:
    return f"{variant}:{m},{k},{n}"


def product_of_key(key: str) -> tuple[str, int, int, int]:
    """The (variant, m, k, n) that :func:`product_key` names."""
    variant, shape = key.split(":")
    m, k, n = (int(size) for size in shape.split(","))
    return variant, m, k, n


#: a product with next to no work, in each form: what one call of a product costs (an eager
#: JAX product 28-54 us, where an element-wise call costs 7 us; TensorFlow 24 against 17 us)
CALL_SHAPE = (8, 8, 8)
CALL_PRODUCTS = tuple((form, *CALL_SHAPE) for form in ("NN", "TN", "NT"))


def missing_products(products: dict, needed: list[tuple[str, int, int, int]]) -> list[tuple]:
    """The products of ``needed`` (variant, m, k, n), and the per-call products
    (:data:`CALL_PRODUCTS`), that ``products`` lacks, once each."""
    return list({product_key(*p): p for p in (*CALL_PRODUCTS, *needed)
                 if product_key(*p) not in products}.values())


def product_seconds(products: dict, variant: str, m: int, k: int, n: int) -> float:
    """Seconds of one call of the product: the median of its passes kept."""
    return float(np.median(products[product_key(variant, m, k, n)]))


def product_work(products: dict, variant: str, m: int, k: int, n: int) -> float:
    """Seconds of the product's work, as measured at its own shape (see
    :func:`missing_products`): its time less what a call of its form costs."""
    call = product_seconds(products, variant, *CALL_SHAPE)
    return max(0.0, product_seconds(products, variant, m, k, n) - call)


def keep_latest(samples: list, new: list) -> list:
    """``samples`` followed by ``new``, the last :data:`MAX_ROUNDS_KEPT` of them."""
    return (samples + new)[-MAX_ROUNDS_KEPT:]


# -------------------------------------------------------------------------------------------
# Timing
def _block(out: Any) -> None:
    """Wait for an asynchronous result (JAX dispatches ahead)."""
    for leaf in out if isinstance(out, (tuple, list)) else (out,):
        if hasattr(leaf, "block_until_ready"):
            leaf.block_until_ready()


def seconds_per_call(fn: Callable[[], Any]) -> float:
    """The least over 5 samples of the seconds one call of ``fn`` takes (noise only adds), each
    sample long enough (about a millisecond) for the clock; after a warm-up call."""
    _block(fn())
    t = perf_counter()
    _block(fn())
    single = perf_counter() - t
    reps = max(1, min(2000, int(1e-3 / max(single, 1e-7))))
    samples = []
    for _ in range(5 if single < 0.05 else 2):
        t = perf_counter()
        for _ in range(reps):
            out = fn()
        _block(out)
        samples.append((perf_counter() - t) / reps)
    return min(samples)


class Kernels:
    """How to call each kind of operation on a backend, at a given number of elements."""

    def __init__(self, be: Any, dtype: str) -> None:
        self.be, self.xp, self.dtype = be, be.xp, dtype

    def _array(self, rows: int, cols: int, value: float = 0.5) -> Any:
        return self.be.asarray(np.full((rows, cols), value, dtype=self.dtype), self.dtype)

    def call(self, kind: str, elements: int) -> Callable[[], Any]:
        be, xp = self.be, self.xp
        rows = max(1, elements // WIDTH)
        cols = min(WIDTH, elements)
        if kind in ("gather_rows", "gather_rows:uint8", "scale_pixels"):
            return self._pixels(kind, max(1, elements // PIXEL_WIDTH))
        a, b = self._array(rows, cols), self._array(rows, cols, 0.25)
        golden = self._array(rows, cols, (1 + 5 ** 0.5) / 2)  # a * (1 - a) = -1: no drift
        calls: dict[str, Callable[[], Any]] = {
            "arith": lambda: a * b,
            "transcendental": lambda: xp.exp(a),
            "reduce": lambda: xp.sum(a, axis=0),
            "sigmoid": lambda: be.sigmoid(a),
            "sigmoid_backward": lambda: be.sigmoid_backward(golden, b),
            "add_scaled": lambda: be.add_scaled(a, b, 1e-6),
            "sum_squares": lambda: be.sum_squares(a),
            "sgd_update": lambda: be.sgd_update(a, b, None, 1.0, 0.0, False),
            "rmsprop_update": lambda: be.rmsprop_update(a, b, self._v, 1e-9, 0.9, 1e-7),
            "adam_update": lambda: be.adam_update(a, b, self._m, self._v, 1e-9, 0.9, 0.999,
                                                  1e-7),
        }
        if kind not in calls:
            raise MLPError(f"the calibration has no way to time {kind!r}")
        if kind in ("rmsprop_update", "adam_update"):
            self._v, self._m = self._array(rows, cols, 1.0), self._array(rows, cols, 0.1)
        return calls[kind]

    def _pixels(self, kind: str, rows: int) -> Callable[[], Any]:
        be = self.be
        rng = np.random.default_rng(0)
        idx = be.asarray(rng.integers(0, GATHER_SOURCE_ROWS, rows), "int64")
        if kind == "scale_pixels":
            from ..pixels import DIVISOR, TABLE

            values = be.asarray(rng.integers(0, 256, (rows, PIXEL_WIDTH), dtype=np.uint8),
                                "uint8")
            divisor, table = be.asarray(DIVISOR, "float32"), be.asarray(TABLE, "float32")
            return lambda: be.scale_pixels(values, divisor, table)
        dtype = "uint8" if kind.endswith("uint8") else self.dtype
        source = be.asarray(rng.integers(0, 256, (GATHER_SOURCE_ROWS, PIXEL_WIDTH))
                            .astype(dtype), dtype)
        return lambda: be.gather_rows(source, idx)

    def curves(self, kinds: list[str], tick: Callable[[], None]) -> dict[str, list]:
        """Each kind's curve: [elements, seconds] at CURVE_ELEMENTS, made monotone (a point
        costs at most what the next, larger one costs): a call of a few microseconds sometimes
        stalls for milliseconds, in every sample (torch's ``add_scaled`` at 64K elements: 7.8
        ms between 7 and 146 us), and one such point put 10 ms of phantom work into a 3 ms step."""
        points: dict[str, list] = {}
        for kind in kinds:
            seconds = []
            for n in CURVE_ELEMENTS:
                seconds.append(seconds_per_call(self.call(kind, n)))
                tick()
            for i in range(len(seconds) - 2, -1, -1):
                seconds[i] = min(seconds[i], seconds[i + 1])
            points[kind] = [[n, t] for n, t in zip(CURVE_ELEMENTS, seconds)]
        return points

    def products(self, products: list[tuple], tick: Callable[[], None]) -> list[float]:
        """The seconds of each (variant, m, k, n) product."""
        seconds = []
        for product in products:
            seconds.append(seconds_per_call(self.product(*product)))
            tick()
        return seconds

    def product(self, variant: str, m: int, k: int, n: int) -> Callable[[], Any]:
        if m * k + k * n + m * n > MAX_PRODUCT_ELEMENTS:
            raise MLPError(f"a product of {m}x{k} by {k}x{n} is beyond what the calibration "
                           "measures")
        a = self._array(k, m) if variant == "TN" else self._array(m, k)
        b = self._array(n, k) if variant == "NT" else self._array(k, n)
        return lambda: self.be.matmul(a, b, transpose_a=variant == "TN",
                                      transpose_b=variant == "NT")
