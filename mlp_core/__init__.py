"""mlp-core: one array-API MLP core on pluggable backends (NumPy, TensorFlow, CuPy, PyTorch, JAX).

Importing this package is cheap and imports no array library: each public name below is loaded
from its module on first use (PEP 562), so ``import mlp_core`` never imports TensorFlow, CuPy,
PyTorch or JAX, and the CLI can answer Ctrl-C during start-up with one line: the package's own
import runs no import statement at all (nothing that a Ctrl-C could interrupt half-way), so
``python -m mlp_core`` reaches the entry point's handler (``__main__.py``) at once.
"""

__version__ = "0.1.0"  # the one place (pyproject.toml reads it from here)
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


def __getattr__(name: str) -> object:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'mlp_core' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
