"""Recurrent cells and dynamic_rnn/static_rnn: TF 1.x's formulas, names and behaviour."""

import numpy as np
import pytest

import engine as tf
from tests.engine.gradcheck import check_gradients

RNG = np.random.default_rng(11)


def _sigmoid(v: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-v))


def _values(sess: tf.Session) -> dict[str, np.ndarray]:
    return {v.op.name: sess.run(v) for v in tf.global_variables()}


def _one_step(cell, depth: int = 3, batch: int = 2):
    x = RNG.standard_normal((batch, depth)).astype(np.float32)
    state = cell.zero_state(batch, tf.float32)
    out, new = cell(tf.constant(x), state)
    return x, out, new


def test_basic_rnn_cell_is_tanh_of_one_dense_layer() -> None:
    x, out, new = _one_step(tf.nn.rnn_cell.BasicRNNCell(4))
    assert out is new
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        w = _values(sess)
        np.testing.assert_allclose(sess.run(out), np.tanh(
            np.concatenate([x, np.zeros((2, 4))], 1) @ w["basic_rnn_cell/kernel"]
            + w["basic_rnn_cell/bias"]), rtol=1e-5, atol=1e-6)


def test_lstm_step_follows_tf_gate_order_and_forget_bias() -> None:
    cell = tf.nn.rnn_cell.BasicLSTMCell(4, forget_bias=1.0)
    x = RNG.standard_normal((2, 3)).astype(np.float32)
    c0 = RNG.standard_normal((2, 4)).astype(np.float32)
    h0 = RNG.standard_normal((2, 4)).astype(np.float32)
    out, (c, h) = cell(tf.constant(x), tf.nn.rnn_cell.LSTMStateTuple(tf.constant(c0),
                                                                     tf.constant(h0)))
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        w = _values(sess)
        assert set(w) == {"basic_lstm_cell/kernel", "basic_lstm_cell/bias"}
        assert w["basic_lstm_cell/kernel"].shape == (7, 16)
        z = np.concatenate([x, h0], 1) @ w["basic_lstm_cell/kernel"] + w["basic_lstm_cell/bias"]
        i, j, f, o = np.split(z, 4, axis=1)
        want_c = _sigmoid(f + 1.0) * c0 + _sigmoid(i) * np.tanh(j)
        want_h = _sigmoid(o) * np.tanh(want_c)
        got_out, got_c, got_h = sess.run([out, c, h])
    np.testing.assert_allclose(got_c, want_c, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_h, want_h, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(got_out, got_h)


def test_gru_step_with_gate_biases_starting_at_one() -> None:
    x, out, _ = _one_step(tf.nn.rnn_cell.GRUCell(4))
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        w = _values(sess)
        np.testing.assert_array_equal(w["gru_cell/gates/bias"], np.ones(8))
        h = np.zeros((2, 4))
        gates = _sigmoid(np.concatenate([x, h], 1) @ w["gru_cell/gates/kernel"]
                         + w["gru_cell/gates/bias"])
        r, u = np.split(gates, 2, axis=1)
        candidate = np.tanh(np.concatenate([x, r * h], 1) @ w["gru_cell/candidate/kernel"]
                            + w["gru_cell/candidate/bias"])
        np.testing.assert_allclose(sess.run(out), u * h + (1 - u) * candidate, rtol=1e-5, atol=1e-6)


def test_lstm_cell_with_peepholes_projection_and_clipping() -> None:
    cell = tf.nn.rnn_cell.LSTMCell(5, use_peepholes=True, cell_clip=0.5, num_proj=2)
    assert cell.state_size == (5, 2) and cell.output_size == 2
    _, out, (c, h) = _one_step(cell)
    assert out is h and out.shape.as_list() == [2, 2] and c.shape.as_list() == [2, 5]
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        assert {"lstm_cell/w_f_diag", "lstm_cell/projection/kernel"} <= set(_values(sess))
        assert np.abs(sess.run(c)).max() <= 0.5


def test_dynamic_rnn_matches_static_rnn_with_sequence_lengths() -> None:
    x = tf.placeholder(tf.float32, [None, 5, 3])
    lengths = tf.placeholder(tf.int32, [None])
    cell = tf.nn.rnn_cell.BasicLSTMCell(4)
    outputs, state = tf.nn.dynamic_rnn(cell, x, sequence_length=lengths, dtype=tf.float32)
    steps, static_state = tf.nn.static_rnn(cell, tf.unstack(x, axis=1), dtype=tf.float32,
                                           sequence_length=lengths)
    weights = tf.trainable_variables()
    assert [v.op.name for v in weights] == ["rnn/basic_lstm_cell/kernel",
                                            "rnn/basic_lstm_cell/bias"]  # one set, shared
    grads = tf.gradients(tf.reduce_sum(outputs ** 2), weights)
    static_grads = tf.gradients(tf.reduce_sum(tf.stack(steps, 1) ** 2), weights)
    feed = {x: RNG.standard_normal((3, 5, 3)), lengths: [5, 2, 0]}
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        got = sess.run([outputs, state.h, grads], feed)
        want = sess.run([tf.stack(steps, 1), static_state.h, static_grads], feed)
        two_steps = sess.run(tf.nn.static_rnn(cell, tf.unstack(x, axis=1)[:2],
                                              dtype=tf.float32)[1].h, feed)
    np.testing.assert_allclose(got[0], want[0], atol=1e-6)
    np.testing.assert_allclose(got[1], want[1], atol=1e-6)
    for g, w in zip(got[2], want[2], strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    assert not got[0][1, 2:].any() and not got[0][2].any()  # past the end: zeros
    np.testing.assert_allclose(got[1][1], two_steps[1], atol=1e-6)  # state kept from step 2


def test_time_major_and_batch_major_agree() -> None:
    x = RNG.standard_normal((2, 4, 3)).astype(np.float32)
    with tf.variable_scope("a"):
        batch_major, _ = tf.nn.dynamic_rnn(tf.nn.rnn_cell.GRUCell(3), x, dtype=tf.float32)
    with tf.variable_scope("a", reuse=True):
        time_major, _ = tf.nn.dynamic_rnn(tf.nn.rnn_cell.GRUCell(3), x.transpose(1, 0, 2),
                                          dtype=tf.float32, time_major=True)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        a, b = sess.run([batch_major, time_major])
    np.testing.assert_allclose(a, b.transpose(1, 0, 2), atol=1e-6)


def test_numerical_gradient_through_dynamic_rnn() -> None:
    def build(inputs, start):
        cell = tf.nn.rnn_cell.GRUCell(2, kernel_initializer=tf.constant_initializer(0.3))
        out, state = tf.nn.dynamic_rnn(cell, inputs, initial_state=start)
        return tf.reduce_sum(out, 1) + state

    check_gradients(build, [RNG.standard_normal((2, 3, 2)), RNG.standard_normal((2, 2))])


def test_stacked_cells_with_dropout_wrappers() -> None:
    keep = tf.placeholder_with_default(1.0, [])
    cells = [tf.nn.rnn_cell.DropoutWrapper(tf.nn.rnn_cell.BasicLSTMCell(4),
                                           output_keep_prob=keep) for _ in range(2)]
    stacked = tf.nn.rnn_cell.MultiRNNCell(cells)
    x = tf.constant(RNG.standard_normal((2, 3, 3)).astype(np.float32))
    outputs, (_, second) = tf.nn.dynamic_rnn(stacked, x, dtype=tf.float32)
    names = sorted(v.op.name for v in tf.trainable_variables())
    assert names == [f"rnn/multi_rnn_cell/cell_{i}/basic_lstm_cell/{w}"
                     for i in (0, 1) for w in ("bias", "kernel")]
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        kept, dropped = sess.run(outputs), sess.run(outputs, {keep: 0.5})
        np.testing.assert_allclose(kept[:, -1], sess.run(second.h), atol=1e-6)
    assert not np.allclose(kept, dropped)


def test_bidirectional_backward_pass_reads_each_sequence_reversed() -> None:
    x = RNG.standard_normal((2, 4, 3)).astype(np.float32)
    lengths = [4, 2]
    (fw, bw), _ = tf.nn.bidirectional_dynamic_rnn(
        tf.nn.rnn_cell.GRUCell(3), tf.nn.rnn_cell.GRUCell(3), x, sequence_length=lengths,
        dtype=tf.float32)
    reversed_x = x.copy()
    reversed_x[0] = x[0, ::-1]
    reversed_x[1, :2] = x[1, 1::-1]
    with tf.variable_scope("bidirectional_rnn", reuse=True):
        alone, _ = tf.nn.dynamic_rnn(tf.nn.rnn_cell.GRUCell(3, name="gru_cell"), reversed_x,
                                     sequence_length=lengths, dtype=tf.float32, scope="bw")
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        got_bw, want = sess.run([bw, alone])
        assert sess.run(fw).shape == (2, 4, 3)
    np.testing.assert_allclose(got_bw[0], want[0, ::-1], atol=1e-6)
    np.testing.assert_allclose(got_bw[1, :2], want[1, 1::-1], atol=1e-6)
    assert not got_bw[1, 2:].any()


def test_an_lstm_learns_the_sign_of_a_running_sum() -> None:
    rng = np.random.default_rng(0)
    data = rng.standard_normal((256, 6, 1)).astype(np.float32)
    labels = (data.sum(axis=(1, 2)) > 0).astype(np.int32)
    tf.set_random_seed(2)
    x = tf.placeholder(tf.float32, [None, 6, 1])
    y = tf.placeholder(tf.int32, [None])
    _, state = tf.nn.dynamic_rnn(tf.nn.rnn_cell.LSTMCell(8), x, dtype=tf.float32)
    logits = tf.layers.dense(state.h, 2)
    loss = tf.losses.sparse_softmax_cross_entropy(y, logits)
    train = tf.train.AdamOptimizer(0.02).minimize(loss)
    correct = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(logits, 1, output_type=tf.int32), y),
                                     tf.float32))
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for _ in range(150):
            sess.run(train, {x: data, y: labels})
        assert sess.run(correct, {x: data, y: labels}) > 0.9


def test_bad_rnn_calls_say_what_to_fix() -> None:
    cell = tf.nn.rnn_cell.BasicRNNCell(2)
    with pytest.raises(ValueError, match="dtype"):
        tf.nn.dynamic_rnn(cell, tf.zeros([2, 3, 4]))
    with pytest.raises(ValueError, match="rank 3"):
        tf.nn.dynamic_rnn(cell, tf.zeros([2, 3]), dtype=tf.float32)
    with pytest.raises(ValueError, match="last dimension"):
        tf.nn.dynamic_rnn(cell, tf.placeholder(tf.float32, [2, 3, None]), dtype=tf.float32)
    with pytest.raises(TypeError, match="list"):
        tf.nn.static_rnn(cell, tf.zeros([2, 3]), dtype=tf.float32)
    with pytest.raises(ValueError, match="at least one cell"):
        tf.nn.rnn_cell.MultiRNNCell([])


def test_bidirectional_variables_have_tf_checkpoint_names() -> None:
    x = tf.placeholder(tf.float32, [2, 5, 3])
    tf.nn.bidirectional_dynamic_rnn(tf.nn.rnn_cell.LSTMCell(4), tf.nn.rnn_cell.LSTMCell(4), x,
                                    dtype=tf.float32)
    assert [v.op.name for v in tf.trainable_variables()] == [
        f"bidirectional_rnn/{d}/lstm_cell/{w}" for d in ("fw", "bw") for w in ("kernel", "bias")]


def test_dynamic_rnn_outputs_keep_the_known_time_dimension() -> None:
    """TF's static shapes: [batch, time, units] (time-major: [time, batch, units]) with
    whatever of them the inputs' shape gives; the state [batch, units]."""
    cases = [([4, 5, 3], False, [4, 5, 7]), ([5, 4, 3], True, [5, 4, 7]),
             ([None, 5, 3], False, [None, 5, 7]), ([2, None, 3], False, [2, None, 7])]
    steps = [tf.placeholder(tf.float32, [4, 3]) for _ in range(2)]
    outputs, state = tf.nn.static_rnn(tf.nn.rnn_cell.BasicLSTMCell(7), steps, dtype=tf.float32)
    assert [o.shape.as_list() for o in outputs] == [[4, 7]] * 2
    assert state.c.shape.as_list() == [4, 7]
    for i, (shape, time_major, want) in enumerate(cases):
        cell = tf.nn.rnn_cell.LSTMCell(9, num_proj=7)
        outputs, state = tf.nn.dynamic_rnn(cell, tf.placeholder(tf.float32, shape),
                                           dtype=tf.float32, time_major=time_major,
                                           scope=f"rnn_{i}")
        assert outputs.shape.as_list() == want
        batch = want[1] if time_major else want[0]
        assert state.c.shape.as_list() == [batch, 9]
        assert state.h.shape.as_list() == [batch, 7]


@pytest.mark.parametrize("steps", [0, 1])
def test_dynamic_rnn_over_zero_or_one_step_of_a_fed_length(steps: int) -> None:
    x = tf.placeholder(tf.float32, [2, None, 3])
    cell = tf.nn.rnn_cell.BasicLSTMCell(4)
    outputs, state = tf.nn.dynamic_rnn(cell, x, dtype=tf.float32)
    weights = tf.trainable_variables()
    grads = tf.gradients(tf.reduce_sum(outputs) + tf.reduce_sum(state.h), weights)
    values = RNG.standard_normal((2, steps, 3)).astype(np.float32)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        out, final, got = sess.run([outputs, state, grads], {x: values})
        if steps:
            _, want = cell(tf.constant(values[:, 0]), cell.zero_state(2, tf.float32))
            np.testing.assert_allclose(final.h, sess.run(want.h), atol=1e-6)
    assert out.shape == (2, steps, 4)
    if steps:
        np.testing.assert_array_equal(out[:, -1], final.h)
    else:  # the loop never ran: the zero state comes back
        assert not final.c.any() and not final.h.any()
    assert [g.shape for g in got] == [(7, 16), (16,)]
    assert all(g.any() for g in got) == bool(steps)


def test_a_cell_made_with_reuse_shares_the_weights_under_its_own_name() -> None:
    """The TF 1.x inference-graph idiom: a second cell with reuse=True finds the first one's
    variables (its scope is its name, not made unique)."""
    x = tf.placeholder(tf.float32, [2, 5, 3])
    train_out, _ = tf.nn.dynamic_rnn(tf.nn.rnn_cell.BasicLSTMCell(4), x, dtype=tf.float32,
                                     scope="decoder")
    infer_out, _ = tf.nn.dynamic_rnn(tf.nn.rnn_cell.BasicLSTMCell(4, reuse=True), x,
                                     dtype=tf.float32, scope="decoder")
    assert [v.op.name for v in tf.global_variables()] == ["decoder/basic_lstm_cell/kernel",
                                                          "decoder/basic_lstm_cell/bias"]
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        a, b = sess.run([train_out, infer_out], {x: RNG.standard_normal((2, 5, 3))})
    np.testing.assert_array_equal(a, b)


def test_cells_take_tf_s_constructor_arguments() -> None:
    """TF 1.x's signatures: LSTMCell's shard counts come before forget_bias (scripts pass it
    by position), and every cell takes the dtype of its weights."""
    x = tf.constant(RNG.standard_normal((2, 3)).astype(np.float32))
    one = tf.constant_initializer(0.1)
    by_position = tf.nn.rnn_cell.LSTMCell(4, False, None, one, None, None, None, None, 3.0)
    by_name = tf.nn.rnn_cell.LSTMCell(4, initializer=one, forget_bias=3.0,
                                      num_unit_shards=None, num_proj_shards=None)
    h = [cell(x, cell.zero_state(2, tf.float32))[0] for cell in (by_position, by_name)]
    doubles = [cls(3, dtype=tf.float64) for cls in (tf.nn.rnn_cell.BasicRNNCell,
                                                    tf.nn.rnn_cell.BasicLSTMCell,
                                                    tf.nn.rnn_cell.GRUCell)]
    wide = tf.cast(x, tf.float64)
    for cell in doubles:
        cell(wide, cell.zero_state(2, tf.float64))
    made = {v.op.name.split("/")[0]: v.dtype for v in tf.global_variables()}
    assert made == {"lstm_cell": tf.float32, "lstm_cell_1": tf.float32,
                    "basic_rnn_cell": tf.float64, "basic_lstm_cell": tf.float64,
                    "gru_cell": tf.float64}
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        a, b = sess.run(h)
    np.testing.assert_array_equal(a, b)
