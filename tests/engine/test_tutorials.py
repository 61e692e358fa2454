"""TF 1.x tutorial code, with only the import changed, trained on scikit-learn's digits (8x8)."""

import numpy as np
import pytest

import engine as tf

datasets = pytest.importorskip("sklearn.datasets")


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    data = datasets.load_digits()
    images = (data.data / 16.0).astype(np.float32)
    labels = np.eye(10, dtype=np.float32)[data.target]
    order = np.random.default_rng(0).permutation(len(images))
    train, test = order[:1437], order[1437:]
    return images[train], labels[train], images[test], labels[test]


def test_softmax_regression(digits: tuple[np.ndarray, ...]) -> None:
    """The "MNIST for ML beginners" graph."""
    train_x, train_y, test_x, test_y = digits
    x = tf.placeholder(tf.float32, [None, 64])
    W = tf.Variable(tf.zeros([64, 10]))
    b = tf.Variable(tf.zeros([10]))
    y = tf.matmul(x, W) + b
    y_ = tf.placeholder(tf.float32, [None, 10])
    cross_entropy = tf.reduce_mean(
        tf.nn.softmax_cross_entropy_with_logits(labels=y_, logits=y))
    train_step = tf.train.GradientDescentOptimizer(0.5).minimize(cross_entropy)
    sess = tf.InteractiveSession()
    try:
        tf.global_variables_initializer().run()
        rng = np.random.default_rng(1)
        for _ in range(1500):
            batch = rng.integers(0, len(train_x), 100)
            sess.run(train_step, feed_dict={x: train_x[batch], y_: train_y[batch]})
        correct_prediction = tf.equal(tf.argmax(y, 1), tf.argmax(y_, 1))
        accuracy = tf.reduce_mean(tf.cast(correct_prediction, tf.float32))
        held_out = sess.run(accuracy, feed_dict={x: test_x, y_: test_y})
    finally:
        sess.close()
    assert held_out >= 0.95


def test_deep_mnist_cnn(digits: tuple[np.ndarray, ...]) -> None:
    """The "Deep MNIST for experts" CNN, sized for 8x8 images."""
    train_x, train_y, test_x, test_y = digits
    tf.set_random_seed(0)

    def weight_variable(shape: list[int]) -> tf.Variable:
        initial = tf.truncated_normal(shape, stddev=0.1)
        return tf.Variable(initial)

    def bias_variable(shape: list[int]) -> tf.Variable:
        initial = tf.constant(0.1, shape=shape)
        return tf.Variable(initial)

    def conv2d(x: tf.Tensor, W: tf.Variable) -> tf.Tensor:
        return tf.nn.conv2d(x, W, strides=[1, 1, 1, 1], padding="SAME")

    def max_pool_2x2(x: tf.Tensor) -> tf.Tensor:
        return tf.nn.max_pool(x, ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="SAME")

    x = tf.placeholder(tf.float32, shape=[None, 64])
    y_ = tf.placeholder(tf.float32, shape=[None, 10])
    x_image = tf.reshape(x, [-1, 8, 8, 1])
    W_conv1 = weight_variable([5, 5, 1, 32])
    b_conv1 = bias_variable([32])
    h_pool1 = max_pool_2x2(tf.nn.relu(conv2d(x_image, W_conv1) + b_conv1))
    W_conv2 = weight_variable([5, 5, 32, 64])
    b_conv2 = bias_variable([64])
    h_pool2 = max_pool_2x2(tf.nn.relu(conv2d(h_pool1, W_conv2) + b_conv2))
    W_fc1 = weight_variable([2 * 2 * 64, 256])
    b_fc1 = bias_variable([256])
    h_pool2_flat = tf.reshape(h_pool2, [-1, 2 * 2 * 64])
    h_fc1 = tf.nn.relu(tf.matmul(h_pool2_flat, W_fc1) + b_fc1)
    keep_prob = tf.placeholder(tf.float32)
    h_fc1_drop = tf.nn.dropout(h_fc1, keep_prob)
    W_fc2 = weight_variable([256, 10])
    b_fc2 = bias_variable([10])
    y_conv = tf.matmul(h_fc1_drop, W_fc2) + b_fc2

    cross_entropy = tf.reduce_mean(
        tf.nn.softmax_cross_entropy_with_logits(labels=y_, logits=y_conv))
    train_step = tf.train.AdamOptimizer(1e-3).minimize(cross_entropy)
    correct_prediction = tf.equal(tf.argmax(y_conv, 1), tf.argmax(y_, 1))
    accuracy = tf.reduce_mean(tf.cast(correct_prediction, tf.float32))
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        rng = np.random.default_rng(2)
        for _ in range(600):
            batch = rng.integers(0, len(train_x), 50)
            train_step.run(feed_dict={x: train_x[batch], y_: train_y[batch], keep_prob: 0.5})
        held_out = accuracy.eval(feed_dict={x: test_x, y_: test_y, keep_prob: 1.0})
    assert held_out >= 0.97
