"""Graphs and Sessions: the seed examples, fetch/feed structure, isolation and errors."""

import warnings

import numpy as np
import pytest

import engine as tf


# -- the five seed examples ---------------------------------------------------------------------
def test_add_two_constants() -> None:
    with tf.Session() as sess:
        assert sess.run(tf.add(tf.constant(1), tf.constant(2))) == 3


def test_counter_variable_counts_up() -> None:
    cnt = tf.Variable(0, name="counter")
    inc = tf.constant(1)
    update = tf.assign(cnt, tf.add(cnt, inc))
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        assert [int(sess.run(update)) for _ in range(3)] == [1, 2, 3]
        assert sess.run(cnt) == 3


def test_placeholder_fed_through_feed_dict() -> None:
    x = tf.placeholder(tf.int32)
    doubled = x * 2
    with tf.Session() as sess:
        assert sess.run(doubled, feed_dict={x: 1}) == 2
        assert sess.run(doubled, feed_dict={x: 3}) == 6


def test_two_sessions_count_independently() -> None:
    cnt = tf.Variable(0)
    update = tf.assign_add(cnt, 1)
    first, second = tf.Session(), tf.Session()
    first.run(cnt.initializer)
    second.run(cnt.initializer)
    for _ in range(3):
        first.run(update)
    second.run(update)
    assert first.run(cnt) == 3
    assert second.run(cnt) == 1


def test_matrix_addition() -> None:
    total = tf.constant([[1, 2], [1, 2]]) + tf.constant([[3, 4], [3, 4]])
    with tf.Session() as sess:
        np.testing.assert_array_equal(sess.run(total), [[4, 6], [4, 6]])


# -- graph building -----------------------------------------------------------------------------
def test_unique_names_and_scopes(fresh_graph: tf.Graph) -> None:
    a = tf.constant(1.0)
    b = tf.constant(2.0)
    assert (a.name, b.name) == ("Const:0", "Const_1:0")
    with tf.name_scope("layer"):
        c = tf.add(a, b)
    with tf.name_scope("layer"):
        d = tf.add(a, b)
    assert c.name == "layer/Add:0"
    assert d.name == "layer_1/Add:0"
    assert fresh_graph.get_tensor_by_name("layer/Add:0") is c
    assert fresh_graph.get_operation_by_name("layer_1/Add") is d.op


def test_static_shapes_with_unknown_batch() -> None:
    x = tf.placeholder(tf.float32, [None, 784])
    w = tf.Variable(np.zeros((784, 10), np.float32))
    y = tf.matmul(x, w)
    assert y.get_shape().as_list() == [None, 10]
    assert y.shape[1].value == 10
    assert y.dtype == tf.float32


def test_shape_clash_raises_at_build_time() -> None:
    with pytest.raises(ValueError, match=r"Dimensions must be equal, but are 3 and 4 for "
                                         r"'MatMul' \(op: 'MatMul'\) with input shapes: "
                                         r"\[2,3\], \[4,5\]"):
        tf.matmul(tf.zeros_like(tf.constant(np.ones((2, 3)))), tf.constant(np.ones((4, 5))))


def test_dtype_mismatch_raises_type_error() -> None:
    with pytest.raises(TypeError, match="float64 that does not match type float32"):
        tf.add(tf.constant(1.0), tf.constant(np.float64(2.0)))


def test_python_scalars_take_the_tensor_dtype() -> None:
    x = tf.constant(np.array([1.0, 2.0], np.float64))
    assert (x * 2).dtype == tf.float64
    with tf.Session() as sess:
        np.testing.assert_array_equal(sess.run(2 * x + 1), [3.0, 5.0])


def test_tensor_cannot_be_used_as_bool() -> None:
    with pytest.raises(TypeError, match="Python `bool`"):
        bool(tf.constant(1))


# -- running ------------------------------------------------------------------------------------
def test_nested_fetch_structures_and_operations() -> None:
    a, b = tf.constant(1), tf.constant(2)
    op = tf.group(a, b)
    with tf.Session() as sess:
        result = sess.run({"x": [a, (b, a)], "op": op, "name": "Const_1:0"})
    assert result == {"x": [1, (2, 1)], "op": None, "name": 2}


def test_each_tensor_runs_once_per_call() -> None:
    counter = tf.Variable(0)
    bump = tf.assign_add(counter, 1)
    with tf.Session() as sess:
        sess.run(counter.initializer)
        sess.run([bump, bump, bump * 2])
        assert sess.run(counter) == 1


def test_only_the_needed_subgraph_runs() -> None:
    x = tf.placeholder(tf.float32)
    unrelated = x + 1
    needed = tf.constant(3.0) * 2
    with tf.Session() as sess:
        assert sess.run(needed) == 6.0  # x is not fed and not needed
        with pytest.raises(tf.errors.InvalidArgumentError):
            sess.run(unrelated)


def test_any_tensor_can_be_fed() -> None:
    a = tf.constant(2.0)
    b = a * 3
    c = b + 1
    with tf.Session() as sess:
        assert sess.run(c, {b: 10.0}) == 11.0
        assert sess.run(c) == 7.0


def test_plans_are_cached_per_fetch_and_feed_keys() -> None:
    x = tf.placeholder(tf.float32, [None])
    y = x * 2
    with tf.Session() as sess:
        for n in range(1, 4):
            sess.run(y, {x: np.ones(n)})
        assert len(sess._plans) == 1
        sess.run([y, x], {x: np.ones(1)})
        assert len(sess._plans) == 2


def test_long_chain_runs_without_recursion() -> None:
    x = tf.constant(0.0)
    for _ in range(100_000):
        x = tf.identity(x)
    y = x + 1
    with tf.Session() as sess:
        assert sess.run(y) == 1.0
        assert tf.gradients(y, [x])[0] is not None


def test_fetched_variable_value_is_a_copy() -> None:
    v = tf.Variable([1.0, 2.0])
    bump = tf.assign_add(v, [1.0, 1.0])
    with tf.Session() as sess:
        sess.run(v.initializer)
        before = sess.run(v)
        sess.run(bump)
        np.testing.assert_array_equal(before, [1.0, 2.0])


def test_control_dependencies_order_side_effects() -> None:
    v = tf.Variable(1.0)
    set_to_five = tf.assign(v, 5.0)
    with tf.control_dependencies([set_to_five]):
        read_after = tf.identity(v) * 1.0
    with tf.Session() as sess:
        sess.run(v.initializer)
        assert sess.run(read_after) == 5.0


def test_interactive_session_and_eval() -> None:
    x = tf.constant([1.0, 2.0])
    sess = tf.InteractiveSession()
    try:
        np.testing.assert_array_equal((x * 2).eval(), [2.0, 4.0])
        v = tf.Variable(3.0)
        v.initializer.run()
        assert v.eval() == 3.0
    finally:
        sess.close()
    with pytest.raises(ValueError, match="No default session"):
        x.eval()


def test_session_with_explicit_graph() -> None:
    other = tf.Graph()
    with other.as_default():
        c = tf.constant(5)
    with tf.Session(graph=other) as sess:
        assert sess.run(c) == 5
        assert tf.get_default_graph() is other


# -- errors -------------------------------------------------------------------------------------
def test_unfed_placeholder_names_dtype_and_shape() -> None:
    x = tf.placeholder(tf.float32, [None, 3], name="images")
    with tf.Session() as sess, pytest.raises(
        tf.errors.InvalidArgumentError,
        match=r"You must feed a value for placeholder tensor 'images' with dtype float32 and "
              r"shape \[\?,3\]",
    ):
        sess.run(x * 2)


def test_wrong_feed_shape_is_value_error_before_running() -> None:
    x = tf.placeholder(tf.float32, [None, 3])
    v = tf.Variable(0)
    with tf.control_dependencies([tf.assign_add(v, 1)]):
        y = x * 2
    with tf.Session() as sess:
        sess.run(v.initializer)
        with pytest.raises(ValueError, match=r"Cannot feed value of shape \(2,\) for Tensor "
                                             r"'Placeholder:0', which has shape '\(\?, 3\)'"):
            sess.run(y, {x: [1.0, 2.0]})
        assert sess.run(v) == 0


def test_unconvertible_feed_is_value_error() -> None:
    x = tf.placeholder(tf.float32)
    with tf.Session() as sess, pytest.raises(ValueError, match="dtype float32"):
        sess.run(x, {x: "not a number"})


def test_uninitialized_variable_is_failed_precondition() -> None:
    v = tf.Variable(1.0, name="weights")
    with tf.Session() as sess, pytest.raises(
        tf.errors.FailedPreconditionError, match="uninitialized value weights"
    ):
        sess.run(v * 2)


def test_tensor_from_another_graph() -> None:
    other = tf.Graph()
    with other.as_default():
        foreign = tf.constant(1)
    with tf.Session() as sess, pytest.raises(ValueError, match="not an element of this graph"):
        sess.run(foreign)
    with pytest.raises(ValueError, match="same graph"):
        tf.add(tf.constant(1), foreign)


def test_fetching_non_graph_elements() -> None:
    with tf.Session() as sess:
        with pytest.raises(TypeError, match="Can not convert a int"):
            sess.run(3)
        with pytest.raises(TypeError, match="Fetch argument None"):
            sess.run(None)
        with pytest.raises(KeyError, match="does not exist"):
            sess.run("nothing:0")


def test_runtime_shape_error_is_invalid_argument_naming_the_op() -> None:
    a = tf.placeholder(tf.float32, [None, None])
    b = tf.placeholder(tf.float32, [None, None])
    product = tf.matmul(a, b, name="product")
    with tf.Session() as sess, pytest.raises(tf.errors.InvalidArgumentError, match="product"):
        sess.run(product, {a: np.ones((2, 3)), b: np.ones((4, 2))})


def test_closed_session_refuses_to_run() -> None:
    sess = tf.Session()
    sess.close()
    with pytest.raises(RuntimeError, match="closed Session"):
        sess.run(tf.constant(1))


def test_gpu_placement_without_cupy_is_a_clear_error() -> None:
    if tf.gpu_available():
        pytest.skip("a GPU is available here")
    with tf.device("/gpu:0"):
        y = tf.constant(1.0) + 1.0
    with tf.Session() as sess, pytest.raises(tf.errors.InvalidArgumentError, match="/gpu:0"):
        sess.run(y)


# -- gradients ----------------------------------------------------------------------------------
def test_gradients_sum_over_paths_and_none_for_unconnected() -> None:
    x = tf.placeholder(tf.float32, [])
    y = x * x + x * 3.0
    unrelated = tf.placeholder(tf.float32, [])
    dx, du = tf.gradients(y, [x, unrelated])
    assert du is None
    with tf.Session() as sess:
        assert sess.run(dx, {x: 2.0}) == pytest.approx(7.0)


def test_stop_gradient_blocks_a_path() -> None:
    x = tf.placeholder(tf.float32, [])
    y = x * tf.stop_gradient(x)
    (dx,) = tf.gradients(y, [x])
    with tf.Session() as sess:
        assert sess.run(dx, {x: 3.0}) == pytest.approx(3.0)


def test_gradients_undo_broadcasting_with_runtime_batch() -> None:
    x = tf.placeholder(tf.float32, [None, 3])
    b = tf.Variable(np.zeros(3, np.float32))
    y = x + b
    (db,) = tf.gradients(y, [b])
    with tf.Session() as sess:
        sess.run(b.initializer)
        np.testing.assert_array_equal(sess.run(db, {x: np.ones((5, 3))}), [5.0, 5.0, 5.0])


def test_reflected_mod_and_xor_operators() -> None:
    t = tf.constant([3, 4])
    a, b = tf.constant([True, False]), tf.constant([True, True])
    with tf.Session() as sess:
        np.testing.assert_array_equal(sess.run(10 % t), [1, 2])
        np.testing.assert_array_equal(sess.run(a ^ b), [False, True])


def test_integer_paths_carry_no_gradient() -> None:
    x = tf.placeholder(tf.float32, [])
    n = tf.constant(3)
    y = tf.cast(n ** 2, tf.float32) * x
    dx, dn = tf.gradients(y, [x, n])
    assert dn is None
    with tf.Session() as sess:
        assert sess.run(dx, {x: 1.0}) == 9.0


# -- make_callable --------------------------------------------------------------------------------
def test_make_callable_feeds_in_order_and_keeps_the_fetch_structure() -> None:
    x = tf.placeholder(tf.float32, [None, 2])
    y = tf.placeholder(tf.float32, [])
    total = tf.reduce_sum(x) * y
    with tf.Session() as sess:
        single = sess.make_callable(total, [x, y])
        assert single([[1.0, 2.0]], 2.0) == 6.0
        nested = sess.make_callable({"t": [total, x], "op": tf.no_op()}, ["Placeholder_1:0", x])
        out = nested(3.0, np.ones((2, 2)))
        assert out["t"][0] == 12.0 and out["op"] is None
        np.testing.assert_array_equal(out["t"][1], np.ones((2, 2), np.float32))
        assert sess.make_callable([total, x], [x, y])(np.ones((1, 2)), 1.0)[0] == 2.0


def test_make_callable_compiles_once_and_shares_the_run_cache() -> None:
    x = tf.placeholder(tf.float32, [None])
    y = x * 2
    with tf.Session() as sess:
        call = sess.make_callable(y, [x])
        assert len(sess._plans) == 1
        for n in range(1, 4):
            np.testing.assert_array_equal(call(np.arange(n)), np.arange(n) * 2)
        sess.run(y, {x: [1.0]})
        assert len(sess._plans) == 1


def test_make_callable_errors() -> None:
    x = tf.placeholder(tf.float32, [None, 2])
    y = x + 1
    sess = tf.Session()
    call = sess.make_callable(y, [x])
    with pytest.raises(TypeError, match="takes 1 feed value"):
        call()
    with pytest.raises(ValueError, match="Cannot feed value of shape"):
        call(np.ones(3))
    with pytest.raises(ValueError, match="Cannot feed value"):
        call([["a", "b"]])
    with pytest.raises(TypeError, match="accept_options"):
        call(np.ones((1, 2)), options=object())
    assert sess.make_callable(y, [x], accept_options=True)(np.ones((1, 2)),
                                                           options=None).shape == (1, 2)
    with pytest.raises(ValueError, match="more than once"):
        sess.make_callable(y, [x, x])
    with pytest.raises(tf.errors.InvalidArgumentError, match="must feed"):
        sess.make_callable(y)()
    sess.close()
    with pytest.raises(RuntimeError, match="closed Session"):
        call(np.ones((1, 2)))


def test_inf_and_nan_are_computed_without_warnings() -> None:
    x = tf.placeholder(tf.float32, [2])
    y = tf.log(x) / x
    with tf.Session() as sess, warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not np.isfinite(sess.run(y, {x: [0.0, -1.0]})).any()
        assert not np.isfinite(sess.make_callable(y, [x])(np.zeros(2, np.float32))).any()
    assert np.geterr()["divide"] == "warn"  # the caller's numpy settings are untouched


def test_gradients_with_no_xs_is_empty() -> None:
    assert tf.gradients(tf.constant(1.0), []) == []


# -- compiled plans: straight-line code and buffer reuse ------------------------------------------
def _in_place_steps(sess: tf.Session) -> list[str]:
    """Op types whose step overwrites its first input, in the session's last compiled plan."""
    plan = list(sess._plans.values())[-1]
    return [op.type for (kernel, *_), op in zip(plan.steps, plan.ops, strict=True)
            if "in_place" in getattr(kernel, "__qualname__", "")]


def test_elementwise_ops_reuse_dead_fresh_buffers() -> None:
    x = tf.placeholder(tf.float32, [None, 3])
    w = tf.Variable(np.eye(3, dtype=np.float32) * -1.0)
    b = tf.Variable(np.array([1.0, 2.0, 3.0], np.float32))
    y = tf.nn.softmax(tf.nn.bias_add(tf.nn.relu(tf.matmul(x, w) + b), b))
    feed = np.array([[1.0, -1.0, 5.0]], np.float32)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        got = sess.run(y, {x: feed})
        assert _in_place_steps(sess) == ["Add", "Relu", "BiasAdd", "Softmax"]
        bias = np.array([1.0, 2.0, 3.0])
        h = np.maximum(feed @ -np.eye(3) + bias, 0) + bias
        np.testing.assert_allclose(got, np.exp(h) / np.exp(h).sum(), rtol=1e-6)
        # nothing the caller or the graph owns was written: feed, variables
        np.testing.assert_array_equal(feed, [[1.0, -1.0, 5.0]])
        np.testing.assert_array_equal(sess.run(b), [1.0, 2.0, 3.0])


def test_buffers_still_read_elsewhere_are_never_overwritten() -> None:
    """A fetched intermediate, one read by two ops, one viewed by a reshape, one whose values a
    gradient needs, a variable, a constant and a feed all keep their values."""
    x = tf.placeholder(tf.float32, [2, 2])
    v = tf.Variable([[1.0, -2.0], [-3.0, 4.0]])
    c = tf.constant([[-1.0, 1.0], [1.0, -1.0]])
    product = tf.matmul(x, x)  # fresh
    fetched = product + 1.0  # fetched below, and read by relu
    shared = tf.matmul(x, c)  # read by two ops
    viewed = tf.matmul(c, x)  # a reshape views it, and the view is read after the add
    view = tf.reshape(viewed, [4])
    needed = tf.matmul(x, v)  # Mul's gradient needs its values
    outputs = [
        fetched, tf.nn.relu(fetched),
        tf.nn.relu(shared), shared * 2.0,
        view * 1.0, tf.reshape(viewed + 10.0, [4]), view * 3.0,
        tf.gradients(tf.reduce_sum(needed * needed), x)[0],
        tf.nn.relu(v), tf.nn.relu(c), tf.nn.relu(x),
    ]
    feed = np.array([[1.0, -2.0], [3.0, -4.0]], np.float32)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        got = sess.run(outputs, {x: feed})
        tf.session.REUSE_BUFFERS = False
        try:
            with tf.Session() as plain:
                plain.run(tf.global_variables_initializer())
                want = plain.run(outputs, {x: feed})
        finally:
            tf.session.REUSE_BUFFERS = True
        for a, b in zip(got, want, strict=True):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(sess.run(v), [[1.0, -2.0], [-3.0, 4.0]])
        np.testing.assert_array_equal(feed, [[1.0, -2.0], [3.0, -4.0]])
        np.testing.assert_array_equal(sess.run(c), [[-1.0, 1.0], [1.0, -1.0]])


def test_broadcasting_that_grows_input_0_allocates() -> None:
    a = tf.placeholder(tf.float32, [None, 1])
    column = tf.matmul(a, tf.ones([1, 1]))  # fresh, (n, 1)
    grown = column + tf.constant([[1.0, 2.0, 3.0]])  # (n, 3): cannot reuse the (n, 1) buffer
    unknown = tf.matmul(a, tf.ones([1, 1])) + tf.placeholder_with_default([[1.0, 2.0]],
                                                                           [None, None])
    with tf.Session() as sess:
        np.testing.assert_array_equal(sess.run(grown, {a: [[1.0], [2.0]]}),
                                      [[2, 3, 4], [3, 4, 5]])
        assert _in_place_steps(sess) == []
        np.testing.assert_array_equal(sess.run(unknown, {a: [[1.0]]}), [[2.0, 3.0]])
        assert _in_place_steps(sess) == []


def test_a_cnn_training_step_is_the_same_with_and_without_buffer_reuse() -> None:
    rng = np.random.default_rng(0)
    images = rng.random((4, 8, 8, 1), dtype=np.float32)
    labels = np.eye(3, dtype=np.float32)[[0, 1, 2, 1]]

    def train() -> list[np.ndarray]:
        graph = tf.Graph()
        with graph.as_default():
            tf.set_random_seed(1)
            x = tf.placeholder(tf.float32, [None, 8, 8, 1])
            y = tf.placeholder(tf.float32, [None, 3])
            w1 = tf.Variable(tf.truncated_normal([3, 3, 1, 4], stddev=0.3))
            h = tf.nn.relu(tf.nn.conv2d(x, w1, [1, 1, 1, 1], "SAME") + tf.Variable(tf.ones([4])))
            h = tf.reshape(tf.nn.max_pool(h, [1, 2, 2, 1], [1, 2, 2, 1], "SAME"), [-1, 64])
            w2 = tf.Variable(tf.truncated_normal([64, 3], stddev=0.3))
            logits = tf.nn.relu(tf.matmul(h, w2)) - tf.Variable(tf.ones([3]))
            loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits_v2(labels=y,
                                                                              logits=logits))
            train_op = tf.train.AdamOptimizer(0.1).minimize(loss)
            with tf.Session() as sess:
                sess.run(tf.global_variables_initializer())
                for _ in range(3):
                    sess.run(train_op, {x: images, y: labels})
                assert "ReluGrad" in _in_place_steps(sess) or not tf.session.REUSE_BUFFERS
                return sess.run(tf.trainable_variables())

    reused = train()
    tf.session.REUSE_BUFFERS = False
    try:
        plain = train()
    finally:
        tf.session.REUSE_BUFFERS = True
    for a, b in zip(reused, plain, strict=True):
        np.testing.assert_array_equal(a, b)


def test_straight_line_and_loop_plans_agree_and_name_the_failing_node(
        monkeypatch: pytest.MonkeyPatch) -> None:
    x = tf.placeholder(tf.float32, [None, None])
    xt = tf.transpose(x)
    y = tf.matmul(tf.nn.relu(x) + 1.0, xt, name="product")
    feed = np.arange(6, dtype=np.float32).reshape(2, 3) - 2
    results = []
    for limit in (2000, 0):  # compiled to one function, then the loop for long plans
        monkeypatch.setattr(tf.session, "STRAIGHT_LINE_LIMIT", limit)
        with tf.Session() as sess:
            results.append(sess.run([y, x], {x: feed}))
            with pytest.raises(tf.errors.InvalidArgumentError,
                               match=r"node product \(op: MatMul\) with input shapes: "
                                     r"\(1, 3\), \(2, 1\)"):
                sess.run(y, {x: np.ones((1, 3), np.float32), xt: np.ones((2, 1), np.float32)})
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], feed)


def test_repeated_runs_keep_structure_and_checks() -> None:
    """`run` remembers resolved fetches and feed checks per (fetches, feed keys): repeats
    must still give each call's own structure, fresh lists and the feed errors."""
    import collections

    Pair = collections.namedtuple("Pair", "a b")
    x = tf.placeholder(tf.float32, [None, 2], name="x")
    y = tf.reduce_sum(x)
    z = x * 2.0
    xb = np.ones((3, 2), np.float32)
    with tf.Session() as sess:
        for _ in range(3):
            first = sess.run([y, z], {x: xb})
            assert isinstance(first, list) and first[0] == 6.0
            assert sess.run([y, z], {x: xb}) is not first
            assert type(sess.run((y, z), {x: xb})) is tuple
            assert type(sess.run(Pair(y, z), {x: xb})) is Pair
            assert sess.run(y, {"x:0": xb}) == 6.0
            assert sess.run({"s": y}, {x: xb}) == {"s": 6.0}
            with pytest.raises(ValueError, match="Cannot feed value of shape"):
                sess.run(y, {x: np.ones((3, 3), np.float32)})
        assert sess.run(y, {x: [[1.0, 2.0]]}) == 3.0  # lists still convert
    with pytest.raises(RuntimeError, match="closed Session"):
        sess.run(y, {x: xb})


# -- autopacking: lists that hold tensors become one tensor ---------------------------------------
def test_lists_mixing_tensors_and_literals_pack_into_a_tensor() -> None:
    x = tf.placeholder(tf.float32, [None, 3])
    n = tf.shape(x)[0]
    t = tf.placeholder(tf.float32, [])
    shifted = tf.add(x, [1.0, 2.0, t])  # the literals take t's dtype
    grown = tf.concat([tf.zeros([2]), [t]], 0)
    with tf.Session() as sess:
        dims, shifted_v, grown_v = sess.run([tf.convert_to_tensor([[n, 1], [2, n]]), shifted,
                                             grown], {x: np.zeros((4, 3)), t: 5.0})
        np.testing.assert_array_equal(dims, [[4, 1], [2, 4]])
        np.testing.assert_array_equal(shifted_v, np.tile([1.0, 2.0, 5.0], (4, 1)))
        np.testing.assert_array_equal(grown_v, [0.0, 0.0, 5.0])
        (g,) = tf.gradients(tf.reduce_sum(shifted), [t])
        assert sess.run(g, {x: np.zeros((4, 3)), t: 5.0}) == 4.0  # one per row


def test_packing_mismatched_dtypes_says_so() -> None:
    with pytest.raises((TypeError, ValueError), match=r"int32|float32"):
        tf.convert_to_tensor([tf.constant(1), tf.constant(2.0)])
