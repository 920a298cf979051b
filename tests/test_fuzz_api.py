"""Bounded property-based fuzzing of the model file reader and the CLI's option values.

Whatever the input, the outcome is success or the project's own error: never another exception.
Derandomized, so a run in CI explores the same examples every time.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from mlp_core import MLP, MLPError  # noqa: E402
from mlp_core.cli import main  # noqa: E402

from .helpers import write_idx_dataset  # noqa: E402

FUZZ = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

_SAVED: dict[str, bytes] = {}


def model_bytes() -> bytes:
    if "m" not in _SAVED:
        with tempfile.TemporaryDirectory() as d:
            MLP([6, 4, 3], seed=0).save(Path(d) / "m.npz")
            _SAVED["m"] = (Path(d) / "m.npz").read_bytes()
    return _SAVED["m"]


@FUZZ
@given(st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=8),
       st.integers(0, 10_000))
def test_mutated_model_files_give_model_errors(flips, cut):
    data = bytearray(model_bytes())
    for pos, value in flips:
        data[pos % len(data)] = value
    data = bytes(data[:max(cut, 1)]) if cut < len(data) else bytes(data)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "m.npz"
        path.write_bytes(data)
        try:
            model = MLP.load(path)
        except MLPError:
            return
        assert all(np.isfinite(w).all() for w in model.get_weights())


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2**40, 2**40), st.floats(allow_nan=True),
              st.text(max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=10)


@FUZZ
@given(st.sampled_from(["layers", "activation", "output", "loss", "init", "init_scale", "seed",
                        "dtype", "extra"]), json_values, st.sampled_from(["config", "penalty"]))
def test_model_files_with_odd_json_give_model_errors(key, value, where):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "m.npz"
        path.write_bytes(model_bytes())
        with np.load(path) as f:
            arrays = dict(f)
        meta = json.loads(str(arrays["meta"]))
        if where == "config":
            meta["config"][key] = value
        else:
            meta["penalty"] = {"l1": value} if key == "extra" else value
        np.savez(path, **{**arrays, "meta": np.array(json.dumps(meta))})
        try:
            MLP.load(path)
        except MLPError:
            pass


@pytest.fixture(scope="module")
def toy_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz") / "data"
    write_idx_dataset(folder, n_train=40, n_test=10)
    return folder


OPTIONS = ["--layers", "--activation", "--output", "--loss", "--reduction", "--init",
           "--init-scale", "--optimizer", "--lr", "--momentum", "--decay", "--l1", "--l2",
           "--seed", "--dtype", "--batch-size", "--threads", "--scaler", "--preset",
           "--eval-every", "--mode", "--backend"]
option_values = st.one_of(st.sampled_from(["0", "-1", "nan", "inf", "-inf", "1e309", "", ",", "x",
                                           "1,2,3", "0.5", "2", "70,30", "sigmoid", "sum",
                                           "float16", "numpy", "compiled"]),
                          st.text(alphabet="0123456789.,-+eEnaix", max_size=6))


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(OPTIONS), option_values), min_size=1, max_size=3))
def test_cli_option_values_give_one_line_errors(toy_dir, capsys, options):
    argv = ["train", "--dataset", "mnist", "--data-dir", str(toy_dir), "--epochs", "1", "--quiet"]
    for name, value in options:
        argv += [f"{name}={value}"]
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc in (0, 1, 2), err
    assert "Traceback" not in err
    if rc == 2:
        assert err.strip().splitlines()[-1].startswith("mlp-core: error: ")
