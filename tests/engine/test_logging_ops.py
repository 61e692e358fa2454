"""tf.Print, tf.print, tf.Assert and the assert_* checks: output format, run-time failures,
build-time static checks, and that these stateful ops run whenever something fetched depends on
them."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import engine as tf
from engine.ops.logging_ops import (
    Assert,
    Print,
    assert_equal,
    assert_greater,
    assert_less,
    assert_less_equal,
    assert_negative,
    assert_non_negative,
    assert_none_equal,
    assert_positive,
    assert_rank,
)
from engine.ops.logging_ops import print as tf_print
from tests.engine.gradcheck import check_gradients


def lines(text: str) -> list[str]:
    return text.splitlines()


# -- tf.Print -------------------------------------------------------------------------------------
def test_print_passes_input_through_and_prints_message_and_data(
        capsys: pytest.CaptureFixture[str]) -> None:
    x = tf.constant([1.0, 2.5, 3.0])
    y = Print(x, [x, "and", tf.constant(7), tf.constant([True, False])], message="x: ")
    with tf.Session() as sess:
        np.testing.assert_array_equal(sess.run(y), [1.0, 2.5, 3.0])
    assert lines(capsys.readouterr().err) == ["x: [1 2.5 3][and][7][1 0]"]


@pytest.mark.parametrize(("value", "summarize", "want"), [
    (np.arange(6).reshape(2, 3), 4, "[[0 1 2][3...]...]"),
    (np.arange(6).reshape(2, 3), None, "[[0 1 2]...]"),
    (np.arange(6).reshape(2, 3), -1, "[[0 1 2][3 4 5]]"),
    (np.arange(5), 2, "[0 1...]"),
    (np.float32(0.1), None, "[0.1]"),
    (np.float64(1 / 3), None, "[0.33333333333333331]"),  # 15 digits only if exact
    (np.float64(0.1), None, "[0.1]"),
    (np.float32(16777217.0), None, "[16777216]"),
])
def test_print_summarizes_like_tf1(capsys: pytest.CaptureFixture[str], value: np.ndarray,
                                   summarize: int | None, want: str) -> None:
    x = tf.constant(value)
    with tf.Session() as sess:
        sess.run(Print(x, [x], summarize=summarize))
    assert lines(capsys.readouterr().err) == [want]


def test_print_first_n_and_every_run_prints(capsys: pytest.CaptureFixture[str]) -> None:
    """A Print of a constant is never folded: each run prints, up to first_n times."""
    x = tf.constant(1.0)
    every, twice = Print(x, [x], "every"), Print(x, [x], "twice", first_n=2)
    with tf.Session() as sess:
        for _ in range(3):
            sess.run([every, twice])
    err = lines(capsys.readouterr().err)
    assert err.count("every[1]") == 3 and err.count("twice[1]") == 2


def test_print_runs_when_reached_through_control_dependencies(
        capsys: pytest.CaptureFixture[str]) -> None:
    x = tf.placeholder(tf.float32, [2])
    shown = Print(x, [x], "fed: ")
    with tf.control_dependencies([shown]):
        y = tf.identity(x * 2.0)
    with tf.Session() as sess:
        np.testing.assert_array_equal(sess.run(y, {x: [1.0, 2.0]}), [2.0, 4.0])
    assert lines(capsys.readouterr().err) == ["fed: [1 2]"]


def test_print_gradient_passes_through_to_input() -> None:
    x = np.random.default_rng(0).standard_normal((2, 3))
    check_gradients(lambda a: Print(a * a, [a], "grad"), [x])
    a = tf.constant(x)
    assert tf.gradients(Print(a, [a * 3.0]), a)[0] is not None


def test_print_bad_arguments() -> None:
    x = tf.constant(1.0)
    with pytest.raises(TypeError, match="message must be a string"):
        Print(x, [x], message=3)
    with pytest.raises(TypeError, match="first_n"):
        Print(x, [x], first_n="a")
    with pytest.raises(TypeError, match="data must be a list"):
        Print(x, {"a": x})


# -- tf.print -------------------------------------------------------------------------------------
def test_tf_print_writes_inputs_to_stderr_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    x = tf.constant(np.arange(10))
    op = tf_print("x =", x, tf.constant(np.array([[1.5, 2.0], [3.0, 4.0]])), summarize=2)
    assert isinstance(op, tf.Operation)
    with tf.Session() as sess:
        sess.run(op)
    assert capsys.readouterr().err == "x = [0 1 ... 8 9] [[1.5 2]\n [3 4]]\n"


def test_tf_print_streams_sep_end_and_control_dependencies(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    x = tf.placeholder(tf.int32, [3])
    path = tmp_path / "log.txt"
    to_stdout = tf_print("a", x, output_stream=sys.stdout, sep="|", end="!\n")
    to_file = tf_print(x, output_stream=f"file://{path}")
    with tf.control_dependencies([to_stdout, to_file]):
        y = tf.identity(x)
    with tf.Session() as sess:
        sess.run(y, {x: [1, 2, 3]})
        sess.run(y, {x: [4, 5, 6]})
    assert capsys.readouterr().out == "a|[1 2 3]!\na|[4 5 6]!\n"
    assert path.read_text() == "[1 2 3]\n[4 5 6]\n"


def test_tf_print_bad_arguments() -> None:
    with pytest.raises(ValueError, match="Unsupported output stream"):
        tf_print("a", output_stream=object())
    with pytest.raises(TypeError, match="sep must be a string"):
        tf_print("a", sep=1)


# -- tf.Assert ------------------------------------------------------------------------------------
def test_assert_passes_and_fails_at_run_time() -> None:
    x = tf.placeholder(tf.float32, [None])
    check = Assert(tf.reduce_all(x < 3.0), ["x must stay below 3:", x], name="limit")
    with tf.control_dependencies([check]):
        y = tf.identity(x)
    with tf.Session() as sess:
        np.testing.assert_array_equal(sess.run(y, {x: [1.0, 2.5]}), [1.0, 2.5])
        with pytest.raises(tf.errors.InvalidArgumentError) as info:
            sess.run(y, {x: [1.0, 4.5, 0.25, 2.0]})
    message = str(info.value)
    assert message.startswith("assertion failed: [x must stay below 3:] [1 4.5 0.25...]")
    assert "limit" in message and info.value.op is check


def test_assert_condition_must_be_a_bool_scalar() -> None:
    with pytest.raises(TypeError, match="condition"):
        Assert(tf.constant(1.0), ["x"])
    with pytest.raises(ValueError, match=r"rank 0 but is rank 1.*tf\.reduce_all"):
        Assert(tf.constant([True, False]), ["x"])
    unknown = tf.placeholder(tf.bool)
    with tf.Session() as sess, pytest.raises(tf.errors.InvalidArgumentError,
                                             match="should be a scalar"):
        sess.run(Assert(unknown, ["x"]), {unknown: [True]})


# -- assert_* -------------------------------------------------------------------------------------
def test_static_checks_fail_at_build_time() -> None:
    """Like TF, a comparison of two constants is decided while the graph is built."""
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"(?s)shapes differ\nCondition x == y did not hold.*\[1 3\]"):
        assert_equal(tf.constant([1, 2]), [1, 3], message="shapes differ")
    with pytest.raises(tf.errors.InvalidArgumentError, match="Condition x > 0"):
        assert_positive(tf.constant([1.0, 0.0]))
    ok = assert_less(tf.constant([1, 2]), tf.constant([2, 3]))
    with tf.Session() as sess:
        sess.run(ok)


@pytest.mark.parametrize(("check", "good", "bad", "symbol"), [
    (lambda x: assert_positive(x), [1.0, 2.0], [1.0, 0.0], "x > 0"),
    (lambda x: assert_non_negative(x), [0.0, 2.0], [-1.0, 2.0], "x >= 0"),
    (lambda x: assert_negative(x), [-1.0, -2.0], [-1.0, 0.0], "x < 0"),
    (lambda x: assert_equal(x, [1.0, 2.0]), [1.0, 2.0], [1.0, 3.0], "x == y"),
    (lambda x: assert_none_equal(x, [1.0, 2.0]), [0.0, 0.0], [1.0, 0.0], "x != y"),
    (lambda x: assert_less(x, 2.0), [1.0, 1.5], [1.0, 2.0], "x < y"),
    (lambda x: assert_less_equal(x, 2.0), [1.0, 2.0], [1.0, 2.5], "x <= y"),
    (lambda x: assert_greater(x, 0.0), [1.0, 2.0], [1.0, 0.0], "x > y"),
])
def test_dynamic_checks_guard_through_control_dependencies(check, good: list, bad: list,
                                                           symbol: str) -> None:
    x = tf.placeholder(tf.float32, [2])
    with tf.control_dependencies([check(x)]):
        y = x * 2.0
    with tf.Session() as sess:
        np.testing.assert_array_equal(sess.run(y, {x: good}), np.multiply(good, 2.0))
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=f"Condition {symbol}.*did not hold"):
            sess.run(y, {x: bad})


def test_assert_rank_static_and_dynamic() -> None:
    assert assert_rank(tf.constant([[1.0]]), 2).type == "NoOp"
    with pytest.raises(ValueError, match=r"checking\.  Tensor Const_1:0 must have rank 3\.  "
                                         r"Received rank 2, shape \(1, 1\)"):
        assert_rank(tf.constant([[1.0]]), 3, message="checking")
    with pytest.raises(ValueError, match="Rank must be a scalar int"):
        assert_rank(tf.constant([[1.0]]), tf.constant([2]))
    x = tf.placeholder(tf.float32)
    with tf.control_dependencies([assert_rank(x, 1)]):
        y = tf.identity(x)
    with tf.Session() as sess:
        np.testing.assert_array_equal(sess.run(y, {x: [1.0, 2.0]}), [1.0, 2.0])
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=r"must have rank\] \[1\] \[Received shape: \] \[2 1\]"):
            sess.run(y, {x: [[1.0], [2.0]]})
