"""tf.train.Saver: npz checkpoints, the `checkpoint` index, max_to_keep and restore errors."""

import os
from pathlib import Path

import numpy as np
import pytest

import engine as tf


def _model() -> tuple[tf.Operation, tf.Variable]:
    """A tiny trained-by-Adam graph; the same call builds the same variables in any graph."""
    w = tf.Variable(np.arange(6, dtype=np.float32).reshape(2, 3), name="W")
    b = tf.Variable(np.zeros(3, np.float32), name="b")
    step = tf.train.get_or_create_global_step()
    loss = tf.nn.l2_loss(tf.matmul(tf.constant([[1.0, 2.0]]), w) + b)
    return tf.train.AdamOptimizer(0.1).minimize(loss, global_step=step), step


def test_round_trip_into_a_fresh_graph(tmp_path: Path) -> None:
    train, step = _model()
    saver = tf.train.Saver()
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for _ in range(3):
            sess.run(train)
        saved = {v.op.name: sess.run(v) for v in tf.global_variables()}
        prefix = saver.save(sess, str(tmp_path / "model.ckpt"), global_step=step)
    assert prefix == str(tmp_path / "model.ckpt-3")
    assert sorted(saved) == ["W", "W/Adam", "W/Adam_1", "b", "b/Adam", "b/Adam_1",
                             "beta1_power", "beta2_power", "global_step"]

    with tf.Graph().as_default() as graph:
        _model()
        saver = tf.train.Saver()
        n_ops = len(graph.get_operations())
        with tf.Session() as sess:
            saver.restore(sess, tf.train.latest_checkpoint(str(tmp_path)))
            for v in tf.global_variables():
                np.testing.assert_array_equal(sess.run(v), saved[v.op.name], err_msg=v.op.name)
            saver.restore(sess, prefix)
        assert len(graph.get_operations()) == n_ops  # restoring feeds prebuilt assign ops


def test_checkpoint_is_a_plain_npz_keyed_by_variable_name(tmp_path: Path) -> None:
    w = tf.Variable(np.ones((2, 2), np.float32), name="layer/W")
    n = tf.Variable(7, name="count")
    saver = tf.train.Saver([w, n])
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        prefix = saver.save(sess, str(tmp_path / "model"))
    with np.load(prefix + ".npz", allow_pickle=False) as data:
        assert sorted(data.files) == ["count", "layer/W"]
        np.testing.assert_array_equal(data["layer/W"], np.ones((2, 2), np.float32))
        assert data["count"].dtype == np.int32 and data["count"] == 7
    assert sorted(os.listdir(tmp_path)) == ["checkpoint", "model.npz"]  # no temp files left


def test_dict_var_list_uses_the_given_names(tmp_path: Path) -> None:
    a = tf.Variable([1.0, 2.0], name="a")
    b = tf.Variable([0.0, 0.0], name="b")
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        prefix = tf.train.Saver({"shared": a}).save(sess, str(tmp_path / "ckpt"))
        tf.train.Saver({"shared": b}).restore(sess, prefix)
        np.testing.assert_array_equal(sess.run(b), [1.0, 2.0])


def test_max_to_keep_and_the_checkpoint_index(tmp_path: Path) -> None:
    v = tf.Variable(0.0, name="v")
    saver = tf.train.Saver(max_to_keep=2)
    base = str(tmp_path / "model.ckpt")
    with tf.Session() as sess:
        sess.run(v.initializer)
        for step in range(1, 5):
            sess.run(v.assign(float(step)))
            saver.save(sess, base, global_step=step)
    assert sorted(os.listdir(tmp_path)) == ["checkpoint", "model.ckpt-3.npz",
                                            "model.ckpt-4.npz"]
    assert saver.last_checkpoints == [f"{base}-3", f"{base}-4"]
    assert (tmp_path / "checkpoint").read_text().splitlines() == [
        'model_checkpoint_path: "model.ckpt-4"',
        'all_model_checkpoint_paths: "model.ckpt-3"',
        'all_model_checkpoint_paths: "model.ckpt-4"',
    ]
    assert tf.train.latest_checkpoint(str(tmp_path)) == f"{base}-4"
    with tf.Session() as sess:
        saver.restore(sess, f"{base}-3")
        assert sess.run(v) == 3.0


def test_latest_checkpoint_is_none_without_checkpoints(tmp_path: Path) -> None:
    assert tf.train.latest_checkpoint(str(tmp_path)) is None
    (tmp_path / "checkpoint").write_text('model_checkpoint_path: "gone-1"\n')
    assert tf.train.latest_checkpoint(str(tmp_path)) is None


def test_restore_errors(tmp_path: Path) -> None:
    with tf.Graph().as_default():
        a = tf.Variable(np.zeros(3, np.float32), name="a")
        with tf.Session() as sess:
            sess.run(a.initializer)
            prefix = tf.train.Saver().save(sess, str(tmp_path / "ckpt"))

    missing = tf.Variable(np.zeros(3, np.float32), name="missing")
    with tf.Session() as sess, pytest.raises(tf.errors.NotFoundError, match="Key missing"):
        tf.train.Saver([missing]).restore(sess, prefix)

    wrong_shape = tf.Variable(np.zeros(4, np.float32), name="a")
    with tf.Session() as sess, pytest.raises(tf.errors.InvalidArgumentError,
                                             match=r"lhs shape= \[4\] rhs shape= \[3\]"):
        tf.train.Saver([wrong_shape]).restore(sess, prefix)

    wrong_dtype = tf.Variable(np.zeros(3), name="float64")
    with tf.Session() as sess, pytest.raises(tf.errors.InvalidArgumentError,
                                             match="expected dtype float64"):
        tf.train.Saver({"a": wrong_dtype}).restore(sess, prefix)

    with pytest.raises(ValueError, match="not a valid checkpoint"), tf.Session() as sess:
        tf.train.Saver([missing]).restore(sess, str(tmp_path / "nothing"))


def test_save_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="No variables to save"):
        tf.train.Saver()
    v = tf.Variable(1.0, name="v")
    with tf.Session() as sess:
        sess.run(v.initializer)
        with pytest.raises(ValueError, match="Parent directory"):
            tf.train.Saver().save(sess, str(tmp_path / "no" / "such" / "dir" / "model"))
