"""Every backend's overridden kernels equal the generic array-API kernels they replace."""

from __future__ import annotations

import numpy as np
import pytest
from mlp_core.backends.base import Backend

from .helpers import in_float64, make_backend

RNG = np.random.default_rng(0)
SHAPE = (6, 5)


def host(*shape, positive=False):
    x = RNG.normal(size=shape)
    return np.abs(x) + 0.1 if positive else x


@in_float64
def run_both(backend, kernel, *host_args, scalars=()):
    """Call ``kernel`` on the backend and the generic kernel on the same backend's namespace."""
    generic = Backend(backend.xp, backend.device)
    outs = []
    for be in (backend, generic):
        # fresh copies: kernels may write in place
        args = [backend.asarray(np.array(a), "float64") for a in host_args]
        result = getattr(be, kernel)(*args, *scalars) if kernel != "sgd_update" else \
            getattr(be, kernel)(*args[:2], args[2] if len(args) > 2 else None, *scalars)
        result = result if isinstance(result, tuple) else (result,)
        outs.append([None if r is None else backend.to_numpy(r) for r in result])
    return outs


@pytest.mark.parametrize("kernel,args,scalars", [
    ("sigmoid", [host(*SHAPE)], ()),
    ("sigmoid_backward", [host(*SHAPE, positive=True) / 2, host(*SHAPE)], ()),
    ("dense", [host(*SHAPE), host(5, 3), host(3)], ()),
    ("sum_squares", [host(*SHAPE)], ()),
    ("add_scaled", [host(*SHAPE), host(*SHAPE)], (0.02,)),
    ("sgd_update", [host(*SHAPE), host(*SHAPE)], (0.1, 0.0, False)),
    ("sgd_update", [host(*SHAPE), host(*SHAPE), host(*SHAPE)], (0.1, 0.9, False)),
    ("sgd_update", [host(*SHAPE), host(*SHAPE), host(*SHAPE)], (0.1, 0.9, True)),
    ("rmsprop_update", [host(*SHAPE), host(*SHAPE), host(*SHAPE, positive=True)],
     (1e-3, 0.9, 1e-7)),
    ("adam_update", [host(*SHAPE), host(*SHAPE), host(*SHAPE), host(*SHAPE, positive=True)],
     (1e-3, 0.9, 0.999, 1e-7)),
], ids=lambda v: v if isinstance(v, str) else "")
def test_kernel_matches_generic(backend, kernel, args, scalars):
    fast, generic = run_both(backend, kernel, *args, scalars=scalars)
    for f, g in zip(fast, generic):
        if g is None:
            assert f is None
        else:
            np.testing.assert_allclose(f, g, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("transpose_a,transpose_b", [(False, False), (True, False), (False, True)])
@in_float64
def test_matmul_transposes(backend, transpose_a, transpose_b):
    # non-square (3x5 by 5x4, each stored as its transpose where asked): a transpose or
    # contraction on the wrong axis cannot pass
    a = host(5, 3) if transpose_a else host(3, 5)
    b = host(4, 5) if transpose_b else host(5, 4)
    got = backend.to_numpy(backend.matmul(backend.asarray(a), backend.asarray(b),
                                          transpose_a=transpose_a, transpose_b=transpose_b))
    np.testing.assert_allclose(got, (a.T if transpose_a else a) @ (b.T if transpose_b else b),
                               rtol=1e-12)


@in_float64
def test_gather_rows(backend):
    x = host(10, 4)
    idx = np.array([9, 0, 3, 3])
    got = backend.to_numpy(backend.gather_rows(backend.asarray(x), backend.asarray(idx, "int64")))
    np.testing.assert_array_equal(got, x[idx])


@pytest.mark.gpu
def test_cupy_unfused_path_is_the_generic_code():
    be = make_backend("cupy", {"fused": False})
    assert be.mode == "eager"
