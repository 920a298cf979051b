"""The mlp-core command: train end to end, info, and one-line errors without tracebacks."""

from __future__ import annotations

import json
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
