"""`tf.keras.activations`: activation functions by Keras name, for `activation='relu'`.
The table lives in engine/layers.py, which the layer classes (shared with tf.layers) use."""

from engine.layers import ACTIVATIONS
from engine.layers import get_activation as get

__all__ = ["elu", "get", "hard_sigmoid", "linear", "relu", "selu", "sigmoid", "softmax",
           "softplus", "softsign", "tanh"]

elu = ACTIVATIONS["elu"]
hard_sigmoid = ACTIVATIONS["hard_sigmoid"]
linear = ACTIVATIONS["linear"]
relu = ACTIVATIONS["relu"]
selu = ACTIVATIONS["selu"]
sigmoid = ACTIVATIONS["sigmoid"]
softmax = ACTIVATIONS["softmax"]
softplus = ACTIVATIONS["softplus"]
softsign = ACTIVATIONS["softsign"]
tanh = ACTIVATIONS["tanh"]
