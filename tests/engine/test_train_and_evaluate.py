"""tf.estimator.train_and_evaluate: Cloud ML Engine's way of driving an estimator."""

from pathlib import Path

import numpy as np
import pytest

import engine as tf

RNG = np.random.default_rng(3)
X = RNG.standard_normal((200, 2)).astype(np.float32)
Y = (X[:, 0] + X[:, 1] > 0).astype(np.int32)


def _input(epochs, shuffle=True):
    return tf.estimator.inputs.numpy_input_fn({"x": X}, Y, batch_size=20, num_epochs=epochs,
                                              shuffle=shuffle)


def _classifier(model_dir: Path, every: int | None) -> tf.estimator.LinearClassifier:
    return tf.estimator.LinearClassifier(
        [tf.feature_column.numeric_column("x", shape=[2])],
        config=tf.estimator.RunConfig(model_dir=str(model_dir), save_checkpoints_steps=every))


def test_trains_to_max_steps_evaluating_and_exporting_on_the_way(tmp_path: Path) -> None:
    estimator = _classifier(tmp_path, every=20)
    receiver = tf.estimator.export.build_raw_serving_input_receiver_fn({"x": X})
    latest = tf.estimator.LatestExporter("latest", receiver, exports_to_keep=2)
    final = tf.estimator.FinalExporter("final", receiver)
    metrics, exports = tf.estimator.train_and_evaluate(
        estimator, tf.estimator.TrainSpec(_input(None), max_steps=60),
        tf.estimator.EvalSpec(_input(1, shuffle=False), steps=None, throttle_secs=0,
                              exporters=[latest, final]))
    assert metrics["global_step"] == 60 and metrics["accuracy"] > 0.9
    assert len(exports) == 2 and all(Path(p).parent.name in ("latest", "final")
                                     for p in exports)
    # evaluations after steps 20, 40 and the final one at 60: three latest exports, two kept
    assert len(list((tmp_path / "export" / "latest").iterdir())) == 2
    assert len(list((tmp_path / "export" / "final").iterdir())) == 1
    evals = [line for line in (tmp_path / "metrics.jsonl").read_text().splitlines()
             if '"eval/accuracy"' in line]
    assert len(evals) == 3
    outputs = tf.saved_model.load(exports[-1]).predict({"x": X[:4]})
    assert outputs and all(len(v) == 4 for v in outputs.values())


def test_an_input_that_ends_ends_training(tmp_path: Path) -> None:
    metrics, exports = tf.estimator.train_and_evaluate(
        _classifier(tmp_path, every=None), tf.estimator.TrainSpec(_input(2)),
        tf.estimator.EvalSpec(_input(1, shuffle=False)))
    assert metrics["global_step"] == 20 and exports == []  # two epochs of ten batches


def test_bad_specs_are_refused() -> None:
    with pytest.raises(TypeError, match="TrainSpec"):
        tf.estimator.train_and_evaluate(_classifier(Path("/tmp/unused"), None), None, None)
    with pytest.raises(ValueError, match="name"):
        tf.estimator.FinalExporter("", lambda: None)
    with pytest.raises(ValueError, match="exports_to_keep"):
        tf.estimator.LatestExporter("x", lambda: None, exports_to_keep=0)
