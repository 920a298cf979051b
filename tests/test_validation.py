"""Bad input at every boundary (API, CLI, model files) gets one clear error of the project's own."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import mlp_core
from mlp_core import MLP, SGD, Adam, MLPError, ModelFileError, RMSprop
from mlp_core.cli import main

from .helpers import write_idx_dataset


# -- the API ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs,message", [
    ({"seed": -1}, "seed must be an integer >= 0"),
    ({"seed": "a"}, "seed must be an integer >= 0"),
    ({"seed": True}, "seed must be an integer >= 0"),
    ({"init_scale": float("nan")}, "init_scale must be a finite number > 0"),
    ({"init_scale": float("inf")}, "init_scale must be a finite number > 0"),
    ({"init_scale": -1}, "init_scale must be a finite number > 0"),
    ({"init_scale": "big"}, "init_scale must be a finite number > 0"),
    ({"layers": "784"}, "at least two positive integers"),
    ({"layers": [784, True, 10]}, "at least two positive integers"),
    ({"layers": 784}, "at least two positive integers"),
    ({"layers": [784, 10_000_000, 10]}, "GiB of memory"),
])
def test_bad_model_arguments(kwargs, message):
    with pytest.raises(MLPError, match=message):
        MLP(**{"layers": [4, 3], **kwargs})


@pytest.mark.parametrize("make,message", [
    (lambda: SGD(momentum=float("nan")), "momentum must be a finite number in"),
    (lambda: SGD(momentum=-1), "momentum must be a finite number in"),
    (lambda: SGD(learning_rate=float("inf")), "learning_rate must be a finite number in"),
    (lambda: SGD(decay=float("nan")), "decay must be a finite number in"),
    (lambda: RMSprop(rho=2.0), "rho must be a finite number in"),
    (lambda: Adam(epsilon=0), "epsilon must be a finite number in"),
    (lambda: SGD(nesterov="yes"), "nesterov must be True or False"),
])
def test_bad_optimizer_arguments(make, message):
    with pytest.raises(MLPError, match=message):
        make()


@pytest.mark.parametrize("kwargs,message", [
    ({"learning_rate": "fast"}, "learning_rate must be a finite number"),
    ({"l2": [0.01, 0.01, 0.0]}, r"l2 must be a number >= 0 or 2 such numbers"),
    ({"l2": [0.01, -1]}, "l2 must be a number >= 0"),
    ({"l1": float("nan")}, "l1 must be a number >= 0"),
    ({"l2": "0.01"}, "l2 must be a number >= 0"),
    ({"reduction": "median"}, "unknown reduction 'median'; valid: mean, sum"),
])
def test_bad_fit_arguments(tiny_data, kwargs, message):
    with pytest.raises(MLPError, match=message):
        MLP([12, 8, 3]).fit(*tiny_data, epochs=1, verbose=False, **kwargs)


def test_numpy_scalars_are_numbers(tiny_data):
    history = MLP([12, 8, 3]).fit(*tiny_data, epochs=1, l2=np.float32(0.01),
                                  l1=[np.float64(0.0), 0], verbose=False)
    assert history.info["fit"]["l2"] == pytest.approx([0.01, 0.01])


def test_values_beyond_the_training_dtype_are_refused(tiny_data):
    x, y = tiny_data
    x = x.astype(np.float64)
    x[0, 0] = 1e39
    with pytest.raises(MLPError, match="beyond the range of float32"):
        MLP([12, 8, 3]).fit(x, y, epochs=1, verbose=False)
    MLP([12, 8, 3], dtype="float64").fit(x, y, epochs=1, verbose=False)  # fits in float64


@pytest.mark.parametrize("weights", [None, "abc", [np.zeros((12, 8)), "x", np.zeros((8, 3)),
                                                   np.zeros(3)], "nan"])
def test_bad_set_weights(weights):
    model = MLP([12, 8, 3])
    if weights == "nan":
        weights = [np.full(w.shape, np.nan) for w in model.get_weights()]
    before = model.get_weights()
    with pytest.raises(MLPError, match="set_weights"):
        model.set_weights(weights)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("call,message", [
    (lambda: mlp_core.set_backend(None), "a backend is a name"),
    (lambda: mlp_core.set_backend(42), "a backend is a name"),
    (lambda: mlp_core.set_backend("numpy", threads="x"), "threads must be an integer >= 1"),
    (lambda: mlp_core.set_backend("numpy", threads=0), "threads must be an integer >= 1"),
    (lambda: mlp_core.get_backend("numpy", device=3), "device must be a string"),
])
def test_bad_backend_selection(call, message):
    with pytest.raises(MLPError, match=message):
        call()


def test_mlp_device_applies_with_backend_options(monkeypatch):
    monkeypatch.setenv("MLP_DEVICE", "garbage")
    with pytest.raises(MLPError, match="no device 'garbage'"):
        mlp_core.get_backend(threads=1)


# -- model files --------------------------------------------------------------------------------
@pytest.fixture
def saved(tmp_path):
    model = MLP([12, 8, 3], seed=1)
    model.save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz") as f:
        arrays = dict(f)
    return tmp_path, arrays, json.loads(str(arrays["meta"]))


def _write(path, arrays, meta):
    np.savez(path, **{**arrays, "meta": np.array(json.dumps(meta))})
    return path


@pytest.mark.parametrize("mutate,message", [
    (lambda a, m: m.pop("config"), "no config"),
    (lambda a, m: m["config"].update(layers=5), "config.layers"),
    (lambda a, m: m["config"].update(layers=[12, "8", 3]), "config.layers"),
    (lambda a, m: m["config"].update(extra=1), "unknown \\['extra'\\]"),
    (lambda a, m: m["config"].update(backend="numpy"), "unknown \\['backend'\\]"),
    (lambda a, m: m["config"].update(dtype="float16"), "config.dtype"),
    (lambda a, m: m["config"].update(activation="swish"), "invalid configuration"),
    (lambda a, m: m.update(penalty=5), "penalty is not a mapping"),
    (lambda a, m: m.update(penalty={"l2": [0.1]}), "penalty.l2"),
    (lambda a, m: a.update(param_0=np.full((12, 8), "x")), "do not match the architecture"),
    (lambda a, m: a.update(param_0=np.full((12, 8), np.nan)), "NaN or infinite"),
    (lambda a, m: a.update(param_0=np.zeros((13, 8))), "do not match the architecture"),
    (lambda a, m: a.pop("param_3"), "do not match the architecture"),
])
def test_damaged_model_files_are_refused(saved, mutate, message):
    tmp_path, arrays, meta = saved
    mutate(arrays, meta)
    with pytest.raises(ModelFileError, match=message):
        MLP.load(_write(tmp_path / "bad.npz", arrays, meta))


def test_a_huge_declared_shape_is_refused_before_reading(saved):
    tmp_path, arrays, meta = saved
    meta["config"]["layers"] = [12, 8, 3]
    path = _write(tmp_path / "huge.npz", arrays, meta)
    # replace param_0's header with one declaring 10^11 values, and no data behind it
    header = {"descr": "<f4", "fortran_order": False, "shape": (10**11,)}
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    members["param_0.npy"] = buf.getvalue()  # the magic string and the header, no data
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    with pytest.raises(ModelFileError, match="do not match the architecture"):
        MLP.load(path)


def test_a_npy_file_is_not_a_model(tmp_path):
    np.save(tmp_path / "m.npy", np.zeros(3))
    with pytest.raises(ModelFileError, match="not an mlp-core model file"):
        MLP.load(tmp_path / "m.npy")
    with pytest.raises(ModelFileError, match="not a file"):
        MLP.load(tmp_path)


# -- the command line ---------------------------------------------------------------------------
@pytest.fixture
def toy_dir(tmp_path):
    write_idx_dataset(tmp_path / "data", n_train=200, n_test=50)
    return tmp_path / "data"


@pytest.mark.parametrize("argv,message", [
    (["--momentum", "-1", "--optimizer", "sgd"], "momentum must be a finite number"),
    (["--momentum", "nan", "--optimizer", "sgd"], "momentum must be a finite number"),
    (["--decay", "inf"], "decay must be a finite number"),
    (["--lr", "inf"], "learning_rate must be a finite number"),
    (["--threads", "0"], "argument --threads: expected an integer >= 1"),
    (["--threads", "-1"], "argument --threads: expected an integer >= 1"),
    (["--init-scale", "nan"], "argument --init-scale: expected a finite number"),
    (["--init-scale", "-1"], "init_scale must be a finite number > 0"),
    (["--seed", "-1"], "seed must be an integer >= 0"),
    (["--layers", "10000000"], "GiB of memory"),
    (["--l2", "0.01,0.01"], "l2 must be a number >= 0 or 3 such numbers"),
    (["--l2", "-1"], "argument --l2: expected finite numbers >= 0"),
    (["--preset", "keras"], "unknown preset 'keras'; valid: seed-keras, seed-myann"),
    (["--save", ""], "cannot write"),
    (["--json", "."], "cannot write"),
    (["--json", "/proc/no/h.json"], "cannot write"),
])
def test_bad_train_options_are_one_line(toy_dir, argv, message, capsys):
    rc = main(["train", "--dataset", "mnist", "--data-dir", str(toy_dir), "--epochs", "1",
               "--quiet", *argv])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    lines = err.strip().splitlines()
    assert lines[-1].startswith("mlp-core: error: ") and message in lines[-1], err


def test_a_bad_output_path_fails_before_the_data_is_read(tmp_path, monkeypatch, capsys):
    def no_data(*args, **kwargs):
        raise AssertionError("the data was read before the output path was checked")

    monkeypatch.setattr("mlp_core.data.load_dataset", no_data)
    (tmp_path / "taken").mkdir()
    rc = main(["train", "--epochs", "100000", "--save", str(tmp_path / "taken"), "--quiet"])
    assert rc == 2 and "is a directory" in capsys.readouterr().err


def test_argument_errors_are_one_line():
    out = subprocess.run([sys.executable, "-m", "mlp_core", "train", "--epochs", "x"],
                         capture_output=True, text=True)
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert out.stderr.startswith("mlp-core: error: argument --epochs")


def test_explicit_options_override_the_preset(toy_dir, tmp_path):
    rc = main(["train", "--dataset", "mnist", "--data-dir", str(toy_dir), "--epochs", "1",
               "--quiet", "--preset", "seed-keras", "--l2", "0", "--layers", "16",
               "--json", str(tmp_path / "h.json")])
    assert rc == 0
    fit = json.loads((tmp_path / "h.json").read_text())["info"]["fit"]
    assert fit["l2"] == [0.0, 0.0] and fit["epochs"] == 1


def test_preset_l2_follows_the_hidden_layers(toy_dir, tmp_path):
    rc = main(["train", "--dataset", "mnist", "--data-dir", str(toy_dir), "--epochs", "1",
               "--quiet", "--layers", "16,8,4", "--json", str(tmp_path / "h.json")])
    assert rc == 0
    fit = json.loads((tmp_path / "h.json").read_text())["info"]["fit"]
    assert fit["l2"] == [0.01, 0.01, 0.01, 0.0]


def test_the_command_imports_no_array_library_before_main_runs():
    """So Ctrl-C during start-up lands inside main(), which answers it with one line."""
    code = ("import sys, mlp_core.cli; "
            "print(sorted(m for m in ('numpy', 'tensorflow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("argv,message", [
    (["--activation", "swish"], "unknown activation 'swish'"),
    (["--l2", "0.01,0.01"], "l2 must be a number >= 0 or 3 such numbers"),
    (["--scaler", "zscore"], "unknown scaler 'zscore'"),
    (["--epochs", "-3"], "--epochs must be >= 0"),
])
def test_model_options_are_checked_before_the_data_is_looked_for(tmp_path, argv, message, capsys):
    rc = main(["train", "--data-dir", str(tmp_path / "nowhere"), "--quiet", *argv])
    assert rc == 2 and message in capsys.readouterr().err


def test_bench_measures_a_backend_that_takes_no_thread_count_once_with_its_own():
    from mlp_core.bench.config import BenchConfig
    from mlp_core.bench.runner import make_plan

    plan = make_plan(BenchConfig(impls=["numpy", "jax"], threads=[1, 2], batch_sizes=[10],
                                 repeats=1, floor=False))
    assert not plan.skipped and "jax cannot set its thread count" in plan.notes[0]
    assert [(j["impl"], j["threads"]) for j in plan.jobs] == [
        ("numpy", 1), ("jax", None), ("numpy", 2)]
