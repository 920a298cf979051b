"""Optimizers with Keras's update rules and default hyper-parameters.

Optimizer state is data (a dict of arrays), so the train step stays a pure function
``(params, opt_state, x, y) -> (params, opt_state, metrics)`` that every backend can compile.
Every optimizer takes ``decay``: the learning rate at update t is ``lr / (1 + decay * t)``.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import asdict, dataclass
from typing import Any

from .backends.base import Backend
from .errors import MLPError, choice_error


@dataclass
class Optimizer:
    learning_rate: float = 0.01
    decay: float = 0.0
    name = "optimizer"

    def __post_init__(self) -> None:
        # every hyper-parameter: a finite number in its range (checked here, before any work)
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.type in ("bool", bool):
                if not isinstance(value, bool):
                    raise MLPError(f"{self.name}: {f.name} must be True or False, got {value!r}")
                continue
            low, high, closed = self.RANGES.get(f.name, (0.0, math.inf, True))
            ok = (isinstance(value, numbers.Real) and not isinstance(value, bool)
                  and math.isfinite(value) and (value >= low if closed else value > low)
                  and value < high)
            if not ok:
                interval = f"{'[' if closed else '('}{low:g}, {high:g})"
                raise MLPError(f"{self.name}: {f.name} must be a finite number in {interval}, "
                               f"got {value!r}")
            setattr(self, f.name, float(value))

    #: name -> (low, high, low included); others: [0, inf)
    RANGES = {"learning_rate": (0.0, math.inf, False), "momentum": (0.0, 1.0, True),
              "rho": (0.0, 1.0, True), "beta_1": (0.0, 1.0, True), "beta_2": (0.0, 1.0, True),
              "epsilon": (0.0, math.inf, False)}

    def config(self) -> dict:
        return {"name": self.name, **asdict(self)}

    def init_state(self, be: Backend, params: list, dtype: str) -> dict:
        # the number of updates done so far, an integer as Keras's ``iterations`` (int64; int32
        # on JAX without its 64-bit mode): a float32 count stops at 2**24 updates
        return {"t": be.asarray(0, "int64")}

    def _lr(self, be: Backend, state: dict, like: Any) -> Any:
        """The learning rate of this update, in the dtype of ``like`` (a gradient)."""
        if self.decay == 0:
            return self.learning_rate
        t = be.xp.astype(state["t"], like.dtype)
        return self.learning_rate / (1.0 + self.decay * t)

    def apply(self, be: Backend, params: list, grads: list, state: dict) -> tuple[list, dict]:
        raise NotImplementedError


@dataclass
class SGD(Optimizer):
    learning_rate: float = 0.01
    momentum: float = 0.0
    nesterov: bool = False
    decay: float = 0.0
    name = "sgd"

    def init_state(self, be, params, dtype):
        state = super().init_state(be, params, dtype)
        if self.momentum:
            state["m"] = [be.xp.zeros_like(p) for p in params]
        return state

    def apply(self, be, params, grads, state):
        lr = self._lr(be, state, grads[0])
        ms = state.get("m", [None] * len(params))
        out = [be.sgd_update(p, g, m, lr, self.momentum, self.nesterov)
               for p, g, m in zip(params, grads, ms)]
        new = {"t": state["t"] + 1}
        if self.momentum:
            new["m"] = [m for _, m in out]
        return [p for p, _ in out], new


@dataclass
class RMSprop(Optimizer):
    learning_rate: float = 0.001
    rho: float = 0.9
    epsilon: float = 1e-7
    decay: float = 0.0
    name = "rmsprop"

    def init_state(self, be, params, dtype):
        return {**super().init_state(be, params, dtype), "v": [be.xp.zeros_like(p) for p in params]}

    def apply(self, be, params, grads, state):
        lr = self._lr(be, state, grads[0])
        out = [be.rmsprop_update(p, g, v, lr, self.rho, self.epsilon)
               for p, g, v in zip(params, grads, state["v"])]
        return [p for p, _ in out], {"t": state["t"] + 1, "v": [v for _, v in out]}


@dataclass
class Adam(Optimizer):
    learning_rate: float = 0.001
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-7
    decay: float = 0.0
    name = "adam"

    def init_state(self, be, params, dtype):
        zeros = [be.xp.zeros_like(p) for p in params]
        return {**super().init_state(be, params, dtype), "m": zeros,
                "v": [be.xp.zeros_like(p) for p in params],
                # beta^t, carried as state so the step needs no power of a traced counter
                "b1_power": be.asarray(1.0, dtype), "b2_power": be.asarray(1.0, dtype)}

    def apply(self, be, params, grads, state):
        b1p = state["b1_power"] * self.beta_1
        b2p = state["b2_power"] * self.beta_2
        alpha = self._lr(be, state, grads[0]) * be.xp.sqrt(1.0 - b2p) / (1.0 - b1p)
        out = [be.adam_update(p, g, m, v, alpha, self.beta_1, self.beta_2, self.epsilon)
               for p, g, m, v in zip(params, grads, state["m"], state["v"])]
        return [p for p, _, _ in out], {
            "t": state["t"] + 1, "m": [m for _, m, _ in out], "v": [v for _, _, v in out],
            "b1_power": b1p, "b2_power": b2p}


OPTIMIZERS: dict[str, type[Optimizer]] = {"sgd": SGD, "rmsprop": RMSprop, "adam": Adam}


def get_optimizer(spec: str | Optimizer, **overrides) -> Optimizer:
    """An optimizer from a name or an instance, with keyword overrides (None meaning: keep)."""
    if isinstance(spec, Optimizer):
        given = {k: v for k, v in overrides.items() if v is not None}
        unknown = [k for k in given if k not in spec.__dataclass_fields__]
        if unknown:
            raise MLPError(f"optimizer {spec.name!r} takes no option {', '.join(unknown)}")
        return dataclasses.replace(spec, **given) if given else spec
    key = str(spec).lower()
    if key not in OPTIMIZERS:
        raise choice_error("optimizer", spec, OPTIMIZERS)
    cls = OPTIMIZERS[key]
    fields = cls.__dataclass_fields__
    unknown = [k for k, v in overrides.items() if v is not None and k not in fields]
    if unknown:
        raise MLPError(f"optimizer {key!r} takes no option {', '.join(unknown)}; "
                       f"valid: {', '.join(fields)}")
    return cls(**{k: v for k, v in overrides.items() if v is not None})
