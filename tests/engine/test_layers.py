"""tf.layers and tf.initializers: TF's variable names and shapes, the training flag, batch
normalization's update ops, and seeded initial values."""

import numpy as np
import pytest

import engine as tf


def _run(fetches, feed=None, init=True):
    with tf.Session() as sess:
        if init:
            sess.run(tf.global_variables_initializer())
        return sess.run(fetches, feed)


def test_dense_names_shapes_and_reuse():
    x = tf.placeholder(tf.float32, [None, 4])
    h = tf.layers.dense(x, 3, activation=tf.nn.relu)
    y = tf.layers.dense(h, 2, use_bias=False)
    assert [(v.op.name, v.shape.as_list()) for v in tf.global_variables()] == [
        ("dense/kernel", [4, 3]), ("dense/bias", [3]), ("dense_1/kernel", [3, 2])]
    assert y.shape.as_list() == [None, 2]
    shared = tf.layers.dense(h, 2, use_bias=False, name="dense_1", reuse=True)
    assert len(tf.global_variables()) == 3
    with pytest.raises(ValueError, match="dense_1/kernel already exists"):
        tf.layers.dense(h, 2, use_bias=False, name="dense_1")
    with pytest.raises(ValueError, match="does not exist"):
        tf.layers.dense(h, 2, name="fresh", reuse=True)
    a, b = _run([y, shared], {x: np.ones((5, 4))})
    np.testing.assert_array_equal(a, b)


def test_dense_computes_affine_map_and_regularizer():
    x = tf.constant(np.arange(6, dtype=np.float32).reshape(2, 3))
    y = tf.layers.dense(x, 2, kernel_initializer=tf.ones_initializer(),
                        bias_initializer=tf.constant_initializer([1.0, -1.0]),
                        kernel_regularizer=lambda w: 0.5 * tf.reduce_sum(w))
    reg = tf.get_collection(tf.GraphKeys.REGULARIZATION_LOSSES)
    out, penalty = _run([y, reg[0]])
    np.testing.assert_allclose(out, [[4, 2], [13, 11]])
    assert penalty == 3.0


def test_dense_on_rank3_inputs_and_undefined_last_dim():
    x = tf.placeholder(tf.float32, [None, 5, 4])
    y = tf.layers.dense(x, 3)
    assert y.shape.as_list() == [None, 5, 3]
    assert _run(y, {x: np.ones((2, 5, 4))}).shape == (2, 5, 3)
    with pytest.raises(ValueError, match="last dimension of the inputs to `Dense`"):
        tf.layers.dense(tf.placeholder(tf.float32, [None, None]), 3)


def test_dropout_training_flag_python_and_tensor():
    x = tf.ones([200, 50])
    assert tf.layers.dropout(x, 0.5, training=False).op.type == "Identity"
    training = tf.placeholder_with_default(False, [])
    y = tf.layers.dropout(x, rate=0.5, training=training)
    with tf.Session() as sess:
        np.testing.assert_array_equal(sess.run(y), np.ones((200, 50)))
        dropped = sess.run(y, {training: True})
    assert set(np.unique(dropped)) == {0.0, 2.0}
    assert 0.4 < (dropped == 0).mean() < 0.6
    with pytest.raises(ValueError, match="bool"):
        tf.layers.dropout(x, training=tf.constant(1.0))


def test_batch_normalization_update_ops_and_inference():
    x = tf.placeholder(tf.float32, [None, 3])
    training = tf.placeholder_with_default(False, [])
    y = tf.layers.batch_normalization(x, training=training, momentum=0.5)
    names = [v.op.name for v in tf.global_variables()]
    assert names == ["batch_normalization/gamma", "batch_normalization/beta",
                     "batch_normalization/moving_mean", "batch_normalization/moving_variance"]
    assert len(tf.trainable_variables()) == 2
    updates = tf.get_collection(tf.GraphKeys.UPDATE_OPS)
    assert len(updates) == 2
    data = np.array([[1, 2, 3], [3, 6, 9]], np.float32)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        np.testing.assert_allclose(sess.run(y, {x: data}), data / np.sqrt(1 + 1e-3), rtol=1e-5)
        sess.run(updates, {x: data})  # inference: the moving averages stay put
        mean_var = next(v for v in tf.global_variables() if "moving_mean" in v.op.name)
        np.testing.assert_array_equal(sess.run(mean_var), np.zeros(3))
        out, _ = sess.run([y, updates], {x: data, training: True})
        np.testing.assert_allclose(out, [[-1, -1, -1], [1, 1, 1]], atol=1e-3)
        np.testing.assert_allclose(sess.run(mean_var), 0.5 * data.mean(0), rtol=1e-6)


def test_batch_normalization_python_flags():
    x = tf.placeholder(tf.float32, [None, 2, 2, 3])
    tf.layers.batch_normalization(x, training=True)
    assert len(tf.get_collection(tf.GraphKeys.UPDATE_OPS)) == 2
    tf.layers.batch_normalization(x, training=False)
    assert len(tf.get_collection(tf.GraphKeys.UPDATE_OPS)) == 2
    assert [v.op.name for v in tf.global_variables()][4] == "batch_normalization_1/gamma"


def test_conv_pool_flatten_shapes():
    x = tf.placeholder(tf.float32, [None, 8, 8, 1])
    c = tf.layers.conv2d(x, 4, 3, activation=tf.nn.relu)
    same = tf.layers.conv2d(x, 2, (3, 3), strides=2, padding="same")
    p = tf.layers.max_pooling2d(c, 2, 2)
    a = tf.layers.average_pooling2d(c, pool_size=3, strides=1, padding="same")
    f = tf.layers.flatten(p)
    assert [t.shape.as_list() for t in (c, same, p, a, f)] == [
        [None, 6, 6, 4], [None, 4, 4, 2], [None, 3, 3, 4], [None, 6, 6, 4], [None, 36]]
    assert tf.global_variables()[0].op.name == "conv2d/kernel"
    assert tf.global_variables()[0].shape.as_list() == [3, 3, 1, 4]
    assert _run(f, {x: np.ones((2, 8, 8, 1))}).shape == (2, 36)
    with pytest.raises(ValueError, match="channels_last"):
        tf.layers.conv2d(x, 4, 3, data_format="channels_first")


def test_layer_class_form_shares_variables_between_calls():
    layer = tf.layers.Dense(2, name="fc")
    a, b = tf.placeholder(tf.float32, [None, 3]), tf.placeholder(tf.float32, [None, 3])
    layer(a), layer.apply(b)
    assert [v.op.name for v in layer.weights] == ["fc/kernel", "fc/bias"]
    assert layer.count_params() == 8
    assert len(tf.global_variables()) == 2


def test_initializers_shapes_statistics_and_seeds():
    tf.set_random_seed(3)
    values = _run([
        tf.zeros_initializer()([2, 3]), tf.ones_initializer(tf.float64)([2]),
        tf.constant_initializer(7)([2, 2], tf.int32),
        tf.random_normal_initializer(1.0, 2.0)([20000]),
        tf.truncated_normal_initializer(stddev=1.0)([20000]),
        tf.random_uniform_initializer(-1, 1)([20000]),
        tf.glorot_uniform_initializer()([300, 200]),
        tf.glorot_normal_initializer()([300, 200]),
        tf.variance_scaling_initializer(2.0, "fan_in", "uniform")([3, 3, 16, 8]),
        tf.initializers.he_normal()([400, 100]),
    ], init=False)
    zeros, ones, sevens, normal, truncated, uniform, glorot_u, glorot_n, vs, he = values
    assert zeros.shape == (2, 3) and not zeros.any()
    assert ones.dtype == np.float64 and sevens.dtype == np.int32 and (sevens == 7).all()
    assert abs(normal.mean() - 1) < 0.05 and abs(normal.std() - 2) < 0.05
    assert np.abs(truncated).max() <= 2
    assert uniform.min() >= -1 and uniform.max() < 1
    limit = np.sqrt(6 / 500)
    assert np.abs(glorot_u).max() <= limit and np.abs(glorot_u).max() > 0.95 * limit
    assert abs(glorot_n.std() - np.sqrt(2 / 500)) < 0.005
    assert np.abs(vs).max() <= np.sqrt(6 / (3 * 3 * 16))
    assert abs(he.std() - np.sqrt(2 / 400)) < 0.005
    again = tf.random_normal_initializer(seed=5)([4])
    first, second = _run(again, init=False), _run(again, init=False)
    np.testing.assert_array_equal(first, second)


def test_initializer_errors_and_lookup():
    with pytest.raises(ValueError, match="fully defined"):
        tf.zeros_initializer()([None, 3])
    with pytest.raises(ValueError, match="mode"):
        tf.variance_scaling_initializer(mode="fan_sideways")
    with pytest.raises(ValueError, match="glorot_uniform"):
        tf.initializers.get("glorot_unifrom")
    assert isinstance(tf.initializers.get("he_uniform"), tf.initializers.VarianceScaling)
    op = tf.initializers.global_variables()
    assert op.type == "NoOp"
