"""tf.keras beyond Sequential and functional graphs: subclassed models (layers assigned as
attributes, `call` building the graph on the first data), custom layers made with `add_weight`,
and models used as layers (a shared encoder nested in a functional model). They train, report,
export and share weights like Keras's; errors say what to fix."""

import numpy as np
import pytest

import engine as tf

keras = tf.keras
layers = tf.keras.layers


@pytest.fixture(autouse=True)
def fresh_keras_session():
    keras.backend.clear_session()


def _blobs(n, seed):
    """Three overlapping Gaussian classes in 10 dimensions: chance is a third."""
    rng = np.random.RandomState(seed)
    labels = rng.randint(0, 3, n)
    centers = np.random.RandomState(99).randn(3, 10)
    return (centers[labels] + 1.2 * rng.randn(n, 10)).astype(np.float32), labels


class MLP(keras.Model):
    """Keras's subclassing example: layers as attributes (one list of them), `call` using
    `training` for dropout and batch normalization."""

    def __init__(self, classes=3):
        super().__init__()
        self.dense1 = layers.Dense(32, activation="relu")
        self.dropout = layers.Dropout(0.3)
        self.hidden = [layers.Dense(16), layers.BatchNormalization()]
        self.classifier = layers.Dense(classes, activation="softmax")

    def call(self, inputs, training=None):
        x = self.dropout(self.dense1(inputs), training=training)
        for layer in self.hidden:
            x = layer(x, training=training)
        return self.classifier(tf.nn.relu(x))


class Linear(layers.Layer):
    """A custom layer, as in Keras's guide: weights made in build, one of them unnamed."""

    def __init__(self, units=4, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(name="w", shape=(input_shape[-1], self.units),
                                 initializer="random_normal", trainable=True)
        self.b = self.add_weight(shape=(self.units,), initializer="zeros")
        super().build(input_shape)

    def call(self, inputs):
        return tf.matmul(inputs, self.w) + self.b


def test_subclassed_mlp_learns_and_round_trips(tmp_path):
    x, y = _blobs(900, 0)
    x_test, y_test = _blobs(300, 1)
    keras.utils.set_random_seed(0)
    model = MLP()
    assert model.name == "mlp" and not model.built
    assert [type(layer).__name__ for layer in model.layers] == [
        "Dense", "Dropout", "Dense", "BatchNormalization", "Dense"]
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy",
                  metrics=["acc"])
    history = model.fit(x, y, batch_size=32, epochs=10, verbose=0,
                        validation_data=(x_test, y_test))
    assert model.built and model.input_names == ["input_1"] and \
        model.output_names == ["output_1"]
    assert history.history["val_acc"][-1] >= 0.8  # chance: 1/3
    _, acc = model.evaluate(x_test, y_test, verbose=0)
    assert acc == pytest.approx(history.history["val_acc"][-1])
    probs = model.predict(x_test)
    np.testing.assert_array_equal(probs, model.predict(x_test))  # no dropout in inference
    assert (probs.argmax(1) == y_test).mean() == pytest.approx(acc)
    dense1, bn = 10 * 32 + 32, 4 * 16
    total = dense1 + 32 * 16 + 16 + bn + 16 * 3 + 3
    assert model.count_params() == total == 995
    assert len(model.weights) == 10 and len(model.trainable_weights) == 8
    lines = []
    model.summary(print_fn=lines.append)
    assert lines[0] == 'Model: "mlp"'
    assert lines[4].split() == ["dense", "(Dense)", "multiple", str(dense1)]
    assert lines[-4:-1] == ["Total params: 995", "Trainable params: 963",
                            "Non-trainable params: 32"]
    weights = model.get_weights()
    model.set_weights([w * 0 for w in weights])
    np.testing.assert_allclose(model.predict(x_test[:2]), np.full((2, 3), 1 / 3), rtol=1e-5)
    model.set_weights(weights)
    predictor = tf.saved_model.load(model.save(str(tmp_path / "export")))
    got = predictor.predict({"input_1": x_test})["output_1"]
    np.testing.assert_allclose(got, probs, atol=1e-6)


def test_training_reaches_the_layers_in_fit_and_not_in_predict():
    seen = []

    class Probe(layers.Layer):
        def call(self, inputs, training=None):
            seen.append(training)
            return inputs

    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.probe, self.norm = Probe(), layers.BatchNormalization(momentum=0.5)
            self.dropout, self.out = layers.Dropout(0.5), layers.Dense(1)

        def call(self, inputs, training=None):
            x = self.norm(self.probe(inputs, training=training), training=training)
            return self.out(self.dropout(x, training=training))

    rng = np.random.RandomState(0)
    x = rng.rand(64, 4).astype(np.float32) + 3
    model = Net()
    model.compile(keras.optimizers.SGD(0.0), "mse")
    assert model.predict(x).shape == (64, 1) and seen == [False]
    model.fit(x, np.zeros(64), batch_size=64, epochs=1, verbose=0, shuffle=False)
    assert seen == [False, True]
    assert model.session.run(model.norm.moving_mean) == pytest.approx(x.mean(0) / 2, rel=1e-4)
    train_loss = model.fit(x, np.zeros(64), batch_size=64, epochs=1, verbose=0).history["loss"]
    assert train_loss[0] != pytest.approx(model.evaluate(x, np.zeros(64), verbose=0))  # dropout


def test_custom_layer_in_sequential_functional_and_subclassed_models():
    keras.utils.set_random_seed(2)
    stacked = keras.Sequential([Linear(3, input_shape=(5,)), layers.Dense(2)])
    assert [v.op.name for v in stacked.weights] == ["linear/w", "linear/weight_1",
                                                    "dense/kernel", "dense/bias"]
    lines = []
    stacked.summary(print_fn=lines.append)
    assert lines[4].split() == ["linear", "(Linear)", "(None,", "3)", "18"]
    assert stacked.count_params() == 18 + 8

    inputs = keras.Input(shape=(5,))
    functional = keras.Model(inputs, Linear(1, name="fit_me")(inputs))
    assert functional.count_params() == 6
    rng = np.random.RandomState(0)
    x = rng.randn(256, 5).astype(np.float32)
    true_w = np.array([[1.0], [-2.0], [0.5], [0.0], [3.0]], np.float32)
    functional.compile(keras.optimizers.Adam(0.1), "mse")
    functional.fit(x, x @ true_w + 1, epochs=40, verbose=0)
    w, b = functional.get_weights()
    np.testing.assert_allclose(w, true_w, atol=0.05)
    np.testing.assert_allclose(b, [1.0], atol=0.05)

    class Wrapper(keras.Model):
        def __init__(self):
            super().__init__()
            self.linear = Linear(2)

        def call(self, inputs):
            return self.linear(inputs)

    wrapped = Wrapper()
    wrapped.build((None, 5))
    assert wrapped.count_params() == 12 and wrapped.predict(x).shape == (256, 2)


def test_siamese_model_shares_a_nested_encoder(tmp_path):
    keras.utils.set_random_seed(3)
    encoder = keras.Sequential([layers.Dense(16, activation="relu", input_shape=(6,)),
                                layers.Dense(4)], name="encoder")
    rng = np.random.RandomState(0)
    probe = rng.randn(5, 6).astype(np.float32)
    before = encoder.predict(probe)
    left, right = keras.Input(shape=(6,), name="left"), keras.Input(shape=(6,), name="right")
    distance = layers.Lambda(lambda t: tf.abs(t[0] - t[1]))([encoder(left), encoder(right)])
    siamese = keras.Model([left, right], layers.Dense(1, activation="sigmoid")(distance))
    np.testing.assert_allclose(encoder.predict(probe), before, rtol=1e-6)  # weights kept
    encoder_params = 6 * 16 + 16 + 16 * 4 + 4
    assert encoder.count_params() == encoder_params == 180
    assert siamese.count_params() == encoder_params + 5
    assert len(siamese.weights) == 6  # the encoder's four once, and the head's two
    lines = []
    siamese.summary(print_fn=lines.append)
    row = next(i for i, line in enumerate(lines) if line.startswith("encoder"))
    assert lines[row].split() == ["encoder", "(Sequential)", "(None,", "4)", "180",
                                  "left[0][0]"]
    assert lines[row + 1].strip() == "right[0][0]"
    assert lines[row + 3].split()[-1] == "encoder[0][0]"
    assert lines[row + 4].strip() == "encoder[1][0]"

    a = rng.randn(600, 6).astype(np.float32)
    same = rng.rand(600) < 0.5
    b = np.where(same[:, None], a + 0.1 * rng.randn(600, 6), rng.randn(600, 6))
    b = b.astype(np.float32)
    siamese.compile(keras.optimizers.Adam(0.01), "binary_crossentropy", metrics=["acc"])
    history = siamese.fit([a, b], same, epochs=15, verbose=0)
    assert history.history["acc"][-1] >= 0.9
    trained = encoder.predict(probe)
    assert not np.allclose(trained, before)  # training the siamese trained the encoder
    halves = keras.Model(left, encoder(left))
    np.testing.assert_allclose(halves.predict(probe), trained, rtol=1e-5)
    predictor = tf.saved_model.load(siamese.save(str(tmp_path / "export")))
    got = predictor.predict({"left": a, "right": b})
    assert list(got) == siamese.output_names == ["dense_2"]  # the encoder's are dense, dense_1
    np.testing.assert_allclose(got["dense_2"], siamese.predict([a, b]), atol=1e-6)


def test_functional_and_subclassed_models_nest_too():
    inputs = keras.Input(shape=(4,))
    functional = keras.Model(inputs, layers.Dense(3, name="projection")(inputs), name="proj")

    class Scale(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(3, use_bias=False, kernel_initializer="ones")

        def call(self, inputs):
            return self.dense(inputs) * 2.0

    scale = Scale()
    x, y = keras.Input(shape=(4,)), keras.Input(shape=(4,))
    outer = keras.Model([x, y], layers.add([functional(x), functional(y), scale(x)]))
    assert [layer.name for layer in outer.layers][2:] == ["proj", "scale", "add"]
    assert outer.count_params() == 15 + 12 and len(outer.weights) == 3
    data = np.random.RandomState(0).rand(3, 4).astype(np.float32)
    expected = 2 * functional.predict(data) + 2 * data.sum(1, keepdims=True)
    np.testing.assert_allclose(outer.predict([data, data]), expected, rtol=1e-5)
    frozen_kernel = scale.get_weights()[0]
    scale.trainable = False
    assert outer.count_params() == 27 and len(outer.trainable_weights) == 2
    outer.compile("sgd", "mse")
    outer.fit([data, data], np.zeros((3, 3)), epochs=3, verbose=0)
    np.testing.assert_array_equal(scale.get_weights()[0], frozen_kernel)
    stacked = keras.Sequential([scale, layers.Dense(1)])
    assert stacked.graph is scale.graph and stacked.count_params() == 12 + 4


def test_a_model_called_on_a_tensor_inside_a_graph():
    x, y = _blobs(200, 2)
    model = MLP()
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    expected = model.predict(x)
    graph = tf.Graph()
    with graph.as_default():
        features = tf.placeholder(tf.float32, [None, 10])
        probs = model(features)
    assert probs.graph is graph and model.graph is graph
    np.testing.assert_allclose(model.session.run(probs, {features: x}), expected, rtol=1e-5)
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-5)
    fresh = MLP()
    with tf.Graph().as_default():
        features = tf.placeholder(tf.float32, [None, 10])
        out = fresh(features)  # built in this graph; plain TF 1.x code runs it
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            assert sess.run(out, {features: x[:2]}).shape == (2, 3)
    assert fresh.built and fresh.count_params() == 995


def test_errors_say_what_to_fix():
    model = MLP()
    with pytest.raises(ValueError, match=r"not yet been built.*calling the model on data"):
        model.summary()
    with pytest.raises(ValueError, match="not yet been built"):
        model.count_params()

    class NumpyOut(keras.Model):
        def call(self, inputs):
            return np.zeros(3)

    with pytest.raises(TypeError, match=r"call\(\) of NumpyOut 'numpy_out' returned ndarray.*"
                                        r"must return a tensor"):
        NumpyOut().predict(np.zeros((2, 3)))

    class Forgetful(keras.Model):
        def __init__(self):
            self.dense = layers.Dense(2)

    with pytest.raises(RuntimeError, match=r"forgot to call `super\(\).__init__\(\)`"):
        Forgetful()

    class ForgetfulNoLayers(keras.Model):
        def __init__(self, units):
            self.units = units

        def call(self, inputs):
            return inputs

    with pytest.raises(AttributeError, match=r"forgot to call `super\(\).__init__\(\)`"):
        ForgetfulNoLayers(2).predict(np.zeros((2, 3)))
    with pytest.raises(NotImplementedError, match=r"defines `call\(self, inputs"):
        keras.Model().predict(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="needs both `inputs` and `outputs`"):
        keras.Model(inputs=keras.Input(shape=(3,)))
    encoder = keras.Sequential([layers.Dense(2, input_shape=(3,))])
    encoder(keras.Input(shape=(3,)))
    with pytest.raises(ValueError, match="was called on tensors of another graph"):
        keras.Sequential([layers.Dense(2, input_shape=(3,)), encoder])
    inputs = keras.Input(shape=(3,))
    functional = keras.Model(inputs, layers.Dense(1)(inputs))
    keras.backend.clear_session()
    with pytest.raises(ValueError, match=r"made from tf\.keras\.Input tensors of another"):
        functional(keras.Input(shape=(3,)))
    with pytest.raises(ValueError, match=r"not built yet.*pass an array"):
        MLP().predict({"input_1": np.zeros((2, 10))})


def test_a_trained_model_with_a_nested_model_moves_whole_into_a_functional_one():
    class Stacked(keras.Model):
        def __init__(self):
            super().__init__()
            self.encoder = keras.Sequential([layers.Dense(4, input_shape=(3,))])
            self.head = layers.Dense(1)

        def call(self, inputs):
            return self.head(self.encoder(inputs))

    model = Stacked()
    x = np.random.RandomState(0).rand(8, 3).astype(np.float32)
    model.compile("sgd", "mse")
    model.fit(x, np.ones(8), epochs=2, verbose=0)
    expected = model.predict(x)
    inputs = keras.Input(shape=(3,))
    outer = keras.Model(inputs, model(inputs))
    assert model.graph is outer.graph is model.encoder.graph
    assert outer.count_params() == 16 + 5 and len(outer.weights) == 4
    np.testing.assert_allclose(outer.predict(x), expected, rtol=1e-6)
