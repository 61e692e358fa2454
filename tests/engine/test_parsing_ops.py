"""tf.decode_csv and tf.data.TextLineDataset: the CSV input pipeline of TF 1.x trainers."""

import gzip
from pathlib import Path

import numpy as np
import pytest

import engine as tf

COLUMNS = ["age", "hours", "job", "label"]
DEFAULTS = [[0.0], [0.0], ["none"], [0]]


def test_decode_csv_types_columns_fills_defaults_and_reads_quotes() -> None:
    records = tf.placeholder(tf.string, [None])
    age, hours, job, label = tf.decode_csv(records, DEFAULTS)
    assert (age.dtype, job.dtype, label.dtype) == (tf.float32, tf.string, tf.int32)
    with tf.Session() as sess:
        got = sess.run([age, hours, job, label], {records: np.array(
            [b"39,40,clerk,1", b'50,,"sales, east",0', b",12.5,,1"], dtype=object)})
    np.testing.assert_array_equal(got[0], [39.0, 50.0, 0.0])
    np.testing.assert_array_equal(got[1], [40.0, 0.0, 12.5])
    assert list(got[2]) == [b"clerk", b"sales, east", b"none"]
    np.testing.assert_array_equal(got[3], [1, 0, 1])


@pytest.mark.parametrize(("record", "match"), [
    (b"1,2,x", "Expect 4 fields but have 3"),
    (b"1,2,x,notanint", "not a valid int32"),
    (b"1,2,x,", "Field 3 is required"),
])
def test_bad_records_name_the_field(record: bytes, match: str) -> None:
    records = tf.placeholder(tf.string, [])
    columns = tf.decode_csv(records, [[0.0], [0.0], ["none"], tf.int32])
    with tf.Session() as sess, pytest.raises(tf.errors.InvalidArgumentError, match=match):
        sess.run(columns, {records: record})


def test_bad_arguments_are_refused_when_built() -> None:
    with pytest.raises(TypeError, match="string tensor"):
        tf.decode_csv(tf.constant([1.0]), [[0.0]])
    with pytest.raises(ValueError, match="one character"):
        tf.decode_csv(tf.placeholder(tf.string), [[0.0]], field_delim="::")
    with pytest.raises(TypeError, match="not a number or string"):
        tf.decode_csv(tf.placeholder(tf.string), [[object()]])


def _write_census(directory: Path, rows: int, seed: int) -> list[str]:
    """Two CSV files (one gzipped) with a header: hours worked decides the label."""
    rng = np.random.default_rng(seed)
    lines = []
    for _ in range(rows):
        age, hours = rng.integers(18, 70), rng.uniform(10, 60)
        job = rng.choice(["clerk", "sales", "tech"])
        lines.append(f"{age},{hours:.1f},{job},{int(hours > 35)}")
    header = ",".join(COLUMNS)
    plain, packed = directory / "part-0.csv", directory / "part-1.csv.gz"
    half = rows // 2
    plain.write_text("\n".join([header, *lines[:half]]) + "\n")
    packed.write_bytes(gzip.compress("\n".join([header, *lines[half:]]).encode()))
    return [str(plain), str(packed)]


def test_the_cloudml_census_pipeline_trains_an_estimator(tmp_path: Path) -> None:
    plain, packed = _write_census(tmp_path, 400, seed=1)

    def input_fn(epochs: int):
        def parse(line):
            features = dict(zip(COLUMNS, tf.decode_csv(line, DEFAULTS), strict=True))
            return features, features.pop("label")

        def read():
            files = [tf.data.TextLineDataset(plain).skip(1),
                     tf.data.TextLineDataset(packed, compression_type="GZIP").skip(1)]
            return files[0].concatenate(files[1]).map(parse).shuffle(100).batch(32) \
                .repeat(epochs)
        return read

    columns = [tf.feature_column.numeric_column("age"),
               tf.feature_column.numeric_column("hours"),
               tf.feature_column.indicator_column(
                   tf.feature_column.categorical_column_with_vocabulary_list(
                       "job", ["clerk", "sales", "tech"]))]
    classifier = tf.estimator.DNNClassifier([16], columns, model_dir=str(tmp_path / "model"),
                                            optimizer=tf.train.AdamOptimizer(0.01))
    classifier.train(input_fn(30))
    assert classifier.evaluate(input_fn(1))["accuracy"] > 0.9


def test_a_missing_file_is_a_not_found_error(tmp_path: Path) -> None:
    lines = tf.data.TextLineDataset(str(tmp_path / "nope.csv")).make_one_shot_iterator() \
        .get_next()
    with tf.Session() as sess, pytest.raises(tf.errors.NotFoundError, match=r"nope\.csv"):
        sess.run(lines)
