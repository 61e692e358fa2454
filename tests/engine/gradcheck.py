"""Numerical gradient checking shared by the op-family tests (float64, central differences)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

import engine as tf


def check_gradients(
    build: Callable[..., tf.Tensor],
    inputs: Sequence[np.ndarray],
    *,
    eps: float = 1e-6,
    rtol: float = 1e-5,
    atol: float = 1e-6,
    seed: int = 0,
) -> None:
    """Assert that tf.gradients of `build(*placeholders)` matches central differences.

    The output is contracted with fixed random weights, so every output element's gradient is
    checked, not just their sum. Inputs are float64 arrays; each becomes a placeholder of that
    exact shape.
    """
    graph = tf.Graph()
    with graph.as_default():
        phs = [tf.placeholder(tf.float64, np.shape(x)) for x in inputs]
        y = build(*phs)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())  # layers and cells build variables
            y_value = sess.run(y, {p: x for p, x in zip(phs, inputs, strict=True)})
            weights = np.random.default_rng(seed).standard_normal(np.shape(y_value))
            objective = tf.reduce_sum(y * tf.constant(weights, dtype=tf.float64))
            grads = tf.gradients(objective, phs)
            feed = {p: x for p, x in zip(phs, inputs, strict=True)}
            analytic = sess.run([g for g in grads if g is not None], feed)
            analytic_iter = iter(analytic)
            for i, (x, g) in enumerate(zip(inputs, grads, strict=True)):
                assert g is not None, f"no gradient for input {i}"
                got = next(analytic_iter)
                want = np.zeros_like(x, dtype=np.float64)
                flat = want.reshape(-1)
                for j in range(x.size):
                    plus, minus = x.copy(), x.copy()
                    plus.reshape(-1)[j] += eps
                    minus.reshape(-1)[j] -= eps
                    f_plus = sess.run(objective, {**feed, phs[i]: plus})
                    f_minus = sess.run(objective, {**feed, phs[i]: minus})
                    flat[j] = (f_plus - f_minus) / (2 * eps)
                np.testing.assert_allclose(got, want, rtol=rtol, atol=atol,
                                           err_msg=f"gradient of input {i}")
