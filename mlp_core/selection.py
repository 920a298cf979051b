"""Which backend the core runs on.

Precedence: an explicit ``backend=`` argument > ``with use_backend(...)`` (a ContextVar, so it is
per thread and per task) > ``set_backend(...)`` > the environment variables ``MLP_BACKEND`` and
``MLP_DEVICE`` (read when a backend is first needed, never at import) > ``"numpy"``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextvars import ContextVar

from . import backends
from .backends import DEFAULT_BACKEND
from .backends.base import Backend
from .errors import MLPError

_context: ContextVar[Backend | None] = ContextVar("mlp_core_backend", default=None)
_global: Backend | None = None
_cache: dict[tuple, Backend] = {}


def _make(name: str, device: str | None, options: dict) -> Backend:
    """One backend instance per (name, device, options), reused across models."""
    if not isinstance(name, str):
        raise MLPError(f"a backend is a name ({', '.join(backends.REGISTRY)}) or a Backend "
                       f"instance, got {name!r}")
    if device is not None and not isinstance(device, str):
        raise MLPError(f"device must be a string such as 'cpu' or 'gpu', got {device!r}")
    threads = options.get("threads")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int)
                                or threads < 1):
        raise MLPError(f"threads must be an integer >= 1, got {threads!r}")
    key = (backends.entry(name).name, (device or "").lower() or None,
           tuple(sorted(options.items())))
    if key not in _cache:
        _cache[key] = backends.create(name, device, **options)
    return _cache[key]


def set_backend(name: str | Backend, device: str | None = None, **options) -> Backend:
    """Make ``name`` (on ``device``) the process-wide default backend and return it."""
    global _global
    _global = name if isinstance(name, Backend) else _make(name, device, options)
    return _global


def reset_backend() -> None:
    """Forget ``set_backend``: selection falls back to the environment, then to numpy."""
    global _global
    _global = None


@contextlib.contextmanager
def use_backend(name: str | Backend, device: str | None = None, **options) -> Iterator[Backend]:
    """Within the ``with`` block, models created without ``backend=`` use this backend."""
    be = name if isinstance(name, Backend) else _make(name, device, options)
    token = _context.set(be)
    try:
        yield be
    finally:
        _context.reset(token)


def get_backend(name: str | Backend | None = None, device: str | None = None, **options) -> Backend:
    """Resolve the backend to use now, by the precedence in this module's docstring."""
    if isinstance(name, Backend):
        return name
    if name is not None:
        return _make(name, device, options)
    if device is not None or options:
        # a device or option alone applies to whichever backend would be chosen; where that is
        # the environment's, so is the device unless one is given
        chosen = _context.get() or _global
        if chosen is not None:  # its own options (its mode, ...) stay unless given anew
            return _make(chosen.name, device, {**chosen.options, **options})
        return _make(_env_backend(), device if device is not None else _env_device(), options)
    if (be := _context.get()) is not None:
        return be
    if _global is not None:
        return _global
    return _make(_env_backend(), _env_device(), options)


def _env_device() -> str | None:
    return os.environ.get("MLP_DEVICE", "").strip() or None


def _env_backend() -> str:
    name = os.environ.get("MLP_BACKEND", "").strip()
    if not name:
        return DEFAULT_BACKEND
    try:
        return backends.entry(name).name
    except MLPError as exc:
        raise MLPError(f"MLP_BACKEND: {exc}") from None
