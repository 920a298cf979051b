"""The ``mlp-core`` command's entry point (and ``python -m mlp_core``'s).

It imports nothing before its ``try``, so that Ctrl-C at any moment, while the command's modules
are still being imported included, ends with the one line ``mlp-core: interrupted`` and exit 130.
(An interrupt during Python's own start-up, before any of mlp-core runs, is Python's to report.)
"""

from __future__ import annotations

import os
import sys

INTERRUPTED = 130


def main() -> int:
    try:
        from .signals import deferred_interrupts

        with deferred_interrupts():  # (every command needs NumPy: see mlp_core.signals)
            import numpy  # noqa: F401

        from .cli import main as cli_main

        status = cli_main()
    except KeyboardInterrupt:
        print("mlp-core: interrupted", file=sys.stderr)
        status = INTERRUPTED
    except Exception as exc:  # e.g. a RuntimeError from a class being made when it landed
        if not _caused_by_interrupt(exc):
            raise
        print("mlp-core: interrupted", file=sys.stderr)
        status = INTERRUPTED
    if status == INTERRUPTED:
        # An interrupt that passed through code Python ran with exec() (dataclasses do, while
        # modules are imported) makes the interpreter kill itself with SIGINT at exit, even
        # though it was handled: leave now, with the status said.
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(INTERRUPTED)
    return status


def _caused_by_interrupt(exc: BaseException | None) -> bool:
    """Whether a KeyboardInterrupt is among the causes of ``exc``."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False
