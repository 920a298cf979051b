"""The operations of one training step, as the core issues them.

One step of the core (``training.make_train_batch``: the gather, the forward and backward
passes, the penalties, the optimizer's update) runs once on a recording NumPy backend. Every
backend kernel it calls (``matmul``, ``dense``, ``sigmoid_backward``, ``rmsprop_update``, ...)
is one operation, with the shapes of its operands; every array operation the core does itself
outside the kernels (an operator, an ``xp`` function: the loss, the metrics, the biases'
gradients) is one too, classed as element-wise arithmetic, transcendental or a reduction. This
is not a second copy of the step: change the core, and the list changes with it.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

#: the backend kernels that count as one operation each (their inner work is not recorded)
KERNELS = ("matmul", "dense", "sigmoid", "sigmoid_backward", "add_scaled", "sum_squares",
           "sgd_update", "rmsprop_update", "adam_update", "gather_rows", "scale_pixels", "cast")
PRODUCTS = ("matmul", "dense")
TRANSCENDENTAL = {"exp", "expm1", "log", "log1p", "tanh", "sqrt", "power", "logaddexp",
                  "sin", "cos", "arctan", "float_power"}
REDUCTIONS = {"sum", "max", "min", "argmax", "argmin", "mean", "prod", "any", "all", "vdot",
              "amax", "amin", "count_nonzero", "std", "var"}


@dataclass(frozen=True)
class Op:
    """One operation of the step: ``kind`` is ``matmul`` (its ``mnk`` and ``variant`` say
    which product), a kernel's name, or ``arith``, ``transcendental`` or ``reduce``."""

    kind: str
    name: str
    elements: int  # the size of its largest output (a reduction: of its largest input)
    mnk: tuple[int, int, int] = (0, 0, 0)  # a product's (rows, inner, columns)
    variant: str = ""  # a product's transposes: NN, TN (a.T @ b) or NT (a @ b.T)

    @property
    def is_product(self) -> bool:
        return self.kind == "matmul"


class _Recorder:
    def __init__(self) -> None:
        self.ops: list[Op] = []
        self.depth = 0  # > 0 inside a kernel: its own array operations are not recorded
        self.active = False

    @contextmanager
    def inside(self):
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1

    @property
    def recording(self) -> bool:
        return self.active and self.depth == 0

    def array_op(self, name: str, inputs: list, outputs: list) -> None:
        if not self.recording:
            return
        kind = ("transcendental" if name in TRANSCENDENTAL else "reduce" if name in REDUCTIONS
                else "arith")
        self.ops.append(Op(kind, name, _elements(inputs, outputs, kind == "reduce")))

    def kernel(self, name: str, args: tuple, kwargs: dict, out: Any) -> None:
        if not self.recording:
            return
        outputs = list(out) if isinstance(out, tuple) else [out]
        arrays = [a for a in args if isinstance(a, np.ndarray)]
        if name in PRODUCTS:
            a, b = arrays[0], arrays[1]
            ta = tb = False
            if name == "matmul":  # matmul(a, b, transpose_a, transpose_b, out)
                ta = bool(kwargs.get("transpose_a", args[2] if len(args) > 2 else False))
                tb = bool(kwargs.get("transpose_b", args[3] if len(args) > 3 else False))
            m, k = (a.shape[1], a.shape[0]) if ta else a.shape
            n = b.shape[0] if tb else b.shape[1]
            self.ops.append(Op("matmul", name, m * n, (int(m), int(k), int(n)),
                               "TN" if ta else "NT" if tb else "NN"))
            if name == "dense":  # its bias, added to the product
                self.ops.append(Op("arith", "add", int(m * n)))
            return
        kind = name
        if name == "gather_rows":  # the rows it copies, not the array it copies them from
            kind += ":uint8" if arrays[0].dtype == np.uint8 else ""
            arrays = []
        self.ops.append(Op(kind, name, _elements(arrays, outputs, name == "sum_squares")))


def _size(a: Any) -> int:
    return int(math.prod(a.shape)) if isinstance(a, np.ndarray) else 1


def _elements(inputs: list, outputs: list, reduction: bool) -> int:
    arrays = [a for a in (*inputs, *outputs) if isinstance(a, np.ndarray)]
    if reduction:
        return max((_size(a) for a in arrays), default=1)
    return max((_size(a) for a in outputs if isinstance(a, np.ndarray)),
               default=max((_size(a) for a in arrays), default=1))


_REC = _Recorder()


class _Traced(np.ndarray):
    """A NumPy array whose operations outside a kernel are recorded."""

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        plain = [_plain(x) for x in inputs]
        if "out" in kwargs:
            kwargs["out"] = tuple(_plain(x) for x in kwargs["out"])
        result = getattr(ufunc, method)(*plain, **kwargs)
        results = list(result) if isinstance(result, tuple) else [result]
        _REC.array_op(ufunc.__name__ if method == "__call__" else f"{ufunc.__name__}",
                      plain, results)
        return _wrap(result)

    def __array_function__(self, func, types, args, kwargs):
        result = func(*_plain_all(args), **{k: _plain_all(v) for k, v in kwargs.items()})
        results = list(result) if isinstance(result, tuple) else [result]
        _REC.array_op(func.__name__, [x for x in _plain_all(args) if isinstance(x, np.ndarray)],
                      results)
        return _wrap(result)


def _plain(x: Any) -> Any:
    return x.view(np.ndarray) if isinstance(x, _Traced) else x


def _plain_all(x: Any) -> Any:
    if isinstance(x, (list, tuple)):
        return type(x)(_plain_all(v) for v in x)
    return _plain(x)


def _wrap(x: Any) -> Any:
    if isinstance(x, tuple):
        return tuple(_wrap(v) for v in x)
    if isinstance(x, np.ndarray) and not isinstance(x, _Traced):
        return x.view(_Traced)
    if isinstance(x, np.generic):
        return np.asarray(x).view(_Traced)
    return x


def _recording_backend():
    """A NumPy backend whose kernels are recorded as one operation each."""
    from ..backends.numpy_backend import NumpyBackend

    def recorded(name: str):
        kernel = getattr(NumpyBackend, name)

        def method(self, *args, **kwargs):
            with _REC.inside():
                out = kernel(self, *[_plain_all(a) for a in args],
                             **{k: _plain_all(v) for k, v in kwargs.items()})
            _REC.kernel(name, args, kwargs, out)
            return _wrap(out)

        return method

    def asarray(self, host, dtype=None):
        return _wrap(NumpyBackend.asarray(self, host, dtype))

    cls = type("RecordingBackend", (NumpyBackend,),
               {**{n: recorded(n) for n in KERNELS if hasattr(NumpyBackend, n)},
                "asarray": asarray})
    return cls()


def step_operations(sizes: list[int], batch_size: int, *, activation: str = "sigmoid",
                    output: str = "sigmoid", loss: str = "cce", dtype: str = "float32",
                    l1: tuple[float, ...] | None = None, l2: tuple[float, ...] | None = None,
                    optimizer: str = "rmsprop", reduction: str = "mean",
                    pixels: bool = False, n_rows: int | None = None) -> list[Op]:
    """The operations of one training step of the model ``sizes`` (input to output) on a
    batch of ``batch_size`` rows, as the core issues them. ``pixels``: the inputs are uint8
    images scaled batch by batch (the bench's image datasets); ``n_rows``: the training set's
    rows that the batch is gathered from."""
    from ..model import MLP
    from ..optimizers import get_optimizer
    from ..pixels import Pixels, to_device
    from ..training import make_train_batch, make_train_step

    be = _recording_backend()
    n_layers = len(sizes) - 1
    model = MLP(sizes, activation=activation, output=output, loss=loss, dtype=dtype, seed=0,
                backend=be)
    net = model._network((tuple(l1 or (0.0,) * n_layers), tuple(l2 or (0.0,) * n_layers),
                          reduction))
    opt = get_optimizer(optimizer)
    train_batch = make_train_batch(be, net, make_train_step(be, net, opt))
    rows = max(n_rows or batch_size, batch_size)
    rng = np.random.default_rng(0)
    if pixels:
        x_host: Any = Pixels(rng.integers(0, 256, (rows, sizes[0]), dtype=np.uint8))
    else:
        x_host = rng.random((rows, sizes[0]), dtype=np.float64).astype(dtype)
    x_all = to_device(be, x_host, dtype)
    y_all = be.asarray(np.eye(sizes[-1], dtype=dtype)[rng.integers(0, sizes[-1], rows)], dtype)
    state = (model.params, opt.init_state(be, model.params, dtype),
             tuple(be.asarray(0.0, dtype) for _ in range(3)))
    idx = be.asarray(np.arange(batch_size), "int64")
    _REC.ops, _REC.active = [], True
    try:
        train_batch(state, idx, x_all, y_all)
    finally:
        _REC.active = False
    return list(_REC.ops)
