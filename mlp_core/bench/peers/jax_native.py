"""``jax-native``: the bench's training as a JAX user writes it. A ``jax.jit`` step over
``jax.value_and_grad`` of the loss, with optax's optimizer (``optax.rmsprop`` puts its epsilon
inside the square root, as Keras and we do), parameters as a list of ``(W, b)`` pairs, batches
sliced from NumPy arrays by a NumPy permutation and handed to the step. ``mixed_bfloat16``: the
layers' operands cast to bfloat16 (JAX has no autocast), the loss in float32.
"""

from __future__ import annotations

from time import perf_counter

import numpy as np

from ..config import BenchConfig, Cell
from ..impls import ImplSpec
from . import Setup, prepare, result


def loss_function(jax, optax, setup: Setup):
    jnp = jax.numpy
    act = {"sigmoid": jax.nn.sigmoid, "tanh": jnp.tanh, "relu": jax.nn.relu,
           "identity": lambda z: z, "softmax": lambda z: jax.nn.softmax(z, axis=1)}
    compute = jnp.bfloat16 if setup.policy == "mixed_bfloat16" else None

    def forward(params, x):
        h = x
        for i, (w, b) in enumerate(params):
            if compute is not None:
                h, w, b = h.astype(compute), w.astype(compute), b.astype(compute)
            z = h @ w + b
            h = z if i == len(params) - 1 else act[setup.activation](z)
        return h.astype(params[0][0].dtype)

    def loss(params, x, y):
        out = forward(params, x)
        if setup.loss == "cce":  # the logits, against integer labels
            value = optax.softmax_cross_entropy_with_integer_labels(out, y).mean()
        else:
            value = jnp.mean((act[setup.output](out) - y) ** 2)
        for (w, _), l1, l2 in zip(params, setup.l1, setup.l2):
            if l2:
                value = value + l2 * jnp.sum(w * w)
            if l1:
                value = value + l1 * jnp.sum(jnp.abs(w))
        return value

    return forward, loss


def run(impl: ImplSpec, cfg: BenchConfig, cell: Cell) -> dict:
    setup = prepare(impl, cfg, cell)
    with setup.be.precision_scope(setup.dtype), setup.be.device_scope():
        return _train(impl, setup)


def _train(impl: ImplSpec, setup: Setup) -> dict:
    import jax
    import optax

    forward, loss = loss_function(jax, optax, setup)
    opt = setup.optimizer
    optimizer = {
        "sgd": lambda: optax.sgd(opt.learning_rate),
        "rmsprop": lambda: optax.rmsprop(opt.learning_rate, decay=opt.rho, eps=opt.epsilon),
        "adam": lambda: optax.adam(opt.learning_rate, b1=opt.beta_1, b2=opt.beta_2,
                                   eps=opt.epsilon),
    }[opt.name]()

    @jax.jit
    def step(params, opt_state, x, y):
        value, grads = jax.value_and_grad(loss)(params, x, y)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, value

    initial = [(jax.numpy.asarray(w), jax.numpy.asarray(b))
               for w, b in zip(setup.initial[::2], setup.initial[1::2])]
    x = setup.x
    y = setup.labels.astype(np.int32) if setup.loss == "cce" else setup.one_hot(setup.labels)
    rng = np.random.default_rng(setup.seed)
    n, bs = len(x), setup.batch_size

    def epoch(params, opt_state):
        perm = rng.permutation(n)
        total = 0.0
        t = perf_counter()
        for start in range(0, n, bs):
            idx = perm[start:start + bs]
            params, opt_state, value = step(params, opt_state, x[idx], y[idx])
            total = total + value
        jax.block_until_ready(params)
        return params, opt_state, perf_counter() - t, float(total) / -(-n // bs)

    params, opt_state = initial, optimizer.init(initial)
    for _ in range(setup.warmup_epochs):  # compiles the step's shapes; then start afresh
        params, opt_state, _, _ = epoch(params, opt_state)
    params, opt_state = initial, optimizer.init(initial)
    t0 = perf_counter()
    step_seconds, losses = 0.0, []
    for _ in range(setup.epochs):
        params, opt_state, seconds, value = epoch(params, opt_state)
        step_seconds += seconds
        losses.append(value)
    fit_time = perf_counter() - t0
    predicted = np.asarray(jax.jit(forward)(params, setup.x_test)).argmax(1)
    return result(setup, fit_time=fit_time, step_seconds=step_seconds, epochs_run=setup.epochs,
                  final_loss=losses[-1], test_accuracy=(predicted == setup.labels_test).mean(),
                  library={"backend": impl.base, "optax": optax.__version__})
