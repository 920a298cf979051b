"""``sklearn``: scikit-learn's ``MLPClassifier``, what a NumPy user would otherwise pick.

It differs from the bench's training where scikit-learn has no choice: its optimizer is Adam
(it has no RMSprop; the learning rate, betas and epsilon are the bench's optimizer's where it has
them, Adam's defaults otherwise), and its L2 penalty ``alpha`` applies to every layer's weights,
the output layer's included, as ``alpha / 2 * sum(W**2) / batch``; ``alpha`` is set so that the
hidden layers' penalty equals the bench's (``alpha = 2 * l2 * batch``, from the largest hidden
``l2``). The initial weights are ours: a first call of ``fit`` on one row per class (one step)
builds the model, whose weights are then replaced. Per step, ``fit`` runs one epoch of exactly
``--steps`` batches and its whole call is timed (its input checks included: under a millisecond).
"""

from __future__ import annotations

import warnings
from time import perf_counter

import numpy as np

from ..config import BenchConfig, Cell
from ..impls import ImplSpec
from . import Setup, prepare, result

ACTIVATIONS = {"sigmoid": "logistic", "tanh": "tanh", "relu": "relu", "identity": "identity"}


def _restore(model, setup: Setup) -> None:
    """Our initial weights (``warm_start``: the next ``fit`` starts from them, with a fresh
    Adam state)."""
    model.coefs_ = [w.copy() for w in setup.initial[::2]]
    model.intercepts_ = [b.copy() for b in setup.initial[1::2]]


def run(impl: ImplSpec, cfg: BenchConfig, cell: Cell) -> dict:
    import sklearn
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    setup = prepare(impl, cfg, cell)
    opt = setup.optimizer
    model = MLPClassifier(
        hidden_layer_sizes=setup.sizes[1:-1], activation=ACTIVATIONS[setup.activation],
        solver="adam", alpha=2 * max(setup.l2[:-1], default=0.0) * setup.batch_size,
        batch_size=setup.batch_size, learning_rate_init=opt.learning_rate,
        beta_1=getattr(opt, "beta_1", 0.9), beta_2=getattr(opt, "beta_2", 0.999),
        epsilon=opt.epsilon if hasattr(opt, "epsilon") else 1e-8,
        shuffle=True, random_state=setup.seed, tol=0.0, n_iter_no_change=2**31 - 1,
        warm_start=True, max_iter=1)
    one_per_class = np.unique(setup.labels, return_index=True)[1]
    with warnings.catch_warnings():  # (it warns that max_iter ended the fit: as asked)
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(setup.x[one_per_class], setup.labels[one_per_class])
        _restore(model, setup)
        if setup.warmup_epochs:
            model.set_params(max_iter=setup.warmup_epochs).fit(setup.x, setup.labels)
            _restore(model, setup)
        model.set_params(max_iter=setup.epochs)
        t0 = perf_counter()
        model.fit(setup.x, setup.labels)
        fit_time = perf_counter() - t0
    return result(setup, fit_time=fit_time, step_seconds=fit_time, epochs_run=setup.epochs,
                  final_loss=model.loss_curve_[-1],
                  test_accuracy=model.score(setup.x_test, setup.labels_test),
                  library={"backend": impl.base, "sklearn": sklearn.__version__,
                           "sklearn_dtype": str(model.coefs_[0].dtype)})
