"""tf.map_fn, tf.scan, tf.foldl, tf.foldr: numpy's answers, nested elements, gradients."""

import numpy as np
import pytest

import engine as tf
from tests.engine.gradcheck import check_gradients

V = np.arange(12, dtype=np.float32).reshape(4, 3) - 5.0


def _run(build, value: np.ndarray = V):
    x = tf.placeholder(tf.float32, [None, 3])
    out = build(x)
    with tf.Session() as sess:
        return out, sess.run(out, {x: value})


def test_map_fn_stacks_each_row_s_result_with_its_static_shape() -> None:
    out, got = _run(lambda x: tf.map_fn(lambda row: row * row + 1.0, x))
    assert out.shape.as_list() == [None, 3]
    np.testing.assert_array_equal(got, V * V + 1)
    out, got = _run(lambda x: tf.map_fn(lambda row: tf.cast(tf.reduce_sum(row), tf.int32), x,
                                        dtype=tf.int32))
    assert out.dtype == tf.int32
    np.testing.assert_array_equal(got, V.sum(1).astype(np.int32))


def test_map_fn_over_nested_elements_with_nested_results() -> None:
    def build(x):
        return tf.map_fn(lambda e: (e[0] + e[1], {"twice": e[0] * 2.0}), (x, -x),
                         dtype=(tf.float32, {"twice": tf.float32}))

    _, (total, parts) = _run(build)
    np.testing.assert_array_equal(total, np.zeros_like(V))
    np.testing.assert_array_equal(parts["twice"], 2 * V)


def test_map_fn_over_no_rows_keeps_the_row_shape() -> None:
    _, got = _run(lambda x: tf.map_fn(lambda row: row * 2.0, x), np.zeros((0, 3), np.float32))
    assert got.shape == (0, 3)


@pytest.mark.parametrize("reverse", [False, True])
def test_scan_with_and_without_an_initializer(reverse: bool) -> None:
    want = np.cumsum(V[::-1], 0)[::-1] if reverse else np.cumsum(V, 0)
    _, got = _run(lambda x: tf.scan(lambda acc, row: acc + row, x, reverse=reverse))
    np.testing.assert_array_equal(got, want)
    _, got = _run(lambda x: tf.scan(lambda acc, row: acc + row, x, initializer=tf.ones([3]),
                                    reverse=reverse))
    np.testing.assert_array_equal(got, want + 1)


def test_folds_run_in_their_direction() -> None:
    left, right = V[0].copy(), V[-1].copy()
    for row in V[1:]:
        left = left * 2 + row
    for row in V[-2::-1]:
        right = right * 2 + row
    _, got = _run(lambda x: [tf.foldl(lambda a, r: a * 2.0 + r, x),
                             tf.foldr(lambda a, r: a * 2.0 + r, x),
                             tf.foldl(lambda a, r: a + tf.reduce_sum(r), x, initializer=0.0)])
    np.testing.assert_array_equal(got[0], left)
    np.testing.assert_array_equal(got[1], right)
    assert got[2] == V.sum()


def test_numerical_gradients_through_map_and_scan() -> None:
    rng = np.random.default_rng(2)
    check_gradients(lambda x, w: tf.map_fn(lambda row: tf.tanh(row * w), x),
                    [rng.standard_normal((3, 2)), rng.standard_normal(2)])
    check_gradients(lambda x: tf.scan(lambda acc, row: acc * row + row, x),
                    [rng.standard_normal((4, 2))])


def test_bad_calls_say_what_to_fix() -> None:
    x = tf.placeholder(tf.float32, [None, 3])
    with pytest.raises(TypeError, match="dtype="):
        tf.map_fn(lambda row: tf.cast(row, tf.int32), x)
    with pytest.raises(ValueError, match="rank >= 1"):
        tf.map_fn(lambda v: v, tf.constant(1.0))
    with pytest.raises(ValueError, match="returned 2 tensor"):
        tf.map_fn(lambda row: (row, row), x)
