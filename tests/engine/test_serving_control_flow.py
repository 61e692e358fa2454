"""Snapshots with control flow: tf.cond and tf.while_loop (RNNs) export, load and serve, and
hostile control-flow nodes are refused with a clear error."""

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import engine as tf
from engine.saved_model import opset
from engine.saved_model.format import SnapshotError

RNG = np.random.default_rng(3)


def _export(tmp_path: Path, inputs: dict, outputs: dict, feed: dict) -> tuple[str, dict]:
    """Save the graph's signature and return (path, the values the live session gave)."""
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        want = sess.run(outputs, {inputs[k]: v for k, v in feed.items()})
        path = tf.saved_model.save(sess, str(tmp_path / "model"), inputs, outputs)
    return path, want


def _same(path: str, feed: dict, want: dict) -> None:
    got = tf.saved_model.load(path).predict(feed)
    for key, value in want.items():
        np.testing.assert_allclose(got[key], value, rtol=1e-6, atol=1e-6)


def test_a_cond_on_a_fed_flag_serves_both_branches(tmp_path: Path) -> None:
    x = tf.placeholder(tf.float32, [None, 3], name="x")
    flag = tf.placeholder(tf.bool, [], name="flag")
    y = tf.cond(flag, lambda: tf.nn.relu(x) * 2.0, lambda: -x)
    for value in (True, False):
        feed = {"x": RNG.standard_normal((2, 3)).astype(np.float32), "flag": np.array(value)}
        path, want = _export(tmp_path, {"x": x, "flag": flag}, {"y": y}, feed)
        _same(path, feed, want)


def test_a_dynamic_rnn_with_fed_lengths_serves_the_same_numbers(tmp_path: Path) -> None:
    x = tf.placeholder(tf.float32, [None, None, 3], name="x")
    lengths = tf.placeholder(tf.int32, [None], name="lengths")
    outputs, state = tf.nn.dynamic_rnn(tf.nn.rnn_cell.LSTMCell(4), x, sequence_length=lengths,
                                       dtype=tf.float32)
    feed = {"x": RNG.standard_normal((3, 5, 3)).astype(np.float32),
            "lengths": np.array([5, 2, 4], np.int32)}
    path, want = _export(tmp_path, {"x": x, "lengths": lengths},
                         {"outputs": outputs, "h": state.h}, feed)
    _same(path, feed, want)
    doc = json.loads((Path(path) / "model.json").read_text())
    assert "While" in doc["opset"]


def test_a_keras_lstm_model_saves_and_serves(tmp_path: Path) -> None:
    keras = tf.keras
    model = keras.Sequential([keras.layers.Embedding(12, 4, input_length=6),
                              keras.layers.LSTM(5, return_sequences=True),
                              keras.layers.GRU(3), keras.layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    tokens = RNG.integers(0, 12, (4, 6))
    want = model.predict(tokens)
    path = model.save(str(tmp_path / "lstm"))
    predictor = tf.saved_model.load(path)
    (name,) = predictor.signature["inputs"]
    (output,) = predictor.signature["outputs"]
    np.testing.assert_allclose(predictor.predict({name: tokens.astype(np.float32)})[output],
                               want, rtol=1e-6, atol=1e-6)


def test_a_nested_loop_inside_a_cond_round_trips(tmp_path: Path) -> None:
    n = tf.placeholder(tf.int32, [], name="n")
    x = tf.placeholder(tf.float32, [None], name="x")

    def doubled_n_times():
        return tf.while_loop(lambda i, v: i < n, lambda i, v: (i + 1, v * 2.0),
                             (tf.constant(0), x))[1]

    y = tf.cond(n > 0, doubled_n_times, lambda: x - 1.0)
    for steps in (3, 0):
        feed = {"n": np.array(steps, np.int32), "x": np.array([1.0, -2.0], np.float32)}
        path, want = _export(tmp_path, {"n": n, "x": x}, {"y": y}, feed)
        _same(path, feed, want)


def _saved_loop(tmp_path: Path) -> Path:
    """A loop doubling x until it passes a fed bound."""
    x = tf.placeholder(tf.float32, [], name="x")
    bound = tf.placeholder(tf.float32, [], name="bound")
    y = tf.while_loop(lambda v: v < bound, lambda v: v * 2.0, [x])
    path, _ = _export(tmp_path, {"x": x, "bound": bound}, {"y": y},
                      {"x": np.float32(1.0), "bound": np.float32(5.0)})
    return Path(path)


def test_a_served_loop_that_runs_too_long_stops_with_an_error(tmp_path: Path,
                                                              monkeypatch) -> None:
    path = _saved_loop(tmp_path)
    monkeypatch.setattr(opset, "MAX_LOOP_ITERATIONS", 50)
    predictor = tf.saved_model.load(str(path))
    assert predictor.predict({"x": np.float32(1.0), "bound": np.float32(100.0)})["y"] == 128.0
    with pytest.raises(tf.errors.InvalidArgumentError, match="more than 50 iterations"):
        predictor.predict({"x": np.float32(0.0), "bound": np.float32(1.0)})  # 0 * 2 < 1


def _loop_node(doc: dict) -> dict:
    return next(n for n in doc["nodes"] if n["op"] == "While")


def _body_op(doc: dict) -> dict:
    loop = _loop_node(doc)
    return next(n for n in doc["nodes"] if n["name"] == loop["attrs"]["body"]["ops"][-1])


def _retype_loop_var(doc: dict) -> None:
    """A loop variable that says it is int32 throughout: its declaration is consistent, but
    the body and the loop's initial value are float32."""
    var = next(n for n in doc["nodes"]
               if n["name"] + ":0" == _loop_node(doc)["attrs"]["loop_vars"][0])
    var["attrs"]["dtype"] = var["outputs"][0]["dtype"] = "int32"


HOSTILE: list[tuple[str, Callable[[dict], object], str]] = [
    ("consistently retyped loop variable", _retype_loop_var, "cannot be rebuilt"),
    ("subgraph reads a tensor from outside", lambda d: _body_op(d)["inputs"].__setitem__(
        0, "x:0"), "neither made in the body nor an input"),
    ("subgraph op that is not an earlier node", lambda d: _loop_node(d)["attrs"]["body"][
        "ops"].append("nowhere"), "distinct, earlier nodes"),
    ("loop variable that is not a placeholder", lambda d: _loop_node(d)["attrs"][
        "loop_vars"].__setitem__(0, _body_op(d)["name"] + ":0"), "not a Placeholder"),
    ("body gives too many results", lambda d: _loop_node(d)["attrs"]["body"]["outputs"].append(
        _loop_node(d)["attrs"]["body"]["outputs"][0]), "results"),
    ("no loop variables", lambda d: _loop_node(d)["attrs"].__setitem__("loop_vars", []),
     "one or more loop variables"),
    ("huge iteration count", lambda d: _loop_node(d)["attrs"].__setitem__(
        "maximum_iterations", 1 << 40), "out of range"),
    ("subgraph with unknown keys", lambda d: _loop_node(d)["attrs"]["cond"].__setitem__(
        "code", "print(1)"), "unknown key"),
    ("condition that is not a boolean", lambda d: _loop_node(d)["attrs"]["cond"].__setitem__(
        "outputs", _loop_node(d)["attrs"]["loop_vars"]), "boolean scalar"),
    ("loop variable of another dtype", lambda d: next(
        n for n in d["nodes"] if n["name"] + ":0" == _loop_node(d)["attrs"]["loop_vars"][0])[
        "attrs"].__setitem__("dtype", "int32"), "declares outputs float32"),
]


@pytest.mark.parametrize(("label", "edit", "match"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_control_flow_nodes_are_refused(tmp_path: Path, label: str,
                                                edit: Callable[[dict], object],
                                                match: str) -> None:
    path = _saved_loop(tmp_path)
    doc = json.loads((path / "model.json").read_text())
    edit(doc)
    (path / "model.json").write_text(json.dumps(doc))
    with pytest.raises(SnapshotError, match=match):
        tf.saved_model.load(str(path))
