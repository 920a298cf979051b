"""The mlp-core command: train end to end, info, and one-line errors without tracebacks."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from mlp_core import backends
from mlp_core.cli import main

from .helpers import write_idx_dataset


@pytest.fixture
def toy_dir(tmp_path):
    write_idx_dataset(tmp_path / "data", n_train=200, n_test=50)
    return tmp_path / "data"


def test_train_end_to_end(toy_dir, tmp_path, capsys):
    rc = main(["train", "--dataset", "mnist", "--data-dir", str(toy_dir), "--epochs", "2",
               "--batch-size", "64", "--layers", "16,8", "--json", str(tmp_path / "h.json"),
               "--save", str(tmp_path / "m.npz"), "--eval-every", "1"])
    out, err = capsys.readouterr()
    assert rc == 0
    assert "test accuracy" in out and "train time" in out
    assert "epoch 2/2" in err  # plain progress lines when not on a terminal
    saved = json.loads((tmp_path / "h.json").read_text())
    assert saved["info"]["model"]["layers"] == [784, 16, 8, 10]
    assert len(saved["history"]["val_accuracy"]) == 2 and "test" in saved["info"]
    assert (tmp_path / "m.npz").exists()


@pytest.mark.parametrize("argv,message", [
    (["train", "--activation", "swish"], "unknown activation 'swish'"),
    (["train", "--backend", "nope"], "unknown backend 'nope'; valid:"),
    (["train", "--batch-size", "0"], "argument --batch-size: expected an integer >= 1"),
    (["train", "--optimizer", "adagrad"], "unknown optimizer 'adagrad'"),
    (["train", "--dataset", "cifar"], "unknown dataset 'cifar'"),
    (["train", "--json", "/proc/not-writable/h.json"], "cannot write"),
    (["train", "--samples", "100"], "--samples size the synthetic dataset; give --dataset "
     "synthetic"),
])
def test_bad_input_is_one_line(toy_dir, argv, message, capsys):
    rc = main(argv + ["--data-dir", str(toy_dir), "--dataset", "mnist", "--epochs", "1", "--quiet"]
              if "--dataset" not in argv else argv + ["--data-dir", str(toy_dir)])
    err = capsys.readouterr().err
    assert rc == 2
    last = err.strip().splitlines()[-1]
    assert last.startswith("mlp-core: error: ") and message in last
    assert "Traceback" not in err


def test_bad_option_value_is_argparse_error():
    out = subprocess.run([sys.executable, "-m", "mlp_core", "train", "--layers", "70,x"],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "expected comma-separated integers" in out.stderr
    assert "Traceback" not in out.stderr


def test_info_lists_every_backend(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    for name in backends.REGISTRY:
        assert f"- {name}" in out
    assert "blas=" in out


def test_divergence_is_one_line_and_no_warning(toy_dir):
    """The CLI says a divergence once, as one line, with no warning machinery; the summary
    counts the epoch that ran and was undone; exit status 1 (training stopped early)."""
    proc = subprocess.run(
        [sys.executable, "-m", "mlp_core", "train", "--data-dir", str(toy_dir), "--epochs", "2",
         "--batch-size", "60000", "--optimizer", "sgd", "--lr", "1e300", "--layers", "16"],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert [line for line in lines if "diverged" in line or "NaN" in line] == [lines[-1]]
    assert lines[-1].startswith("mlp-core: training stopped early: the weights became NaN")
    assert "Warning" not in proc.stderr and "overflow" not in proc.stderr
    assert "over 1 epoch (epoch 1 diverged and was undone)" in proc.stdout


@pytest.fixture(scope="module")
def interpreter_start():
    """Seconds this machine's Python takes to start and stop (``python -c pass``): before it
    is up, an interrupt lands in Python's own start-up (its ``site`` module), not in mlp-core."""
    import time

    times = []
    for _ in range(3):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        times.append(time.perf_counter() - t)
    return sorted(times)[1]


def test_the_package_import_runs_no_import_that_ctrl_c_could_interrupt():
    """``python -m mlp_core`` runs the package's __init__ before __main__'s handler: it must
    import nothing (no finder, no file read, no bytecode of another module)."""
    code = ("import sys; before = set(sys.modules); import mlp_core; "
            "print(sorted(set(sys.modules) - before))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['mlp_core']"


# Ctrl-C while the command is still importing its modules, or later: never a traceback
@pytest.mark.parametrize("delay", [0.0, 0.02, 0.05, 0.1, 0.2, 0.4])
def test_ctrl_c_at_any_moment_is_one_line(toy_dir, interpreter_start, delay):
    import signal
    import time

    def as_at_a_terminal() -> None:
        # a shell without job control starts background commands with SIGINT ignored, and
        # Python keeps it ignored: the command would train on (a run of the tests under
        # `cmd &` hung here for 120 s and left the process behind)
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    for _ in range(5):
        proc = subprocess.Popen(
            [sys.executable, "-m", "mlp_core", "train", "--data-dir", str(toy_dir), "--epochs",
             "100000", "--quiet", "--layers", "16"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            preexec_fn=as_at_a_terminal)
        try:
            time.sleep(interpreter_start + delay)
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=120)
        finally:
            proc.kill()  # never a stray process, whatever failed
            proc.wait()
        # Landed before the entry point's try: in Python's own start-up (site, which also runs
        # the editable install's finder, __editable___mlp_core_..._finder.py) or in runpy's
        # import of the package (__init__, __main__), as in any Python command: try later
        started = "_entry.py" in err or re.search(r"/mlp_core/(?!__init__|__main__)", err)
        if not started and ("Traceback" in err or "<frozen site>" in err or not err.strip()):
            delay += 0.05
            continue
        assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
        assert proc.returncode == 130, err
        assert err.strip().splitlines()[-1] == "mlp-core: interrupted"
        return
    pytest.fail("every interrupt landed in Python's start-up; this machine starts it slowly")


def test_help_reads_as_plain_text_and_every_command_has_a_description(capsys):
    assert main(["--help"]) == 0
    top = capsys.readouterr().out
    assert "``" not in top and "check" in top and "compare" in top
    for command in ("train", "info", "check", "bench", "report", "compare"):
        main([command, "--help"])
        text = capsys.readouterr().out
        assert text.count("\n\n") >= 2, command  # usage, a description, the options


def test_the_busy_machine_warning_samples_the_cpu_now():
    """Not the load average, which still counts the command that ended a moment ago."""
    import subprocess
    import sys

    from mlp_core.machine import busy_cores

    loop = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        import time

        time.sleep(0.3)
        assert busy_cores(0.5) > 0.5
    finally:
        loop.kill()


def test_a_measurement_is_taken_again_while_the_hypervisor_takes_the_cpu(monkeypatch):
    """``least_stolen``: measured again while the steal time is over the limit; of measurements
    all over it, the least stolen stands."""
    from mlp_core import machine

    def reading(total: int, steal: int) -> list[int]:  # user ... steal, in ticks since boot
        return [total - steal, 0, 0, 0, 0, 0, 0, steal]

    def stealing(*stolen: int):
        """Readings around measurements of 100 ticks each, of which ``stolen`` were stolen."""
        out, total, steal = [], 0, 0
        for s in stolen:
            out.append(reading(total, steal))
            total, steal = total + 100, steal + s
            out.append(reading(total, steal))
        return iter(out)

    calls: list[int] = []

    def measure() -> int:
        calls.append(1)
        return len(calls)

    for stolen, stands in (((10, 3), 2), ((5, 10), 1), ((10, 1), 2), ((1, 10), 1)):
        monkeypatch.setattr(machine, "cpu_times", stealing(*stolen).__next__)
        calls.clear()
        assert machine.least_stolen(measure, tries=2) == stands, stolen
        assert len(calls) == (1 if stolen[0] <= machine.STEAL_LIMIT_PCT else 2)
    assert machine.steal_percent([0] * 8, [50, 0, 0, 40, 0, 0, 0, 10]) == 10.0
    assert machine.steal_percent(None, [0] * 8) is None  # no /proc/stat
    assert machine.steal_percent([1] * 8, [1] * 8) is None  # no time between the readings


def test_on_a_terminal_every_epoch_keeps_its_line():
    """As Keras: a bar for the epochs to come, and each finished epoch's line (loss, accuracy,
    phase times) stays on the screen above it."""
    import io

    from mlp_core.progress import EpochProgress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    progress = EpochProgress(3, stream=screen)
    for epoch in (1, 2, 3):
        progress.update(epoch, {"loss": 0.5, "accuracy": 0.8, "time_shuffle": 0.001,
                                "time_batches": 0.1, "time_eval": 0.002})
    progress.close()
    text = screen.getvalue()
    for epoch in (1, 2, 3):
        assert f"epoch {epoch}/3  loss 0.5000" in text
    assert text.count("shuffle 0.001s batches 0.100s eval 0.002s") == 3
