"""Every canned estimator and a Keras-style Sequential CNN: export a snapshot, load it in a fresh
Python process, predict the same numbers (to 1e-6) as the model did before export; and the
snapshot is a few plain files, at most 1.2x its raw float32 weights. The estimators cover both
classification heads (softmax and, with two classes, logistic), dropout (training-only, so not
in the snapshot) and the tf.contrib.learn classes trained with `fit(x=, y=)`.

The models are sized like small real ones (a 64x64x3 image flattened, plus a categorical and a
bucketized column): the graph description in model.json is a fixed few kilobytes, so the size
bound is about weights that dominate, as they do in anything worth serving. All snapshots are
loaded by one child process, to keep the test fast.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import engine as tf

ROOT = Path(__file__).resolve().parents[2]
PIXELS = 64 * 64 * 3
ROWS = 48

PIXEL_COLUMN = tf.feature_column.numeric_column("pixels", shape=[PIXELS])
COLOR = tf.feature_column.categorical_column_with_vocabulary_list("color",
                                                                  ["red", "green", "blue"])
AGE = tf.feature_column.bucketized_column(tf.feature_column.numeric_column("age"),
                                          boundaries=[30.0, 60.0])
LINEAR_COLUMNS = [PIXEL_COLUMN, COLOR, AGE]
DNN_COLUMNS = [PIXEL_COLUMN, tf.feature_column.indicator_column(COLOR),
               tf.feature_column.embedding_column(COLOR, 2), AGE]
# case -> (estimator class, its arguments beyond columns, model_dir and config)
ESTIMATORS: dict[str, tuple[type, dict[str, Any]]] = {
    "LinearClassifier": (tf.estimator.LinearClassifier, {"n_classes": 3}),
    "LinearClassifier-binary": (tf.estimator.LinearClassifier, {}),
    "LinearRegressor": (tf.estimator.LinearRegressor, {}),
    "DNNClassifier": (tf.estimator.DNNClassifier, {"n_classes": 3, "dropout": 0.25}),
    "DNNRegressor": (tf.estimator.DNNRegressor, {}),
    "DNNLinearCombinedClassifier": (tf.estimator.DNNLinearCombinedClassifier,
                                    {"n_classes": 3, "dnn_dropout": 0.25}),
    "DNNLinearCombinedRegressor": (tf.estimator.DNNLinearCombinedRegressor, {}),
    "contrib.learn.DNNClassifier": (tf.contrib.learn.DNNClassifier, {"n_classes": 3}),
    "contrib.learn.LinearRegressor": (tf.contrib.learn.LinearRegressor, {}),
}

# The child: for each (snapshot, inputs.npz, outputs.npz), load and predict; nothing shared
# with this process but the files.
CHILD = """
import json, sys
import numpy as np
import engine as tf
for snapshot, inputs, outputs in json.loads(sys.argv[1]):
    with np.load(inputs, allow_pickle=False) as feed:
        result = tf.saved_model.load(snapshot).predict(dict(feed))
    np.savez(outputs, **result)
"""


def _features(seed: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    features = {"pixels": rng.random((ROWS, PIXELS), dtype=np.float32),
                "color": rng.choice(["red", "green", "blue", "purple"], ROWS),  # + out of vocab
                "age": rng.uniform(0, 90, (ROWS, 1)).astype(np.float32)}
    return features, rng.integers(0, 3, ROWS)


def _estimator(cls: type, kwargs: dict[str, Any], model_dir: str) -> Any:
    config = tf.estimator.RunConfig(tf_random_seed=1)
    if cls.__name__.startswith("Linear"):
        return cls(LINEAR_COLUMNS, model_dir, config=config, **kwargs)
    if cls.__name__.startswith("DNNLinear"):
        return cls(model_dir, linear_feature_columns=LINEAR_COLUMNS,
                   dnn_feature_columns=DNN_COLUMNS, dnn_hidden_units=[8, 4], config=config,
                   **kwargs)
    return cls([8, 4], DNN_COLUMNS, model_dir, config=config, **kwargs)


def _export_estimator(case: str, directory: Path) -> tuple[Path, dict, dict]:
    """Train a few steps, predict, export: (snapshot, served inputs, expected outputs)."""
    cls, kwargs = ESTIMATORS[case]
    features, labels = _features(list(ESTIMATORS).index(case))
    estimator = _estimator(cls, kwargs, str(directory / "model"))
    kind = cls.__name__
    targets = labels.astype(np.float32) if kind.endswith("Regressor") else \
        labels % kwargs.get("n_classes", 2)
    if case.startswith("contrib.learn"):
        estimator.fit(x=features, y=targets, steps=5)
    else:
        estimator.train(lambda: (features, targets), steps=5)
    predictions = list(tf.estimator.Estimator.predict(  # dicts, as the snapshot's outputs
        estimator, tf.estimator.inputs.numpy_input_fn(features, batch_size=ROWS,
                                                      shuffle=False)))
    expected = {name: np.stack([p[name] for p in predictions]) for name in predictions[0]}
    path = Path(estimator.export_savedmodel(str(directory / "export")))
    columns = DNN_COLUMNS if kind.startswith("DNN") and "Linear" not in kind else \
        LINEAR_COLUMNS + DNN_COLUMNS
    served = tf.feature_column.encode(features, columns)
    served = {name: served[name] for name in ("pixels", "color", "age")}
    return path, served, expected


def _export_sequential_cnn(directory: Path) -> tuple[Path, dict, dict]:
    keras, layers = tf.keras, tf.keras.layers
    keras.utils.set_random_seed(3)
    rng = np.random.default_rng(3)
    x = rng.random((ROWS, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, ROWS)
    model = keras.Sequential([
        layers.Conv2D(8, 5, padding="same", activation="relu", input_shape=(28, 28, 1)),
        layers.MaxPooling2D(),
        layers.Conv2D(16, 3, activation="relu"),
        layers.BatchNormalization(),
        layers.AveragePooling2D(),
        layers.Flatten(),
        layers.Dropout(0.25),
        layers.Dense(32, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    expected = {"predictions": model.predict(x)}
    path = Path(model.save(str(directory / "export")))
    return path, {"x": x}, expected


@pytest.fixture(scope="module")
def round_trips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, dict, dict]]:
    """Per model: (snapshot path, expected outputs, outputs predicted by a fresh process)."""
    root = tmp_path_factory.mktemp("roundtrip")
    made = {case: _export_estimator(case, root / case) for case in ESTIMATORS}
    made["SequentialCNN"] = _export_sequential_cnn(root / "cnn")
    jobs = []
    for name, (path, served, _) in made.items():
        np.savez(root / f"{name}-in.npz", **served)
        jobs.append([str(path), str(root / f"{name}-in.npz"), str(root / f"{name}-out.npz")])
    subprocess.run([sys.executable, "-c", CHILD, json.dumps(jobs)], cwd=ROOT, check=True,
                   timeout=120)
    results = {}
    for name, (path, _, expected) in made.items():
        with np.load(root / f"{name}-out.npz", allow_pickle=False) as out:
            results[name] = (path, expected, dict(out))
    return results


@pytest.mark.parametrize("name", [*ESTIMATORS, "SequentialCNN"])
def test_fresh_process_predicts_what_the_model_did(round_trips: dict, name: str) -> None:
    _, expected, got = round_trips[name]
    # classifiers' string 'classes' stay out of snapshots (no string ops): class_ids serve;
    # a binary one's 'logistic' is its probabilities[:, 1] (one output set for every head)
    assert set(got) <= set(expected) and set(expected) - set(got) <= {"classes", "logistic"}
    for output, value in ((k, expected[k]) for k in got):
        assert got[output].shape == value.shape, output
        assert got[output].dtype == value.dtype, output
        np.testing.assert_allclose(got[output], value, rtol=0, atol=1e-6, err_msg=output)


@pytest.mark.parametrize("name", [*ESTIMATORS, "SequentialCNN"])
def test_snapshot_is_a_few_plain_files_within_1_2x_its_weights(round_trips: dict,
                                                              name: str) -> None:
    path, _, _ = round_trips[name]
    files = {f.name: f.stat().st_size for f in path.iterdir()}
    assert set(files) == {"model.json", "variables.safetensors"}
    document = json.loads((path / "model.json").read_text())
    tensors = document["weights"]["tensors"].values()
    assert {t["dtype"] for t in tensors} == {"float32"}
    raw = sum(4 * int(np.prod(t["shape"], dtype=np.int64)) for t in tensors)
    assert sum(files.values()) <= 1.2 * raw, (files, raw)
