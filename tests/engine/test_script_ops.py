"""tf.py_func / tf.numpy_function: Python functions as graph ops, with TF's results and errors."""

from typing import Any

import numpy as np
import pytest

import engine as tf


def run(fetches: Any, feed: dict | None = None) -> Any:
    with tf.Session() as sess:
        return sess.run(fetches, feed)


@pytest.mark.parametrize("wrap", [tf.py_func, tf.numpy_function])
def test_one_output(wrap: Any) -> None:
    x = tf.placeholder(tf.float32, [None])
    y = wrap(lambda a: np.sinh(a), [x * 2.0], tf.float32)
    assert isinstance(y, tf.Tensor) and y.dtype == tf.float32 and y.shape.ndims is None
    value = np.array([0.5, -1.0], np.float32)
    np.testing.assert_allclose(run(y + 1.0, {x: value}), np.sinh(2 * value) + 1, rtol=1e-6)


def test_several_outputs_and_inputs() -> None:
    def stats(a: np.ndarray, scale: np.floating) -> tuple[np.ndarray, np.int64]:
        return (a * scale).astype(np.float32), np.int64(a.size)

    outs = tf.py_func(stats, [tf.constant([[1.0, 2.0], [3.0, 4.0]]), 3.0],
                      [tf.float32, tf.int64])
    assert isinstance(outs, list) and [t.dtype for t in outs] == [tf.float32, tf.int64]
    scaled, size = run(outs)
    assert scaled.tolist() == [[3.0, 6.0], [9.0, 12.0]] and size == 4


def test_a_list_of_one_dtype_gives_a_list() -> None:
    (y,) = tf.py_func(lambda a: a, [tf.constant([1, 2])], [tf.int32])
    assert run(y).tolist() == [1, 2]


def test_no_outputs_gives_the_op_which_runs_for_its_side_effect() -> None:
    seen: list[float] = []
    op = tf.py_func(lambda a: seen.append(float(a)), [tf.constant(2.5)], [])
    assert isinstance(op, tf.Operation)
    with tf.Session() as sess:
        sess.run(op)
        sess.run(op)
    assert seen == [2.5, 2.5]


def test_scalars_arrive_as_numpy_scalars_and_text_as_bytes() -> None:
    kinds: list[type] = []

    def describe(a: Any) -> bytes:
        kinds.append(type(a))
        return f"value {a}".encode()

    got = run(tf.py_func(describe, [tf.constant(3)], tf.string))
    assert got == b"value 3" and kinds == [np.int32]
    assert run(tf.py_func(lambda: "text", [], tf.string)) == b"text"


def test_inputs_are_copies_the_function_may_change() -> None:
    v = tf.Variable([1.0, 2.0])

    def clobber(a: np.ndarray) -> np.ndarray:
        a[:] = 0.0
        return a

    y = tf.py_func(clobber, [v], tf.float32)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        assert sess.run(y).tolist() == [0.0, 0.0]
        assert sess.run(v).tolist() == [1.0, 2.0]


def test_runs_every_time_and_is_never_merged() -> None:
    """Stateful: two identical calls are two ops, each run once per step."""
    calls: list[int] = []

    def count() -> np.ndarray:
        calls.append(1)
        return np.array(len(calls), np.int32)

    a, b = tf.py_func(count, [], tf.int32), tf.py_func(count, [], tf.int32)
    assert a.op is not b.op
    with tf.Session() as sess:
        assert sorted(sess.run([a, b])) == [1, 2]
        assert sess.run(a) == 3


def test_in_a_training_graph_next_to_other_ops() -> None:
    """py_func feeds data into a model; no gradient flows through it, as in TF."""
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((32, 3)).astype(np.float32)
    ys = xs @ np.array([[1.0], [-2.0], [0.5]], np.float32)
    step = tf.placeholder(tf.int32, [])

    def batch(i: np.int32) -> tuple[np.ndarray, np.ndarray]:
        rows = slice(int(i) * 8 % 32, int(i) * 8 % 32 + 8)
        return xs[rows], ys[rows]

    x, y = tf.py_func(batch, [step], [tf.float32, tf.float32])
    x.set_shape([None, 3])
    w = tf.Variable(tf.zeros([3, 1]))
    scaled = tf.py_func(lambda a: a * 1.0, [w], tf.float32)
    loss = tf.reduce_mean(tf.square(tf.matmul(x, w) - y))
    assert tf.gradients(tf.reduce_sum(scaled), w) == [None]
    train = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        first = sess.run(loss, {step: 0})
        for i in range(200):
            sess.run(train, {step: i})
        assert sess.run(loss, {step: 0}) < first * 1e-3
        np.testing.assert_allclose(sess.run(w).ravel(), [1.0, -2.0, 0.5], atol=1e-2)


def test_exceptions_in_the_function_become_unknown_errors() -> None:
    def fail(a: np.ndarray) -> np.ndarray:
        raise ValueError("the data is bad")

    y = tf.py_func(fail, [tf.constant(1.0)], tf.float32, name="loader")
    with pytest.raises(tf.errors.UnknownError) as info:
        run(y)
    message = str(info.value)
    assert "ValueError: the data is bad" in message and "node loader" in message
    assert "Traceback" in message and info.value.op is y.op
    assert isinstance(info.value.__cause__, ValueError)


@pytest.mark.parametrize(("func", "tout", "message"), [
    (lambda a: a.astype(np.float64), tf.float32,
     "0-th value returned by f is float64, but expects float32"),
    (lambda a: 1.0, tf.float32, "0-th value returned by f is float64"),  # as TF: Python floats
    (lambda a: (a, a), [tf.float32, tf.int32], "1-th value returned by f is float32, but "
                                               "expects int32"),
    (lambda a: (a, a), tf.float32, "f returns 2 values, but expects to see 1 values."),
    (lambda a: None, tf.float32, "f returns 0 values, but expects to see 1 values."),
    (lambda a: [a], [tf.float32, tf.float32], "f returns 1 values, but expects to see 2"),
])
def test_results_are_checked_against_tout(func: Any, tout: Any, message: str) -> None:
    y = tf.py_func(func, [tf.constant([1.0])], tout, name="f")
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        run(y)
    assert message in str(info.value) and "node f" in str(info.value)


def test_build_errors() -> None:
    with pytest.raises(TypeError, match="func must be callable"):
        tf.py_func(None, [], tf.float32)
    with pytest.raises(TypeError, match="Expected list for 'input' argument"):
        tf.py_func(lambda a: a, tf.constant(1.0), tf.float32)
    with pytest.raises(TypeError, match="Cannot convert 'floaty' to a dtype"):
        tf.numpy_function(lambda a: a, [1.0], "floaty")
    with pytest.raises(TypeError, match="Cannot convert None to a dtype"):
        tf.py_func(lambda a: a, [1.0], [tf.float32, None])


def test_never_exported_for_serving(tmp_path: Any) -> None:
    x = tf.placeholder(tf.float32, [None], name="x")
    y = tf.py_func(np.negative, [x], tf.float32, name="neg")
    with tf.Session() as sess, pytest.raises(ValueError, match=r"'neg'.*stateful"):
        tf.saved_model.save(sess, str(tmp_path / "model"), {"x": x}, {"y": y})
