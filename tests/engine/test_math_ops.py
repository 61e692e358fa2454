"""Elementwise math ops: forward against numpy, gradients by central differences, build errors."""

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import engine as tf
from tests.engine.gradcheck import check_gradients


def run(fetches: Any, feed: dict | None = None) -> Any:
    with tf.Session() as sess:
        return sess.run(fetches, feed)


def sample(domain: str, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Inputs inside an op's smooth domain: 'any', 'positive', or 'nonzero' (|x| >= 0.5)."""
    rng = np.random.default_rng(seed)
    if domain == "positive":
        return rng.uniform(0.5, 2.0, shape)
    if domain == "nonzero":
        return rng.uniform(0.5, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
    return rng.standard_normal(shape)


# -- one input ------------------------------------------------------------------------------------
UNARY: list[tuple[Callable[..., tf.Tensor], Callable[..., np.ndarray], str]] = [
    (tf.negative, np.negative, "any"),
    (tf.square, np.square, "any"),
    (tf.sqrt, np.sqrt, "positive"),
    (tf.rsqrt, lambda x: 1 / np.sqrt(x), "positive"),
    (tf.reciprocal, np.reciprocal, "nonzero"),
    (tf.exp, np.exp, "any"),
    (tf.log, np.log, "positive"),
    (tf.log1p, np.log1p, "positive"),
    (tf.sin, np.sin, "any"),
    (tf.cos, np.cos, "any"),
    (tf.abs, np.abs, "nonzero"),
]
NOT_DIFFERENTIABLE_UNARY = [
    (tf.sign, np.sign), (tf.floor, np.floor), (tf.ceil, np.ceil), (tf.round, np.round),
    (tf.is_nan, np.isnan), (tf.is_inf, np.isinf), (tf.is_finite, np.isfinite),
]


@pytest.mark.parametrize(("fn", "ref", "domain"), UNARY, ids=lambda v: getattr(v, "__name__", v))
@pytest.mark.parametrize("shape", [(), (5,), (2, 3, 4)])
def test_unary_forward(fn: Any, ref: Any, domain: str, shape: tuple[int, ...]) -> None:
    x = sample(domain, shape).astype(np.float32)
    y = fn(tf.constant(x))
    assert y.dtype == tf.float32 and y.shape == shape
    np.testing.assert_allclose(run(y), ref(x), rtol=1e-6)


@pytest.mark.parametrize(("fn", "ref"), NOT_DIFFERENTIABLE_UNARY, ids=lambda v: v.__name__)
def test_unary_forward_not_differentiable(fn: Any, ref: Any) -> None:
    x = np.array([-2.5, -1.5, -0.4, 0.0, 0.5, 1.5, 2.5, np.inf, -np.inf, np.nan], np.float32)
    np.testing.assert_array_equal(run(fn(tf.constant(x))), ref(x))


@pytest.mark.parametrize(("fn", "ref", "domain"), UNARY, ids=lambda v: getattr(v, "__name__", v))
@pytest.mark.parametrize("shape", [(4,), (2, 3)])
def test_unary_gradient(fn: Any, ref: Any, domain: str, shape: tuple[int, ...]) -> None:
    check_gradients(fn, [sample(domain, shape, seed=1)])


def test_unary_with_unknown_batch_dim() -> None:
    x = tf.placeholder(tf.float32, [None, 3])
    y = tf.exp(x)
    assert y.get_shape().as_list() == [None, 3]
    value = np.arange(12, dtype=np.float32).reshape(4, 3) / 10
    np.testing.assert_allclose(run(y, {x: value}), np.exp(value), rtol=1e-6)


def test_sign_gradient_is_zero_and_round_has_none() -> None:
    x = tf.constant([1.5, -2.0])
    assert run(tf.gradients(tf.sign(x), x)[0]).tolist() == [0.0, 0.0]
    assert tf.gradients(tf.round(x), x) == [None]


def test_round_is_half_to_even_and_keeps_ints() -> None:
    assert run(tf.round(tf.constant([0.5, 1.5, 2.5, -0.5]))).tolist() == [0.0, 2.0, 2.0, -0.0]
    ints = tf.round(tf.constant([3, -4]))
    assert ints.dtype == tf.int32 and run(ints).tolist() == [3, -4]


@pytest.mark.parametrize("fn", [tf.sqrt, tf.exp, tf.log, tf.floor, tf.is_nan])
def test_float_only_unary_rejects_ints(fn: Any) -> None:
    with pytest.raises(TypeError, match="DataType int32 not in list of allowed values"):
        fn(tf.constant([1, 2]))


# -- two broadcast inputs -------------------------------------------------------------------------
BINARY: list[tuple[Callable[..., tf.Tensor], Callable[..., np.ndarray], str, str]] = [
    (tf.add, np.add, "any", "any"),
    (tf.subtract, np.subtract, "any", "any"),
    (tf.multiply, np.multiply, "any", "any"),
    (tf.truediv, np.true_divide, "any", "nonzero"),
    (tf.pow, np.power, "positive", "any"),
    (tf.maximum, np.maximum, "any", "any"),
    (tf.minimum, np.minimum, "any", "any"),
    (tf.squared_difference, lambda x, y: (x - y) ** 2, "any", "any"),
]
NOT_DIFFERENTIABLE_BINARY = [
    (tf.floordiv, np.floor_divide), (tf.floormod, np.mod), (tf.equal, np.equal),
    (tf.not_equal, np.not_equal), (tf.less, np.less), (tf.less_equal, np.less_equal),
    (tf.greater, np.greater), (tf.greater_equal, np.greater_equal),
]
BROADCAST_PAIRS = [((2, 3), (2, 3)), ((2, 3), (3,)), ((4, 1), (1, 5)), ((), (2, 2)),
                   ((2, 1, 3), (4, 1))]


@pytest.mark.parametrize(("fn", "ref", "dx", "dy"), BINARY,
                         ids=lambda v: getattr(v, "__name__", v))
@pytest.mark.parametrize(("sx", "sy"), BROADCAST_PAIRS)
def test_binary_forward_broadcasts(fn: Any, ref: Any, dx: str, dy: str,
                                   sx: tuple[int, ...], sy: tuple[int, ...]) -> None:
    x, y = sample(dx, sx).astype(np.float32), sample(dy, sy, seed=1).astype(np.float32)
    z = fn(tf.constant(x), tf.constant(y))
    want = ref(x, y)
    assert z.shape == want.shape and z.dtype == tf.float32
    np.testing.assert_allclose(run(z), want, rtol=1e-5)


@pytest.mark.parametrize(("fn", "ref"), NOT_DIFFERENTIABLE_BINARY, ids=lambda v: v.__name__)
@pytest.mark.parametrize(("sx", "sy"), BROADCAST_PAIRS[1:3])
def test_binary_forward_not_differentiable(fn: Any, ref: Any, sx: tuple[int, ...],
                                           sy: tuple[int, ...]) -> None:
    rng = np.random.default_rng(2)
    x = rng.integers(-5, 6, sx).astype(np.float32)
    y = rng.choice([-3.0, -2.0, 2.0, 3.0], sy).astype(np.float32)
    np.testing.assert_array_equal(run(fn(tf.constant(x), tf.constant(y))), ref(x, y))


@pytest.mark.parametrize(("fn", "ref", "dx", "dy"), BINARY,
                         ids=lambda v: getattr(v, "__name__", v))
@pytest.mark.parametrize(("sx", "sy"), [((2, 3), (3,)), ((3, 1), (1, 2)), ((), (2, 2))])
def test_binary_gradient(fn: Any, ref: Any, dx: str, dy: str, sx: tuple[int, ...],
                         sy: tuple[int, ...]) -> None:
    check_gradients(fn, [sample(dx, sx, seed=3), sample(dy, sy, seed=4)])


def test_binary_with_unknown_batch_dim() -> None:
    x = tf.placeholder(tf.float32, [None, 3])
    z = tf.maximum(x, tf.constant([0.0, 1.0, 2.0]))
    assert z.get_shape().as_list() == [None, 3]
    value = np.arange(6, dtype=np.float32).reshape(2, 3) - 2
    np.testing.assert_array_equal(run(z, {x: value}), np.maximum(value, [0, 1, 2]))


@pytest.mark.parametrize(("fn", "x_grad", "y_grad"), [
    (tf.maximum, [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]),
    (tf.minimum, [1.0, 0.0, 1.0], [0.0, 1.0, 0.0]),
])
def test_maximum_minimum_ties_send_the_gradient_to_x(fn: Any, x_grad: list[float],
                                                     y_grad: list[float]) -> None:
    x, y = tf.constant([1.0, 2.0, 3.0]), tf.constant([1.0, 1.0, 4.0])
    gx, gy = tf.gradients(fn(x, y), [x, y])
    assert run(gx).tolist() == x_grad and run(gy).tolist() == y_grad


def test_pow_gradient_wrt_exponent_is_zero_for_non_positive_base() -> None:
    x, y = tf.constant([0.0, -2.0, 2.0]), tf.constant([2.0, 2.0, 2.0])
    np.testing.assert_allclose(run(tf.gradients(tf.pow(x, y), y)[0]), [0, 0, 4 * np.log(2)])


def test_integer_division_family() -> None:
    a, b = tf.constant([7, -7, 7, -7]), tf.constant([2, 2, -2, -2])
    want_floor = [3, -4, -4, 3]
    assert run(tf.floordiv(a, b)).tolist() == want_floor
    assert run(tf.floor_div(a, b)).tolist() == want_floor
    assert run(a // b).tolist() == want_floor
    assert run(tf.div(a, b)).tolist() == want_floor
    assert run(tf.mod(a, b)).tolist() == [1, 1, -1, -1]
    assert run(a % b).tolist() == [7 % 2, -7 % 2, 7 % -2, -7 % -2]
    quotient = a / b
    assert quotient.dtype == tf.float64
    assert run(quotient).tolist() == [3.5, -3.5, -3.5, 3.5]
    assert run(tf.div(tf.constant(7.0), 2.0)) == 3.5
    assert tf.truediv(tf.constant([1], tf.int16), 2).dtype == tf.float32


def test_floordiv_and_mod_have_no_gradient() -> None:
    x = tf.constant([3.5])
    assert tf.gradients(tf.floordiv(x, 2.0), x) == [None]
    assert tf.gradients(tf.mod(x, 2.0), x) == [None]


def test_operator_overloads() -> None:
    x, y = tf.constant([1.0, 2.0, 4.0]), tf.constant([2.0, 2.0, 2.0])
    row, column = tf.constant([[1.0, 2.0, 4.0]]), tf.constant([[1.0], [1.0], [1.0]])
    got = run([x + y, x - y, x * y, x / y, x ** 2, 2.0 ** x, -x, abs(-x), row @ column,
               x < y, x <= y, x > y, x >= y])
    want = [[3, 4, 6], [-1, 0, 2], [2, 4, 8], [0.5, 1, 2], [1, 4, 16], [2, 4, 16], [-1, -2, -4],
            [1, 2, 4], [[7]], [True, False, False], [True, True, False], [False, False, True],
            [False, True, True]]
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)
    p, q = tf.constant([True, True, False]), tf.constant([True, False, False])
    assert [v.tolist() for v in run([p & q, p | q, ~p])] == [
        [True, False, False], [True, True, False], [False, False, True]]


def test_logical_ops() -> None:
    p = np.array([[True, False], [True, True]])
    q = np.array([True, False])
    a, b = tf.constant(p), tf.constant(q)
    got = run([tf.logical_and(a, b), tf.logical_or(a, b), tf.logical_xor(a, b),
               tf.logical_not(a)])
    for g, w in zip(got, [p & q, p | q, p ^ q, ~p], strict=True):
        np.testing.assert_array_equal(g, w)
    with pytest.raises(TypeError, match="DataType float32 not in list of allowed values: bool"):
        tf.logical_and(tf.constant([1.0]), tf.constant([0.0]))


def test_comparisons_give_bool_and_no_gradient() -> None:
    x = tf.placeholder(tf.float32, [None, 2])
    z = tf.less(x, 1.0)
    assert z.dtype == tf.bool and z.get_shape().as_list() == [None, 2]
    assert tf.equal(tf.constant([True]), tf.constant([True])).dtype == tf.bool
    assert tf.gradients(tf.cast(z, tf.float32), x) == [None]


# -- python scalars, dtype and shape errors -------------------------------------------------------
def test_python_scalars_take_the_tensor_dtype() -> None:
    i = tf.constant([1, 2], tf.int64)
    d = tf.constant([1.0], tf.float64)
    assert (i * 2).dtype == tf.int64 and tf.maximum(3, i).dtype == tf.int64
    assert (d + 1.5).dtype == tf.float64 and tf.pow(d, 2).dtype == tf.float64
    with pytest.raises(TypeError, match="float literal"):
        tf.add(i, 1.5)


@pytest.mark.parametrize(("fn", "op_type"), [
    (tf.add, "Add"), (tf.pow, "Pow"), (tf.maximum, "Maximum"), (tf.less, "Less"),
    (tf.squared_difference, "SquaredDifference"), (tf.floormod, "FloorMod"),
])
def test_mismatched_dtypes_raise_type_error(fn: Any, op_type: str) -> None:
    with pytest.raises(TypeError, match=f"Input 'y' of '{op_type}' Op has type float64 that "
                                        f"does not match type float32 of argument 'x'"):
        fn(tf.constant([1.0], tf.float32), tf.constant([1.0], tf.float64))


@pytest.mark.parametrize(("fn", "op_type"), [
    (tf.multiply, "Mul"), (tf.pow, "Pow"), (tf.minimum, "Minimum"),
    (tf.greater_equal, "GreaterEqual"), (tf.truediv, "truediv"),
])
def test_shape_clash_names_op_and_shapes(fn: Any, op_type: str) -> None:
    a, b = tf.constant(np.ones((2, 3), np.float32)), tf.constant(np.ones((4, 3), np.float32))
    with pytest.raises(ValueError, match=rf"Dimensions must be equal, but are 2 and 4 for "
                                         rf"'{op_type}' \(op: '\w+'\) with input shapes: "
                                         rf"\[2,3\], \[4,3\]"):
        fn(a, b)


def test_default_and_given_names() -> None:
    x = tf.constant(1.0)
    assert tf.square(x).op.name == "Square"
    assert tf.maximum(x, x, name="biggest").op.name == "biggest"
    with tf.name_scope("scope"):
        assert tf.exp(x).name == "scope/Exp:0"


# -- where, clip, cast, scalar_mul ----------------------------------------------------------------
def test_where_selects_elements_and_rows() -> None:
    x, y = np.arange(6.0).reshape(2, 3), -np.arange(6.0).reshape(2, 3)
    cond = np.array([[True, False, True], [False, True, False]])
    np.testing.assert_array_equal(run(tf.where(cond, x, y)), np.where(cond, x, y))
    rows = tf.where(tf.constant([False, True]), tf.constant(x), tf.constant(y))
    assert rows.shape == (2, 3)
    np.testing.assert_array_equal(run(rows), [y[0], x[1]])
    c = tf.placeholder(tf.bool)
    np.testing.assert_array_equal(run(tf.where(c, x, y), {c: [True, False]}), [x[0], y[1]])


def test_where_with_only_a_condition_gives_coordinates() -> None:
    cond = np.array([[True, False], [False, True], [True, True]])
    coords = tf.where(tf.constant(cond))
    assert coords.dtype == tf.int64 and coords.get_shape().as_list() == [None, 2]
    np.testing.assert_array_equal(run(coords), np.argwhere(cond))
    with pytest.raises(ValueError, match="x and y must both be non-None or both be None"):
        tf.where(tf.constant(cond), x=tf.constant(1.0))


def test_where_gradient() -> None:
    inputs = [sample("any", (2, 3)), sample("any", (2, 3), seed=1)]
    for cond in ([[True, False, True], [False, False, True]], [False, True]):
        check_gradients(lambda x, y, cond=cond: tf.where(tf.constant(cond), x, y), inputs)


def test_where_shape_errors() -> None:
    with pytest.raises(ValueError, match=r"Dimension 1 in both shapes must be equal, but are 3 "
                                         r"and 2.*for 'Select'"):
        tf.where(tf.constant([True, False]), tf.zeros_like(tf.constant(np.ones((2, 3)))),
                 tf.constant(np.ones((2, 2))))
    with pytest.raises(ValueError, match=r"but are 3 and 2.*\(op: 'Select'\)"):
        tf.where(tf.constant([True, False, True]), tf.constant(np.ones((2, 3))),
                 tf.constant(np.ones((2, 3))))
    with pytest.raises(TypeError, match="'condition'"):
        tf.where(tf.constant([1.0]), tf.constant([1.0]), tf.constant([2.0]))


def test_clip_by_value() -> None:
    x = np.array([[-2.0, 0.5, 3.0], [1.0, -0.5, 9.0]], np.float32)
    np.testing.assert_array_equal(run(tf.clip_by_value(x, -1.0, 2.0)), np.clip(x, -1, 2))
    lo = tf.constant([0.0, -1.0, 1.0])
    np.testing.assert_array_equal(run(tf.clip_by_value(tf.constant(x), lo, 2.0)),
                                  np.clip(x, [0, -1, 1], 2))
    with pytest.raises(ValueError, match="clip_by_value"):
        tf.clip_by_value(tf.constant([1.0, 2.0]), tf.constant([[0.0], [1.0]]), 3.0)


def test_clip_by_value_gradient() -> None:
    x = np.array([[-2.0, 0.5, 3.0], [1.2, -0.5, 9.0]])
    check_gradients(lambda t, lo, hi: tf.clip_by_value(t, lo, hi),
                    [x, np.array([-1.0, 0.0, -3.0]), np.array(2.0)])


def test_cast() -> None:
    x = tf.constant([-1.7, 0.2, 2.9])
    as_int = tf.cast(x, tf.int32)
    assert as_int.dtype == tf.int32 and run(as_int).tolist() == [-1, 0, 2]
    assert run(tf.cast(tf.constant([True, False]), tf.float32)).tolist() == [1.0, 0.0]
    assert tf.cast(x, tf.float32) is x
    assert tf.cast(x, "float64").dtype == tf.float64
    assert tf.to_float(as_int).op.name == "ToFloat"
    assert [t.dtype for t in (tf.to_float(as_int), tf.to_double(x), tf.to_int32(x),
                              tf.to_int64(x))] == [tf.float32, tf.float64, tf.int32, tf.int64]


def test_cast_gradient() -> None:
    check_gradients(lambda x: tf.cast(tf.cast(x, tf.float32), tf.float64) * 3.0,
                    [np.array([0.5, -1.25])], rtol=1e-4, atol=1e-4, eps=1e-3)
    x = tf.constant([1.5])
    assert tf.gradients(tf.cast(tf.cast(x, tf.int32), tf.float32), x) == [None]


def test_scalar_mul() -> None:
    x = tf.constant([[1.0, 2.0]])
    assert run(tf.scalar_mul(3, x)).tolist() == [[3.0, 6.0]]
    with pytest.raises(ValueError, match="Only scalar multiply works"):
        tf.scalar_mul(tf.constant([1.0, 2.0]), x)


def test_add_n() -> None:
    xs = [np.full((2, 2), i, np.float32) for i in range(3)]
    assert run(tf.add_n([tf.constant(v) for v in xs])).tolist() == [[3, 3], [3, 3]]
    check_gradients(lambda a, b, c: tf.add_n([a, b, c]),
                    [sample("any", (2, 2), seed=i) for i in range(3)])


# -- matmul ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("transpose_a", [False, True])
@pytest.mark.parametrize("transpose_b", [False, True])
@pytest.mark.parametrize(("sa", "sb"), [((2, 3), (3, 4)), ((5, 2, 3), (5, 3, 4)),
                                        ((1, 2, 3), (4, 3, 2))])
def test_matmul_forward_and_gradient(transpose_a: bool, transpose_b: bool,
                                     sa: tuple[int, ...], sb: tuple[int, ...]) -> None:
    a, b = sample("any", sa), sample("any", sb, seed=1)
    if transpose_a:
        a = np.swapaxes(a, -1, -2).copy()
    if transpose_b:
        b = np.swapaxes(b, -1, -2).copy()
    want = np.matmul(np.swapaxes(a, -1, -2) if transpose_a else a,
                     np.swapaxes(b, -1, -2) if transpose_b else b)
    z = tf.matmul(tf.constant(a), tf.constant(b), transpose_a=transpose_a,
                  transpose_b=transpose_b)
    assert z.shape == want.shape
    np.testing.assert_allclose(run(z), want, rtol=1e-12)
    check_gradients(lambda p, q: tf.matmul(p, q, transpose_a=transpose_a,
                                           transpose_b=transpose_b), [a, b])


# -- cumulative sums and products -----------------------------------------------------------------
def np_scan(fn: Callable[..., np.ndarray], identity: float, x: np.ndarray, axis: int,
            exclusive: bool, reverse: bool) -> np.ndarray:
    """numpy's cumsum/cumprod with TF's exclusive and reverse flags."""
    if reverse:
        x = np.flip(x, axis)
    y = fn(x, axis=axis)
    if exclusive:
        head = np.full_like(np.take(y, [0], axis=axis), identity)
        y = np.concatenate([head, np.delete(y, -1, axis=axis)], axis=axis)
    return np.flip(y, axis) if reverse else y


SCANS = [(tf.cumsum, np.cumsum, 0.0), (tf.cumprod, np.cumprod, 1.0)]


@pytest.mark.parametrize(("fn", "ref", "identity"), SCANS, ids=["cumsum", "cumprod"])
@pytest.mark.parametrize("exclusive", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize(("shape", "axis"), [((5,), 0), ((3, 4), 1), ((2, 3, 4), -2)])
def test_scan_forward_and_gradient(fn: Any, ref: Any, identity: float, exclusive: bool,
                                   reverse: bool, shape: tuple[int, ...], axis: int) -> None:
    x = sample("nonzero", shape)
    y = fn(tf.placeholder(tf.float64, (None,) * len(shape)), axis, exclusive, reverse)
    assert y.shape.ndims == len(shape)
    got = run(fn(tf.constant(x), axis, exclusive=exclusive, reverse=reverse))
    np.testing.assert_allclose(got, np_scan(ref, identity, x, axis, exclusive, reverse))
    check_gradients(lambda t: fn(t, axis, exclusive=exclusive, reverse=reverse), [x])


def test_scan_keeps_integer_dtypes_and_checks_axis() -> None:
    ints = tf.constant(np.array([[100, 100], [100, 3]], np.int8))
    got = run(tf.cumsum(ints, axis=1))
    assert got.dtype == np.int8 and got.tolist() == [[100, -56], [100, 103]]
    with pytest.raises(ValueError, match=r"axis must be in the range \[-2, 2\), got 2"):
        tf.cumprod(ints, axis=2)
    with pytest.raises(TypeError, match="'axis' must be an int"):
        tf.cumsum(ints, axis=[0])
    with pytest.raises(TypeError, match="parameter 'x' has DataType bool"):
        tf.cumsum(tf.constant([True]))
    x = tf.placeholder(tf.float32)
    with pytest.raises(tf.errors.InvalidArgumentError, match="axis 1 is out of range"):
        run(tf.cumsum(x, 1), {x: np.ones(3)})


# -- tensordot ------------------------------------------------------------------------------------
TENSORDOTS = [
    ((3, 4), (4, 5), 1), ((2, 3, 4), (3, 4, 2), 2), ((2, 3), (4,), 0),
    ((2, 3, 4), (4, 3, 5), [[1, 2], [1, 0]]), ((3, 2), (2, 3), [[0], [1]]),
    ((2, 3, 4), (5, 2), [[-3], [-1]]),
]


@pytest.mark.parametrize(("sa", "sb", "axes"), TENSORDOTS, ids=str)
def test_tensordot_forward_and_gradient(sa: tuple[int, ...], sb: tuple[int, ...],
                                        axes: Any) -> None:
    a, b = sample("any", sa, seed=1), sample("any", sb, seed=2)
    want = np.tensordot(a, b, axes)
    got = tf.tensordot(tf.constant(a), tf.constant(b), axes)
    assert got.shape == want.shape
    np.testing.assert_allclose(run(got), want, rtol=1e-12)
    check_gradients(lambda x, y: tf.tensordot(x, y, axes), [a, b])


def test_tensordot_with_unknown_dims() -> None:
    a = tf.placeholder(tf.float64, [None, 3, None])
    b = tf.placeholder(tf.float64, [None, 3, 2])
    y = tf.tensordot(a, b, [[1, 2], [1, 0]])
    assert y.shape.as_list() == [None, 2]
    va, vb = sample("any", (5, 3, 4)), sample("any", (4, 3, 2))
    np.testing.assert_allclose(run(y, {a: va, b: vb}), np.tensordot(va, vb, [[1, 2], [1, 0]]))


@pytest.mark.parametrize(("axes", "error", "message"), [
    (3, ValueError, "'axes' must be in [0, 2]"),
    ([[0], [0, 1]], ValueError, "Different number of contraction axes 'a' and 'b', 1 != 2"),
    ([[0, 0], [0, 1]], ValueError, "distinct axes in [-2, 2)"),
    ([[2], [0]], ValueError, "distinct axes in [-2, 2)"),
    ([[0], [0]], ValueError, "Dimension 0 of a (2) must equal dimension 0 of b (3)"),
    ([0], ValueError, "'axes' must be an int or a pair of axis lists"),
    (1.5, TypeError, "'axes' must be an int"),
])
def test_tensordot_errors(axes: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error) as info:
        tf.tensordot(tf.zeros([2, 3]), tf.zeros([3, 4]), axes)
    assert message in str(info.value)
    with pytest.raises(ValueError, match="known rank"):
        tf.tensordot(tf.placeholder(tf.float32), tf.zeros([3]), 1)


# -- einsum ---------------------------------------------------------------------------------------
EINSUMS = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),  # matmul
    ("ij,jk", [(2, 3), (3, 4)]),  # implicit output
    ("ij,kj->ik", [(2, 3), (4, 3)]),
    ("ji,jk->ki", [(3, 2), (3, 4)]),
    ("bij,bjk->bik", [(5, 2, 3), (5, 3, 4)]),  # batch matmul
    ("bqhd,bkhd->bhqk", [(2, 3, 4, 5), (2, 6, 4, 5)]),  # attention scores
    ("bij,jk->bik", [(4, 2, 3), (3, 5)]),
    ("ij,j->i", [(2, 3), (3,)]),
    ("i,ij->j", [(2,), (2, 3)]),
    ("i,i->", [(3,), (3,)]),  # dot
    ("i,j->ij", [(2,), (3,)]),  # outer
    ("i,j", [(2,), (3,)]),
    ("ij->ji", [(2, 3)]),  # transpose
    ("ji", [(2, 3)]),  # implicit: alphabetical, so a transpose
    ("ij->", [(2, 3)]),  # sum
    ("ij->j", [(2, 3)]),
    ("ii->", [(3, 3)]),  # trace
    ("ii", [(3, 3)]),
    ("ii->i", [(3, 3)]),  # diagonal
    ("iij->ji", [(3, 3, 2)]),
    ("iii->i", [(2, 2, 2)]),
    ("ij,ij,jk->ik", [(2, 3), (2, 3), (3, 4)]),  # a letter in three places
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]),  # three operands
    ("ijk,jkl->il", [(2, 3, 4), (3, 4, 5)]),  # two letters summed
    ("ij,k->", [(2, 3), (4,)]),
    ("...ij,...jk->...ik", [(2, 1, 2, 3), (4, 3, 5)]),  # broadcasting '...'
    ("...ij,...jk", [(2, 2, 3), (2, 3, 5)]),
    ("i...->...", [(2, 3, 4)]),
    ("i...i->...", [(3, 2, 3)]),
    ("...->...", [(2, 3)]),
    ("a...b,b->...a", [(2, 3, 1, 4), (4,)]),
    ("ij->...ij", [(2, 3)]),
    ("", [()]),
    (",->", [(), ()]),
    ("i , j -> ij", [(2,), (3,)]),  # spaces are ignored
]


@pytest.mark.parametrize(("equation", "shapes"), EINSUMS, ids=[e for e, _ in EINSUMS])
def test_einsum_forward(equation: str, shapes: list[tuple[int, ...]]) -> None:
    xs = [sample("any", s, seed=i) for i, s in enumerate(shapes)]
    want = np.einsum(equation, *xs)
    y = tf.einsum(equation, *(tf.constant(x) for x in xs))
    assert y.dtype == tf.float64 and y.shape == want.shape
    np.testing.assert_allclose(run(y), want, rtol=1e-12, atol=1e-12)
    unknown = [tf.placeholder(tf.float64, (None,) * len(s)) for s in shapes]
    got = run(tf.einsum(equation, *unknown), dict(zip(unknown, xs, strict=True)))
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_einsum_keeps_integer_dtypes() -> None:
    a, b = np.arange(6, dtype=np.int32).reshape(2, 3), np.arange(12, dtype=np.int32).reshape(3, 4)
    got = run(tf.einsum("ij,jk->ik", a, b))
    assert got.dtype == np.int32 and (got == a @ b).all()


def test_einsum_sums_dims_under_an_ellipsis_missing_from_the_output() -> None:
    """TF 1.x gives '...' letters of their own, so an output without '...' sums them."""
    x, v = sample("any", (4, 2, 3)), sample("any", (3,), seed=1)
    y = tf.einsum("...ij,j->i", x, v)
    assert y.shape == (2,)
    np.testing.assert_allclose(run(y), np.einsum("bij,j->i", x, v))
    check_gradients(lambda p, q: tf.einsum("...ij,j->i", p, q), [x, v])


def test_einsum_static_shapes() -> None:
    a = tf.placeholder(tf.float32, [None, 3])
    b = tf.placeholder(tf.float32, [3, None])
    assert tf.einsum("ij,jk->ik", a, b).shape.as_list() == [None, None]
    assert tf.einsum("ij,jk->ki", a, tf.zeros([3, 5])).shape.as_list() == [5, None]
    assert tf.einsum("ij,ik->jk", a, tf.placeholder(tf.float32, [4, None])).shape.as_list() == \
        [3, None]  # i: unknown, then 4
    assert tf.einsum("...i,i->...", tf.placeholder(tf.float32), tf.zeros([3])).shape.ndims \
        is None
    assert tf.einsum("...i,i->i", tf.placeholder(tf.float32), tf.zeros([3])).shape == (3,)
    assert tf.einsum("ij,j", tf.placeholder(tf.float32), tf.zeros([3])).shape.as_list() == \
        [None]
    assert tf.einsum("...ij,...j->...i", tf.zeros([5, 1, 2, 3]),
                     tf.zeros([4, 3])).shape == (5, 4, 2)


EINSUM_BUILD_ERRORS = [
    ("ij,jk->ik", [(2, 3), (4, 5)], "Dimension 4 of input 1 for label 'j' does not match "
                                    "dimension 3 elsewhere in equation 'ij,jk->ik'"),
    ("ii->i", [(2, 3)], "label 'i'"),
    ("ij->ji", [(2, 3, 4)], "Input 0 of equation 'ij->ji' has rank 3, but its subscripts "
                            "'ij' name 2 dimensions"),
    ("...ij->ij", [(2,)], "has rank 1"),
    ("ij,jk", [(2, 3)], 'Got 1 arguments for equation "ij,jk", expecting 2'),
    ("ij->i2", [(2, 3)], "Indices have incorrect format: ij->i2"),
    ("ij->jk", [(2, 3)], "Output subscript 'k' of equation 'ij->jk' does not appear"),
    ("ij->ii", [(2, 3)], "Output subscript 'i' appears more than once"),
    ("i.j->ij", [(2, 3)], 'period "." found outside of ellipsis'),
    ("......->", [(2, 3)], "Excess number found"),
    ("...i,...i->...i", [(2, 3), (4, 3)], "Dimensions must be equal, but are 2 and 4"),
]


@pytest.mark.parametrize(("equation", "shapes", "message"), EINSUM_BUILD_ERRORS,
                         ids=[e for e, _, _ in EINSUM_BUILD_ERRORS])
def test_einsum_build_errors(equation: str, shapes: list[tuple[int, ...]], message: str) -> None:
    with pytest.raises(ValueError) as info:
        tf.einsum(equation, *(tf.zeros(s) for s in shapes))
    assert message in str(info.value)


def test_einsum_argument_errors() -> None:
    with pytest.raises(TypeError, match="equation must be a string"):
        tf.einsum(tf.zeros([2]), tf.zeros([2]))
    with pytest.raises(TypeError, match=r"have types \[float32, int32\] that don't all match"):
        tf.einsum("i,i->", tf.zeros([2]), tf.zeros([2], tf.int32))
    with pytest.raises(TypeError, match="DataType bool"):
        tf.einsum("i->", tf.constant([True]))
    with pytest.raises(TypeError, match="nmae"):
        tf.einsum("i->", tf.zeros([2]), nmae="x")  # type: ignore[call-arg]
    assert tf.einsum("i->", tf.zeros([2]), name="total").op.name == "total"


def test_einsum_run_time_errors_name_the_node() -> None:
    """Sizes unknown when the graph was built are checked when it runs: numpy would broadcast
    a size-1 dim against its letter's size, TF refuses."""
    a, b = tf.placeholder(tf.float32, [None, None]), tf.placeholder(tf.float32, [None, 4])
    y = tf.einsum("ij,jk->ik", a, b, name="product")
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"label 'j'.*node product"):
        run(y, {a: np.ones((2, 1)), b: np.ones((3, 4))})
    x = tf.placeholder(tf.float32)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"has rank 1.*'ii'"):
        run(tf.einsum("ii->i", x), {x: np.ones(3)})


EINSUM_GRADIENTS = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),  # matmul
    ("bij,bjk->bik", [(2, 2, 3), (2, 3, 2)]),  # batch matmul
    ("i,j->ij", [(2,), (3,)]),  # outer product
    ("ij->ji", [(2, 3)]),  # transpose
    ("ii->", [(3, 3)]),  # trace
    ("ii->i", [(3, 3)]),  # diagonal
    ("ij->", [(2, 3)]),  # sum
    ("...ij,...jk->...ik", [(2, 1, 2, 3), (3, 3, 2)]),  # '...' broadcasting
    ("ij,jk,kl->il", [(2, 3), (3, 2), (2, 2)]),  # three operands
    ("ij,ij,jk->ik", [(2, 3), (2, 3), (3, 2)]),
    ("bqhd,bkhd->bhqk", [(2, 3, 2, 2), (2, 2, 2, 2)]),
    ("iij->ji", [(3, 3, 2)]),
    ("iii->i", [(2, 2, 2)]),
    ("ij,k->", [(2, 3), (2,)]),
    ("i...->...", [(2, 3, 1)]),
    ("i...i->...", [(3, 2, 3)]),
    ("a...b,b->...a", [(2, 3, 1, 2), (2,)]),
    ("i...,...j->ij", [(2, 3, 1), (1, 1, 2)]),
]


@pytest.mark.parametrize(("equation", "shapes"), EINSUM_GRADIENTS,
                         ids=[e for e, _ in EINSUM_GRADIENTS])
def test_einsum_gradient(equation: str, shapes: list[tuple[int, ...]]) -> None:
    xs = [sample("any", s, seed=i) for i, s in enumerate(shapes)]
    check_gradients(lambda *ps: tf.einsum(equation, *ps), xs)


@pytest.mark.parametrize(("equation", "shapes"), [
    ("...ii,...i->...i", [(2, 3, 3), (1, 3)]), ("i...i,i->...", [(3, 2, 1, 3), (3,)]),
    ("...ij,j->i", [(2, 1, 3, 2), (2,)])])
def test_einsum_gradient_with_unknown_dims(equation: str, shapes: list[tuple[int, ...]]) -> None:
    """The identity matrices of a diagonal's gradient and the sums of broadcast '...' dims
    take their sizes when the graph runs, also for inputs of unknown rank."""
    xs = [sample("any", s, seed=i) for i, s in enumerate(shapes)]
    want = [tf.constant(x) for x in xs]
    unknown = [tf.placeholder(tf.float64), tf.placeholder(tf.float64, [None] * len(shapes[1]))]
    grads = []
    for a, b in (want, unknown):
        y = tf.einsum(equation, a, b)
        grads.append(tf.gradients(tf.reduce_sum(y * y), [a, b]))
    expected = run(grads[0])
    got = run(grads[1], dict(zip(unknown, xs, strict=True)))
    for g, w in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-12)


def test_einsum_second_derivative() -> None:
    """Gradients are einsums too, so they differentiate again: d2/dx2 of sum((x x^T)^2)."""
    x = sample("any", (2, 3))
    check_gradients(lambda p: tf.gradients(tf.reduce_sum(tf.square(tf.einsum(
        "ij,kj->ik", p, p))), p)[0], [x])
