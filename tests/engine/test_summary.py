"""tf.summary: summary tensors, merging, and the FileWriter's metrics.jsonl / graph.json."""

import json
from pathlib import Path

import numpy as np
import pytest

import engine as tf


def _lines(logdir: Path) -> list[dict]:
    return [json.loads(line) for line in (logdir / "metrics.jsonl").read_text().splitlines()]


def test_scalar_summaries_are_written_one_line_per_tag(tmp_path: Path) -> None:
    x = tf.placeholder(tf.float32, [])
    with tf.name_scope("train"):
        loss = tf.summary.scalar("loss", x * 2.0)
    accuracy = tf.summary.scalar("accuracy", x)
    merged = tf.summary.merge_all()
    with tf.Session() as sess, tf.summary.FileWriter(str(tmp_path)) as writer:
        assert json.loads(sess.run(loss, {x: 0.5})) == {"train/loss": 1.0}
        for step, value in enumerate([0.25, 0.5]):
            writer.add_summary(sess.run(merged, {x: value}), global_step=step)
        writer.add_summary(sess.run(accuracy, {x: 1.0}))
    lines = _lines(tmp_path)
    assert [(r["tag"], r["value"], r["step"]) for r in lines] == [
        ("train/loss", 0.5, 0), ("accuracy", 0.25, 0),
        ("train/loss", 1.0, 1), ("accuracy", 0.5, 1),
        ("accuracy", 1.0, None),
    ]
    assert all(isinstance(r["wall_time"], float) for r in lines)


def test_merge_all_is_none_without_summaries() -> None:
    assert tf.summary.merge_all() is None
    tf.summary.scalar("elsewhere", tf.constant(1.0), collections=["mine"])
    assert tf.summary.merge_all() is None
    assert tf.summary.merge_all("mine") is not None


def test_tags_follow_tf_naming() -> None:
    first = tf.summary.scalar("loss", tf.constant(1.0))
    second = tf.summary.scalar("loss", tf.constant(2.0))
    family = tf.summary.scalar("lr", tf.constant(3.0), family="opt")
    odd = tf.summary.scalar("a b", tf.constant(4.0))
    with tf.Session() as sess:
        tags = [next(iter(json.loads(sess.run(s)))) for s in (first, second, family, odd)]
    assert tags == ["loss", "loss_1", "opt/opt/lr", "a_b"]
    assert first.op.name == "loss" and first.dtype == tf.dtypes.string


def test_histogram_records_min_max_mean() -> None:
    h = tf.summary.histogram("weights", tf.constant([[1.0, 2.0], [3.0, 6.0]]))
    with tf.Session() as sess:
        assert json.loads(sess.run(h)) == {"weights/min": 1.0, "weights/max": 6.0,
                                           "weights/mean": 3.0}
    nan = tf.summary.histogram("bad", tf.constant([1.0, np.nan]))
    with tf.Session() as sess, pytest.raises(tf.errors.InvalidArgumentError, match="Nan"):
        sess.run(nan)


def test_summary_errors() -> None:
    with pytest.raises(ValueError, match="not the same shape"):
        tf.summary.scalar("v", tf.constant([1.0, 2.0]))
    x = tf.placeholder(tf.float32)
    a = tf.summary.scalar("a", x)
    dup = tf.summary.merge([a, a])
    unknown = tf.summary.scalar("u", x)
    with tf.Session() as sess:
        with pytest.raises(tf.errors.InvalidArgumentError, match="Duplicate tag a"):
            sess.run(dup, {x: 1.0})
        with pytest.raises(tf.errors.InvalidArgumentError, match="not the same shape"):
            sess.run(unknown, {x: [1.0, 2.0]})


def test_graph_is_written_as_json(tmp_path: Path) -> None:
    x = tf.placeholder(tf.float32, [None, 2], name="x")
    w = tf.Variable(np.ones((2, 1), np.float32), name="W")
    tf.matmul(x, w, name="y")
    with tf.Session() as sess:
        tf.summary.FileWriter(str(tmp_path), sess.graph).close()
    nodes = {n["name"]: n for n in json.loads((tmp_path / "graph.json").read_text())["nodes"]}
    assert nodes["y"]["op"] == "MatMul" and nodes["y"]["inputs"] == ["x:0", "W:0"]
    assert nodes["y"]["outputs"] == [{"dtype": "float32", "shape": [None, 1]}]
    assert nodes["x"]["attrs"] == {"dtype": "float32", "shape": [None, 2]}
    assert nodes["W/initial_value"]["attrs"]["value"] == {
        "dtype": "float32", "shape": [2, 1], "value": [[1.0], [1.0]]}
    assert (tmp_path / "metrics.jsonl").read_text() == ""
