"""Keras's SimpleRNN, LSTM and GRU: Keras's weights, formulas and parameter counts."""

import numpy as np
import pytest

import engine as tf

keras = tf.keras
RNG = np.random.default_rng(5)


def _hard_sigmoid(v: np.ndarray) -> np.ndarray:
    return np.clip(0.2 * v + 0.5, 0.0, 1.0)


def _run(layer, x: np.ndarray):
    """The layer's output(s) on x, and its weights by name, in a fresh session."""
    out = layer(tf.constant(x))
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        weights = {v.op.name.rsplit("/", 1)[-1]: sess.run(v) for v in layer.weights}
        return sess.run(out), weights


@pytest.mark.parametrize(("layer", "gates"), [(keras.layers.SimpleRNN, 1),
                                               (keras.layers.LSTM, 4), (keras.layers.GRU, 3)])
def test_parameter_counts_and_weights_follow_keras(layer, gates) -> None:
    model = keras.Sequential([layer(6, input_shape=(5, 3))])
    assert model.count_params() == gates * (6 * (3 + 6) + 6)
    assert [w.shape.as_list() for w in model.weights] == [[3, 6 * gates], [6, 6 * gates],
                                                          [6 * gates]]


def test_recurrent_kernel_starts_orthogonal_and_the_lstm_forget_bias_at_one() -> None:
    _, weights = _run(keras.layers.LSTM(4), RNG.standard_normal((2, 3, 2)).astype(np.float32))
    u = weights["recurrent_kernel"]  # [4, 16]: orthonormal rows
    np.testing.assert_allclose(u @ u.T, np.eye(4), atol=1e-5)
    np.testing.assert_array_equal(weights["bias"], np.r_[np.zeros(4), np.ones(4), np.zeros(8)])


def test_lstm_steps_match_keras_formulas() -> None:
    x = RNG.standard_normal((2, 3, 2)).astype(np.float32)
    (out, h, c), w = _run(keras.layers.LSTM(4, return_state=True), x)
    want_h, want_c = np.zeros((2, 4)), np.zeros((2, 4))
    for t in range(3):
        z = x[:, t] @ w["kernel"] + want_h @ w["recurrent_kernel"] + w["bias"]
        i, f, g, o = np.split(z, 4, axis=1)
        want_c = _hard_sigmoid(f) * want_c + _hard_sigmoid(i) * np.tanh(g)
        want_h = _hard_sigmoid(o) * np.tanh(want_c)
    np.testing.assert_allclose(c, want_c, atol=1e-5)
    np.testing.assert_allclose(h, want_h, atol=1e-5)
    np.testing.assert_array_equal(out, h)


def test_gru_sequences_match_keras_formulas() -> None:
    x = RNG.standard_normal((2, 3, 2)).astype(np.float32)
    seq, w = _run(keras.layers.GRU(3, return_sequences=True), x)
    assert seq.shape == (2, 3, 3)
    h = np.zeros((2, 3))
    u_z, u_r, u_h = np.split(w["recurrent_kernel"], 3, axis=1)
    for t in range(3):
        x_z, x_r, x_h = np.split(x[:, t] @ w["kernel"] + w["bias"], 3, axis=1)
        z, r = _hard_sigmoid(x_z + h @ u_z), _hard_sigmoid(x_r + h @ u_r)
        h = z * h + (1 - z) * np.tanh(x_h + (r * h) @ u_h)
        np.testing.assert_allclose(seq[:, t], h, atol=1e-5)


def test_go_backwards_reads_the_sequence_reversed() -> None:
    x = RNG.standard_normal((2, 4, 3)).astype(np.float32)
    out, w = _run(keras.layers.SimpleRNN(3, go_backwards=True), x)
    h = np.zeros((2, 3))
    for t in reversed(range(4)):
        h = np.tanh(x[:, t] @ w["kernel"] + h @ w["recurrent_kernel"] + w["bias"])
    np.testing.assert_allclose(out, h, atol=1e-5)


def test_an_lstm_model_learns_whether_a_token_occurs() -> None:
    rng = np.random.default_rng(0)
    tokens = rng.integers(2, 10, (300, 8))
    hit = rng.random(300) < 0.5
    tokens[hit, rng.integers(0, 8, hit.sum())] = 1
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.layers.Embedding(10, 8, input_length=8),
                              keras.layers.LSTM(16),
                              keras.layers.Dense(2, activation="softmax")])
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(tokens, hit.astype(np.int32), epochs=15, batch_size=32, verbose=0)
    assert model.evaluate(tokens, hit.astype(np.int32), verbose=0)[1] > 0.9


def test_unsupported_options_say_so() -> None:
    with pytest.raises(ValueError, match="dropout"):
        keras.layers.LSTM(4, dropout=0.2)
    with pytest.raises(ValueError, match="stateful"):
        keras.layers.GRU(4, stateful=True)
    with pytest.raises(ValueError, match="ndim=3"):
        keras.Sequential([keras.layers.LSTM(4, input_shape=(3,))])


def test_a_static_rnn_exports_and_serves(tmp_path) -> None:
    """A fixed number of steps, unrolled: no loop in the served graph."""
    x = tf.placeholder(tf.float32, [None, 3, 2], name="x")
    outputs, _ = tf.nn.static_rnn(tf.nn.rnn_cell.LSTMCell(4), tf.unstack(x, axis=1),
                                  dtype=tf.float32)
    value = RNG.standard_normal((2, 3, 2)).astype(np.float32)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        want = sess.run(outputs[-1], {x: value})
        tf.saved_model.save(sess, str(tmp_path / "m"), {"x": x}, {"h": outputs[-1]})
    got = tf.saved_model.load(str(tmp_path / "m")).predict({"x": value})["h"]
    np.testing.assert_allclose(got, want, atol=1e-6)
