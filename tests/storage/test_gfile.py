"""kumo's stores as a tf.gfile file system, found through the engine's entry point: a trainer
writes checkpoints, summaries and a snapshot to an s3:// job dir on a real S3 server."""

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import engine as tf
from engine import gfile
from storage.config import Settings
from storage.gfile import StoreFileSystem
from storage.s3store import S3Store
from tests.conftest import S3_ACCESS_KEY, S3_SECRET_KEY


@pytest.fixture
def s3_job_dir(s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
               ) -> Iterator[str]:
    """A fresh bucket, with the KUMO_* environment a job process gets; the engine finds the
    s3 file system anew through its entry point."""
    settings = Settings(data_dir=tmp_path, s3_endpoint=s3_endpoint,
                        s3_access_key=S3_ACCESS_KEY, s3_secret_key=S3_SECRET_KEY)
    bucket = f"gfile-{tmp_path.name[-12:].lower().replace('_', '-')}"
    S3Store(bucket, "", settings).ensure_bucket()
    for name, value in (("S3_ENDPOINT", s3_endpoint), ("S3_ACCESS_KEY", S3_ACCESS_KEY),
                        ("S3_SECRET_KEY", S3_SECRET_KEY), ("S3_SECURE", "false")):
        monkeypatch.setenv(f"KUMO_{name}", value)
    monkeypatch.delitem(gfile._FILESYSTEMS, "s3", raising=False)
    yield f"s3://{bucket}/jobs/1"
    gfile._FILESYSTEMS.pop("s3", None)


def test_the_engine_finds_the_store_file_system_by_its_entry_point(s3_job_dir: str) -> None:
    with tf.gfile.GFile(f"{s3_job_dir}/notes/a.txt", "w") as f:
        f.write("hello")
    assert isinstance(gfile._FILESYSTEMS["s3"], StoreFileSystem)
    assert tf.gfile.ListDirectory(s3_job_dir) == ["notes/"]
    assert tf.gfile.ListDirectory(f"{s3_job_dir}/notes") == ["a.txt"]
    with tf.gfile.GFile(f"{s3_job_dir}/notes/a.txt") as f:
        assert f.read() == "hello"
    tf.gfile.Remove(f"{s3_job_dir}/notes/a.txt")
    assert not tf.gfile.Exists(f"{s3_job_dir}/notes/a.txt")
    with pytest.raises(tf.errors.NotFoundError):
        tf.gfile.Remove(f"{s3_job_dir}/notes/a.txt")


def test_checkpoints_summaries_and_a_snapshot_in_an_s3_job_dir(s3_job_dir: str) -> None:
    step = tf.train.get_or_create_global_step()
    x = tf.placeholder(tf.float32, [None, 2], name="x")
    w = tf.Variable(tf.zeros([2, 1]))
    loss = tf.reduce_mean(tf.square(tf.matmul(x, w) - tf.reduce_sum(x, 1, keepdims=True)))
    tf.summary.scalar("loss", loss)
    train = tf.train.GradientDescentOptimizer(0.1).minimize(loss, global_step=step)
    y = tf.matmul(x, w)
    saver = tf.train.Saver()  # made before the monitored session finalizes the graph
    data = np.random.default_rng(0).standard_normal((32, 2)).astype(np.float32)
    hooks = [tf.train.StopAtStepHook(last_step=30), tf.train.FeedFnHook(lambda: {x: data})]
    with tf.train.MonitoredTrainingSession(checkpoint_dir=s3_job_dir, hooks=hooks,
                                           scaffold=tf.train.Scaffold(saver=saver),
                                           save_summaries_steps=10) as sess:
        while not sess.should_stop():
            sess.run(train)
    assert tf.train.latest_checkpoint(s3_job_dir) == f"{s3_job_dir}/model.ckpt-30"
    with tf.gfile.GFile(f"{s3_job_dir}/metrics.jsonl") as f:
        assert f.read().count('"loss"') == 3
    with tf.Session() as sess:
        saver.restore(sess, tf.train.latest_checkpoint(s3_job_dir))
        trained = sess.run(w)
        path = tf.saved_model.save(sess, f"{s3_job_dir}/model", {"x": x}, {"y": y})
    assert path == f"{s3_job_dir}/model"
    np.testing.assert_allclose(trained, [[1.0], [1.0]], atol=0.05)
    served = tf.saved_model.load(path).predict({"x": data[:3]})
    np.testing.assert_allclose(served["y"], data[:3] @ trained, rtol=1e-6)
