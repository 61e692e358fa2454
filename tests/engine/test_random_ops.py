"""Random ops: seeding across sessions and runs, distributions, shapes given as tensors."""

from collections.abc import Callable

import numpy as np
import pytest

import engine as tf

SAMPLERS = {
    "normal": lambda shape, seed=None: tf.random_normal(shape, seed=seed),
    "truncated": lambda shape, seed=None: tf.truncated_normal(shape, seed=seed),
    "uniform": lambda shape, seed=None: tf.random_uniform(shape, seed=seed),
    "uniform_int": lambda shape, seed=None: tf.random_uniform(shape, 0, 1000, tf.int32,
                                                              seed=seed),
}


def _two_sessions(t: tf.Tensor) -> tuple[list[np.ndarray], list[np.ndarray]]:
    runs = []
    for _ in range(2):
        with tf.Session() as sess:
            runs.append([sess.run(t) for _ in range(2)])
    return runs[0], runs[1]


@pytest.mark.parametrize("make", SAMPLERS.values(), ids=SAMPLERS.keys())
def test_graph_seed_repeats_across_sessions_and_varies_across_runs(make: Callable) -> None:
    tf.set_random_seed(1234)
    first, second = _two_sessions(make([50]))
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    assert not np.array_equal(first[0], first[1])


def test_op_seed_alone_repeats_and_distinguishes_ops() -> None:
    a, b, c = (tf.random_normal([20], seed=s) for s in (5, 5, 6))
    with tf.Session() as sess:
        va, vb, vc = sess.run([a, b, c])
    with tf.Session() as sess:
        np.testing.assert_array_equal(sess.run(a), va)
    np.testing.assert_array_equal(va, vb)
    assert not np.array_equal(va, vc)


def test_unseeded_ops_differ_between_sessions() -> None:
    t = tf.random_uniform([20])
    with tf.Session() as s1, tf.Session() as s2:
        assert not np.array_equal(s1.run(t), s2.run(t))


def test_distributions_and_dtypes() -> None:
    tf.set_random_seed(0)
    n = 20000
    normal = tf.random_normal([n], mean=2.0, stddev=3.0)
    truncated = tf.truncated_normal([n], mean=-1.0, stddev=0.5, dtype=tf.float64)
    uniform = tf.random_uniform([n], minval=-2.0, maxval=4.0)
    ints = tf.random_uniform([n], minval=3, maxval=7, dtype=tf.int64)
    with tf.Session() as sess:
        vn, vt, vu, vi = sess.run([normal, truncated, uniform, ints])
    assert (vn.dtype, vt.dtype, vu.dtype, vi.dtype) == (np.float32, np.float64, np.float32,
                                                       np.int64)
    assert abs(vn.mean() - 2.0) < 0.1 and abs(vn.std() - 3.0) < 0.1
    assert np.abs(vt + 1.0).max() <= 1.0
    # a normal truncated at 2 sigma keeps ~88% of the spread: std = 0.5 * 0.8796
    assert abs(vt.mean() + 1.0) < 0.02 and abs(vt.std() - 0.5 * 0.8796) < 0.02
    assert vu.min() >= -2.0 and vu.max() < 4.0 and abs(vu.mean() - 1.0) < 0.1
    assert set(np.unique(vi)) == {3, 4, 5, 6}


def test_shape_given_as_tensor_with_unknown_dims() -> None:
    x = tf.placeholder(tf.float32, [None, 3])
    noise = tf.random_normal(tf.shape(x))
    assert noise.shape.as_list() == [None, 3]
    batch = tf.placeholder(tf.int32, [])
    dropout_like = tf.random_uniform([batch, 2])
    assert dropout_like.shape.as_list() == [None, 2]
    with tf.Session() as sess:
        assert sess.run(noise, {x: np.zeros((4, 3))}).shape == (4, 3)
        assert sess.run(dropout_like, {batch: 5}).shape == (5, 2)


def test_gradients_flow_to_mean_and_stddev() -> None:
    tf.set_random_seed(3)
    mean = tf.placeholder(tf.float32, [])
    stddev = tf.placeholder(tf.float32, [])
    sample = tf.random_normal([4], mean=mean, stddev=stddev)
    g_mean, g_std = tf.gradients(sample, [mean, stddev])
    with tf.Session() as sess:
        s, gm, gs = sess.run([sample, g_mean, g_std], {mean: 1.0, stddev: 2.0})
    assert gm == 4.0
    np.testing.assert_allclose(gs, ((s - 1.0) / 2.0).sum(), rtol=1e-5)


def test_argument_errors() -> None:
    with pytest.raises(ValueError, match="Must specify maxval for integer dtype int32"):
        tf.random_uniform([2], dtype=tf.int32)
    with pytest.raises(ValueError, match="floating point"):
        tf.random_normal([2], dtype=tf.int32)
    with pytest.raises(ValueError, match="Dimension -3 must be >= 0"):
        tf.random_normal([2, -3])


def test_random_shuffle_permutes_first_dimension() -> None:
    tf.set_random_seed(9)
    value = np.arange(20).reshape(10, 2)
    shuffled = tf.random_shuffle(tf.constant(value))
    with tf.Session() as sess:
        got = sess.run(shuffled)
    assert not np.array_equal(got, value)
    np.testing.assert_array_equal(np.sort(got[:, 0]), value[:, 0])
    np.testing.assert_array_equal(got[:, 1], got[:, 0] + 1)


def test_multinomial_follows_softmax() -> None:
    tf.set_random_seed(2)
    logits = tf.constant([[np.log(0.2), np.log(0.8), -50.0], [0.0, 0.0, 0.0]])
    samples = tf.multinomial(logits, 6000)
    assert samples.shape.as_list() == [2, 6000] and samples.dtype == tf.int64
    with tf.Session() as sess:
        got = sess.run(samples)
    np.testing.assert_allclose(np.bincount(got[0], minlength=3) / 6000, [0.2, 0.8, 0.0],
                               atol=0.03)
    np.testing.assert_allclose(np.bincount(got[1], minlength=3) / 6000, [1 / 3] * 3, atol=0.03)
