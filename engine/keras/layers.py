"""`tf.keras.layers`: the tf.layers classes (one implementation, as in TF 1.x) made callable
on Keras tensors, plus the Keras-only layers: Input/InputLayer, Activation, Reshape, the merge
layers (Concatenate, Add, ...), Embedding, global pooling, LeakyReLU/ReLU/Softmax, Lambda, and
the recurrent SimpleRNN, LSTM and GRU (engine/keras/recurrent.py).

A call on tensors of `tf.keras.Input` is recorded (engine/keras/backend.py) so that
`tf.keras.Model(inputs, outputs)` can find its layers; on any other tensor a layer works as
its tf.layers class does. Layers may take a list of tensors (merge layers, Lambda). Custom
layers subclass `Layer` (its `build` making weights with `add_weight`, its `call` the ops).
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Sequence
from typing import Any

from engine import dtypes as _dtypes
from engine import initializers
from engine import layers as _tf_layers
from engine.graph import Tensor, convert_to_tensor
from engine.keras import backend
from engine.layers import Regularizer, get_activation
from engine.ops import array_ops, math_ops, nn_ops, reduction_ops
from engine.ops.array_ops import placeholder
from engine.ops.control_flow_ops import identity
from engine.shapes import Shape, fmt
from engine.variables import Variable

__all__ = [
    "Activation", "Add", "Average", "AveragePooling2D", "AvgPool2D", "BatchNormalization",
    "Concatenate", "Conv2D", "Convolution2D", "Dense", "Dropout", "Embedding", "Flatten",
    "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAvgPool1D", "GlobalAvgPool2D",
    "GRU", "GlobalMaxPool2D", "GlobalMaxPooling2D", "Input", "InputLayer", "LSTM", "Lambda",
    "Layer", "LeakyReLU", "MaxPool2D", "MaxPooling2D", "Maximum", "Multiply", "ReLU", "Reshape",
    "SimpleRNN", "Softmax", "Subtract", "add", "average", "concatenate", "maximum", "multiply",
    "subtract",
]


class Layer(_tf_layers.Layer):
    """tf.layers' Layer, also callable on Keras tensors, whose calls it records for the
    functional API. Subclass it as in Keras: make weights in `build(input_shape)` with
    `self.add_weight(...)` and compute in `call(inputs)` (or `call(inputs, training=None)`)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A `call` written outside the engine is adapted to the engine's calling convention,
        `call(inputs, training)`: `training` goes only to a call that takes it, and what it
        returns is checked (see `_user_call`)."""
        super().__init_subclass__(**kwargs)
        call = cls.__dict__.get("call")
        if call is not None and not cls.__module__.startswith("engine."):
            cls.call = _user_call(call)

    def __call__(self, inputs: Any, training: Any = None) -> Any:
        listed = _tf_layers.is_tensor_list(inputs)
        tensors = list(inputs) if listed else [inputs]
        keras = [backend.is_keras_tensor(t) for t in tensors]
        if any(keras) and not all(keras):
            raise ValueError(f"Layer {self.name} was called with an input that isn't a Keras "
                             f"tensor ({tensors[keras.index(False)]!r}): all inputs must come "
                             f"from tf.keras.Input or tf.keras layers; wrap other tf ops in "
                             f"tf.keras.layers.Lambda.")
        outputs = self._call_tensors(inputs, training)
        if tensors and all(keras):
            backend.runtime().record(self, tensors, listed,
                                     list(outputs) if isinstance(outputs, list | tuple)
                                     else [outputs], training)
        return outputs

    apply = __call__

    def _call_tensors(self, inputs: Any, training: Any) -> Any:
        """The call itself, unrecorded: what a functional model replays for training."""
        return _tf_layers.Layer.__call__(self, inputs, training)

    def add_weight(self, name: str | None = None, shape: Sequence[int] = (),
                   initializer: Any = None, trainable: bool = True,
                   regularizer: Regularizer = None, dtype: Any = None) -> Variable:
        """tf.layers' add_weight, the name optional as in Keras (weight, weight_1, ...)."""
        if name is None:
            name = f"weight_{len(self.weights)}" if self.weights else "weight"
        return super().add_weight(name, shape, initializer, trainable, regularizer, dtype)


def _user_call(call: Callable[..., Any]) -> Callable[..., Any]:
    """`call` taking the engine's `(inputs, training)`: `training` is passed on by keyword
    when `call` has such a parameter (or **kwargs), else dropped; the result must be a tensor
    or a list / tuple of tensors, which an error says otherwise."""
    params = list(inspect.signature(call).parameters.values())[1:]
    takes_training = any(p.name == "training" or p.kind is p.VAR_KEYWORD for p in params)

    @functools.wraps(call)
    def adapted(self: Layer, inputs: Any, training: Any = None) -> Any:
        out = call(self, inputs, training=training) if takes_training else call(self, inputs)
        if not _tf_layers.is_tensor_list(out if isinstance(out, list | tuple) else [out]):
            raise TypeError(f"The call() of {type(self).__name__} '{self.name}' returned "
                            f"{type(out).__name__} {out!r:.80}; it must return a tensor (or a "
                            f"list of tensors) computed with tf ops from its inputs (wrap "
                            f"constants in tf.constant).")
        return out

    return adapted


# The tf.layers classes, callable on Keras tensors.
class Dense(Layer, _tf_layers.Dense):
    __doc__ = _tf_layers.Dense.__doc__


class Conv2D(Layer, _tf_layers.Conv2D):
    __doc__ = _tf_layers.Conv2D.__doc__


class MaxPooling2D(Layer, _tf_layers.MaxPooling2D):
    __doc__ = _tf_layers.MaxPooling2D.__doc__


class AveragePooling2D(Layer, _tf_layers.AveragePooling2D):
    __doc__ = _tf_layers.AveragePooling2D.__doc__


class Flatten(Layer, _tf_layers.Flatten):
    __doc__ = _tf_layers.Flatten.__doc__


class Dropout(Layer, _tf_layers.Dropout):
    __doc__ = _tf_layers.Dropout.__doc__


class BatchNormalization(Layer, _tf_layers.BatchNormalization):
    __doc__ = _tf_layers.BatchNormalization.__doc__


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
    """Declares a model's input: in a Sequential model it only gives the input shape (and is
    not listed among the layers); `tf.keras.Input` makes one holding a placeholder."""

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


def Input(shape: Sequence[int | None] | None = None, batch_size: int | None = None,
          name: str | None = None, dtype: Any = None,
          batch_shape: Sequence[int | None] | None = None) -> Tensor:
    """A placeholder in the Keras graph to call layers on; `tf.keras.Model(inputs, outputs)`
    then trains them. `shape` excludes the batch dimension; names default to input_1, ..."""
    if shape is None and batch_shape is None:
        raise ValueError("Please provide to Input either a `shape` or a `batch_shape` argument. "
                         "Note that `shape` does not include the batch dimension.")
    run = backend.runtime()
    layer = InputLayer(input_shape=shape, batch_size=batch_size,
                       name=name or f"input_{run.uid('input')}",
                       batch_input_shape=batch_shape, dtype=dtype or _dtypes.float32)
    with run.graph.as_default():
        tensor = placeholder(layer.dtype, layer.batch_input_shape, name=layer.name)
    layer.built = True
    layer.input_shape = layer.output_shape = tensor.static_shape
    run.record(layer, [], False, [tensor], None)
    return tensor


# -- merge layers -----------------------------------------------------------------------------
class _Merge(Layer):
    """Combines a list of tensors of one shape element by element (`_merge` pairwise)."""

    _merge: Callable[[Tensor, Tensor], Tensor]

    def build(self, input_shape: Any) -> None:
        if not isinstance(input_shape, list) or len(input_shape) < 2:
            raise ValueError(f"The `{type(self).__name__}` layer should be called on a list of "
                             f"at least 2 inputs, got {input_shape}.")
        self._check(input_shape)

    def _check(self, shapes: list[Shape]) -> None:
        first = shapes[0]
        for shape in shapes[1:]:
            if first is None or shape is None:
                continue
            if len(shape) != len(first) or any(a is not None and b is not None and a != b
                                               for a, b in zip(first, shape, strict=True)):
                raise ValueError(f"Operands could not be broadcast together with shapes "
                                 f"{first} {shape}: a `{type(self).__name__}` layer needs "
                                 f"inputs of the same shape.")

    def call(self, inputs: list[Tensor], training: Any) -> Tensor:
        return functools.reduce(type(self)._merge, inputs)


class Add(_Merge):
    _merge = math_ops.add


class Multiply(_Merge):
    _merge = math_ops.multiply


class Maximum(_Merge):
    _merge = math_ops.maximum


class Subtract(_Merge):
    _merge = math_ops.subtract

    def build(self, input_shape: Any) -> None:
        if not isinstance(input_shape, list) or len(input_shape) != 2:
            raise ValueError(f"The `Subtract` layer should be called on exactly 2 inputs, got "
                             f"{input_shape}.")
        self._check(input_shape)


class Average(_Merge):
    def call(self, inputs: list[Tensor], training: Any) -> Tensor:
        return math_ops.add_n(inputs) / float(len(inputs))


class Concatenate(_Merge):
    """Joins the inputs along `axis`; the other dimensions must match."""

    def __init__(self, axis: int = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.axis = axis

    def _check(self, shapes: list[Shape]) -> None:
        known = [s for s in shapes if s is not None]
        ranks = {len(s) for s in known}
        axis = self.axis % max(ranks) if ranks else self.axis
        if len(ranks) > 1 or any(
                any(a is not None and b is not None and a != b for i, (a, b) in
                    enumerate(zip(known[0], s, strict=True)) if i != axis) for s in known):
            raise ValueError(f"A `Concatenate` layer requires inputs with matching shapes "
                             f"except for the concat axis. Got inputs shapes: {shapes}")

    def call(self, inputs: list[Tensor], training: Any) -> Tensor:
        return array_ops.concat(inputs, self.axis)


def concatenate(inputs: Sequence[Any], axis: int = -1, **kwargs: Any) -> Tensor:
    """Functional form of `Concatenate`."""
    return Concatenate(axis=axis, **kwargs)(inputs)


def _merge_function(layer: type[_Merge]) -> Callable[..., Tensor]:
    def merge(inputs: Sequence[Any], **kwargs: Any) -> Tensor:
        return layer(**kwargs)(inputs)

    merge.__name__ = merge.__qualname__ = layer.__name__.lower()
    merge.__doc__ = f"Functional form of `{layer.__name__}`."
    return merge


add = _merge_function(Add)
subtract = _merge_function(Subtract)
multiply = _merge_function(Multiply)
average = _merge_function(Average)
maximum = _merge_function(Maximum)


# -- other Keras layers -----------------------------------------------------------------------
class Embedding(Layer):
    """Maps integer ids in [0, input_dim) to trainable `output_dim`-vectors (a gather)."""

    def __init__(self, input_dim: int, output_dim: int, embeddings_initializer: Any = "uniform",
                 embeddings_regularizer: Regularizer = None, input_length: int | None = None,
                 **kwargs: Any) -> None:
        if "input_shape" not in kwargs and "batch_input_shape" not in kwargs:
            kwargs["input_shape"] = (input_length,)
        super().__init__(**kwargs)
        self.input_dim, self.output_dim = int(input_dim), int(output_dim)
        self.embeddings_initializer = initializers.RandomUniform(-0.05, 0.05) \
            if embeddings_initializer == "uniform" else initializers.get(embeddings_initializer)
        self.embeddings_regularizer = embeddings_regularizer

    def build(self, input_shape: Shape) -> None:
        self.embeddings = self.add_weight("embeddings", (self.input_dim, self.output_dim),
                                          self.embeddings_initializer,
                                          regularizer=self.embeddings_regularizer)

    def call(self, inputs: Tensor, training: Any) -> Tensor:
        ids = inputs if inputs.dtype.is_integer else math_ops.cast(inputs, _dtypes.int32)
        return array_ops.gather(self.embeddings, ids)


class _GlobalPooling(Layer):
    """Reduces the spatial (or time) axes of channels-last inputs of rank `_rank`."""

    _reduce: Callable[..., Tensor]
    _rank: int

    def __init__(self, data_format: str = "channels_last", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _tf_layers._channels_last(data_format)

    def build(self, input_shape: Shape) -> None:
        if input_shape is not None and len(input_shape) != self._rank:
            raise ValueError(f"Input 0 of layer {self.name} is incompatible with the layer: "
                             f"expected ndim={self._rank}, found ndim={len(input_shape)}. "
                             f"Full shape received: {fmt(input_shape)}")

    def call(self, inputs: Tensor, training: Any) -> Tensor:
        return type(self)._reduce(inputs, axis=list(range(1, self._rank - 1)))


class GlobalAveragePooling1D(_GlobalPooling):
    _reduce, _rank = reduction_ops.reduce_mean, 3


class GlobalAveragePooling2D(_GlobalPooling):
    _reduce, _rank = reduction_ops.reduce_mean, 4


class GlobalMaxPooling2D(_GlobalPooling):
    _reduce, _rank = reduction_ops.reduce_max, 4


GlobalAvgPool1D = GlobalAveragePooling1D
GlobalAvgPool2D = GlobalAveragePooling2D
GlobalMaxPool2D = GlobalMaxPooling2D


class LeakyReLU(Layer):
    """x for x >= 0, alpha * x below (Keras's default alpha is 0.3)."""

    def __init__(self, alpha: float = 0.3, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.alpha = float(alpha)

    def call(self, inputs: Tensor, training: Any) -> Tensor:
        return nn_ops.leaky_relu(inputs, alpha=self.alpha)


class ReLU(Layer):
    """x at or above `threshold`, negative_slope * (x - threshold) below, capped at
    `max_value`."""

    def __init__(self, max_value: float | None = None, negative_slope: float = 0.0,
                 threshold: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if max_value is not None and max_value < 0:
            raise ValueError(f"max_value of a ReLU layer cannot be negative, got {max_value}.")
        if negative_slope < 0:
            raise ValueError(f"negative_slope of a ReLU layer cannot be negative, got "
                             f"{negative_slope}.")
        self.max_value, self.negative_slope, self.threshold = max_value, negative_slope, \
            threshold

    def call(self, inputs: Tensor, training: Any) -> Tensor:
        if self.negative_slope == 0 and self.threshold == 0:
            out = nn_ops.relu(inputs)
        else:
            below = (inputs - self.threshold) * self.negative_slope
            out = math_ops.where(inputs >= self.threshold, inputs, below)
        return out if self.max_value is None else math_ops.minimum(out, self.max_value)


class Softmax(Layer):
    """Softmax along `axis`."""

    def __init__(self, axis: int = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.axis = axis

    def call(self, inputs: Tensor, training: Any) -> Tensor:
        return nn_ops.softmax(inputs, axis=self.axis)


class Lambda(Layer):
    """Wraps `function(inputs, **arguments)` of tf ops as a layer, so a functional model can
    use arbitrary ops; it has no weights."""

    def __init__(self, function: Callable[..., Any], arguments: dict[str, Any] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not callable(function):
            raise TypeError(f"Lambda needs a callable, got {function!r}.")
        self.function, self.arguments = function, dict(arguments or {})

    def call(self, inputs: Any, training: Any) -> Tensor:
        return convert_to_tensor(self.function(inputs, **self.arguments))


# The recurrent layers live in their own module, built on the Layer above.
from engine.keras.recurrent import GRU, LSTM, SimpleRNN  # noqa: E402
