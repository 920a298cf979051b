"""mlp-core: one array-API MLP core on pluggable backends (NumPy, TensorFlow, CuPy, PyTorch, JAX).

Importing this package is cheap and imports no array library: each public name below is loaded
from its module on first use (PEP 562), so ``import mlp_core`` never imports TensorFlow, CuPy,
PyTorch or JAX, and the CLI can answer Ctrl-C during start-up with one line.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._version import __version__

_EXPORTS = {
    "MLP": "model", "History": "history", "TrainingDiverged": "training",
    "SGD": "optimizers", "RMSprop": "optimizers", "Adam": "optimizers",
    "load_dataset": "data", "Dataset": "data", "read_idx": "data", "make_scaler": "data",
    "set_backend": "selection", "use_backend": "selection", "get_backend": "selection",
    "reset_backend": "selection", "PRESETS": "presets", "get_preset": "presets",
    "MLPError": "errors", "BackendUnavailable": "errors", "DataError": "errors",
    "ModelFileError": "errors", "Pixels": "pixels",
}
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'mlp_core' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
