"""High-level estimators: tf.contrib.learn and tf.estimator spellings of the canned models,
custom model_fns, input functions, checkpoints/resume, metrics files and export."""

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

import engine as tf
from engine import saved_model

datasets = pytest.importorskip("sklearn.datasets")

Split = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


@pytest.fixture(scope="module")
def iris() -> Split:
    data = datasets.load_iris()
    x, y = data.data.astype(np.float32), data.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(x))
    train, test = order[:120], order[120:]
    return x[train], y[train], x[test], y[test]


@pytest.fixture(scope="module")
def diabetes() -> Split:
    data = datasets.load_diabetes()
    x, y = data.data, data.target.astype(np.float32)
    order = np.random.default_rng(3).permutation(len(x))
    train, test = order[:350], order[350:]
    mean, std = x[train].mean(0), x[train].std(0)
    x = ((x - mean) / std).astype(np.float32)
    return x[train], y[train], x[test], y[test]


@pytest.fixture(scope="module")
def trained_iris(iris: Split, tmp_path_factory: pytest.TempPathFactory
                 ) -> tuple[tf.contrib.learn.DNNClassifier, float]:
    """The contrib.learn iris tutorial, with only the import changed; and its fit time."""
    train_x, train_y, _, _ = iris
    feature_columns = [tf.contrib.layers.real_valued_column("", dimension=4)]
    classifier = tf.contrib.learn.DNNClassifier(feature_columns=feature_columns,
                                                hidden_units=[10, 20, 10], n_classes=3,
                                                model_dir=str(tmp_path_factory.mktemp("iris")))
    started = time.perf_counter()
    classifier.fit(x=train_x, y=train_y, steps=2000)
    return classifier, time.perf_counter() - started


def _r2(predicted: np.ndarray, actual: np.ndarray) -> float:
    return 1 - float(np.sum((predicted - actual) ** 2) / np.sum((actual - actual.mean()) ** 2))


def _metrics(model_dir: str) -> list[dict]:
    with open(os.path.join(model_dir, "metrics.jsonl"), encoding="utf-8") as f:
        return [json.loads(line) for line in f]


# -- contrib.learn --------------------------------------------------------------------------------
def test_iris_tutorial(trained_iris: tuple, iris: Split) -> None:
    classifier, seconds = trained_iris
    _, _, test_x, test_y = iris
    accuracy_score = classifier.evaluate(x=test_x, y=test_y)["accuracy"]
    assert accuracy_score >= 0.93
    assert seconds < 10  # 2000 full-batch steps: one compiled plan, a reused feed dict
    new_samples = np.array([[6.4, 3.2, 4.5, 1.5], [5.8, 3.1, 5.0, 1.7]], dtype=float)
    y = list(classifier.predict(new_samples, as_iterable=True))
    assert len(y) == 2 and all(isinstance(c, int) and 0 <= c < 3 for c in y)
    proba = classifier.predict_proba(test_x, as_iterable=False)
    assert proba.shape == (30, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(classifier.predict_classes(test_x, as_iterable=False),
                                  proba.argmax(axis=1))


def test_fit_resumes_from_checkpoints(trained_iris: tuple, iris: Split) -> None:
    classifier, _ = trained_iris
    train_x, train_y, test_x, test_y = iris
    assert classifier.get_variable_value("global_step") == 2000
    classifier.fit(x=train_x, y=train_y, steps=100)
    assert classifier.evaluate(x=test_x, y=test_y)["global_step"] == 2100
    # A new object on the same model_dir picks up the same checkpoint and keeps counting.
    again = tf.contrib.learn.DNNClassifier(
        feature_columns=[tf.contrib.layers.real_valued_column("", dimension=4)],
        hidden_units=[10, 20, 10], n_classes=3, model_dir=classifier.model_dir)
    np.testing.assert_array_equal(again.predict(test_x, as_iterable=False),
                                  classifier.predict(test_x, as_iterable=False))
    again.fit(x=train_x, y=train_y, max_steps=2150)
    again.fit(x=train_x, y=train_y, max_steps=2150)  # already there: nothing to do
    assert again.get_variable_value("global_step") == 2150
    steps = [m["step"] for m in _metrics(classifier.model_dir) if m["tag"] == "loss"]
    assert steps == sorted(steps) and steps[-1] == 2150 and 100 in steps and 2000 in steps


def test_training_and_evaluation_write_metrics(trained_iris: tuple) -> None:
    classifier, _ = trained_iris
    records = _metrics(classifier.model_dir)
    tags = {m["tag"] for m in records}
    assert {"loss", "accuracy", "average_loss", "eval/accuracy", "eval/loss"} <= tags
    accuracy = [m for m in records if m["tag"] == "accuracy"]
    assert accuracy[-1]["value"] > 0.9 and all(isinstance(m["step"], int) for m in accuracy)


def test_linear_regressor_on_diabetes(diabetes: Split, tmp_path: Path) -> None:
    train_x, train_y, test_x, test_y = diabetes
    columns = tf.contrib.learn.infer_real_valued_columns_from_input(train_x)
    assert [c.name for c in columns] == [""]
    regressor = tf.contrib.learn.LinearRegressor(
        feature_columns=columns, model_dir=str(tmp_path),
        optimizer=tf.train.GradientDescentOptimizer(0.1))
    regressor.fit(x=train_x, y=train_y, steps=300)
    assert _r2(regressor.predict(test_x, as_iterable=False), test_y) > 0.4
    scores = regressor.evaluate(x=test_x, y=test_y)
    assert set(scores) >= {"loss", "average_loss", "rmse", "global_step"}
    assert scores["loss"] == pytest.approx(scores["average_loss"])  # contrib.learn: mean loss
    assert scores["rmse"] == pytest.approx(np.sqrt(scores["average_loss"]))
    assert {"rmse", "eval/rmse"} <= {m["tag"] for m in _metrics(str(tmp_path))}


def test_standardized_targets_train_in_any_units(diabetes: Split, tmp_path: Path) -> None:
    """label_mean/label_scale (kumo's): targets in thousands train with TF's default Adagrad
    as targets near 1 do; predictions, rmse and the snapshot are in the targets' units."""
    train_x, train_y, test_x, test_y = diabetes
    train_y, test_y = train_y * 1000, test_y * 1000
    regressor = tf.estimator.DNNRegressor(
        hidden_units=[16], feature_columns=[tf.feature_column.numeric_column("x", shape=[10])],
        model_dir=str(tmp_path / "m"), label_mean=float(train_y.mean()),
        label_scale=float(train_y.std()), config=tf.estimator.RunConfig(tf_random_seed=1))
    regressor.train(tf.estimator.inputs.numpy_input_fn(
        {"x": train_x}, train_y, batch_size=32, num_epochs=None, shuffle=True), steps=300)
    predicted = np.array([p["predictions"][0] for p in regressor.predict(
        tf.estimator.inputs.numpy_input_fn({"x": test_x}, shuffle=False))])
    assert _r2(predicted, test_y) > 0.4
    scores = regressor.evaluate(tf.estimator.inputs.numpy_input_fn(
        {"x": test_x}, test_y, batch_size=len(test_x), shuffle=False))
    assert scores["rmse"] == pytest.approx(np.sqrt(np.mean((predicted - test_y) ** 2)), rel=1e-4)
    snapshot = saved_model.load(regressor.export_savedmodel(str(tmp_path / "export")))
    served = snapshot.predict({"x": test_x.astype(np.float32)})["predictions"][:, 0]
    np.testing.assert_allclose(served, predicted, rtol=1e-5)
    with pytest.raises(ValueError, match="label_scale finite and positive"):
        tf.estimator.DNNRegressor(hidden_units=[4], feature_columns=[], label_scale=0.0)


def test_dnn_regressor_on_diabetes(diabetes: Split, tmp_path: Path) -> None:
    train_x, train_y, test_x, test_y = diabetes
    regressor = tf.estimator.DNNRegressor(
        hidden_units=[16], feature_columns=[tf.feature_column.numeric_column("x", shape=[10])],
        model_dir=str(tmp_path), optimizer=tf.train.AdagradOptimizer(1.0),
        config=tf.estimator.RunConfig(tf_random_seed=1))
    regressor.train(tf.estimator.inputs.numpy_input_fn(
        {"x": train_x}, train_y, batch_size=len(train_x), num_epochs=None, shuffle=True),
        steps=500)
    predictions = list(regressor.predict(tf.estimator.inputs.numpy_input_fn(
        {"x": test_x}, shuffle=False)))
    assert set(predictions[0]) == {"predictions"} and predictions[0]["predictions"].shape == (1,)
    assert _r2(np.array([p["predictions"][0] for p in predictions]), test_y) > 0.4
    scores = regressor.evaluate(tf.estimator.inputs.numpy_input_fn(
        {"x": test_x}, test_y, batch_size=40, shuffle=False))
    # tf.estimator: 'loss' is the mean over batches of each batch's summed loss.
    assert scores["loss"] > 10 * scores["average_loss"]
    assert scores["global_step"] == 500


# -- tf.estimator ---------------------------------------------------------------------------------
def _separable(n: int = 200) -> tuple[dict[str, np.ndarray], np.ndarray]:
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 2, n)
    points = rng.normal(size=(n, 2)) + np.where(labels[:, None] == 1, 3.0, -3.0)
    return {"point": points.astype(np.float32)}, labels


def test_linear_classifier_binary(tmp_path: Path) -> None:
    features, labels = _separable()
    classifier = tf.estimator.LinearClassifier(
        feature_columns=[tf.feature_column.numeric_column("point", shape=2)],
        model_dir=str(tmp_path), label_vocabulary=["no", "yes"])
    names = np.array(["no", "yes"])[labels]
    classifier.train(lambda: (features, names), steps=50)  # one constant batch
    scores = classifier.evaluate(lambda: (features, names))
    assert scores["accuracy"] == 1.0 and scores["auc"] == 1.0
    assert {"precision", "recall", "prediction/mean", "label/mean", "average_loss",
            "global_step"} <= set(scores)
    first = next(classifier.predict(tf.estimator.inputs.numpy_input_fn(
        {"point": features["point"][:1]}, shuffle=False)))
    assert set(first) == {"logits", "logistic", "probabilities", "class_ids", "classes"}
    assert first["classes"][0] == names[0].encode()
    assert first["probabilities"].shape == (2,) and first["logits"].shape == (1,)
    assert set(classifier.get_variable_names()) >= {
        "linear/linear_model/point/weights", "linear/linear_model/bias_weights", "global_step"}


def _shop(n: int = 300) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Buys depends on a categorical 'color' and on an 'age' bucket, not linearly on age."""
    rng = np.random.default_rng(7)
    colors = rng.choice(["red", "green", "blue"], n)
    age = rng.uniform(0, 90, n).astype(np.float32)
    income = rng.normal(size=(n, 1)).astype(np.float32)
    labels = ((colors == "red") | ((age > 30) & (age < 60))).astype(np.int64)
    return {"color": colors, "age": age, "income": income}, labels


_COLOR = tf.feature_column.categorical_column_with_vocabulary_list(
    "color", ["red", "green", "blue"])
_AGE_BUCKETS = tf.feature_column.bucketized_column(
    tf.feature_column.numeric_column("age"), boundaries=[30.0, 60.0])


def test_bucketized_and_vocabulary_columns_train(tmp_path: Path) -> None:
    features, labels = _shop()
    classifier = tf.estimator.LinearClassifier(feature_columns=[_COLOR, _AGE_BUCKETS],
                                               model_dir=str(tmp_path))
    classifier.train(tf.estimator.inputs.numpy_input_fn(
        features, labels, batch_size=50, num_epochs=None, shuffle=True), steps=300)
    scores = classifier.evaluate(tf.estimator.inputs.numpy_input_fn(
        features, labels, batch_size=100, shuffle=False))
    assert scores["accuracy"] == 1.0
    weights = classifier.get_variable_value("linear/linear_model/color/weights")
    assert weights.shape == (3, 1) and weights[0, 0] > weights[1, 0]  # red buys


def test_dnn_linear_combined_classifier(tmp_path: Path) -> None:
    features, labels = _shop()
    classifier = tf.estimator.DNNLinearCombinedClassifier(
        model_dir=str(tmp_path), linear_feature_columns=[_COLOR, _AGE_BUCKETS],
        dnn_feature_columns=[tf.feature_column.embedding_column(_COLOR, dimension=2),
                             tf.feature_column.indicator_column(_AGE_BUCKETS),
                             tf.feature_column.numeric_column("income")],
        dnn_hidden_units=[8], dnn_dropout=0.1, config=tf.estimator.RunConfig(tf_random_seed=3))
    classifier.train(lambda: (features, labels), steps=200)
    assert classifier.evaluate(lambda: (features, labels))["accuracy"] >= 0.95
    names = classifier.get_variable_names()
    assert "dnn/input_from_feature_columns/input_layer/color_embedding/embedding_weights" \
        in names and "dnn/hiddenlayer_0/kernel" in names and "dnn/logits/bias" in names
    assert "linear/linear_model/age_bucketized/weights" in names


def test_custom_model_fn_with_constant_tensors(tmp_path: Path) -> None:
    """TF's getting-started custom Estimator: y = W*x + b."""

    def model_fn(features, labels, mode):
        W = tf.Variable(tf.zeros([1], dtype=tf.float64), name="W")
        b = tf.Variable(tf.zeros([1], dtype=tf.float64), name="b")
        y = W * features["x"] + b
        if mode == tf.estimator.ModeKeys.PREDICT:
            return tf.estimator.EstimatorSpec(mode, predictions=y)
        loss = tf.reduce_sum(tf.square(y - labels))
        global_step = tf.train.get_global_step()
        optimizer = tf.train.GradientDescentOptimizer(0.01)
        train = tf.group(optimizer.minimize(loss), tf.assign_add(global_step, 1))
        return tf.estimator.EstimatorSpec(mode=mode, predictions=y, loss=loss, train_op=train,
                                          eval_metric_ops={"w": tf.reduce_mean(W)})

    estimator = tf.estimator.Estimator(model_fn=model_fn, model_dir=str(tmp_path))

    def input_fn():
        return ({"x": tf.constant([1.0, 2.0, 3.0, 4.0], dtype=tf.float64)},
                tf.constant([0.0, -1.0, -2.0, -3.0], dtype=tf.float64))

    estimator.train(input_fn=input_fn, steps=1000)
    scores = estimator.evaluate(input_fn=input_fn)
    assert scores["loss"] < 1e-6 and scores["w"] == pytest.approx(-1.0, abs=1e-3)
    assert scores["global_step"] == 1000
    predictions = list(estimator.predict(input_fn))
    np.testing.assert_allclose(predictions, [0.0, -1.0, -2.0, -3.0], atol=1e-3)
    with pytest.raises(ValueError, match="serving_input_receiver_fn"):
        estimator.export_savedmodel(str(tmp_path / "export"))
    receiver_fn = tf.estimator.export.build_raw_serving_input_receiver_fn(
        {"x": np.zeros(1, np.float64)})
    predictor = saved_model.load(estimator.export_savedmodel(str(tmp_path / "export"),
                                                             receiver_fn))
    np.testing.assert_allclose(predictor.predict({"x": np.array([5.0])})["output"],
                               [-4.0], atol=1e-3)
    with pytest.raises(ValueError, match="steps or max_steps"):
        estimator.train(input_fn)


# -- input functions and datasets -----------------------------------------------------------------
def test_numpy_input_fn_batches_and_epochs() -> None:
    x = {"a": np.arange(10), "b": np.arange(10) * 2.0}
    y = np.arange(10) % 2
    batches = list(tf.estimator.inputs.numpy_input_fn(x, y, batch_size=4, num_epochs=2,
                                                      shuffle=False)())
    assert [len(labels) for _, labels in batches] == [4, 4, 2, 4, 4, 2]
    np.testing.assert_array_equal(batches[1][0]["a"], [4, 5, 6, 7])
    make = tf.contrib.learn.io.numpy_input_fn
    shuffled = [np.concatenate([f["a"] for f, _ in make(x, y, 3, 1, True, seed=s)()])
                for s in (1, 1, 2)]
    assert sorted(shuffled[0]) == list(range(10))
    np.testing.assert_array_equal(shuffled[0], shuffled[1])  # seeded
    assert not np.array_equal(shuffled[0], shuffled[2])
    only_x = next(make(np.ones((5, 3)), batch_size=2, shuffle=False)())
    assert only_x.shape == (2, 3)
    with pytest.raises(ValueError, match="shuffle"):
        make(x, y)
    with pytest.raises(ValueError, match="same number"):
        make(x, y[:5], shuffle=False)


def test_load_csv_with_header(tmp_path: Path) -> None:
    path = tmp_path / "iris_training.csv"
    path.write_text("3,4,setosa,versicolor,virginica\n6.4,2.8,5.6,2.2,2\n5.0,2.3,3.3,1.0,1\n"
                    "4.9,2.5,4.5,1.7,2\n")
    data = tf.contrib.learn.datasets.base.load_csv_with_header(
        filename=str(path), target_dtype=np.int32, features_dtype=np.float32)
    assert data.data.shape == (3, 4) and data.data.dtype == np.float32
    np.testing.assert_array_equal(data.target, [2, 1, 2])
    first = tf.contrib.learn.datasets.base.load_csv_with_header(
        str(path), np.float32, np.float32, target_column=0)
    np.testing.assert_allclose(first.target, [6.4, 5.0, 4.9])


def test_feature_column_encoding() -> None:
    color = tf.feature_column.categorical_column_with_vocabulary_list("c", ["a", "b"])
    oov = tf.feature_column.categorical_column_with_vocabulary_list("d", ["a"],
                                                                    num_oov_buckets=3)
    encoded = tf.feature_column.encode(
        {"c": np.array(["b", "a", "zzz"]), "d": np.array([b"a", b"q", b"a"]),
         "n": np.ones(3)}, [color, oov])
    np.testing.assert_array_equal(encoded["c"], [[1], [0], [-1]])
    assert encoded["d"][0, 0] == 0 and 1 <= encoded["d"][1, 0] < 4
    ages = tf.feature_column.bucketized_column(tf.feature_column.numeric_column("age"),
                                               [18.0, 65.0])
    dense = tf.feature_column.input_layer(
        {"age": np.array([[10.0], [18.0], [70.0]], np.float32), "c": encoded["c"]},
        [ages, tf.feature_column.indicator_column(color)])
    with tf.Session() as sess:
        np.testing.assert_array_equal(sess.run(dense), [[1, 0, 0, 0, 1], [0, 1, 0, 1, 0],
                                                        [0, 0, 1, 0, 0]])
    with pytest.raises(ValueError, match="categorical"):
        tf.feature_column.input_layer({"c": encoded["c"]}, [color])
    with pytest.raises(ValueError, match="read in two different ways"):
        tf.feature_column.raw_features([tf.feature_column.numeric_column("c"), color])


# -- export ---------------------------------------------------------------------------------------
def _roundtrip(estimator, features: dict[str, np.ndarray], served: dict[str, np.ndarray],
               export_base: Path) -> dict:
    """Export, load and check the snapshot predicts what estimator.predict does."""
    path = estimator.export_savedmodel(str(export_base))
    predictor = saved_model.load(path)
    outputs = predictor.predict(served)
    expected = list(tf.estimator.Estimator.predict(  # the dicts, for contrib.learn ones too
        estimator, tf.estimator.inputs.numpy_input_fn(features, batch_size=64, shuffle=False)))
    for name, value in outputs.items():
        np.testing.assert_allclose(value, np.stack([e[name] for e in expected]), atol=1e-6,
                                   err_msg=name)
    return predictor.metadata


def test_export_roundtrip_dnn_classifier(trained_iris: tuple, iris: Split,
                                         tmp_path: Path) -> None:
    classifier, _ = trained_iris
    test_x = iris[2]
    metadata = _roundtrip(classifier, {"": test_x}, {"x": test_x}, tmp_path)
    assert metadata["head"] == "classification" and metadata["n_classes"] == 3
    assert metadata["inputs"] == [{"name": "x", "key": "", "dtype": "float32", "shape": [4]}]
    predictor = saved_model.load(classifier.export_savedmodel(str(tmp_path)))
    assert set(predictor.signature["outputs"]) == {"class_ids", "probabilities", "logits"}
    np.testing.assert_array_equal(predictor.predict(test_x)["class_ids"][:, 0],
                                  classifier.predict(test_x, as_iterable=False))


@pytest.mark.parametrize("kind", ["linear_classifier", "linear_regressor", "dnn_regressor",
                                  "combined_classifier", "combined_regressor"])
def test_export_roundtrip(kind: str, tmp_path: Path) -> None:
    features, labels = _shop(120)
    numeric = tf.feature_column.numeric_column("income")
    linear = [_COLOR, _AGE_BUCKETS, numeric]
    dnn = [tf.feature_column.embedding_column(_COLOR, 3), numeric]
    model_dir, config = str(tmp_path / "model"), tf.estimator.RunConfig(tf_random_seed=0)
    made = {
        "linear_classifier": lambda: tf.estimator.LinearClassifier(
            linear, model_dir, n_classes=3, config=config),
        "linear_regressor": lambda: tf.contrib.learn.LinearRegressor(
            feature_columns=linear, model_dir=model_dir, config=config),
        "dnn_regressor": lambda: tf.estimator.DNNRegressor(
            [4], dnn, model_dir, config=config),
        "combined_classifier": lambda: tf.contrib.learn.DNNLinearCombinedClassifier(
            model_dir=model_dir, linear_feature_columns=linear, dnn_feature_columns=dnn,
            dnn_hidden_units=[4], config=config),
        "combined_regressor": lambda: tf.estimator.DNNLinearCombinedRegressor(
            model_dir, linear_feature_columns=linear, dnn_feature_columns=dnn,
            dnn_hidden_units=[4], config=config),
    }[kind]
    estimator = made()
    targets = labels + (features["color"] == "blue") if kind == "linear_classifier" else labels
    estimator.train(lambda: (features, targets), steps=20)
    served = tf.feature_column.encode(features, dnn if kind == "dnn_regressor" else linear)
    metadata = _roundtrip(estimator, features, served, tmp_path / "export")
    assert metadata["head"] == ("regression" if kind.endswith("regressor") else "classification")
    color = next(i for i in metadata["inputs"] if i["key"] == "color")
    assert color == {"name": "color", "key": "color", "dtype": "int64", "shape": [1],
                     "vocabulary": ["red", "green", "blue"], "num_oov_buckets": 0,
                     "num_buckets": 3}


# -- errors ---------------------------------------------------------------------------------------
def test_clear_errors(iris: Split, tmp_path: Path) -> None:
    train_x, train_y, _, _ = iris
    columns = [tf.contrib.layers.real_valued_column("", dimension=4)]
    classifier = tf.contrib.learn.DNNClassifier(hidden_units=[4], feature_columns=columns,
                                                n_classes=3, model_dir=str(tmp_path))
    with pytest.raises(ValueError, match=r"Wrong shape for the input x: expected \[batch, 4\]"):
        classifier.fit(x=train_x[:, :3], y=train_y, steps=1)
    with pytest.raises(ValueError, match="Labels must be in"):
        classifier.fit(x=train_x, y=train_y + 1, steps=1)
    with pytest.raises(ValueError, match="Could not find trained model"):
        classifier.evaluate(x=train_x, y=train_y)
    with pytest.raises(ValueError, match="steps or max_steps"):
        classifier.fit(x=train_x, y=train_y)
    with pytest.raises(ValueError, match="Unsupported optimizer name: Adamax"):
        tf.estimator.DNNClassifier([4], columns, optimizer="Adamax")
    for n_classes in (1, 0):
        with pytest.raises(ValueError, match="n_classes must be an integer >= 2"):
            tf.contrib.learn.LinearClassifier(feature_columns=columns, n_classes=n_classes)
    with pytest.raises(ValueError, match="hidden_units"):
        tf.estimator.DNNRegressor([], columns)
    with pytest.raises(ValueError, match="feature_columns must not be empty"):
        tf.estimator.LinearRegressor([])
    with pytest.raises(ValueError, match="label_vocabulary"):
        tf.estimator.LinearClassifier(columns, n_classes=3, label_vocabulary=["a", "b"])
