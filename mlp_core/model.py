"""The user-facing model: ``MLP(...)``, ``.fit``, ``.predict``, ``.evaluate``, ``.save``/``load``."""

from __future__ import annotations

import io
import json
import math
import os
import warnings
import zipfile
from pathlib import Path
from time import perf_counter
from typing import Any, Sequence

import numpy as np

from backends.base import Backend

from . import __version__
from .activations import get_activation
from .errors import MLPError, ModelFileError
from .fileio import atomic_write_bytes
from .history import History
from .initializers import INITIALIZERS, init_params
from .losses import get_loss
from .network import Network, count_correct, forward, make_train_epoch, make_train_step, penalty
from .optimizers import Optimizer, get_optimizer
from .progress import EpochProgress
from .selection import get_backend

MODEL_FORMAT, MODEL_VERSION = "mlp-core-model", 1
DTYPES = ("float32", "float64")
EVAL_CHUNK = 10_000  # rows per forward pass when evaluating a whole set


class TrainingDiverged(RuntimeWarning):
    """The loss became NaN or infinite; training stopped and kept the last good weights."""


class MLP:
    """A multilayer perceptron on a pluggable backend.

    Args:
        layers: sizes from input to output, e.g. ``[784, 70, 30, 10]``.
        activation: hidden activation: sigmoid, tanh, relu or identity.
        output: output activation: sigmoid, softmax, tanh, relu or identity.
        loss: ``cce`` (categorical cross-entropy, as Keras 3 computes it), ``cce-normalized``,
            ``logloss`` or ``mse``; see :mod:`mlp_core.losses`.
        init: ``glorot`` (Keras's default), ``he``, ``sqrt_nodes`` (+-f/sqrt(n_in)) or ``const``
            (+-f), with f = ``init_scale``. Biases start at zero.
        seed: seeds the one host generator behind the initial weights and the shuffling, so every
            backend starts from the same weights and sees the same batches.
        dtype: ``float32`` (default) or ``float64``.
        backend, device: a backend name or instance; None resolves it by the selection rules
            (``use_backend`` > ``set_backend`` > ``MLP_BACKEND`` > numpy) when the model is made.

    The defaults are the seed network's: sigmoid everywhere, categorical cross-entropy.
    """

    def __init__(self, layers: Sequence[int], activation: str = "sigmoid",
                 output: str = "sigmoid", loss: str = "cce", init: str = "glorot",
                 init_scale: float = 1.0, seed: int | None = 0, dtype: str = "float32",
                 backend: str | Backend | None = None, device: str | None = None,
                 _params: list[np.ndarray] | None = None) -> None:
        self.layers = _check_layers(layers)
        if str(dtype) not in DTYPES:
            raise MLPError(f"unknown dtype {dtype!r}; valid: {', '.join(DTYPES)}")
        if init not in INITIALIZERS:
            raise MLPError(f"unknown init {init!r}; valid: {', '.join(INITIALIZERS)}")
        self.dtype = str(dtype)
        self.hidden_activation = get_activation(activation)
        self.output_activation = get_activation(output, output=True)
        self.loss = get_loss(loss, self.output_activation)
        self.init, self.init_scale, self.seed = init, float(init_scale), seed
        self.backend = get_backend(backend, device)
        self.rng = np.random.default_rng(seed)
        host = _params if _params is not None else init_params(
            self.layers, init, self.init_scale, self.rng, self.dtype)
        # copies: training may update weights in place, and the caller's arrays stay untouched
        self.params = [self.backend.asarray(np.array(p, dtype=self.dtype), self.dtype) for p in host]
        self.l1 = self.l2 = 0.0  # the penalties of the last fit, used by evaluate()
        self.history: History | None = None
        self._epoch_fns: dict[tuple, Any] = {}  # compiled epochs, reused by later fits

    # -- description ------------------------------------------------------------------------
    @property
    def n_classes(self) -> int:
        return self.layers[-1]

    def config(self) -> dict:
        return {"layers": list(self.layers), "activation": self.hidden_activation.name,
                "output": self.output_activation.name, "loss": self.loss.name, "init": self.init,
                "init_scale": self.init_scale, "seed": self.seed, "dtype": self.dtype}

    def __repr__(self) -> str:
        return (f"MLP({'-'.join(map(str, self.layers))}, {self.hidden_activation.name}/"
                f"{self.output_activation.name}, loss={self.loss.name}, {self.dtype}, "
                f"backend={self.backend.name}[{self.backend.device}])")

    def get_weights(self) -> list[np.ndarray]:
        """Host copies of [W1, b1, W2, b2, ...]."""
        return [np.array(self.backend.to_numpy(p)) for p in self.params]

    def set_weights(self, weights: Sequence[np.ndarray]) -> None:
        """Replace [W1, b1, W2, b2, ...] with host arrays of the same shapes."""
        current = self.get_weights()
        if len(weights) != len(current) or any(
                np.shape(w) != c.shape for w, c in zip(weights, current)):
            raise MLPError(f"set_weights needs {len(current)} arrays of shapes "
                           f"{[c.shape for c in current]}")
        self.params = [self.backend.asarray(np.array(w, dtype=self.dtype), self.dtype)
                       for w in weights]

    def _network(self, input_delta: bool = False) -> Network:
        acts = (self.hidden_activation,) * (len(self.layers) - 2) + (self.output_activation,)
        return Network(acts, self.loss, self.l1, self.l2, input_delta)

    def _train_epoch_fn(self, net: Network, opt: Optimizer, batch_size: int):
        """The compiled epoch for this network, optimizer and batch size, traced once, reused."""
        key = (net, json.dumps(opt.config(), sort_keys=True), batch_size)
        if key not in self._epoch_fns:
            self._epoch_fns[key] = self.backend.compile(make_train_epoch(
                self.backend, make_train_step(self.backend, net, opt), batch_size))
        return self._epoch_fns[key]

    # -- training ---------------------------------------------------------------------------
    def fit(self, x: Any, y: Any, epochs: int = 35, batch_size: int = 500,
            optimizer: str | Optimizer = "rmsprop", learning_rate: float | None = None,
            l1: float = 0.0, l2: float = 0.0, shuffle: bool = True,
            validation_data: tuple[Any, Any] | None = None, eval_every: int = 1,
            eval_train: bool = False, verbose: bool = True,
            propagate_input_delta: bool = False) -> History:
        """Train with mini-batches; return the per-epoch :class:`History`.

        Training metrics are tracked from the batches as they are computed (as Keras does). A
        full-set evaluation pass, timed apart, runs every ``eval_every`` epochs (0: never) over
        ``validation_data`` if given and over the training set if ``eval_train``. A loss that turns
        NaN or infinite stops training, keeps the last good weights and sets
        ``history.stop_reason``. ``propagate_input_delta`` computes the input layer's delta that
        nothing uses, as the seed experiment's original code did (only to measure its cost).
        """
        be = self.backend
        x, y = self._check_xy(x, y, "training")
        if validation_data is not None:
            if not (isinstance(validation_data, (tuple, list)) and len(validation_data) == 2):
                raise MLPError("validation_data must be a pair (x, y)")
            validation_data = self._check_xy(*validation_data, "validation")
        epochs, batch_size = _positive_int(epochs, "epochs", 0), _positive_int(batch_size, "batch_size", 1)
        eval_every = _positive_int(eval_every, "eval_every", 0)
        for name, value in (("l1", l1), ("l2", l2)):
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise MLPError(f"{name} must be a number >= 0, got {value!r}")
        opt = get_optimizer(optimizer, learning_rate=learning_rate)
        self.l1, self.l2 = float(l1), float(l2)
        net = self._network(bool(propagate_input_delta))
        n = x.shape[0]
        epoch_fn = self._train_epoch_fn(net, opt, batch_size)
        t_transfer = perf_counter()
        x_dev, y_dev = be.asarray(x, self.dtype), be.asarray(self._one_hot(y), self.dtype)
        evals = []
        if validation_data is not None:
            evals.append(("val", *self._to_device(*validation_data)))
        if eval_train:
            evals.append(("train_full", x_dev, y_dev))
        opt_state = opt.init_state(be, self.params, self.dtype)
        be.synchronize()
        history = History(info={
            **be.describe(), "mlp_core": __version__, "model": self.config(),
            "fit": {"epochs": epochs, "batch_size": batch_size, "optimizer": opt.config(),
                    "l1": self.l1, "l2": self.l2, "shuffle": shuffle, "n_train": n,
                    "eval_every": eval_every, "eval_train": eval_train},
            "time_transfer": perf_counter() - t_transfer})
        self.history = history
        progress = EpochProgress(epochs, enabled=verbose)
        params = self.params
        try:
            for epoch in range(1, epochs + 1):
                t0 = perf_counter()
                perm = be.asarray(self.rng.permutation(n) if shuffle else np.arange(n), "int64")
                be.synchronize()
                t1 = perf_counter()
                last_good = [be.copy(p) for p in params]
                totals = tuple(be.asarray(0.0, self.dtype) for _ in range(3))
                params, opt_state, totals = epoch_fn(params, opt_state, totals, x_dev, y_dev, perm)
                be.synchronize()
                t2 = perf_counter()
                loss_sum, penalty_sum, correct = (float(be.to_numpy(t)) for t in totals)
                if not math.isfinite(loss_sum + penalty_sum):
                    self.params = last_good
                    history.stop_reason = (f"loss became {loss_sum + penalty_sum} in epoch {epoch}; "
                                           f"stopped and kept the weights from the end of epoch "
                                           f"{epoch - 1} (try a smaller learning rate)")
                    warnings.warn(history.stop_reason, TrainingDiverged, stacklevel=2)
                    progress.message(history.stop_reason)
                    break
                self.params = params
                rec = {"epoch": epoch, "loss": (loss_sum + penalty_sum) / n,
                       "reg_loss": penalty_sum / n, "accuracy": correct / n}
                if eval_every and (epoch % eval_every == 0 or epoch == epochs):
                    for prefix, xe, ye in evals:
                        r = self._evaluate_device(xe, ye, net)
                        rec[f"{prefix}_loss"], rec[f"{prefix}_accuracy"] = r["loss"], r["accuracy"]
                be.synchronize()
                t3 = perf_counter()
                rec.update(time_shuffle=t1 - t0, time_batches=t2 - t1, time_eval=t3 - t2,
                           time_epoch=t3 - t0, mean_abs_w=self._mean_abs_weights())
                # Keras's names: "train_full_*" reads better as "train_*_full"
                for k in ("loss", "accuracy"):
                    if f"train_full_{k}" in rec:
                        rec[f"train_{k}_full"] = rec.pop(f"train_full_{k}")
                history.append(rec)
                progress.update(epoch, rec)
        finally:
            progress.close()
        return history

    # -- inference ----------------------------------------------------------------------------
    def predict_proba(self, x: Any) -> np.ndarray:
        """The network's outputs for each row of ``x`` (host NumPy array)."""
        x = self._check_x(x, "input")
        be, net = self.backend, self._network()
        out = [be.to_numpy(forward(be, net, self.params, be.asarray(x[i:i + EVAL_CHUNK], self.dtype))[0][-1])
               for i in range(0, x.shape[0], EVAL_CHUNK)]  # host slices: NumPy clamps the stop
        return np.concatenate(out)

    def predict(self, x: Any) -> np.ndarray:
        """The predicted class of each row of ``x``."""
        return np.argmax(self.predict_proba(x), axis=1)

    def evaluate(self, x: Any, y: Any) -> dict[str, float]:
        """``{"loss", "accuracy"}`` on (x, y); the loss includes the last fit's L1/L2 penalty."""
        x, y = self._check_xy(x, y, "evaluation")
        return self._evaluate_device(*self._to_device(x, y), self._network())

    def score(self, x: Any, y: Any) -> float:
        """Accuracy on (x, y), as scikit-learn's classifiers name it."""
        return self.evaluate(x, y)["accuracy"]

    def _evaluate_device(self, x_dev, y_dev, net: Network) -> dict[str, float]:
        """Loss and accuracy over a whole set on the device, in large chunks."""
        be = self.backend
        n = x_dev.shape[0]
        loss_sum = correct = 0.0
        for i in range(0, n, EVAL_CHUNK):
            rows = slice(i, min(i + EVAL_CHUNK, n))  # the array API leaves out-of-range stops open
            outs, z = forward(be, net, self.params, x_dev[rows, :])
            a, yc = outs[-1], y_dev[rows, :]
            loss_sum += float(be.to_numpy(net.loss.value_sum(be, a, z, yc, net.activations[-1])))
            correct += float(be.to_numpy(count_correct(be, a, yc)))
        reg = penalty(be, net, self.params)
        reg = float(be.to_numpy(reg)) if not isinstance(reg, float) else reg
        return {"loss": loss_sum / n + reg, "accuracy": correct / n}

    def _mean_abs_weights(self) -> list[float]:
        xp = self.backend.xp
        return [float(self.backend.to_numpy(xp.mean(xp.abs(w)))) for w in self.params[0::2]]

    # -- input checks -------------------------------------------------------------------------
    def _check_x(self, x: Any, what: str) -> np.ndarray:
        x = np.asarray(x)
        if x.dtype.kind not in "biuf":
            raise MLPError(f"{what} x must be numeric, got dtype {x.dtype}")
        if x.ndim != 2 or x.shape[1] != self.layers[0]:
            raise MLPError(f"{what} x must have shape (n_samples, {self.layers[0]}), got {x.shape}")
        if x.shape[0] == 0:
            raise MLPError(f"{what} x is empty")
        # NaN and inf propagate through min/max: two reductions, no temporary the size of x
        if x.dtype.kind == "f" and not (np.isfinite(x.min()) and np.isfinite(x.max())):
            raise MLPError(f"{what} x contains NaN or infinite values")
        return x

    def _check_xy(self, x: Any, y: Any, what: str) -> tuple[np.ndarray, np.ndarray]:
        x = self._check_x(x, what)
        y = np.asarray(y)
        if y.ndim != 1 or y.dtype.kind not in "iu":
            raise MLPError(f"{what} y must be a 1-D array of integer class labels, "
                           f"got dtype {y.dtype} and shape {y.shape}")
        if y.shape[0] != x.shape[0]:
            raise MLPError(f"{what} x has {x.shape[0]} rows but y has {y.shape[0]} labels")
        if y.min() < 0 or y.max() >= self.n_classes:
            raise MLPError(f"{what} labels must lie in [0, {self.n_classes}), "
                           f"found {y.min()}..{y.max()}")
        return x, y

    def _one_hot(self, y: np.ndarray) -> np.ndarray:
        out = np.zeros((y.shape[0], self.n_classes), dtype=self.dtype)
        out[np.arange(y.shape[0]), y] = 1
        return out

    def _to_device(self, x: np.ndarray, y: np.ndarray) -> tuple:
        return self.backend.asarray(x, self.dtype), self.backend.asarray(self._one_hot(y), self.dtype)

    # -- persistence --------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write weights and configuration to one ``.npz`` file, atomically."""
        buf = io.BytesIO()
        meta = {"format": MODEL_FORMAT, "version": MODEL_VERSION, "config": self.config(),
                "penalty": {"l1": self.l1, "l2": self.l2}}
        arrays = {f"param_{i}": w for i, w in enumerate(self.get_weights())}
        np.savez(buf, meta=np.array(json.dumps(meta)), **arrays)
        atomic_write_bytes(path, buf.getvalue())

    @classmethod
    def load(cls, path: str | os.PathLike, backend: str | Backend | None = None,
             device: str | None = None) -> "MLP":
        """Read a model written by :meth:`save`, checking its format, version and shapes."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as f:
                meta = json.loads(str(f["meta"]))
                arrays = {k: f[k] for k in f.files if k.startswith("param_")}
        except FileNotFoundError:
            raise ModelFileError(f"{path}: no such file") from None
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise ModelFileError(f"{path}: not an mlp-core model file ({exc})") from None
        if not isinstance(meta, dict) or meta.get("format") != MODEL_FORMAT:
            raise ModelFileError(f"{path}: not an mlp-core model file")
        if meta.get("version") != MODEL_VERSION:
            raise ModelFileError(f"{path}: model format version {meta.get('version')} "
                                 f"is not supported (this is version {MODEL_VERSION})")
        cfg = meta["config"]
        sizes = cfg["layers"]
        params = [arrays.get(f"param_{i}") for i in range(2 * (len(sizes) - 1))]
        expected = [s for a, b in zip(sizes[:-1], sizes[1:]) for s in ((a, b), (b,))]
        if len(arrays) != len(expected) or any(
                p is None or p.shape != s for p, s in zip(params, expected)):
            raise ModelFileError(f"{path}: weights do not match the architecture {sizes}")
        model = cls(backend=backend, device=device, _params=params, **cfg)
        model.l1, model.l2 = meta.get("penalty", {}).get("l1", 0.0), meta.get("penalty", {}).get("l2", 0.0)
        return model


def _check_layers(layers: Sequence[int]) -> list[int]:
    try:
        sizes = [int(s) for s in layers]
        ok = len(sizes) >= 2 and all(s >= 1 and s == float(t) for s, t in zip(sizes, layers))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise MLPError(f"layers must be at least two positive integers (input to output), got {layers!r}")
    return sizes


def _positive_int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise MLPError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)
