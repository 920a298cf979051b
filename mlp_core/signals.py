"""Ctrl-C while a compiled library loads: deferred until it has loaded.

An interrupt that lands inside a C extension's import can surface as an ``ImportError`` instead of
a ``KeyboardInterrupt`` (NumPy's ``PyCapsule_Import`` turns it into one) and leave the library
half-imported. So the command blocks SIGINT while it imports NumPy and while a backend imports its
library; an interrupt that arrives then takes effect the moment the import is done.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Within the block, SIGINT waits (on the main thread, where Python handles it)."""
    if (not hasattr(signal, "pthread_sigmask")
            or threading.current_thread() is not threading.main_thread()):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
