"""tools/gpu_check.sh on a machine without a GPU: every step that can run passes, the GPU parts
are skipped with the reason, and everything lands in $OUT (this is how CI tests the script that
a GPU machine will run)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "tools" / "gpu_check.sh"


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="a GPU machine: run the "
                    "script itself (README: GPU)")
@pytest.mark.skipif(not shutil.which("timeout"), reason="needs coreutils' timeout")
def test_the_gpu_script_on_a_machine_without_a_gpu(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run(["bash", str(SCRIPT)], env={**_env(), "OUT": str(out)},
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "GPU parts skipped: no GPU visible here" in proc.stderr
    import tarfile

    assert sorted(p.name for p in out.iterdir()) == ["gpu-check.tgz", "summary.txt"]
    with tarfile.open(out / "gpu-check.tgz") as tar:
        names = {Path(n).name for n in tar.getnames()}
        status = dict(line.split() for line in
                      tar.extractfile("./status.txt").read().decode().splitlines())
    assert {"check.json", "pytest-gpu.xml", "steps.log", "check.txt"} <= names
    assert status["check"] == "0" and status["pytest-gpu"] == "0"
    assert status["bench-seed"] == status["bench-sweep"] == "skipped"
    summary = (out / "summary.txt").read_text()
    assert "GPU parts skipped" in summary and "unavailable" in summary


def _env() -> dict:
    import os

    return dict(os.environ)
