"""Reductions and argmax/argmin: forward against numpy, static shapes, aliases, gradients."""

from typing import Any

import numpy as np
import pytest

import engine as tf
from tests.engine.gradcheck import check_gradients


def run(fetches: Any, feed: dict | None = None) -> Any:
    with tf.Session() as sess:
        return sess.run(fetches, feed)


def logsumexp(x: np.ndarray, axis: Any = None, keepdims: bool = False) -> np.ndarray:
    return np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims))


REDUCERS = [
    (tf.reduce_sum, np.sum), (tf.reduce_mean, np.mean), (tf.reduce_max, np.max),
    (tf.reduce_min, np.min), (tf.reduce_prod, np.prod), (tf.reduce_logsumexp, logsumexp),
]
AXES = [None, 0, 1, -1, [0, 2], [-1, 0], []]
X = np.random.default_rng(0).uniform(0.5, 1.5, (2, 3, 4)) * np.random.default_rng(1).choice(
    [-1.0, 1.0], (2, 3, 4))


def np_axis(axis: Any) -> Any:
    return tuple(axis) if isinstance(axis, list) else axis


@pytest.mark.parametrize(("fn", "ref"), REDUCERS, ids=lambda v: v.__name__)
@pytest.mark.parametrize("axis", AXES, ids=str)
@pytest.mark.parametrize("keepdims", [False, True])
def test_forward_matches_numpy(fn: Any, ref: Any, axis: Any, keepdims: bool) -> None:
    x = X.astype(np.float32)
    y = fn(tf.constant(x), axis=axis, keepdims=keepdims)
    want = ref(x, axis=np_axis(axis), keepdims=keepdims)
    assert y.shape == want.shape and y.dtype == tf.float32
    np.testing.assert_allclose(run(y), want, rtol=1e-5)


@pytest.mark.parametrize(("fn", "ref"), REDUCERS, ids=lambda v: v.__name__)
@pytest.mark.parametrize("axis", [None, 0, [0, 2], -1], ids=str)
@pytest.mark.parametrize("keepdims", [False, True])
def test_gradient(fn: Any, ref: Any, axis: Any, keepdims: bool) -> None:
    check_gradients(lambda x: fn(x, axis=axis, keepdims=keepdims), [X])


@pytest.mark.parametrize(("axis", "keepdims", "static"), [
    (None, False, []), (None, True, [1, 1, 1]), (0, False, [3, 4]), (1, False, [None, 4]),
    ([0, -1], True, [1, 3, 1]), (-2, True, [None, 1, 4]),
])
def test_static_shape_with_unknown_batch(axis: Any, keepdims: bool,
                                         static: list[int | None]) -> None:
    x = tf.placeholder(tf.float32, [None, 3, 4])
    y = tf.reduce_sum(x, axis, keepdims=keepdims)
    assert y.get_shape().as_list() == static
    value = X[:, :, :].astype(np.float32)
    np.testing.assert_allclose(run(y, {x: value}),
                               value.sum(axis=np_axis(axis), keepdims=keepdims), rtol=1e-6)


def test_unknown_rank_input() -> None:
    x = tf.placeholder(tf.float32)
    total, rows = tf.reduce_sum(x), tf.reduce_max(x, -1)
    assert total.get_shape().as_list() == [] and rows.get_shape().ndims is None
    got = run([total, rows], {x: X})
    np.testing.assert_allclose(got[0], X.sum(), rtol=1e-5)
    np.testing.assert_allclose(got[1], X.max(-1).astype(np.float32))


def test_deprecated_aliases_and_constant_axis() -> None:
    x = tf.constant(X)
    got = run([tf.reduce_sum(x, reduction_indices=[1], keep_dims=True),
               tf.reduce_mean(x, tf.constant([0, 2])), tf.reduce_max(x, np.int64(2))])
    np.testing.assert_allclose(got[0], X.sum(1, keepdims=True))
    np.testing.assert_allclose(got[1], X.mean((0, 2)))
    np.testing.assert_allclose(got[2], X.max(2))
    with pytest.raises(ValueError, match="Cannot specify both 'axis' and 'reduction_indices'"):
        tf.reduce_sum(x, axis=0, reduction_indices=0)
    with pytest.raises(ValueError, match="Cannot specify both 'keepdims' and 'keep_dims'"):
        tf.reduce_sum(x, keepdims=True, keep_dims=True)
    with pytest.raises(TypeError, match="known when the graph is built"):
        tf.reduce_sum(x, tf.placeholder(tf.int32))


@pytest.mark.parametrize("axis", [2, -3, [0, 5]])
def test_out_of_range_axis_raises_at_build_time(axis: Any) -> None:
    bad = axis if isinstance(axis, int) else 5
    with pytest.raises(ValueError, match=rf"Invalid reduction dimension {bad} for input with 2 "
                                         rf"dimensions for 'Sum' \(op: 'Sum'\) with input "
                                         rf"shapes: \[2,3\]"):
        tf.reduce_sum(tf.constant(np.ones((2, 3))), axis)


def test_integer_reductions_keep_their_dtype() -> None:
    x = tf.constant([[-3, -4], [5, 8]], tf.int32)
    sums, means, prods = tf.reduce_sum(x, 1), tf.reduce_mean(x, 1), tf.reduce_prod(x)
    assert sums.dtype == means.dtype == prods.dtype == tf.int32
    got = run([sums, means, prods])
    assert got[0].dtype == np.int32 and got[0].tolist() == [-7, 13]
    assert got[1].tolist() == [-3, 6]  # truncated toward zero, as in TF
    assert got[2] == 480
    small = tf.reduce_sum(tf.constant([200, 100], tf.uint8))
    assert small.dtype == tf.uint8


def test_reduce_all_any() -> None:
    b = np.array([[True, False, True], [True, True, True]])
    got = run([tf.reduce_all(b, 1), tf.reduce_any(b, 0), tf.reduce_all(b, keepdims=True)])
    assert got[0].tolist() == [False, True]
    assert got[1].tolist() == [True, True, True]
    assert got[2].tolist() == [[False]]
    with pytest.raises(TypeError, match="allowed values: bool"):
        tf.reduce_any(tf.constant([1.0]))
    with pytest.raises(TypeError, match="DataType bool not in list"):
        tf.reduce_sum(tf.constant([True]))


def test_logsumexp_is_stable() -> None:
    x = np.array([[1000.0, 1000.0], [-np.inf, -np.inf], [-1000.0, 0.0]], np.float32)
    got = run(tf.reduce_logsumexp(x, 1))
    np.testing.assert_allclose(got, [1000 + np.log(2), -np.inf, 0.0], rtol=1e-6)


# -- gradients ------------------------------------------------------------------------------------
def test_reduce_mean_gradient_with_a_batch_size_known_only_at_run_time() -> None:
    x = tf.placeholder(tf.float32, [None, 10])
    g_all = tf.gradients(tf.reduce_mean(x), x)[0]
    g_rows = tf.gradients(tf.reduce_mean(x, axis=0), x)[0]
    assert g_all.get_shape().as_list() == [None, 10]
    with tf.Session() as sess:
        for batch in (4, 7):
            a, r = sess.run([g_all, g_rows], {x: np.ones((batch, 10))})
            np.testing.assert_allclose(a, np.full((batch, 10), 1 / (10 * batch)), rtol=1e-6)
            np.testing.assert_allclose(r, np.full((batch, 10), 1 / batch), rtol=1e-6)


@pytest.mark.parametrize(("fn", "want"), [
    (tf.reduce_max, [[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]]),
    (tf.reduce_min, [[1.0, 0.0, 0.0], [0.0, 0.5, 0.5]]),
])
def test_max_min_gradient_splits_ties(fn: Any, want: list[list[float]]) -> None:
    x = tf.constant([[1.0, 3.0, 3.0], [2.0, 0.0, 0.0]])
    np.testing.assert_allclose(run(tf.gradients(fn(x, 1), x)[0]), want)


@pytest.mark.parametrize("value", [
    np.array([[0.0, 2.0, 3.0], [0.0, 0.0, 4.0], [1.5, -2.0, 0.5]]),
    np.array([[[0.0, 2.0], [1.0, 3.0]], [[-1.0, 0.0], [0.0, 0.0]]]),
])
@pytest.mark.parametrize("axis", [None, 0, 1, -1])
def test_prod_gradient_with_zeros(value: np.ndarray, axis: Any) -> None:
    check_gradients(lambda x: tf.reduce_prod(x, axis), [value])


def test_second_order_gradient_through_reductions() -> None:
    x = tf.constant([0.5, -1.0, 2.0], tf.float64)
    first = tf.gradients(tf.reduce_sum(x ** 3) + tf.reduce_mean(x * x), x)[0]
    second = tf.gradients(first, x)[0]
    np.testing.assert_allclose(run(second), 6 * np.array([0.5, -1.0, 2.0]) + 2 / 3)


def test_reduction_of_an_integer_tensor_has_no_gradient() -> None:
    x = tf.constant([1.5, 2.5])
    assert tf.gradients(tf.cast(tf.reduce_sum(tf.cast(x, tf.int32)), tf.float32), x) == [None]


# -- argmax / argmin / count_nonzero --------------------------------------------------------------
def test_argmax_argmin() -> None:
    v = np.array([[1.0, 5.0, 5.0], [7.0, -1.0, 0.0]], np.float32)
    x = tf.constant(v)
    default, columns = tf.argmax(x), tf.argmin(x, 1, output_type=tf.int32)
    assert default.dtype == tf.int64 and default.shape == (3,)
    assert columns.dtype == tf.int32 and columns.shape == (2,)
    got = run([default, columns, tf.argmax(x, dimension=1), tf.argmax(x, -1)])
    assert got[0].dtype == np.int64 and got[0].tolist() == [1, 0, 0]
    assert got[1].dtype == np.int32 and got[1].tolist() == [0, 1]
    assert got[2].tolist() == got[3].tolist() == [1, 0]  # the first of tied maxima
    with pytest.raises(ValueError, match=r"Expected dimension in the range \[-2, 2\), but got 2 "
                                         r"for 'ArgMax\w*' \(op: 'ArgMax'\)"):
        tf.argmax(x, 2)
    with pytest.raises(ValueError, match="Cannot specify both 'axis' and 'dimension'"):
        tf.argmax(x, 1, dimension=1)
    with pytest.raises(TypeError, match="output_type"):
        tf.argmax(x, 1, output_type=tf.float32)


def test_argmax_with_unknown_batch_and_no_gradient() -> None:
    x = tf.placeholder(tf.float32, [None, 10])
    am = tf.argmax(x, 1)
    assert am.get_shape().as_list() == [None]
    value = np.random.default_rng(3).standard_normal((5, 10)).astype(np.float32)
    np.testing.assert_array_equal(run(am, {x: value}), value.argmax(1))
    assert tf.gradients(tf.cast(am, tf.float32), x) == [None]


@pytest.mark.parametrize("axis", [None, 0, 1])
def test_count_nonzero(axis: Any) -> None:
    v = np.array([[0.0, 1.0, 2.0], [0.0, 0.0, -3.0]])
    counts = tf.count_nonzero(v, axis)
    assert counts.dtype == tf.int64
    np.testing.assert_array_equal(run(counts), np.count_nonzero(v, axis=axis))
    assert run(tf.count_nonzero(tf.constant([True, False, True]), dtype=tf.int32)) == 2


@pytest.mark.parametrize("fn", [tf.reduce_sum, tf.reduce_mean], ids=lambda v: v.__name__)
@pytest.mark.parametrize(("axis", "keepdims", "w_shape"), [
    (1, False, (2, 4)), ([0, 2], True, (1, 3, 1)), (None, False, ()),
])
def test_spread_gradient_is_differentiable(fn: Any, axis: Any, keepdims: bool,
                                           w_shape: tuple[int, ...]) -> None:
    """Second-order gradients pass through the op that spreads dy back over the input."""
    w = np.random.default_rng(4).standard_normal(w_shape)
    check_gradients(
        lambda x, dy: tf.gradients(fn(x, axis, keepdims=keepdims), x, grad_ys=dy)[0] * x, [X, w])
