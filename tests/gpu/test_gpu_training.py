"""The same training steps on CuPy and numpy agree (skipped where CuPy finds no CUDA device)."""

import numpy as np
import pytest

import engine as tf

pytestmark = pytest.mark.skipif(not tf.gpu_available(), reason="needs CuPy and a CUDA device")


def _train(device: str, steps: int = 5) -> tuple[list[float], list[np.ndarray]]:
    rng = np.random.default_rng(0)
    images = rng.random((32, 64), dtype=np.float32)
    labels = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 32)]
    with tf.Graph().as_default():
        tf.set_random_seed(1)
        x = tf.placeholder(tf.float32, [None, 64])
        y = tf.placeholder(tf.float32, [None, 10])
        w1 = tf.Variable(tf.truncated_normal([64, 32], stddev=0.1))
        b1 = tf.Variable(tf.zeros([32]))
        w2 = tf.Variable(tf.truncated_normal([32, 10], stddev=0.1))
        hidden = tf.nn.relu(tf.matmul(x, w1) + b1)
        logits = tf.matmul(hidden, w2)
        loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits_v2(labels=y, logits=logits))
        train = tf.train.AdamOptimizer(0.01).minimize(loss)
        with tf.Session(device=device) as sess:
            sess.run(tf.global_variables_initializer())
            losses = [float(sess.run([train, loss], {x: images, y: labels})[1])
                      for _ in range(steps)]
            return losses, sess.run([w1, b1, w2])


def test_training_on_gpu_matches_numpy() -> None:
    cpu_losses, cpu_weights = _train("/cpu:0")
    gpu_losses, gpu_weights = _train("/gpu:0")
    np.testing.assert_allclose(gpu_losses, cpu_losses, rtol=1e-4, atol=1e-4)
    for g, c in zip(gpu_weights, cpu_weights, strict=True):
        assert isinstance(g, np.ndarray)  # fetched back to the host
        np.testing.assert_allclose(g, c, rtol=1e-4, atol=1e-4)


def test_variables_stay_on_the_device() -> None:
    import cupy

    with tf.Graph().as_default():
        with tf.device("/gpu:0"):
            v = tf.Variable(tf.zeros([4]))
        bump = tf.assign_add(v, tf.ones([4]))
        with tf.Session() as sess:
            sess.run(v.initializer)
            sess.run(bump)
            assert isinstance(sess._variables[v.op.name], cupy.ndarray)
            np.testing.assert_array_equal(sess.run(v), np.ones(4))
