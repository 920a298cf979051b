"""Which backend the core runs on.

Precedence: an explicit ``backend=`` argument > ``with use_backend(...)`` (a ContextVar, so it is
per thread and per task) > ``set_backend(...)`` > the environment variables ``MLP_BACKEND`` and
``MLP_DEVICE`` (read when a backend is first needed, never at import) > ``"numpy"``.
"""

from __future__ import annotations

import contextlib
import os
from contextvars import ContextVar
from typing import Iterator

from . import backends
from .backends.base import Backend

from .errors import MLPError

DEFAULT_BACKEND = "numpy"

_context: ContextVar[Backend | None] = ContextVar("mlp_core_backend", default=None)
_global: Backend | None = None
_cache: dict[tuple, Backend] = {}


def _make(name: str, device: str | None, options: dict) -> Backend:
    """One backend instance per (name, device, options), reused across models."""
    key = (backends.entry(name).name, (device or "").lower() or None, tuple(sorted(options.items())))
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
        # a device or option alone applies to whichever backend would be chosen
        chosen = _context.get() or _global
        return _make(chosen.name if chosen else _env_backend(), device, options)
    if (be := _context.get()) is not None:
        return be
    if _global is not None:
        return _global
    return _make(_env_backend(), os.environ.get("MLP_DEVICE") or None, options)


def _env_backend() -> str:
    name = os.environ.get("MLP_BACKEND", "").strip()
    if not name:
        return DEFAULT_BACKEND
    try:
        return backends.entry(name).name
    except MLPError as exc:
        raise MLPError(f"MLP_BACKEND: {exc}") from None
