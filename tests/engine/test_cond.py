"""tf.cond and tf.case: the branch is chosen at run time and only the taken one runs."""

import numpy as np
import pytest

import engine as tf
from tests.engine.gradcheck import check_gradients

X = np.array([1.0, -2.0, 3.0], np.float32)


def _pred_and_x() -> tuple[tf.Tensor, tf.Tensor]:
    return tf.placeholder(tf.bool, []), tf.placeholder(tf.float32, [None])


def test_value_follows_the_predicate_fed_at_run_time() -> None:
    p, x = _pred_and_x()
    y = tf.cond(p, lambda: x * 2.0, lambda: x - 1.0)
    assert y.shape.as_list() == [None]
    with tf.Session() as sess:
        np.testing.assert_array_equal(sess.run(y, {p: True, x: X}), X * 2)
        np.testing.assert_array_equal(sess.run(y, {p: False, x: X}), X - 1)


def test_only_the_taken_branch_runs_its_side_effects() -> None:
    p = tf.placeholder(tf.bool, [])
    taken, other = tf.Variable(0), tf.Variable(0)
    out = tf.cond(p, lambda: tf.assign_add(taken, 1), lambda: tf.assign_add(other, 1))
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for _ in range(3):
            sess.run(out, {p: True})
        sess.run(out, {p: False})
        assert sess.run([taken, other]) == [3, 1]


def test_a_failing_op_in_the_branch_not_taken_does_not_run() -> None:
    p = tf.placeholder(tf.bool, [])
    table = tf.constant([1.0, 2.0])
    index = tf.placeholder(tf.int32, [])
    y = tf.cond(p, lambda: tf.gather(table, index), lambda: tf.constant(0.0))
    with tf.Session() as sess:
        assert sess.run(y, {p: False, index: 7}) == 0.0  # the gather would be out of range
        with pytest.raises(tf.errors.InvalidArgumentError, match="Gather"):
            sess.run(y, {p: True, index: 7})


def test_nested_structures_and_outside_tensors_returned_as_they_are() -> None:
    p, x = _pred_and_x()
    out = tf.cond(p, lambda: (x, {"plus": x + 1, "n": 1}), lambda: (-x, {"plus": x, "n": 2}))
    with tf.Session() as sess:
        first, rest = sess.run(out, {p: True, x: X})
        np.testing.assert_array_equal(first, X)
        np.testing.assert_array_equal(rest["plus"], X + 1)
        assert rest["n"] == 1
        assert sess.run(out[1]["n"], {p: False, x: X}) == 2


def test_static_shape_keeps_what_both_branches_agree_on() -> None:
    p = tf.placeholder(tf.bool, [])
    y = tf.cond(p, lambda: tf.zeros([2, 3]), lambda: tf.ones([4, 3]))
    assert y.shape.as_list() == [None, 3]
    with tf.Session() as sess:
        assert sess.run(y, {p: False}).shape == (4, 3)


def test_a_computed_predicate_and_nested_conds() -> None:
    x = tf.placeholder(tf.float32, [])
    sign = tf.cond(x > 0, lambda: tf.constant(1.0),
                   lambda: tf.cond(x < 0, lambda: tf.constant(-1.0), lambda: tf.constant(0.0)))
    with tf.Session() as sess:
        assert [sess.run(sign, {x: v}) for v in (3.0, -2.0, 0.0)] == [1.0, -1.0, 0.0]


def test_a_branch_may_return_an_op_to_run() -> None:
    p = tf.placeholder(tf.bool, [])
    v = tf.Variable(0.0)
    step = tf.cond(p, lambda: tf.group(tf.assign_add(v, 1.0)), lambda: tf.no_op())
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(step, {p: True})
        sess.run(step, {p: False})
        assert sess.run(v) == 1.0


def test_gradients_follow_the_taken_branch() -> None:
    p, x = _pred_and_x()
    y = tf.cond(p, lambda: x * x, lambda: 3.0 * x)
    (g,) = tf.gradients(tf.reduce_sum(y), [x])
    with tf.Session() as sess:
        np.testing.assert_allclose(sess.run(g, {p: True, x: X}), 2 * X)
        np.testing.assert_allclose(sess.run(g, {p: False, x: X}), [3.0, 3.0, 3.0])


@pytest.mark.parametrize("take", [True, False])
def test_numerical_gradient_through_a_cond(take: bool) -> None:
    check_gradients(lambda a, b: tf.cond(tf.constant(take), lambda: tf.tanh(a) * b,
                                         lambda: a / (b * b + 1)),
                    [np.random.default_rng(1).standard_normal((2, 3)),
                     np.random.default_rng(2).standard_normal((3,))])


def test_gradient_reuses_the_forward_random_draw() -> None:
    """Dropout inside a cond: the gradient must use the mask the forward pass drew, not a new
    one, so d(out)/dx = out / x elementwise."""
    p, x = _pred_and_x()
    out = tf.cond(p, lambda: tf.nn.dropout(x, 0.5), lambda: x)
    (g,) = tf.gradients(tf.reduce_sum(out), [x])
    values = np.arange(1.0, 201.0, dtype=np.float32)
    with tf.Session() as sess:
        for _ in range(3):
            dropped, grad = sess.run([out, g], {p: True, x: values})
            assert 0 < np.count_nonzero(dropped) < len(values)
            np.testing.assert_allclose(grad, dropped / values, rtol=1e-6)
        np.testing.assert_array_equal(sess.run(g, {p: False, x: values}), np.ones(200))


def test_nested_cond_gradient() -> None:
    p, x = _pred_and_x()
    inner = tf.cond(p, lambda: tf.cond(p, lambda: x * 5.0, lambda: x), lambda: x)
    (g,) = tf.gradients(tf.reduce_sum(inner * inner), [x])
    with tf.Session() as sess:
        np.testing.assert_allclose(sess.run(g, {p: True, x: X}), 50 * X)
        np.testing.assert_allclose(sess.run(g, {p: False, x: X}), 2 * X)


def test_training_with_an_is_training_switch() -> None:
    """The TF 1.x idiom: dropout while training, none at evaluation, one graph."""
    rng = np.random.default_rng(0)
    data = rng.standard_normal((64, 4)).astype(np.float32)
    labels = (data[:, 0] + data[:, 1] > 0).astype(np.int32)
    tf.set_random_seed(3)
    x = tf.placeholder(tf.float32, [None, 4])
    y = tf.placeholder(tf.int32, [None])
    training = tf.placeholder_with_default(False, [])
    hidden = tf.nn.relu(tf.matmul(x, tf.Variable(tf.truncated_normal([4, 16], stddev=0.5))))
    hidden = tf.cond(training, lambda: tf.nn.dropout(hidden, 0.8), lambda: hidden)
    logits = tf.matmul(hidden, tf.Variable(tf.truncated_normal([16, 2], stddev=0.5)))
    loss = tf.losses.sparse_softmax_cross_entropy(y, logits)
    train = tf.train.AdamOptimizer(0.05).minimize(loss)
    accuracy = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(logits, 1, output_type=tf.int32), y),
                                      tf.float32))
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        before = sess.run(loss, {x: data, y: labels})
        for _ in range(100):
            sess.run(train, {x: data, y: labels, training: True})
        assert sess.run(loss, {x: data, y: labels}) < before / 2
        assert sess.run(accuracy, {x: data, y: labels}) > 0.9


def test_case_takes_the_first_true_predicate() -> None:
    x = tf.placeholder(tf.int32, [])
    out = tf.case([(tf.equal(x, 1), lambda: tf.constant(10)), (x > 1, lambda: tf.constant(20))],
                  default=lambda: tf.constant(-1))
    with tf.Session() as sess:
        assert [sess.run(out, {x: v}) for v in (1, 5, 0)] == [10, 20, -1]


@pytest.mark.parametrize(("pred", "error", "match"), [
    (lambda: True, TypeError, "Python bool"),
    (lambda: tf.constant(1), TypeError, "bool tensor"),
    (lambda: tf.constant([True, False]), ValueError, "scalar"),
])
def test_bad_predicates_are_refused_at_build_time(pred, error, match) -> None:
    with pytest.raises(error, match=match):
        tf.cond(pred(), lambda: tf.constant(1), lambda: tf.constant(2))


def test_mismatched_branches_are_refused_at_build_time() -> None:
    p = tf.placeholder(tf.bool, [])
    with pytest.raises(TypeError, match="same type"):
        tf.cond(p, lambda: tf.constant(1), lambda: tf.constant(1.0))
    with pytest.raises(ValueError, match="same structure"):
        tf.cond(p, lambda: [tf.constant(1)], lambda: (tf.constant(1), tf.constant(2)))
    with pytest.raises(TypeError, match="callable"):
        tf.cond(p, tf.constant(1), lambda: tf.constant(2))
    with pytest.raises(ValueError, match="returned None"):
        tf.cond(p, lambda: None, lambda: tf.constant(2))


def test_the_internal_state_output_cannot_be_fetched() -> None:
    p = tf.placeholder(tf.bool, [])
    y = tf.cond(p, lambda: tf.constant(1.0), lambda: tf.constant(2.0))
    with tf.Session() as sess, pytest.raises(TypeError, match=r"internal state of a tf\.cond"):
        sess.run(y.op.outputs[-1], {p: True})
    n = tf.while_loop(lambda i: i < 3, lambda i: i + 1, [tf.constant(0)])
    with tf.Session() as sess, pytest.raises(TypeError, match=r"state of a tf\.while_loop"):
        sess.run(n.op.outputs[-1])


# -- tf.while_loop ------------------------------------------------------------------------------
def test_while_loop_counts_to_a_bound_fed_at_run_time() -> None:
    n = tf.placeholder(tf.int32, [])
    i = tf.while_loop(lambda i: i < n, lambda i: i + 1, [tf.constant(0)])
    limited = tf.while_loop(lambda i: i < n, lambda i: i + 1, [tf.constant(0)],
                            maximum_iterations=4)
    with tf.Session() as sess:
        assert [sess.run(i, {n: v}) for v in (0, 5, 12)] == [0, 5, 12]
        assert sess.run(limited, {n: 10}) == 4


def test_while_loop_structures_and_a_growing_shape() -> None:
    def body(j, acc):
        return [j + 1, tf.concat([acc, tf.reshape(tf.cast(j, tf.float32), [1])], 0)]

    count, acc = tf.while_loop(lambda j, acc: j < 3, body, [tf.constant(0), tf.zeros([0])],
                               shape_invariants=[tf.TensorShape([]), tf.TensorShape([None])])
    assert acc.shape.as_list() == [None]
    with tf.Session() as sess:
        got_count, got_acc = sess.run([count, acc])
    assert got_count == 3
    np.testing.assert_array_equal(got_acc, [0.0, 1.0, 2.0])


def test_while_loop_body_side_effects_run_once_per_iteration() -> None:
    total = tf.Variable(0)

    def body(i):
        with tf.control_dependencies([tf.assign_add(total, i)]):
            return i + 1

    done = tf.while_loop(lambda i: i < 5, body, [tf.constant(0)])
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(done)
        assert sess.run(total) == 0 + 1 + 2 + 3 + 4


def test_while_loop_gradient_matches_the_unrolled_product() -> None:
    x = tf.placeholder(tf.float32, [3])
    w = tf.Variable([1.0, 2.0, 3.0])
    n = tf.placeholder(tf.int32, [])
    _, y = tf.while_loop(lambda k, y: k < n, lambda k, y: (k + 1, y * w), (tf.constant(0), x))
    gx, gw = tf.gradients(tf.reduce_sum(y), [x, w])
    xv, wv = np.array([1.0, -1.0, 2.0], np.float32), np.array([1.0, 2.0, 3.0], np.float32)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for steps in (0, 1, 3):
            got = sess.run([y, gx, gw], {x: xv, n: steps})
            np.testing.assert_allclose(got[0], xv * wv ** steps, rtol=1e-6)
            np.testing.assert_allclose(got[1], wv ** steps, rtol=1e-6)
            np.testing.assert_allclose(got[2], steps * xv * wv ** max(steps - 1, 0), rtol=1e-6)


def test_numerical_gradient_through_a_recurrence() -> None:
    """A small RNN: h = tanh(h W + b) three times; gradients w.r.t. the start, W and b."""
    rng = np.random.default_rng(4)

    def rnn(h0, w, b):
        return tf.while_loop(lambda t, h: t < 3, lambda t, h: (t + 1, tf.tanh(h @ w + b)),
                             (tf.constant(0), h0))[1]

    check_gradients(rnn, [rng.standard_normal((2, 3)), 0.5 * rng.standard_normal((3, 3)),
                          rng.standard_normal(3)])


def test_while_loop_gradient_reuses_each_iteration_s_random_draw() -> None:
    x = tf.placeholder(tf.float32, [None])
    _, out = tf.while_loop(lambda t, h: t < 2, lambda t, h: (t + 1, tf.nn.dropout(h, 0.5)),
                           (tf.constant(0), x))
    (g,) = tf.gradients(tf.reduce_sum(out), [x])
    values = np.arange(1.0, 401.0, dtype=np.float32)
    with tf.Session() as sess:
        dropped, grad = sess.run([out, g], {x: values})
    assert 0 < np.count_nonzero(dropped) < len(values)
    np.testing.assert_allclose(grad, dropped / values, rtol=1e-6)


def test_cond_inside_a_loop_and_its_gradient() -> None:
    x = tf.placeholder(tf.float32, [])
    # doubles while below 10, else adds 1: from 3: 6, 12, 13
    _, y = tf.while_loop(lambda t, y: t < 3, lambda t, y: (
        t + 1, tf.cond(y < 10.0, lambda: y * 2.0, lambda: y + 1.0)), (tf.constant(0), x))
    (g,) = tf.gradients(y, [x])
    with tf.Session() as sess:
        assert sess.run([y, g], {x: 3.0}) == [13.0, 4.0]


def test_back_prop_false_gives_no_gradient() -> None:
    x = tf.placeholder(tf.float32, [])
    y = tf.while_loop(lambda v: v < 10.0, lambda v: v * 2.0, [x], back_prop=False)
    assert tf.gradients(y, [x]) == [None]


def test_bad_loops_are_refused_at_build_time() -> None:
    start = tf.constant(0)
    with pytest.raises(ValueError, match="boolean scalar"):
        tf.while_loop(lambda i: i, lambda i: i + 1, [start])
    with pytest.raises(TypeError, match="after one iteration"):
        tf.while_loop(lambda i: i < 3, lambda i: tf.cast(i, tf.float32), [start])
    with pytest.raises(ValueError, match="shape_invariants"):
        tf.while_loop(lambda a: tf.size(a) < 3, lambda a: tf.concat([a, a], 0), [tf.zeros([1])])
    with pytest.raises(ValueError, match="structure of loop_vars"):
        tf.while_loop(lambda i, j: i < 3, lambda i, j: [i + 1], [start, start])
    with pytest.raises(TypeError, match="maximum_iterations"):
        tf.while_loop(lambda i: i < 3, lambda i: i + 1, [start], maximum_iterations=-1)
    with pytest.raises(ValueError, match=r"enters the loop with shape \[2\]"):
        tf.while_loop(lambda a: tf.size(a) < 3, lambda a: a, [tf.zeros([2])],
                      shape_invariants=[tf.TensorShape([3])])


def test_exclusive_case_refuses_two_true_predicates_at_run_time() -> None:
    x = tf.placeholder(tf.int32, [])
    out = tf.case([(x > 0, lambda: tf.constant(1)), (x > 5, lambda: tf.constant(2))],
                  default=lambda: tf.constant(0), exclusive=True)
    with tf.Session() as sess:
        assert [sess.run(out, {x: v}) for v in (3, -1)] == [1, 0]
        with pytest.raises(tf.errors.InvalidArgumentError, match="more than one"):
            sess.run(out, {x: 9})


# -- nesting, second derivatives, run-time limits -------------------------------------------------
def _counting(counter: tf.Variable, value_fn):
    """A branch function that adds 1 to `counter` each time it runs."""
    def branch():
        with tf.control_dependencies([tf.assign_add(counter, 1)]):
            return value_fn()
    return branch


def test_nested_cond_gradient_runs_only_the_taken_inner_branch() -> None:
    p, q, x = tf.placeholder(tf.bool, []), tf.placeholder(tf.bool, []), tf.placeholder(tf.float32)
    untaken = tf.Variable(0)
    y = tf.cond(p, lambda: tf.cond(q, lambda: x * x, _counting(untaken, lambda: x * 5.0)),
                lambda: x)
    (g,) = tf.gradients(y, [x])
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        assert sess.run([y, g], {p: True, q: True, x: 2.0}) == [4.0, 4.0]
        assert sess.run(untaken) == 0
        assert sess.run([y, g], {p: True, q: False, x: 2.0}) == [10.0, 5.0]
        assert sess.run(untaken) == 1


def test_second_derivative_of_a_cond_runs_the_branch_once() -> None:
    p, x = tf.placeholder(tf.bool, []), tf.placeholder(tf.float32, [])
    runs = tf.Variable(0)
    y = tf.cond(p, _counting(runs, lambda: x * x * x), lambda: x * 2.0)
    (g,) = tf.gradients(y, [x])
    (h,) = tf.gradients(g, [x])
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        assert sess.run([y, g, h], {p: True, x: 2.0}) == [8.0, 12.0, 12.0]
        assert sess.run(runs) == 1
        assert sess.run([y, g, h], {p: False, x: 2.0}) == [4.0, 2.0, 0.0]
        assert sess.run(runs) == 1  # the true branch did not run


def test_nested_while_loop_gradient() -> None:
    x = tf.placeholder(tf.float32, [])

    def outer(i, a):  # multiplies by x twice per outer step: x ** 6 after three steps
        _, b = tf.while_loop(lambda j, b: j < 2, lambda j, b: (j + 1, b * x), (0, a))
        return i + 1, b

    _, y = tf.while_loop(lambda i, a: i < 3, outer, (0, tf.constant(1.0)))
    (g,) = tf.gradients(y, [x])
    with tf.Session() as sess:
        got = sess.run([y, g], {x: 1.5})
    np.testing.assert_allclose(got, [1.5 ** 6, 6 * 1.5 ** 5], rtol=1e-6)


def test_while_loop_inside_a_cond_and_its_gradient() -> None:
    p, x = tf.placeholder(tf.bool, []), tf.placeholder(tf.float32, [])

    def cube():
        return tf.while_loop(lambda i, a: i < 2, lambda i, a: (i + 1, a * x), (0, x))[1]

    y = tf.cond(p, cube, lambda: x * 2.0)
    (g,) = tf.gradients(y, [x])
    with tf.Session() as sess:
        assert sess.run([y, g], {p: True, x: 2.0}) == [8.0, 12.0]
        assert sess.run([y, g], {p: False, x: 2.0}) == [4.0, 2.0]


def test_second_order_gradient_of_a_while_loop_is_refused_as_in_tf() -> None:
    x = tf.placeholder(tf.float32, [])
    y = tf.while_loop(lambda a: a < 100.0, lambda a: a * x, [x])
    (g,) = tf.gradients(y, [x])
    with pytest.raises(TypeError, match="Second-order gradient for while loops"):
        tf.gradients(g, [x])


def test_maximum_iterations_may_be_a_tensor() -> None:
    """TF 1.x decoders pass `maximum_iterations=tf.shape(x)[1]` or a fed limit."""
    x, n = tf.placeholder(tf.float32, []), tf.placeholder(tf.int32, [])
    y = tf.while_loop(lambda a: a < 1e9, lambda a: a * x, [x], maximum_iterations=n)
    (g,) = tf.gradients(y, [x])
    with tf.Session() as sess:
        assert sess.run([y, g], {x: 2.0, n: 2}) == [8.0, 12.0]
        assert sess.run([y, g], {x: 2.0, n: 0}) == [2.0, 1.0]
        with pytest.raises(tf.errors.InvalidArgumentError, match="maximum_iterations"):
            sess.run(y, {x: 2.0, n: -1})
    with pytest.raises(TypeError, match="maximum_iterations"):
        tf.while_loop(lambda a: a < 1.0, lambda a: a, [x], maximum_iterations=tf.constant(1.5))


def test_singleton_lists_are_unpacked_unless_strict() -> None:
    """TF 1.x: a branch returning [x] gives x (non-strict mode), as does tf.case."""
    p = tf.placeholder(tf.bool, [])
    one, two = tf.constant(1), tf.constant(2)
    plain = tf.cond(p, lambda: [one], lambda: (two,))
    mixed = tf.cond(p, lambda: [one], lambda: two)
    strict = tf.cond(p, lambda: [one], lambda: [two], strict=True)
    case = tf.case([(p, lambda: [one])], default=lambda: [two])
    assert isinstance(plain, tf.Tensor) and isinstance(mixed, tf.Tensor)
    assert isinstance(case, tf.Tensor)
    assert isinstance(strict, list) and len(strict) == 1
    with tf.Session() as sess:
        assert sess.run([plain, mixed, strict[0], case], {p: False}) == [2, 2, 2, 2]


def test_case_without_default_fails_when_no_predicate_holds() -> None:
    """TF 1.x: the last function stands in for the default, guarded by its predicate, so
    that no true predicate fails the run instead of quietly taking the last function."""
    x = tf.placeholder(tf.int32, [])
    out = tf.case([(tf.equal(x, 1), lambda: tf.constant(10)), (tf.equal(x, 2), lambda: 20)])
    alone = tf.case([(x > 0, lambda: x)])
    with tf.Session() as sess:
        assert [sess.run(out, {x: 1}), sess.run(out, {x: 2}), sess.run(alone, {x: 4})] == \
            [10, 20, 4]
        for fetch in (out, alone):
            with pytest.raises(tf.errors.InvalidArgumentError, match="None of conditions"):
                sess.run(fetch, {x: -5})


def _nested_loops(a, b):
    def outer(i, h):
        _, inner = tf.while_loop(lambda j, g: j < 2, lambda j, g: (j + 1, tf.tanh(g * b)), (0, h))
        return i + 1, inner + a
    return tf.while_loop(lambda i, h: i < 2, outer, (0, a))[1]


def _loop_in_cond(a, b):
    def loop():
        return tf.while_loop(lambda i, h: i < 3, lambda i, h: (i + 1, tf.sin(h) * b), (0, a))[1]
    return tf.cond(tf.reduce_sum(a) > 0, loop, lambda: a * b)


@pytest.mark.parametrize("build", [_nested_loops, _loop_in_cond])
def test_numerical_gradient_through_nested_control_flow(build) -> None:
    rng = np.random.default_rng(5)
    check_gradients(build, [np.abs(rng.standard_normal((2, 3))), rng.standard_normal(3)])


def test_tensors_from_inside_a_cond_or_loop_cannot_be_fetched_from_outside() -> None:
    p = tf.placeholder(tf.bool, [])
    inner: list[tf.Tensor] = []

    def branch() -> tf.Tensor:
        inner.append(tf.constant(2.0) * 3.0)
        return inner[-1]

    y = tf.cond(p, branch, lambda: tf.constant(0.0))
    tf.while_loop(lambda i: i < 3, lambda i: inner.append(i * 2) or i + 1, [tf.constant(0)])
    with tf.Session() as sess:
        assert sess.run(y, {p: True}) == 6.0
        for tensor in inner:
            with pytest.raises(tf.errors.InvalidArgumentError, match=r"inside a tf\.cond branch"):
                sess.run(tensor * 1, {p: True})
