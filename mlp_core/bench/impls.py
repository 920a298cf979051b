"""What the bench can measure: implementation specs, derived from the backend registry.

A spec is a base name with optional modifiers joined by '+'. The bases are every backend variant
of the registry, plus the *peers*: the same training written in each library's own idiom
(:data:`PEERS`), among them Keras 3 on every backend whose registry entry declares the Keras
backend it hosts (``keras``, the article's reference on TensorFlow, then ``keras-torch`` and
``keras-jax``). Modifiers: ``f64`` (float64), ``mixed_bfloat16`` (the
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
SKLEARN = "sklearn"  # scikit-learn's MLPClassifier, the peer of a NumPy user
#: the losses the Keras reference trains, by Keras's names
KERAS_LOSSES = {"cce": "categorical_crossentropy", "mse": "mean_squared_error"}
#: modifier -> the dtype (policy) it sets
DTYPE_MODIFIERS = {"f64": "float64", "mixed_bfloat16": "mixed_bfloat16"}
MODIFIERS = (*DTYPE_MODIFIERS, "input-delta")
FLOOR_PREFIX = "floor-"
PEERS_EXTRA = 'pip install "mlp-core[peers]"'


@dataclass(frozen=True)
class Peer:
    """An implementation that is not ours: a library's own idiom for the bench's training."""

    name: str
    backend: str  # the registry backend whose library it uses (threads, device, floor)
    runner: str  # the module of mlp_core.bench.peers that measures it (its ``run``)
    idiom_of: tuple[str, ...] = ()  # our variants whose library's own idiom it is
    requires: tuple[str, ...] = ()  # import names it needs beyond its backend's
    install: str = PEERS_EXTRA
    keras_backend: str = ""  # Keras 3: the KERAS_BACKEND it runs under
    options: tuple[tuple[str, object], ...] = ()  # its runner's options
    bfloat16: bool = True  # whether it trains the mixed_bfloat16 policy
    differs: str = ""  # how it trains otherwise than our core, in a sentence


KERAS_DIFFERS = "Keras 3's Sequential of Dense layers, model.fit on float32 arrays"
# Keras's TensorFlow backend alone finds the logits a sigmoid output came from
KERAS_ELSEWHERE = ("; with a sigmoid output (the seed model's), its categorical cross-entropy "
                   "takes the sigmoid outputs normalized to sum 1 (our cce-normalized), where "
                   "Keras on TensorFlow and we take the softmax of the logits")


def _keras_name(keras_backend: str) -> str:
    """Keras on the reference's backend keeps the reference's name, ``keras``; the others are
    ``keras-<backend>``."""
    return KERAS if keras_backend == backends.REFERENCE_KERAS else f"{KERAS}-{keras_backend}"


def _peers() -> dict[str, Peer]:
    """The Keras peers from each registry entry's ``keras``, the others from its ``idioms``."""
    entries = list(backends.REGISTRY.values())
    keras = [Peer(_keras_name(e.keras), e.name, "keras_reference",
                  idiom_of=tuple(v.name for v in e.variants)
                  if e.keras == backends.REFERENCE_KERAS else (),
                  requires=(KERAS,), install="pip install keras", keras_backend=e.keras,
                  bfloat16=e.bfloat16, differs=KERAS_DIFFERS + (
                      "" if e.keras == backends.REFERENCE_KERAS else KERAS_ELSEWHERE))
             for e in entries if e.keras]
    native = [Peer(i.name, e.name, i.runner, i.of, i.requires, options=i.options,
                   bfloat16=i.bfloat16, differs=i.differs) for e in entries for i in e.idioms]
    return {p.name: p for p in (*keras, *native)}


#: every peer by name, in the order the bench lists them
PEERS: dict[str, Peer] = _peers()


@dataclass(frozen=True)
class ImplSpec:
    spec: str
    base: str
    modifiers: tuple[str, ...] = ()
    backend: str = ""  # the registry backend it runs on (a peer: the one whose library it uses)
    options: dict = field(default_factory=dict, compare=False)  # that backend's options

    @property
    def is_floor(self) -> bool:
        return self.base.startswith(FLOOR_PREFIX)

    @property
    def is_reference(self) -> bool:
        """The article's reference: Keras on TensorFlow."""
        return self.base == KERAS

    @property
    def peer(self) -> Peer | None:
        """Its peer, if it is not ours."""
        return PEERS.get(self.base)

    @property
    def library(self) -> str:
        """The backend whose floor applies (a peer: the one whose library it uses)."""
        return backends.entry(self.backend).floor

    @property
    def dtype(self) -> str | None:
        """The dtype a modifier sets (None: the sweep's)."""
        return next((DTYPE_MODIFIERS[m] for m in self.modifiers if m in DTYPE_MODIFIERS), None)

    def missing(self) -> list[str]:
        """Python modules this implementation needs that are not installed."""
        missing = backends.missing_libraries(self.backend)
        if self.peer:
            missing += [m for m in self.peer.requires if importlib.util.find_spec(m) is None]
        return missing


def base_names() -> list[str]:
    """Every base an ``--impl`` list may name: the registry's variants, then the peers."""
    return [v.name for v, _ in backends.variants()] + list(PEERS)


def is_peer(impl: str) -> bool:
    """Whether the implementation ``impl`` (a spec) is a peer, not ours."""
    return impl.split("+")[0] in PEERS


def own_idiom(base: str) -> str | None:
    """The peer that is our variant ``base``'s library's own idiom (``torch`` ->
    ``torch-native``; ``tensorflow`` -> ``keras``)."""
    return next((p.name for p in PEERS.values() if base in p.idiom_of), None)


def keras_on_same_library(base: str) -> str | None:
    """The Keras peer on our variant ``base``'s library (``torch`` -> ``keras-torch``)."""
    if base in PEERS or base not in [v.name for v, _ in backends.variants()]:
        return None
    _, entry = backends.variant(base)
    return _keras_name(entry.keras) if entry.keras and _keras_name(entry.keras) in PEERS else None


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
    if "input-delta" in mods and base in PEERS:
        raise MLPError(f"{base} computes no input-layer delta; 'input-delta' applies to our "
                       "backends")
    if "input-delta" in mods and "mixed_bfloat16" in mods:
        raise MLPError("'input-delta' measures the float32 or float64 step, not mixed_bfloat16")
    if len([m for m in mods if m in DTYPE_MODIFIERS]) > 1:
        raise MLPError(f"{spec!r} names two dtypes; give one of {', '.join(DTYPE_MODIFIERS)}")
    if base in PEERS:
        peer, host = PEERS[base], backends.entry(PEERS[base].backend)
        if "mixed_bfloat16" in mods and not peer.bfloat16:
            raise MLPError(f"{base} has no bfloat16 products, which 'mixed_bfloat16' needs")
        return ImplSpec("+".join([base, *mods]), base, tuple(mods), host.name,
                        dict(host.variants[0].options))
    variant, entry = backends.variant(base)
    if "mixed_bfloat16" in mods:
        backends.check_dtype(entry.name, "mixed_bfloat16")
    return ImplSpec("+".join([base, *mods]), base, tuple(mods), entry.name, dict(variant.options))


def floor_for(backend: str) -> ImplSpec:
    """The floor of a backend: its products alone, with its default variant's options."""
    return parse_impl(FLOOR_PREFIX + backend)
