"""``mlp-core check``: every backend here trains like NumPy float64, a broken kernel is caught."""

from __future__ import annotations

import json

import numpy as np

from mlp_core import backends
from mlp_core.check import TOLERANCE, run_check
from mlp_core.cli import main


def test_check_passes_on_the_cpu_backends_here(tmp_path, capsys):
    with_bf16 = [e.name for e in backends.REGISTRY.values()
                 if e.bfloat16 and "cpu" in e.devices and not backends.missing_libraries(e.name)]
    names = ["numpy", "array-api-strict", *with_bf16[:1]]  # (one with bfloat16: its third dtype)
    assert main(["check", "--device", "cpu", "--backend", ",".join(names), "--quick",
                 "--json", str(tmp_path / "check.json")]) == 0
    out = capsys.readouterr().out
    assert "numpy" in out and "array-api-strict" in out
    saved = json.loads((tmp_path / "check.json").read_text())
    assert saved["tolerance"] == TOLERANCE
    for r in saved["results"]:
        assert r["status"] == "ok" and r["epoch_s"] > 0
        has_bf16 = backends.REGISTRY[backends.variant(r["variant"])[1].name].bfloat16
        dtypes = [d for d in TOLERANCE if d != "mixed_bfloat16" or has_bf16]
        assert sorted(r["deviation"]) == sorted(dtypes)  # no bfloat16: not tried, not failed
        assert all(0 <= r["deviation"][d] <= TOLERANCE[d] for d in dtypes)


def test_a_broken_kernel_fails_the_check_and_names_the_backend(monkeypatch, capsys):
    from mlp_core.backends.numpy_backend import NumpyBackend

    correct = NumpyBackend.sigmoid_backward

    def broken(self, a, delta):  # 1% off: small, but far beyond float32 rounding
        return correct(self, a, delta) * np.asarray(1.01, a.dtype)

    monkeypatch.setattr(NumpyBackend, "sigmoid_backward", broken)
    assert main(["check", "--device", "cpu", "--backend", "numpy"]) == 1
    captured = capsys.readouterr()
    assert "disagrees" in captured.out
    assert "mlp-core check: numpy failed" in captured.err


def test_missing_libraries_and_devices_are_unavailable_not_failed():
    results = run_check("gpu", ["numpy"])  # numpy has no GPU device: nothing to check
    assert results == []
    gpu_only = [e.name for e in backends.REGISTRY.values() if e.devices == ("gpu",)]
    for r in run_check("gpu", gpu_only):
        assert not r.failed and (r.status == "ok" or r.status.startswith("unavailable"))


def test_an_unknown_backend_is_one_error(capsys):
    assert main(["check", "--backend", "nope"]) == 2
    assert "unknown backend 'nope'" in capsys.readouterr().err
