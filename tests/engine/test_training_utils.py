"""Training helpers of TF 1.x scripts: learning-rate schedules (against their closed forms),
norm clipping (against numpy, with gradients), tf.contrib.layers regularizers, and the
ConfigProto / tf.logging plumbing."""

import logging
import math

import numpy as np
import pytest

import engine as tf
from tests.engine.gradcheck import check_gradients

STEPS = [0, 1, 5, 10, 15, 20, 25, 37, 100]


def _schedule_values(build):
    """The schedule built on an int64 step variable, at each of STEPS."""
    step = tf.Variable(0, dtype=tf.int64, trainable=False)
    lr = build(step)
    with tf.Session() as sess:
        values = []
        for s in STEPS:
            step.load(s, sess)
            values.append(sess.run(lr))
    return np.array(values)


@pytest.mark.parametrize(("build", "closed_form"), [
    (lambda g: tf.train.exponential_decay(0.1, g, 10, 0.5),
     lambda s: 0.1 * 0.5 ** (s / 10)),
    (lambda g: tf.train.exponential_decay(0.1, g, 10, 0.5, staircase=True),
     lambda s: 0.1 * 0.5 ** (s // 10)),
    (lambda g: tf.train.inverse_time_decay(0.1, g, 10, 0.5),
     lambda s: 0.1 / (1 + 0.5 * s / 10)),
    (lambda g: tf.train.inverse_time_decay(0.1, g, 10, 0.5, staircase=True),
     lambda s: 0.1 / (1 + 0.5 * (s // 10))),
    (lambda g: tf.train.natural_exp_decay(0.1, g, 10, 0.5),
     lambda s: 0.1 * math.exp(-0.5 * s / 10)),
    (lambda g: tf.train.natural_exp_decay(0.1, g, 10, 0.5, staircase=True),
     lambda s: 0.1 * math.exp(-0.5 * (s // 10))),
    (lambda g: tf.train.polynomial_decay(0.1, g, 20, 0.01, power=2.0),
     lambda s: (0.1 - 0.01) * (1 - min(s, 20) / 20) ** 2 + 0.01),
    (lambda g: tf.train.polynomial_decay(0.1, g, 20, 0.01, cycle=True),
     lambda s: (0.1 - 0.01) * (1 - s / (20 * max(1, math.ceil(s / 20)))) + 0.01),
    (lambda g: tf.train.cosine_decay(0.1, g, 20, alpha=0.1),
     lambda s: 0.1 * (0.9 * 0.5 * (1 + math.cos(math.pi * min(s, 20) / 20)) + 0.1)),
    (lambda g: tf.train.piecewise_constant(g, [10, 20], [1.0, 0.5, 0.1]),
     lambda s: 1.0 if s <= 10 else 0.5 if s <= 20 else 0.1),
], ids=["exponential", "exponential-staircase", "inverse-time", "inverse-time-staircase",
        "natural-exp", "natural-exp-staircase", "polynomial", "polynomial-cycle", "cosine",
        "piecewise"])
def test_schedules_match_closed_forms(build, closed_form):
    got = _schedule_values(build)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, [closed_form(s) for s in STEPS], rtol=1e-6)


def test_schedule_drives_an_optimizer_as_the_step_advances():
    w = tf.Variable(0.0)
    step = tf.train.get_or_create_global_step()
    lr = tf.train.exponential_decay(1.0, step, 1, 0.5, staircase=True)
    train = tf.train.GradientDescentOptimizer(lr).minimize(-w, global_step=step)  # dw = lr
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for _ in range(3):
            sess.run(train)
        assert sess.run(step) == 3
        assert sess.run(w) == pytest.approx(1.0 + 0.5 + 0.25)


def test_schedule_errors():
    with pytest.raises(ValueError, match="global_step is required for ExponentialDecay"):
        tf.train.exponential_decay(0.1, None, 10, 0.5)
    with pytest.raises(ValueError, match="length of boundaries should be 1 less"):
        tf.train.piecewise_constant(tf.constant(1), [1, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="same dtype"):
        tf.train.piecewise_constant(tf.constant(1), [1], [0.1, tf.constant(1, tf.int32)])


def test_piecewise_constant_promotes_int32_boundary_tensors():
    """TF casts int32 boundaries to an int64 step; they used to fail with a dtype TypeError."""
    got = _schedule_values(lambda g: tf.train.piecewise_constant(
        g, [tf.constant(10), tf.constant(20)], [1.0, 0.5, 0.1]))
    np.testing.assert_allclose(got, [1.0 if s <= 10 else 0.5 if s <= 20 else 0.1
                                     for s in STEPS])


def _np_clip_by_norm(t, clip, axes=None):
    norm = np.sqrt((t * t).sum(axis=axes, keepdims=True))
    return t * clip / np.maximum(norm, clip)


def test_clip_by_norm_matches_numpy_and_keeps_small_tensors():
    t = np.array([[3.0, 4.0], [0.3, 0.4]], np.float32)
    got = tf.Session().run([tf.clip_by_norm(t, 2.0), tf.clip_by_norm(t, 2.0, axes=[1]),
                            tf.clip_by_norm(t, 100.0), tf.clip_by_norm(np.zeros(3), 1.0)])
    np.testing.assert_allclose(got[0], _np_clip_by_norm(t, 2.0), rtol=1e-6)
    np.testing.assert_allclose(got[1], [[1.2, 1.6], [0.3, 0.4]], rtol=1e-6)
    np.testing.assert_array_equal(got[2], t)
    np.testing.assert_array_equal(got[3], np.zeros(3))
    with pytest.raises(ValueError, match="clip_norm must broadcast"):
        tf.clip_by_norm(tf.ones([2]), tf.ones([3, 1]))


@pytest.mark.parametrize("axes", [None, [1]])
def test_clip_by_norm_gradient(axes):
    rng = np.random.default_rng(1)
    check_gradients(lambda t: tf.clip_by_norm(t, 1.5, axes=axes), [rng.standard_normal((3, 4))])


def test_clip_by_norm_gradient_at_zero_is_finite():
    x = tf.zeros([3])
    grad = tf.gradients(tf.reduce_sum(tf.clip_by_norm(x, 1.0)), x)[0]
    np.testing.assert_array_equal(tf.Session().run(grad), np.ones(3))


def test_global_norm_and_clip_by_global_norm():
    a = np.array([3.0, 0.0], np.float32)
    b = np.array([[0.0], [4.0]], np.float32)
    clipped, norm = tf.clip_by_global_norm([a, None, b], 2.5)
    assert clipped[1] is None
    got_a, got_b, got_norm, direct = tf.Session().run(
        [clipped[0], clipped[2], norm, tf.global_norm([a, b])])
    assert got_norm == pytest.approx(5.0) and direct == pytest.approx(5.0)
    np.testing.assert_allclose(got_a, a / 2, rtol=1e-6)
    np.testing.assert_allclose(got_b, b / 2, rtol=1e-6)
    untouched, _ = tf.clip_by_global_norm([a], 10.0, use_norm=tf.constant(5.0))
    np.testing.assert_allclose(tf.Session().run(untouched[0]), a, rtol=1e-6)
    inf, _ = tf.clip_by_global_norm([a], 1.0, use_norm=tf.constant(np.inf))
    assert np.isnan(tf.Session().run(inf[0])).all()
    with pytest.raises(TypeError, match="t_list should be a sequence"):
        tf.clip_by_global_norm(tf.constant(a), 1.0)
    with pytest.raises(ValueError, match="at least one tensor"):
        tf.global_norm([None])


def test_clip_by_global_norm_gradient():
    rng = np.random.default_rng(2)
    values = [rng.standard_normal((2, 3)), rng.standard_normal(4)]
    for clip in (0.5, 100.0):  # clipping, and the norm already under clip_norm
        check_gradients(lambda a, b, c=clip: tf.concat(
            [tf.reshape(t, [-1]) for t in tf.clip_by_global_norm([a, None, b], c)[0]
             if t is not None], 0), values)
        check_gradients(lambda a, b, c=clip: tf.clip_by_global_norm([a, b], c)[1], values)


def test_clip_by_global_norm_of_non_finite_values_is_nan():
    finite = np.array([1.0, 2.0], np.float32)
    for bad in (np.inf, -np.inf, np.nan):
        clipped, norm = tf.clip_by_global_norm([finite, None, np.array([bad], np.float32)], 1.0)
        got_finite, got_bad, got_norm = tf.Session().run([clipped[0], clipped[2], norm])
        assert np.isnan(got_finite).all() and np.isnan(got_bad).all(), bad
        assert not np.isfinite(got_norm)


def test_clip_by_average_norm_gradient():
    rng = np.random.default_rng(3)
    for clip in (0.1, 10.0):
        check_gradients(lambda t, c=clip: tf.clip_by_average_norm(t, c),
                        [rng.standard_normal((3, 2))])


def test_clip_by_average_norm_matches_numpy():
    t = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
    average = np.sqrt((t * t).sum()) / t.size
    got = tf.Session().run([tf.clip_by_average_norm(t, 0.5), tf.clip_by_average_norm(t, 5.0)])
    np.testing.assert_allclose(got[0], t * 0.5 / average, rtol=1e-6)
    np.testing.assert_allclose(got[1], t, rtol=1e-6)


def test_gradient_clipping_idiom_bounds_the_update():
    w = tf.Variable([0.0, 0.0])
    v = tf.Variable(1.0)
    loss = tf.reduce_sum(w * tf.constant([30.0, 40.0])) + 0.0 * v
    opt = tf.train.GradientDescentOptimizer(1.0)
    grads, variables = zip(*opt.compute_gradients(loss), strict=True)
    grads, norm = tf.clip_by_global_norm(grads, 5.0)
    train = opt.apply_gradients(zip(grads, variables, strict=True))
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        assert sess.run(norm) == pytest.approx(50.0)
        sess.run(train)
        np.testing.assert_allclose(sess.run(w), [-3.0, -4.0], rtol=1e-6)


def test_regularizer_formulas():
    w = np.array([[1.0, -2.0], [3.0, -4.0]], np.float32)
    layers = tf.contrib.layers
    terms = [layers.l1_regularizer(0.1)(w), layers.l2_regularizer(0.1)(w),
             layers.l1_l2_regularizer(0.1, 0.2)(w),
             layers.sum_regularizer([layers.l1_regularizer(1.0), None,
                                     layers.l2_regularizer(1.0)])(w)]
    l1, l2 = np.abs(w).sum(), (w ** 2).sum() / 2
    np.testing.assert_allclose(tf.Session().run(terms),
                               [0.1 * l1, 0.1 * l2, 0.1 * l1 + 0.2 * l2, l1 + l2], rtol=1e-6)
    assert layers.l2_regularizer(0.0)(w) is None
    assert layers.sum_regularizer([None]) is None
    with pytest.raises(ValueError, match="scale cannot be an integer: 1"):
        layers.l2_regularizer(1)
    with pytest.raises(ValueError, match="scale less than 0"):
        layers.l1_regularizer(-0.5)


def test_dense_kernel_regularizer_reaches_the_total_loss():
    x = tf.constant(np.ones((1, 2), np.float32))
    tf.layers.dense(x, 3, kernel_initializer=tf.constant_initializer(2.0),
                    kernel_regularizer=tf.contrib.layers.l2_regularizer(0.01))
    total = tf.losses.get_regularization_loss()
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        assert sess.run(total) == pytest.approx(0.01 * 6 * 4 / 2)


def test_apply_regularization_sums_and_collects():
    weights = [tf.constant([1.0, -1.0]), tf.constant([[2.0]])]
    penalty = tf.contrib.layers.apply_regularization(
        tf.contrib.layers.l1_regularizer(0.5), weights)
    assert tf.get_collection(tf.GraphKeys.REGULARIZATION_LOSSES) == [penalty]
    assert tf.Session().run(penalty) == pytest.approx(0.5 * 4)
    with pytest.raises(ValueError, match="No weights to regularize"):
        tf.contrib.layers.apply_regularization(tf.contrib.layers.l1_regularizer(0.5))
    with pytest.raises(ValueError, match="scalar Tensor instead of a Tensor with rank 1"):
        tf.contrib.layers.apply_regularization(tf.abs, weights[:1])


def test_session_options_are_accepted():
    config = tf.ConfigProto(allow_soft_placement=True, log_device_placement=False,
                            intra_op_parallelism_threads=2,
                            gpu_options=tf.GPUOptions(per_process_gpu_memory_fraction=0.5))
    config.gpu_options.allow_growth = True
    assert tf.ConfigProto().gpu_options.allow_growth is False  # defaults are not shared
    assert config.allow_soft_placement and config.gpu_options.allow_growth
    options = tf.RunOptions(trace_level=tf.RunOptions.FULL_TRACE)
    metadata = tf.RunMetadata()
    with tf.Session(config=config) as sess:
        assert sess.run(tf.constant(2.0) * 3.0, options=options, run_metadata=metadata) == 6.0
    with pytest.raises(ValueError, match='ConfigProto has no "allow_growth" field'):
        tf.ConfigProto(allow_growth=True)
    with pytest.raises(AttributeError):
        config.no_such_field = 1


@pytest.fixture
def engine_logger_level():
    """Restores the "engine" logger's level that tf.logging.set_verbosity changes."""
    level = logging.getLogger("engine").level
    yield
    logging.getLogger("engine").setLevel(level)


@pytest.mark.usefixtures("engine_logger_level")
def test_logging_goes_through_the_engine_logger(caplog):
    tf.logging.set_verbosity(tf.logging.INFO)
    assert tf.logging.get_verbosity() == logging.INFO
    assert (tf.logging.DEBUG, tf.logging.WARN, tf.logging.FATAL) == (10, 30, 50)
    with caplog.at_level(logging.DEBUG, logger="engine"):
        tf.logging.info("step %d", 7)
        tf.logging.warn("careful")
        tf.logging.error("bad")
        for i in range(7):
            tf.logging.log_every_n(tf.logging.INFO, "every %d", 3, i)
    records = [(r.name, r.levelno, r.getMessage()) for r in caplog.records]
    assert records == [("engine", logging.INFO, "step 7"), ("engine", logging.WARNING, "careful"),
                       ("engine", logging.ERROR, "bad"), ("engine", logging.INFO, "every 0"),
                       ("engine", logging.INFO, "every 3"), ("engine", logging.INFO, "every 6")]
