"""Bounded property-based fuzzing of the data readers: bad bytes give a DataError, never a crash.

Derandomized, so a run in CI explores the same examples every time.
"""

from __future__ import annotations

import gzip
import io
import math
import tempfile
from pathlib import Path

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from mlp_core import DataError, load_dataset  # noqa: E402
from mlp_core.idx import _IDX_DTYPES, parse_idx, read_idx  # noqa: E402

FUZZ = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])

# Dimensions: mostly small, sometimes zero or large enough to overflow a 64-bit product
dims = st.one_of(st.integers(0, 6), st.sampled_from([2**16, 2**31, 2**32 - 1]))
codes = st.one_of(st.sampled_from(sorted(_IDX_DTYPES)), st.integers(0, 255))


@st.composite
def idx_like(draw) -> tuple[bytes, tuple[int, ...], int]:
    """An IDX-like file: a plausible header, then a payload of about the right length."""
    code = draw(codes)
    shape = tuple(draw(st.lists(dims, min_size=0, max_size=6)))
    ndim = draw(st.one_of(st.just(len(shape)), st.integers(0, 255)))
    header = bytes([0, 0, code, ndim]) + b"".join(d.to_bytes(4, "big") for d in shape)
    itemsize = np.dtype(_IDX_DTYPES[code]).itemsize if code in _IDX_DTYPES else 1
    size = math.prod(shape) * itemsize
    length = min(size, 4096) + draw(st.integers(-3, 3))
    payload = draw(st.binary(min_size=max(length, 0), max_size=max(length, 0)))
    return header + payload, shape, code


def check(parse, raw: bytes) -> None:
    """``parse(raw)`` gives an array of the header's shape, or a DataError."""
    try:
        a = parse(raw)
    except DataError as exc:
        assert "\n" not in str(exc)
        return
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    assert isinstance(a, np.ndarray) and a.shape == shape
    assert a.dtype == np.dtype(_IDX_DTYPES[raw[2]]).newbyteorder("=")


@FUZZ
@given(st.binary(max_size=64))
def test_parse_idx_random_bytes(raw):
    check(parse_idx, raw)


@FUZZ
@given(idx_like())
def test_parse_idx_structured(case):
    raw, _, _ = case
    check(parse_idx, raw)


@FUZZ
@given(idx_like(), st.booleans(), st.integers(0, 64))
def test_read_idx_files(case, compress, cut):
    raw, _, _ = case
    data = gzip.compress(raw) if compress else raw
    if cut and compress:
        data = data[: max(len(data) - cut, 0)]  # a truncated download
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ("f.gz" if compress else "f")
        path.write_bytes(data)
        check(lambda _: read_idx(path), raw)


def npz_bytes(compress: bool) -> bytes:
    buf = io.BytesIO()
    rng = np.random.default_rng(0)
    save = np.savez_compressed if compress else np.savez
    save(buf, x_train=rng.integers(0, 256, (6, 4, 4), dtype=np.uint8),
         y_train=np.arange(6, dtype=np.uint8), x_test=np.zeros((2, 4, 4), np.uint8),
         y_test=np.arange(2, dtype=np.uint8))
    return buf.getvalue()


GOOD_NPZ = [npz_bytes(False), npz_bytes(True)]  # stored, deflated


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(st.sampled_from(GOOD_NPZ), st.lists(st.tuples(st.floats(0, 1, exclude_max=True),
                                                     st.integers(0, 255)), max_size=8),
       st.integers(0, 2000))
def test_load_npz_mangled(good, flips, keep):
    """A damaged mnist.npz (bytes changed, truncated) loads, or is a DataError."""
    data = bytearray(good)
    for where, value in flips:
        data[int(where * len(data))] = value
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "mnist.npz").write_bytes(bytes(data[:keep] if keep else data))
        try:
            ds = load_dataset("mnist", tmp, scaler=None)
        except DataError as exc:
            assert "\n" not in str(exc)
            return
    assert ds.x_train.shape[0] == ds.y_train.shape[0] and ds.y_train.max() < 10
