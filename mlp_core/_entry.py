"""The ``mlp-core`` command's entry point (and ``python -m mlp_core``'s).

It imports nothing before its ``try``, so that Ctrl-C at any moment, while the command's modules
are still being imported included, ends with the one line ``mlp-core: interrupted`` and exit 130
(:mod:`mlp_core.signals` holds the policy). An interrupt during Python's own start-up, before any
of mlp-core runs, is Python's to report.
"""

from __future__ import annotations


def main() -> int:
    started = False
    try:
        from .signals import deferred_interrupts

        with deferred_interrupts():  # (every command needs NumPy: see mlp_core.signals)
            import numpy  # noqa: F401

        from .cli import main as cli_main

        started = True
        status = cli_main()
        if status != 130:
            return status
        said = True  # the command was interrupted, cleaned up and said so (the bench does)
    except KeyboardInterrupt:
        said = False
    except Exception as exc:
        # While modules are still imported, an interrupt can surface as another error (a
        # RuntimeError from a class being made when it landed): that is the interrupt. Once the
        # command runs, an error is an error, whatever it happened during, and keeps its
        # traceback.
        if started or not _caused_by_interrupt(exc):
            raise
        said = False
    from .signals import interrupted_exit

    interrupted_exit(say=not said)
    return 130  # (not reached: interrupted_exit ends the process)


def _caused_by_interrupt(exc: BaseException | None) -> bool:
    """Whether a KeyboardInterrupt is among the causes of ``exc``."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False
