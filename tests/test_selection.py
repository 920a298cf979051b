"""Backend selection: argument > use_backend > set_backend > MLP_BACKEND > numpy; lazy imports."""

from __future__ import annotations

import subprocess
import sys

import pytest

import mlp_core
from mlp_core import (
    MLP,
    BackendUnavailable,
    MLPError,
    backends,
    get_backend,
    set_backend,
    use_backend,
)


def test_default_is_numpy():
    assert get_backend().name == "numpy"
    assert MLP([3, 2]).backend.name == "numpy"


def test_precedence(monkeypatch):
    monkeypatch.setenv("MLP_BACKEND", "array-api-strict")
    assert get_backend().name == "array-api-strict"  # env over default
    set_backend("numpy")
    assert get_backend().name == "numpy"  # set_backend over env
    with use_backend("array-api-strict"):
        assert get_backend().name == "array-api-strict"  # context over set_backend
        assert MLP([3, 2]).backend.name == "array-api-strict"
        assert get_backend("numpy").name == "numpy"  # explicit argument over everything
        assert MLP([3, 2], backend="numpy").backend.name == "numpy"
    assert get_backend().name == "numpy"  # the context is gone after the block


def test_env_is_read_when_needed_not_at_import(monkeypatch):
    monkeypatch.setenv("MLP_BACKEND", "array-api-strict")
    assert MLP([3, 2]).backend.name == "array-api-strict"
    monkeypatch.setenv("MLP_BACKEND", "nope")
    with pytest.raises(MLPError,
                       match="MLP_BACKEND: unknown backend 'nope'; valid: array-api-strict"):
        get_backend()


def test_unknown_backend_lists_valid_names():
    with pytest.raises(MLPError,
                       match="valid: array-api-strict, cupy, jax, numpy, tensorflow, torch"):
        get_backend("torchy")


def test_unknown_option_and_device_are_clear_errors():
    with pytest.raises(MLPError, match="takes no option mode"):
        get_backend("numpy", mode="eager")
    with pytest.raises(BackendUnavailable, match="no device 'gpu'; valid: cpu"):
        get_backend("numpy", device="gpu")


@pytest.mark.skipif(not backends.missing_libraries("cupy"), reason="CuPy is installed here")
def test_missing_library_names_the_install_command():
    with pytest.raises(BackendUnavailable, match=r'pip install "mlp-core\[cupy\]"'):
        get_backend("cupy")


def test_importing_mlp_core_imports_no_tensorflow_or_cupy():
    code = ("import sys, mlp_core, mlp_core.backends; mlp_core.MLP([3, 2]);"
            "print(sorted(m for m in ('tensorflow', 'cupy', 'keras', 'torch', 'jax') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_backend_instances_are_shared():
    assert get_backend("numpy") is get_backend("numpy")
    assert mlp_core.set_backend("numpy") is get_backend()


def test_a_device_or_option_alone_keeps_the_chosen_backends_own_options():
    """With a backend chosen (here with a mode), asking for a thread count or a device keeps
    that backend's options: the mode stays the chosen one."""
    entry = next((e for e in backends.REGISTRY.values()
                  if len(e.modes) > 1 and e.threads and not backends.missing_libraries(e.name)),
                 None)
    if entry is None:
        pytest.skip("no installed backend with modes and thread control")
    chosen = entry.modes[1]  # not the default
    with mlp_core.use_backend(entry.name, mode=chosen):
        again = get_backend(device=entry.devices[0])
    assert again.name == entry.name and again.mode == chosen
    assert again.options["mode"] == chosen
