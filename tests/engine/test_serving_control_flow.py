"""Snapshots with control flow: tf.cond and tf.while_loop (RNNs) export, load and serve, and
hostile control-flow nodes are refused with a clear error."""

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import engine as tf
from engine.saved_model import opset, schema
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


def test_a_cond_in_a_loop_reading_the_loop_variable_round_trips(tmp_path: Path) -> None:
    """Legal nesting: the branches read the outer loop's variables and a fed tensor, which
    reach them as the cond's inputs."""
    n = tf.placeholder(tf.int32, [], name="n")
    x = tf.placeholder(tf.float32, [None], name="x")

    def body(k, v):
        return k + 1, tf.cond(tf.equal(k % 2, 0), lambda: v * 2.0 + x, lambda: v - 1.0)

    y = tf.while_loop(lambda k, v: k < n, body, (tf.constant(0), x))[1]
    feed = {"n": np.array(5, np.int32), "x": np.array([1.0, -2.0], np.float32)}
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


# -- more hostile control flow: each of these loaded, or failed with an internal error, before --
def _saved_two_loops(tmp_path: Path) -> Path:
    """Two loops side by side: one with a fed limit, one with a fixed one."""
    x = tf.placeholder(tf.float32, [], name="x")
    m = tf.placeholder(tf.int32, [], name="m")
    y = tf.while_loop(lambda v: v < 1e30, lambda v: v + 1.0, [x], maximum_iterations=m)
    z = tf.while_loop(lambda v: v < 1e30, lambda v: v + 1.0, [x], maximum_iterations=3)
    path, _ = _export(tmp_path, {"x": x, "m": m}, {"y": y, "z": z},
                      {"x": np.float32(0.0), "m": np.int32(2)})
    return Path(path)


def _saved_loop_in_cond(tmp_path: Path) -> Path:
    n = tf.placeholder(tf.int32, [], name="n")
    x = tf.placeholder(tf.float32, [None], name="x")
    y = tf.cond(n > 0, lambda: tf.while_loop(lambda i, v: i < n, lambda i, v: (i + 1, v * 2.0),
                                             (tf.constant(0), x))[1], lambda: x - 1.0)
    path, _ = _export(tmp_path, {"n": n, "x": x}, {"y": y},
                      {"n": np.int32(2), "x": np.ones(2, np.float32)})
    return Path(path)


def _named(doc: dict, name: str) -> dict:
    return next(n for n in doc["nodes"] if n["name"] == name)


def _cond_node(doc: dict) -> dict:
    return next(n for n in doc["nodes"] if n["op"] == "Cond")


def _loop_var_is(ref: str) -> Callable[[dict], None]:
    """The loop's variable replaced by `ref` (a Placeholder from outside) everywhere."""
    def edit(doc: dict) -> None:
        loop = _loop_node(doc)
        old = loop["attrs"]["loop_vars"][0]
        loop["attrs"]["loop_vars"] = [ref]
        for node in doc["nodes"]:
            node["inputs"] = [ref if r == old else r for r in node["inputs"]]
    return edit


def _sign(key: str, ref: str, side: str = "outputs") -> Callable[[dict], None]:
    def edit(doc: dict) -> None:
        doc["signatures"]["serving_default"][side][key] = {"tensor": ref, "dtype": "float32",
                                                          "shape": []}
    return edit


def _read_after_cond(doc: dict) -> None:
    """A node after the cond reading a branch's result (which exists only while it runs)."""
    doc["nodes"].append({"name": "late", "op": "Neg", "inputs": ["cond/false_fn/Sub:0"],
                         "attrs": {}, "outputs": [{"dtype": "float32", "shape": [None]}]})
    doc["signatures"]["serving_default"]["outputs"]["late"] = {
        "tensor": "late:0", "dtype": "float32", "shape": [None]}
    doc["opset"].append("Neg")


def _duplicate_loop_var(doc: dict) -> None:
    loop = _loop_node(doc)
    loop["attrs"]["loop_vars"] *= 2
    loop["attrs"]["body"]["outputs"] *= 2
    loop["inputs"].insert(0, "x:0")
    loop["outputs"] *= 2


def _too_deep(doc: dict) -> None:
    """Conds nested one level deeper than allowed, each listing the one inside it."""
    cond = {"inputs": ["Greater:0", "Greater:0", "x:0"], "op": "Cond",
            "outputs": [{"dtype": "float32", "shape": [None]}]}
    inner = None
    for k in range(schema.MAX_NESTING + 1):
        true = {"ops": [inner], "outputs": [inner + ":0"]} if inner else \
            {"ops": [], "outputs": ["x:0"]}
        doc["nodes"].append({**cond, "name": f"deep{k}", "attrs": {
            "true_fn": true, "false_fn": {"ops": [], "outputs": ["x:0"]}}})
        inner = f"deep{k}"


MORE_HOSTILE: list[tuple[str, Callable[[Path], Path], Callable[[dict], object], str]] = [
    ("same nodes in condition and body", _saved_loop, lambda d: _loop_node(d)["attrs"]["cond"][
        "ops"].extend(_loop_node(d)["attrs"]["body"]["ops"]), "both"),
    ("loop variable is a signature input", _saved_loop, _loop_var_is("x:0"), "also an input"),
    ("loop variable is a captured tensor", _saved_loop, _loop_var_is("bound:0"),
     "also an input"),
    ("two loop variables name one placeholder", _saved_loop, _duplicate_loop_var,
     "distinct"),
    ("a captured tensor given twice", _saved_loop, lambda d: _loop_node(d)["inputs"].append(
        "bound:0"), "twice"),
    ("signature input is a loop variable", _saved_loop, _sign("v", "while/loop_var:0",
                                                             "inputs"), "made inside"),
    ("node after the cond reads its branch", _saved_loop_in_cond, _read_after_cond,
     "made inside"),
    ("body lists a signature placeholder", _saved_loop, lambda d: _loop_node(d)["attrs"][
        "body"]["ops"].insert(0, "bound"), "Placeholder"),
    ("body lists its own loop variable", _saved_loop, lambda d: _loop_node(d)["attrs"][
        "body"]["ops"].insert(0, "while/loop_var"), "belongs to"),
    ("negative maximum_iterations", _saved_loop, lambda d: _loop_node(d)["attrs"].__setitem__(
        "maximum_iterations", -3), "negative"),
    ("fed limit without its input", _saved_loop, lambda d: _loop_node(d)["attrs"].__setitem__(
        "fed_limit", True), "maximum_iterations tensor"),
    ("fed limit that is a float", _saved_loop, lambda d: (
        _loop_node(d)["attrs"].__setitem__("fed_limit", True),
        _loop_node(d)["inputs"].append("x:0")), "integer scalar"),
    ("two loops share a body node", _saved_two_loops, lambda d: _named(d, "while_1/While")[
        "attrs"]["body"]["ops"].insert(0, "while/body/Const"), "belongs to"),
    ("cond predicate that is not a boolean", _saved_loop_in_cond, lambda d: _cond_node(d)[
        "inputs"].__setitem__(0, "n:0"), "boolean scalar"),
    ("branch gives a tensor of its nested loop's body", _saved_loop_in_cond,
     lambda d: _cond_node(d)["attrs"]["true_fn"].__setitem__(
         "outputs", ["cond/true_fn/while/body/Mul:0"]), "neither made in the true_fn"),
    ("branch lists a nested loop's op but not the loop", _saved_loop_in_cond,
     lambda d: _cond_node(d)["attrs"]["true_fn"]["ops"].remove("cond/true_fn/while/While"),
     "belongs to"),
    ("conds nested too deeply", _saved_loop_in_cond, _too_deep, "nested"),
    ("signature output is a loop variable", _saved_loop, _sign("v", "while/loop_var:0"),
     "made inside"),
    ("body result past its node's outputs", _saved_loop, lambda d: _loop_node(d)["attrs"][
        "body"].__setitem__("outputs", ["while/body/Mul:1"]), "has only 1 output"),
    ("variant declared as a loop's output", _saved_loop, lambda d: _loop_node(d)[
        "outputs"].append({"dtype": "variant", "shape": []}), "unknown dtype"),
    ("variant in a signature", _saved_loop, lambda d: d["signatures"]["serving_default"][
        "outputs"]["y"].__setitem__("dtype", "variant"), "unknown dtype"),
]


@pytest.mark.parametrize(("label", "base", "edit", "match"), MORE_HOSTILE,
                         ids=[h[0] for h in MORE_HOSTILE])
def test_more_hostile_control_flow_is_refused(tmp_path: Path, label: str,
                                              base: Callable[[Path], Path],
                                              edit: Callable[[dict], object],
                                              match: str) -> None:
    path = base(tmp_path)
    doc = json.loads((path / "model.json").read_text())
    edit(doc)
    (path / "model.json").write_text(json.dumps(doc))
    with pytest.raises(SnapshotError, match=match):
        tf.saved_model.load(str(path))


def test_a_cond_without_results_loads_and_is_never_run(tmp_path: Path) -> None:
    """Pointless but harmless: nothing can read it, so no plan runs it."""
    path = _saved_loop(tmp_path)
    doc = json.loads((path / "model.json").read_text())
    empty = {"ops": [], "outputs": []}
    flag = {"dtype": "bool", "shape": []}
    doc["nodes"] += [{"name": "flag", "op": "Placeholder", "inputs": [], "attrs": flag,
                      "outputs": [flag]},
                     {"name": "empty", "op": "Cond", "inputs": ["flag:0"],
                      "attrs": {"true_fn": empty, "false_fn": empty}, "outputs": []}]
    doc["opset"].append("Cond")
    (path / "model.json").write_text(json.dumps(doc))
    predictor = tf.saved_model.load(str(path))
    assert predictor.predict({"x": np.float32(1.0), "bound": np.float32(5.0)})["y"] == 8.0


def test_deeply_nested_conds_within_the_limit_load_and_run(tmp_path: Path) -> None:
    """The deepest nesting allowed compiles and runs without hitting Python's recursion
    limit (sub-plans are compiled and run recursively)."""
    path = _saved_loop_in_cond(tmp_path)
    doc = json.loads((path / "model.json").read_text())
    _too_deep(doc)
    doc["nodes"].pop()
    top = doc["nodes"][-1]["name"]
    doc["signatures"]["serving_default"]["outputs"]["y"]["tensor"] = top + ":0"
    (path / "model.json").write_text(json.dumps(doc))
    got = tf.saved_model.load(str(path)).predict({"n": np.int32(1), "x": np.ones(2, np.float32)})
    np.testing.assert_array_equal(got["y"], [1.0, 1.0])


def test_fed_and_fixed_limits_round_trip(tmp_path: Path) -> None:
    path = _saved_two_loops(tmp_path)
    loops = [n for n in json.loads((path / "model.json").read_text())["nodes"]
             if n["op"] == "While"]
    assert [(n["attrs"]["maximum_iterations"], n["attrs"]["fed_limit"]) for n in loops] == \
        [(None, True), (3, False)]
    assert loops[0]["inputs"][-1] == "m:0"
    predictor = tf.saved_model.load(str(path))
    got = predictor.predict({"x": np.float32(0.0), "m": np.int32(5)})
    assert (got["y"], got["z"]) == (5.0, 3.0)
    with pytest.raises(tf.errors.InvalidArgumentError, match="must be >= 0"):
        predictor.predict({"x": np.float32(0.0), "m": np.int32(-1)})


def test_nested_served_loops_share_the_iteration_limit(tmp_path: Path, monkeypatch) -> None:
    """A loop inside a loop would otherwise run MAX_LOOP_ITERATIONS squared times."""
    x = tf.placeholder(tf.float32, [], name="x")
    n = tf.placeholder(tf.int32, [], name="n")

    def outer_body(i, v):
        return i + 1, tf.while_loop(lambda j, w: j < n, lambda j, w: (j + 1, w + 1.0),
                                    (tf.constant(0), v))[1]

    y = tf.while_loop(lambda i, v: i < n, outer_body, (tf.constant(0), x))[1]
    path, _ = _export(tmp_path, {"x": x, "n": n}, {"y": y},
                      {"x": np.float32(0.0), "n": np.int32(2)})
    monkeypatch.setattr(opset, "MAX_LOOP_ITERATIONS", 50)
    predictor = tf.saved_model.load(path)
    assert predictor.predict({"x": np.float32(0.0), "n": np.int32(6)})["y"] == 36.0
    with pytest.raises(tf.errors.InvalidArgumentError, match="more than 50 iterations"):
        predictor.predict({"x": np.float32(0.0), "n": np.int32(8)})  # 8 + 64 iterations


def test_a_served_loop_whose_values_keep_growing_stops_with_an_error(tmp_path: Path,
                                                                     monkeypatch) -> None:
    """A body doubling its value would exhaust memory long before the iteration limit."""
    x = tf.placeholder(tf.float32, [None], name="x")
    y = tf.while_loop(lambda v: tf.size(v) > 0, lambda v: tf.concat([v, v], 0), [x],
                      shape_invariants=[tf.TensorShape([None])], maximum_iterations=3)
    path, _ = _export(tmp_path, {"x": x}, {"y": y}, {"x": np.ones(2, np.float32)})
    doc = json.loads((Path(path) / "model.json").read_text())
    _loop_node(doc)["attrs"]["maximum_iterations"] = None  # hostile: no limit of its own
    (Path(path) / "model.json").write_text(json.dumps(doc))
    monkeypatch.setattr(opset, "MAX_LOOP_BYTES", 1 << 20)
    predictor = tf.saved_model.load(path)
    with pytest.raises(tf.errors.ResourceExhaustedError, match="bytes"):
        predictor.predict({"x": np.ones(2, np.float32)})


def test_loops_one_after_another_share_a_predictions_limit(tmp_path: Path,
                                                          monkeypatch) -> None:
    """Each loop its own limit would let many loops multiply it."""
    path = _saved_two_loops(tmp_path)  # m iterations, then 3
    monkeypatch.setattr(opset, "MAX_LOOP_ITERATIONS", 10)
    predictor = tf.saved_model.load(str(path))
    assert predictor.predict({"x": np.float32(0.0), "m": np.int32(7)})["y"] == 7.0
    with pytest.raises(tf.errors.InvalidArgumentError, match="more than 10 iterations"):
        predictor.predict({"x": np.float32(0.0), "m": np.int32(8)})
    assert predictor.predict({"x": np.float32(0.0), "m": np.int32(7)})["z"] == 3.0  # afresh


def test_a_loop_with_a_big_body_runs_fewer_iterations(tmp_path: Path, monkeypatch) -> None:
    """The limit on ops the loops run bounds the time a big body takes per iteration."""
    path = _saved_loop(tmp_path)  # 3 ops an iteration: the condition's Less, Const and Mul
    monkeypatch.setattr(opset, "MAX_LOOP_OPS", 30)
    predictor = tf.saved_model.load(str(path))
    assert predictor.predict({"x": np.float32(1.0), "bound": np.float32(1000.0)})["y"] == 1024
    with pytest.raises(tf.errors.InvalidArgumentError, match="more than 30 ops"):
        predictor.predict({"x": np.float32(1.0), "bound": np.float32(2000.0)})


def test_too_many_conds_and_loops_are_refused(tmp_path: Path, monkeypatch) -> None:
    """Each compiles sub-plans at load: their number bounds loading time and memory."""
    path = _saved_two_loops(tmp_path)
    monkeypatch.setattr(schema, "MAX_CONTROL_FLOW", 1)
    with pytest.raises(SnapshotError, match="more than 1 Cond and While nodes"):
        tf.saved_model.load(str(path))


def test_an_einsum_attention_model_serves_and_a_hostile_equation_is_refused(
        tmp_path: Path) -> None:
    q = tf.placeholder(tf.float32, [None, 4, 8], name="q")
    weights = tf.Variable(RNG.standard_normal((8, 8)).astype(np.float32))
    keys = tf.einsum("bqd,de->bqe", q, weights)
    scores = tf.nn.softmax(tf.einsum("bqd,bkd->bqk", q, keys) / 8.0)
    out = tf.einsum("bqk,bkd->bqd", scores, q)
    feed = {"q": RNG.standard_normal((2, 4, 8)).astype(np.float32)}
    path, want = _export(tmp_path, {"q": q}, {"out": out}, feed)
    _same(path, feed, want)
    doc = json.loads((Path(path) / "model.json").read_text())
    node = next(n for n in doc["nodes"] if n["op"] == "Einsum")
    for equation, match in (("bqd,de->bqe; import os", "not an einsum equation"),
                            ("ab,bc->ad", "cannot be rebuilt")):
        node["attrs"]["equation"] = equation
        (Path(path) / "model.json").write_text(json.dumps(doc))
        with pytest.raises(SnapshotError, match=match):
            tf.saved_model.load(path)
