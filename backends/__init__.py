"""Backend registry: every backend by name, loaded lazily on first use.

Importing this package imports no array library (not even NumPy, so that the command line starts
quickly): each is imported when its backend is created. Adding a backend means one module here
plus one entry in ``REGISTRY``.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import BackendUnavailable, MLPError, choice_error
from ..signals import deferred_interrupts

if TYPE_CHECKING:
    from .base import Backend


def __getattr__(name: str) -> Any:
    if name == "Backend":  # imported on first use: the registry alone imports no NumPy
        from .base import Backend

        return Backend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class Variant:
    """A named set of backend options that the tests, the bench and the CLI offer as one choice."""

    name: str
    options: dict = field(default_factory=dict)
    tested: bool = True  # whether the shared test suite runs it (False: bench only)
    compiles_slowly: bool = False  # seconds to minutes of compiling (``check --quick`` skips it)


@dataclass(frozen=True)
class Idiom:
    """The bench's training written in a backend's library's own idiom: a *peer* of ours in the
    bench (``mlp_core/bench/peers/<runner>.py`` measures it; ``docs/peers.md``)."""

    name: str
    runner: str  # its module in mlp_core.bench.peers
    of: tuple[str, ...]  # our variants whose library's own idiom it is
    requires: tuple[str, ...] = ()  # import names it needs beyond the backend's
    options: tuple[tuple[str, Any], ...] = ()  # its runner's options
    bfloat16: bool = True  # whether it trains the mixed_bfloat16 policy
    differs: str = ""  # how it trains otherwise than our core, in a sentence


@dataclass(frozen=True)
class BackendEntry:
    name: str
    module: str
    cls: str
    requires: tuple[str, ...]  # import names of the libraries it needs
    install: str  # the command that makes it available
    devices: tuple[str, ...]
    variants: tuple[Variant, ...] = ()  # empty: one variant, the backend's name, default options
    modes: tuple[str, ...] = ()  # values of its "mode" option, if it has one; the first is the
    # default, and ``create`` checks the value (the class itself declares none)
    floor: str = ""  # the backend whose matrix-product floor applies (default: itself)
    threads: bool = True  # whether it takes a thread count
    benchmark: bool = True  # worth timing against the others (not a conformance check)
    keras: str = ""  # the KERAS_BACKEND under which Keras 3 runs on it: the bench's Keras peer
    # on its library (on TensorFlow: the Keras reference, ``keras``)
    bfloat16: bool = False  # products of bfloat16 operands (the mixed_bfloat16 policy)
    idioms: tuple[Idiom, ...] = ()  # the library's own idioms, the bench's peers

    def __post_init__(self) -> None:
        if not self.variants:
            object.__setattr__(self, "variants", (Variant(self.name),))
        if not self.floor:
            object.__setattr__(self, "floor", self.name)


# The one list of backends: tests, bench, CLI help and examples derive theirs from it.
REGISTRY: dict[str, BackendEntry] = {
    e.name: e
    for e in [
        BackendEntry("numpy", "mlp_core.backends.numpy_backend", "NumpyBackend",
                     ("numpy", "array_api_compat"), "pip install numpy array-api-compat", ("cpu",),
                     idioms=(Idiom(
                         "sklearn", "sklearn_peer", ("numpy",), ("sklearn",), bfloat16=False,
                         differs="scikit-learn's MLPClassifier: Adam (it has no RMSprop), its L2 "
                         "(alpha) on every layer's weights, output included, scaled to the "
                         "batch"),)),
        BackendEntry("array-api-strict", "mlp_core.backends.strict_backend", "StrictBackend",
                     ("array_api_strict",), "pip install array-api-strict", ("cpu",),
                     floor="numpy", benchmark=False),  # NumPy's arrays: no products of its own
        BackendEntry("tensorflow", "mlp_core.backends.tensorflow_backend", "TensorFlowBackend",
                     ("tensorflow",), 'pip install "mlp-core[tensorflow]"', ("cpu", "gpu"),
                     (Variant("tensorflow", {"mode": "compiled"}),
                      Variant("tensorflow-eager", {"mode": "eager"}),
                      Variant("tensorflow-xla", {"mode": "compiled", "jit_compile": True},
                              tested=False)),
                     ("compiled", "eager"), keras="tensorflow", bfloat16=True),
        BackendEntry("cupy", "mlp_core.backends.cupy_backend", "CupyBackend",
                     ("cupy",), 'pip install "mlp-core[cupy]"', ("gpu",)),
        BackendEntry("torch", "mlp_core.backends.torch_backend", "TorchBackend",
                     ("torch",), 'pip install "mlp-core[torch]"', ("cpu", "gpu"),
                     (Variant("torch", {"mode": "eager"}),
                      Variant("torch-compiled", {"mode": "compiled"}, compiles_slowly=True)),
                     ("eager", "compiled"), keras="torch", bfloat16=True,
                     idioms=(Idiom(
                         "torch-native", "torch_native", ("torch",),
                         differs="nn.Sequential, torch.optim.RMSprop (epsilon outside the square "
                         "root), CrossEntropyLoss on the logits, L2 as a loss term, autograd; "
                         "torch.autocast for bfloat16"),
                         Idiom("torch-native-compiled", "torch_native", ("torch-compiled",),
                               options=(("compiled", True),),
                               differs="torch-native with torch.compile on the model and on the "
                               "optimizer step"))),
        BackendEntry("jax", "mlp_core.backends.jax_backend", "JaxBackend",
                     ("jax",), 'pip install "mlp-core[jax]"', ("cpu", "gpu"),
                     (Variant("jax", {"mode": "compiled"}),
                      Variant("jax-eager", {"mode": "eager"}, tested=False)),
                     ("compiled", "eager"), threads=False,  # XLA sizes its pool at start
                     keras="jax", bfloat16=True,
                     idioms=(Idiom(
                         "jax-native", "jax_native", ("jax", "jax-eager"), ("optax",),
                         differs="a jax.jit step over jax.value_and_grad with optax.rmsprop, "
                         "batches sliced in NumPy; bfloat16 by casting the layers' operands"),)),
    ]
}
DEFAULT_BACKEND = "numpy"  # where no argument, context, set_backend or MLP_BACKEND says otherwise
#: the Keras backend of the article's Keras model, the bench's reference (``keras``)
REFERENCE_KERAS = "tensorflow"


def variants(tested_only: bool = False) -> list[tuple[Variant, BackendEntry]]:
    """Every variant of every backend, in registry order."""
    return [(v, e) for e in REGISTRY.values() for v in e.variants if v.tested or not tested_only]


def variant(name: str) -> tuple[Variant, BackendEntry]:
    """The variant called ``name`` (e.g. ``"tensorflow-eager"``) and its backend."""
    found = {v.name: (v, e) for v, e in variants()}
    if name not in found:
        raise choice_error("implementation", name, found)
    return found[name]


def entry(name: str) -> BackendEntry:
    key = name.strip().lower()
    if key not in REGISTRY:
        raise choice_error("backend", name, REGISTRY)
    return REGISTRY[key]


def missing_libraries(name: str) -> list[str]:
    """The libraries a backend needs that are not installed (cheap: imports nothing)."""
    return [lib for lib in entry(name).requires if importlib.util.find_spec(lib) is None]


def create(name: str, device: str | None = None, **options) -> Backend:
    """A new backend instance; ``BackendUnavailable`` if its library or device is missing."""
    e = entry(name)
    missing = missing_libraries(e.name)
    if missing:
        raise BackendUnavailable(
            f"backend {e.name!r} needs {', '.join(missing)}, which is not installed: {e.install}")
    device = (device or e.devices[0]).strip().lower()
    if device not in e.devices:
        raise BackendUnavailable(
            f"backend {e.name!r} has no device {device!r}; valid: {', '.join(e.devices)}")
    with deferred_interrupts():  # a library half-imported by Ctrl-C is broken (mlp_core.signals)
        cls = getattr(importlib.import_module(e.module), e.cls)
    accepted = set(inspect.signature(cls).parameters) - {"device"}
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise MLPError(f"backend {e.name!r} takes no option {', '.join(unknown)}; "
                       f"valid: {', '.join(sorted(accepted)) or 'none'}")
    if e.modes:
        options = {"mode": e.modes[0], **options}
        if options["mode"] not in e.modes:
            raise MLPError(f"backend {e.name!r} has no mode {options['mode']!r}; "
                           f"valid: {', '.join(e.modes)}")
    with deferred_interrupts():  # (the class imports its library when it is made)
        backend = cls(device=device, **options)
    backend.options = dict(options)
    return backend


def check_dtype(name: str, dtype: str) -> None:
    """One clear error if backend ``name`` cannot train in ``dtype`` (the mixed_bfloat16 policy
    needs bfloat16 products)."""
    known = REGISTRY.get(name)  # (a backend made outside the registry is taken at its word)
    if dtype == "mixed_bfloat16" and known is not None and not known.bfloat16:
        having = ", ".join(e.name for e in REGISTRY.values() if e.bfloat16)
        raise BackendUnavailable(f"backend {name!r} has no bfloat16 matrix products, which "
                       f"dtype 'mixed_bfloat16' needs; backends that have them: {having}")


def libraries() -> list[str]:
    """The import names of every library some backend needs, in registry order (the bench
    records their versions)."""
    return list(dict.fromkeys(lib for e in REGISTRY.values() for lib in e.requires))


__all__ = ["Backend", "BackendEntry", "DEFAULT_BACKEND", "Idiom", "REFERENCE_KERAS", "REGISTRY",
           "Variant", "check_dtype",
           "create", "entry",
           "libraries", "missing_libraries", "variant", "variants"]
