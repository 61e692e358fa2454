"""QR decomposition and the orthogonal initializer built on it."""

import numpy as np
import pytest

import engine as tf


@pytest.mark.parametrize("shape", [(4, 4), (5, 3), (3, 5), (2, 4, 3)])
@pytest.mark.parametrize("full", [False, True])
def test_qr_reconstructs_its_input_with_orthonormal_q(shape, full) -> None:
    value = np.random.default_rng(0).standard_normal(shape)
    q, r = tf.qr(tf.placeholder(tf.float64, [None] * len(shape)), full_matrices=full)
    with tf.Session() as sess:
        got_q, got_r = sess.run([q, r], {q.op.inputs[0]: value})
    np.testing.assert_allclose(got_q @ got_r, value, atol=1e-10)
    eye = np.eye(got_q.shape[-1])
    np.testing.assert_allclose(np.swapaxes(got_q, -1, -2) @ got_q, np.broadcast_to(
        eye, got_q.shape[:-2] + eye.shape), atol=1e-10)
    np.testing.assert_array_equal(np.tril(got_r, -1), 0)
    m, n = shape[-2:]
    k = m if full else min(m, n)
    assert got_q.shape[-1] == got_r.shape[-2] == k


def test_qr_static_shapes_and_errors() -> None:
    q, r = tf.qr(tf.zeros([2, 5, 3]))
    assert q.shape.as_list() == [2, 5, 3] and r.shape.as_list() == [2, 3, 3]
    q, r = tf.qr(tf.zeros([5, 3]), full_matrices=True)
    assert q.shape.as_list() == [5, 5] and r.shape.as_list() == [5, 3]
    with pytest.raises(TypeError, match="float"):
        tf.qr(tf.zeros([3, 3], tf.int32))
    with pytest.raises(ValueError, match="rank"):
        tf.qr(tf.zeros([3]))


@pytest.mark.parametrize("shape", [(4, 4), (3, 6), (6, 3), (2, 3, 4)])
def test_orthogonal_initializer_gives_orthonormal_rows_or_columns_times_gain(shape) -> None:
    tf.set_random_seed(1)
    value = tf.orthogonal_initializer(gain=2.0)(shape)
    with tf.Session() as first, tf.Session() as second:
        a, again = first.run(value), second.run(value)
    np.testing.assert_array_equal(a, again)  # seeded: the same in every session
    flat = a.reshape(-1, shape[-1])
    gram = flat.T @ flat if flat.shape[0] >= flat.shape[1] else flat @ flat.T
    np.testing.assert_allclose(gram, 4 * np.eye(len(gram)), atol=1e-4)
    with pytest.raises(ValueError, match="two-dimensional"):
        tf.orthogonal_initializer()((3,))
