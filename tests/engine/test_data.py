"""tf.data: datasets, iterators as graph ops, the end of data as OutOfRangeError."""

import threading

import numpy as np
import pytest

import engine as tf


def _drain(sess: tf.Session, fetches) -> list:
    """TF 1.x's loop: run until the iterator raises OutOfRangeError."""
    out = []
    while True:
        try:
            out.append(sess.run(fetches))
        except tf.errors.OutOfRangeError:
            return out


def test_slices_mapped_and_batched_until_out_of_range() -> None:
    x = np.arange(10, dtype=np.float32).reshape(5, 2)
    y = np.arange(5)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).map(lambda a, b: (a * 2.0, b + 1)).batch(2)
    assert ds.output_types == (tf.float32, tf.int64)
    assert [s.as_list() for s in ds.output_shapes] == [[None, 2], [None]]
    features, labels = ds.make_one_shot_iterator().get_next()
    with tf.Session() as sess:
        batches = _drain(sess, [features, labels])
    assert [len(b[1]) for b in batches] == [2, 2, 1]
    np.testing.assert_array_equal(np.concatenate([b[0] for b in batches]), x * 2)
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), y + 1)


def test_dict_elements_lists_as_arrays_and_zip() -> None:
    ds = tf.data.Dataset.zip((tf.data.Dataset.range(3),
                              tf.data.Dataset.from_tensor_slices({"a": [1.0, 2.0, 3.0]})))
    assert ds.output_types == (tf.int64, {"a": tf.float32})
    element = ds.make_one_shot_iterator().get_next()
    with tf.Session() as sess:
        got = _drain(sess, element)
    assert [(int(i), float(d["a"])) for i, d in got] == [(0, 1.0), (1, 2.0), (2, 3.0)]


def test_filter_take_skip_and_endless_repeat() -> None:
    ds = tf.data.Dataset.range(10).filter(lambda v: tf.equal(v % 3, 0)).repeat().skip(1).take(6)
    with tf.Session() as sess:
        assert [int(v) for v in _drain(sess, ds.make_one_shot_iterator().get_next())] == \
            [3, 6, 9, 0, 3, 6]


def test_shuffle_is_a_permutation_repeatable_with_a_seed_and_new_each_epoch() -> None:
    tf.set_random_seed(5)
    element = tf.data.Dataset.range(20).shuffle(8, reshuffle_each_iteration=None).repeat(2) \
        .make_one_shot_iterator().get_next()  # None is TF 1.x's default: reshuffle
    fixed = tf.data.Dataset.range(20).shuffle(8, seed=1, reshuffle_each_iteration=False) \
        .repeat(2).make_one_shot_iterator().get_next()
    runs = []
    for _ in range(2):
        with tf.Session() as sess:
            runs.append([int(v) for v in _drain(sess, element)])
            same = [int(v) for v in _drain(sess, fixed)]
        assert same[:20] == same[20:]
    first, second = runs[0][:20], runs[0][20:]
    assert sorted(first) == sorted(second) == list(range(20))
    assert first != list(range(20)) and first != second
    assert runs[0] == runs[1]  # the graph seed makes sessions repeat


def test_initializable_iterator_fed_through_placeholders_restarts() -> None:
    data = tf.placeholder(tf.float32, [None, 2])
    iterator = tf.data.Dataset.from_tensor_slices(data).batch(4).make_initializable_iterator()
    batch = iterator.get_next()
    with tf.Session() as sess:
        with pytest.raises(tf.errors.FailedPreconditionError, match="initializer"):
            sess.run(batch)
        sess.run(iterator.initializer, {data: np.ones((6, 2))})
        assert [b.shape for b in _drain(sess, batch)] == [(4, 2), (2, 2)]
        sess.run(iterator.initializer, {data: np.zeros((3, 2))})
        assert [b.shape for b in _drain(sess, batch)] == [(3, 2)]


def test_reinitializable_iterator_switches_between_datasets() -> None:
    train, valid = tf.data.Dataset.range(3), tf.data.Dataset.range(10, 12)
    iterator = tf.data.Iterator.from_structure(train.output_types, train.output_shapes)
    element = iterator.get_next()
    to_train, to_valid = iterator.make_initializer(train), iterator.make_initializer(valid)
    with tf.Session() as sess:
        sess.run(to_train)
        assert sess.run(element) == 0
        sess.run(to_valid)
        assert [int(v) for v in _drain(sess, element)] == [10, 11]
    with pytest.raises(TypeError, match="types"):
        iterator.make_initializer(tf.data.Dataset.from_tensor_slices(np.ones(3, np.float32)))


def test_sessions_keep_their_own_position() -> None:
    element = tf.data.Dataset.range(5).make_one_shot_iterator().get_next()
    with tf.Session() as a, tf.Session() as b:
        assert [a.run(element), a.run(element), b.run(element)] == [0, 1, 0]


def test_map_reads_outside_tensors_and_cache_replays_random_draws() -> None:
    offset = tf.constant(100.0)
    ds = tf.data.Dataset.from_tensor_slices(np.zeros(4, np.float32)) \
        .map(lambda v: v + offset + tf.random_uniform([])).cache().repeat(2)
    with tf.Session() as sess:
        values = [float(v) for v in _drain(sess, ds.make_one_shot_iterator().get_next())]
    assert all(100.0 <= v < 101.0 for v in values)
    assert values[:4] == values[4:] and len(set(values[:4])) == 4


def test_a_training_loop_reads_its_batches_from_an_iterator() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 3)).astype(np.float32)
    y = x @ np.array([[1.0], [-2.0], [0.5]], np.float32) + 0.3
    features, target = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(256).batch(32) \
        .repeat(20).make_one_shot_iterator().get_next()
    w, b = tf.Variable(tf.zeros([3, 1])), tf.Variable(0.0)
    loss = tf.reduce_mean(tf.square(tf.matmul(features, w) + b - target))
    train = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        steps = len(_drain(sess, train))
        np.testing.assert_allclose(sess.run(w).ravel(), [1.0, -2.0, 0.5], atol=1e-2)
    assert steps == 20 * 8


def test_an_estimator_trains_on_a_dataset_input_fn(tmp_path) -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((200, 2)).astype(np.float32)
    labels = (x[:, 0] - x[:, 1] > 0).astype(np.int32)

    def input_fn(epochs: int):
        return lambda: tf.data.Dataset.from_tensor_slices(({"x": x}, labels)).batch(20) \
            .repeat(epochs)

    classifier = tf.estimator.LinearClassifier(
        [tf.feature_column.numeric_column("x", shape=[2])], model_dir=str(tmp_path))
    classifier.train(input_fn(10))
    metrics = classifier.evaluate(input_fn(1))
    assert metrics["global_step"] == 100  # 10 epochs of 10 batches: the data's end stops it
    assert metrics["accuracy"] > 0.9


@pytest.mark.parametrize(("build", "error", "match"), [
    (lambda: tf.data.Dataset.from_tensor_slices((np.ones(3), np.ones(4))), ValueError,
     "first dimensions"),
    (lambda: tf.data.Dataset.from_tensor_slices(np.float32(1.0)), ValueError, "scalar"),
    (lambda: tf.data.Dataset.range(3).batch(0), ValueError, "batch_size"),
    (lambda: tf.data.Dataset.range(3).filter(lambda v: v + 1), ValueError, "boolean"),
    (lambda: tf.data.Dataset.range(3).repeat(-2), ValueError, "repeat"),
])
def test_bad_pipelines_are_refused_when_built(build, error, match) -> None:
    with pytest.raises(error, match=match):
        build()


def test_stacking_elements_of_different_shapes_names_the_fix() -> None:
    ragged = tf.data.Dataset.range(1, 3).map(lambda n: tf.zeros([tf.cast(n, tf.int32)])).batch(2)
    element = ragged.make_one_shot_iterator().get_next()
    with tf.Session() as sess, pytest.raises(tf.errors.InvalidArgumentError, match="pad"):
        sess.run(element)


def test_counts_may_be_tensors_fed_with_the_initializer() -> None:
    """TF 1.x takes tensors for batch sizes, buffer sizes and counts: a placeholder fed when
    the initializer runs sets them for that pass."""
    values = tf.placeholder(tf.float32, [None])
    size, skipped, times = (tf.placeholder(tf.int64, []) for _ in range(3))
    ds = tf.data.Dataset.from_tensor_slices(values).skip(skipped) \
        .take(tf.constant(5, tf.int64)).repeat(times).batch(size)
    shuffled = tf.data.Dataset.from_tensor_slices(values).shuffle(size).batch(size)
    assert ds.output_shapes.as_list() == [None]
    iterator, other = ds.make_initializable_iterator(), shuffled.make_initializable_iterator()
    feed = {values: np.arange(8, dtype=np.float32), size: 4, skipped: 1, times: 2}
    with tf.Session() as sess:
        sess.run([iterator.initializer, other.initializer], feed)
        got = [b.tolist() for b in _drain(sess, iterator.get_next())]
        assert got == [[1, 2, 3, 4], [5, 1, 2, 3], [4, 5]]
        assert sorted(np.concatenate(_drain(sess, other.get_next())).tolist()) == list(range(8))
        sess.run(iterator.initializer, {**feed, size: 10, times: 1})
        assert [b.tolist() for b in _drain(sess, iterator.get_next())] == [[1, 2, 3, 4, 5]]
        with pytest.raises(tf.errors.InvalidArgumentError, match="batch_size"):
            sess.run(iterator.initializer, {**feed, size: 0})
            sess.run(iterator.get_next())


def test_skip_and_take_minus_one_as_in_tf() -> None:
    """-1 takes every element, and skips every element."""
    with tf.Session() as sess:
        assert _drain(sess, tf.data.Dataset.range(3).take(-1).make_one_shot_iterator()
                      .get_next()) == [0, 1, 2]
        assert _drain(sess, tf.data.Dataset.range(3).skip(-1).make_one_shot_iterator()
                      .get_next()) == []


def test_threads_share_one_iterator() -> None:
    """Several threads running get_next in one Session (a training loop per thread) each
    take different elements; none of them fails."""
    square = tf.ones([128, 128])  # numpy lets go of the GIL in matmul: threads overlap

    def work(v):
        return v * 2 + tf.cast(tf.reduce_sum(tf.matmul(square, square)), tf.int64) * 0

    element = tf.data.Dataset.range(300).map(work).make_one_shot_iterator().get_next()
    taken: list[int] = []
    failures: list[BaseException] = []
    with tf.Session() as sess:
        def pull() -> None:
            try:
                taken.extend(int(v) for v in _drain(sess, element))
            except Exception as e:  # reported below, with the others
                failures.append(e)

        workers = [threading.Thread(target=pull) for _ in range(4)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    assert failures == []
    assert sorted(taken) == list(range(0, 600, 2))


def test_two_shuffles_under_a_graph_seed_draw_different_orders() -> None:
    """As tf.set_random_seed does for random ops: with no seed of its own, each shuffle gets
    one of its own from the graph seed, so two same-sized datasets are not permuted alike,
    and a rebuilt graph repeats both."""
    def orders() -> list[list[int]]:
        with tf.Graph().as_default():
            tf.set_random_seed(7)
            shuffled = [tf.data.Dataset.range(30).shuffle(30) for _ in range(2)]
            elements = [ds.make_one_shot_iterator().get_next() for ds in shuffled]
            with tf.Session() as sess:
                return [[int(v) for v in _drain(sess, e)] for e in elements]

    first, second = orders()
    assert sorted(first) == sorted(second) == list(range(30))
    assert first != second
    assert orders() == [first, second]


def test_slices_of_a_placeholder_of_unknown_rank() -> None:
    """`tf.placeholder(tf.float32)` has no shape: its rows are known once it is fed."""
    data = tf.placeholder(tf.float32)
    iterator = tf.data.Dataset.from_tensor_slices(data).batch(2).make_initializable_iterator()
    assert iterator.output_shapes.ndims is None
    with tf.Session() as sess:
        sess.run(iterator.initializer, {data: np.arange(6, dtype=np.float32).reshape(3, 2)})
        assert [b.shape for b in _drain(sess, iterator.get_next())] == [(2, 2), (1, 2)]
        sess.run(iterator.initializer, {data: 1.0})
        with pytest.raises(tf.errors.InvalidArgumentError, match="scalar"):
            sess.run(iterator.get_next())


def test_from_generator_converts_and_checks_what_python_yields() -> None:
    def rows(n):
        for i in range(n):
            yield {"ids": list(range(i + 1)), "label": i % 2}

    ds = tf.data.Dataset.from_generator(rows, {"ids": tf.int32, "label": tf.int64},
                                        {"ids": [None], "label": []}, args=(3,))
    assert ds.output_types == {"ids": tf.int32, "label": tf.int64}
    element = ds.padded_batch(2, padded_shapes={"ids": [None], "label": []},
                              padding_values={"ids": -1, "label": 0}) \
        .make_one_shot_iterator().get_next()
    with tf.Session() as sess:
        first, second = _drain(sess, element)
    np.testing.assert_array_equal(first["ids"], [[0, -1], [0, 1]])
    np.testing.assert_array_equal(second["ids"], [[0, 1, 2]])
    np.testing.assert_array_equal(first["label"], [0, 1])
    bad = tf.data.Dataset.from_generator(lambda: iter([[1.5]]), tf.int32, [2])
    with tf.Session() as sess, pytest.raises(tf.errors.InvalidArgumentError, match="shape"):
        sess.run(bad.make_one_shot_iterator().get_next())


def test_padded_batch_pads_to_the_longest_or_to_a_fixed_length() -> None:
    words = tf.data.Dataset.range(1, 4).map(lambda n: tf.ones([n], tf.int64))
    longest = words.padded_batch(3, padded_shapes=[None]).make_one_shot_iterator().get_next()
    fixed = words.padded_batch(2, padded_shapes=[5], drop_remainder=True) \
        .make_one_shot_iterator().get_next()
    assert fixed.shape.as_list() == [2, 5]
    with tf.Session() as sess:
        np.testing.assert_array_equal(sess.run(longest), [[1, 0, 0], [1, 1, 0], [1, 1, 1]])
        assert [b.tolist() for b in _drain(sess, fixed)] == [[[1, 0, 0, 0, 0],
                                                              [1, 1, 0, 0, 0]]]
    too_long = words.padded_batch(3, padded_shapes=[2]).make_one_shot_iterator().get_next()
    with tf.Session() as sess, pytest.raises(tf.errors.InvalidArgumentError, match="fit"):
        sess.run(too_long)


def test_concatenate_runs_one_dataset_after_the_other() -> None:
    both = tf.data.Dataset.range(2).concatenate(tf.data.Dataset.range(10, 12))
    with tf.Session() as sess:
        assert [int(v) for v in _drain(sess, both.make_one_shot_iterator().get_next())] == \
            [0, 1, 10, 11]
    with pytest.raises(TypeError, match="different types"):
        tf.data.Dataset.range(2).concatenate(tf.data.Dataset.from_tensors(1.0))
