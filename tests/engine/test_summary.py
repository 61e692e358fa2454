"""tf.summary: summary tensors, merging, and the FileWriter's metrics.jsonl / graph.json."""

import json
import os
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


# -- KUMO_METRICS_FILE: the job runner's collection point ------------------------------------------
def _summary_bytes(**values: float) -> bytes:
    return json.dumps(values).encode()


def test_writers_mirror_scalar_lines_to_kumo_metrics_file(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    mirror = tmp_path / "runner" / "trial-1" / "metrics.jsonl"  # parents do not exist yet
    monkeypatch.setenv("KUMO_METRICS_FILE", str(mirror))
    x = tf.placeholder(tf.float32, [])
    merged = tf.summary.merge([tf.summary.scalar("loss", x), tf.summary.scalar("acc", x / 2)])
    with tf.Session() as sess, tf.summary.FileWriter(str(tmp_path / "a")) as first, \
            tf.summary.FileWriter(str(tmp_path / "b")) as second:
        first.add_summary(sess.run(merged, {x: 1.0}), global_step=1)
        second.add_summary(sess.run(merged, {x: 3.0}), global_step=7)
        first.add_summary(_summary_bytes(lr=0.5))
    mirrored = [json.loads(line) for line in mirror.read_text().splitlines()]
    assert [(r["tag"], r["value"], r["step"]) for r in mirrored] == [
        ("loss", 1.0, 1), ("acc", 0.5, 1), ("loss", 3.0, 7), ("acc", 1.5, 7), ("lr", 0.5, None)]
    assert all(set(r) == {"tag", "value", "step", "wall_time"} for r in mirrored)
    # the writers' own files are unchanged by the mirroring, line for line the same records
    own = _lines(tmp_path / "a") + _lines(tmp_path / "b")
    assert sorted(map(json.dumps, own)) == sorted(map(json.dumps, mirrored))
    # append mode: a later writer adds to what is there
    with tf.summary.FileWriter(str(tmp_path / "c")) as third:
        third.add_summary(_summary_bytes(loss=0.25), global_step=8)
    assert len(mirror.read_text().splitlines()) == 6


@pytest.mark.parametrize("value", [None, ""])
def test_no_mirror_without_kumo_metrics_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             value: str | None) -> None:
    if value is None:
        monkeypatch.delenv("KUMO_METRICS_FILE", raising=False)
    else:
        monkeypatch.setenv("KUMO_METRICS_FILE", value)
    monkeypatch.chdir(tmp_path)
    with tf.summary.FileWriter(str(tmp_path / "logs")) as writer:
        writer.add_summary(_summary_bytes(loss=1.0), global_step=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["logs"]
    assert len(_lines(tmp_path / "logs")) == 1


def test_mirror_that_is_the_writers_own_file_is_not_doubled(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUMO_METRICS_FILE", str(tmp_path / "." / "metrics.jsonl"))
    with tf.summary.FileWriter(str(tmp_path)) as writer:
        writer.add_summary(_summary_bytes(loss=1.0, acc=0.5), global_step=3)
    assert [r["tag"] for r in _lines(tmp_path)] == ["loss", "acc"]


def test_concurrent_writers_never_interleave_within_a_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Threads here and two other processes append long lines to one file at once."""
    import subprocess
    import sys
    import threading

    mirror = tmp_path / "shared.jsonl"
    monkeypatch.setenv("KUMO_METRICS_FILE", str(mirror))
    tag = "t" * 3000  # lines far longer than any buffer a split write would show up in
    script = (
        "import json, sys\n"
        "import engine as tf\n"
        "w = tf.summary.FileWriter(sys.argv[1])\n"
        f"for i in range(150): w.add_summary(json.dumps({{'{tag}' + sys.argv[2]: i}}), i)\n"
        "w.close()\n")
    root = Path(__file__).resolve().parents[2]
    procs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path / f"p{i}"), f"p{i}"],
                              cwd=root, env={**os.environ, "PYTHONPATH": str(root)})
             for i in range(2)]

    def write(name: str) -> None:
        with tf.summary.FileWriter(str(tmp_path / name)) as writer:
            for i in range(150):
                writer.add_summary(_summary_bytes(**{tag + name: float(i), "x" + name: 1.0}), i)

    threads = [threading.Thread(target=write, args=(f"t{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(p.wait(timeout=60) == 0 for p in procs)
    records = [json.loads(line) for line in mirror.read_text().splitlines()]
    assert len(records) == 2 * 150 + 4 * 300
    for name in ("p0", "p1", "t0", "t3"):
        assert [r["value"] for r in records if r["tag"] == tag + name] == list(range(150))
