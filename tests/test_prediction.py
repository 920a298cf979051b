"""Prediction: the step's operations recorded from the core, the calibration and its file, the
model, ``mlp-core advise`` and ``bench --predict``."""

from __future__ import annotations

import json
import math

import pytest

from mlp_core import MLPError
from mlp_core.bench import calibration as cal
from mlp_core.bench.prediction import Step, calibrated, error_stats, predict
from mlp_core.bench.step_ops import step_operations
from mlp_core.cli import main


@pytest.fixture(autouse=True)
def calibration_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("MLP_CALIBRATION_DIR", str(tmp_path / "calibration"))
    return tmp_path / "calibration"


def _products(ops):
    return [(op.name, op.variant, op.mnk) for op in ops if op.is_product]


def test_the_steps_operations_come_from_the_core():
    ops = step_operations([784, 70, 30, 10], 32, l2=(0.01, 0.01, 0.0))
    # forward: three dense layers; backward: three weight gradients, two deltas (none into the
    # input layer: the core stops before it)
    assert _products(ops) == [
        ("dense", "NN", (32, 784, 70)), ("dense", "NN", (32, 70, 30)),
        ("dense", "NN", (32, 30, 10)), ("matmul", "TN", (30, 32, 10)),
        ("matmul", "NT", (32, 10, 30)), ("matmul", "TN", (70, 32, 30)),
        ("matmul", "NT", (32, 30, 70)), ("matmul", "TN", (784, 32, 70))]
    kinds = [op.kind for op in ops]
    assert kinds.count("rmsprop_update") == 6  # three weights, three biases
    assert kinds.count("add_scaled") == 2 and kinds.count("sum_squares") == 2  # L2: hidden only
    assert kinds.count("gather_rows") == 2  # the batch's inputs and labels
    assert {"arith", "transcendental", "reduce"} <= set(kinds)  # the loss, the metrics
    rmsprop = [op.elements for op in ops if op.kind == "rmsprop_update"]
    assert sorted(rmsprop) == sorted([784 * 70, 70, 70 * 30, 30, 30 * 10, 10])


def test_the_operations_follow_the_configuration():
    plain = step_operations([20, 8, 3], 4)
    assert "add_scaled" not in [op.kind for op in plain]  # no penalty, no penalty's work
    adam = step_operations([20, 8, 3], 4, optimizer="adam")
    assert [op.kind for op in adam].count("adam_update") == 4
    images = step_operations([20, 8, 3], 4, pixels=True, n_rows=50)
    kinds = [op.kind for op in images]
    assert "gather_rows:uint8" in kinds and "scale_pixels" in kinds
    deeper = step_operations([20, 8, 8, 8, 3], 4)
    assert len(_products(deeper)) == len(_products(plain)) + 6


def test_each_product_is_measured_at_its_own_shape_once():
    need = [("NN", 300, 784, 70), ("TN", 784, 300, 70), ("NN", 300, 784, 70)]
    calls = list(cal.CALL_PRODUCTS)  # each form's product with next to no work: a call's cost
    assert cal.missing_products({}, need) == calls + need[:2]
    # given values, each a product's passes: nothing here is timed
    stored = {cal.product_key(*p): [5e-6] for p in calls} | {
        cal.product_key(*need[0]): [2e-3, 9e-3, 1e-3]}
    assert cal.missing_products(stored, need) == [need[1]]
    # the median of its passes, less the call
    assert cal.product_work(stored, *need[0]) == pytest.approx(2e-3 - 5e-6)
    assert [cal.product_of_key(k) for k in stored] == [*calls, need[0]]


def test_a_curve_interpolates_in_log_space_and_extrapolates_by_bandwidth():
    # pure arithmetic on given points (elements, value): nothing here is timed
    points = [[64, 1.0], [4096, 4.0], [262144, 256.0]]
    (n0, y0), (n1, y1), (n_last, y_last) = points
    assert math.isclose(cal.interpolate_curve(points, n0 // 4), y0)  # flat below the first point
    # halfway in log-log: at the geometric mean of two points' sizes, that of their values
    assert math.isclose(cal.interpolate_curve(points, math.isqrt(n0 * n1)), math.sqrt(y0 * y1))
    assert math.isclose(cal.interpolate_curve(points, 2 * n_last), 2 * y_last)  # in proportion


def test_a_curve_is_monotone_so_that_a_stalled_call_adds_no_phantom_work(monkeypatch):
    """A point that cost more than the next, larger one (a stall) takes that one's cost."""
    from mlp_core.backends.numpy_backend import NumpyBackend

    given = iter([1e-6, 2e-6, 8e-3, 5e-6, 9e-6, 30e-6, 1e-4, 4e-4, 2e-3, 9e-3])  # a stall at 3
    monkeypatch.setattr(cal, "seconds_per_call", lambda fn: next(given))
    monkeypatch.setattr(cal.Kernels, "call", lambda self, kind, n: None)  # (no arrays made)
    curve = cal.Kernels(NumpyBackend(), "float32").curves(["arith"], lambda: None)["arith"]
    assert [n for n, _ in curve] == list(cal.CURVE_ELEMENTS)
    assert [t for _, t in curve] == [1e-6, 2e-6, 5e-6, 5e-6, 9e-6, 30e-6, 1e-4, 4e-4, 2e-3,
                                     9e-3]


def _entry(**kw) -> dict:
    return {"per_call_s": 1e-6, "op_overhead_s": 2e-6, "fusion": 1.0,
            "product_byte_s": 0.0, "itemsize": 4, "check_error": 0.05,
            "curves": {k: [[64, 1e-6], [2 ** 24, 1e-6 * 2 ** 18]] for k in (
                "arith", "transcendental", "reduce", "sigmoid", "sigmoid_backward",
                "rmsprop_update", "gather_rows", "sum_squares", "add_scaled")},
            "products": {}, **kw}


def test_a_prediction_is_the_sum_of_its_parts():
    ops = step_operations([20, 8, 3], 4)
    entry = _entry()
    # given values: each product 5 us, a call of a product 1 us
    entry["products"] = {cal.product_key(*c): [5e-6] for c in cal.missing_products(
        {}, [(op.variant, *op.mnk) for op in ops if op.is_product])}
    entry["products"].update({cal.product_key(*c): [1e-6] for c in cal.CALL_PRODUCTS})
    p = predict(entry, ops)
    assert p.seconds == pytest.approx(p.products + p.elementwise + p.overhead)
    assert p.products == pytest.approx(5 * 4e-6)  # five products, each past its call's cost
    assert p.overhead == pytest.approx(len(ops) * 2e-6) and p.operations == len(ops)
    fused = predict({**entry, "fusion": 0.5}, ops)
    assert fused.elementwise == pytest.approx(p.elementwise / 2)
    # the products' bytes: (4x20 + 20x8 + 4x8) + (4x8 + 8x3 + 4x3) forward, and as much again
    # for the two weight gradients and one delta of the backward pass, in 4-byte floats
    moved = predict({**entry, "product_byte_s": 1e-9}, ops)
    forward = 4 * (4 * 20 + 20 * 8 + 4 * 8 + 4 * 8 + 8 * 3 + 4 * 3)
    backward = 4 * ((8 * 4 + 4 * 3 + 8 * 3) + (4 * 3 + 3 * 8 + 4 * 8) + (20 * 4 + 4 * 8 + 20 * 8))
    assert moved.products - p.products == pytest.approx((forward + backward) * 1e-9)


def test_error_statistics():
    st = error_stats([(1.1, 1.0), (0.8, 1.0), (1.0, 1.0), (2.0, 1.0)])
    assert st["n"] == 4 and st["median"] == pytest.approx(0.15)
    assert st["p90"] == pytest.approx(0.76)  # (linear between order statistics)


def test_a_calibration_from_another_machine_or_other_versions_is_refused(tmp_path):
    store = cal.Store(tmp_path / "mine.json")
    store.put("numpy|2|float32", {"versions": {"numpy": "1.0"}, "curves": {}, "products": {}})
    again = cal.Store(tmp_path / "mine.json")
    with pytest.raises(MLPError, match="made with numpy 1.0"):
        again.entry("numpy|2|float32", {"numpy": "2.0"})
    data = json.loads((tmp_path / "mine.json").read_text())
    data["machine"]["cpu"] = "Some Other CPU"
    (tmp_path / "theirs.json").write_text(json.dumps(data))
    with pytest.raises(MLPError, match="a calibration from another machine .*Some Other CPU"):
        cal.Store(tmp_path / "theirs.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(MLPError, match="not a calibration file"):
        cal.Store(tmp_path / "bad.json")


def test_calibrating_measures_what_is_missing_once(tmp_path, monkeypatch):
    monkeypatch.setattr(cal, "CURVE_ELEMENTS", (64, 4096))
    monkeypatch.setattr(cal, "FIT_MODELS", (((8,), 4), ((16, 16), 16), ((32,), 8)))
    monkeypatch.setattr(cal, "CHECK_MODEL", ((12,), 8))
    monkeypatch.setattr(cal, "CALIBRATION_STEPS", 3)
    store = cal.Store(tmp_path / "c.json")
    step = Step((20, 10, 3), 8, l2=(0.01, 0.0))
    entry = calibrated("numpy", 1, "float32", [step], store)
    assert min(entry["op_overhead_s"], entry["fusion"], entry["product_byte_s"]) >= 0
    assert entry["check_error"] >= 0 and entry["versions"]["numpy"]
    p = predict(entry, step.ops())
    assert p.seconds > 0 and math.isfinite(p.seconds)
    before = (tmp_path / "c.json").read_text()
    calibrated("numpy", 1, "float32", [step], cal.Store(tmp_path / "c.json"))
    assert (tmp_path / "c.json").read_text() == before  # nothing new to measure
    wider = Step((20, 300, 3), 8, l2=(0.01, 0.0))
    grown = calibrated("numpy", 1, "float32", [wider], cal.Store(tmp_path / "c.json"))
    assert len(grown["products"]) > len(json.loads(before)["entries"]["numpy|1|float32"]
                                         ["products"])


def test_the_calibration_models_real_steps_are_measured_again_when_due(tmp_path, monkeypatch):
    monkeypatch.setattr(cal, "CURVE_ELEMENTS", (64, 4096))
    monkeypatch.setattr(cal, "FIT_MODELS", (((8,), 4), ((16, 16), 16), ((32,), 8)))
    monkeypatch.setattr(cal, "CHECK_MODEL", ((12,), 8))
    monkeypatch.setattr(cal, "CALIBRATION_STEPS", 3)
    monkeypatch.setattr(cal, "MAX_ROUNDS_KEPT", 4)
    step = Step((20, 10, 3), 8)

    def calibration(refresh_after=None):
        return calibrated("numpy", 1, "float32", [step], cal.Store(tmp_path / "c.json"),
                          refresh_after=refresh_after)

    def rounds(refresh_after=None):
        return calibration(refresh_after)["calibration_steps"]["rounds_s"]

    products = calibration()["products"]
    assert all(len(passes) == cal.PRODUCT_PASSES for passes in products.values())
    first = rounds()
    assert len(first) == cal.CALIBRATION_ROUNDS and all(len(r) == 4 for r in first)
    assert rounds(refresh_after=3600) == first  # not due: nothing measured
    fourth = rounds(refresh_after=0)  # due: one round more, the terms fitted again
    assert len(fourth) == 4 and fourth[:3] == first
    fifth_time = calibration(refresh_after=0)
    fifth = fifth_time["calibration_steps"]["rounds_s"]
    assert len(fifth) == 4 and fifth[:3] == fourth[1:]  # the newest MAX_ROUNDS_KEPT kept
    # each time it is due, one more pass of every product too: two passes after the three
    # first, of which the newest MAX_ROUNDS_KEPT (4) kept
    again = fifth_time["products"]
    assert again.keys() == products.keys()
    assert all(len(again[k]) == 4 and again[k][:2] == products[k][-2:] for k in products)
    # other inputs make other calibration models: their rounds start again, never mixed
    other = calibrated("numpy", 1, "float32", [Step((30, 10, 3), 8)],
                       cal.Store(tmp_path / "c.json"), refresh_after=0)["calibration_steps"]
    assert len(other["rounds_s"]) == cal.CALIBRATION_ROUNDS and other["models"][0][0][0] == 30


@pytest.mark.parametrize("argv,message", [
    (["--layers", "8", "--batch-size", "4", "--backend", "pytorch"], "unknown backend 'pytorch'"),
    (["--layers", "8,0", "--batch-size", "4"], "expected positive integers"),
    (["--layers", "8", "--batch-size", "0"], "expected an integer >= 1"),
    (["--layers", "8", "--batch-size", "4", "--classes", "1"], "--classes must be at least 2"),
    (["--layers", "8", "--batch-size", "4", "--dtype", "float16"], "invalid choice"),
])
def test_advise_bad_input_is_one_line(argv, message, capsys):
    assert main(["advise", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_advise_refuses_a_calibration_file_from_another_machine(tmp_path, capsys):
    store = cal.Store(tmp_path / "c.json")
    store.put("numpy|default|float32", {"versions": {}, "curves": {}, "products": {}})
    data = json.loads((tmp_path / "c.json").read_text())
    data["machine"]["cpu_count"] = 512
    (tmp_path / "c.json").write_text(json.dumps(data))
    code = main(["advise", "--layers", "8", "--batch-size", "4", "--backend", "numpy",
                 "--calibration", str(tmp_path / "c.json")])
    err = capsys.readouterr().err
    assert code == 2 and "another machine (cpu_count differ" in err
    assert len(err.strip().splitlines()) == 1


def test_advise_answers_from_a_fresh_calibration(calibration_dir, capsys):
    code = main(["advise", "--layers", "16", "--batch-size", "8", "--features", "20",
                 "--classes", "3", "--backend", "numpy", "--threads", "1"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "| numpy |" in out and "Only numpy was predicted." in out
    stored = list(calibration_dir.glob("calibration-*.json"))
    assert len(stored) == 1 and "numpy|1|float32" in json.loads(stored[0].read_text())["entries"]


def test_bench_predict_needs_steps(capsys):
    assert main(["bench", "--impl", "numpy", "--predict", "--batch-sizes", "8"]) == 2
    assert "--predict predicts training steps" in capsys.readouterr().err


def test_bench_predict_records_the_prediction_beside_the_measurement(tmp_path):
    from mlp_core.bench.config import BenchConfig
    from mlp_core.bench.runner import run_benchmark

    from .helpers import measured

    cfg = BenchConfig(dataset="synthetic", samples=200, features=20, classes=3,
                      impls=["numpy", "sklearn"], models=[[16]], batch_sizes=[8], steps=3,
                      repeats=1, floor=False, threads=[1], predict=True)
    rows, _ = run_benchmark(cfg, tmp_path)
    ours = [r for r in measured(rows) if r["impl"] == "numpy"]
    assert ours and all(r["predicted_s"] > 0 for r in ours), [r.get("prediction_error")
                                                               for r in ours]
    assert all("predicted_s" not in r for r in measured(rows) if r["impl"] == "sklearn")
    summary = (tmp_path / "summary.csv").read_text().splitlines()
    assert "predicted_s" in summary[0].split(",")
    scaling = (tmp_path / "scaling.md").read_text()
    assert "## Predicted against measured" in scaling and "| numpy | 1 |" in scaling
