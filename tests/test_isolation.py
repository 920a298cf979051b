"""Training state belongs to the training: two models fitted at once in two threads get exactly
the weights they get one after the other, on every backend, and a fit that fails leaves its
model as it found it."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from mlp_core import MLP, Pixels
from mlp_core import model as model_module

from .helpers import BACKEND_CASES, make_backend

SEEDS = (3, 4)


def _data(n: int = 1200, features: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, features), dtype=np.uint8), rng.integers(0, 5, n)


def _fit(backend, seed: int, x, y, dtype: str) -> list[np.ndarray]:
    model = MLP([x.shape[1], 48, 24, 5], seed=seed, dtype=dtype, backend=backend)
    model.fit(x, y, epochs=2, batch_size=100, verbose=False, l2=0.01)
    return model.get_weights()


@pytest.mark.parametrize("pixels", [False, True], ids=["arrays", "pixels"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", BACKEND_CASES)
def test_two_fits_in_two_threads_equal_the_same_fits_one_after_the_other(case, dtype, pixels):
    name, options, device = case
    backend = make_backend(name, options, device)  # one instance, shared by both models
    values, y = _data()  # the same arrays for both models, as a user's two fits have them
    x = Pixels(values) if pixels else (values / np.float32(255)).astype(dtype)
    alone = {seed: _fit(backend, seed, x, y, dtype) for seed in SEEDS}
    together: dict[int, list[np.ndarray]] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(len(SEEDS))

    def run(seed: int) -> None:
        try:
            start.wait()
            together[seed] = _fit(backend, seed, x, y, dtype)
        except BaseException as exc:  # re-raised below, on the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(seed,)) for seed in SEEDS]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    for seed in SEEDS:
        for a, b in zip(alone[seed], together[seed]):
            np.testing.assert_array_equal(a, b)  # bit for bit


class Boom(RuntimeError):
    pass


@pytest.mark.parametrize("where", ["data transfer", "after the epochs ran"])
def test_a_fit_that_fails_leaves_the_model_as_it_was(backend, monkeypatch, where):
    values, y = _data(n=300)
    x = values.astype(np.float32) / 255
    model = MLP([values.shape[1], 16, 5], seed=0, backend=backend)
    model.fit(x, y, epochs=1, batch_size=50, verbose=False, l2=0.1, reduction="sum")
    before = dict(weights=model.get_weights(), l1=model.l1, l2=model.l2,
                  reduction=model.reduction, history=model.history,
                  evaluation=model.evaluate(x, y), rng=model.rng.bit_generator.state)
    if where == "data transfer":
        monkeypatch.setattr(model, "_to_device", lambda *a: (_ for _ in ()).throw(Boom()))
    else:  # the epochs ran (in place, on some backends), then something failed
        real = model_module.run_epochs

        def fail_after(*args):
            real(*args)
            raise Boom()

        monkeypatch.setattr(model_module, "run_epochs", fail_after)
    with pytest.raises(Boom):
        model.fit(x, y, epochs=2, batch_size=50, verbose=False, l2=[0.0, 0.5], l1=0.2)
    monkeypatch.undo()
    for a, b in zip(before["weights"], model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert (model.l1, model.l2, model.reduction) == (before["l1"], before["l2"],
                                                     before["reduction"])
    assert model.history is before["history"]
    assert model.evaluate(x, y) == before["evaluation"]
    assert model.rng.bit_generator.state == before["rng"]


def test_the_bench_input_delta_variant_adds_one_product_and_changes_no_weight(monkeypatch):
    """``+input-delta`` lives in the bench (a backend wrapper): the core computes no input-layer
    delta, the variant adds exactly that product, and the weights are the same."""
    from mlp_core.backends.numpy_backend import NumpyBackend

    from mlp_core.bench.input_delta import with_input_delta
    from mlp_core.errors import MLPError
    from mlp_core.selection import get_backend

    values, y = _data(n=200, features=12)
    x = values.astype(np.float32) / 255
    sizes = [12, 7, 5]
    products: list[tuple] = []
    real = NumpyBackend.matmul

    def spy(self, a, b, transpose_a=False, transpose_b=False, out=None):
        out_ = real(self, a, b, transpose_a, transpose_b, out)
        products.append(out_.shape)
        return out_

    monkeypatch.setattr(NumpyBackend, "matmul", spy)
    weights = {}
    for variant in ("plain", "input-delta"):
        be = get_backend("numpy")
        be = with_input_delta(be, sizes) if variant == "input-delta" else be
        products.clear()
        model = MLP(sizes, seed=0, backend=be)
        model.fit(x, y, epochs=1, batch_size=50, verbose=False)
        weights[variant] = model.get_weights()
        deltas = [s for s in products if s == (50, 12)]  # batch x input width
        assert len(deltas) == (4 if variant == "input-delta" else 0)  # one per batch
    for a, b in zip(weights["plain"], weights["input-delta"]):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(MLPError, match="as wide"):
        with_input_delta(get_backend("numpy"), [12, 12, 5])
