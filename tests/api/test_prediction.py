"""PredictionService without HTTP: snapshots of the built-in trainers and plain engine
snapshots, list and keyed instances, the shapes of classifier and regressor predictions, an
error naming the instance for every kind of bad instance, and the in-memory cache."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import engine as tf
from api.prediction import PredictionInputError, PredictionService
from engine.saved_model import SnapshotError
from jobs.builtin import dnn, linear
from storage.config import Settings
from tests.jobs.test_builtin_trainers import (
    DIGIT_COLUMNS,
    digits,
    put,
    table_csv,
    train_in_process,
)


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("prediction")
    return Settings(data_dir=root / "kumo-data", home=root / "home", database_url="",
                    store_url="")


def _job(settings: Settings, name: str) -> str:
    return f"{settings.resolved_store_url}/jobs/{name}"


@pytest.fixture(scope="module")
def digits_uri(settings: Settings) -> str:
    """A DNN classifier of the digits CSV (64 integer pixel columns, label 'label')."""
    train_x, train_y, _, _ = digits()
    train = put(settings, "digits.csv", table_csv(train_x, train_y, DIGIT_COLUMNS, "label"))
    train_in_process(dnn.TRAINER, ["--train-files", train, "--label-column", "label",
                                   "--model-type", "classification", "--max-steps", "200",
                                   "--job-dir", _job(settings, "digits")], settings)
    return f"{_job(settings, 'digits')}/model"


@pytest.fixture(scope="module")
def mixed_uri(settings: Settings) -> str:
    """A linear classifier with a numeric and a categorical column and string labels:
    'yes' for red or big."""
    rng = np.random.default_rng(1)
    color = rng.choice(["red", "green", "blue"], 400)
    size = rng.normal(10, 3, 400).round(2)
    answer = np.where((color == "red") | (size > 12), "yes", "no")
    rows = np.array(list(zip(size.tolist(), color.tolist(), strict=True)), dtype=object)
    train = put(settings, "mixed.csv", table_csv(rows, answer.tolist(), ["size", "color"],
                                                 "answer"))
    train_in_process(linear.TRAINER, ["--train-files", train, "--label-column", "answer",
                                      "--model-type", "classification", "--max-steps", "200",
                                      "--job-dir", _job(settings, "mixed")], settings)
    return f"{_job(settings, 'mixed')}/model"


@pytest.fixture(scope="module")
def regressor_uri(settings: Settings) -> str:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(300, 3))
    y = x @ np.array([3.0, -2.0, 0.5]) + 1
    train = put(settings, "linear.csv", table_csv(x.round(4), y.round(4).tolist(),
                                                  ["a", "b", "c"], "y"))
    train_in_process(linear.TRAINER, ["--train-files", train, "--label-column", "y",
                                      "--model-type", "regression", "--max-steps", "300",
                                      "--job-dir", _job(settings, "regressor")], settings)
    return f"{_job(settings, 'regressor')}/model"


def _save(directory: Path, inputs: dict[str, Any], outputs: Any, sess: tf.Session) -> str:
    path = tf.saved_model.save(sess, directory, inputs, outputs)
    return Path(path).resolve().as_uri()


@pytest.fixture(scope="module")
def plain_uris(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Snapshots saved with engine.saved_model.save: 'single' (y = x @ [1, 2] + 0.5 for x of
    shape [2]) and 'multi' (inputs a [2] and b [], outputs sum and scaled)."""
    root = tmp_path_factory.mktemp("plain")
    uris = {}
    with tf.Graph().as_default(), tf.Session() as sess:
        x = tf.placeholder(tf.float32, [None, 2], name="x")
        y = tf.matmul(x, tf.Variable([[1.0], [2.0]])) + 0.5
        sess.run(tf.global_variables_initializer())
        uris["single"] = _save(root / "single", {"x": x}, {"y": y}, sess)
    with tf.Graph().as_default(), tf.Session() as sess:
        a = tf.placeholder(tf.float32, [None, 2], name="a")
        b = tf.placeholder(tf.int32, [None], name="b")
        total = tf.reduce_sum(a, axis=1) + tf.cast(b, tf.float32)
        uris["multi"] = _save(root / "multi", {"a": a, "b": b},
                              {"sum": total, "scaled": a * 2.0}, sess)
    return uris


# -- built-in trainer snapshots -----------------------------------------------------------------
def test_describe_says_what_to_send(settings: Settings, digits_uri: str) -> None:
    described = PredictionService(settings).describe(digits_uri)
    assert [c["name"] for c in described["columns"]] == DIGIT_COLUMNS
    assert {c["type"] for c in described["columns"]} == {"numeric"}
    assert described["labelColumn"] == "label"
    assert described["head"] == "classification" and described["classes"] == list(range(10))
    assert described["inputs"] == {"numeric": {"dtype": "float32", "shape": [None, 64]}}
    assert set(described["outputs"]) == {"class_ids", "probabilities", "logits"}
    assert "64 values" in described["instanceFormat"]


def test_classifier_takes_lists_and_keyed_objects(settings: Settings, digits_uri: str) -> None:
    _, _, eval_x, eval_y = digits()
    service = PredictionService(settings)
    predictions = service.predict(digits_uri, eval_x.tolist())
    assert len(predictions) == len(eval_x)
    first = predictions[0]
    assert set(first) == {"classes", "probabilities", "logits"}
    assert isinstance(first["classes"], int) and len(first["probabilities"]) == 10
    assert sum(first["probabilities"]) == pytest.approx(1, abs=1e-5)
    assert first["classes"] == int(np.argmax(first["probabilities"]))
    assert np.mean([p["classes"] for p in predictions] == eval_y) >= 0.9

    keyed = [dict(zip(DIGIT_COLUMNS, row, strict=True)) for row in eval_x[:3].tolist()]
    _assert_same(service.predict(digits_uri, keyed), predictions[:3])
    _assert_same(service.predict(digits_uri, [keyed[0], eval_x[1].tolist()]), predictions[:2])


def _assert_same(predictions: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    """The same predictions, up to float rounding (BLAS sums depend on the batch size)."""
    assert [p["classes"] for p in predictions] == [p["classes"] for p in expected]
    np.testing.assert_allclose([p["probabilities"] for p in predictions],
                               [p["probabilities"] for p in expected], rtol=1e-5, atol=1e-7)


def test_categorical_columns_and_string_classes(settings: Settings, mixed_uri: str) -> None:
    service = PredictionService(settings)
    described = service.describe(mixed_uri)
    assert described["classes"] == ["no", "yes"]
    assert described["columns"] == [{"name": "size", "type": "numeric"},
                                    {"name": "color", "type": "categorical"}]
    predictions = service.predict(mixed_uri, [[8, "blue"], {"color": "red", "size": 8},
                                              [16, "purple"]])  # an unseen category
    assert [p["classes"] for p in predictions] == ["no", "yes", "yes"]
    assert all(len(p["probabilities"]) == 2 and len(p["logits"]) == 1 for p in predictions)


def test_regressor_predicts_a_number_per_instance(settings: Settings,
                                                  regressor_uri: str) -> None:
    service = PredictionService(settings)
    assert service.describe(regressor_uri)["head"] == "regression"
    predictions = service.predict(regressor_uri, [[1, 0, 0], {"a": 0, "b": 1, "c": 2}])
    assert [set(p) for p in predictions] == [{"predictions"}, {"predictions"}]
    assert predictions[0]["predictions"] == pytest.approx(4.0, abs=0.5)
    assert predictions[1]["predictions"] == pytest.approx(0.0, abs=0.5)


# -- plain snapshots --------------------------------------------------------------------------
def test_plain_snapshot_takes_bare_values_or_objects(plain_uris: dict[str, str]) -> None:
    service = PredictionService(Settings())
    assert service.predict(plain_uris["single"], [[1, 1], {"x": [0, 2]}, [0.5, 0]]) == \
        [[3.5], [4.5], [1.0]]
    described = service.describe(plain_uris["single"])
    assert described["columns"] is None and described["head"] is None
    assert described["inputs"] == {"x": {"dtype": "float32", "shape": [None, 2]}}


def test_predict_now_only_for_a_loaded_quick_model(plain_uris: dict[str, str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """What the event loop may run itself: never a load, never a slow prediction; bad input
    is refused the same either way."""
    service, uri = PredictionService(Settings()), plain_uris["single"]
    assert service.predict_now(uri, [[1, 1]]) is None  # not loaded: nothing done
    assert service.predict(uri, [[1, 1]]) == [[3.5]]
    assert service.predict_now(uri, [[1, 1], [0.5, 0]]) == [[3.5], [1.0]]
    with pytest.raises(PredictionInputError, match="instances is empty"):
        service.predict_now(uri, [])
    monkeypatch.setattr("api.prediction.QUICK_SECONDS", 0.0)  # every model is slow now
    assert service.predict_now(uri, [[1, 1]]) is None


def test_plain_snapshot_with_several_inputs_and_outputs(plain_uris: dict[str, str]) -> None:
    predictions = PredictionService(Settings()).predict(
        plain_uris["multi"], [{"a": [1, 2], "b": 3}, {"a": [0, 0], "b": -1}])
    assert predictions == [{"sum": 6.0, "scaled": [2.0, 4.0]},
                           {"sum": -1.0, "scaled": [0.0, 0.0]}]


def test_estimator_export_takes_raw_categorical_values(tmp_path: Path) -> None:
    """A canned estimator's own export: inputs by feature key; the service maps categorical
    values to the ids the snapshot takes, with the vocabulary the export recorded."""
    columns = [tf.feature_column.numeric_column("size"),
               tf.feature_column.categorical_column_with_vocabulary_list("color",
                                                                         ["red", "blue"])]
    estimator = tf.estimator.LinearClassifier(columns, model_dir=str(tmp_path / "model"))
    features = {"size": np.array([1.0, 2.0, 3.0, 4.0]),
                "color": np.array(["red", "blue", "red", "blue"])}
    estimator.train(tf.estimator.inputs.numpy_input_fn(
        features, np.array([1, 0, 1, 0]), batch_size=4, num_epochs=None, shuffle=False),
        steps=50)
    uri = Path(estimator.export_savedmodel(str(tmp_path / "export"))).as_uri()
    service = PredictionService(Settings())
    assert service.describe(uri)["classes"] == [0, 1]
    predictions = service.predict(uri, [{"size": 2.5, "color": "red"},
                                        {"size": [2.5], "color": "blue"}])
    assert [p["classes"] for p in predictions] == [1, 0]
    with pytest.raises(PredictionInputError, match="instance 0: input 'color' takes a"):
        service.predict(uri, [{"size": 2.5, "color": 1.5}])


# -- bad instances ----------------------------------------------------------------------------
GOOD_DIGIT = [0] * 64
BAD_INSTANCES = [
    ("digits", [0] * 10, "expected 64 values"),
    ("digits", [0] * 65, "leave out the label column 'label'"),
    ("digits", [*GOOD_DIGIT[:5], "x", *GOOD_DIGIT[6:]], "column 'p5' must be a number, got 'x'"),
    ("digits", [*GOOD_DIGIT[:5], None, *GOOD_DIGIT[6:]], "column 'p5' must be a number"),
    ("digits", [*GOOD_DIGIT[:5], float("nan"), *GOOD_DIGIT[6:]], "finite number"),
    ("digits", [*GOOD_DIGIT[:5], [1, 2], *GOOD_DIGIT[6:]], "column 'p5' must be a number"),
    ("digits", {**dict.fromkeys(DIGIT_COLUMNS, 0), "label": 3}, "unknown key(s) 'label'"),
    ("digits", dict.fromkeys(DIGIT_COLUMNS[1:], 0), "missing key(s) 'p0'"),
    ("digits", "7", "got a string"),
    ("mixed", [3, None], "column 'color' takes a category"),
    ("mixed", {"size": "big", "color": "red"}, "column 'size' must be a number"),
    ("single", [1, 2, 3], "must hold 2 values, got 3"),
    ("single", [[1, 2]], "must have shape [2], got [1, 2]"),
    ("single", ["a", "b"], "must hold numbers"),
    ("single", [1, [2, 3]], "nested lists of different lengths"),
    ("single", {"y": [1, 2]}, "unknown key(s) 'y'"),
    ("multi", {"a": [1, 2]}, "missing key(s) 'b'"),
    ("multi", {"a": [1, 2], "b": 1.5}, "input 'b' must hold integers"),
    ("multi", [1, 2], "expected an object keyed by input name"),
]


@pytest.mark.parametrize(("model", "instance", "expected"), BAD_INSTANCES,
                         ids=[f"{m}-{e[:30]}" for m, _, e in BAD_INSTANCES])
def test_a_bad_instance_is_named_with_what_is_wrong(
        model: str, instance: Any, expected: str, settings: Settings, digits_uri: str,
        mixed_uri: str, plain_uris: dict[str, str]) -> None:
    uri = {"digits": digits_uri, "mixed": mixed_uri, **plain_uris}[model]
    good = {"digits": GOOD_DIGIT, "mixed": [1, "red"], "single": [1, 2],
            "multi": {"a": [1, 2], "b": 1}}[model]
    with pytest.raises(PredictionInputError) as error:
        PredictionService(settings).predict(uri, [good, good, instance, good])
    assert str(error.value).startswith("instance 2"), error.value
    assert expected in str(error.value)


def test_instances_must_be_a_non_empty_list(settings: Settings, digits_uri: str) -> None:
    service = PredictionService(settings)
    for instances, expected in (([], "empty"), ({"p0": 1}, "must be a list")):
        with pytest.raises(PredictionInputError, match=expected):
            service.predict(digits_uri, instances)


# -- loading and caching ----------------------------------------------------------------------
class CountingService(PredictionService):
    """Counts real loads, made slow enough that concurrent requests overlap."""

    def __init__(self, settings: Settings, max_models: int = 4) -> None:
        super().__init__(settings, max_models)
        self.loads: list[str] = []

    def _load(self, uri: str) -> Any:
        self.loads.append(uri)
        threading.Event().wait(0.2)
        return super()._load(uri)


def test_concurrent_requests_load_a_snapshot_once(plain_uris: dict[str, str]) -> None:
    service = CountingService(Settings())
    start = threading.Barrier(12)
    results: list[Any] = []

    def request() -> None:
        start.wait()
        results.append(service.predict(plain_uris["single"], [[1, 1]]))

    threads = [threading.Thread(target=request) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [[[3.5]]] * 12
    assert service.loads == [plain_uris["single"]]
    service.predict(plain_uris["single"] + "/", [[0, 0]])  # the same deployment
    assert len(service.loads) == 1


def test_cache_is_bounded_and_reload_picks_up_a_new_snapshot(
        plain_uris: dict[str, str], tmp_path: Path) -> None:
    service = CountingService(Settings(), max_models=1)
    for name in ("single", "multi", "single"):
        service.describe(plain_uris[name])
    assert len(service.loads) == 3  # 'single' was evicted by 'multi'

    deployed = tmp_path / "deployed"
    shutil.copytree(Path(plain_uris["multi"].removeprefix("file://")), deployed)
    uri = deployed.as_uri()
    assert "a" in service.describe(uri)["inputs"]
    shutil.rmtree(deployed)
    shutil.copytree(Path(plain_uris["single"].removeprefix("file://")), deployed)
    assert "a" in service.describe(uri)["inputs"]  # cached
    assert "x" in service.describe(uri, reload=True)["inputs"]
    assert service.predict(uri, [[1, 1]]) == [[3.5]]


def test_a_corrupt_or_missing_snapshot_is_a_snapshot_error(
        plain_uris: dict[str, str], tmp_path: Path) -> None:
    service = CountingService(Settings())
    broken = tmp_path / "broken"
    shutil.copytree(Path(plain_uris["single"].removeprefix("file://")), broken)
    weights = broken / "variables.safetensors"
    original = weights.read_bytes()
    weights.write_bytes(original[:-4] + b"\0\0\0\0")
    with pytest.raises(SnapshotError, match="SHA-256"):
        service.predict(broken.as_uri(), [[1, 1]])
    weights.write_bytes(original)  # a failed load is not cached
    assert service.predict(broken.as_uri(), [[1, 1]]) == [[3.5]]

    with pytest.raises(SnapshotError, match=f"{tmp_path.as_uri()}/nothing: no model.json"):
        service.describe(f"{tmp_path.as_uri()}/nothing")


def test_metadata_that_contradicts_the_signature_is_a_snapshot_error(
        settings: Settings, digits_uri: str, tmp_path: Path) -> None:
    source = Path(digits_uri.removeprefix("file://"))
    copy = tmp_path / "copy"
    shutil.copytree(source, copy)
    model = copy / "model.json"
    model.write_text(model.read_text().replace('{"name":"p63","type":"numeric"}',
                                               '{"name":"p63","type":"categorical"}'))
    with pytest.raises(SnapshotError, match="'columns'"):
        PredictionService(settings).describe(copy.as_uri())
