"""The IDX file format of MNIST and Fashion-MNIST: decoding bytes, reading (gzipped) files.

Every problem is a :class:`~mlp_core.errors.DataError` with a one-line message naming the file.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

from .errors import DataError, one_line

_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
# The format allows 255 dimensions; images and labels need at most 3, and more is surely garbage
MAX_IDX_DIMS = 4


def parse_idx(raw: bytes, source: str = "<bytes>") -> np.ndarray:
    """Decode the bytes of one IDX file (already decompressed)."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DataError(f"{source}: not an IDX file (bad magic number)")
    ndim = raw[3]
    if not 1 <= ndim <= MAX_IDX_DIMS:
        raise DataError(f"{source}: IDX header gives {ndim} dimensions; 1 to {MAX_IDX_DIMS} "
                        "are supported")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{source}: truncated IDX header")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    if 0 in shape:
        raise DataError(f"{source}: IDX file holds no data (shape {shape})")
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = header + math.prod(shape) * dtype.itemsize  # Python ints: no overflow
    if len(raw) != expected:
        raise DataError(f"{source}: IDX data is {len(raw)} bytes, its header says {expected} "
                        "(truncated or corrupt file)")
    # no copy for bytes (uint8); other types are byte-swapped to native order
    return np.frombuffer(raw, dtype, offset=header).reshape(shape).astype(
        dtype.newbyteorder("="), copy=False)


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except OSError as exc:  # permission denied, is a directory, I/O error...
        raise DataError(f"{path}: cannot read ({exc.strerror or one_line(exc)})") from None


def _decompressed(path: Path) -> bytes:
    raw = _read_bytes(path)
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: corrupt or truncated gzip file ({one_line(exc)})") from None


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file, gzip-compressed (``.gz``) or not."""
    path = Path(path)
    return parse_idx(_decompressed(path), str(path))
