"""tf.gfile, and file:// URIs (a job dir on the embedded store) through the engine's writers."""

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
    ("s3://bucket/jobs/1/model.ckpt", tf.errors.UnimplementedError, "scheme 's3'"),
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
