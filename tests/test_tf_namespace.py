"""The TensorFlow namespace (``backends/tf_namespace.py``) against the array API standard, 2023.12.

Property tests (Hypothesis, derandomized and bounded) compare each function with array-api-strict,
the standard's reference implementation, as the oracle: values, dtype, shape, NaN positions and,
where the standard fixes them, the sign of zeros, over the dtypes the namespace has (bool, int32,
int64, float32, float64). Regression tests pin each defect the conformance suite
(data-apis/array-api-tests, docs/tf-namespace.md) found; each fails on the namespace before them.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from mlp_core.backends.tensorflow_backend import import_tensorflow

with contextlib.suppress(ImportError):
    import_tensorflow()  # when it is there, quietly: TensorFlow's start-up log stays out
tf = pytest.importorskip("tensorflow", reason="TensorFlow is not installed (the tensorflow extra)")
strict = pytest.importorskip("array_api_strict")
pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402
from mlp_core.backends import tf_namespace as tnp  # noqa: E402

PROPERTY = settings(max_examples=50, derandomize=True, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                           HealthCheck.data_too_large])

# the oracle's NumPy warns on the special values drawn (log(-1), mean of nothing, ...)
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

BOOL, INTS, FLOATS = ["bool"], ["int32", "int64"], ["float32", "float64"]
REAL = INTS + FLOATS
DTYPES = BOOL + REAL
KINDS = [BOOL, INTS, FLOATS]
SAME_KIND = [(a, b) for kind in KINDS for a in kind for b in kind]  # what the standard promotes
MIXED_KIND = [(a, b) for a in DTYPES for b in DTYPES
              if not any(a in kind and b in kind for kind in KINDS)]
# TensorFlow's transcendental kernels (Eigen) and NumPy's (libm) differ by an ulp or two
RTOL = {"float32": 4e-7, "float64": 4e-16}
SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)


@pytest.fixture(autouse=True, scope="module")
def standard_2023_12():
    """The oracle speaks the version the namespace states."""
    with strict.ArrayAPIStrictFlags(api_version=tnp.__array_api_version__):
        yield


# -- strategies and the comparison ---------------------------------------------------------
def elements(dtype, **kwargs):
    """Every value of dtype, NaN, infinities and signed zeros included. No subnormals: TensorFlow
    flushes them to zero on the CPU, and the standard's suite leaves them out of scope."""
    if dtype in FLOATS:
        kwargs.setdefault("allow_subnormal", False)
    return hnp.from_dtype(np.dtype(dtype), **kwargs)


def arrays(dtypes, shape=SHAPES, **kwargs):
    return st.sampled_from(dtypes).flatmap(
        lambda d: hnp.arrays(d, shape, elements=elements(d, **kwargs)))


def check(got, want, *, rtol=0.0, zeros=True, values=True):
    """``got`` (the namespace's) is ``want`` (array-api-strict's): the same dtype and shape, NaN at
    the same places, values equal (or within ``rtol``), and with ``zeros``, zeros of one sign."""
    assert isinstance(got, tf.Tensor)
    want = np.asarray(want)
    have = got.numpy()
    assert got.dtype.name == want.dtype.name
    assert tuple(got.shape) == want.shape
    if want.dtype.kind != "f":
        if values:
            np.testing.assert_array_equal(have, want)
        return
    np.testing.assert_array_equal(np.isnan(have), np.isnan(want))
    if not values:
        return
    np.testing.assert_allclose(have, want, rtol=rtol, atol=0, equal_nan=True)
    if zeros:
        zero = want == 0
        np.testing.assert_array_equal(np.signbit(have[zero]), np.signbit(want[zero]))


def both(a):
    return tf.constant(a), strict.asarray(a)


def sdtype(name):
    return getattr(strict, name)


# -- property tests: element-wise --------------------------------------------------------------
@pytest.mark.parametrize("name", ["abs", "exp", "log", "log1p", "sqrt", "tanh", "sign"])
@PROPERTY
@given(a=arrays(FLOATS))
def test_elementwise_on_floats(name, a):
    t, s = both(a)
    exact = name in ("abs", "sign")
    # the sign of sign(+-0) is left open ("the result is 0")
    check(getattr(tnp, name)(t), getattr(strict, name)(s), rtol=0 if exact else RTOL[a.dtype.name],
          zeros=name != "sign")


@pytest.mark.parametrize("name", ["abs", "sign"])
@PROPERTY
@given(data=st.data())
def test_elementwise_on_integers(name, data):
    d = data.draw(st.sampled_from(INTS))
    # abs of the most negative integer is implementation-defined
    a = data.draw(hnp.arrays(d, SHAPES, elements=elements(d, min_value=np.iinfo(d).min + 1)))
    t, s = both(a)
    check(getattr(tnp, name)(t), getattr(strict, name)(s))


@PROPERTY
@given(data=st.data())
def test_equal_and_where_promote(data):
    d1, d2 = data.draw(st.sampled_from(SAME_KIND))
    shapes = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=3, max_dims=3, max_side=3))
    c, x1, x2 = (data.draw(hnp.arrays(d, shape, elements=elements(d)))
                 for d, shape in zip(["bool", d1, d2], shapes.input_shapes))
    (tc, sc), (t1, s1), (t2, s2) = both(c), both(x1), both(x2)
    check(tnp.equal(t1, t2), strict.equal(s1, s2))
    check(tnp.where(tc, t1, t2), strict.where(sc, s1, s2))


def python_scalars(dtype):
    """The Python scalars the standard lets meet an array of ``dtype``, within its range."""
    if dtype == "bool":
        return st.booleans()
    if dtype in INTS:
        return elements(dtype).map(int)
    return elements(dtype).map(float) | st.integers(-1000, 1000)


@PROPERTY
@given(data=st.data())
def test_equal_and_where_take_python_scalars(data):
    """Not asked by 2023.12 (arrays only); the namespace follows 2024.12's array-scalar rules."""
    d = data.draw(st.sampled_from(DTYPES))
    c = data.draw(hnp.arrays("bool", SHAPES))
    x = data.draw(hnp.arrays(d, c.shape, elements=elements(d)))
    value = data.draw(python_scalars(d))
    (tc, sc), (tx, sx) = both(c), both(x)
    with strict.ArrayAPIStrictFlags(api_version="2024.12"):
        check(tnp.equal(tx, value), strict.equal(sx, value))
        check(tnp.where(tc, tx, value), strict.where(sc, sx, value))
        check(tnp.where(tc, value, tx), strict.where(sc, value, sx))


@pytest.mark.parametrize("d1,d2", MIXED_KIND)
def test_mixed_kinds_are_a_type_error_as_in_the_oracle(d1, d2):
    """The standard promotes no bool with int, nor int with float: a TypeError, not TF's error."""
    x1, x2 = np.zeros(2, d1), np.ones(2, d2)
    c = np.array([True, False])
    for name, args in [("equal", (x1, x2)), ("where", (c, x1, x2))]:
        with pytest.raises(TypeError):
            getattr(strict, name)(*map(strict.asarray, args))
        with pytest.raises(TypeError):
            getattr(tnp, name)(*map(tf.constant, args))
    if "bool" not in (d1, d2):
        with pytest.raises(TypeError):
            tnp.matmul(tf.constant(np.ones((2, 2), d1)), tf.constant(np.ones((2, 2), d2)))


@PROPERTY
@given(data=st.data())
def test_clip(data):
    d = data.draw(st.sampled_from(REAL))
    shapes = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=3, max_dims=3, max_side=3))
    x = data.draw(hnp.arrays(d, shapes.input_shapes[0], elements=elements(d)))
    scalars = python_scalars(d) if d in FLOATS else elements(d).map(int)
    lo, hi = (data.draw(st.none() | scalars | hnp.arrays(d, shape, elements=elements(d)))
              for shape in shapes.input_shapes[1:])
    if lo is not None and hi is not None:
        assume(not np.any(np.asarray(hi) < np.asarray(lo)))  # min > max is left open

    def bound(b, convert):
        return b if b is None or not isinstance(b, np.ndarray) else convert(b)

    got = tnp.clip(tf.constant(x), min=bound(lo, tf.constant), max=bound(hi, tf.constant))
    want = strict.clip(strict.asarray(x), min=bound(lo, strict.asarray),
                       max=bound(hi, strict.asarray))
    check(got, want, zeros=False)  # which of +0 and -0 is the larger is left open


# -- property tests: reductions ----------------------------------------------------------------
def axes(ndim, tuples=True):
    """None, one axis (maybe negative) or, with ``tuples``, a tuple of distinct axes."""
    one = st.integers(-ndim, ndim - 1) if ndim else st.nothing()
    many = st.lists(st.integers(0, ndim - 1), unique=True).map(tuple) if ndim else st.just(())
    return st.none() | one | (many if tuples else st.nothing())


def summands(dtype):
    """Floats that cannot overflow in a sum of 64 (NaN and infinities now and then); any int (an
    integer sum wraps the same in any order)."""
    if dtype in INTS:
        return elements(dtype)
    finite = st.floats(-1e4, 1e4, width=int(dtype[-2:]), allow_subnormal=False)
    return st.one_of(finite, finite, finite, st.sampled_from([np.nan, np.inf, -np.inf]))


def check_sum(got, want, x, axis, keepdims, reduce):
    """Float sums and means depend on the order of the additions: within a few ulp of each
    summand's size (the same reduction of |x|), NaN and infinities where the oracle has them."""
    want = np.asarray(want)
    if want.dtype.kind != "f":
        check(got, want)
        return
    check(got, want, values=False)  # dtype, shape, NaN places
    size = np.asarray(reduce(np.abs(x.astype(np.float64)), axis=axis, keepdims=keepdims))
    have, n = got.numpy(), max(x.size, 1)
    finite = np.isfinite(want)
    np.testing.assert_array_equal(have[~finite], want[~finite])
    tol = 8 * n * np.finfo(want.dtype).eps * size[finite]
    assert np.all(np.abs(have[finite] - want[finite]) <= tol)


@PROPERTY
@given(data=st.data())
def test_sum(data):
    d = data.draw(st.sampled_from(REAL))
    x = data.draw(hnp.arrays(d, SHAPES, elements=summands(d)))
    axis, keepdims = data.draw(axes(x.ndim)), data.draw(st.booleans())
    kind = INTS if d in INTS else FLOATS
    dtype = data.draw(st.sampled_from([None] + kind))  # cast first, then summed in it
    t, s = both(x)
    got = tnp.sum(t, axis=axis, keepdims=keepdims, dtype=dtype and getattr(tnp, dtype))
    want = strict.sum(s, axis=axis, keepdims=keepdims, dtype=dtype and sdtype(dtype))
    check_sum(got, want, x.astype(dtype or x.dtype), axis, keepdims, np.sum)


@PROPERTY
@given(data=st.data())
def test_mean(data):
    d = data.draw(st.sampled_from(FLOATS))
    x = data.draw(hnp.arrays(d, SHAPES, elements=summands(d)))
    axis, keepdims = data.draw(axes(x.ndim)), data.draw(st.booleans())
    t, s = both(x)
    got, want = (tnp.mean(t, axis=axis, keepdims=keepdims),
                 strict.mean(s, axis=axis, keepdims=keepdims))
    with np.errstate(all="ignore"):
        check_sum(got, want, x, axis, keepdims, np.mean)


NONEMPTY = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)


@PROPERTY
@given(data=st.data())
def test_max(data):
    """Over non-empty axes (the maximum of nothing is left open); NaN propagates."""
    x = data.draw(arrays(REAL, NONEMPTY))
    axis, keepdims = data.draw(axes(x.ndim)), data.draw(st.booleans())
    t, s = both(x)
    check(tnp.max(t, axis=axis, keepdims=keepdims), strict.max(s, axis=axis, keepdims=keepdims),
          zeros=False)  # which zero is the larger is left open


@PROPERTY
@given(data=st.data())
def test_argmax(data):
    """The first of equal maxima (ties drawn often); NaN is left open by the standard."""
    d = data.draw(st.sampled_from(REAL))
    values = elements(d, allow_nan=False)
    x = data.draw(hnp.arrays(d, hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4),
                             elements=st.sampled_from([0, 1, 2]).map(np.dtype(d).type) | values))
    axis, keepdims = data.draw(axes(x.ndim, tuples=False)), data.draw(st.booleans())
    t, s = both(x)
    check(tnp.argmax(t, axis=axis, keepdims=keepdims),
          strict.argmax(s, axis=axis, keepdims=keepdims))


# -- property tests: creation, data types, linear algebra, indexing ---------------------------
@st.composite
def nested_scalars(draw):
    """A nested list of Python scalars (a mix of bool, int and float, or of one dtype's) and the
    dtype to ask for (None: inferred)."""
    dtype = draw(st.none() | st.sampled_from(DTYPES))
    if dtype is None:
        scalar = (st.booleans() | st.integers(-2**63, 2**63 - 1)
                  | st.floats(allow_subnormal=False))
    else:
        scalar = python_scalars(dtype)
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3))
    flat = draw(st.lists(scalar, min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))
    obj = np.array(flat, dtype=object).reshape(shape).tolist() if shape else flat[0]
    return obj, dtype


@PROPERTY
@given(case=nested_scalars())
def test_asarray_from_python_scalars(case):
    obj, dtype = case
    with np.errstate(all="ignore"):
        want = strict.asarray(obj, dtype=dtype and sdtype(dtype))
    check(tnp.asarray(obj, dtype=dtype and getattr(tnp, dtype)), want)


@PROPERTY
@given(data=st.data())
def test_astype(data):
    src, dst = data.draw(st.sampled_from(DTYPES)), data.draw(st.sampled_from(DTYPES))
    if src in FLOATS and dst in INTS:  # NaN, infinities and values out of range: left open
        bound = 2**31 - 256 if dst == "int32" else 2**62
        values = elements(src, allow_nan=False, min_value=-bound, max_value=bound)
    else:
        values = elements(src)
    x = data.draw(hnp.arrays(src, SHAPES, elements=values))
    copy = data.draw(st.booleans())
    t, s = both(x)
    with np.errstate(all="ignore"):
        want = strict.astype(s, sdtype(dst), copy=copy)
    check(tnp.astype(t, getattr(tnp, dst), copy=copy), want)


@PROPERTY
@given(x=arrays(DTYPES), dtype=st.none() | st.sampled_from(DTYPES))
def test_zeros_like(x, dtype):
    t, s = both(x)
    check(tnp.zeros_like(t, dtype=dtype and getattr(tnp, dtype)),
          strict.zeros_like(s, dtype=dtype and sdtype(dtype)))


@PROPERTY
@given(x=arrays(DTYPES, hnp.array_shapes(min_dims=2, max_dims=4, min_side=0, max_side=3)))
def test_matrix_transpose(x):
    t, s = both(x)
    check(tnp.matrix_transpose(t), strict.matrix_transpose(s))


@PROPERTY
@given(data=st.data())
def test_matmul(data):
    """Vectors on either side (a row for x1, a column for x2, removed again), broadcast stacks,
    empty dimensions, and promotion between dtypes of one kind."""
    d1, d2 = data.draw(st.sampled_from([p for p in SAME_KIND if "bool" not in p]))
    m, k, n = (data.draw(st.integers(0, 4)) for _ in range(3))
    b1, b2 = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2,
                                                         max_side=3)).input_shapes
    case = data.draw(st.sampled_from(["vector-vector", "vector-matrix", "matrix-vector",
                                      "matrix-matrix"]))
    s1 = (k,) if case.startswith("vector") else b1 + (m, k)
    s2 = (k,) if case.endswith("-vector") else b2 + (k, n)

    def values(d):  # small enough that neither an int dot product nor a float one overflows
        return (st.integers(-100, 100) if d in INTS else
                st.floats(-100, 100, width=int(d[-2:]), allow_subnormal=False))

    x1 = data.draw(hnp.arrays(d1, s1, elements=values(d1)))
    x2 = data.draw(hnp.arrays(d2, s2, elements=values(d2)))
    (t1, a1), (t2, a2) = both(x1), both(x2)
    got, want = tnp.matmul(t1, t2), np.asarray(strict.matmul(a1, a2))
    check(got, want, values=False)  # dtype and shape; values just below
    eps = np.finfo(want.dtype).eps if want.dtype.kind == "f" else 0
    np.testing.assert_allclose(got.numpy(), want, rtol=0, atol=8 * max(k, 1) * 1e4 * eps)


@PROPERTY
@given(data=st.data())
def test_take(data):
    x = data.draw(arrays(DTYPES, hnp.array_shapes(min_dims=1, max_dims=3, min_side=1,
                                                  max_side=4)))
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1) | (st.none() if x.ndim == 1
                                                         else st.nothing()))
    size = x.shape[0 if axis is None else axis]
    idx = np.asarray(data.draw(st.lists(st.integers(-size, size - 1), max_size=6)),
                     dtype=data.draw(st.sampled_from(INTS)))
    t, s = both(x)
    check(tnp.take(t, tf.constant(idx), axis=axis), strict.take(s, strict.asarray(idx), axis=axis))


# -- regression tests: each finding of the conformance suite -------------------------------------
def test_where_and_equal_promote_instead_of_raising():
    c = tf.constant([True, False])
    f32, f64 = tf.constant([1.0, 2.0], tf.float32), tf.constant([3.0, 4.0], tf.float64)
    i32, i64 = tf.constant([1, 2], tf.int32), tf.constant([1, 4], tf.int64)
    out = tnp.where(c, f32, f64)
    assert out.dtype == tf.float64 and out.numpy().tolist() == [1.0, 4.0]
    assert tnp.where(c, i32, i64).dtype == tf.int64
    assert tnp.equal(i32, i64).numpy().tolist() == [True, False]
    assert tnp.equal(f32, f64).numpy().tolist() == [False, False]


@pytest.mark.parametrize("name", ["max", "sum", "mean"])
def test_nan_propagates_through_a_promoting_where(name):
    """The suite's NaN-propagation test: x = where(mask, asarray(nan), x) mixes float64 (the
    default float) into a float32 x."""
    x = tf.constant([1.0, 2.0, 3.0], tf.float32)
    x = tnp.where(tf.constant([False, True, False]), tnp.asarray(float("nan")), x)
    out = getattr(tnp, name)(x)
    assert out.dtype == tf.float64 and np.isnan(out.numpy())


def test_matmul_takes_vectors_and_promotes():
    out = tnp.matmul(tnp.asarray(np.ones(3)), tnp.asarray(np.ones((3, 2))))
    assert tuple(out.shape) == (2,) and out.numpy().tolist() == [3.0, 3.0]
    assert tuple(tnp.matmul(tf.ones((4, 3)), tf.ones((3,))).shape) == (4,)
    assert tnp.matmul(tf.constant([1.0, 2.0]), tf.constant([3.0, 4.0])).numpy() == 11.0
    mixed = tnp.matmul(tf.ones((2, 2), tf.float32), tf.ones((2, 2), tf.float64))
    assert mixed.dtype == tf.float64
    assert tnp.matmul(tf.ones((2, 2), tf.int32), tf.ones((2,), tf.int64)).dtype == tf.int64
    with pytest.raises(ValueError):
        tnp.matmul(tf.constant(1.0), tf.ones((1, 1)))


def test_argmax_keepdims_without_axis_keeps_every_dimension():
    x = tf.constant([[1.0, 5.0], [7.0, 2.0]])
    out = tnp.argmax(x, keepdims=True)
    assert tuple(out.shape) == (1, 1) and out.numpy().tolist() == [[2]]
    assert tuple(tnp.argmax(tf.zeros((2, 3, 4)), keepdims=True).shape) == (1, 1, 1)


def test_take_counts_negative_indices_from_the_end_and_refuses_out_of_range():
    x = tf.constant([[1, 2], [3, 4], [5, 6]])
    assert tnp.take(x, tf.constant([-1, 0]), axis=0).numpy().tolist() == [[5, 6], [1, 2]]
    assert tnp.take(x, tf.constant([-2], tf.int32), axis=-1).numpy().tolist() == [[1], [3], [5]]
    for bad in ([3], [-4]):
        with pytest.raises(IndexError, match="out of range"):
            tnp.take(x, tf.constant(bad), axis=0)
    with pytest.raises(ValueError, match="axis is required"):
        tnp.take(x, tf.constant([0]))


def test_take_in_a_graph_counts_negative_indices_and_refuses_out_of_range():
    step = tf.function(lambda x, i: tnp.take(x, i, axis=0))
    x = tf.constant([[1.0], [2.0], [3.0]])
    assert step(x, tf.constant([-1, 1])).numpy().tolist() == [[3.0], [2.0]]
    with pytest.raises(tf.errors.InvalidArgumentError):
        step(x, tf.constant([3, 0]))


def test_take_checks_the_range_itself_where_a_gpu_may_run_it(monkeypatch):
    """Where TensorFlow sees a GPU (whose gather checks nothing), take checks the range: eagerly
    on the host, traced by an assertion in the graph. Here the CPU plays the GPU's part."""
    monkeypatch.setattr(tnp, "_GPU", True)
    x = tf.constant([[1.0], [2.0], [3.0]])
    assert tnp.take(x, tf.constant([-1, 1]), axis=0).numpy().tolist() == [[3.0], [2.0]]
    with pytest.raises(IndexError, match="out of range"):
        tnp.take(x, tf.constant([0, 3]), axis=0)
    assert "Assert" in graph_ops(lambda x, i: tnp.take(x, i, axis=0), x, tf.constant([0]))
    step = tf.function(lambda x, i: tnp.take(x, i, axis=0))
    assert step(x, tf.constant([-3])).numpy().tolist() == [[1.0]]
    with pytest.raises(tf.errors.InvalidArgumentError, match="out of range"):
        step(x, tf.constant([-4]))


def test_sum_casts_before_summing_and_widens_small_integers():
    big = tnp.sum(tf.constant([2**31 - 1, 1], tf.int32), dtype=tnp.int64)
    assert big.dtype == tf.int64 and big.numpy() == 2**31
    tenths = tnp.sum(tf.fill([10**6], tf.constant(0.1, tf.float32)), dtype=tnp.float64)
    assert abs(tenths.numpy() - 10**6 * float(np.float32(0.1))) < 1e-6  # 100000.0014901...
    assert tnp.sum(tf.constant([2**31 - 1, 1], tf.int32)).dtype == tf.int64  # the default int
    small = tnp.sum(tf.constant([200, 100], tf.uint8))
    assert small.dtype == tf.uint64 and small.numpy() == 300
    assert tnp.sum(tf.constant([1.5], tf.float32)).dtype == tf.float32  # floats keep theirs


def test_asarray_infers_default_dtypes_refuses_a_forbidden_copy_and_keeps_negative_zero():
    mixed = tnp.asarray([False, 0])
    assert mixed.dtype == tf.int64 and mixed.numpy().tolist() == [0, 0]
    assert tnp.asarray([1, 2.5]).dtype == tf.float64 and tnp.asarray(True).dtype == tf.bool
    t = tf.constant([1.0], tf.float32)
    with pytest.raises(ValueError, match="copy"):
        tnp.asarray(t, dtype=tnp.float64, copy=False)
    with pytest.raises(ValueError, match="copy"):
        tnp.asarray([1.0], copy=False)
    assert tnp.asarray(t, copy=False) is t and tnp.asarray(t, dtype=tnp.float32) is t
    assert tnp.asarray(t, copy=True) is not t
    # TensorFlow's eager scalar-constant cache holds 0.0 and -0.0 under one key
    tnp.asarray(0.0)
    negative_zero = tnp.asarray(-0.0)
    assert np.signbit(negative_zero.numpy())
    for name in ("sqrt", "tanh", "log1p"):
        assert np.signbit(getattr(tnp, name)(negative_zero).numpy()), name
    c = tf.constant([False])
    tnp.where(c, tf.constant([1.0]), 0.0)
    assert np.signbit(tnp.where(c, tf.constant([1.0]), -0.0).numpy()[0])


def test_astype_copies_only_when_asked_or_needed():
    t = tf.constant([1.5, -0.0])
    assert tnp.astype(t, tnp.float32, copy=False) is t
    assert tnp.astype(t, tnp.float32) is not t  # copy=True: a new array
    assert tnp.astype(t, tnp.float64, copy=False).dtype == tf.float64
    assert tnp.astype(tf.constant([np.nan, 0.0]), tnp.bool).numpy().tolist() == [True, False]


def test_clip_takes_bounds_of_other_dtypes_arrays_and_none():
    x = tf.constant([0.0, 0.5, 1.0], tf.float32)
    out = tnp.clip(x, min=tf.constant([0.25], tf.float64), max=None)
    assert out.dtype == tf.float32 and out.numpy().tolist() == [0.25, 0.5, 1.0]
    assert tnp.clip(x) is x
    wide = tnp.clip(x, min=tf.constant([[0.0], [2.0]], tf.float32))
    assert tuple(wide.shape) == (2, 3)  # the broadcast shape of x, min and max
    ints = tf.constant([1, 5, 10], tf.int32)
    assert tnp.clip(ints, min=2, max=2**40).numpy().tolist() == [2, 5, 10]  # past int32: no bound
    assert tnp.clip(tf.constant([1.0, 5.0], tf.float64), min=2, max=3).numpy().tolist() == [2, 3]
    assert np.isnan(tnp.clip(x, max=float("nan")).numpy()).all()
    with pytest.raises(TypeError):
        tnp.clip(ints, min=1.5)  # a float bound on an integer array: no rule


def test_mean_of_integers_is_the_default_float():
    out = tnp.mean(tf.constant([1, 2], tf.int32))
    assert out.dtype == tf.float64 and out.numpy() == 1.5


# -- the hot path: one op for the common case ---------------------------------------------------
def graph_ops(fn, *args):
    """The op types of ``fn`` traced on ``args``, without inputs, outputs and constants."""
    graph = tf.function(fn).get_concrete_function(*args).graph
    return [op.type for op in graph.get_operations()
            if op.type not in ("Placeholder", "Identity", "Const", "NoOp")]


def test_same_dtype_calls_trace_to_one_op():
    a, b = tf.ones((4, 3)), tf.ones((3, 2))
    c = tf.ones((4, 3)) > 0
    assert graph_ops(lambda x, y: tnp.where(c, x, y), a, a) == ["SelectV2"]
    assert graph_ops(tnp.equal, a, a) == ["Equal"]
    assert graph_ops(tnp.matmul, a, b) == ["MatMul"]
    assert graph_ops(lambda x: tnp.sum(x, axis=1, keepdims=True), a) == ["Sum"]
    assert graph_ops(lambda x: tnp.argmax(x, axis=1), a) == ["ArgMax"]
    assert graph_ops(lambda x: tnp.clip(x, min=1e-7, max=1 - 1e-7), a) == ["Maximum", "Minimum"]
    assert graph_ops(lambda x: tnp.astype(x > 0, tnp.float32), a) == ["Greater", "Cast"]
    if not tf.config.list_physical_devices("GPU"):  # a GPU adds the range assertion
        ops = graph_ops(lambda x, i: tnp.take(x, i, axis=0), a, tf.constant([0, 1]))
        assert sorted(ops) == ["AddV2", "GatherV2", "Less", "SelectV2"]
