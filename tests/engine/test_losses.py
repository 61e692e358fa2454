"""tf.losses built on compute_weighted_loss: values against numpy, weights and reductions,
collection, gradients and argument errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import engine as tf
from tests.engine.gradcheck import check_gradients

RNG = np.random.default_rng(30)


def run(t: Any) -> Any:
    with tf.Session() as sess:
        return sess.run(t)


def np_huber(y: np.ndarray, p: np.ndarray, delta: float = 1.0) -> np.ndarray:
    e = np.abs(p - y)
    return np.where(e <= delta, 0.5 * e ** 2, delta * (e - 0.5 * delta))


# name -> (loss(labels, predictions, **kw), numpy per-element loss, labels, predictions)
LABELS, PREDICTIONS = RNG.standard_normal((4, 3)), RNG.standard_normal((4, 3)) * 2
BINARY, PROBS = RNG.integers(0, 2, (4, 3)).astype(np.float64), RNG.uniform(0.05, 0.95, (4, 3))
UNIT_Y = LABELS / np.linalg.norm(LABELS, axis=1, keepdims=True)
UNIT_P = PREDICTIONS / np.linalg.norm(PREDICTIONS, axis=1, keepdims=True)
LOSSES: dict[str, tuple[Callable[..., tf.Tensor], Callable[..., np.ndarray], np.ndarray,
                        np.ndarray]] = {
    "absolute_difference": (tf.losses.absolute_difference, lambda y, p: np.abs(p - y), LABELS,
                            PREDICTIONS),
    "huber_loss": (tf.losses.huber_loss, np_huber, LABELS, PREDICTIONS),
    "huber_loss_delta": (lambda y, p, **kw: tf.losses.huber_loss(y, p, delta=2.0, **kw),
                         lambda y, p: np_huber(y, p, 2.0), LABELS, PREDICTIONS),
    "log_loss": (tf.losses.log_loss,
                 lambda y, p: -y * np.log(p + 1e-7) - (1 - y) * np.log(1 - p + 1e-7), BINARY,
                 PROBS),
    "hinge_loss": (tf.losses.hinge_loss,
                   lambda y, x: np.maximum(0, 1 - (2 * y - 1) * x), BINARY, PREDICTIONS),
    "cosine_distance": (lambda y, p, **kw: tf.losses.cosine_distance(y, p, axis=1, **kw),
                        lambda y, p: 1 - (y * p).sum(1, keepdims=True), UNIT_Y, UNIT_P),
    "mean_squared_error": (tf.losses.mean_squared_error, lambda y, p: (p - y) ** 2, LABELS,
                           PREDICTIONS),
}
REDUCE = {
    tf.losses.Reduction.SUM: lambda l, w: (l * w).sum(),
    tf.losses.Reduction.MEAN: lambda l, w: (l * w).sum() / np.broadcast_to(w, l.shape).sum(),
    tf.losses.Reduction.SUM_OVER_BATCH_SIZE: lambda l, w: (l * w).sum() / l.size,
    tf.losses.Reduction.SUM_BY_NONZERO_WEIGHTS:
        lambda l, w: (l * w).sum() / np.count_nonzero(np.broadcast_to(w, l.shape)),
    tf.losses.Reduction.NONE: lambda l, w: l * w,
}


@pytest.mark.parametrize("name", LOSSES)
def test_default_is_the_mean_and_the_loss_is_collected(name: str) -> None:
    fn, ref, labels, predictions = LOSSES[name]
    loss = fn(labels, predictions)
    assert loss.shape == () and loss.dtype == tf.float64
    np.testing.assert_allclose(run(loss), ref(labels, predictions).mean(), rtol=1e-12)
    assert tf.get_collection(tf.GraphKeys.LOSSES) == [loss]
    assert loss.name.endswith("/value:0")


@pytest.mark.parametrize("reduction", REDUCE)
@pytest.mark.parametrize("name", LOSSES)
def test_weights_and_reductions(name: str, reduction: str) -> None:
    fn, ref, labels, predictions = LOSSES[name]
    weights = np.array([[0.5], [0.0], [2.0], [1.0]])
    loss = fn(labels, predictions, weights=weights, reduction=reduction, loss_collection=None)
    np.testing.assert_allclose(run(loss), REDUCE[reduction](ref(labels, predictions), weights),
                               rtol=1e-12)
    assert tf.get_collection(tf.GraphKeys.LOSSES) == []


@pytest.mark.parametrize("name", LOSSES)
def test_gradients(name: str) -> None:
    fn, _, labels, predictions = LOSSES[name]
    weights = np.array([[0.5], [1.0], [2.0], [1.0]])
    # away from the kinks of |e|, huber's delta and the hinge
    check_gradients(lambda p: fn(labels, p, weights=weights), [predictions])
    check_gradients(lambda y, p: fn(y, p, reduction=tf.losses.Reduction.MEAN),
                    [labels, predictions])


def test_float32_inputs_keep_their_dtype() -> None:
    loss = tf.losses.huber_loss(np.zeros((2, 2)), tf.constant(np.ones((2, 2), np.float32)))
    assert loss.dtype == tf.float32
    np.testing.assert_allclose(run(loss), 0.5)


@pytest.mark.parametrize(("build", "error", "message"), [
    (lambda: tf.losses.absolute_difference(np.zeros(3), np.zeros(4)), ValueError,
     "predictions and labels must have the same shape"),
    (lambda: tf.losses.hinge_loss(np.zeros(3), np.zeros(4)), ValueError,
     "logits and labels must have the same shape"),
    (lambda: tf.losses.huber_loss(None, np.zeros(3)), ValueError, "labels must not be None"),
    (lambda: tf.losses.log_loss(np.zeros(3), None), ValueError, "predictions must not be None"),
    (lambda: tf.losses.huber_loss(np.zeros(3), np.zeros(3), delta=[1.0]), TypeError,
     "'delta' must be a scalar number"),
    (lambda: tf.losses.log_loss(np.zeros(3), np.zeros(3), reduction="mean"), ValueError,
     "Invalid Reduction Key mean"),
    (lambda: tf.losses.cosine_distance(np.zeros((2, 3)), np.zeros((2, 3))), ValueError,
     "You must specify 'axis'"),
    (lambda: tf.losses.cosine_distance(np.zeros((2, 3)), np.zeros((2, 3)), axis=1, dim=1),
     ValueError, "Cannot specify both 'axis' and its deprecated alias 'dim'"),
    (lambda: tf.losses.cosine_distance(np.zeros((2, 3)), np.zeros((2, 3)), axis=2),
     ValueError, "Invalid reduction dimension 2"),
    (lambda: tf.losses.absolute_difference(np.zeros((2, 3)), np.zeros((2, 3)),
                                           weights=np.ones(2)), ValueError,
     "Dimensions must be equal"),
])
def test_argument_errors(build: Callable[[], Any], error: type[Exception], message: str) -> None:
    with pytest.raises(error) as info:
        build()
    assert message in str(info.value)


def test_cosine_distance_dim_alias() -> None:
    loss = tf.losses.cosine_distance(UNIT_Y, UNIT_P, dim=1)
    np.testing.assert_allclose(run(loss), (1 - (UNIT_Y * UNIT_P).sum(1)).mean())
