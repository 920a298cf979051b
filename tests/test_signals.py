"""The signal policy (``mlp_core.signals``): Ctrl-C deferred while a library imports and never
lost, SIGTERM raising only where nothing else handles it, and the command's interrupted exit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from mlp_core import signals


class CleanupBug(RuntimeError):
    pass


def test_a_ctrl_c_that_arrives_while_the_block_raises_is_not_lost():
    with pytest.raises(KeyboardInterrupt) as caught:
        with signals.deferred_interrupts():
            os.kill(os.getpid(), signal.SIGINT)  # blocked: it waits for the block's end
            raise CleanupBug("the block fails")
    assert isinstance(caught.value.__context__, CleanupBug)


def test_a_deferred_ctrl_c_takes_effect_at_the_end_of_the_block():
    done = []
    with pytest.raises(KeyboardInterrupt):
        with signals.deferred_interrupts():
            os.kill(os.getpid(), signal.SIGINT)
            done.append("the import finished")
    assert done and signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_sigint_handler_installed_from_c_is_left_in_place(monkeypatch):
    """Python reports a handler installed from C as None, and cannot install None again."""
    real = signal.getsignal
    monkeypatch.setattr(signal, "getsignal",
                        lambda n: None if n == signal.SIGINT else real(n))
    installed = []
    monkeypatch.setattr(signal, "signal", lambda n, h: installed.append(n))
    with signals.deferred_interrupts():
        pass
    assert signal.SIGINT not in installed


def test_sigterm_raises_only_where_nothing_else_handles_it():
    with pytest.raises(KeyboardInterrupt):
        with signals.terminate_raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(10**6):  # the handler runs between bytecodes
                pass
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    outer = []
    previous = signal.signal(signal.SIGTERM, lambda *a: outer.append("outer"))
    try:
        with signals.terminate_raises(KeyboardInterrupt):  # an outer handler stays in charge
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(10**6):
                pass
        assert outer == ["outer"]
    finally:
        signal.signal(signal.SIGTERM, previous)


def _command(body: str) -> subprocess.CompletedProcess:
    """The entry point, in a fresh interpreter, with ``mlp_core.cli.main`` doing ``body``."""
    code = ("import atexit, sys\n"
            "atexit.register(lambda: print('atexit ran', flush=True))\n"
            "import mlp_core.cli\n"
            f"def fake():\n    {body}\n"
            "mlp_core.cli.main = fake\n"
            "from mlp_core._entry import main\n"
            "sys.exit(main())\n")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)


def test_an_interrupted_command_is_one_line_status_130_and_runs_its_atexit_handlers():
    out = _command("raise KeyboardInterrupt")
    assert out.returncode == 130 and out.stderr.strip() == "mlp-core: interrupted"
    assert "atexit ran" in out.stdout


def test_a_bug_in_clean_up_after_an_interrupt_keeps_its_traceback():
    out = _command("try:\n        raise KeyboardInterrupt\n    finally:\n"
                   "        raise RuntimeError('the clean-up has a bug')")
    assert out.returncode == 1, out.stderr
    assert "Traceback" in out.stderr and "RuntimeError: the clean-up has a bug" in out.stderr
    assert "mlp-core: interrupted" not in out.stderr
