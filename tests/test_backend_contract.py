"""The seam stays one seam: every backend class keeps the base contract and adds no public API.

A guard in the spirit of thinc's: a backend may override the base's methods (with the same
parameters), but a public method the base lacks would be an API only one backend has, which the
core could not call. Backend modules import their library lazily, so every class is checked here,
installed or not.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest
from mlp_core.backends.base import Backend

from mlp_core import backends

from .helpers import make_backend

ENTRIES = list(backends.REGISTRY.values())


def backend_class(entry):
    return getattr(importlib.import_module(entry.module), entry.cls)


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.name for e in ENTRIES])
def test_backend_adds_no_public_method(entry):
    cls = backend_class(entry)
    assert issubclass(cls, Backend) and cls.name == entry.name
    public = {n for n, v in vars(cls).items() if callable(v) and not n.startswith("_")}
    assert public <= set(dir(Backend)), f"{cls.__name__} adds {sorted(public - set(dir(Backend)))}"


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.name for e in ENTRIES])
def test_backend_keeps_the_base_signatures(entry):
    cls = backend_class(entry)
    for name, method in vars(cls).items():
        if name.startswith("_") or not callable(method):
            continue
        base = inspect.signature(getattr(Backend, name))
        assert list(inspect.signature(method).parameters) == list(base.parameters), name


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.name for e in ENTRIES])
def test_registry_entry_is_consistent(entry):
    """Devices, variants and modes declared in the registry are what the class accepts."""
    params = inspect.signature(backend_class(entry)).parameters
    assert "device" in params and params["device"].default == entry.devices[0]
    for variant in entry.variants:
        assert set(variant.options) <= set(params), variant.name
        if "mode" in variant.options:
            assert variant.options["mode"] in entry.modes
    assert entry.floor in backends.REGISTRY
    # the modes are declared once, in the registry: the class takes the value it is given
    if entry.modes:
        assert params["mode"].default is inspect.Parameter.empty


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.name for e in ENTRIES])
def test_kernels_are_visible_on_the_class(entry):
    """A backend overrides kernels on its class (the checks above see them), never by putting
    functions on an instance; and it remembers the options it was made with."""
    for variant in entry.variants:
        be = make_backend(entry.name, dict(variant.options))
        swapped = [k for k, v in vars(be).items() if callable(v) and hasattr(Backend, k)]
        assert not swapped, f"{variant.name} sets {swapped} on the instance"
        assert variant.options.items() <= be.options.items()


def test_an_unknown_mode_is_refused_where_the_backend_is_made():
    entry = next(e for e in ENTRIES if e.modes)
    with pytest.raises(backends.MLPError, match="has no mode 'warp'"):
        backends.create(entry.name, mode="warp")


ROOT = Path(__file__).resolve().parents[1]
#: where no backend may be named: a new backend is one module under backends/ and one entry
#: (the examples may: they are scripts that name what they compare, as a user's would)
OUTSIDE_BACKENDS = [p for folder in ("mlp_core", "tools")
                    for p in sorted((ROOT / folder).rglob("*.py"))]


def test_no_file_outside_backends_names_a_backend():
    names = {e.name for e in ENTRIES} | {v.name for v, _ in backends.variants()}
    found = []
    for path in OUTSIDE_BACKENDS:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in names:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value!r}")
    assert OUTSIDE_BACKENDS and not found, "backends named outside backends/: " + ", ".join(found)
