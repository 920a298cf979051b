"""Ctrl-C while a compiled library loads: deferred until it has loaded.

An interrupt that lands inside a C extension's import can surface as an ``ImportError`` instead of
a ``KeyboardInterrupt`` (NumPy's ``PyCapsule_Import`` turns it into one) and leave the library
half-imported. So the command blocks SIGINT while it imports NumPy and while a backend imports its
library; an interrupt that arrives then takes effect the moment the import is done.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Within the block, Ctrl-C waits, and takes effect (KeyboardInterrupt) at its end.

    Two layers: SIGINT is blocked on this thread, so the threads a library starts meanwhile
    inherit the block; and a handler that only takes note replaces Python's, for a signal that
    another, older thread receives (Python runs handlers on the main thread, between bytecodes).
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # (only the main thread handles signals)
        return
    received = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    mask = (signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
            if hasattr(signal, "pthread_sigmask") else None)
    try:
        yield
    finally:
        if mask is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # a blocked SIGINT arrives now
        signal.signal(signal.SIGINT, previous)
    if received:  # what the handler in place before would have done, now
        if callable(previous):
            previous(signal.SIGINT, None)  # Python's own raises KeyboardInterrupt
        elif previous == signal.SIG_DFL:
            os.kill(os.getpid(), signal.SIGINT)
