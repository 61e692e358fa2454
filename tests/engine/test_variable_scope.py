"""tf.variable_scope and tf.get_variable: names, sharing under reuse, the errors that say how
to share, initializers and regularizers, and tf.layers sharing weights across scopes."""

import numpy as np
import pytest

import engine as tf


def _run(fetches, feed=None):
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        return sess.run(fetches, feed)


def test_scopes_name_variables_and_ops():
    with tf.variable_scope("model") as scope:
        with tf.variable_scope("layer1"):
            w = tf.get_variable("w", [2, 3])
            y = tf.add(w, 1.0, name="y")
        assert tf.get_variable_scope() is scope
    assert tf.get_variable_scope().name == ""
    assert (scope.name, scope.original_name_scope) == ("model", "model/")
    assert (w.op.name, w.shape.as_list(), w.dtype) == ("model/layer1/w", [2, 3], tf.float32)
    assert y.op.name == "model/layer1/y"
    assert w in tf.trainable_variables()


def test_reuse_true_returns_the_same_variable_and_is_inherited():
    with tf.variable_scope("tower"), tf.variable_scope("inner"):
        w = tf.get_variable("w", [3])
    with tf.variable_scope("tower", reuse=True) as scope:
        assert scope.reuse is True
        with tf.variable_scope("inner", reuse=False):  # False does not turn reuse off (TF)
            again = tf.get_variable("w", [3])
            op = tf.identity(again, name="read")
    assert again is w
    assert op.op.name == "tower_1/inner/read"
    assert len(tf.global_variables()) == 1


def test_reuse_variables_and_reentering_a_scope_object():
    with tf.variable_scope("net") as scope:
        w = tf.get_variable("w", [1])
        scope.reuse_variables()
        assert tf.get_variable("w", [1]) is w
    with tf.variable_scope(scope, reuse=True) as reentered:
        assert reentered.name == "net" and reentered.original_name_scope == "net/"
        assert tf.get_variable("w") is w
    with tf.variable_scope("other"), tf.variable_scope(scope, reuse=True):
        assert tf.get_variable("w") is w


def test_auto_reuse_makes_then_shares():
    def net(x):
        with tf.variable_scope("net", reuse=tf.AUTO_REUSE):
            return x * tf.get_variable("scale", [], initializer=tf.constant_initializer(3.0))

    a, b = net(tf.constant(1.0)), net(tf.constant(2.0))
    assert len(tf.global_variables()) == 1
    assert _run([a, b]) == [3.0, 6.0]


def test_errors_say_how_to_share():
    with tf.variable_scope("scope"):
        tf.get_variable("w", [2])
        with pytest.raises(ValueError, match=r"^Variable scope/w already exists, disallowed\. "
                           r"Did you mean to set reuse=True or reuse=tf\.AUTO_REUSE in "
                           r"VarScope\?"):
            tf.get_variable("w", [2])
    with tf.variable_scope("scope", reuse=True):
        with pytest.raises(ValueError, match=r"^Variable scope/v does not exist, or was not "
                           r"created with tf\.get_variable\(\)\. Did you mean to set "
                           r"reuse=tf\.AUTO_REUSE in VarScope\?"):
            tf.get_variable("v", [2])
        with pytest.raises(ValueError, match=r"share variable scope/w, but specified shape "
                           r"\(3,\) and found shape \(2,\)\."):
            tf.get_variable("w", [3])
        with pytest.raises(ValueError, match="specified dtype int32 and found dtype float32"):
            tf.get_variable("w", [2], dtype=tf.int32)
    with pytest.raises(ValueError, match="must be fully defined"):
        tf.get_variable("partial", [None, 2])
    with pytest.raises(ValueError, match="do not specify shape"):
        tf.get_variable("c", [2], initializer=np.zeros(2, np.float32))
    with pytest.raises(ValueError, match="reuse parameter must be True or False or None"):
        tf.variable_scope("s", reuse="yes")
    with pytest.raises(ValueError, match="without a name_or_scope"):
        tf.variable_scope(None, default_name="d", reuse=True)
    with pytest.raises(TypeError, match="name_or_scope is required"):
        tf.variable_scope(None)


def test_initializers_constants_and_defaults():
    value = np.arange(6, dtype=np.float32).reshape(2, 3)
    from_array = tf.get_variable("from_array", initializer=value)
    from_tensor = tf.get_variable("from_tensor", initializer=tf.constant([1, 2]))
    ones = tf.get_variable("ones", [2], initializer=tf.ones_initializer())
    ints = tf.get_variable("ints", [3], dtype=tf.int32)
    with tf.variable_scope("scoped", initializer=tf.constant_initializer(7.0)):
        scoped = tf.get_variable("s", [2])
        own = tf.get_variable("o", [2], initializer=tf.zeros_initializer())
    glorot = tf.get_variable("glorot", [30, 20])
    got = _run([from_array, from_tensor, ones, ints, scoped, own, glorot])
    np.testing.assert_array_equal(got[0], value)
    assert from_tensor.dtype == tf.int32 and got[1].tolist() == [1, 2]
    assert got[2].tolist() == [1.0, 1.0]
    assert got[3].tolist() == [0, 0, 0] and got[3].dtype == np.int32
    assert got[4].tolist() == [7.0, 7.0] and got[5].tolist() == [0.0, 0.0]
    limit = np.sqrt(6.0 / (30 + 20))  # glorot_uniform, TF's default for float variables
    assert np.abs(got[6]).max() <= limit and got[6].std() > limit / 3
    with pytest.raises(ValueError, match="Initializer type 'int32' and explicit dtype"):
        tf.get_variable("mismatch", initializer=tf.constant([1]), dtype=tf.float32)


def test_default_name_scopes_are_unique_and_restart_inside_a_reentered_scope():
    names = []
    for _ in range(2):
        with tf.variable_scope("outer", reuse=tf.AUTO_REUSE):
            for _ in range(2):
                with tf.variable_scope(None, default_name="block"):
                    names.append(tf.get_variable("w", [1]).op.name)
    assert names == ["outer/block/w", "outer/block_1/w"] * 2
    assert len(tf.global_variables()) == 2


def test_regularizer_argument_and_scope_default_fill_the_collection():
    w = tf.get_variable("w", initializer=np.array([1.0, -2.0], np.float32),
                        regularizer=tf.contrib.layers.l2_regularizer(0.5))
    with tf.variable_scope("reg", regularizer=tf.contrib.layers.l1_regularizer(0.1)):
        tf.get_variable("v", initializer=np.array([3.0, -4.0], np.float32))
        tf.get_variable("free", [2], trainable=False, initializer=tf.ones_initializer())
    losses = tf.get_collection(tf.GraphKeys.REGULARIZATION_LOSSES)
    assert len(losses) == 3
    assert losses[0].op.name.startswith("w/Regularizer/")
    values = _run(losses)
    np.testing.assert_allclose(values, [0.5 * (1 + 4) / 2, 0.1 * 7, 0.1 * 2], rtol=1e-6)
    assert _run(tf.losses.get_regularization_loss()) == pytest.approx(sum(values))
    assert w not in tf.get_collection(tf.GraphKeys.REGULARIZATION_LOSSES)


def test_custom_getter_sees_every_call():
    seen = []

    def getter(next_getter, name, *args, **kwargs):
        seen.append(name)
        kwargs["trainable"] = False
        return next_getter(name, *args, **kwargs)

    with tf.variable_scope("frozen", custom_getter=getter):
        w = tf.get_variable("w", [2])
    assert seen == ["frozen/w"] and not w.trainable


def test_dense_in_a_reused_tower_shares_weights():
    x = tf.placeholder(tf.float32, [None, 4])
    with tf.variable_scope("tower"):
        first = tf.layers.dense(tf.layers.dense(x, 3, activation=tf.nn.relu), 2)
    with tf.variable_scope("tower", reuse=True):
        second = tf.layers.dense(tf.layers.dense(x, 3, activation=tf.nn.relu), 2)
    names = [v.op.name for v in tf.trainable_variables()]
    assert names == ["tower/dense/kernel", "tower/dense/bias", "tower/dense_1/kernel",
                     "tower/dense_1/bias"]
    assert second.op.name.startswith("tower_1/")
    data = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    a, b = _run([first, second], {x: data})
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="tower/dense/kernel already exists"), \
            tf.variable_scope("tower"):
        tf.layers.dense(x, 3)


def test_training_one_tower_moves_the_shared_weights():
    x = tf.constant(np.ones((2, 3), np.float32))

    def tower():
        with tf.variable_scope("shared", reuse=tf.AUTO_REUSE):
            return tf.layers.dense(x, 1, name="fc", kernel_initializer=tf.ones_initializer())

    train_out, eval_out = tower(), tower()
    step = tf.train.GradientDescentOptimizer(0.1).minimize(tf.reduce_sum(train_out))
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        before = sess.run(eval_out)
        sess.run(step)
        after = sess.run(eval_out)
    # d(sum)/d(kernel) = 2 per entry, d/d(bias) = 2: each output drops by 0.1 * 2 * (3 + 1)
    np.testing.assert_allclose(before - after, 0.8, rtol=1e-6)


def test_layer_regularizers_and_reuse_keep_one_loss_per_weight():
    x = tf.constant(np.ones((1, 2), np.float32))
    reg = tf.contrib.layers.l2_regularizer(1.0)
    with tf.variable_scope("m"):
        tf.layers.dense(x, 2, kernel_initializer=tf.ones_initializer(), kernel_regularizer=reg)
    with tf.variable_scope("m", reuse=True):
        tf.layers.dense(x, 2, kernel_regularizer=reg)
    losses = tf.losses.get_regularization_losses()
    assert len(losses) == 1
    assert _run(tf.losses.get_regularization_loss()) == pytest.approx(4 * 1.0 / 2)


def test_layer_variables_follow_the_variable_scope_not_outer_name_scopes():
    x = tf.constant(np.ones((1, 2), np.float32))
    with tf.name_scope("outer"), tf.variable_scope("v"):
        inside = tf.layers.dense(x, 2)
    with tf.variable_scope("quiet", auxiliary_name_scope=False):
        quiet = tf.layers.dense(x, 2)
    names = [v.op.name for v in tf.global_variables()]
    assert names == ["v/dense/kernel", "v/dense/bias", "quiet/dense/kernel", "quiet/dense/bias"]
    assert inside.op.name.startswith("outer/v/dense/")
    assert quiet.op.name.startswith("dense/")


def test_custom_getters_written_against_tf_s_getter_signature():
    """TF calls a custom getter with every get_variable keyword, `getter` among them, and its
    getter takes (name, shape, dtype, ...) positionally: the mixed-precision getter from
    NVIDIA's guide stores float32 weights and casts them for float16 layers."""
    def float32_storage(getter, name, shape=None, dtype=None, initializer=None,
                        regularizer=None, trainable=True, *args, **kwargs):
        variable = getter(name, shape, dtype=tf.float32, initializer=initializer,
                          regularizer=regularizer, trainable=trainable, **kwargs)
        return tf.cast(variable, dtype) if dtype != tf.float32 else variable

    seen = {}

    def listing(getter, name, shape, dtype, initializer, regularizer, reuse, trainable,
                collections, caching_device, partitioner, validate_shape, use_resource,
                **kwargs):
        seen.update(kwargs, partitioner=partitioner, use_resource=use_resource)
        return getter(name=name, shape=shape, dtype=dtype, initializer=initializer,
                      regularizer=regularizer, reuse=reuse, trainable=trainable,
                      collections=collections, caching_device=caching_device,
                      partitioner=partitioner, validate_shape=validate_shape,
                      use_resource=use_resource, **kwargs)

    with tf.variable_scope("fp16", custom_getter=float32_storage), \
            tf.variable_scope("inner", custom_getter=listing):
        w = tf.get_variable("w", [2], dtype=tf.float16)
    assert w.dtype == tf.float16
    assert [(v.op.name, v.dtype) for v in tf.global_variables()] == [("fp16/inner/w",
                                                                       tf.float32)]
    assert seen == {"constraint": None, "partitioner": None, "use_resource": None}
    assert _run(w).dtype == np.float16
