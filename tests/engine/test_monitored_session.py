"""tf.train.MonitoredTrainingSession and the standard hooks: the TF 1.x training loop."""

import json
import logging
from pathlib import Path

import numpy as np
import pytest

import engine as tf

RNG = np.random.default_rng(0)
X = RNG.standard_normal((64, 3)).astype(np.float32)
Y = X @ np.array([[2.0], [-1.0], [0.5]], np.float32)


def _model():
    """A linear regression on a repeating dataset, with a loss summary and a global step."""
    step = tf.train.get_or_create_global_step()
    features, target = tf.data.Dataset.from_tensor_slices((X, Y)).batch(16).repeat() \
        .make_one_shot_iterator().get_next()
    w = tf.Variable(tf.zeros([3, 1]), name="w")
    loss = tf.reduce_mean(tf.square(tf.matmul(features, w) - target))
    tf.summary.scalar("loss", loss)
    train = tf.train.GradientDescentOptimizer(0.1).minimize(loss, global_step=step)
    return step, w, loss, train


def _metrics(directory: Path) -> list[dict]:
    return [json.loads(line) for line in (directory / "metrics.jsonl").read_text().splitlines()]


def test_the_tf1_loop_stops_at_the_last_step_and_saves_checkpoints_and_summaries(
        tmp_path: Path) -> None:
    *_, train = _model()
    with tf.train.MonitoredTrainingSession(
            checkpoint_dir=str(tmp_path), save_summaries_steps=10, save_checkpoint_steps=25,
            hooks=[tf.train.StopAtStepHook(last_step=60)]) as sess:
        runs = 0
        while not sess.should_stop():
            sess.run(train)
            runs += 1
        with pytest.raises(RuntimeError, match="should_stop"):
            sess.run(train)
    assert runs == 60
    assert tf.train.latest_checkpoint(str(tmp_path)).endswith("model.ckpt-60")
    saved = sorted(p.name for p in tmp_path.glob("model.ckpt-*"))
    assert {"model.ckpt-0.npz", "model.ckpt-25.npz", "model.ckpt-50.npz",
            "model.ckpt-60.npz"} <= set(saved)
    losses = [m for m in _metrics(tmp_path) if m["tag"] == "loss"]
    assert [m["step"] for m in losses] == [1, 11, 21, 31, 41, 51]  # after each run, as TF
    assert losses[-1]["value"] < losses[0]["value"] / 10
    assert (tmp_path / "graph.json").exists()


def test_a_restarted_job_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    for last in (30, 50):
        with tf.Graph().as_default():
            step, _, _, train = _model()
            with tf.train.MonitoredTrainingSession(
                    checkpoint_dir=str(tmp_path), log_step_count_steps=None,
                    hooks=[tf.train.StopAtStepHook(last_step=last)]) as sess:
                first = sess.run(step)
                while not sess.should_stop():
                    sess.run(train)
        assert first == (0 if last == 30 else 30)
    assert tf.train.latest_checkpoint(str(tmp_path)).endswith("model.ckpt-50")


def test_the_end_of_the_data_ends_the_loop_quietly_and_hooks_see_the_end(
        tmp_path: Path) -> None:
    step = tf.train.get_or_create_global_step()
    value = tf.data.Dataset.range(5).make_one_shot_iterator().get_next()
    bump = tf.assign_add(step, 1)
    final = tf.train.FinalOpsHook(step)
    seen = []
    with tf.train.MonitoredTrainingSession(hooks=[final]) as sess:
        while not sess.should_stop():
            seen.append(int(sess.run([value, bump])[0]))
    assert seen == [0, 1, 2, 3, 4]
    assert final.final_ops_values == 5


def test_num_steps_counts_from_the_restored_step_and_feeds_come_from_a_hook() -> None:
    step = tf.train.get_or_create_global_step()
    x = tf.placeholder(tf.float32, [])
    total = tf.Variable(0.0)
    add = tf.group(tf.assign_add(total, x), tf.assign_add(step, 1))
    final = tf.train.FinalOpsHook(total)
    hooks = [tf.train.StopAtStepHook(num_steps=4), tf.train.FeedFnHook(lambda: {x: 2.5}), final]
    with tf.train.MonitoredSession(hooks=hooks) as sess:
        while not sess.should_stop():
            sess.run(add)
    assert final.final_ops_values == 10.0


def test_logging_and_step_counter_hooks_write_what_they_measure(tmp_path: Path,
                                                                caplog) -> None:
    step, _, loss, train = _model()
    hooks = [tf.train.LoggingTensorHook({"loss": loss, "step": step}, every_n_iter=5),
             tf.train.StopAtStepHook(last_step=12)]
    with caplog.at_level(logging.INFO, logger="engine"), tf.train.MonitoredTrainingSession(
            checkpoint_dir=str(tmp_path), hooks=hooks, log_step_count_steps=4,
            save_checkpoint_secs=None) as sess:
        while not sess.should_stop():
            sess.run(train)
    logged = [r.getMessage() for r in caplog.records if r.getMessage().startswith("loss = ")]
    assert len(logged) == 3 and "step = " in logged[0]  # iterations 0, 5 and 10
    rates = [m for m in _metrics(tmp_path) if m["tag"] == "global_step/sec"]
    assert rates and all(m["value"] > 0 for m in rates)
    assert not list(tmp_path.glob("model.ckpt-*"))  # checkpoints were turned off


def test_a_nan_loss_fails_training_or_only_stops_it() -> None:
    tf.train.get_or_create_global_step()
    bad = tf.constant(np.nan)
    with pytest.raises(tf.train.NanLossDuringTrainingError, match="NaN loss"), \
            tf.train.MonitoredSession(hooks=[tf.train.NanTensorHook(bad)]) as sess:
        sess.run(bad)
    with tf.train.MonitoredSession(hooks=[tf.train.NanTensorHook(bad, False)]) as sess:
        sess.run(bad)
        assert sess.should_stop()


def test_the_graph_is_finalized_and_hooks_are_checked() -> None:
    tf.train.get_or_create_global_step()
    with tf.train.MonitoredSession() as sess:
        with pytest.raises(RuntimeError, match="finalized"):
            tf.constant(1.0)
        assert sess.graph is tf.get_default_graph()
    with pytest.raises(TypeError, match="SessionRunHook"):
        tf.train.MonitoredSession(hooks=[object()])


@pytest.mark.parametrize(("make", "match"), [
    (lambda: tf.train.StopAtStepHook(), "One of num_steps or last_step"),
    (lambda: tf.train.StopAtStepHook(num_steps=1, last_step=2), "Only one of"),
    (lambda: tf.train.CheckpointSaverHook("d", save_secs=1, save_steps=1), "Either every_secs"),
    (lambda: tf.train.SummarySaverHook(save_steps=1, output_dir="d"), "scaffold or summary_op"),
    (lambda: tf.train.LoggingTensorHook({}, every_n_iter=0), "every_n_iter"),
])
def test_hook_arguments_are_checked(make, match) -> None:
    with pytest.raises(ValueError, match=match):
        make()


def test_step_hooks_need_a_global_step() -> None:
    tf.Variable(1.0)
    with pytest.raises(RuntimeError, match="Global step should be created"):
        tf.train.MonitoredSession(hooks=[tf.train.StopAtStepHook(last_step=1)])
