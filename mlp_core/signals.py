"""Signals, in one place, with one policy.

- **Ctrl-C (SIGINT) is Python's ``KeyboardInterrupt``**, everywhere. Two things refine it:
  - :func:`deferred_interrupts`: while a compiled library imports, Ctrl-C waits and takes effect
    when the import is done (NumPy's C import turns an interrupt into an ``ImportError`` and leaves
    the library half-imported). One that arrives while the block raises is not lost: it is
    raised, with the block's exception as its context.
  - :func:`interrupted_exit`: the command's entry point ends an interrupted command with the one
    line ``mlp-core: interrupted`` and status 130, after the ``atexit`` handlers ran.
- **SIGTERM** is handled only while something must be cleaned up, and only by the main thread,
  and never in place of a handler that is already there (the program's own, or an outer one of
  ours): :func:`terminate_raises` makes it raise an exception in the main thread, so that the
  ``finally`` and ``except BaseException`` clean-ups run.
  - The bench: ``terminate_raises(KeyboardInterrupt)``, so SIGTERM ends a bench as Ctrl-C does
    (the running worker killed, the summary of the finished measurements written).
  - An atomic file write: ``terminate_raises(Terminated, then_die=True)``: the temporary file is
    removed, then the process dies of the SIGTERM, as it would have.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator

INTERRUPTED = 130  # the status of a command ended by Ctrl-C (or SIGTERM in the bench)


class Terminated(BaseException):
    """SIGTERM, raised by :func:`terminate_raises` (a BaseException: clean-ups run, nothing
    catches it as an error)."""


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Within the block, Ctrl-C waits, and takes effect (KeyboardInterrupt) at its end.

    Two layers: SIGINT is blocked on this thread, so the threads a library starts meanwhile
    inherit the block; and, where Python's own handler is in place, one that only takes note
    replaces it, for a signal that another, older thread receives (Python runs handlers on the
    main thread, between bytecodes). A handler installed from C is left in place: the blocked
    signal reaches it when the block ends.
    """
    if not _main_thread():
        yield  # (only the main thread handles signals)
        return
    received: list[int] = []
    previous = signal.getsignal(signal.SIGINT)
    noting = previous is not None  # None: installed from C, which Python cannot put back
    if noting:
        signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    mask = (signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
            if hasattr(signal, "pthread_sigmask") else None)
    try:
        yield
    finally:
        if mask is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # a blocked SIGINT arrives now
        if noting:
            signal.signal(signal.SIGINT, previous)
        if received:  # what the handler in place before would have done, now (even while the
            _deliver(previous)  # block raises: the interrupt is then raised in its place)


def _deliver(handler) -> None:
    if callable(handler):
        handler(signal.SIGINT, None)  # Python's own raises KeyboardInterrupt
    elif handler == signal.SIG_DFL:
        os.kill(os.getpid(), signal.SIGINT)


@contextlib.contextmanager
def terminate_raises(exception: type[BaseException], then_die: bool = False) -> Iterator[None]:
    """While active, SIGTERM raises ``exception`` in the main thread. ``then_die``: once the
    block has cleaned up, the process ends by the SIGTERM it received, as it would have without
    the block. Not in another thread, and not where SIGTERM already has a handler (see the
    module docstring): there the block runs as it is."""
    if not _main_thread() or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return

    def handler(signum, frame):
        raise exception()

    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    except exception:
        if not then_die:
            raise
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)  # clean-up done: die of it, as we would have
        raise SystemExit(128 + signal.SIGTERM) from None  # only if the signal is blocked
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def interrupted_exit(say: bool = True) -> None:
    """End an interrupted command: the one line (unless the command said it: ``say``), the
    ``atexit`` handlers, status 130.

    Through ``os._exit``, because CPython kills itself with SIGINT at exit when an interrupt
    passed through code it ran with ``exec()`` (dataclasses do, while modules are imported),
    even though the interrupt was handled; so the ``atexit`` handlers are run here first."""
    if say:
        print("mlp-core: interrupted", file=sys.stderr)
    if _main_thread():  # a second Ctrl-C does not cut the clean-up short
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    atexit._run_exitfuncs()  # (what a normal exit runs; CPython's own function for it)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(INTERRUPTED)
