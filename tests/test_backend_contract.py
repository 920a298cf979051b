"""The seam stays one seam: every backend class keeps the base contract and adds no public API.

A guard in the spirit of thinc's: a backend may override the base's methods (with the same
parameters), but a public method the base lacks would be an API only one backend has, which the
core could not call. Backend modules import their library lazily, so every class is checked here,
installed or not.
"""

from __future__ import annotations

import importlib
import inspect

import pytest

from mlp_core import backends
from mlp_core.backends.base import Backend

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
