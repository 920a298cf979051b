"""What the bench can measure: implementation specs, derived from the backend registry.

A spec is a base name with optional modifiers joined by '+'. The bases are every backend variant
of the registry, plus ``keras``: the Keras reference model, on the backend whose registry entry
declares the ``keras`` backend it hosts. Modifiers: ``f64`` (float64), ``mixed_bfloat16`` (the
mixed-precision policy, Keras's and ours: products in bfloat16) and ``input-delta`` (also compute
the input layer's unused delta). ``floor-<backend>`` specs (the matrix products alone) are added
by the runner.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field

from .. import backends
from ..errors import MLPError, choice_error

KERAS = "keras"  # the reference's implementation name, and its library's import name
#: the losses the Keras reference trains, by Keras's names
KERAS_LOSSES = {"cce": "categorical_crossentropy", "mse": "mean_squared_error"}
#: modifier -> the dtype (policy) it sets
DTYPE_MODIFIERS = {"f64": "float64", "mixed_bfloat16": "mixed_bfloat16"}
MODIFIERS = (*DTYPE_MODIFIERS, "input-delta")
FLOOR_PREFIX = "floor-"


@dataclass(frozen=True)
class ImplSpec:
    spec: str
    base: str
    modifiers: tuple[str, ...] = ()
    backend: str = ""  # the registry backend it runs on (Keras: the one that hosts it)
    options: dict = field(default_factory=dict, compare=False)  # that backend's options

    @property
    def is_floor(self) -> bool:
        return self.base.startswith(FLOOR_PREFIX)

    @property
    def is_reference(self) -> bool:
        return self.base == KERAS

    @property
    def library(self) -> str:
        """The backend whose floor applies (Keras: its host's)."""
        return backends.entry(self.backend).floor

    @property
    def dtype(self) -> str | None:
        """The dtype a modifier sets (None: the sweep's)."""
        return next((DTYPE_MODIFIERS[m] for m in self.modifiers if m in DTYPE_MODIFIERS), None)

    def missing(self) -> list[str]:
        """Python modules this implementation needs that are not installed."""
        missing = backends.missing_libraries(self.backend)
        if self.is_reference and importlib.util.find_spec(KERAS) is None:
            missing.append(KERAS)
        return missing


def keras_host() -> backends.BackendEntry | None:
    """The registry entry the Keras reference runs on (its ``keras`` field), if any."""
    return next((e for e in backends.REGISTRY.values() if e.keras), None)


def base_names() -> list[str]:
    """Every base an ``--impl`` list may name, in registry order, then ``keras``."""
    return [v.name for v, _ in backends.variants()] + ([KERAS] if keras_host() else [])


def parse_impl(spec: str) -> ImplSpec:
    base, *mods = [p.strip().lower() for p in spec.split("+")]
    if base.startswith(FLOOR_PREFIX):
        name = base[len(FLOOR_PREFIX):]
        return ImplSpec(base, base, (), backends.entry(name).name,
                        dict(backends.entry(name).variants[0].options))
    if base not in base_names():
        raise choice_error("implementation", base, base_names())
    for m in mods:
        if m not in MODIFIERS:
            raise choice_error(f"modifier of {base!r}", m, MODIFIERS)
    if "input-delta" in mods and base == KERAS:
        raise MLPError("keras computes no input-layer delta; 'input-delta' applies to our backends")
    if "input-delta" in mods and "mixed_bfloat16" in mods:
        raise MLPError("'input-delta' measures the float32 or float64 step, not mixed_bfloat16")
    if len([m for m in mods if m in DTYPE_MODIFIERS]) > 1:
        raise MLPError(f"{spec!r} names two dtypes; give one of {', '.join(DTYPE_MODIFIERS)}")
    if base == KERAS:
        host = keras_host()
        return ImplSpec("+".join([base, *mods]), base, tuple(mods), host.name,
                        dict(host.variants[0].options))
    variant, entry = backends.variant(base)
    if "mixed_bfloat16" in mods:
        backends.check_dtype(entry.name, "mixed_bfloat16")
    return ImplSpec("+".join([base, *mods]), base, tuple(mods), entry.name, dict(variant.options))


def floor_for(backend: str) -> ImplSpec:
    """The floor of a backend: its products alone, with its default variant's options."""
    return parse_impl(FLOOR_PREFIX + backend)
