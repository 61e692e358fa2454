"""`tf.keras.layers`: the tf.layers classes (one implementation, as in TF 1.x) plus the
Keras-only Activation, Reshape and InputLayer."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from engine.graph import Tensor
from engine.layers import (
    AveragePooling2D,
    BatchNormalization,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    Layer,
    MaxPooling2D,
    get_activation,
)
from engine.ops import array_ops
from engine.ops.control_flow_ops import identity
from engine.shapes import fmt

__all__ = [
    "Activation", "AveragePooling2D", "AvgPool2D", "BatchNormalization", "Conv2D",
    "Convolution2D", "Dense", "Dropout", "Flatten", "InputLayer", "Layer", "MaxPool2D",
    "MaxPooling2D", "Reshape",
]

Convolution2D = Conv2D
MaxPool2D = MaxPooling2D
AvgPool2D = AveragePooling2D


class Activation(Layer):
    """Applies an activation given by Keras name or callable."""

    def __init__(self, activation: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.activation = get_activation(activation)

    def call(self, inputs: Tensor, training: Any) -> Tensor:
        return self.activation(inputs)


class Reshape(Layer):
    """Reshapes each sample to `target_shape`; one entry may be -1 (inferred)."""

    def __init__(self, target_shape: Sequence[int], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.target_shape = tuple(int(d) for d in target_shape)
        if sum(d == -1 for d in self.target_shape) > 1:
            raise ValueError(f"Reshape: at most one dimension may be -1, got "
                             f"{self.target_shape}.")

    def call(self, inputs: Tensor, training: Any) -> Tensor:
        sample = inputs.static_shape[1:]
        if any(d is None for d in sample):
            raise ValueError(f"Reshape needs known sample dimensions, got {fmt(sample)}.")
        size, known = math.prod(sample), math.prod(d for d in self.target_shape if d != -1)
        target = tuple(size // known if d == -1 else d for d in self.target_shape)
        if math.prod(target) != size:
            raise ValueError(f"total size of new array must be unchanged: input sample shape "
                             f"{fmt(sample)}, target_shape {self.target_shape}.")
        return array_ops.reshape(inputs, [-1, *target])


class InputLayer(Layer):
    """Declares a Sequential model's input shape; a model does not list it among its layers."""

    def __init__(self, input_shape: Sequence[int | None] | None = None,
                 batch_size: int | None = None, name: str | None = None,
                 batch_input_shape: Sequence[int | None] | None = None, **kwargs: Any) -> None:
        if batch_input_shape is None and input_shape is not None:
            batch_input_shape = (batch_size, *input_shape)
        if batch_input_shape is None:
            raise ValueError("InputLayer needs input_shape or batch_input_shape.")
        super().__init__(name=name, batch_input_shape=batch_input_shape, **kwargs)

    def call(self, inputs: Tensor, training: Any) -> Tensor:
        return identity(inputs)
