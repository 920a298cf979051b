"""The user-facing model: ``MLP(...)``, ``.fit``, ``.predict``, ``.evaluate``, ``.save``/``load``.

``MLP`` holds the configuration, the weights and the optimizer state, validates every input at the
boundary, and delegates: the training loop lives in :mod:`mlp_core.training`, the file format in
:mod:`mlp_core.persistence`.
"""

from __future__ import annotations

import functools
import json
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from time import perf_counter
from typing import Any

import numpy as np

from . import __version__, backends, pixels
from .backends.base import Backend
from .errors import BackendUnavailable, MLPError, ModelFileError
from .history import History
from .initializers import init_params
from .network import REDUCTIONS, Network, forward
from .optimizers import Optimizer, get_optimizer
from .persistence import read_model_file, save_model
from .presets import get_preset
from .progress import EpochProgress
from .selection import get_backend
from .training import (
    EVAL_CHUNK,
    EpochPlan,
    TrainingDiverged,
    copy_state,
    evaluate_arrays,
    make_train_epoch,
    make_train_step,
    run_epochs,
)
from .validation import (
    DTYPES,
    check_inputs,
    check_labels,
    check_memory,
    check_model_options,
    compute_dtype,
    per_layer,
    positive_int,
    variable_dtype,
)

__all__ = ["MLP", "TrainingDiverged", "per_layer"]


@dataclass(frozen=True)
class ModelState:
    """What :meth:`MLP.snapshot` saves (device arrays, copied)."""

    params: list
    optimizer: dict | None
    opt_state: dict | None
    penalties: tuple
    history: History | None
    rng: dict


def _in_precision(method):
    """Run a method of :class:`MLP` inside its backend's precision scope for the model's dtype
    (JAX's 64-bit mode for a float64 model, for that call and thread alone)."""

    @functools.wraps(method)
    def scoped(self, *args, **kwargs):
        with self.backend.precision_scope(self.variable_dtype):
            return method(self, *args, **kwargs)

    return scoped


class MLP:
    """A multilayer perceptron on a pluggable backend.

    Args:
        layers: sizes from input to output, e.g. ``[784, 70, 30, 10]``.
        activation: hidden activation: sigmoid, tanh, relu or identity.
        output: output activation: sigmoid, softmax, tanh, relu or identity.
        loss: ``cce`` (categorical cross-entropy, as Keras 3 computes it), ``cce-normalized``,
            ``logloss``, ``binary_crossentropy`` or ``mse``; see :mod:`mlp_core.losses`.
        init: ``glorot`` (Keras's default), ``he``, ``sqrt_nodes`` (+-f/sqrt(n_in)) or ``const``
            (+-f), with f = ``init_scale``. Biases start at zero.
        seed: an integer >= 0 (or None: fresh entropy) seeding the one host generator behind the
            initial weights and the shuffling, so every backend starts from the same weights and
            sees the same batches.
        dtype: ``float32`` (default), ``float64`` or ``mixed_bfloat16`` (Keras's policy: the
            matrix products' operands rounded to bfloat16, products accumulated in float32;
            weights, optimizer state, loss and metrics float32; backends whose registry entry
            has ``bfloat16``: see ``docs/precision.md``).
        backend, device: a backend name or instance; None resolves it by the selection rules
            (``use_backend`` > ``set_backend`` > ``MLP_BACKEND`` > numpy) when the model is made.

    The defaults are the seed network's: sigmoid everywhere, categorical cross-entropy. See
    :mod:`mlp_core.presets` for the article's two complete configurations.
    """

    def __init__(self, layers: Sequence[int], activation: str = "sigmoid",
                 output: str = "sigmoid", loss: str = "cce", init: str = "glorot",
                 init_scale: float = 1.0, seed: int | None = 0, dtype: str = "float32",
                 backend: str | Backend | None = None, device: str | None = None,
                 _params: list[np.ndarray] | None = None) -> None:
        self.layers, self.hidden_activation, self.output_activation, self.loss = \
            check_model_options(layers, activation, output, loss, init, init_scale,
                                seed, dtype)
        self.dtype = str(dtype)  # the policy's name; the arrays' dtype is self.variable_dtype
        self.variable_dtype, self.compute_dtype = variable_dtype(self.dtype), compute_dtype(
            self.dtype)
        self.init, self.init_scale, self.seed = init, float(init_scale), seed
        self.backend = get_backend(backend, device)
        backends.check_dtype(self.backend.name, self.dtype)
        self.rng = np.random.default_rng(seed)
        host = _params if _params is not None else init_params(
            self.layers, init, self.init_scale, self.rng, self.variable_dtype)
        self.params = self._device_params(host)
        n_weights = len(self.layers) - 1
        # the penalties and reduction of the last fit, used by evaluate() and saved with the model
        self.l1 = self.l2 = (0.0,) * n_weights
        self.reduction = "mean"
        self.optimizer: dict | None = None  # configuration of the optimizer whose state is kept
        self.opt_state: dict | None = None
        self.history: History | None = None
        self._epoch_fns: dict[tuple, Any] = {}  # compiled epochs, reused by later fits

    @classmethod
    def from_preset(cls, name: str, n_inputs: int = 784, n_classes: int = 10,
                    **overrides: Any) -> MLP:
        """A model with preset ``name``'s architecture and options (see :mod:`mlp_core.presets`);
        train it with ``get_preset(name).fit(model, x, y)`` for the preset's schedule. Overrides
        win; ``layers`` replaces the whole list of sizes."""
        preset = get_preset(name)
        options = {**preset.model_options(), **overrides}
        layers = options.pop("layers", [n_inputs, *preset.layers, n_classes])
        return cls(layers, **options)

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
        """Replace [W1, b1, W2, b2, ...] with finite host arrays of the same shapes.

        The optimizer state is kept, as in Keras; call :meth:`reset_optimizer` to drop it.
        """
        shapes = [tuple(p.shape) for p in self.params]
        try:
            arrays = [np.asarray(w) for w in weights]
        except TypeError:
            arrays = None
        if arrays is None or len(arrays) != len(shapes) or any(
                a.shape != s or a.dtype.kind not in "biuf" for a, s in zip(arrays, shapes)):
            raise MLPError(f"set_weights needs {len(shapes)} numeric arrays of shapes {shapes}")
        if not all(np.isfinite(a).all() for a in arrays):
            raise MLPError("set_weights: the arrays hold NaN or infinite values")
        self.params = self._device_params(arrays)

    @_in_precision
    def _device_params(self, host: Sequence[np.ndarray]) -> list:
        # copies: training may update weights in place, and the caller's arrays stay untouched
        return [self.backend.asarray(np.array(p, dtype=self.variable_dtype), self.variable_dtype)
                for p in host]

    def _network(self, penalties: tuple | None = None) -> Network:
        """The network, with the last fit's penalties and reduction unless ``penalties`` gives
        ``(l1, l2, reduction)``."""
        l1, l2, reduction = penalties or (self.l1, self.l2, self.reduction)
        acts = (self.hidden_activation,) * (len(self.layers) - 2) + (self.output_activation,)
        return Network(acts, self.loss, l1, l2, reduction, self.compute_dtype)

    def _train_epoch_fn(self, net: Network, opt: Optimizer, batch_size: int):
        """The compiled epoch for this network, optimizer and batch size, traced once, reused."""
        key = (net, json.dumps(opt.config(), sort_keys=True), batch_size)
        if key not in self._epoch_fns:
            self._epoch_fns[key] = self.backend.compile(make_train_epoch(
                self.backend, net, make_train_step(self.backend, net, opt), batch_size))
        return self._epoch_fns[key]

    def reset_optimizer(self) -> None:
        """Forget the optimizer state, so that the next ``fit`` starts its optimizer afresh."""
        self.optimizer, self.opt_state = None, None

    # -- training ---------------------------------------------------------------------------
    @_in_precision
    def fit(self, x: Any, y: Any, epochs: int = 35, batch_size: int = 500,
            optimizer: str | Optimizer = "rmsprop", learning_rate: float | None = None,
            l1: float | Sequence[float] = 0.0, l2: float | Sequence[float] = 0.0,
            reduction: str = "mean", shuffle: bool = True,
            validation_data: tuple[Any, Any] | None = None, eval_every: int = 1,
            eval_train: bool = False, verbose: bool = True) -> History:
        """Train with mini-batches; return the per-epoch :class:`History`.

        ``l1``, ``l2``: a number (every weight layer) or one per weight layer, as Keras's per-layer
        ``kernel_regularizer`` (``l2=[0.01, 0.01, 0]`` spares the output layer). ``reduction``:
        a batch's losses by ``"mean"`` (Keras) or ``"sum"``. ``learning_rate`` overrides the
        optimizer's.

        A second ``fit`` with an optimizer of the same configuration continues its state (the
        moments, the update count, the decay and Adam's bias correction), as Keras's ``fit``
        does; another configuration, or :meth:`reset_optimizer`, starts afresh.

        Training metrics come from the batches (as in Keras). A full-set pass, timed apart, runs
        every ``eval_every`` epochs (0: never) over ``validation_data`` and, if ``eval_train``,
        the training set. A NaN or infinite loss or weight stops training, keeps the last good
        weights, sets ``history.stop_reason`` and warns (:class:`TrainingDiverged`).
        """
        be, (x, y) = self.backend, self._check_xy(x, y, "training")
        validation_data = self._check_validation(validation_data)
        epochs = positive_int(epochs, "epochs", 0)
        batch_size = positive_int(batch_size, "batch_size", 1)
        eval_every = positive_int(eval_every, "eval_every", 0)
        n_weights = len(self.layers) - 1
        l1s, l2s = per_layer(l1, "l1", n_weights), per_layer(l2, "l2", n_weights)
        if reduction not in REDUCTIONS:
            raise MLPError(f"unknown reduction {reduction!r}; valid: {', '.join(REDUCTIONS)}")
        opt = get_optimizer(optimizer, learning_rate=learning_rate)
        self._check_fit_memory(x.shape[0], batch_size, isinstance(x, pixels.Pixels))
        # nothing of the model changes until the epochs are done: a fit that fails leaves it
        net = self._network((l1s, l2s, reduction))
        epoch_fn = self._train_epoch_fn(net, opt, batch_size)
        t_transfer = perf_counter()
        data = self._to_device(x, y)
        evals = [("val_loss", "val_accuracy", *self._to_device(*validation_data))
                 ] if validation_data is not None else []
        if eval_train:
            evals.append(("train_loss_full", "train_accuracy_full", *data))
        plan = EpochPlan(epochs, bool(shuffle), tuple(evals), eval_every, self.variable_dtype)
        continued = self.opt_state is not None and self.optimizer == opt.config()
        opt_state = self.opt_state if continued else opt.init_state(be, self.params,
                                                                     self.variable_dtype)
        be.synchronize()
        history = History(info={
            **be.describe(), "mlp_core": __version__, "model": self.config(),
            "fit": {"epochs": epochs, "batch_size": batch_size, "optimizer": opt.config(),
                    "optimizer_continued": continued, "l1": list(l1s), "l2": list(l2s),
                    "reduction": reduction, "shuffle": bool(shuffle), "n_train": x.shape[0],
                    "eval_every": eval_every, "eval_train": eval_train},
            "time_transfer": perf_counter() - t_transfer})
        self._run(epoch_fn, net, opt, (opt_state, continued), data, plan, history, verbose)
        if history.stop_reason:  # the last good state is in place: now the warning may raise
            # (stacklevel 3: the caller of fit, past the precision-scope wrapper)
            warnings.warn(history.stop_reason, TrainingDiverged, stacklevel=3)
        return history

    def _check_validation(self, validation_data: Any) -> tuple | None:
        if validation_data is None:
            return None
        if not (isinstance(validation_data, (tuple, list)) and len(validation_data) == 2):
            raise MLPError("validation_data must be a pair (x, y)")
        return self._check_xy(*validation_data, "validation")

    def _run(self, epoch_fn, net: Network, opt: Optimizer, opt_state: tuple[dict, bool],
             data: tuple, plan: EpochPlan, history: History, verbose: bool) -> None:
        """The epochs; the model takes their results (weights, optimizer state, penalties,
        history) only when they end. An interrupted or failed fit puts back what it found:
        kernels may have updated the weights and a continued optimizer state in place, and
        the shuffling generator has moved on."""
        (state, _), progress = opt_state, EpochProgress(plan.epochs, enabled=verbose)
        saved = self.snapshot()
        try:
            params, state = run_epochs(self.backend, net, epoch_fn, (self.params, state), data,
                                       plan, self.rng, history, progress)
        except BaseException:
            self.restore(saved)
            raise
        finally:
            progress.close()
        self.params, self.opt_state, self.optimizer = params, state, opt.config()
        self.l1, self.l2, self.reduction = net.l1, net.l2, net.reduction
        self.history = history

    def snapshot(self) -> ModelState:
        """A copy of everything training changes: the weights, the optimizer's configuration
        and state, the penalties and reduction, the history and the shuffling generator.
        :meth:`restore` puts it back, e.g. to measure a fit from the very start a warm-up
        began at."""
        be = self.backend
        return ModelState(copy_state(be, self.params), self.optimizer,
                          None if self.opt_state is None else copy_state(be, self.opt_state),
                          (self.l1, self.l2, self.reduction), self.history,
                          self.rng.bit_generator.state)

    def restore(self, state: ModelState) -> None:
        """Put back what :meth:`snapshot` saved (the snapshot stays usable again)."""
        be = self.backend
        self.params = copy_state(be, state.params)
        self.optimizer = state.optimizer
        self.opt_state = None if state.opt_state is None else copy_state(be, state.opt_state)
        self.l1, self.l2, self.reduction = state.penalties
        self.history = state.history
        self.rng.bit_generator.state = state.rng

    # -- inference ----------------------------------------------------------------------------
    def predict_proba(self, x: Any) -> np.ndarray:
        """The class probabilities of each row of ``x``, as the loss reads the outputs: for
        ``cce`` (the default, as Keras 3 trains it) the softmax of the output logits, whose rows
        sum to 1, whatever the output activation; for ``cce-normalized`` the outputs divided by
        their sum; for the log losses and ``mse`` the outputs themselves (one probability per
        output). :meth:`outputs` gives the network's raw outputs."""
        return self._forward_host(x, probabilities=True)

    def outputs(self, x: Any) -> np.ndarray:
        """The network's outputs (the output activation's values) for each row of ``x``."""
        return self._forward_host(x, probabilities=False)

    @_in_precision
    def _forward_host(self, x: Any, probabilities: bool) -> np.ndarray:
        x = self._check_x(x, "input")
        be, net = self.backend, self._network()
        out = []
        for i in range(0, x.shape[0], EVAL_CHUNK):  # host slices; pixels scaled chunk by chunk
            outs, z = forward(be, net, self.params,
                              be.asarray(np.asarray(x[i:i + EVAL_CHUNK]), self.variable_dtype))
            a = (net.loss.probabilities(be, outs[-1], z, net.activations[-1]) if probabilities
                 else outs[-1])
            out.append(be.to_numpy(a))
        return np.concatenate(out)

    def predict(self, x: Any) -> np.ndarray:
        """The predicted class of each row of ``x``."""
        return np.argmax(self.predict_proba(x), axis=1)

    @_in_precision
    def evaluate(self, x: Any, y: Any) -> dict[str, float]:
        """``{"loss", "accuracy"}`` on (x, y); the loss includes the last fit's L1/L2 penalty."""
        x, y = self._check_xy(x, y, "evaluation")
        return evaluate_arrays(self.backend, self._network(), self.params, *self._to_device(x, y))

    def score(self, x: Any, y: Any) -> float:
        """Accuracy on (x, y), as scikit-learn's classifiers name it."""
        return self.evaluate(x, y)["accuracy"]

    # -- input checks -------------------------------------------------------------------------
    def _check_x(self, x: Any, what: str) -> np.ndarray:
        return check_inputs(x, what, self.layers[0], self.dtype)

    def _check_xy(self, x: Any, y: Any, what: str) -> tuple[np.ndarray, np.ndarray]:
        x = self._check_x(x, what)
        return x, check_labels(y, what, x, self.n_classes)

    def _one_hot(self, y: np.ndarray) -> np.ndarray:
        out = np.zeros((y.shape[0], self.n_classes), dtype=self.variable_dtype)
        out[np.arange(y.shape[0]), y] = 1
        return out

    def _to_device(self, x: np.ndarray, y: np.ndarray) -> tuple:
        be = self.backend
        return (pixels.to_device(be, x, self.variable_dtype),
                be.asarray(self._one_hot(y), self.variable_dtype))

    def _check_fit_memory(self, n_rows: int, batch_size: int, pixels_given: bool) -> None:
        """Refuse, before any work, a fit whose data and batch activations cannot fit in memory."""
        item = np.dtype(self.variable_dtype).itemsize
        data = n_rows * (self.layers[0] * (1 if pixels_given else item) + self.layers[-1] * item)
        batch = min(batch_size, n_rows) * sum(self.layers) * 3 * item
        check_memory(data + batch, f"training on {n_rows} rows at batch size {batch_size}")

    # -- persistence --------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write weights, configuration and penalties to one ``.npz`` file, atomically."""
        save_model(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike, backend: str | Backend | None = None,
             device: str | None = None, dtype: str | None = None) -> MLP:
        """Read a model written by :meth:`save`, checking its format, version and shapes.
        ``dtype`` overrides the saved one (a ``mixed_bfloat16`` model's weights are float32, so
        ``dtype="float32"`` loads it on a backend without bfloat16)."""
        meta, params = read_model_file(path)
        config = {**meta["config"], **({"dtype": dtype} if dtype is not None else {})}
        if dtype is not None and dtype not in DTYPES:  # the caller's error, not the file's
            raise MLPError(f"unknown dtype {dtype!r}; valid: {', '.join(DTYPES)}")
        try:
            model = cls(backend=backend, device=device, _params=params, **config)
        except BackendUnavailable as exc:
            if config["dtype"] == "mixed_bfloat16":  # its weights are float32: say how
                raise BackendUnavailable(f"{exc}; this model was trained in mixed_bfloat16, "
                                         "whose weights are float32: MLP.load(path, "
                                         "dtype=\"float32\") loads it here") from None
            raise
        except ModelFileError:
            raise
        except MLPError as exc:
            raise ModelFileError(f"{path}: invalid configuration ({exc})") from None
        model.l1, model.l2 = tuple(meta["penalty"]["l1"]), tuple(meta["penalty"]["l2"])
        if meta["reduction"] not in REDUCTIONS:
            raise ModelFileError(f"{path}: unknown reduction {meta['reduction']!r}")
        model.reduction = meta["reduction"]
        return model
