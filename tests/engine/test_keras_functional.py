"""tf.keras's functional API: Input tensors, layers called on them, Model(inputs, outputs) with
several inputs and outputs; the merge, Embedding, global pooling and activation layers. Models
train, report (summary, parameter counts) and export like Keras's; errors say what to fix."""

import json

import numpy as np
import pytest

import engine as tf

keras = tf.keras
layers = tf.keras.layers


@pytest.fixture(autouse=True)
def fresh_keras_session():
    """Layer and Input names count from the start of a Keras session, as in Keras."""
    keras.backend.clear_session()


def _reviews(n, seed):
    """Two-input synthetic data: 8 word ids (ids below 10 are 'positive' words) and 3 numbers;
    the label needs both: positive words plus 4 * (x0 - x1) above 2."""
    rng = np.random.RandomState(seed)
    words = rng.randint(0, 30, (n, 8))
    numbers = rng.rand(n, 3).astype(np.float32)
    score = (words < 10).sum(axis=1) + 4 * (numbers[:, 0] - numbers[:, 1])
    return words, numbers, (score > 2.5).astype(np.int64)


def _two_input_model():
    words = keras.Input(shape=(8,), dtype="int32", name="words")
    numbers = keras.Input(shape=(3,), name="numbers")
    embedded = layers.GlobalAveragePooling1D()(layers.Embedding(30, 8)(words))
    dense = layers.Dense(8, activation="relu")(numbers)
    hidden = layers.Dense(16, activation="relu")(layers.concatenate([embedded, dense]))
    return keras.Model([words, numbers], layers.Dense(2, activation="softmax")(hidden))


def test_two_input_model_learns_from_both_branches():
    words, numbers, labels = _reviews(1200, 0)
    test_words, test_numbers, test_labels = _reviews(400, 1)
    assert 0.35 < test_labels.mean() < 0.65  # chance is about one half
    keras.utils.set_random_seed(0)
    model = _two_input_model()
    assert model.input_names == ["words", "numbers"] and model.output_names == ["dense_2"]
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy",
                  metrics=["acc"])
    history = model.fit({"words": words, "numbers": numbers}, labels, batch_size=32, epochs=15,
                        verbose=0, validation_data=([test_words, test_numbers], test_labels))
    assert set(history.history) == {"loss", "acc", "val_loss", "val_acc"}
    assert history.history["val_acc"][-1] >= 0.85
    _, acc = model.evaluate([test_words, test_numbers], test_labels, verbose=0)
    assert acc == pytest.approx(history.history["val_acc"][-1])
    probs = model.predict([test_words, test_numbers], batch_size=50)
    assert probs.shape == (400, 2)
    np.testing.assert_array_equal(probs, model.predict({"numbers": test_numbers,
                                                        "words": test_words}))
    assert (probs.argmax(1) == test_labels).mean() == pytest.approx(acc)


def test_save_round_trips_with_the_input_names(tmp_path):
    words, numbers, labels = _reviews(256, 2)
    keras.utils.set_random_seed(1)
    model = _two_input_model()
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit([words, numbers], labels, epochs=2, verbose=0)
    path = model.save(str(tmp_path / "export"))
    predictor = tf.saved_model.load(path)
    got = predictor.predict({"words": words, "numbers": numbers})
    assert list(got) == ["dense_2"]
    np.testing.assert_allclose(got["dense_2"], model.predict([words, numbers]), atol=1e-6)
    document = json.loads((tmp_path / "export" / "model.json").read_text())
    signature = document["signatures"]["serving_default"]
    assert list(signature["inputs"]) == ["words", "numbers"]
    assert signature["inputs"]["words"]["dtype"] == "int32"
    assert document["metadata"] == {"framework": "keras",
                                    "loss": "sparse_categorical_crossentropy", "n_classes": 2}


def test_dict_inputs_and_outputs_name_the_data_and_the_snapshot(tmp_path):
    x = keras.Input(shape=(4,))
    hidden = layers.BatchNormalization()(layers.Dropout(0.5)(layers.Dense(8)(x)))
    model = keras.Model({"features": x},
                        {"kind": layers.Dense(3, activation="softmax")(hidden),
                         "size": layers.Dense(1)(hidden)})
    assert model.input_names == ["features"] and model.output_names == ["kind", "size"]
    model.compile("adam", {"kind": "sparse_categorical_crossentropy", "size": "mse"},
                  metrics={"kind": ["acc"]}, loss_weights={"kind": 1.0, "size": 0.5})
    rng = np.random.RandomState(0)
    data = rng.rand(64, 4)
    targets = {"kind": rng.randint(0, 3, 64), "size": rng.rand(64)}
    history = model.fit({"features": data}, targets, epochs=2, verbose=0, validation_split=0.25)
    assert list(history.history) == ["loss", "kind_loss", "size_loss", "kind_acc", "val_loss",
                                     "val_kind_loss", "val_size_loss", "val_kind_acc"]
    loss, kind_loss, size_loss, _ = model.evaluate(data, [targets["kind"], targets["size"]],
                                                   verbose=0)
    assert loss == pytest.approx(kind_loss + 0.5 * size_loss, rel=1e-5)
    assert model.session.run(model.get_layer("batch_normalization").moving_mean).any()
    kind, size = model.predict(data)
    got = tf.saved_model.load(model.save(str(tmp_path / "export"))).predict({"features": data})
    np.testing.assert_allclose(got["kind"], kind, atol=1e-6)
    np.testing.assert_allclose(got["size"], size, atol=1e-6)


def test_summary_columns_and_counts_match_keras():
    image = keras.Input(shape=(8, 8, 1), name="image")
    ids = keras.Input(shape=(5,), name="ids")
    features = layers.BatchNormalization()(layers.Conv2D(4, 3)(image))
    pooled = layers.concatenate([layers.GlobalAveragePooling2D()(features),
                                 layers.GlobalMaxPooling2D()(features),
                                 layers.GlobalAveragePooling1D()(layers.Embedding(100, 3)(ids))])
    model = keras.Model([image, ids], layers.Dense(2)(pooled), name="two_towers")
    lines = []
    model.summary(print_fn=lines.append)
    conv, bn, embedding, dense = 3 * 3 * 1 * 4 + 4, 4 * 4, 100 * 3, (4 + 4 + 3) * 2 + 2
    assert model.count_params() == conv + bn + embedding + dense == 380
    header = "Layer (type)                    Output Shape         Param #     Connected to"
    rule = "_" * 98
    assert [line.rstrip() for line in lines] == [
        'Model: "two_towers"', rule, header, "=" * 98,
        "image (InputLayer)              [(None, 8, 8, 1)]    0", rule,
        "conv2d (Conv2D)                 (None, 6, 6, 4)      40          image[0][0]", rule,
        "ids (InputLayer)                [(None, 5)]          0", rule,
        "batch_normalization (BatchNorma (None, 6, 6, 4)      16          conv2d[0][0]", rule,
        "embedding (Embedding)           (None, 5, 3)         300         ids[0][0]", rule,
        "global_average_pooling2d (Globa (None, 4)            0           "
        "batch_normalization[0][0]", rule,
        "global_max_pooling2d (GlobalMax (None, 4)            0           "
        "batch_normalization[0][0]", rule,
        "global_average_pooling1d (Globa (None, 3)            0           embedding[0][0]", rule,
        "concatenate (Concatenate)       (None, 11)           0           "
        "global_average_pooling2d[0][0]",
        " " * 65 + "global_max_pooling2d[0][0]",
        " " * 65 + "global_average_pooling1d[0][0]", rule,
        "dense (Dense)                   (None, 2)            24          concatenate[0][0]",
        "=" * 98,
        "Total params: 380", "Trainable params: 372", "Non-trainable params: 8", rule]
    # Keras's order: by depth from the inputs, ties as a walk back from the outputs meets them
    assert [layer.name for layer in model.layers][:5] == [
        "image", "conv2d", "ids", "batch_normalization", "embedding"]
    assert [w.shape for w in model.get_weights()][:2] == [(3, 3, 1, 4), (4,)]


def test_shared_layers_count_once_and_models_share_weights():
    left, right = keras.Input(shape=(3,)), keras.Input(shape=(3,))
    shared = layers.Dense(2)
    distance = layers.Lambda(lambda t: tf.abs(t))(layers.subtract([shared(left),
                                                                   shared(right)]))
    siamese = keras.Model([left, right], distance)
    encoder = keras.Model(left, shared(left))
    assert siamese.input_names == ["input_1", "input_2"]
    assert siamese.count_params() == encoder.count_params() == 3 * 2 + 2
    assert len(siamese.weights) == 2
    lines = []
    siamese.summary(print_fn=lines.append)
    row = lines.index(next(line for line in lines if line.startswith("dense (Dense)")))
    assert lines[row].split() == ["dense", "(Dense)", "(None,", "2)", "8", "input_1[0][0]"]
    assert lines[row + 1].strip() == "input_2[0][0]"
    assert lines[row + 3].split()[-1] == "dense[0][0]"
    assert lines[row + 4].strip() == "dense[1][0]"  # subtract's second input: the second call
    encoder.set_weights([np.ones((3, 2)), np.zeros(2)])
    x, y = np.array([[1.0, 2, 3]]), np.array([[0.0, 0, 1]])
    np.testing.assert_allclose(siamese.predict([x, y]), [[5, 5]])
    np.testing.assert_allclose(encoder.predict(x), [[6, 6]])


def test_merge_layers_compute_like_keras():
    a, b = keras.Input(shape=(2,)), keras.Input(shape=(2,))
    merged = [layers.add([a, b]), layers.subtract([a, b]), layers.multiply([a, b]),
              layers.average([a, b]), layers.maximum([a, b]), layers.concatenate([a, b]),
              layers.Concatenate(axis=1)([a, b]), layers.Add()([a, b, a])]
    model = keras.Model([a, b], merged)
    x, y = np.array([[1.0, -2.0]]), np.array([[3.0, 4.0]])
    expected = [x + y, x - y, x * y, (x + y) / 2, np.maximum(x, y), np.hstack([x, y]),
                np.hstack([x, y]), x + y + x]
    for got, want in zip(model.predict([x, y]), expected, strict=True):
        np.testing.assert_allclose(got, want)
    assert model.count_params() == 0


def test_activation_and_lambda_layers():
    x = keras.Input(shape=(4,))
    outputs = [layers.LeakyReLU()(x), layers.LeakyReLU(alpha=0.1)(x), layers.ReLU()(x),
               layers.ReLU(max_value=1.0, negative_slope=0.5, threshold=-1.0)(x),
               layers.Softmax()(x), layers.Lambda(lambda t, k: t * k, arguments={"k": 3.0})(x)]
    model = keras.Model(x, outputs)
    data = np.array([[-3.0, -0.5, 0.5, 2.0]])
    exp = np.exp(data - data.max())
    expected = [np.where(data > 0, data, 0.3 * data), np.where(data > 0, data, 0.1 * data),
                np.maximum(data, 0), np.minimum(np.where(data >= -1, data, 0.5 * (data + 1)), 1),
                exp / exp.sum(), 3 * data]
    for got, want in zip(model.predict(data), expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_embedding_in_a_sequential_model():
    keras.utils.set_random_seed(5)
    model = keras.Sequential([layers.Embedding(1000, 64, input_length=10), layers.Flatten(),
                              layers.Dense(1, activation="sigmoid")])
    assert [layer.count_params() for layer in model.layers] == [64_000, 0, 641]
    assert model.layers[0].output_shape == (None, 10, 64)
    table = model.get_weights()[0]
    assert table.shape == (1000, 64) and np.abs(table).max() <= 0.05  # Keras's 'uniform'
    assert table.std() == pytest.approx(0.1 / np.sqrt(12), rel=0.02)
    ids = np.random.RandomState(0).randint(0, 1000, (4, 10))
    model.compile("rmsprop", "binary_crossentropy", metrics=["acc"])
    model.fit(ids, np.array([0, 1, 0, 1]), epochs=1, verbose=0)
    assert model.predict(ids).shape == (4, 1)
    ones = keras.Sequential([layers.Embedding(3, 2, embeddings_initializer="ones",
                                              input_length=2)])
    np.testing.assert_array_equal(ones.predict(np.array([[0, 2]])), np.ones((1, 2, 2)))


def test_errors_say_what_to_fix():
    a, b = keras.Input(shape=(3,)), keras.Input(shape=(3,))
    total = layers.add([a, layers.Dense(3)(b)])
    with pytest.raises(ValueError, match=r"Graph disconnected.*input_2.*add it to the model's "
                                         r"inputs"):
        keras.Model(a, total)
    with pytest.raises(ValueError, match=r"must be the output of a tf\.keras layer.*Lambda"):
        keras.Model([a, b], total * 2)
    with pytest.raises(ValueError, match=r"must be the output of a tf\.keras layer"):
        keras.Model(a, tf.layers.Dense(2)(a))
    with pytest.raises(ValueError, match=r"must come from `tf\.keras\.Input`"):
        keras.Model(total, layers.Dense(1)(total))
    with pytest.raises(ValueError, match="isn't a Keras tensor"):
        layers.add([a, tf.constant(np.ones((1, 3), np.float32))])
    with pytest.raises(ValueError, match="`shape` or a `batch_shape`"):
        keras.Input()
    with pytest.raises(ValueError, match=r"matching shapes except for the concat axis.*"
                                         r"\(None, 3\), \(None, 2, 2\)"):
        layers.concatenate([a, keras.Input(shape=(2, 2))])
    with pytest.raises(ValueError, match=r"could not be broadcast.*same shape"):
        layers.multiply([a, keras.Input(shape=(4,))])
    with pytest.raises(ValueError, match="exactly 2 inputs"):
        layers.subtract([a, b, a])
    with pytest.raises(ValueError, match="list of at least 2 inputs"):
        layers.Add()(a)
    with pytest.raises(ValueError, match="expected ndim=4, found ndim=2"):
        layers.GlobalAveragePooling2D()(a)
    same = layers.Activation("relu", name="twin")(layers.Activation("tanh", name="twin")(a))
    with pytest.raises(ValueError, match='"twin" is used 2 times'):
        keras.Model(a, same)
    model = keras.Model([a, b], total)
    with pytest.raises(ValueError, match=r"Expected to see 2 array\(s\).*single array"):
        model.predict(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="No data provided for 'input_2'"):
        model.predict({"input_1": np.zeros((2, 3))})
    with pytest.raises(ValueError, match=r"expected input_2 to have shape \(3,\)"):
        model.predict([np.zeros((2, 3)), np.zeros((2, 4))])
    with pytest.raises(ValueError, match="one entry per model output"):
        model.compile("adam", ["mse", "mse"])
    two = keras.Model(a, [layers.Dense(1, name="p")(a), layers.Dense(1, name="q")(a)])
    with pytest.raises(ValueError, match=r"missing: \['q'\]"):
        two.compile("adam", {"p": "mse"})
    two.compile("adam", "mse")
    with pytest.raises(ValueError, match="same number of samples"):
        two.fit(np.zeros((4, 3)), [np.zeros(4), np.zeros(3)], verbose=0)


def test_seeded_functional_models_repeat():
    def initial_weights():
        keras.utils.set_random_seed(7)
        return _two_input_model().get_weights()

    first, second = initial_weights(), initial_weights()
    assert [w.shape for w in first][:1] == [(30, 8)]
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    assert keras.layers.Input is keras.Input
    assert isinstance(keras.Sequential(), keras.Model)
