"""tf.metrics: running totals in local variables, fed batch by batch, checked against closed forms
computed with numpy over the concatenated batches."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import engine as tf
from engine import metrics

RNG = np.random.default_rng(0)
BATCHES = 3


def batches(*makers: Callable[[np.random.Generator], np.ndarray]) -> list[list[np.ndarray]]:
    """BATCHES batches of differing sizes; each maker builds one array of a batch."""
    rng = np.random.default_rng(1)
    return [[make(rng, n) for make in makers] for n in (5, 8, 3)]


def stream(pair: tuple[tf.Tensor, tf.Tensor], placeholders: list[tf.Tensor],
           data: list[list[np.ndarray]]) -> tuple[list, object]:
    """Run update_op once per batch (from freshly initialized local variables); returns the
    update op's values and the value tensor's final value."""
    value, update = pair
    with tf.Session() as sess:
        sess.run(tf.local_variables_initializer())
        updates = [sess.run(update, dict(zip(placeholders, batch, strict=True)))
                   for batch in data]
        return updates, sess.run(value)


def concat(data: list[list[np.ndarray]], index: int) -> np.ndarray:
    return np.concatenate([batch[index] for batch in data])


def binary(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, 2, n)


def weights(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.random(n).astype(np.float32)


def scores(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.random(n).astype(np.float32)


# -- the TF idiom: local variables, update per batch, value over all ------------------------------
def test_accuracy_streams_over_batches_in_local_variables() -> None:
    labels, predictions = tf.placeholder(tf.int64, [None]), tf.placeholder(tf.int64, [None])
    acc, acc_op = metrics.accuracy(labels, predictions)
    variables = tf.local_variables()
    assert [v.name for v in variables] == ["accuracy/total:0", "accuracy/count:0"]
    assert tf.get_collection(tf.GraphKeys.METRIC_VARIABLES) == variables
    assert not tf.global_variables() and not tf.trainable_variables()
    assert acc.name == "accuracy/value:0" and acc_op.name == "accuracy/update_op:0"
    data = batches(binary, binary)
    updates, final = stream((acc, acc_op), [labels, predictions], data)
    correct = [b[0] == b[1] for b in data]
    for i, got in enumerate(updates):  # the update op's value includes its own batch
        np.testing.assert_allclose(got, np.mean(np.concatenate(correct[:i + 1])), rtol=1e-6)
    np.testing.assert_allclose(final, np.mean(np.concatenate(correct)), rtol=1e-6)


def test_local_variables_initializer_resets_and_names_are_unique() -> None:
    values = tf.placeholder(tf.float32, [None])
    pair = metrics.mean(values, name="loss")
    again = metrics.mean(values, name="loss")
    assert [v.name for v in tf.local_variables()] == [
        "loss/total:0", "loss/count:0", "loss_1/total:0", "loss_1/count:0"]
    with tf.Session() as sess:
        sess.run(tf.local_variables_initializer())
        sess.run([pair[1], again[1]], {values: [1.0, 2.0]})
        sess.run(pair[1], {values: [6.0]})
        assert sess.run([pair[0], again[0]]) == [3.0, 1.5]
        sess.run(tf.local_variables_initializer())
        assert sess.run(pair[0]) == 0.0  # no values yet: 0, not nan
        with pytest.raises(tf.errors.FailedPreconditionError):
            tf.Session().run(pair[0])


def test_collections_arguments() -> None:
    value, update = metrics.mean([1.0], metrics_collections=["m"], updates_collections=["u"])
    assert tf.get_collection("m") == [value] and tf.get_collection("u") == [update]


# -- means ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("weighted", [False, True])
def test_mean_and_errors_match_closed_forms(weighted: bool) -> None:
    def values(rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.standard_normal(n).astype(np.float32)

    data = batches(values, values, weights)
    labels, predictions, w = (tf.placeholder(tf.float32, [None]) for _ in range(3))
    lab, pred = concat(data, 0), concat(data, 1)
    wts = concat(data, 2) if weighted else np.ones_like(lab)
    cases = {
        "mean": (metrics.mean(predictions, w if weighted else None),
                 np.sum(pred * wts) / np.sum(wts)),
        "mse": (metrics.mean_squared_error(labels, predictions, w if weighted else None),
                np.sum((lab - pred) ** 2 * wts) / np.sum(wts)),
        "rmse": (metrics.root_mean_squared_error(labels, predictions, w if weighted else None),
                 np.sqrt(np.sum((lab - pred) ** 2 * wts) / np.sum(wts))),
        "mae": (metrics.mean_absolute_error(labels, predictions, w if weighted else None),
                np.sum(np.abs(lab - pred) * wts) / np.sum(wts)),
    }
    for key, (pair, want) in cases.items():
        _, got = stream(pair, [labels, predictions, w], data)
        np.testing.assert_allclose(got, want, rtol=1e-5, err_msg=key)


def test_weights_of_other_shapes() -> None:
    """[N, 1] weights are squeezed to [N]; scalar weights broadcast; zero weights drop values."""
    values = tf.placeholder(tf.float32, [None])
    column = tf.placeholder(tf.float32, [None, 1])
    pairs = [metrics.mean(values, column), metrics.mean(values, 2.0),
             metrics.accuracy(values, tf.constant([1.0, 0.0, 3.0]), weights=[[1.0], [0.0], [1.0]])]
    feed = {values: [1.0, 2.0, 3.0], column: [[1.0], [0.0], [3.0]]}
    with tf.Session() as sess:
        sess.run(tf.local_variables_initializer())
        sess.run([p[1] for p in pairs], feed)
        np.testing.assert_allclose(sess.run([p[0] for p in pairs]), [2.5, 2.0, 1.0])


def test_bad_shapes_are_build_errors() -> None:
    with pytest.raises(ValueError, match="weights can not be broadcast to values"):
        metrics.mean(tf.constant([[1.0, 2.0]]), weights=tf.constant([[1.0, 2.0, 3.0]]))
    with pytest.raises(ValueError, match=r"Shapes \[3\] and \[2\] are incompatible"):
        metrics.accuracy([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="values must not be None"):
        metrics.mean(None)


# -- counts, precision, recall --------------------------------------------------------------------
@pytest.mark.parametrize("weighted", [False, True])
def test_counts_precision_recall_match_closed_forms(weighted: bool) -> None:
    data = batches(binary, binary, weights)
    labels, predictions = tf.placeholder(tf.int32, [None]), tf.placeholder(tf.int32, [None])
    w = tf.placeholder(tf.float32, [None])
    given = w if weighted else None
    lab, pred = concat(data, 0).astype(bool), concat(data, 1).astype(bool)
    wts = concat(data, 2) if weighted else np.ones(lab.shape)
    tp, fp, fn = (np.sum(wts * m) for m in (lab & pred, ~lab & pred, lab & ~pred))
    cases = {
        "tp": (metrics.true_positives(labels, predictions, given), tp),
        "fp": (metrics.false_positives(labels, predictions, given), fp),
        "fn": (metrics.false_negatives(labels, predictions, given), fn),
        "precision": (metrics.precision(labels, predictions, given), tp / (tp + fp)),
        "recall": (metrics.recall(labels, predictions, given), tp / (tp + fn)),
    }
    names = {v.name for v in tf.local_variables()}
    assert {"true_positives/count:0", "precision/true_positives/count:0",
            "precision/false_positives/count:0", "recall/false_negatives/count:0"} <= names
    for key, (pair, want) in cases.items():
        _, got = stream(pair, [labels, predictions, w], data)
        np.testing.assert_allclose(got, want, rtol=1e-5, err_msg=key)


def test_precision_and_recall_are_zero_without_positives() -> None:
    p, p_op = metrics.precision([1, 1], [0, 0])
    r, r_op = metrics.recall([0, 0], [1, 1])
    with tf.Session() as sess:
        sess.run(tf.local_variables_initializer())
        assert sess.run([p_op, r_op, p, r]) == [0.0, 0.0, 0.0, 0.0]


# -- AUC ------------------------------------------------------------------------------------------
def tf_auc(labels: np.ndarray, predictions: np.ndarray, w: np.ndarray, num_thresholds: int,
           curve: str, summation: str = "trapezoidal") -> float:
    """TF 1.x's auc written out in numpy: confusion counts at evenly spaced thresholds, then a
    Riemann sum over adjacent threshold pairs."""
    inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
    thresholds = np.array([-1e-7, *inner, 1 + 1e-7], np.float32)[:, None]
    pos, lab = predictions[None, :] > thresholds, labels.astype(bool)[None, :]
    tp, fn, tn, fp = (np.sum(m * w[None, :], axis=1, dtype=np.float64)
                      for m in (pos & lab, ~pos & lab, ~pos & ~lab, pos & ~lab))
    eps = 1e-6
    rec = (tp + eps) / (tp + fn + eps)
    x, y = (fp / (fp + tn + eps), rec) if curve == "ROC" else (rec, (tp + eps) / (tp + fp + eps))
    heights = {"trapezoidal": (y[:-1] + y[1:]) / 2, "minoring": np.minimum(y[:-1], y[1:]),
               "majoring": np.maximum(y[:-1], y[1:])}[summation]
    return float(np.sum((x[:-1] - x[1:]) * heights))


@pytest.mark.parametrize("curve", ["ROC", "PR"])
@pytest.mark.parametrize("summation", ["trapezoidal", "minoring", "majoring"])
@pytest.mark.parametrize("weighted", [False, True])
def test_auc_matches_tf_formula(curve: str, summation: str, weighted: bool) -> None:
    data = batches(binary, scores, weights)
    labels, predictions = tf.placeholder(tf.int64, [None]), tf.placeholder(tf.float32, [None])
    w = tf.placeholder(tf.float32, [None])
    pair = metrics.auc(labels, predictions, w if weighted else None, num_thresholds=50,
                       curve=curve, summation_method=summation)
    assert [v.name for v in tf.local_variables()] == [
        "auc/true_positives:0", "auc/false_negatives:0", "auc/true_negatives:0",
        "auc/false_positives:0"]
    updates, got = stream(pair, [labels, predictions, w], data)
    wts = concat(data, 2) if weighted else np.ones(len(concat(data, 0)), np.float32)
    want = tf_auc(concat(data, 0), concat(data, 1), wts, 50, curve, summation)
    np.testing.assert_allclose(got, want, rtol=1e-5)
    np.testing.assert_allclose(updates[-1], want, rtol=1e-5)


def test_roc_auc_with_fine_thresholds_is_the_rank_statistic() -> None:
    """With at most one distinct prediction between adjacent thresholds, the trapezoids give
    the exact area: the fraction of (positive, negative) pairs ranked correctly."""
    rng = np.random.default_rng(3)
    predictions = ((rng.permutation(40) + 0.5) / 40).astype(np.float32)
    labels = (rng.random(40) < predictions).astype(np.int32)
    pos, neg = predictions[labels == 1], predictions[labels == 0]
    want = np.mean(pos[:, None] > neg[None, :])
    value, update = metrics.auc(labels, predictions)
    with tf.Session() as sess:
        sess.run(tf.local_variables_initializer())
        sess.run(update)
        np.testing.assert_allclose(sess.run(value), want, rtol=1e-4)


def test_careful_interpolation_pr_auc() -> None:
    """Perfectly separated scores: PR AUC 1 under every summation method."""
    labels, predictions = [0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]
    pairs = [metrics.auc(labels, predictions, curve="PR", summation_method=method)
             for method in ("careful_interpolation", "trapezoidal")]
    with tf.Session() as sess:
        sess.run(tf.local_variables_initializer())
        got = sess.run([p[1] for p in pairs])
    np.testing.assert_allclose(got, [1.0, 1.0], rtol=1e-5)


def test_auc_sorts_given_thresholds() -> None:
    """TF sorts `thresholds`; unsorted ones used to pair non-adjacent curve points."""
    rng = np.random.default_rng(4)
    labels, predictions = rng.integers(0, 2, 30), rng.random(30).astype(np.float32)
    pairs = [metrics.auc(labels, predictions, thresholds=cuts, curve=curve)
             for cuts in ([0.25, 0.5, 0.75], [0.75, 0.25, 0.5]) for curve in ("ROC", "PR")]
    with tf.Session() as sess:
        sess.run(tf.local_variables_initializer())
        got = sess.run([update for _, update in pairs])
    np.testing.assert_allclose(got[2:], got[:2], rtol=1e-6)
    np.testing.assert_allclose(got[0], tf_auc(labels, predictions, np.ones(30), 5, "ROC"),
                               rtol=1e-5)


def test_auc_checks_predictions_and_arguments() -> None:
    labels, predictions = tf.placeholder(tf.bool, [None]), tf.placeholder(tf.float32, [None])
    _, update = metrics.auc(labels, predictions)
    with tf.Session() as sess:
        sess.run(tf.local_variables_initializer())
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=r"predictions must be in \[0, 1\]"):
            sess.run(update, {labels: [True, False], predictions: [0.5, 1.5]})
    with pytest.raises(ValueError, match="curve must be either ROC or PR"):
        metrics.auc([1, 0], [0.5, 0.5], curve="XY")
    with pytest.raises(ValueError, match="num_thresholds must be > 1"):
        metrics.auc([1, 0], [0.5, 0.5], num_thresholds=1)
    with pytest.raises(ValueError, match="summation_method"):
        metrics.auc([1, 0], [0.5, 0.5], summation_method="simpson")


# -- mean per-class accuracy ----------------------------------------------------------------------
@pytest.mark.parametrize("weighted", [False, True])
def test_mean_per_class_accuracy(weighted: bool) -> None:
    def classes(rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.integers(0, 3, n)  # class 3 of 4 never occurs: its accuracy counts as 0

    data = batches(classes, classes, weights)
    labels, predictions = tf.placeholder(tf.int64, [None]), tf.placeholder(tf.int64, [None])
    w = tf.placeholder(tf.float32, [None])
    pair = metrics.mean_per_class_accuracy(labels, predictions, 4, w if weighted else None)
    updates, got = stream(pair, [labels, predictions, w], data)
    lab, pred = concat(data, 0), concat(data, 1)
    wts = concat(data, 2) if weighted else np.ones(lab.shape)
    per_class = np.array([np.sum(wts * (lab == c) * (pred == c)) / np.sum(wts * (lab == c))
                          if c < 3 else 0.0 for c in range(4)])
    np.testing.assert_allclose(updates[-1], per_class, rtol=1e-5)
    np.testing.assert_allclose(got, np.mean(per_class), rtol=1e-5)


def test_mean_per_class_accuracy_rejects_labels_out_of_range() -> None:
    labels = tf.placeholder(tf.int32, [None])
    _, update = metrics.mean_per_class_accuracy(labels, labels, 2)
    with tf.Session() as sess:
        sess.run(tf.local_variables_initializer())
        with pytest.raises(tf.errors.InvalidArgumentError, match="num_classes=2"):
            sess.run(update, {labels: [0, 2]})
    with pytest.raises(TypeError, match="num_classes"):
        metrics.mean_per_class_accuracy([0], [0], "two")
