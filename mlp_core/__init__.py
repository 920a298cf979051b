"""mlp-core: one array-API MLP core on pluggable backends (NumPy, TensorFlow, CuPy, PyTorch, JAX).

Importing this package imports no array library but NumPy (and array-api-compat).
"""

from ._version import __version__  # noqa: F401
from .data import Dataset, load_dataset, make_scaler, read_idx  # noqa: E402
from .errors import BackendUnavailable, DataError, MLPError, ModelFileError  # noqa: E402
from .history import History  # noqa: E402
from .model import MLP  # noqa: E402
from .optimizers import SGD, Adam, RMSprop  # noqa: E402
from .training import TrainingDiverged  # noqa: E402
from .selection import get_backend, reset_backend, set_backend, use_backend  # noqa: E402

__all__ = [
    "MLP", "History", "TrainingDiverged", "SGD", "RMSprop", "Adam",
    "load_dataset", "Dataset", "read_idx", "make_scaler",
    "set_backend", "use_backend", "get_backend", "reset_backend",
    "MLPError", "BackendUnavailable", "DataError", "ModelFileError",
]
