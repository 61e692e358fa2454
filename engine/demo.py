"""`python -m engine.demo`: the engine's walkthrough, run by `make run` until the server exists.

Builds graphs the TF 1.x way, runs them in Sessions and trains a small classifier, printing
what happens at each step.
"""

from __future__ import annotations

import numpy as np

import engine as tf


def basics() -> None:
    with tf.Graph().as_default(), tf.Session() as sess:
        print("1 + 2 =", sess.run(tf.add(tf.constant(1), tf.constant(2))))
        counter = tf.Variable(0, name="counter")
        step = tf.assign(counter, tf.add(counter, tf.constant(1)))
        sess.run(tf.global_variables_initializer())
        print("counter:", [int(sess.run(step)) for _ in range(3)])
        x = tf.placeholder(tf.float32)
        print("x * 2 with x fed 1, then 3:", sess.run(x * 2, {x: 1}), sess.run(x * 2, {x: 3}))
        print("matrix sum:", sess.run(tf.constant([[1, 2], [1, 2]]) + tf.constant([[3, 4], [3, 4]]))
              .tolist())


def train_classifier() -> None:
    """Softmax regression on two noisy blobs: the loss falls and accuracy rises."""
    rng = np.random.default_rng(0)
    centers = np.array([[2.0, 2.0], [-2.0, -2.0]], np.float32)
    labels = rng.integers(0, 2, 400)
    points = centers[labels] + rng.standard_normal((400, 2)).astype(np.float32)
    onehot = np.eye(2, dtype=np.float32)[labels]
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 2])
        y = tf.placeholder(tf.float32, [None, 2])
        w = tf.Variable(np.zeros((2, 2), np.float32))
        b = tf.Variable(np.zeros(2, np.float32))
        logits = tf.matmul(x, w) + b
        loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits_v2(labels=y, logits=logits))
        train = tf.train.GradientDescentOptimizer(0.5).minimize(loss)
        correct = tf.equal(tf.argmax(logits, 1), tf.argmax(y, 1))
        accuracy = tf.reduce_mean(tf.cast(correct, tf.float32))
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            feed = {x: points, y: onehot}
            for i in range(51):
                _, value = sess.run([train, loss], feed)
                if i % 10 == 0:
                    print(f"step {i:3d}  loss {value:.4f}")
            print(f"training accuracy: {sess.run(accuracy, feed):.3f}")


if __name__ == "__main__":
    basics()
    train_classifier()
