"""tf.nn activations, softmax, cross-entropies, bias_add, dropout, moments and tf.losses."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import engine as tf
from tests.engine.gradcheck import check_gradients

SHAPES = [(5,), (3, 4), (2, 3, 4)]
SELU_ALPHA, SELU_SCALE = 1.6732632423543772, 1.0507009873554805


def run(t: object, feed: dict | None = None) -> object:
    with tf.Session() as sess:
        return sess.run(t, feed)


def away_from_kinks(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Values in +-[0.5, 8] without 0 or 6, where relu and relu6 have kinks."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.5, 8.0, shape) * rng.choice([-1.0, 1.0], shape)
    return np.where(np.abs(np.abs(x) - 6) < 0.1, x / 2, x)


def np_log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def np_sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


ACTIVATIONS: dict[str, tuple[Callable, Callable]] = {
    "relu": (tf.nn.relu, lambda x: np.maximum(x, 0)),
    "relu6": (tf.nn.relu6, lambda x: np.clip(x, 0, 6)),
    "elu": (tf.nn.elu, lambda x: np.where(x > 0, x, np.exp(x) - 1)),
    "selu": (tf.nn.selu,
             lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * (np.exp(x) - 1))),
    "leaky_relu": (tf.nn.leaky_relu, lambda x: np.where(x > 0, x, 0.2 * x)),
    "sigmoid": (tf.sigmoid, np_sigmoid),
    "tanh": (tf.tanh, np.tanh),
    "softplus": (tf.nn.softplus, lambda x: np.log1p(np.exp(x))),
    "softsign": (tf.nn.softsign, lambda x: x / (1 + np.abs(x))),
}


@pytest.mark.parametrize("name", ACTIVATIONS)
@pytest.mark.parametrize("shape", SHAPES)
def test_activation_forward_and_gradient(name: str, shape: tuple[int, ...]) -> None:
    fn, ref = ACTIVATIONS[name]
    x = away_from_kinks(shape)
    for dtype in (np.float32, np.float64):
        out = run(fn(x.astype(dtype)))
        assert out.dtype == dtype
        np.testing.assert_allclose(out, ref(x), rtol=1e-5 if dtype == np.float32 else 1e-12)
    check_gradients(fn, [x])


def test_activations_are_in_both_namespaces() -> None:
    assert tf.nn.sigmoid is tf.sigmoid and tf.nn.tanh is tf.tanh


def test_sigmoid_and_softplus_do_not_overflow() -> None:
    x = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0], dtype=np.float32)
    np.testing.assert_allclose(run(tf.sigmoid(x)), [0, np_sigmoid(-50.0), 0.5, 1, 1], atol=1e-7)
    np.testing.assert_allclose(run(tf.nn.softplus(x)), [0, 0, np.log(2), 50, 1000], rtol=1e-6,
                               atol=1e-20)


def test_leaky_relu_alpha_and_float_only_activations() -> None:
    np.testing.assert_allclose(run(tf.nn.leaky_relu([-2.0, 3.0], alpha=0.1)), [-0.2, 3.0])
    with pytest.raises(TypeError, match="int32 not in list of allowed values"):
        tf.sigmoid(tf.constant([1, 2]))


# -- softmax ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("shape", "axis"), [((4,), -1), ((3, 5), -1), ((3, 5), 0),
                                             ((2, 3, 4), 1)])
def test_softmax_and_log_softmax(shape: tuple[int, ...], axis: int) -> None:
    x = np.random.default_rng(0).standard_normal(shape) * 3
    want = np_log_softmax(x, axis)
    np.testing.assert_allclose(run(tf.nn.log_softmax(x, axis=axis)), want, rtol=1e-12)
    np.testing.assert_allclose(run(tf.nn.softmax(x, axis=axis)), np.exp(want), rtol=1e-12)
    check_gradients(lambda t: tf.nn.softmax(t, axis=axis), [x])
    check_gradients(lambda t: tf.nn.log_softmax(t, axis=axis), [x])


def test_softmax_is_numerically_stable() -> None:
    x = np.array([[1000.0, 1000.0, -1000.0]], dtype=np.float32)
    np.testing.assert_allclose(run(tf.nn.softmax(x)), [[0.5, 0.5, 0.0]])
    log2 = np.log(2)
    np.testing.assert_allclose(run(tf.nn.log_softmax(x)), [[-log2, -log2, -2000 - log2]])


def test_softmax_dim_alias_and_axis_errors() -> None:
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_allclose(run(tf.nn.softmax(x, dim=0)), run(tf.nn.softmax(x, axis=0)))
    with pytest.raises(ValueError, match=r"axis \(=2\) must be in range \[-2, 2\)"):
        tf.nn.softmax(x, axis=2)


# -- cross-entropies -------------------------------------------------------------------------------
def onehot_like(shape: tuple[int, ...], seed: int = 0, axis: int = -1) -> np.ndarray:
    """Soft labels: a distribution along `axis`."""
    logits = np.random.default_rng(seed).standard_normal(shape)
    return np.exp(np_log_softmax(logits, axis))


@pytest.mark.parametrize(("shape", "axis"), [((4, 5), -1), ((3, 4), 0), ((2, 3, 4), -1)])
def test_softmax_cross_entropy(shape: tuple[int, ...], axis: int) -> None:
    labels, logits = onehot_like(shape, 1, axis), np.random.default_rng(2).standard_normal(shape)
    want = -(labels * np_log_softmax(logits, axis)).sum(axis=axis)
    for fn in (tf.nn.softmax_cross_entropy_with_logits,
               tf.nn.softmax_cross_entropy_with_logits_v2):
        loss = fn(labels=labels, logits=logits, dim=axis)
        assert loss.shape.as_list() == list(want.shape)
        np.testing.assert_allclose(run(loss), want, rtol=1e-12)
    check_gradients(lambda z: tf.nn.softmax_cross_entropy_with_logits(
        labels=labels, logits=z, dim=axis), [logits])
    check_gradients(lambda y, z: tf.nn.softmax_cross_entropy_with_logits_v2(
        labels=y, logits=z, axis=axis), [labels, logits])


def test_softmax_cross_entropy_v1_does_not_backprop_into_labels() -> None:
    labels = tf.placeholder(tf.float32, [2, 3])
    logits = tf.placeholder(tf.float32, [2, 3])
    v1 = tf.nn.softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    v2 = tf.nn.softmax_cross_entropy_with_logits_v2(labels=labels, logits=logits)
    assert tf.gradients(v1, labels) == [None]
    assert tf.gradients(v2, labels)[0] is not None


def test_softmax_cross_entropy_is_stable_and_checks_arguments() -> None:
    logits = np.array([[1000.0, 0.0, -1000.0]], dtype=np.float32)
    loss = tf.nn.softmax_cross_entropy_with_logits_v2(labels=[[0.0, 1.0, 0.0]], logits=logits)
    np.testing.assert_allclose(run(loss), [1000.0])
    with pytest.raises(ValueError, match="named arguments"):
        tf.nn.softmax_cross_entropy_with_logits([[1.0]], [[1.0]])
    with pytest.raises(ValueError, match="Dimensions must be equal, but are 4 and 3"):
        tf.nn.softmax_cross_entropy_with_logits_v2(labels=np.zeros((2, 4)), logits=np.zeros((2, 3)))


@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 6)])
def test_sparse_softmax_cross_entropy(shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(3)
    logits = rng.standard_normal(shape)
    labels = rng.integers(0, shape[-1], shape[:-1])
    picked = np.take_along_axis(np_log_softmax(logits), labels[..., None], -1)[..., 0]
    for dtype in (tf.int32, tf.int64):
        loss = tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=tf.constant(labels, dtype=dtype), logits=logits)
        np.testing.assert_allclose(run(loss), -picked, rtol=1e-12)
    check_gradients(lambda z: tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.constant(labels), logits=z), [logits])


def test_sparse_softmax_cross_entropy_errors() -> None:
    labels = tf.placeholder(tf.int32, [3])
    loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=np.zeros((3, 4)))
    with pytest.raises(tf.errors.InvalidArgumentError, match="label value of 4 which is outside"):
        run(loss, {labels: [0, 4, 1]})
    with pytest.raises(ValueError, match="Shape mismatch"):
        tf.nn.sparse_softmax_cross_entropy_with_logits(labels=[0, 1], logits=np.zeros((3, 4)))
    with pytest.raises(ValueError, match="Rank mismatch"):
        tf.nn.sparse_softmax_cross_entropy_with_logits(labels=[[0]], logits=np.zeros((1, 4)))
    with pytest.raises(TypeError, match="labels"):
        tf.nn.sparse_softmax_cross_entropy_with_logits(labels=[0.0], logits=np.zeros((1, 4)))


@pytest.mark.parametrize("shape", SHAPES)
def test_sigmoid_cross_entropy(shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(4)
    labels, logits = rng.uniform(0, 1, shape), rng.standard_normal(shape) * 3
    want = -(labels * np.log(np_sigmoid(logits)) + (1 - labels) * np.log(1 - np_sigmoid(logits)))
    loss = tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)
    np.testing.assert_allclose(run(loss), want, rtol=1e-10)
    check_gradients(lambda y, z: tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=z),
                    [labels, logits])


def test_sigmoid_cross_entropy_is_stable_and_checks_shapes() -> None:
    logits = np.array([-1000.0, 1000.0], dtype=np.float32)
    loss = tf.nn.sigmoid_cross_entropy_with_logits(labels=[1.0, 0.0], logits=logits)
    np.testing.assert_allclose(run(loss), [1000.0, 1000.0])
    with pytest.raises(ValueError, match="must have the same shape"):
        tf.nn.sigmoid_cross_entropy_with_logits(labels=np.zeros(3), logits=np.zeros(2))


# -- bias_add, l2_loss -----------------------------------------------------------------------------
@pytest.mark.parametrize(("shape", "data_format"), [((4, 3), None), ((2, 3, 4, 5), "NHWC"),
                                                    ((2, 5, 3, 4), "NCHW")])
def test_bias_add(shape: tuple[int, ...], data_format: str | None) -> None:
    rng = np.random.default_rng(5)
    x, b = rng.standard_normal(shape), rng.standard_normal(shape[1 if data_format == "NCHW"
                                                                 else -1])
    want = x + (b[:, None, None] if data_format == "NCHW" else b)
    np.testing.assert_allclose(run(tf.nn.bias_add(x, b, data_format=data_format)), want)
    check_gradients(lambda t, c: tf.nn.bias_add(t, c, data_format=data_format), [x, b])


def test_bias_add_shape_errors() -> None:
    with pytest.raises(ValueError, match="Dimensions must be equal, but are 3 and 4 for 'BiasAdd'"):
        tf.nn.bias_add(np.zeros((2, 3)), np.zeros(4))
    with pytest.raises(ValueError, match="must be rank 1"):
        tf.nn.bias_add(np.zeros((2, 3)), np.zeros((1, 3)))


@pytest.mark.parametrize("shape", SHAPES)
def test_l2_loss(shape: tuple[int, ...]) -> None:
    x = np.random.default_rng(6).standard_normal(shape)
    loss = tf.nn.l2_loss(x)
    assert loss.shape.as_list() == []
    np.testing.assert_allclose(run(loss), (x**2).sum() / 2)
    check_gradients(tf.nn.l2_loss, [x])


# -- dropout ---------------------------------------------------------------------------------------
def test_dropout_with_keep_prob_one_is_the_identity() -> None:
    keep_prob = tf.placeholder(tf.float32)
    x = np.random.default_rng(7).standard_normal((50, 30)).astype(np.float32)
    np.testing.assert_array_equal(run(tf.nn.dropout(x, keep_prob), {keep_prob: 1.0}), x)


def test_dropout_scales_kept_units_and_preserves_the_mean() -> None:
    tf.set_random_seed(0)
    y = run(tf.nn.dropout(np.ones((200, 500), np.float32), keep_prob=0.3))
    kept = y != 0
    np.testing.assert_allclose(y[kept], 1 / np.float32(0.3))
    assert abs(kept.mean() - 0.3) < 0.01
    assert abs(y.mean() - 1.0) < 0.03
    y = run(tf.nn.dropout(np.ones((200, 500)), rate=0.75))
    assert abs((y != 0).mean() - 0.25) < 0.01


def test_dropout_gradient_uses_the_same_mask() -> None:
    x = tf.constant(np.random.default_rng(8).uniform(1, 2, (20, 30)))
    y = tf.nn.dropout(x, keep_prob=0.5)
    out, grad, xv = run([y, tf.gradients(y, x)[0], x])
    np.testing.assert_allclose(grad, out / xv)


def test_dropout_is_seeded_per_session_and_varies_per_run() -> None:
    tf.set_random_seed(3)
    y = tf.nn.dropout(np.ones((10, 10)), keep_prob=0.5, seed=1)
    with tf.Session() as sess:
        first, second = sess.run(y), sess.run(y)
    with tf.Session() as sess:
        again = sess.run(y)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, second)


def test_dropout_noise_shape_broadcasts_the_mask() -> None:
    y = run(tf.nn.dropout(np.ones((40, 6)), keep_prob=0.5, noise_shape=[40, 1]))
    assert all(len(set(row)) == 1 for row in y)


def test_dropout_argument_errors() -> None:
    x = np.ones(3)
    with pytest.raises(ValueError, match=r"range \(0, 1\]"):
        tf.nn.dropout(x, keep_prob=0.0)
    with pytest.raises(ValueError, match="exactly one"):
        tf.nn.dropout(x)
    with pytest.raises(ValueError, match="not broadcastable"):
        tf.nn.dropout(x, 0.5, noise_shape=[2])


# -- moments, in_top_k -----------------------------------------------------------------------------
@pytest.mark.parametrize(("shape", "axes"), [((6,), [0]), ((4, 5), [0]), ((2, 3, 4, 5), [0, 1, 2]),
                                             ((3, 4, 5), [-1])])
@pytest.mark.parametrize("keep_dims", [False, True])
def test_moments(shape: tuple[int, ...], axes: list[int], keep_dims: bool) -> None:
    x = np.random.default_rng(9).standard_normal(shape)
    mean, variance = tf.nn.moments(x, axes, keep_dims=keep_dims)
    got_mean, got_var = run([mean, variance])
    np.testing.assert_allclose(got_mean, x.mean(axis=tuple(axes), keepdims=keep_dims))
    np.testing.assert_allclose(got_var, x.var(axis=tuple(axes), keepdims=keep_dims))
    assert mean.shape.as_list() == list(got_mean.shape)
    check_gradients(lambda t: tf.nn.moments(t, axes, keep_dims=keep_dims)[0], [x])
    check_gradients(lambda t: tf.nn.moments(t, axes, keep_dims=keep_dims)[1], [x])


def test_in_top_k() -> None:
    predictions = np.array([[0.1, 0.5, 0.4], [0.3, 0.3, 0.4], [0.9, 0.0, np.nan],
                            [0.2, 0.7, 0.1]], dtype=np.float32)
    targets = np.array([2, 0, 0, 3])  # a tie at the boundary counts in; NaN or out of range don't
    np.testing.assert_array_equal(run(tf.nn.in_top_k(predictions, targets, 1)),
                                  [False, False, False, False])
    np.testing.assert_array_equal(run(tf.nn.in_top_k(predictions, targets, 2)),
                                  [True, True, False, False])


# -- fused_batch_norm ------------------------------------------------------------------------------
@pytest.mark.parametrize("data_format", ["NHWC", "NCHW"])
def test_fused_batch_norm_training(data_format: str) -> None:
    rng = np.random.default_rng(14)
    nhwc = data_format == "NHWC"
    x = rng.standard_normal((3, 4, 2, 5) if nhwc else (3, 5, 4, 2))
    scale, offset = rng.uniform(0.5, 2, 5), rng.standard_normal(5)
    axes, channel = ((0, 1, 2), (1, 1, 1, 5)) if nhwc else ((0, 2, 3), (1, 5, 1, 1))
    y, mean, variance = tf.nn.fused_batch_norm(x, scale, offset, epsilon=0.01,
                                               data_format=data_format)
    got_y, got_mean, got_var = run([y, mean, variance])
    x_hat = (x - x.mean(axes, keepdims=True)) / np.sqrt(x.var(axes, keepdims=True) + 0.01)
    np.testing.assert_allclose(got_y, x_hat * scale.reshape(channel) + offset.reshape(channel))
    np.testing.assert_allclose(got_mean, x.mean(axes))
    np.testing.assert_allclose(got_var, x.var(axes, ddof=1))
    check_gradients(lambda t, s, o: tf.nn.fused_batch_norm(t, s, o, data_format=data_format)[0],
                    [x, scale, offset])


def test_fused_batch_norm_inference() -> None:
    rng = np.random.default_rng(15)
    x, scale, offset = rng.standard_normal((2, 3, 3, 4)), rng.uniform(0.5, 2, 4), np.ones(4)
    mean, variance = rng.standard_normal(4), rng.uniform(0.5, 2, 4)
    y = tf.nn.fused_batch_norm(x, scale, offset, mean, variance, is_training=False)[0]
    np.testing.assert_allclose(run(y), (x - mean) / np.sqrt(variance + 0.001) * scale + offset)
    check_gradients(lambda t, s, o: tf.nn.fused_batch_norm(
        t, s, o, tf.constant(mean), tf.constant(variance), is_training=False)[0],
        [x, scale, offset])
    with pytest.raises(ValueError, match="must be None when is_training"):
        tf.nn.fused_batch_norm(x, scale, offset, mean, variance)
    with pytest.raises(ValueError, match="Per-channel inputs must have shape"):
        tf.nn.fused_batch_norm(x, np.ones(3), offset)


# -- tf.losses -------------------------------------------------------------------------------------
REDUCTIONS = {
    tf.losses.Reduction.SUM: lambda l, w: (l * w).sum(),
    tf.losses.Reduction.MEAN: lambda l, w: (l * w).sum() / np.broadcast_to(w, l.shape).sum(),
    tf.losses.Reduction.SUM_OVER_BATCH_SIZE: lambda l, w: (l * w).sum() / l.size,
    tf.losses.Reduction.SUM_BY_NONZERO_WEIGHTS:
        lambda l, w: (l * w).sum() / np.count_nonzero(np.broadcast_to(w, l.shape)),
}


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_compute_weighted_loss_reductions(reduction: str) -> None:
    rng = np.random.default_rng(10)
    losses, weights = rng.uniform(0, 2, (3, 4)), np.array([[0.5], [0.0], [2.0]])
    loss = tf.losses.compute_weighted_loss(losses, weights, reduction=reduction)
    np.testing.assert_allclose(run(loss), REDUCTIONS[reduction](losses, weights))
    check_gradients(lambda l, w: tf.losses.compute_weighted_loss(l, w, reduction=reduction),
                    [losses, weights + 0.25])


def test_compute_weighted_loss_none_zero_weights_and_errors() -> None:
    losses = np.arange(6.0).reshape(2, 3)
    none = tf.losses.compute_weighted_loss(losses, [[1.0], [2.0]],
                                           reduction=tf.losses.Reduction.NONE)
    np.testing.assert_allclose(run(none), losses * [[1.0], [2.0]])
    assert run(tf.losses.compute_weighted_loss(losses, 0.0)) == 0.0
    with pytest.raises(ValueError, match="Invalid Reduction Key"):
        tf.losses.compute_weighted_loss(losses, reduction="average")
    with pytest.raises(ValueError, match="Dimensions must be equal"):
        tf.losses.compute_weighted_loss(losses, np.ones(2))


def test_mean_squared_error_is_collected_and_differentiable() -> None:
    rng = np.random.default_rng(11)
    labels, predictions = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    loss = tf.losses.mean_squared_error(labels, predictions)
    np.testing.assert_allclose(run(loss), ((predictions - labels) ** 2).mean())
    assert tf.get_collection(tf.GraphKeys.LOSSES) == [loss]
    assert loss.name == "mean_squared_error/value:0"
    weights = np.array([[1.0], [0.0], [1.0], [2.0], [0.0]])
    weighted = tf.losses.mean_squared_error(labels, predictions, weights=weights)
    want = (weights * (predictions - labels) ** 2).sum() / 9
    np.testing.assert_allclose(run(weighted), want)
    np.testing.assert_allclose(run(tf.losses.get_total_loss()), run(loss) + want)
    check_gradients(lambda y, p: tf.losses.mean_squared_error(y, p), [labels, predictions])
    with pytest.raises(ValueError, match="must have the same shape"):
        tf.losses.mean_squared_error(np.zeros(3), np.zeros(4))


def test_softmax_cross_entropy_losses() -> None:
    rng = np.random.default_rng(12)
    logits, classes = rng.standard_normal((6, 4)), rng.integers(0, 4, 6)
    onehot = np.eye(4)[classes]
    per_example = -np_log_softmax(logits)[np.arange(6), classes]
    dense = tf.losses.softmax_cross_entropy(onehot, logits)
    sparse = tf.losses.sparse_softmax_cross_entropy(classes, logits)
    np.testing.assert_allclose(run([dense, sparse]), [per_example.mean()] * 2)
    smoothed = tf.losses.softmax_cross_entropy(onehot, logits, label_smoothing=0.2)
    soft = onehot * 0.8 + 0.05
    np.testing.assert_allclose(run(smoothed), -(soft * np_log_softmax(logits)).sum(1).mean())
    weights = np.array([1.0, 0, 0, 2.0, 1.0, 0])
    weighted = tf.losses.sparse_softmax_cross_entropy(classes, logits, weights=weights)
    np.testing.assert_allclose(run(weighted), (weights * per_example).sum() / 3)
    check_gradients(lambda z: tf.losses.sparse_softmax_cross_entropy(classes, z), [logits])
    check_gradients(lambda z: tf.losses.softmax_cross_entropy(onehot, z), [logits])


def test_sigmoid_cross_entropy_loss() -> None:
    rng = np.random.default_rng(13)
    labels, logits = rng.integers(0, 2, (4, 3)).astype(np.float64), rng.standard_normal((4, 3))
    loss = tf.losses.sigmoid_cross_entropy(labels, logits, label_smoothing=0.1)
    z = labels * 0.9 + 0.05
    want = np.maximum(logits, 0) - logits * z + np.log1p(np.exp(-np.abs(logits)))
    np.testing.assert_allclose(run(loss), want.mean())
    check_gradients(lambda x: tf.losses.sigmoid_cross_entropy(labels, x), [logits])


# -- top_k ----------------------------------------------------------------------------------------
def np_top_k(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Largest first, equal values in index order (a stable sort of the negated rows)."""
    indices = np.argsort(-x, axis=-1, kind="stable")[..., :k]
    return np.take_along_axis(x, indices, -1), indices


@pytest.mark.parametrize(("shape", "k"), [((6,), 3), ((3, 5), 5), ((2, 3, 4), 1), ((2, 4), 0)])
def test_top_k_forward_and_gradient(shape: tuple[int, ...], k: int) -> None:
    x = np.random.default_rng(20).permutation(np.prod(shape)).reshape(shape) / 3.0
    values, indices = tf.nn.top_k(tf.placeholder(tf.float64, (None,) * (len(shape) - 1)
                                                 + (shape[-1],)), k)
    assert values.shape.as_list() == [None] * (len(shape) - 1) + [k]
    assert indices.dtype == tf.int32
    got_values, got_indices = run(tf.nn.top_k(x, k))
    want_values, want_indices = np_top_k(x, k)
    np.testing.assert_array_equal(got_values, want_values)
    np.testing.assert_array_equal(got_indices, want_indices)
    check_gradients(lambda t: tf.nn.top_k(t, k)[0], [x])


def test_top_k_ties_take_the_lower_index_first_for_every_dtype() -> None:
    rows = [[1, 3, 3, 0, 3], [7, 7, 7, 7, 7]]
    for dtype in (np.float32, np.int32, np.uint8, np.int64):
        values, indices = run(tf.nn.top_k(np.array(rows, dtype), 3, sorted=True))
        assert values.dtype == dtype
        assert indices.tolist() == [[1, 2, 4], [0, 1, 2]]
        assert values.tolist() == [[3, 3, 3], [7, 7, 7]]
    values, indices = run(tf.nn.top_k(np.array([np.iinfo(np.int32).min, 0], np.int32), 2))
    assert indices.tolist() == [1, 0]


def test_top_k_gradient_reaches_only_the_picked_entries() -> None:
    x = tf.placeholder(tf.float64, [None, 4])
    values, _ = tf.nn.top_k(x, 2)
    (g,) = tf.gradients(values * tf.constant([1.0, 10.0], tf.float64), [x])
    np.testing.assert_array_equal(run(g, {x: [[4.0, 1.0, 4.0, 2.0], [0.0, 1.0, 2.0, 3.0]]}),
                                  [[1, 0, 10, 0], [0, 0, 10, 1]])


def test_top_k_errors() -> None:
    with pytest.raises(ValueError, match=r"input must have at least k columns\. Had 3, needed 4"):
        tf.nn.top_k(tf.zeros([2, 3]), 4)
    with pytest.raises(ValueError, match="Need k >= 0, got -1"):
        tf.nn.top_k(tf.zeros([3]), -1)
    with pytest.raises(ValueError, match="at least rank 1"):
        tf.nn.top_k(tf.zeros([]), 1)
    with pytest.raises(TypeError, match="parameter 'input' has DataType bool"):
        tf.nn.top_k(tf.constant([True, False]), 1)
    with pytest.raises(TypeError, match="'k' must be an int"):
        tf.nn.top_k(tf.zeros([3]), 1.5)
    x = tf.placeholder(tf.float32, [None, None])
    with pytest.raises(tf.errors.InvalidArgumentError, match="Had 2, needed 3"):
        run(tf.nn.top_k(x, 3), {x: np.zeros((4, 2))})


# -- embedding_lookup -----------------------------------------------------------------------------
def shards_of(table: np.ndarray, n: int, strategy: str) -> list[np.ndarray]:
    """The table split as TF's partition strategies split it."""
    if strategy == "mod":
        return [table[i::n] for i in range(n)]
    return np.array_split(table, n)


@pytest.mark.parametrize("strategy", ["mod", "div"])
@pytest.mark.parametrize("n_shards", [1, 2, 3, 4])
def test_embedding_lookup_matches_gathering_from_the_whole_table(strategy: str,
                                                                 n_shards: int) -> None:
    table = np.random.default_rng(21).standard_normal((10, 2, 3))
    ids = np.array([[0, 9, 4], [3, 3, 7]])
    shards = shards_of(table, n_shards, strategy)
    params = shards if n_shards > 1 else table
    y = tf.nn.embedding_lookup(params, ids, partition_strategy=strategy)
    assert y.shape.as_list() == [2, 3, 2, 3]
    np.testing.assert_allclose(run(y), table[ids])
    check_gradients(lambda *p: tf.nn.embedding_lookup(list(p), ids, partition_strategy=strategy),
                    shards)


def test_embedding_lookup_gradient_accumulates_repeated_ids() -> None:
    table = tf.placeholder(tf.float64, [4, 2])
    rows = tf.nn.embedding_lookup(table, tf.constant([1, 3, 1, 1]))
    (g,) = tf.gradients(rows, [table])
    np.testing.assert_array_equal(run(g, {table: np.zeros((4, 2))}),
                                  [[0, 0], [3, 3], [0, 0], [1, 1]])


def test_embedding_lookup_unknown_shard_sizes_and_max_norm() -> None:
    table = np.random.default_rng(22).standard_normal((7, 3)) * 3
    parts = np.array_split(table, 3)
    shards = [tf.placeholder(tf.float64, [None, 3]) for _ in parts]
    ids = tf.placeholder(tf.int64, [None])
    y = tf.nn.embedding_lookup(shards, ids, partition_strategy="div")
    feed = {**dict(zip(shards, parts, strict=True)), ids: [6, 0, 2, 3]}
    np.testing.assert_allclose(run(y, feed), table[[6, 0, 2, 3]])
    clipped = tf.nn.embedding_lookup(table, [0, 1, 0], max_norm=1.5)
    norms = np.linalg.norm(table[[0, 1, 0]], axis=1, keepdims=True)
    np.testing.assert_allclose(run(clipped), table[[0, 1, 0]] * np.minimum(1, 1.5 / norms))
    check_gradients(lambda t: tf.nn.embedding_lookup(t, [0, 1, 0], max_norm=1.5), [table])


def test_embedding_lookup_errors() -> None:
    with pytest.raises(ValueError, match="Unrecognized partition strategy"):
        tf.nn.embedding_lookup(tf.zeros([3, 2]), [0], partition_strategy="range")
    with pytest.raises(ValueError, match="Need at least one param"):
        tf.nn.embedding_lookup([], [0])
    with pytest.raises(TypeError, match="ids must be an int32 or int64 tensor, got float32"):
        tf.nn.embedding_lookup(tf.zeros([3, 2]), [0.0])
    ids = tf.placeholder(tf.int32, [None])
    for params in (tf.zeros([3, 2]), [tf.zeros([2, 2]), tf.zeros([1, 2])]):
        with pytest.raises(tf.errors.InvalidArgumentError, match="not in"):
            run(tf.nn.embedding_lookup(params, ids), {ids: [0, 5]})


# -- composites: l2_normalize, batch_normalization, weighted and Poisson losses -------------------
@pytest.mark.parametrize(("shape", "axis"), [((5,), None), ((3, 4), 1), ((2, 3, 4), [0, 2])])
def test_l2_normalize(shape: tuple[int, ...], axis: object) -> None:
    x = np.random.default_rng(23).standard_normal(shape)
    keep = None if axis is None else tuple(np.atleast_1d(axis))
    want = x / np.sqrt((x * x).sum(axis=keep, keepdims=True))
    np.testing.assert_allclose(run(tf.nn.l2_normalize(x, axis)), want)
    np.testing.assert_allclose(run(tf.nn.l2_normalize(np.zeros(shape), axis)), 0)
    check_gradients(lambda t: tf.nn.l2_normalize(t, axis), [x])
    if axis == 1:
        np.testing.assert_allclose(run(tf.nn.l2_normalize(x, dim=1)), want)


@pytest.mark.parametrize("with_affine", [False, True])
def test_batch_normalization(with_affine: bool) -> None:
    rng = np.random.default_rng(24)
    x, mean, variance = rng.standard_normal((4, 3)), rng.standard_normal(3), rng.uniform(1, 2, 3)
    offset, scale = (rng.standard_normal(3), rng.uniform(1, 2, 3)) if with_affine else (0, 1)
    want = (x - mean) / np.sqrt(variance + 1e-3) * scale + offset

    def build(t: tf.Tensor, m: tf.Tensor, v: tf.Tensor, *affine: tf.Tensor) -> tf.Tensor:
        o, s = affine if affine else (None, None)
        return tf.nn.batch_normalization(t, m, v, o, s, 1e-3)

    inputs = [x, mean, variance] + ([offset, scale] if with_affine else [])
    np.testing.assert_allclose(run(build(*map(tf.constant, inputs))), want)
    check_gradients(build, inputs)


def test_weighted_cross_entropy_with_logits() -> None:
    rng = np.random.default_rng(25)
    targets, logits = rng.uniform(0, 1, (3, 4)), rng.standard_normal((3, 4)) * 3
    sigmoid = 1 / (1 + np.exp(-logits))
    want = -(2.5 * targets * np.log(sigmoid) + (1 - targets) * np.log(1 - sigmoid))
    y = tf.nn.weighted_cross_entropy_with_logits(targets, logits, 2.5)
    np.testing.assert_allclose(run(y), want)
    check_gradients(lambda z, x: tf.nn.weighted_cross_entropy_with_logits(z, x, 2.5),
                    [targets, logits])
    with pytest.raises(ValueError, match=r"logits and targets must have the same shape \(\[3\]"):
        tf.nn.weighted_cross_entropy_with_logits(np.zeros(4), np.zeros(3), 1.0)


def test_log_poisson_loss() -> None:
    rng = np.random.default_rng(26)
    targets, log_input = np.array([[0.0, 0.5, 1.0, 2.0], [3.0, 1.5, 4.0, 0.2]]), \
        rng.standard_normal((2, 4))
    base = np.exp(log_input) - log_input * targets
    np.testing.assert_allclose(run(tf.nn.log_poisson_loss(targets, log_input)), base)
    safe = np.where(targets > 1, targets, 2.0)
    stirling = np.where(targets > 1, safe * np.log(safe) - safe
                        + 0.5 * np.log(2 * np.pi * safe), 0)
    full = tf.nn.log_poisson_loss(targets, log_input, compute_full_loss=True)
    np.testing.assert_allclose(run(full), base + stirling)
    check_gradients(lambda x: tf.nn.log_poisson_loss(targets, x, compute_full_loss=True),
                    [log_input])
    with pytest.raises(ValueError, match="log_input and targets must have the same shape"):
        tf.nn.log_poisson_loss(np.zeros(2), np.zeros(3))


def test_new_ops_export_and_serve(tmp_path: Path) -> None:
    """top_k, cumulative ops, gather_nd, boolean_mask and the composites are servable."""
    rng = np.random.default_rng(27)
    vec = tf.placeholder(tf.float32, [None, 5], name="vec")
    ids = tf.placeholder(tf.int32, [None], name="ids")
    table = tf.constant(rng.random((6, 3), dtype=np.float32))
    outputs = {
        "gather_nd": tf.gather_nd(vec, tf.stack([ids, ids], 1)),
        "mask": tf.boolean_mask(vec, vec > 0.5),
        "cumsum": tf.cumsum(vec, 1, exclusive=True), "cumprod": tf.cumprod(vec, 1, reverse=True),
        "top_k": tf.nn.top_k(vec, 2)[0], "top_k_indices": tf.nn.top_k(vec, 3)[1],
        "tensordot": tf.tensordot(vec, tf.ones([5, 2]), 1),
        "embedding": tf.nn.embedding_lookup([table[:3], table[3:]], ids,
                                            partition_strategy="div", max_norm=0.5),
        "l2_normalize": tf.nn.l2_normalize(vec, 1),
        "huber": tf.losses.huber_loss(vec, vec * 3),
    }
    feed = {vec: rng.random((2, 5), dtype=np.float32), ids: np.array([1, 0], np.int32)}
    with tf.Session() as sess:
        expected = sess.run(outputs, feed)
        path = tf.saved_model.save(sess, tmp_path / "m", {"vec": vec, "ids": ids}, outputs)
    got = tf.saved_model.load(path).predict({"vec": feed[vec], "ids": feed[ids]})
    for name, value in expected.items():
        np.testing.assert_array_equal(got[name], value, err_msg=name)


# -- the new ops' kernels on a stand-in for CuPy ---------------------------------------------------
class DeviceArray(np.lib.mixins.NDArrayOperatorsMixin):
    """A stand-in for a CuPy array: math through `StrictXP` or its own methods only. Like CuPy
    it refuses implicit conversion to numpy and host arrays mixed into its math; beyond CuPy,
    numpy functions called on it fail too (the engine's rule: kernels use ctx.xp)."""

    __slots__ = ("a",)

    def __init__(self, a: np.ndarray) -> None:
        self.a = a

    def __array__(self, *args: object, **kwargs: object) -> np.ndarray:
        raise TypeError("Implicit conversion to a NumPy array is not allowed (a device array)")

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: object,
                        **kwargs: object) -> object:
        return _device_call(getattr(ufunc, method), inputs, kwargs)

    def __array_function__(self, func: Callable, types: object, args: object,
                           kwargs: object) -> object:
        raise TypeError(f"numpy.{func.__name__} called on a device array: use ctx.xp")

    def get(self) -> np.ndarray:
        return self.a.copy()

    def __getattr__(self, name: str) -> object:
        if name.startswith("__"):  # __array_interface__ and kin would let numpy read it
            raise AttributeError(name)
        attr = getattr(self.a, name)
        if callable(attr):
            return lambda *args, **kwargs: _device_call(attr, args, kwargs)
        return _to_device(attr)

    def __getitem__(self, key: object) -> DeviceArray:
        return _to_device(self.a[_from_device(key)])

    def __setitem__(self, key: object, value: object) -> None:
        self.a[_from_device(key)] = _from_device(value)

    def __len__(self) -> int:
        return len(self.a)

    def __iter__(self) -> object:
        return (_to_device(row) for row in self.a)

    def __bool__(self) -> bool:
        return bool(self.a)

    def __int__(self) -> int:
        return int(self.a)

    def __float__(self) -> float:
        return float(self.a)


def _from_device(value: object) -> object:
    """Device arrays unwrapped, in lists and tuples too; a host array is an error."""
    if isinstance(value, DeviceArray):
        return value.a
    if type(value) is np.ndarray:
        raise TypeError(f"a host numpy array of shape {value.shape} mixed into device math")
    if isinstance(value, list | tuple):
        return type(value)(_from_device(v) for v in value)
    return value


def _to_device(value: object) -> object:
    if isinstance(value, np.ndarray | np.generic) and not isinstance(value, DeviceArray):
        return DeviceArray(np.asarray(value))  # CuPy reductions give 0-d arrays too
    if isinstance(value, tuple):
        return tuple(_to_device(v) for v in value)
    return value


def _device_call(fn: Callable, args: tuple, kwargs: dict) -> object:
    out = kwargs.get("out")
    result = fn(*_from_device(args), **{k: _from_device(v) for k, v in kwargs.items()})
    if out is not None:
        return out[0] if isinstance(out, tuple) and len(out) == 1 else out
    return _to_device(result)


class StrictXP:
    """numpy's namespace over `DeviceArray`s: what a kernel reaches through ctx.xp."""

    HOST_INPUTS = frozenset({"asarray", "array"})  # explicit host -> device copies

    def __init__(self, module: object = np) -> None:
        self._module = module

    def __getattr__(self, name: str) -> object:
        if name == "ndarray":
            return DeviceArray
        attr = getattr(self._module, name)
        if isinstance(attr, type(np)):
            return StrictXP(attr)
        if isinstance(attr, np.ufunc):
            return _StrictUfunc(attr)
        if isinstance(attr, type) or not callable(attr):
            return attr
        if name in self.HOST_INPUTS:
            return lambda a, *args, **kwargs: DeviceArray(np.array(
                a.a if isinstance(a, DeviceArray) else a, *args, **kwargs))
        return lambda *args, **kwargs: _device_call(attr, args, kwargs)


class _StrictUfunc:
    def __init__(self, ufunc: np.ufunc) -> None:
        self._ufunc = ufunc

    def __call__(self, *args: object, **kwargs: object) -> object:
        return _device_call(self._ufunc, args, kwargs)

    def __getattr__(self, name: str) -> object:
        attr = getattr(self._ufunc, name)
        if not callable(attr):
            return attr
        return lambda *args, **kwargs: _device_call(attr, args, kwargs)


@pytest.fixture
def strict_gpu(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """'/gpu:0' runs on StrictXP; other devices on numpy as usual. Gives the list of the
    devices that Sessions placed ops on."""
    from engine import backend as backend_module
    from engine import session as session_module

    fake = backend_module.Backend("gpu:0", StrictXP())
    plain = session_module.backend_for
    asked: list[str] = []

    def backend_for(device: str) -> backend_module.Backend:
        asked.append(device)
        return fake if device.startswith("/gpu:") else plain(device)

    monkeypatch.setattr(session_module, "backend_for", backend_for)
    return asked


def test_strict_device_arrays_refuse_numpy() -> None:
    xp, device = StrictXP(), DeviceArray(np.ones(3))
    for misuse in (lambda: xp.add(device, np.ones(3)), lambda: device * np.ones(3),
                   lambda: np.asarray(device), lambda: np.concatenate([device, device]),
                   lambda: xp.take(device, np.array([0]))):
        with pytest.raises(TypeError):
            misuse()
    assert isinstance(xp.add.reduce(device * 2.0), DeviceArray)


def _new_ops_graph(device: str, rng: np.random.Generator) -> tuple[dict, dict]:
    """The new ops, their gradients and logging ops placed on `device`; (fetches, feed)."""
    with tf.Graph().as_default() as graph, graph.device(device):
        x = tf.placeholder(tf.float64, [None, 4])
        ids = tf.placeholder(tf.int32, [None, 2])
        mask = tf.placeholder(tf.bool, [None])
        image = tf.placeholder(tf.float64, [None, 3, 3, 2])
        table = tf.placeholder(tf.float64, [None, 4])
        filters = tf.constant(rng.standard_normal((3, 3, 1, 2)))
        outputs = {
            "gather_nd": tf.gather_nd(x, ids),
            "boolean_mask": tf.boolean_mask(x, mask),
            "cumsum": tf.cumsum(x, 1, exclusive=True, reverse=True),
            "cumprod": tf.cumprod(x, 0, exclusive=True),
            "top_k": tf.nn.top_k(x, 2)[0],
            "tensordot": tf.tensordot(x, tf.transpose(table), 1),
            "embedding": tf.nn.embedding_lookup([table, table * 2.0], ids[:, 0], max_norm=2.0),
            "l2_normalize": tf.nn.l2_normalize(x, 1),
            "deconv": tf.nn.conv2d_transpose(image, filters, [tf.shape(image)[0], 6, 6, 1],
                                             [1, 2, 2, 1]),
        }
        printed = tf.Print(outputs["top_k"], [x, "and", ids], "device: ", summarize=2)
        loss = tf.add_n([tf.reduce_sum(t * t) for t in outputs.values()]) \
            + tf.reduce_sum(printed)
        clipped, norm = tf.clip_by_global_norm(tf.gradients(loss, [x, image, table]), 1.0)
        check = tf.Assert(tf.reduce_all(tf.is_finite(x)), [x])
        fetches = {**outputs, "grads": clipped, "norm": norm, "check": check}
    feed = {x: rng.standard_normal((3, 4)), ids: [[2, 1], [0, 3], [2, 1]],
            mask: [True, False, True], image: rng.standard_normal((2, 3, 3, 2)),
            table: rng.standard_normal((3, 4))}
    return fetches, feed


def test_new_ops_run_on_a_strict_device_backend(strict_gpu: list[str],
                                                capsys: pytest.CaptureFixture) -> None:
    """The kernels of the new ops and of their gradients do their math with ctx.xp only (a
    CuPy-like backend that refuses numpy), and give what they give on the CPU."""
    got, want = ({k: v for k, v in tf.Session(graph=fetches["norm"].graph).run(
        fetches, feed).items() if k != "check"}
        for fetches, feed in (_new_ops_graph(d, np.random.default_rng(30))
                              for d in ("/gpu:0", "/cpu:0")))
    for name, value in want.items():
        pairs = zip(got[name], value, strict=True) if name == "grads" else [(got[name], value)]
        for a, b in pairs:
            assert type(a) is type(b)  # fetched to the host
            np.testing.assert_allclose(a, b, rtol=1e-12, err_msg=name)
    assert "/gpu:0" in strict_gpu
    printed = capsys.readouterr().err.splitlines()
    assert len(printed) == 2 and printed[0] == printed[1] and printed[0].startswith("device: [[")


def test_new_ops_errors_on_a_strict_device_backend(strict_gpu: list[str]) -> None:
    """The kernels' run-time checks work on device arrays too (no numpy in the error path)."""
    with tf.device("/gpu:0"):
        x = tf.placeholder(tf.float32, [None, 3])
        indices = tf.placeholder(tf.int32, [None, 2])
        mask = tf.placeholder(tf.bool, [None])
        checks = [(tf.gather_nd(x, indices), r"indices\[1\] = \[0, 3\] does not index"),
                  (tf.boolean_mask(x, mask), "does not match"),
                  (tf.nn.top_k(x, 3)[0], None),
                  (tf.Assert(tf.reduce_all(x < 1.0), ["x:", x]), r"assertion failed: \[x:\]")]
    feed = {x: np.ones((2, 3)), indices: [[1, 2], [0, 3]], mask: [True]}
    with tf.Session() as sess:
        for fetch, message in checks:
            if message is None:
                assert sess.run(fetch, feed).shape == (2, 3)
                continue
            with pytest.raises(tf.errors.InvalidArgumentError, match=message):
                sess.run(fetch, feed)
    assert "/gpu:0" in strict_gpu
