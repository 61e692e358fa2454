"""`tf.keras`: Keras's Sequential, functional and subclassing APIs on the engine.

    model = tf.keras.Sequential([tf.keras.layers.Dense(64, activation="relu", input_shape=(8,)),
                                 tf.keras.layers.Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["acc"])
    model.fit(x, y, epochs=5, validation_split=0.2)

    a, b = tf.keras.Input(shape=(8,)), tf.keras.Input(shape=(4,))
    merged = tf.keras.layers.concatenate([a, tf.keras.layers.Dense(8)(b)])
    model = tf.keras.Model([a, b], tf.keras.layers.Dense(1)(merged))

    class MLP(tf.keras.Model):                    # subclassed: built on the first data
        def __init__(self):
            super().__init__()
            self.hidden, self.out = tf.keras.layers.Dense(16, "relu"), tf.keras.layers.Dense(3)

        def call(self, inputs, training=None):
            return self.out(self.hidden(inputs))

Layers are the tf.layers classes (callable on Keras tensors too); optimizers subclass
tf.train's with Keras's defaults; models own or share a graph and session (see models.py), and
are layers too (nest them in other models). Custom layers subclass tf.keras.layers.Layer.
`Model.save(path)` writes an engine.saved_model snapshot. History and TensorBoard keys are the
metric names as given to `compile` ('acc' stays 'acc', 'accuracy' stays 'accuracy').
"""

from engine import initializers
from engine.keras import (
    activations,
    backend,
    callbacks,
    layers,
    losses,
    metrics,
    models,
    optimizers,
    regularizers,
    utils,
)
from engine.keras.layers import Input
from engine.keras.models import Model, Sequential

__all__ = ["Input", "Model", "Sequential", "activations", "backend", "callbacks", "initializers",
           "layers", "losses", "metrics", "models", "optimizers", "regularizers", "utils"]
