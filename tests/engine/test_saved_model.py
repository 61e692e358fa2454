"""Servable snapshots: export, load (also in a fresh process), predict, and hostile files."""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pytest

import engine as tf
from engine.registry import lookup, registered_types
from engine.saved_model import SnapshotError
from engine.saved_model.opset import OPS
from engine.saved_model.weights import default_file

ROOT = Path(__file__).resolve().parents[2]


# -- models ---------------------------------------------------------------------------------------
class Model(NamedTuple):
    sess: tf.Session
    inputs: dict[str, tf.Tensor]
    outputs: dict[str, tf.Tensor]
    batch: np.ndarray  # for the one input
    feed: dict[tf.Tensor, Any]  # what sess.run needs for inference: the batch, keep_prob = 1


def _mlp(steps: int = 3) -> Model:
    """A 2-layer MLP with dropout, trained a few steps with Adam (slots, global step)."""
    rng = np.random.default_rng(0)
    x = tf.placeholder(tf.float32, [None, 4], name="x")
    labels = tf.placeholder(tf.int64, [None], name="labels")
    keep_prob = tf.placeholder(tf.float32, [], name="keep_prob")
    w1 = tf.Variable(rng.normal(size=(4, 8)).astype(np.float32), name="hidden/W")
    b1 = tf.Variable(np.zeros(8, np.float32), name="hidden/b")
    w2 = tf.Variable(rng.normal(size=(8, 3)).astype(np.float32), name="out/W")
    b2 = tf.Variable(np.zeros(3, np.float32), name="out/b")
    hidden = tf.nn.dropout(tf.nn.relu(tf.matmul(x, w1) + b1), keep_prob=keep_prob)
    logits = tf.nn.bias_add(tf.matmul(hidden, w2), b2)
    probs = tf.nn.softmax(logits / 2.0)  # the temperature is a small inline Const
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels,
                                                                         logits=logits))
    step = tf.train.get_or_create_global_step()
    train = tf.train.AdamOptimizer(0.05).minimize(loss, global_step=step)
    sess = tf.Session()
    sess.run(tf.global_variables_initializer())
    xb = rng.normal(size=(16, 4)).astype(np.float32)
    for _ in range(steps):
        sess.run(train, {x: xb, labels: rng.integers(0, 3, 16), keep_prob: 0.5})
    outputs = {"probs": probs, "classes": tf.argmax(logits, 1)}
    return Model(sess, {"x": x}, outputs, xb, {x: xb, keep_prob: 1.0})


def _cnn() -> Model:
    """conv -> relu -> max pool -> dense, trained a few steps with momentum."""
    rng = np.random.default_rng(1)
    images = tf.placeholder(tf.float32, [None, 8, 8, 1], name="images")
    labels = tf.placeholder(tf.float32, [None, 2], name="labels")
    kernel = tf.Variable(tf.truncated_normal([3, 3, 1, 4], stddev=0.3, seed=1), name="conv/W")
    conv = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(images, kernel, [1, 1, 1, 1], "SAME"),
                                     tf.Variable(tf.zeros([4]), name="conv/b")))
    pooled = tf.nn.max_pool(conv, [1, 2, 2, 1], [1, 2, 2, 1], "VALID")
    flat = tf.reshape(pooled, [-1, 4 * 4 * 4])
    dense = tf.Variable(tf.random_normal([64, 2], stddev=0.1, seed=2), name="dense/W")
    logits = tf.matmul(flat, dense)
    loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits_v2(labels=labels,
                                                                     logits=logits))
    train = tf.train.MomentumOptimizer(0.1, 0.9).minimize(loss)
    sess = tf.Session()
    sess.run(tf.global_variables_initializer())
    xb = rng.random((5, 8, 8, 1), dtype=np.float32)
    for _ in range(3):
        sess.run(train, {images: xb, labels: np.eye(2, dtype=np.float32)[[0, 1, 1, 0, 1]]})
    outputs = {"logits": logits, "probs": tf.nn.softmax(logits)}
    return Model(sess, {"images": images}, outputs, xb, {images: xb})


def _predict_in_fresh_process(path: Path, batch: np.ndarray, tmp_path: Path) -> dict:
    """Load and predict in a new interpreter: nothing may depend on the exporting process."""
    np.save(tmp_path / "batch.npy", batch)
    code = ("import sys, numpy as np, engine as tf; p = tf.saved_model.load(sys.argv[1]); "
            "np.savez(sys.argv[3], **p.predict(np.load(sys.argv[2])))")
    subprocess.run([sys.executable, "-c", code, str(path), str(tmp_path / "batch.npy"),
                    str(tmp_path / "out.npz")], cwd=ROOT, check=True, timeout=60)
    with np.load(tmp_path / "out.npz", allow_pickle=False) as out:
        return dict(out)


# -- round trips ----------------------------------------------------------------------------------
@pytest.mark.parametrize("build", [_mlp, _cnn], ids=["mlp", "cnn"])
def test_round_trip_in_a_fresh_process(build: Callable[[], Model], tmp_path: Path) -> None:
    model = build()
    expected = model.sess.run(model.outputs, model.feed)
    path = tf.saved_model.save(model.sess, tmp_path / "model", model.inputs, model.outputs)
    got = _predict_in_fresh_process(Path(path), model.batch, tmp_path)
    assert sorted(got) == sorted(model.outputs)
    for name, value in expected.items():
        assert got[name].dtype == value.dtype
        np.testing.assert_allclose(got[name], value, rtol=0, atol=1e-6, err_msg=name)


def test_only_the_inference_graph_is_exported(tmp_path: Path) -> None:
    sess, inputs, outputs, *_ = _mlp()
    path = Path(tf.saved_model.save(sess, tmp_path / "m", inputs, outputs,
                                    weights_format="safetensors"))
    doc = json.loads((path / "model.json").read_text())
    assert doc["format"] == "kumo-snapshot" and doc["format_version"] == 1
    assert set(doc["opset"]) == {"Placeholder", "Const", "MatMul", "Add", "Relu", "Identity",
                                 "BiasAdd", "RealDiv", "Softmax", "ArgMax"}
    assert sorted(doc["weights"]["tensors"]) == ["hidden_W", "hidden_b", "out_W", "out_b"]
    names = {n["name"] for n in doc["nodes"]}
    assert not any("Adam" in n or "global_step" in n or "labels" in n or "keep_prob" in n
                   for n in names)
    assert doc["signatures"]["serving_default"]["inputs"] == {
        "x": {"tensor": "x:0", "dtype": "float32", "shape": [None, 4]}}
    weights_bytes = sum(4 * np.prod(t["shape"]) for t in doc["weights"]["tensors"].values())
    assert weights_bytes == (4 * 8 + 8 + 8 * 3 + 3) * 4
    for node in doc["nodes"]:  # small graph Consts inline, trained values in the weights file
        if node["op"] == "Const":
            assert ("data" in node["attrs"]["value"]) == (node["name"] == "Const")


def test_snapshot_is_at_most_1_2x_its_float32_weights(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = tf.placeholder(tf.float32, [None, 784], name="x")
    h, raw = x, 0
    for m, n in [(784, 256), (256, 128), (128, 10)]:
        w, b = rng.normal(size=(m, n)).astype(np.float32), np.zeros(n, np.float32)
        raw += w.nbytes + b.nbytes
        h = tf.nn.relu(tf.matmul(h, tf.Variable(w)) + tf.Variable(b))
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for fmt in ("safetensors", "npz"):
            path = Path(tf.saved_model.save(sess, tmp_path / fmt, {"x": x}, {"y": h},
                                            weights_format=fmt))
            size = sum(f.stat().st_size for f in path.iterdir())
            assert size <= 1.2 * raw, (fmt, size, raw)


def test_dropout_and_keep_prob_export_deterministic(tmp_path: Path) -> None:
    x = tf.placeholder(tf.float32, [None, 50], name="x")
    keep_default = tf.placeholder_with_default(tf.constant(1.0), [], name="keep_default")
    fed_keep = tf.placeholder(tf.float32, [], name="keep_fed")
    a = tf.nn.dropout(x, keep_prob=fed_keep)
    b = tf.nn.dropout(x * 2.0, keep_prob=keep_default)
    c = tf.nn.dropout(x, rate=0.3, seed=3)
    with tf.Session() as sess:
        batch = np.random.default_rng(0).random((4, 50), dtype=np.float32)
        assert not np.array_equal(sess.run(a, {x: batch, fed_keep: 0.5}), batch)
        path = tf.saved_model.save(sess, tmp_path / "m", {"x": x}, {"a": a, "b": b, "c": c})
    doc = json.loads((Path(path) / "model.json").read_text())
    assert "Dropout" not in doc["opset"] and "keep_fed" not in {n["name"] for n in doc["nodes"]}
    predictor = tf.saved_model.load(path)
    first, second = predictor.predict(batch), predictor.predict(batch)
    for name, scale in (("a", 1), ("b", 2), ("c", 1)):
        np.testing.assert_array_equal(first[name], batch * scale)
        np.testing.assert_array_equal(first[name], second[name])


def test_a_placeholder_with_default_keeps_its_default(tmp_path: Path) -> None:
    x = tf.placeholder(tf.float32, [None], name="x")
    scale = tf.placeholder_with_default(tf.constant(3.0), [], name="scale")
    with tf.Session() as sess:
        path = tf.saved_model.save(sess, tmp_path / "m", {"x": x}, {"y": x * scale})
        both = tf.saved_model.save(sess, tmp_path / "both", {"x": x, "scale": scale},
                                   {"y": x * scale})
    np.testing.assert_array_equal(tf.saved_model.load(path).predict([1.0, 2.0])["y"], [3, 6])
    predictor = tf.saved_model.load(both)
    assert predictor.signature["inputs"]["scale"] == {"dtype": "float32", "shape": []}
    np.testing.assert_array_equal(predictor.predict({"x": [1.0], "scale": 5.0})["y"], [5.0])


def test_safetensors_and_npz_both_load(tmp_path: Path) -> None:
    sess, inputs, outputs, batch, _ = _mlp()
    results = {}
    for fmt in ("safetensors", "npz"):
        path = Path(tf.saved_model.save(sess, tmp_path / "m", inputs, outputs,
                                        weights_format=fmt))
        assert sorted(p.name for p in path.iterdir()) == ["model.json", f"variables.{fmt}"]
        results[fmt] = tf.saved_model.load(path).predict(batch)
    for name in outputs:
        np.testing.assert_array_equal(results["safetensors"][name], results["npz"][name])
    with np.load(path / "variables.npz", allow_pickle=False) as npz:
        assert sorted(npz.files) == ["hidden_W", "hidden_b", "out_W", "out_b"]


def test_safetensors_files_are_what_the_library_reads(tmp_path: Path) -> None:
    from safetensors.numpy import load

    sess, inputs, outputs, *_ = _mlp()
    path = Path(tf.saved_model.save(sess, tmp_path / "m", inputs, outputs,
                                    weights_format="safetensors"))
    tensors = load((path / "variables.safetensors").read_bytes())
    np.testing.assert_array_equal(tensors["hidden_W"], sess.run("hidden/W:0"))


def test_without_safetensors_installed_npz_is_written(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "safetensors", None)
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    assert default_file() == "variables.npz"
    x = tf.placeholder(tf.float32, [None], name="x")
    with tf.Session() as sess:
        path = Path(tf.saved_model.save(sess, tmp_path / "m", {"x": x}, {"y": x + 1}))
        with pytest.raises(ImportError, match="weights_format='npz'"):
            tf.saved_model.save(sess, tmp_path / "s", {"x": x}, {"y": x + 1},
                                weights_format="safetensors")
    assert (path / "variables.npz").is_file()
    np.testing.assert_array_equal(tf.saved_model.load(path).predict([1.0])["y"], [2.0])


def test_every_attr_round_trips_exactly(tmp_path: Path) -> None:
    """Attrs come back with the exact python types the OpDefs read: tuples vs lists, DType
    objects, None, ints vs floats; and the loaded graph computes what the original did."""
    rng = np.random.default_rng(0)
    img = tf.placeholder(tf.float32, [None, 6, 6, 2], name="img")
    vec = tf.placeholder(tf.float32, [None, 5], name="vec")
    ids = tf.placeholder(tf.int32, [None], name="ids")
    kernel = tf.constant(rng.normal(size=(3, 3, 2, 4)).astype(np.float32))
    conv = tf.nn.conv2d(img, kernel, [1, 1, 1, 1], "SAME", dilations=[1, 2, 2, 1])
    pooled = tf.nn.max_pool(conv, [1, 2, 2, 1], [1, 2, 2, 1], "VALID")
    flat = tf.reshape(pooled, [-1, 3 * 3 * 4])
    mean, var = tf.nn.moments(conv, axes=[0, 1, 2])
    channels = tf.constant(np.linspace(0.5, 1.5, 4, dtype=np.float32))
    outputs = {
        "avg": tf.nn.avg_pool(img, [1, 3, 3, 1], [1, 2, 2, 1], "SAME"),
        "bn": tf.nn.fused_batch_norm(conv, channels, channels, mean=channels, variance=channels,
                                     is_training=False, epsilon=1e-3)[0],
        "var": var, "mean": mean,
        "sum": tf.reduce_sum(vec, axis=[1], keepdims=True), "mean_all": tf.reduce_mean(vec),
        "max": tf.reduce_max(flat, axis=1), "lse": tf.reduce_logsumexp(vec, axis=-1),
        "any": tf.reduce_any(vec > 0.5, axis=0),
        "argmax": tf.argmax(vec, 1, output_type=tf.int32), "argmin": tf.argmin(vec, 0),
        "transpose": tf.transpose(img, [0, 3, 1, 2]), "reversed": tf.transpose(vec),
        "squeeze": tf.squeeze(tf.expand_dims(vec, 1), [1]), "reverse": tf.reverse(vec, [1]),
        "concat": tf.concat([vec, vec], 1), "split": tf.split(vec, [2, -1], 1)[1],
        "split_n": tf.split(flat, 2, 1)[0], "stack": tf.stack([vec, vec], axis=1),
        "unstack": tf.unstack(tf.reshape(vec, [-1, 5, 1]), axis=1)[2],
        "strided": vec[:, 1:4:2], "slice": tf.slice(vec, [0, 1], [-1, 2]),
        "one_hot": tf.one_hot(ids, 4, on_value=2.0, off_value=-1.0),
        "one_hot_int": tf.one_hot(ids, 3, dtype=tf.int32, axis=0),
        "pad": tf.pad(vec, [[0, 0], [1, 2]], constant_values=-0.5),
        "cast": tf.cast(vec * 10, tf.int64), "leaky": tf.nn.leaky_relu(vec, 0.1),
        "bias_nchw": tf.nn.bias_add(conv, tf.ones([6]), data_format="NCHW"),
        "gather": tf.gather(vec, ids), "tile": tf.tile(vec, [1, 2]),
        "clip": tf.clip_by_value(vec, -1.0, 0.5), "select": tf.where(vec > 0.5, vec, -vec),
        "log_softmax": tf.nn.log_softmax(vec, axis=1), "in_top_k": tf.nn.in_top_k(vec, ids, 2),
        "shape": tf.shape(vec), "ones_like": tf.ones_like(vec, dtype=tf.int32),
        "zeros_like": tf.zeros_like(vec), "range": tf.range(0, 10, 3), "fill": tf.fill([2], 7.0),
        "non_finite": tf.constant([np.inf, -np.inf, 1.0]) * 2.0,
        "xent": tf.nn.softmax_cross_entropy_with_logits_v2(labels=tf.nn.softmax(vec),
                                                           logits=vec),
        "matmul_t": tf.matmul(vec, vec, transpose_b=True), "l2": tf.nn.l2_loss(vec),
        "mse": tf.losses.mean_squared_error(vec, vec * 0.5), "min": tf.reduce_min(vec, [0, 1]),
    }
    feed = {img: rng.random((2, 6, 6, 2), dtype=np.float32),
            vec: rng.random((2, 5), dtype=np.float32), ids: np.array([1, 0], np.int32)}
    with tf.Session() as sess:
        expected = sess.run(outputs, feed)
        path = tf.saved_model.save(sess, tmp_path / "m", {"img": img, "vec": vec, "ids": ids},
                                   outputs)
    predictor = tf.saved_model.load(path)
    got = predictor.predict({"img": feed[img], "vec": feed[vec], "ids": feed[ids]})
    for name, value in expected.items():
        np.testing.assert_array_equal(got[name], value, err_msg=name)
    original = tf.get_default_graph()
    loaded = predictor._session.graph
    assert loaded is not original and loaded.finalized
    for op in loaded.get_operations():
        before = original.get_operation_by_name(op.name)
        assert op.type == before.type, op.name
        assert op.attrs.keys() == before.attrs.keys(), op.name
        for key, value in op.attrs.items():
            _assert_same(value, before.attrs[key], f"{op.name}.{key}")


def _assert_same(a: Any, b: Any, where: str) -> None:
    if isinstance(b, np.ndarray):
        assert isinstance(a, np.ndarray) and a.dtype == b.dtype, where
        np.testing.assert_array_equal(a, b, err_msg=where)
        return
    assert type(a) is type(b), (where, a, b)
    if isinstance(b, list | tuple):
        assert len(a) == len(b), where
        for x, y in zip(a, b, strict=True):
            _assert_same(x, y, where)
    elif isinstance(b, float) and np.isnan(b):
        assert np.isnan(a), where
    else:
        assert a == b, (where, a, b)


# -- export refusals ------------------------------------------------------------------------------
def test_export_refuses_stateful_and_unservable_graphs(tmp_path: Path) -> None:
    x = tf.placeholder(tf.float32, [None, 3], name="x")
    v = tf.Variable(np.zeros(3, np.float32), name="v")
    other = tf.placeholder(tf.float32, [None, 3], name="other")
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        cases = [
            (x + tf.random_normal([3], name="noise"), "'noise/RandomStandardNormal'.*stateful"),
            (tf.assign_add(v, [1.0, 1.0, 1.0], name="bump") * x, "'bump' .*stateful"),
            (x + other, "'other' .*not among the signature inputs"),
            (tf.gradients(tf.reduce_sum(x * x), x)[0], "not in the servable op set"),
            (tf.nn.dropout(x, 0.5).op.outputs[1], "mask of dropout"),
            (tf.constant(["a", "b"], tf.string), "dtype string, which a snapshot cannot hold"),
            (tf.get_default_graph().create_op("LeakyRelu", [x], {"alpha": object()},
                                              "odd").outputs[0],
             "op 'odd' \\(LeakyRelu\\), attr 'alpha': cannot encode"),
            (tf.get_default_graph().create_op("Relu", [x], {"extra": 1}, "extra").outputs[0],
             "op 'extra' \\(Relu\\): attrs \\['extra'\\] differ"),
        ]
        for output, message in cases:
            with pytest.raises(ValueError, match=message):
                tf.saved_model.save(sess, tmp_path / "m", {"x": x}, {"y": output})
        with pytest.raises(ValueError, match="at least one"):
            tf.saved_model.save(sess, tmp_path / "m", {"x": x}, {})
        with pytest.raises(TypeError, match="must be a dict"):
            tf.saved_model.save(sess, tmp_path / "m", {"x": x}, [x])
        with pytest.raises(ValueError, match="same tensor"):
            tf.saved_model.save(sess, tmp_path / "m", {"x": x, "y": x}, {"z": x * 2})
        with pytest.raises(ValueError, match="metadata must be JSON"):
            tf.saved_model.save(sess, tmp_path / "m", {"x": x}, {"y": x * 2},
                                metadata={"bad": float("nan")})
        with pytest.raises(ValueError, match="weights_format"):
            tf.saved_model.save(sess, tmp_path / "m", {"x": x}, {"y": x}, weights_format="h5")
    assert not (tmp_path / "m").exists()  # nothing was written by a refused export


def test_opset_holds_registered_stateless_ops_only() -> None:
    for op_type in OPS:
        assert op_type in registered_types(), op_type
        # Cond and While are stateful only through their subgraphs, whose nodes are checked
        # against this same op set when a snapshot loads
        assert not lookup(op_type).stateful or op_type in ("Cond", "While"), op_type
    assert not {"VariableV2", "Assign", "Dropout", "RandomUniform", "ApplyAdam"} & OPS.keys()


# -- predicting -----------------------------------------------------------------------------------
@pytest.fixture
def predictor(tmp_path: Path) -> tf.saved_model.Predictor:
    a = tf.placeholder(tf.float32, [None, 2], name="a")
    n = tf.placeholder(tf.int32, [None], name="n")
    with tf.Session() as sess:
        path = tf.saved_model.save(
            sess, tmp_path / "m", {"a": a, "n": n},
            {"sum": tf.reduce_sum(a, 1) + tf.cast(n, tf.float32), "count": tf.size(n)},
            metadata={"head": "regression", "labels": np.array(["x", "y"]), "k": np.int64(2)})
    return tf.saved_model.load(path)


def test_signature_and_metadata(predictor: tf.saved_model.Predictor) -> None:
    assert predictor.signature == {
        "inputs": {"a": {"dtype": "float32", "shape": [None, 2]},
                   "n": {"dtype": "int32", "shape": [None]}},
        "outputs": {"sum": {"dtype": "float32", "shape": [None]},
                    "count": {"dtype": "int32", "shape": []}},
    }
    assert predictor.metadata == {"head": "regression", "labels": ["x", "y"], "k": 2}
    predictor.metadata["head"] = "changed"  # a copy: the predictor's own stays intact
    assert predictor.metadata["head"] == "regression"


def test_predict_accepts_lists_and_converts_safely(predictor: tf.saved_model.Predictor) -> None:
    out = predictor.predict({"a": [[1, 2], [3.5, 4]], "n": np.array([1, 2], np.int64)})
    np.testing.assert_array_equal(out["sum"], [4.0, 9.5])
    assert out["sum"].dtype == np.float32 and isinstance(out["count"], np.ndarray)
    assert out["count"] == 2


@pytest.mark.parametrize(("inputs", "message"), [
    ({"a": [[1.0, 2.0]]}, "missing input.*'n'"),
    ({"a": [[1.0, 2.0]], "n": [1], "b": 1}, "unknown input.*'b'"),
    ({"a": [[1.0, 2.0], [3.0]], "n": [1, 2]}, "input 'a': ragged"),
    ({"a": [["1", "2"]], "n": [1]}, "input 'a': expected float32 values, got <U1"),
    ({"a": [[1.0, 2.0]], "n": [1.5]}, "input 'n': expected int32 values, got float64"),
    ({"a": [[1.0, 2.0]], "n": [2**40]}, "input 'n': values out of range for int32"),
    ({"a": [1.0, 2.0], "n": [1]}, r"input 'a': expected shape \[\?,2\], got \[2\]"),
    ([[1.0, 2.0]], "needs a dict of inputs"),
])
def test_bad_inputs_are_value_errors_naming_the_input(predictor: tf.saved_model.Predictor,
                                                      inputs: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        predictor.predict(inputs)


def test_predict_from_several_threads_at_once(tmp_path: Path) -> None:
    sess, inputs, outputs, batch, _ = _mlp()
    predictor = tf.saved_model.load(tf.saved_model.save(sess, tmp_path / "m", inputs, outputs))
    batches = [batch * i for i in range(8)]
    expected = [predictor.predict(b)["probs"] for b in batches]
    with ThreadPoolExecutor(4) as pool:
        for _ in range(5):
            got = list(pool.map(lambda b: predictor.predict(b)["probs"], batches))
            for g, e in zip(got, expected, strict=True):
                np.testing.assert_array_equal(g, e)


def test_loading_from_a_store_object(tmp_path: Path) -> None:
    sess, inputs, outputs, batch, _ = _mlp()
    path = Path(tf.saved_model.save(sess, tmp_path / "m", inputs, outputs))
    store = _Store({p.name: p.read_bytes() for p in path.iterdir()})
    np.testing.assert_array_equal(tf.saved_model.load(store).predict(batch)["probs"],
                                  tf.saved_model.load(path).predict(batch)["probs"])
    assert store.asked <= {"model.json", "variables.safetensors", "variables.npz"}
    with pytest.raises(SnapshotError, match=r"no model\.json"):
        tf.saved_model.load(tmp_path / "missing")
    with pytest.raises(SnapshotError, match="no signature 'other'"):
        tf.saved_model.load(store, "other")


class _Store:
    """What the platform passes: an object store prefix with read_bytes(name)."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.asked: set[str] = set()

    def read_bytes(self, name: str) -> bytes:
        self.asked.add(name)
        return self.files[name]


# -- hostile and malformed snapshots --------------------------------------------------------------
Files = dict[str, bytes]


@pytest.fixture(scope="module")
def valid(tmp_path_factory: pytest.TempPathFactory) -> Files:
    """The files of a small valid snapshot (MLP, safetensors), built once."""
    with tf.Graph().as_default():
        sess, inputs, outputs, *_ = _mlp(steps=1)
        path = Path(tf.saved_model.save(sess, tmp_path_factory.mktemp("valid"), inputs, outputs,
                                        metadata={"classes": ["a", "b", "c"]},
                                        weights_format="safetensors"))
    return {p.name: p.read_bytes() for p in path.iterdir()}


def test_the_valid_snapshot_loads(valid: Files) -> None:
    predictor = tf.saved_model.load(_Store(valid))
    assert predictor.predict(np.zeros((2, 4), np.float32))["probs"].shape == (2, 3)
    assert predictor.metadata == {"classes": ["a", "b", "c"]}


def _doc(edit: Callable[[dict], Any]) -> Callable[[Files], Files]:
    """A corruption of model.json, given as an in-place edit of the parsed document."""
    def apply(files: Files) -> Files:
        doc = json.loads(files["model.json"])
        edit(doc)
        return {**files, "model.json": json.dumps(doc).encode()}
    return apply


def _raw(data: bytes) -> Callable[[Files], Files]:
    return lambda files: {**files, "model.json": data}


def _weights(edit: Callable[[bytes], bytes], name: str = "variables.safetensors",
             resign: bool = True) -> Callable[[Files], Files]:
    """A corruption of the weights file; model.json is re-signed so the checksum passes and
    the file's own checks are what must catch it."""
    def apply(files: Files) -> Files:
        data = edit(files["variables.safetensors"])
        doc = json.loads(files["model.json"])
        doc["weights"]["file"] = name
        if resign:
            doc["weights"]["sha256"] = hashlib.sha256(data).hexdigest()
        return {"model.json": json.dumps(doc).encode(), name: data}
    return apply


def _header(edit: Callable[[dict, bytearray], Any]) -> Callable[[bytes], bytes]:
    """Rewrite a safetensors file's JSON header (and maybe its data section)."""
    def apply(data: bytes) -> bytes:
        size = int.from_bytes(data[:8], "little")
        header, body = json.loads(data[8:8 + size]), bytearray(data[8 + size:])
        edit(header, body)
        text = json.dumps(header).encode()
        return len(text).to_bytes(8, "little") + text + bytes(body)
    return apply


def _node(doc: dict, name: str) -> dict:
    return next(n for n in doc["nodes"] if n["name"] == name)


def _npz(**arrays: Any) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _set(path: str, value: Any) -> Callable[[dict], None]:
    """Set a value in the document by a dotted path; list indices are ints, `@name` a node."""
    def edit(doc: dict) -> None:
        *parents, last = path.split(".")
        target: Any = doc
        for key in parents:
            target = _node(doc, key[1:]) if key.startswith("@") else \
                target[int(key)] if key.isdigit() else target[key]
        target[int(last) if last.isdigit() else last] = value
    return edit


def _forward_ref(doc: dict) -> None:
    _node(doc, "MatMul")["inputs"][0] = doc["nodes"][-1]["name"] + ":0"


def _self_ref(doc: dict) -> None:
    _node(doc, "MatMul")["inputs"][0] = "MatMul:0"


def _swap_first_tensor_dtype(header: dict, body: bytearray) -> None:
    header["hidden_W"]["dtype"] = "I32"


def _overlap(header: dict, body: bytearray) -> None:
    last = max((k for k in header if k != "__metadata__"),
               key=lambda k: header[k]["data_offsets"][0])
    header[last]["data_offsets"] = [o - 4 for o in header[last]["data_offsets"]]


CORRUPTIONS: list[tuple[str, Callable[[Files], Files], str]] = [
    ("bad json", _raw(b"{not json"), "not valid JSON"),
    ("not utf-8", _raw(b"\xff\xfe{}"), "not valid JSON"),
    ("not an object", _raw(b"[1, 2]"), "expected an object"),
    ("NaN literal", _raw(b'{"format": NaN}'), "NaN is not allowed"),
    ("duplicate keys", _raw(b'{"format": 1, "format": 2}'), "duplicate key 'format'"),
    ("json bomb: deep nesting", _raw(b"[" * 100_000 + b"]" * 100_000), "nested too deeply"),
    ("deep metadata", _doc(_set("metadata", json.loads("[" * 80 + "]" * 80))),
     "deeper than 64"),
    ("wrong format", _doc(_set("format", "tf-saved-model")), 'format is "tf-saved-model"'),
    ("wrong version", _doc(_set("format_version", 2)), "format_version 2 is not supported"),
    ("version as bool", _doc(_set("format_version", True)), "expected an integer, got true"),
    ("missing key", _doc(lambda d: d.pop("signatures")), "missing key.*'signatures'"),
    ("unknown key", _doc(_set("extra", 1)), 'unknown key.*"extra"'),
    ("unknown op", _doc(lambda d: (_set("@Relu.op", "EvilOp")(d), d["opset"].append("EvilOp"))),
     "unknown op type 'EvilOp'"),
    ("stateful op", _doc(lambda d: (_set("@Relu.op", "Assign")(d), d["opset"].append("Assign"))),
     "'Assign' is not servable"),
    ("op missing from opset", _doc(lambda d: d["opset"].remove("Relu")),
     "missing from model.json.opset"),
    ("forward reference", _doc(_forward_ref), "not an earlier node"),
    ("cycle", _doc(_self_ref), "not an earlier node"),
    ("duplicate node name", _doc(lambda d: d["nodes"].insert(1, d["nodes"][0])),
     "duplicate node name"),
    ("unsafe node name", _doc(_set("nodes.0.name", "x\nevil")), "not a valid name"),
    ("bad tensor index", _doc(_set("@MatMul.inputs.0", "x:7")), "has only 1 output"),
    ("non-ascii tensor index", _doc(_set("@MatMul.inputs.0", "x:\u0663")),
     "not a tensor name of the form"),
    ("wrong arity", _doc(lambda d: _node(d, "MatMul")["inputs"].pop()), "takes 2 input"),
    ("attr of wrong type", _doc(_set("@MatMul.attrs.transpose_a", "yes")),
     "transpose_a: expected a boolean"),
    ("attr missing", _doc(lambda d: _node(d, "MatMul")["attrs"].pop("transpose_b")),
     "missing key.*'transpose_b'"),
    ("unknown attr", _doc(_set("@MatMul.attrs.evil", 1)), 'unknown key.*"evil"'),
    ("int attr out of range", _doc(_set("@Softmax.attrs.axis", 2**40)), "out of range"),
    ("declared shape lies", _doc(_set("@Relu.outputs.0.shape", [None, 9])),
     "declares outputs float32 \\[None, 9\\]"),
    ("huge declared shape", _doc(_set("@x.attrs.shape", [2**31, 2**31])), "over the limit"),
    ("negative dim", _doc(_set("@x.attrs.shape", [-1, 4])), "negative dimension -1"),
    ("rank too high", _doc(_set("@x.attrs.shape", [1] * 40)), "rank 40"),
    ("unknown dtype", _doc(_set("@x.attrs.dtype", "complex128")), "unknown dtype"),
    ("string dtype", _doc(_set("@x.outputs.0.dtype", "string")), "unknown dtype"),
    ("inline value of wrong type", _doc(_set("@Const.attrs.value.data", ["2"])),
     "expected a number"),
    ("inline value count", _doc(_set("@Const.attrs.value.data", [1.0, 2.0])),
     "2 inline values for shape"),
    ("const dtype attr lies", _doc(_set("@hidden/W.attrs.dtype", "float64")),
     "attr dtype says float64"),
    ("signature names a missing tensor",
     _doc(_set("signatures.serving_default.outputs.probs.tensor", "nope:0")),
     "refers to 'nope', which is not an earlier node"),
    ("signature dtype lies", _doc(_set("signatures.serving_default.inputs.x.dtype", "int32")),
     "declared int32"),
    ("signature input is not a placeholder",
     _doc(_set("signatures.serving_default.inputs.x", {"tensor": "Relu:0", "dtype": "float32",
                                                       "shape": [None, 8]})),
     "not a Placeholder"),
    ("signature input missing", _doc(lambda d: d["signatures"]["serving_default"]["inputs"].pop(
        "x")), "need Placeholder 'x'"),
    ("no signatures", _doc(_set("signatures", {})), "no signature"),
    ("many signatures: each walks the graph", _doc(lambda d: d["signatures"].update(
        {f"s{i}": d["signatures"]["serving_default"] for i in range(100)})),
     "101 signatures is over the limit"),
    ("metadata not an object", _doc(_set("metadata", [])), "metadata: expected an object"),
    ("weights file traversal", _doc(_set("weights.file", "../../etc/passwd")),
     "is not one of variables.safetensors"),
    ("weight name traversal", _doc(lambda d: d["weights"]["tensors"].update(
        {"../W": {"dtype": "float32", "shape": [1]}})), "not a valid name"),
    ("weight reference missing", _doc(_set("@hidden/W.attrs.value.weight", "nope")),
     "weight 'nope' is not in"),
    ("unused declared weight", _doc(lambda d: d["weights"]["tensors"].update(
        {"extra": {"dtype": "float32", "shape": [1]}})), "not used by any Const"),
    ("checksum mismatch", _weights(lambda b: b[:-1] + bytes([b[-1] ^ 1]), resign=False),
     "SHA-256 does not match"),
    ("header length lies", _weights(lambda b: (2**40).to_bytes(8, "little") + b[8:]),
     "header length 1099511627776 runs past the end"),
    ("truncated", _weights(lambda b: b[:-100]), "fall outside the"),
    ("too short for a header", _weights(lambda b: b[:5]), "truncated"),
    ("overlapping tensors", _weights(_header(_overlap)), "overlaps"),
    ("trailing bytes", _weights(lambda b: b + b"\0" * 8), "8 trailing bytes"),
    ("wrong tensor size", _weights(_header(lambda h, _: h["out_b"].update(shape=[7]))),
     "needs 28"),
    ("offsets out of bounds",
     _weights(_header(lambda h, body: h["out_b"].update(data_offsets=[0, len(body) + 64]))),
     "fall outside"),
    ("file dtype differs", _weights(_header(_swap_first_tensor_dtype)),
     "model.json declares float32"),
    ("header names a path", _weights(_header(lambda h, _: h.update(
        {"../../x": h.pop("out_b")}))), "not a valid name"),
    ("pickle renamed as safetensors", _weights(lambda b: pickle.dumps({"w": [1.0]})),
     "runs past the end|not valid JSON"),
    ("pickle renamed as npz", _weights(lambda b: pickle.dumps({"w": [1.0]}),
                                       name="variables.npz"), "pickled data|not an npz"),
    ("npz with an object array",
     _weights(lambda b: _npz(hidden_W=np.array([{}], dtype=object)), name="variables.npz"),
     "unexpected|unreadable|pickled"),
    ("npz with the wrong members", _weights(lambda b: _npz(evil=np.zeros(3)),
                                            name="variables.npz"), "unexpected"),
]


@pytest.mark.parametrize(("corrupt", "message"), [c[1:] for c in CORRUPTIONS],
                         ids=[c[0] for c in CORRUPTIONS])
def test_malformed_snapshot_is_a_clear_snapshot_error(valid: Files, corrupt: Callable,
                                                      message: str) -> None:
    with pytest.raises(SnapshotError, match=message):
        tf.saved_model.load(_Store(corrupt(valid)))


def test_npz_object_arrays_are_refused_without_unpickling(valid: Files) -> None:
    """A well-formed npz whose member holds pickled objects (names and sizes matching)."""
    doc = json.loads(valid["model.json"])
    arrays = {k: np.zeros(v["shape"], np.float32) for k, v in doc["weights"]["tensors"].items()}
    arrays["out_b"] = np.array([None, None, None], dtype=object)
    data = _npz(**arrays)
    doc["weights"].update(file="variables.npz", sha256=hashlib.sha256(data).hexdigest())
    with pytest.raises(SnapshotError, match=r"out_b.*allow_pickle"):
        tf.saved_model.load(_Store({"model.json": json.dumps(doc).encode(),
                                    "variables.npz": data}))
