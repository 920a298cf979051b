"""Backend registry: every backend by name, loaded lazily on first use.

Importing this package imports no array library but NumPy: TensorFlow and CuPy are imported only
when their backend is created.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from dataclasses import dataclass

from .base import Backend  # first: the core imports it while this package is initialising

from ..errors import BackendUnavailable, MLPError, choice_error  # noqa: E402


@dataclass(frozen=True)
class BackendEntry:
    name: str
    module: str
    cls: str
    requires: tuple[str, ...]  # import names of the libraries it needs
    install: str  # the command that makes it available
    devices: tuple[str, ...]


REGISTRY: dict[str, BackendEntry] = {
    e.name: e
    for e in [
        BackendEntry("numpy", "mlp_core.backends.numpy_backend", "NumpyBackend",
                     ("numpy", "array_api_compat"), "pip install numpy array-api-compat", ("cpu",)),
        BackendEntry("array-api-strict", "mlp_core.backends.strict_backend", "StrictBackend",
                     ("array_api_strict",), "pip install array-api-strict", ("cpu",)),
        BackendEntry("tensorflow", "mlp_core.backends.tensorflow_backend", "TensorFlowBackend",
                     ("tensorflow",), 'pip install "mlp-core[tensorflow]"', ("cpu", "gpu")),
        BackendEntry("cupy", "mlp_core.backends.cupy_backend", "CupyBackend",
                     ("cupy",), 'pip install "mlp-core[cupy]"', ("gpu",)),
    ]
}


def entry(name: str) -> BackendEntry:
    key = name.strip().lower()
    if key not in REGISTRY:
        raise choice_error("backend", name, REGISTRY)
    return REGISTRY[key]


def missing_libraries(name: str) -> list[str]:
    """The libraries a backend needs that are not installed (cheap: imports nothing)."""
    return [lib for lib in entry(name).requires if importlib.util.find_spec(lib) is None]


def create(name: str, device: str | None = None, **options) -> Backend:
    """A new backend instance; ``BackendUnavailable`` if its library or device is missing."""
    e = entry(name)
    missing = missing_libraries(e.name)
    if missing:
        raise BackendUnavailable(
            f"backend {e.name!r} needs {', '.join(missing)}, which is not installed: {e.install}")
    device = (device or e.devices[0]).strip().lower()
    if device not in e.devices:
        raise BackendUnavailable(
            f"backend {e.name!r} has no device {device!r}; valid: {', '.join(e.devices)}")
    cls = getattr(importlib.import_module(e.module), e.cls)
    accepted = set(inspect.signature(cls).parameters) - {"device"}
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise MLPError(f"backend {e.name!r} takes no option {', '.join(unknown)}; "
                       f"valid: {', '.join(sorted(accepted)) or 'none'}")
    return cls(device=device, **options)


__all__ = ["Backend", "BackendEntry", "REGISTRY", "create", "entry", "missing_libraries"]
