"""Scalers, scikit-learn style: fit on the training data, then transform any split."""

from __future__ import annotations

import numpy as np

from .errors import choice_error


class Scaler:
    name = "none"

    def fit(self, x: np.ndarray) -> Scaler:
        return self

    def transform(self, x: np.ndarray, copy: bool = True) -> np.ndarray:
        """Scaled float32 rows; ``copy=False`` may overwrite a float32 ``x`` in place."""
        return np.array(x, dtype=np.float32, copy=copy or None)

    def fit_transform(self, x: np.ndarray) -> np.ndarray:
        return self.fit(x).transform(x)


class Divide255(Scaler):
    name = "divide255"
    #: each value v becomes float32(v) / divisor (``mlp_core.pixels`` scales batches with it)
    divisor = np.float32(255.0)

    def transform(self, x, copy=True):
        out = np.array(x, dtype=np.float32, copy=copy or None)
        return np.divide(out, self.divisor, out=out)


class StandardScaler(Scaler):
    """Per feature: subtract the training mean, divide by the training std (constant
    features: 1)."""

    name = "standard"

    def fit(self, x):
        x = np.asarray(x, dtype=np.float64)
        self.mean_, std = x.mean(axis=0), x.std(axis=0)
        self.scale_ = np.where(std > 0, std, 1.0)
        return self

    def transform(self, x, copy=True):
        return ((np.asarray(x, np.float64) - self.mean_) / self.scale_).astype(np.float32)


class MinMaxScaler(Scaler):
    """Per feature to [0, 1] over the training range (constant features: 0)."""

    name = "minmax"

    def fit(self, x):
        x = np.asarray(x, dtype=np.float64)
        self.min_, span = x.min(axis=0), x.max(axis=0) - x.min(axis=0)
        self.span_ = np.where(span > 0, span, 1.0)
        return self

    def transform(self, x, copy=True):
        return ((np.asarray(x, np.float64) - self.min_) / self.span_).astype(np.float32)


class Normalizer(Scaler):
    """Per sample: divide each row by its Euclidean norm (zero rows stay zero)."""

    name = "normalize"

    def transform(self, x, copy=True):
        x = np.array(x, dtype=np.float32, copy=copy or None)
        norm = np.linalg.norm(x, axis=1, keepdims=True)
        return np.divide(x, np.where(norm > 0, norm, 1.0).astype(np.float32), out=x)


SCALERS = {c.name: c for c in (Scaler, Divide255, StandardScaler, MinMaxScaler, Normalizer)}


def make_scaler(name: str) -> Scaler:
    if name not in SCALERS:
        raise choice_error("scaler", name, SCALERS)
    return SCALERS[name]()


__all__ = ["SCALERS", "Divide255", "MinMaxScaler", "Normalizer", "Scaler", "StandardScaler",
           "make_scaler"]
