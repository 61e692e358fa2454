"""tf.gfile, and file:// URIs (a job dir on the embedded store) through the engine's writers."""

import json
from pathlib import Path

import numpy as np
import pytest

import engine as tf


def test_gfile_reads_writes_and_lists_by_path_or_file_uri(tmp_path: Path) -> None:
    root = tmp_path.as_uri()  # file:///...
    tf.gfile.MakeDirs(f"{root}/a/b")
    with tf.gfile.GFile(f"{root}/a/b/x.txt", "w") as f:
        f.write("hello")
    assert tf.gfile.Exists(str(tmp_path / "a/b/x.txt")) and tf.gfile.IsDirectory(f"{root}/a")
    assert tf.gfile.ListDirectory(f"{root}/a/b") == ["x.txt"]
    tf.gfile.Copy(f"{root}/a/b/x.txt", f"{root}/a/y.txt")
    with pytest.raises(tf.errors.AlreadyExistsError, match="overwrite"):
        tf.gfile.Rename(f"{root}/a/y.txt", f"{root}/a/b/x.txt")
    tf.gfile.Rename(f"{root}/a/y.txt", f"{root}/a/z.txt")
    assert tf.gfile.Glob(f"{root}/a/*.txt") == [str(tmp_path / "a/z.txt")]
    assert [sorted(files) for _, _, files in tf.gfile.Walk(root)] == [[], ["z.txt"], ["x.txt"]]
    with tf.gfile.Open(str(tmp_path / "a/z.txt")) as f:
        assert f.read() == "hello"
    tf.gfile.Remove(f"{root}/a/z.txt")
    tf.gfile.DeleteRecursively(f"{root}/a")
    assert not tf.gfile.Exists(f"{root}/a")
    with pytest.raises(tf.errors.NotFoundError):
        tf.gfile.ListDirectory(f"{root}/a")
    with pytest.raises(tf.errors.AlreadyExistsError):
        tf.gfile.MkDir(root)


@pytest.mark.parametrize(("uri", "error", "match"), [
    ("gs://bucket/jobs/1/model.ckpt", tf.errors.UnimplementedError, "scheme 'gs'"),
    ("file://otherhost/tmp/x", tf.errors.InvalidArgumentError, "this machine"),
])
def test_unreachable_uris_say_why(uri: str, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        tf.gfile.Exists(uri)


def test_checkpoints_summaries_and_snapshots_go_to_a_file_uri_job_dir(tmp_path: Path) -> None:
    job_dir = tmp_path.as_uri()
    x = tf.placeholder(tf.float32, [None, 2], name="x")
    w = tf.Variable([[1.0], [2.0]])
    y = tf.matmul(x, w)
    summary = tf.summary.scalar("w_sum", tf.reduce_sum(w))
    saver = tf.train.Saver()
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        prefix = saver.save(sess, f"{job_dir}/model.ckpt", global_step=3)
        writer = tf.summary.FileWriter(job_dir)
        writer.add_summary(sess.run(summary), 3)
        writer.close()
        tf.saved_model.save(sess, f"{job_dir}/model", {"x": x}, {"y": y})
    assert prefix == str(tmp_path / "model.ckpt-3")
    assert tf.train.latest_checkpoint(job_dir) == prefix
    assert (tmp_path / "metrics.jsonl").read_text().count('"w_sum"') == 1
    served = tf.saved_model.load(f"{job_dir}/model").predict({"x": np.ones((1, 2), np.float32)})
    np.testing.assert_array_equal(served["y"], [[3.0]])
    with tf.Session() as sess:
        saver.restore(sess, tf.train.latest_checkpoint(job_dir))
        np.testing.assert_array_equal(sess.run(w), [[1.0], [2.0]])


class MemoryFileSystem:
    """A file system kept in a dict: what a plug-in gives the engine (kumo's s3 one is tested
    against a real S3 server in tests/storage/test_gfile.py)."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}

    def read(self, uri: str) -> bytes:
        if uri not in self.files:
            raise FileNotFoundError(uri)
        return self.files[uri]

    def write(self, uri: str, data: bytes) -> None:
        self.files[uri] = bytes(data)

    def exists(self, uri: str) -> bool:
        return uri in self.files

    def listdir(self, uri: str) -> list[str]:
        prefix = uri.rstrip("/") + "/"
        names = {k[len(prefix):].partition("/")[0] + ("/" if "/" in k[len(prefix):] else "")
                 for k in self.files if k.startswith(prefix)}
        return sorted(names)

    def delete(self, uri: str) -> None:
        if self.files.pop(uri, None) is None:
            raise FileNotFoundError(uri)


@pytest.fixture
def memory() -> MemoryFileSystem:
    fs = MemoryFileSystem()
    tf.gfile.register_filesystem("mem", fs)
    return fs


def test_gfile_on_a_registered_file_system(memory: MemoryFileSystem) -> None:
    with tf.gfile.GFile("mem://b/dir/a.txt", "w") as f:
        f.write("one")
    with tf.gfile.GFile("mem://b/dir/a.txt", "a") as f:
        f.write(" two")
    with tf.gfile.GFile("mem://b/dir/a.txt") as f:
        assert f.read() == "one two"
    tf.gfile.Copy("mem://b/dir/a.txt", "mem://b/dir/sub/c.txt")
    assert tf.gfile.ListDirectory("mem://b/dir") == ["a.txt", "sub/"]
    assert tf.gfile.IsDirectory("mem://b/dir/sub") and tf.gfile.Exists("mem://b/dir/a.txt")
    assert tf.gfile.Glob("mem://b/dir/*.txt") == ["mem://b/dir/a.txt"]
    assert [(top, files) for top, _, files in tf.gfile.Walk("mem://b")] == [
        ("mem://b", []), ("mem://b/dir", ["a.txt"]), ("mem://b/dir/sub", ["c.txt"])]
    tf.gfile.DeleteRecursively("mem://b/dir")
    assert memory.files == {}
    with pytest.raises(tf.errors.NotFoundError):
        tf.gfile.GFile("mem://b/dir/a.txt").read()


def test_an_estimator_with_a_remote_model_dir_resumes_and_exports(
        memory: MemoryFileSystem) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 2)).astype(np.float32)
    y = (x[:, 0] > x[:, 1]).astype(np.int32)
    columns = [tf.feature_column.numeric_column("x", shape=[2])]
    train = tf.estimator.inputs.numpy_input_fn({"x": x}, y, batch_size=16, num_epochs=None,
                                               shuffle=True)
    first = tf.estimator.LinearClassifier(columns, model_dir="mem://b/model")
    first.train(train, steps=20)
    again = tf.estimator.LinearClassifier(columns, model_dir="mem://b/model")
    again.train(train, steps=10)
    assert again.evaluate(tf.estimator.inputs.numpy_input_fn(
        {"x": x}, y, shuffle=False))["global_step"] == 30
    assert tf.train.latest_checkpoint("mem://b/model").endswith("-30")
    assert "mem://b/model/metrics.jsonl" in memory.files
    exported = again.export_savedmodel("mem://b/exports", None)
    assert exported.startswith("mem://b/exports/")
    predictor = tf.saved_model.load(exported)
    assert set(predictor.signature["inputs"]) == {"x"}


def test_a_trainer_keeps_everything_under_a_remote_job_dir(memory: MemoryFileSystem) -> None:
    """Checkpoints (with max_to_keep), summaries, the graph and the snapshot all go through
    the file system; a second session resumes from the checkpoint found there."""
    job_dir = "mem://bucket/jobs/7"
    step = tf.train.get_or_create_global_step()
    x = tf.placeholder(tf.float32, [None, 1], name="x")
    w = tf.Variable([[0.0]])
    loss = tf.reduce_mean(tf.square(tf.matmul(x, w) - 2.0 * x))
    tf.summary.scalar("loss", loss)
    train = tf.train.GradientDescentOptimizer(0.1).minimize(loss, global_step=step)
    saver = tf.train.Saver(max_to_keep=2)
    feed = {x: np.ones((4, 1), np.float32)}
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        writer = tf.summary.FileWriter(job_dir, sess.graph)
        merged = tf.summary.merge_all()
        for i in range(1, 4):
            _, summary = sess.run([train, merged], feed)
            writer.add_summary(summary, i)
            saver.save(sess, f"{job_dir}/model.ckpt", global_step=i)
        writer.close()
        tf.saved_model.save(sess, f"{job_dir}/export", {"x": x}, {"y": tf.matmul(x, w)})
        trained = sess.run(w)
    assert tf.train.latest_checkpoint(job_dir) == f"{job_dir}/model.ckpt-3"
    assert sorted(k for k in memory.files if k.endswith(".npz")) == [
        f"{job_dir}/model.ckpt-2.npz", f"{job_dir}/model.ckpt-3.npz"]
    lines = memory.files[f"{job_dir}/metrics.jsonl"].decode().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [1, 2, 3]
    assert f"{job_dir}/graph.json" in memory.files
    served = tf.saved_model.load(f"{job_dir}/export").predict({"x": np.ones((1, 1), np.float32)})
    np.testing.assert_allclose(served["y"], trained)
    with tf.Session() as sess:
        saver.restore(sess, tf.train.latest_checkpoint(job_dir))
        np.testing.assert_array_equal(sess.run(w), trained)


def test_a_remote_uri_is_not_a_local_path(memory: MemoryFileSystem) -> None:
    assert tf.gfile.resolve("mem://b/x") == "mem://b/x"
    assert tf.gfile.resolve("file:///tmp/x") == "/tmp/x"
    with pytest.raises(tf.errors.InvalidArgumentError, match="not a local file"):
        tf.gfile.local_path("mem://b/x")
