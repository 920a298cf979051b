"""The model file: one ``.npz`` holding a JSON description and the weight arrays.

``meta`` is a JSON string: ``{"format": "mlp-core-model", "version": 2, "config": {...},
"penalty": {"l1": [...], "l2": [...]}, "reduction": "mean"}``; ``param_0``, ``param_1``, ... are
``W1, b1, W2, b2, ...``. The optimizer state is not saved: a loaded model's first ``fit`` starts
a fresh optimizer. Loading checks everything it reads before it reads the weights themselves: the
JSON, the configuration's keys and values, and each array's declared dtype and shape against the
architecture, so a damaged or hostile file is refused without reading (or allocating) its data.
"""

from __future__ import annotations

import io
import json
import math
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ModelFileError
from .fileio import atomic_write_bytes
from .validation import DTYPES, variable_dtype

MODEL_FORMAT = "mlp-core-model"
MODEL_VERSION = 2  # 2: per-layer penalties and the loss reduction; version 1 files still load
READABLE_VERSIONS = (1, 2)
CONFIG_KEYS = ("layers", "activation", "output", "loss", "init", "init_scale", "seed", "dtype")
MAX_META_BYTES = 1 << 20


def save_model(model: Any, path: str | os.PathLike) -> None:
    """Write ``model``'s configuration, penalties and weights to ``path``, atomically."""
    buf = io.BytesIO()
    meta = {"format": MODEL_FORMAT, "version": MODEL_VERSION, "config": model.config(),
            "penalty": {"l1": list(model.l1), "l2": list(model.l2)}, "reduction": model.reduction}
    arrays = {f"param_{i}": w for i, w in enumerate(model.get_weights())}
    np.savez(buf, meta=np.array(json.dumps(meta)), **arrays)
    atomic_write_bytes(path, buf.getvalue())


def read_model_file(path: str | os.PathLike) -> tuple[dict, list[np.ndarray]]:
    """``(meta, params)`` from a model file, every part checked; ``ModelFileError`` otherwise."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: not a file" if path.exists() else f"{path}: no such file")
    try:
        with zipfile.ZipFile(path) as zf:
            meta = _read_meta(zf, path)
            params = _read_params(zf, path, meta)
    except ModelFileError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, RuntimeError, MemoryError) as exc:
        raise ModelFileError(f"{path}: not an mlp-core model file ({exc})") from None
    return meta, params


def _read_meta(zf: zipfile.ZipFile, path: Path) -> dict:
    def bad(why: str) -> ModelFileError:
        return ModelFileError(f"{path}: not an mlp-core model file ({why})")

    if "meta.npy" not in zf.namelist():
        raise bad("no meta entry")
    if zf.getinfo("meta.npy").file_size > MAX_META_BYTES:
        raise bad("meta entry too large")
    declared, dt = _array_header(zf, "meta.npy")
    if declared != () or dt.kind != "U":
        raise bad("meta is not a string")
    with zf.open("meta.npy") as f:
        value = np.lib.format.read_array(f, allow_pickle=False)
    if value.ndim != 0 or value.dtype.kind != "U":
        raise bad("meta is not a string")
    try:
        meta = json.loads(str(value))
    except json.JSONDecodeError as exc:
        raise bad(f"meta is not JSON: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != MODEL_FORMAT:
        raise bad("wrong format tag")
    if meta.get("version") not in READABLE_VERSIONS:
        raise ModelFileError(f"{path}: model format version {meta.get('version')!r} is not "
                             f"supported (this is version {MODEL_VERSION})")
    cfg = meta.get("config")
    if not isinstance(cfg, dict):
        raise bad("no config")
    unknown = sorted(set(cfg) - set(CONFIG_KEYS))
    missing = sorted(set(CONFIG_KEYS) - set(cfg) - {"seed"})
    if unknown or missing:
        raise bad(f"config keys: unknown {unknown}, missing {missing}")
    layers = cfg["layers"]
    if not (isinstance(layers, list) and len(layers) >= 2 and all(
            type(s) is int and s >= 1 for s in layers)):
        raise bad(f"config.layers is not a list of positive integers: {layers!r}")
    if cfg["dtype"] not in DTYPES:
        raise bad(f"config.dtype {cfg['dtype']!r}")
    n = len(layers) - 1
    pen = meta.get("penalty", {})
    if not isinstance(pen, dict):
        raise bad("penalty is not a mapping")
    for key in ("l1", "l2"):
        value = pen.get(key, 0.0)
        values = [value] * n if isinstance(value, (int, float)) else value
        if not (isinstance(values, list) and len(values) == n and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                and v >= 0 for v in values)):
            raise bad(f"penalty.{key} is not {n} numbers >= 0: {value!r}")
        pen[key] = [float(v) for v in values]
    meta["penalty"] = pen
    meta.setdefault("reduction", "mean")
    return meta


def _read_params(zf: zipfile.ZipFile, path: Path, meta: dict) -> list[np.ndarray]:
    sizes, dtype = meta["config"]["layers"], meta["config"]["dtype"]
    expected = [s for a, b in zip(sizes[:-1], sizes[1:]) for s in ((a, b), (b,))]
    names = sorted(n for n in zf.namelist() if n.startswith("param_"))
    if names != sorted(f"param_{i}.npy" for i in range(len(expected))):
        raise ModelFileError(f"{path}: weights do not match the architecture {sizes}")
    params = []
    for i, shape in enumerate(expected):
        declared, dt = _array_header(zf, f"param_{i}.npy")
        if declared != shape or dt.kind != "f":
            raise ModelFileError(f"{path}: weights do not match the architecture {sizes} "
                                 f"(param_{i}: {dt} {declared}, expected {shape})")
        with zf.open(f"param_{i}.npy") as f:  # the header matched: now read the data
            p = np.lib.format.read_array(f, allow_pickle=False)
        if not np.isfinite(p).all():
            raise ModelFileError(f"{path}: param_{i} holds NaN or infinite values")
        params.append(p.astype(variable_dtype(dtype), copy=False))  # (mixed: float32)
    return params


def _array_header(zf: zipfile.ZipFile, name: str) -> tuple[tuple, np.dtype]:
    """The shape and dtype an .npy member declares, read from its header alone."""
    with zf.open(name) as f:
        version = np.lib.format.read_magic(f)
        header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                  else np.lib.format.read_array_header_2_0)
        shape, _, dtype = header(f)
    return tuple(shape), dtype
