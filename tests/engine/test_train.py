"""tf.train optimizers and the global step: TF's update equations, slots, state, errors."""

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import engine as tf

State = dict[str, np.ndarray]


# -- numpy references of TF's published update equations (float64) -----------------------------
def _gd(var: np.ndarray, g: np.ndarray, s: State, t: int) -> np.ndarray:
    return var - 0.1 * g


def _momentum(nesterov: bool) -> Callable[..., np.ndarray]:
    def step(var: np.ndarray, g: np.ndarray, s: State, t: int) -> np.ndarray:
        s["momentum"] = 0.9 * s["momentum"] + g
        if nesterov:
            return var - (0.1 * g + 0.1 * 0.9 * s["momentum"])
        return var - 0.1 * s["momentum"]

    return step


def _adagrad(var: np.ndarray, g: np.ndarray, s: State, t: int) -> np.ndarray:
    s["accumulator"] = s["accumulator"] + g * g
    return var - 0.1 * g / np.sqrt(s["accumulator"])


def _adam(var: np.ndarray, g: np.ndarray, s: State, t: int) -> np.ndarray:
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    s["m"] = b1 * s["m"] + (1 - b1) * g
    s["v"] = b2 * s["v"] + (1 - b2) * g * g
    lr_t = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
    return var - lr_t * s["m"] / (np.sqrt(s["v"]) + eps)


def _rmsprop(centered: bool) -> Callable[..., np.ndarray]:
    lr, decay, momentum, eps = 0.01, 0.9, 0.5, 1e-10

    def step(var: np.ndarray, g: np.ndarray, s: State, t: int) -> np.ndarray:
        s["rms"] = decay * s["rms"] + (1 - decay) * g * g
        denom = s["rms"] + eps
        if centered:
            s["mg"] = decay * s["mg"] + (1 - decay) * g
            denom = s["rms"] - s["mg"] ** 2 + eps
        s["momentum"] = momentum * s["momentum"] + lr * g / np.sqrt(denom)
        return var - s["momentum"]

    return step


def _adadelta(var: np.ndarray, g: np.ndarray, s: State, t: int) -> np.ndarray:
    lr, rho, eps = 1.0, 0.95, 1e-6
    s["accum"] = rho * s["accum"] + (1 - rho) * g * g
    update = np.sqrt(s["accum_update"] + eps) / np.sqrt(s["accum"] + eps) * g
    s["accum_update"] = rho * s["accum_update"] + (1 - rho) * update * update
    return var - lr * update


def _ftrl(power: float) -> Callable[..., np.ndarray]:
    lr, l1, l2 = 0.1, 0.05, 0.1

    def step(var: np.ndarray, g: np.ndarray, s: State, t: int) -> np.ndarray:
        new_accum = s["accum"] + g * g
        sigma = (new_accum ** -power - s["accum"] ** -power) / lr
        s["linear"] = s["linear"] + g - sigma * var
        quadratic = new_accum ** -power / lr + 2 * l2
        s["accum"] = new_accum
        shrunk = (np.sign(s["linear"]) * l1 - s["linear"]) / quadratic
        return np.where(np.abs(s["linear"]) > l1, shrunk, 0.0)

    return step


CASES: dict[str, tuple[Callable[[], Any], Callable[..., np.ndarray], dict[str, float]]] = {
    "sgd": (lambda: tf.train.GradientDescentOptimizer(0.1), _gd, {}),
    "momentum": (lambda: tf.train.MomentumOptimizer(0.1, 0.9), _momentum(False),
                 {"momentum": 0.0}),
    "nesterov": (lambda: tf.train.MomentumOptimizer(0.1, 0.9, use_nesterov=True),
                 _momentum(True), {"momentum": 0.0}),
    "adagrad": (lambda: tf.train.AdagradOptimizer(0.1), _adagrad, {"accumulator": 0.1}),
    "adam": (lambda: tf.train.AdamOptimizer(0.01), _adam, {"m": 0.0, "v": 0.0}),
    "rmsprop": (lambda: tf.train.RMSPropOptimizer(0.01, momentum=0.5), _rmsprop(False),
                {"rms": 1.0, "momentum": 0.0}),
    "rmsprop_centered": (lambda: tf.train.RMSPropOptimizer(0.01, momentum=0.5, centered=True),
                         _rmsprop(True), {"rms": 1.0, "mg": 0.0, "momentum": 0.0}),
    "adadelta": (lambda: tf.train.AdadeltaOptimizer(1.0, epsilon=1e-6), _adadelta,
                 {"accum": 0.0, "accum_update": 0.0}),
    "ftrl": (lambda: tf.train.FtrlOptimizer(0.1, l1_regularization_strength=0.05,
                                            l2_regularization_strength=0.1),
             _ftrl(-0.5), {"accum": 0.1, "linear": 0.0}),
    "ftrl_power": (lambda: tf.train.FtrlOptimizer(0.1, learning_rate_power=-0.3,
                                                  l1_regularization_strength=0.05,
                                                  l2_regularization_strength=0.1),
                   _ftrl(-0.3), {"accum": 0.1, "linear": 0.0}),
}


@pytest.mark.parametrize("shape", [(2, 3), (1031, 1030)], ids=["small", "chunked"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_update_matches_tf_equations(case: str, shape: tuple[int, int]) -> None:
    """The large shape exercises the chunk-by-chunk CPU update path (several chunks and a
    partial last one)."""
    make, reference, slot_inits = CASES[case]
    rng = np.random.default_rng(7)
    start = rng.normal(size=shape)
    grads = rng.normal(size=(6 if shape == (2, 3) else 3, *shape))
    var = tf.Variable(start, name="W")
    g = tf.placeholder(tf.float64, shape)
    opt = make()
    train = opt.apply_gradients([(g, var)])
    assert sorted(opt.get_slot_names()) == sorted(slot_inits)

    expected, state = start.copy(), {k: np.full_like(start, v) for k, v in slot_inits.items()}
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for t, grad in enumerate(grads, start=1):
            sess.run(train, {g: grad})
            expected = reference(expected, grad, state, t)
        np.testing.assert_allclose(sess.run(var), expected, rtol=1e-10, atol=1e-12)
        for name, value in state.items():
            np.testing.assert_allclose(sess.run(opt.get_slot(var, name)), value, rtol=1e-10,
                                       atol=1e-12, err_msg=name)


def test_ftrl_l1_zeroes_weak_coordinates() -> None:
    var = tf.Variable(np.zeros(4))
    g = tf.placeholder(tf.float64, [4])
    train = tf.train.FtrlOptimizer(0.1, l1_regularization_strength=1.0).apply_gradients(
        [(g, var)])
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(train, {g: [0.5, -0.5, 3.0, -3.0]})
        result = sess.run(var)
    assert result[0] == result[1] == 0.0
    assert result[2] < 0 < result[3]


# -- training ---------------------------------------------------------------------------------
def _regression() -> tuple[tf.Tensor, dict[tf.Tensor, np.ndarray]]:
    rng = np.random.default_rng(0)
    xs = rng.normal(size=(64, 3)).astype(np.float32)
    ys = xs @ np.array([[1.0], [-2.0], [0.5]], np.float32) + 0.3
    x = tf.placeholder(tf.float32, [None, 3])
    y = tf.placeholder(tf.float32, [None, 1])
    w = tf.Variable(np.zeros((3, 1), np.float32), name="W")
    b = tf.Variable(np.zeros(1, np.float32), name="b")
    loss = tf.nn.l2_loss(tf.matmul(x, w) + b - y) / 64.0
    return loss, {x: xs, y: ys}


TRAINERS = {
    "sgd": lambda: tf.train.GradientDescentOptimizer(0.2),
    "momentum": lambda: tf.train.MomentumOptimizer(0.05, 0.9),
    "nesterov": lambda: tf.train.MomentumOptimizer(0.05, 0.9, use_nesterov=True),
    "adagrad": lambda: tf.train.AdagradOptimizer(0.5),
    "adam": lambda: tf.train.AdamOptimizer(0.1),
    "rmsprop": lambda: tf.train.RMSPropOptimizer(0.05),
    "rmsprop_centered": lambda: tf.train.RMSPropOptimizer(0.05, momentum=0.5, centered=True),
    "adadelta": lambda: tf.train.AdadeltaOptimizer(1.0, epsilon=1e-3),
    "ftrl": lambda: tf.train.FtrlOptimizer(0.5),
}


@pytest.mark.parametrize("name", sorted(TRAINERS))
def test_linear_regression_loss_decreases(name: str) -> None:
    loss, feed = _regression()
    train = TRAINERS[name]().minimize(loss)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        first = sess.run(loss, feed)
        for _ in range(60):
            sess.run(train, feed)
        last = sess.run(loss, feed)
        assert sess.run(tf.trainable_variables()[0]).dtype == np.float32
    assert last < 0.2 * first, (first, last)


def test_minimize_increments_global_step_once_per_run() -> None:
    loss, feed = _regression()
    step = tf.train.get_or_create_global_step()
    train = tf.train.AdamOptimizer(0.1).minimize(loss, global_step=step)
    assert train.name == "Adam"
    assert train in tf.get_collection(tf.GraphKeys.TRAIN_OP)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for expected in range(1, 4):
            sess.run(train, feed)
            assert tf.train.global_step(sess, step) == expected


def test_global_step_variable() -> None:
    assert tf.train.get_global_step() is None
    step = tf.train.get_or_create_global_step()
    assert step.op.name == "global_step" and step.dtype == tf.int64
    assert step.get_shape().as_list() == []
    assert tf.train.get_or_create_global_step() is step
    assert tf.train.get_global_step() is step
    assert step in tf.global_variables() and step not in tf.trainable_variables()
    assert tf.get_collection(tf.GraphKeys.GLOBAL_STEP) == [step]
    with pytest.raises(ValueError, match="already exists"):
        tf.train.create_global_step()
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        assert sess.run(step) == 0


def test_slots_are_named_like_tf_and_initialized_by_the_global_initializer() -> None:
    loss, _ = _regression()
    trainable = tf.trainable_variables()
    opt = tf.train.AdamOptimizer()
    opt.minimize(loss)
    names = [v.op.name for v in tf.global_variables()]
    assert names == ["W", "b", "W/Adam", "W/Adam_1", "b/Adam", "b/Adam_1", "beta1_power",
                     "beta2_power"]
    assert tf.trainable_variables() == trainable
    assert [v.op.name for v in opt.variables()] == names[2:]
    w = trainable[0]
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        np.testing.assert_array_equal(sess.run(opt.get_slot(w, "m")), np.zeros((3, 1)))
        assert sess.run(opt.variables()[-2]) == pytest.approx(0.9)
    assert opt.get_slot(w, "nope") is None


def test_accumulator_slots_start_at_their_initial_values() -> None:
    w = tf.Variable(np.zeros(2, np.float32), name="W")
    loss = tf.nn.l2_loss(w)
    adagrad = tf.train.AdagradOptimizer(0.1, initial_accumulator_value=0.25)
    rmsprop = tf.train.RMSPropOptimizer(0.1)
    adagrad.minimize(loss)
    rmsprop.minimize(loss)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        np.testing.assert_array_equal(sess.run(adagrad.get_slot(w, "accumulator")), [0.25] * 2)
        np.testing.assert_array_equal(sess.run(rmsprop.get_slot(w, "rms")), [1.0, 1.0])


def test_two_sessions_keep_separate_optimizer_state() -> None:
    loss, feed = _regression()
    opt = tf.train.MomentumOptimizer(0.05, 0.9)
    train = opt.minimize(loss)
    w = tf.trainable_variables()[0]
    first, second = tf.Session(), tf.Session()
    for sess in (first, second):
        sess.run(tf.global_variables_initializer())
    for _ in range(3):
        first.run(train, feed)
    second.run(train, feed)
    with tf.Session() as fresh:
        fresh.run(tf.global_variables_initializer())
        fresh.run(train, feed)
        np.testing.assert_array_equal(second.run(opt.get_slot(w, "momentum")),
                                      fresh.run(opt.get_slot(w, "momentum")))
    assert not np.allclose(first.run(w), second.run(w))


def test_updates_happen_in_place_in_the_session_store() -> None:
    loss, feed = _regression()
    train = tf.train.AdamOptimizer(0.1).minimize(loss)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        before = dict(sess._variables)
        sess.run(train, feed)
        assert all(sess._variables[k] is v for k, v in before.items())


def test_learning_rate_may_be_a_fed_tensor_of_another_float_dtype() -> None:
    var = tf.Variable(np.ones(3), name="W")  # float64
    lr = tf.placeholder(tf.float32, [])
    g = tf.constant(np.array([1.0, 2.0, 3.0]))
    train = tf.train.GradientDescentOptimizer(lr).apply_gradients([(g, var)])
    with tf.Session() as sess:
        sess.run(var.initializer)
        sess.run(train, {lr: 0.5})
        sess.run(train, {lr: 0.25})
        np.testing.assert_allclose(sess.run(var), [0.25, -0.5, -1.25])


def test_variable_of_unknown_shape_gets_slots_shaped_at_run_time() -> None:
    var = tf.Variable(np.ones(3, np.float32), validate_shape=False, name="W")
    train = tf.train.MomentumOptimizer(0.1, 0.5).minimize(tf.nn.l2_loss(var))
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(train)
        sess.run(train)
        # 0.9 after one step, then 0.9 - 0.1 * (0.5 * 1 + 0.9)
        np.testing.assert_allclose(sess.run(var), [0.76] * 3, rtol=1e-6)


def test_compute_gradients_gives_none_for_unused_variables() -> None:
    used = tf.Variable(np.ones(2, np.float32), name="used")
    unused = tf.Variable(np.ones(2, np.float32), name="unused")
    opt = tf.train.GradientDescentOptimizer(0.5)
    grads_and_vars = opt.compute_gradients(tf.nn.l2_loss(used))
    assert [v for _, v in grads_and_vars] == [used, unused]
    assert grads_and_vars[0][0] is not None and grads_and_vars[1][0] is None
    train = opt.apply_gradients(grads_and_vars)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(train)
        np.testing.assert_allclose(sess.run([used, unused]), [[0.5, 0.5], [1.0, 1.0]])


def test_no_gradients_is_a_value_error() -> None:
    tf.Variable(np.ones(2, np.float32), name="W")
    loss = tf.nn.l2_loss(tf.constant([1.0, 2.0]))
    with pytest.raises(ValueError, match="No gradients provided for any variable"):
        tf.train.AdamOptimizer().minimize(loss)
    with pytest.raises(ValueError, match="No variables to optimize"):
        tf.train.AdamOptimizer().minimize(loss, var_list=[])


def test_build_errors() -> None:
    var = tf.Variable(np.ones(3, np.float32), name="W")
    opt = tf.train.GradientDescentOptimizer(0.1)
    with pytest.raises(ValueError, match="var and grad do not have the same shape"):
        opt.apply_gradients([(tf.constant([1.0, 2.0]), var)])
    with pytest.raises(TypeError, match="does not match type float32"):
        opt.apply_gradients([(tf.constant(np.ones(3)), var)])
    with pytest.raises(TypeError, match=r"not a tf\.Variable"):
        opt.apply_gradients([(tf.constant([1.0, 2.0, 3.0]), tf.constant([1.0, 2.0, 3.0]))])
    with pytest.raises(ValueError, match="l1_regularization_strength"):
        tf.train.FtrlOptimizer(0.1, l1_regularization_strength=-1.0)
    with pytest.raises(ValueError, match="initial_accumulator_value must be positive"):
        tf.train.AdagradOptimizer(0.1, initial_accumulator_value=0.0)


def test_running_before_initialization_names_the_slot() -> None:
    var = tf.Variable(np.ones(3, np.float32), name="W")
    train = tf.train.MomentumOptimizer(0.1, 0.9).minimize(tf.nn.l2_loss(var))
    with tf.Session() as sess:
        sess.run(var.initializer)
        with pytest.raises(tf.errors.FailedPreconditionError,
                           match="uninitialized value W/Momentum"):
            sess.run(train)
