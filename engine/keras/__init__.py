"""`tf.keras`: Keras's Sequential API on the engine.

    model = tf.keras.Sequential([tf.keras.layers.Dense(64, activation="relu", input_shape=(8,)),
                                 tf.keras.layers.Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["acc"])
    model.fit(x, y, epochs=5, validation_split=0.2)

Layers are the tf.layers classes; optimizers subclass tf.train's with Keras's defaults; each
model owns its graph and session (see models.py). `Model.save(path)` writes an
engine.saved_model snapshot. History and TensorBoard keys are the metric names as given to
`compile` ('acc' stays 'acc', 'accuracy' stays 'accuracy').
"""

from engine import initializers
from engine.keras import (
    activations,
    callbacks,
    layers,
    losses,
    metrics,
    models,
    optimizers,
    regularizers,
    utils,
)
from engine.keras.models import Sequential

__all__ = ["Sequential", "activations", "callbacks", "initializers", "layers", "losses",
           "metrics", "models", "optimizers", "regularizers", "utils"]
