"""tf.keras: Sequential models on sklearn's digits (8x8 images, 10 classes) train, report
and export like Keras; errors name what was expected."""

import json
import math

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import engine as tf

keras = tf.keras
layers = tf.keras.layers


@pytest.fixture(scope="module")
def digits():
    data = load_digits()
    return train_test_split((data.data / 16.0).astype(np.float32), data.target, test_size=0.2,
                            random_state=0, stratify=data.target)


def _mlp():
    """Keras's mnist_mlp example, sized for 64 pixels."""
    return keras.Sequential([
        layers.Dense(512, activation="relu", input_shape=(64,)),
        layers.Dropout(0.2),
        layers.Dense(10, activation="softmax"),
    ])


def test_mnist_mlp_reaches_95_percent_on_digits(digits, capsys):
    x_train, x_test, y_train, y_test = digits
    keras.utils.set_random_seed(0)
    model = _mlp()
    model.compile(loss="categorical_crossentropy", optimizer=keras.optimizers.RMSprop(),
                  metrics=["accuracy"])
    history = model.fit(x_train, keras.utils.to_categorical(y_train, 10), batch_size=64,
                        epochs=20, verbose=1,
                        validation_data=(x_test, keras.utils.to_categorical(y_test, 10)))
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert history.epoch == list(range(20))
    assert all(len(v) == 20 for v in history.history.values())
    assert history.history["val_accuracy"][-1] >= 0.95
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert model.history is history
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"Train on {len(x_train)} samples, validate on {len(x_test)} samples"
    assert out[1] == "Epoch 1/20"
    assert out[2].startswith(f"{len(x_train)}/{len(x_train)} - ")
    assert " - loss: " in out[2] and " - val_accuracy: " in out[2]
    loss, acc = model.evaluate(x_test, keras.utils.to_categorical(y_test, 10), verbose=0)
    assert acc == pytest.approx(history.history["val_accuracy"][-1])
    assert loss == pytest.approx(history.history["val_loss"][-1])
    probs = model.predict(x_test, batch_size=50)
    assert probs.shape == (len(x_test), 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-5)
    np.testing.assert_array_equal(model.predict_classes(x_test), probs.argmax(axis=1))
    assert (probs.argmax(axis=1) == y_test).mean() == pytest.approx(acc)


def test_summary_counts_match_keras():
    lines = []
    model = _mlp()
    model.summary(print_fn=lines.append)
    dense, dense_1 = 64 * 512 + 512, 512 * 10 + 10
    assert model.count_params() == dense + dense_1 == 38_410
    assert lines[-4:] == ["Total params: 38,410", "Trainable params: 38,410",
                          "Non-trainable params: 0", "_" * 65]
    assert lines[:5] == ['Model: "sequential"', "_" * 65,
                         "Layer (type)                 Output Shape              Param #   ",
                         "=" * 65,
                         "dense (Dense)                (None, 512)               33280     "]
    assert lines[6] == "dropout (Dropout)            (None, 512)               0         "
    assert lines[8].split() == ["dense_1", "(Dense)", "(None,", "10)", "5130"]
    mnist = keras.Sequential([layers.Dense(512, activation="relu", input_shape=(784,)),
                              layers.Dropout(0.2), layers.Dense(10, activation="softmax")])
    assert mnist.count_params() == 407_050


def test_summary_counts_batchnorm_and_conv_like_keras():
    model = keras.Sequential([
        layers.Conv2D(8, (3, 3), activation="relu", input_shape=(8, 8, 1)),
        layers.BatchNormalization(),
        layers.MaxPooling2D(),
        layers.Flatten(),
        layers.Dense(10, activation="softmax"),
    ])
    lines = []
    model.summary(print_fn=lines.append)
    conv, bn, dense = 3 * 3 * 1 * 8 + 8, 4 * 8, (3 * 3 * 8) * 10 + 10
    assert model.count_params() == conv + bn + dense
    assert f"Total params: {conv + bn + dense:,}" in lines
    assert f"Trainable params: {conv + 2 * 8 + dense:,}" in lines
    assert "Non-trainable params: 16" in lines
    assert [layer.output_shape for layer in model.layers] == [
        (None, 6, 6, 8), (None, 6, 6, 8), (None, 3, 3, 8), (None, 72), (None, 10)]
    assert [len(layer.weights) for layer in model.layers] == [2, 4, 0, 0, 2]


def test_cnn_trains_on_digit_images(digits):
    x_train, x_test, y_train, y_test = (a.reshape(-1, 8, 8, 1) if a.ndim == 2 else a
                                        for a in digits)
    keras.utils.set_random_seed(1)
    model = keras.Sequential([
        layers.Conv2D(16, 3, activation="relu", input_shape=(8, 8, 1)),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Flatten(),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(keras.optimizers.Adam(0.005), "sparse_categorical_crossentropy",
                  metrics=["acc"])
    history = model.fit(x_train, y_train, batch_size=32, epochs=8, verbose=0,
                        validation_data=(x_test, y_test))
    assert history.history["val_acc"][-1] >= 0.93
    pooled = keras.Sequential([layers.Reshape((8, 8, 1), input_shape=(64,)),
                               layers.Conv2D(4, 3, padding="same"), layers.AveragePooling2D(),
                               layers.Flatten(), layers.Dense(1)])
    assert [layer.output_shape for layer in pooled.layers][:3] == [
        (None, 8, 8, 1), (None, 8, 8, 4), (None, 4, 4, 4)]
    assert pooled.predict(digits[1]).shape == (len(x_test), 1)


def test_batchnorm_model_uses_moving_statistics_for_inference(digits):
    x_train, _, y_train, _ = digits
    keras.utils.set_random_seed(2)
    model = keras.Sequential([layers.Dense(32, input_shape=(64,)),
                              layers.BatchNormalization(momentum=0.5),
                              layers.Activation("relu"), layers.Dense(10, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["acc"])
    before = model.predict(x_train[:5])
    np.testing.assert_array_equal(model.predict(x_train[:5]), before)
    moving_mean = model.layers[1].moving_mean
    assert not model.session.run(moving_mean).any()
    model.fit(x_train, y_train, epochs=2, verbose=0)
    assert model.session.run(moving_mean).any()  # the training pass ran the update ops
    assert model.predict(x_train[:1]).shape == (1, 10)  # a batch of one: no batch statistics


def test_validation_split_and_early_stopping_on_plateau(digits):
    x_train, _, y_train, _ = digits
    keras.utils.set_random_seed(3)
    model = _mlp()
    model.compile(keras.optimizers.SGD(learning_rate=0.0), "sparse_categorical_crossentropy",
                  metrics=["acc"])
    stopper = keras.callbacks.EarlyStopping(monitor="val_loss", patience=2)
    history = model.fit(x_train, y_train, epochs=20, verbose=0, validation_split=0.25,
                        callbacks=[stopper])
    assert history.epoch == [0, 1, 2]  # lr 0: no improvement after the first epoch
    assert stopper.stopped_epoch == 2
    assert len(history.history["val_loss"]) == 3
    assert model.history.history["val_acc"][0] == history.history["val_acc"][-1]


def test_early_stopping_restores_best_weights_and_modes():
    class Scripted(keras.callbacks.Callback):
        """Overwrites the epoch's val_loss with a scripted series."""

        def __init__(self, series):
            super().__init__()
            self.series = series

        def on_epoch_end(self, epoch, logs=None):
            logs["val_loss"] = self.series[epoch]
            self.model.set_weights([np.full_like(w, epoch) for w in self.model.get_weights()])

    model = keras.Sequential([layers.Dense(2, input_shape=(3,))])
    model.compile("sgd", "mse")
    stopper = keras.callbacks.EarlyStopping(patience=1, min_delta=0.1,
                                            restore_best_weights=True)
    history = model.fit(np.zeros((4, 3)), np.zeros((4, 2)), epochs=10, verbose=0,
                        callbacks=[Scripted([5.0, 3.0, 2.95, 1.0]), stopper])
    assert history.epoch == [0, 1, 2]
    assert all((w == 1).all() for w in model.get_weights())
    assert keras.callbacks.EarlyStopping(monitor="val_acc")._better is np.greater
    with pytest.raises(ValueError, match="mode"):
        keras.callbacks.EarlyStopping(mode="up")


def test_callback_hooks_and_tensorboard_logs(tmp_path):
    events = []

    class Recorder(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            events.append(("train_begin", self.params["epochs"], self.params["samples"]))

        def on_epoch_begin(self, epoch, logs=None):
            events.append(("epoch_begin", epoch))

        def on_batch_end(self, batch, logs=None):
            events.append(("batch_end", batch, logs["size"]))

        def on_train_end(self, logs=None):
            events.append(("train_end",))

    x = np.random.RandomState(0).rand(10, 3)
    model = keras.Sequential([layers.Dense(1, activation="sigmoid", input_dim=3)])
    model.compile("adam", "binary_crossentropy", metrics=["acc", "mae"])
    model.fit(x, (x.sum(1) > 1.5).astype(int), batch_size=4, epochs=2, initial_epoch=1,
              verbose=0, validation_split=0.2,
              callbacks=[Recorder(), keras.callbacks.TensorBoard(str(tmp_path))])
    assert events == [("train_begin", 2, 8), ("epoch_begin", 1), ("batch_end", 0, 4),
                      ("batch_end", 1, 4), ("train_end",)]
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert {line["tag"] for line in lines} == {"loss", "acc", "mae", "val_loss", "val_acc",
                                               "val_mae"}
    assert {line["step"] for line in lines} == {1}
    assert (tmp_path / "graph.json").exists()


def test_evaluate_and_predict_shapes_and_binary_metrics():
    rng = np.random.RandomState(0)
    x = rng.rand(50, 4).astype(np.float32)
    y = (x[:, 0] > 0.5).astype(np.float32)
    model = keras.Sequential([layers.InputLayer(input_shape=(4,)),
                              layers.Dense(1, activation="sigmoid")])
    assert len(model.layers) == 1 and model.input.op.name == "dense_input"
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    assert model.metrics_names == ["loss", "accuracy"]
    loss, acc = model.evaluate(x, y, batch_size=7, verbose=0)
    assert math.isfinite(loss) and 0 <= acc <= 1
    assert model.predict(x).shape == (50, 1)
    assert model.predict(x[:0]).shape == (0, 1)
    assert set(np.unique(model.predict_classes(x))) <= {0, 1}
    regression = keras.Sequential([layers.Dense(2, input_shape=(4,))])
    regression.compile("sgd", "mse")
    assert isinstance(regression.evaluate(x, np.zeros((50, 2)), verbose=0), float)


def test_model_built_from_data_and_weights_round_trip():
    x = np.random.RandomState(1).rand(20, 5)
    model = keras.Sequential()
    model.add(layers.Dense(3, activation="tanh"))
    model.add(layers.Dense(2))
    with pytest.raises(ValueError, match="not yet been built"):
        model.summary()
    model.compile(keras.optimizers.Adam(lr=0.01), "mae")
    model.fit(x, np.zeros((20, 2)), verbose=0)
    assert model.input_shape == (None, 5) and model.output_shape == (None, 2)
    weights = model.get_weights()
    assert [w.shape for w in weights] == [(5, 3), (3,), (3, 2), (2,)]
    model.set_weights([np.ones_like(w) for w in weights])
    np.testing.assert_allclose(model.predict(x[:1]), np.full((1, 2), 3 * np.tanh(x[0].sum() + 1)
                                                             + 1), rtol=1e-5)
    with pytest.raises(ValueError, match="expecting 4 weights"):
        model.set_weights(weights[:2])


def test_models_are_independent_and_seeded():
    keras.utils.set_random_seed(7)
    a, b = _mlp(), _mlp()
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)
    a.set_weights([w + 1 for w in a.get_weights()])
    assert not np.array_equal(a.get_weights()[0], b.get_weights()[0])
    assert a.graph is not b.graph and a.session is not b.session
    assert [v.op.name for v in a.weights] == ["dense/kernel", "dense/bias", "dense_1/kernel",
                                              "dense_1/bias"]
    kernel = b.get_weights()[0]
    limit = math.sqrt(6 / (64 + 512))  # glorot uniform
    assert kernel.std() == pytest.approx(limit / math.sqrt(3), rel=0.02)
    assert not b.get_weights()[1].any()


def test_regularizers_add_to_the_loss():
    x = np.ones((4, 2))
    model = keras.Sequential([layers.Dense(1, input_shape=(2,), use_bias=False,
                                           kernel_initializer="ones",
                                           kernel_regularizer=keras.regularizers.l2(0.5))])
    model.compile("sgd", "mse")
    assert model.evaluate(x, np.full((4, 1), 2.0), verbose=0) == pytest.approx(0.5 * 2)


def test_to_categorical():
    np.testing.assert_array_equal(keras.utils.to_categorical([0, 2, 1]),
                                  [[1, 0, 0], [0, 0, 1], [0, 1, 0]])
    assert keras.utils.to_categorical(np.array([[1], [3]]), 5).shape == (2, 5)
    assert keras.utils.to_categorical(np.zeros((2, 3), int), 4).shape == (2, 3, 4)
    assert keras.utils.to_categorical([1]).dtype == np.float32
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        keras.utils.to_categorical([0, 2], num_classes=2)


def test_errors_name_what_was_expected():
    model = _mlp()
    x = np.zeros((3, 64))
    with pytest.raises(RuntimeError, match="must compile"):
        model.fit(x, np.zeros((3, 10)))
    model.compile("rmsprop", "categorical_crossentropy")
    with pytest.raises(ValueError, match=r"expected dense_input to have shape \(64,\) but got "
                                         r"array with shape \(32,\)"):
        model.fit(np.zeros((3, 32)), np.zeros((3, 10)))
    with pytest.raises(ValueError, match="expected dense_input to have 2 dimensions"):
        model.predict(np.zeros((3, 8, 8)))
    with pytest.raises(ValueError, match=r"expected dense_1 to have shape \(10,\) but got "
                                         r"array with shape \(1,\)"):
        model.fit(x, np.zeros(3))
    with pytest.raises(ValueError, match="3 input samples and 2 target samples"):
        model.evaluate(x, np.zeros((2, 10)))
    with pytest.raises(ValueError, match=r"Unknown loss function: 'crossentropy'.*"
                                         r"categorical_crossentropy.*mse"):
        model.compile("adam", "crossentropy")
    with pytest.raises(ValueError, match=r"Unknown optimizer: 'adamw'.*adadelta, adagrad, adam, "
                                         r"rmsprop, sgd"):
        model.compile("adamw", "mse")
    with pytest.raises(ValueError, match="Unknown metric"):
        model.compile("adam", "mse", metrics=["f1"])
    with pytest.raises(ValueError, match="no loss"):
        model.compile("adam")
    with pytest.raises(TypeError, match="instance of class Layer"):
        model.add("dense")
    with pytest.raises(ValueError, match="Unknown activation"):
        layers.Dense(3, activation="swishy")


def test_accepts_tf_train_optimizers_and_keras_optimizer_defaults():
    rms = keras.optimizers.get("RMSprop")
    assert (rms._learning_rate, rms._decay, rms._epsilon) == (0.001, 0.9, 1e-7)
    assert rms._slot_specs()[0] == ("rms", 0.0)
    assert keras.optimizers.get("sgd")._learning_rate == 0.01
    assert keras.optimizers.get("adam")._epsilon == 1e-7
    model = keras.Sequential([layers.Dense(1, input_shape=(1,))])
    model.compile(tf.train.GradientDescentOptimizer(0.1), "mse")
    x = np.linspace(-1, 1, 32)[:, None]
    model.fit(x, 3 * x, epochs=60, verbose=0)
    assert model.get_weights()[0][0, 0] == pytest.approx(3, abs=0.05)


def test_save_and_load_snapshot_round_trip(digits, tmp_path):
    x_train, x_test, y_train, _ = digits
    keras.utils.set_random_seed(4)
    model = keras.Sequential([
        layers.Reshape((8, 8, 1), input_shape=(64,)),
        layers.Conv2D(4, 3, activation="relu"),
        layers.BatchNormalization(),
        layers.MaxPooling2D(),
        layers.Flatten(),
        layers.Dropout(0.5),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["acc"])
    model.fit(x_train, y_train, epochs=1, verbose=0)
    path = model.save(str(tmp_path / "export"))
    predictor = tf.saved_model.load(path)
    got = predictor.predict({"x": x_test})["predictions"]
    np.testing.assert_allclose(got, model.predict(x_test), atol=1e-6)
    document = json.loads((tmp_path / "export" / "model.json").read_text())
    assert document["metadata"] == {"framework": "keras",
                                    "loss": "sparse_categorical_crossentropy", "n_classes": 10}
