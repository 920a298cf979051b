"""What the bench can measure: implementation specs, their library, whether they can run here.

A spec is a base name with optional modifiers joined by '+': ``numpy``, ``numpy+f64``,
``numpy+input-delta``, ``tensorflow`` (compiled), ``tensorflow-eager``, ``tensorflow-xla``,
``cupy``, ``keras``. ``floor-<library>`` specs (the matrix products alone) are added by the runner.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from ..errors import MLPError, choice_error

# base name -> (library, backend name or None for keras/floors, backend options)
BASES: dict[str, tuple[str, str | None, dict]] = {
    "numpy": ("numpy", "numpy", {}),
    "array-api-strict": ("numpy", "array-api-strict", {}),
    "tensorflow": ("tensorflow", "tensorflow", {"mode": "compiled"}),
    "tensorflow-eager": ("tensorflow", "tensorflow", {"mode": "eager"}),
    "tensorflow-xla": ("tensorflow", "tensorflow", {"mode": "compiled", "jit_compile": True}),
    "cupy": ("cupy", "cupy", {}),
    "keras": ("tensorflow", None, {}),
    "floor-numpy": ("numpy", None, {}),
    "floor-tensorflow": ("tensorflow", None, {}),
    "floor-cupy": ("cupy", None, {}),
}
MODIFIERS = ("f64", "input-delta")
LIBRARY_MODULES = {"numpy": ("numpy",), "tensorflow": ("tensorflow",), "cupy": ("cupy",)}
EXTRA_MODULES = {"keras": ("keras",), "array-api-strict": ("array_api_strict",)}


@dataclass(frozen=True)
class ImplSpec:
    spec: str
    base: str
    modifiers: tuple[str, ...]

    @property
    def library(self) -> str:
        return BASES[self.base][0]

    @property
    def is_floor(self) -> bool:
        return self.base.startswith("floor-")

    @property
    def dtype(self) -> str | None:
        return "float64" if "f64" in self.modifiers else None

    def missing(self) -> list[str]:
        """Python modules this implementation needs that are not installed."""
        mods = LIBRARY_MODULES[self.library] + EXTRA_MODULES.get(self.base, ())
        return [m for m in mods if importlib.util.find_spec(m) is None]


def parse_impl(spec: str) -> ImplSpec:
    base, *mods = [p.strip().lower() for p in spec.split("+")]
    if base not in BASES or base.startswith("floor-"):
        raise choice_error("implementation", base, [b for b in BASES if not b.startswith("floor-")])
    for m in mods:
        if m not in MODIFIERS:
            raise choice_error(f"modifier of {base!r}", m, MODIFIERS)
    if "input-delta" in mods and base == "keras":
        raise MLPError("keras computes no input-layer delta; 'input-delta' applies to our backends")
    return ImplSpec("+".join([base, *mods]), base, tuple(mods))


def floor_for(library: str) -> ImplSpec:
    return ImplSpec(f"floor-{library}", f"floor-{library}", ())
