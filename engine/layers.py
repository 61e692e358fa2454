"""`tf.layers`: TF 1.x's layer functions (`dense`, `conv2d`, ...) and the Layer classes behind
them, which `tf.keras.layers` shares (as in TF 1.x, where tf.layers is built on Keras layers).

A layer makes its variables on its first call, under a name scope it claims from the graph
('dense', then 'dense_1', ...), so they are named like TF's: 'dense/kernel', 'dense/bias'.
Later calls reuse them. A layer given an explicit `name` uses it as is; calling a second one
with that name raises, as TF does, unless it passes `reuse=True` to share the variables.
Variables come from tf.get_variable's store (engine/variable_scope.py), so a layer inside
`tf.variable_scope('tower', reuse=True)` shares the weights of the same layer in an earlier
'tower' (TF 1.x's weight-sharing idiom).

`training` may be a python bool or a bool tensor (say a `placeholder_with_default(False, [])`).
With a tensor, dropout's keep probability becomes 1 when it is False (every mask entry is then
exactly 1), and batch normalization builds both branches and picks one with `tf.where`, its
moving-average update scaled to nothing in inference, like TF's `smart_cond` paths.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any

from engine import dtypes as _dtypes
from engine import initializers, variable_scope
from engine.graph import Graph, GraphKeys, Tensor, convert_to_tensor
from engine.ops import array_ops, conv_ops, math_ops, nn_ops
from engine.ops.control_flow_ops import identity
from engine.shapes import Shape, fmt
from engine.variable_scope import Reuse
from engine.variables import Variable

__all__ = [
    "AveragePooling2D", "BatchNormalization", "Conv2D", "Dense", "Dropout", "Flatten", "Layer",
    "MaxPooling2D", "average_pooling2d", "batch_normalization", "conv2d", "dense", "dropout",
    "flatten", "max_pooling2d",
]

Regularizer = Callable[[Any], Tensor] | None


def _softmax(x: Any, axis: int = -1) -> Tensor:
    return nn_ops.softmax(x, axis=axis)


def _linear(x: Any) -> Any:
    """Identity: what `activation=None` means."""
    return x


# Keras's activation names (tf.keras.activations re-exports them); here, not under
# engine.keras, so that importing tf.layers does not import tf.keras.
def _hard_sigmoid(x: Tensor) -> Tensor:
    """Keras's piecewise-linear sigmoid: clip(0.2 x + 0.5, 0, 1)."""
    return math_ops.clip_by_value(0.2 * x + 0.5, 0.0, 1.0)


ACTIVATIONS: dict[str, Callable[..., Any]] = {
    "elu": nn_ops.elu, "hard_sigmoid": _hard_sigmoid, "linear": _linear, "relu": nn_ops.relu,
    "selu": nn_ops.selu,
    "sigmoid": nn_ops.sigmoid, "softmax": _softmax, "softplus": nn_ops.softplus,
    "softsign": nn_ops.softsign, "tanh": nn_ops.tanh,
}


def get_activation(identifier: Any) -> Callable[..., Any]:
    """The activation for a Keras name, a callable (returned as is) or None (linear)."""
    if identifier is None:
        return _linear
    if callable(identifier):
        return identifier
    if isinstance(identifier, str) and identifier in ACTIVATIONS:
        return ACTIVATIONS[identifier]
    raise ValueError(f"Unknown activation function {identifier!r}: expected a callable or one "
                     f"of {sorted(ACTIVATIONS)}.")


def _snake_case(name: str) -> str:
    """Keras's default layer names: 'Dense' -> 'dense', 'MaxPooling2D' -> 'max_pooling2d'."""
    name = re.sub(r"(.)([A-Z][a-z0-9]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _is_tensor(value: Any) -> bool:
    return isinstance(value, Tensor) or hasattr(value, "_as_graph_element")


def _training_flag(training: Any) -> bool | Tensor:
    """`training` as a python bool or a scalar bool tensor (None means inference)."""
    if not _is_tensor(training):
        return bool(training)
    flag = convert_to_tensor(training)
    if flag.dtype != _dtypes.bool or flag.static_shape not in (None, ()):
        raise ValueError(f"`training` must be a python bool or a scalar bool tensor, got "
                         f"{flag!r}.")
    return flag


def _pair(value: int | Sequence[int], what: str) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2:
        raise ValueError(f"The `{what}` argument must be an int or a tuple of 2 ints, got "
                         f"{value!r}.")
    return int(pair[0]), int(pair[1])


def _padding(padding: str) -> str:
    if padding.lower() not in ("valid", "same"):
        raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}.")
    return padding.upper()


def _channels_last(data_format: str) -> None:
    if data_format != "channels_last":
        raise ValueError(f"data_format {data_format!r} is not supported: the engine's conv and "
                         f"pooling ops take NHWC, i.e. 'channels_last'.")


def is_tensor_list(inputs: Any) -> bool:
    """Whether a layer's `inputs` are several tensors (a list or tuple, possibly empty),
    rather than one tensor or a nested Python list of numbers."""
    return isinstance(inputs, list | tuple) and all(
        isinstance(x, Tensor) or hasattr(x, "_as_graph_element") for x in inputs)


class Layer:
    """Base class: `build(input_shape)` makes the variables once, `call(inputs, training)`
    builds the ops of each call. The Keras arguments `input_shape`, `input_dim` and
    `batch_input_shape` give the input shape a Sequential model's first layer expects."""

    def __init__(self, trainable: bool = True, name: str | None = None, dtype: Any = None, *,
                 input_shape: Sequence[int | None] | None = None, input_dim: int | None = None,
                 batch_input_shape: Sequence[int | None] | None = None,
                 _reuse: Reuse = None) -> None:
        self.trainable = trainable
        self._explicit_name = name is not None
        self.name = name or _snake_case(type(self).__name__)
        self.dtype = None if dtype is None else _dtypes.as_dtype(dtype)
        if input_shape is None and input_dim is not None:
            input_shape = (input_dim,)
        if batch_input_shape is None and input_shape is not None:
            batch_input_shape = (None, *input_shape)
        self.batch_input_shape = None if batch_input_shape is None else tuple(batch_input_shape)
        self._reuse = _reuse
        self._graph: Graph | None = None
        self._scope = ""
        self._var_scope = ""
        self.built = False
        self._trainable_weights: list[Variable] = []
        self._non_trainable_weights: list[Variable] = []
        self.updates: list[Tensor] = []
        self.losses: list[Tensor] = []
        self.input_shape: Shape = None
        self.output_shape: Shape = None

    # -- naming -----------------------------------------------------------------------------
    def _set_scope(self, graph: Graph) -> None:
        """Claim this layer's name scope in `graph` (once): a default name is made unique
        there, an explicit one is kept, so its variables can be shared or clash (TF). Its
        variables take the name with the variable scope's name in place of the name scope
        that scope opened: 'tower_1/dense' -> 'tower/dense' on re-entering 'tower'."""
        if self._graph is not None:
            if graph is not self._graph:
                raise ValueError(f"Layer '{self.name}' belongs to another graph; a layer's "
                                 f"variables live in one graph.")
            return
        self._graph = graph
        if self._explicit_name:
            prefix = graph.get_name_scope()
            self._scope = f"{prefix}/{self.name}" if prefix else self.name
            if graph.unique_name(self.name, mark_as_used=False) == self._scope:
                graph.unique_name(self.name)
        else:
            self._scope = graph.unique_name(self.name)
            self.name = self._scope.rsplit("/", 1)[-1]
        self._var_scope = variable_scope.variable_name(graph, self._scope)

    # -- calling ----------------------------------------------------------------------------
    def __call__(self, inputs: Any, training: Any = None) -> Tensor:
        """The layer's output for `inputs`: one tensor, or a list of tensors for layers that
        combine several (merge layers); `build` and `call` get the same form."""
        listed = is_tensor_list(inputs)
        xs = [convert_to_tensor(x) for x in inputs] if listed else [convert_to_tensor(inputs)]
        if not xs:
            raise ValueError(f"Layer {self.name} was called on an empty list of inputs.")
        graph = xs[0].graph
        self._set_scope(graph)
        shapes = [x.static_shape for x in xs]
        with graph.as_default(), graph.name_scope(f"{self._scope}/"):
            if not self.built:
                if self.dtype is None:
                    self.dtype = xs[0].dtype if xs[0].dtype.is_floating else _dtypes.float32
                self.build(shapes if listed else shapes[0])
                self.built = True
            out = self.call(xs if listed else xs[0], training)
        self.input_shape = shapes if listed else shapes[0]
        self.output_shape = [o.static_shape for o in out] if isinstance(out, list | tuple) \
            else out.static_shape  # several outputs: an RNN's return_state
        return out

    apply = __call__

    def build(self, input_shape: Shape) -> None:
        """Make the layer's variables; layers without any keep this no-op."""

    def call(self, inputs: Tensor, training: Any) -> Tensor:
        raise NotImplementedError

    # -- weights ----------------------------------------------------------------------------
    def add_weight(self, name: str, shape: Sequence[int], initializer: Any = None,
                   trainable: bool = True, regularizer: Regularizer = None,
                   dtype: Any = None) -> Variable:
        """The variable '<scope>/<name>' from tf.get_variable's store: made here, or with
        reuse (the layer's or its variable scope's) the existing one. Its regularization loss
        goes to REGULARIZATION_LOSSES and `losses`."""
        assert self._graph is not None, "add_weight runs inside build()"
        reuse = self._reuse or variable_scope.current_scope(self._graph).reuse
        var = variable_scope.stored_variable(
            self._graph, f"{self._var_scope}/{name}", tuple(int(d) for d in shape),
            _dtypes.as_dtype(dtype or self.dtype),
            initializers.get(initializer) or initializers.GlorotUniform(),
            None if regularizer is None else self._tracked(regularizer), reuse,
            trainable and self.trainable)
        (self._trainable_weights if var.trainable else self._non_trainable_weights).append(var)
        return var

    def _tracked(self, regularizer: Callable[[Any], Tensor | None]) -> Callable[[Any], Any]:
        """`regularizer`, also keeping its loss in this layer's `losses` (Keras)."""
        def penalty(weight: Any) -> Tensor | None:
            loss = regularizer(weight)
            if loss is not None:
                self.losses.append(loss)
            return loss

        return penalty

    @property
    def trainable_weights(self) -> list[Variable]:
        return list(self._trainable_weights)

    @property
    def non_trainable_weights(self) -> list[Variable]:
        return list(self._non_trainable_weights)

    @property
    def weights(self) -> list[Variable]:
        """Trainable weights first, then the others (Keras's order, e.g. for get_weights)."""
        return self._trainable_weights + self._non_trainable_weights

    variables = weights
    trainable_variables = trainable_weights
    non_trainable_variables = non_trainable_weights

    def count_params(self) -> int:
        if not self.built:
            raise ValueError(f"You tried to call `count_params` on {self.name}, but the layer "
                             f"isn't built yet.")
        return sum(math.prod(v.shape.as_list()) for v in self.weights)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} '{self.name}'>"


def _known_dim(layer: Layer, shape: Shape, axis: int, min_rank: int) -> int:
    """Dimension `axis` of an input, which must be known for the layer's variables."""
    if shape is None or len(shape) < min_rank:
        raise ValueError(f"Input 0 of layer {layer.name} is incompatible with the layer: "
                         f"expected ndim>={min_rank}, found shape {fmt(shape)}.")
    dim = shape[axis]
    if dim is None:
        raise ValueError(f"The {'last' if axis == -1 else f'axis {axis}'} dimension of the "
                         f"inputs to `{type(layer).__name__}` should be defined. Found `None`.")
    return dim


class _Affine(Layer):
    """A kernel, an optional bias added along the last axis, then an activation: what Dense
    and Conv2D share."""

    def __init__(self, activation: Any, use_bias: bool, kernel_initializer: Any,
                 bias_initializer: Any, kernel_regularizer: Regularizer,
                 bias_regularizer: Regularizer, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.activation = get_activation(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer) or \
            initializers.GlorotUniform()
        self.bias_initializer = initializers.get(bias_initializer) or initializers.Zeros()
        self.kernel_regularizer, self.bias_regularizer = kernel_regularizer, bias_regularizer
        self.kernel: Variable | None = None
        self.bias: Variable | None = None

    def _build_weights(self, kernel_shape: tuple[int, ...]) -> None:
        self.kernel = self.add_weight("kernel", kernel_shape, self.kernel_initializer,
                                      regularizer=self.kernel_regularizer)
        if self.use_bias:
            self.bias = self.add_weight("bias", kernel_shape[-1:], self.bias_initializer,
                                        regularizer=self.bias_regularizer)

    def _finish(self, outputs: Tensor) -> Tensor:
        if self.bias is not None:
            outputs = nn_ops.bias_add(outputs, self.bias)
        return self.activation(outputs)


class Dense(_Affine):
    """activation(inputs @ kernel + bias); inputs of rank > 2 use their last axis."""

    def __init__(self, units: int, activation: Any = None, use_bias: bool = True,
                 kernel_initializer: Any = None, bias_initializer: Any = None,
                 kernel_regularizer: Regularizer = None, bias_regularizer: Regularizer = None,
                 trainable: bool = True, name: str | None = None, **kwargs: Any) -> None:
        super().__init__(activation, use_bias, kernel_initializer, bias_initializer,
                         kernel_regularizer, bias_regularizer, trainable=trainable, name=name,
                         **kwargs)
        self.units = int(units)

    def build(self, input_shape: Shape) -> None:
        self._build_weights((_known_dim(self, input_shape, -1, 2), self.units))

    def call(self, inputs: Tensor, training: Any) -> Tensor:
        shape = inputs.static_shape
        if len(shape) == 2:
            return self._finish(math_ops.matmul(inputs, self.kernel))
        flat = array_ops.reshape(inputs, [-1, shape[-1]])
        out_shape = array_ops.concat([array_ops.shape(inputs)[:-1], [self.units]], 0)
        outputs = array_ops.reshape(math_ops.matmul(flat, self.kernel), out_shape)
        outputs.set_shape((*shape[:-1], self.units))
        return self._finish(outputs)


class Conv2D(_Affine):
    """2-D convolution of NHWC inputs with a (kh, kw, in, filters) kernel, plus bias."""

    def __init__(self, filters: int, kernel_size: int | Sequence[int],
                 strides: int | Sequence[int] = (1, 1), padding: str = "valid",
                 data_format: str = "channels_last",
                 dilation_rate: int | Sequence[int] = (1, 1), activation: Any = None,
                 use_bias: bool = True, kernel_initializer: Any = None,
                 bias_initializer: Any = None, kernel_regularizer: Regularizer = None,
                 bias_regularizer: Regularizer = None, trainable: bool = True,
                 name: str | None = None, **kwargs: Any) -> None:
        super().__init__(activation, use_bias, kernel_initializer, bias_initializer,
                         kernel_regularizer, bias_regularizer, trainable=trainable, name=name,
                         **kwargs)
        _channels_last(data_format)
        self.filters = int(filters)
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.strides = _pair(strides, "strides")
        self.dilation_rate = _pair(dilation_rate, "dilation_rate")
        self.padding = _padding(padding)

    def build(self, input_shape: Shape) -> None:
        if input_shape is not None and len(input_shape) != 4:
            raise ValueError(f"Input 0 of layer {self.name} is incompatible with the layer: "
                             f"expected ndim=4, found ndim={len(input_shape)}. Full shape "
                             f"received: {fmt(input_shape)}")
        channels = _known_dim(self, input_shape, -1, 4)
        self._build_weights((*self.kernel_size, channels, self.filters))

    def call(self, inputs: Tensor, training: Any) -> Tensor:
        outputs = conv_ops.conv2d(inputs, self.kernel, [1, *self.strides, 1], self.padding,
                                  dilations=[1, *self.dilation_rate, 1])
        return self._finish(outputs)


class _Pooling2D(Layer):
    """A pooling op over pool_size windows; strides default to pool_size (Keras)."""

    _pool: Callable[..., Tensor]

    def __init__(self, pool_size: int | Sequence[int] = (2, 2),
                 strides: int | Sequence[int] | None = None, padding: str = "valid",
                 data_format: str = "channels_last", name: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        _channels_last(data_format)
        self.pool_size = _pair(pool_size, "pool_size")
        self.strides = self.pool_size if strides is None else _pair(strides, "strides")
        self.padding = _padding(padding)

    def call(self, inputs: Tensor, training: Any) -> Tensor:
        return type(self)._pool(inputs, [1, *self.pool_size, 1], [1, *self.strides, 1],
                                self.padding)


class MaxPooling2D(_Pooling2D):
    _pool = conv_ops.max_pool


class AveragePooling2D(_Pooling2D):
    _pool = conv_ops.avg_pool


class Flatten(Layer):
    """[batch, d1, d2, ...] -> [batch, d1 * d2 * ...]; the non-batch dims must be known."""

    def call(self, inputs: Tensor, training: Any) -> Tensor:
        shape = inputs.static_shape
        if shape is None or any(d is None for d in shape[1:]):
            raise ValueError(f"The shape of the input to `Flatten` is not fully defined (got "
                             f"{fmt(shape)}): every dimension but the first must be known.")
        return array_ops.reshape(inputs, [-1, math.prod(shape[1:])])


class Dropout(Layer):
    """Zeroes a `rate` fraction of the inputs while training, scaling the rest up; identity
    otherwise."""

    def __init__(self, rate: float = 0.5, noise_shape: Sequence[int | None] | None = None,
                 seed: int | None = None, name: str | None = None, **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        if not 0 <= rate < 1:
            raise ValueError(f"Dropout rate must be in [0, 1), got {rate}.")
        self.rate, self.noise_shape, self.seed = float(rate), noise_shape, seed

    def call(self, inputs: Tensor, training: Any) -> Tensor:
        flag = _training_flag(training)
        if flag is False:
            return identity(inputs)
        if flag is True:
            keep: Any = 1.0 - self.rate
        else:
            keep = 1.0 - self.rate * math_ops.cast(flag, inputs.dtype)
        return nn_ops.dropout(inputs, keep_prob=keep, noise_shape=self.noise_shape,
                              seed=self.seed)


class BatchNormalization(Layer):
    """Normalises the last axis with the batch's statistics while training, with the moving
    ones otherwise. The moving averages are non-trainable variables that the ops in the
    UPDATE_OPS collection (and `updates`) refresh: run them with the train op, as in TF."""

    def __init__(self, axis: int = -1, momentum: float = 0.99, epsilon: float = 1e-3,
                 center: bool = True, scale: bool = True, beta_initializer: Any = None,
                 gamma_initializer: Any = None, moving_mean_initializer: Any = None,
                 moving_variance_initializer: Any = None, beta_regularizer: Regularizer = None,
                 gamma_regularizer: Regularizer = None, trainable: bool = True,
                 name: str | None = None, **kwargs: Any) -> None:
        super().__init__(trainable=trainable, name=name, **kwargs)
        self.axis, self.momentum, self.epsilon = axis, float(momentum), float(epsilon)
        self.center, self.scale = center, scale
        self._initializers = [initializers.get(i) or default for i, default in (
            (gamma_initializer, initializers.Ones()), (beta_initializer, initializers.Zeros()),
            (moving_mean_initializer, initializers.Zeros()),
            (moving_variance_initializer, initializers.Ones()))]
        self._regularizers = (gamma_regularizer, beta_regularizer)

    def build(self, input_shape: Shape) -> None:
        rank = 0 if input_shape is None else len(input_shape)
        if self.axis not in (-1, rank - 1):
            raise ValueError(f"BatchNormalization supports only the last axis (channels_last), "
                             f"got axis={self.axis} for an input of shape {fmt(input_shape)}.")
        channels = (_known_dim(self, input_shape, -1, 2),)
        gamma_init, beta_init, mean_init, var_init = self._initializers
        self.gamma = self.add_weight("gamma", channels, gamma_init,
                                     regularizer=self._regularizers[0]) if self.scale else None
        self.beta = self.add_weight("beta", channels, beta_init,
                                    regularizer=self._regularizers[1]) if self.center else None
        self.moving_mean = self.add_weight("moving_mean", channels, mean_init, trainable=False)
        self.moving_variance = self.add_weight("moving_variance", channels, var_init,
                                               trainable=False)

    def call(self, inputs: Tensor, training: Any) -> Tensor:
        flag = _training_flag(training)
        shape = inputs.static_shape
        channels = shape[-1]
        x = inputs if len(shape) == 4 else array_ops.reshape(inputs, [-1, 1, 1, channels])
        gamma = self.gamma if self.gamma is not None else array_ops.ones([channels], x.dtype)
        beta = self.beta if self.beta is not None else array_ops.zeros([channels], x.dtype)

        def normalize(is_training: bool) -> tuple[Tensor, Tensor, Tensor]:
            stats = () if is_training else (self.moving_mean, self.moving_variance)
            return nn_ops.fused_batch_norm(x, gamma, beta, *stats, epsilon=self.epsilon,
                                           is_training=is_training)

        if flag is False:
            y = normalize(False)[0]
        else:
            y, mean, variance = normalize(True)
            decay: Any = self.momentum
            if flag is not True:
                y = math_ops.where(flag, y, normalize(False)[0])
                decay = math_ops.where(flag, self.momentum, 1.0)
            for var, value in ((self.moving_mean, mean), (self.moving_variance, variance)):
                update = var.assign_sub((var - value) * (1.0 - decay), name="AssignMovingAvg")
                self.updates.append(update)
                var.graph.add_to_collection(GraphKeys.UPDATE_OPS, update)
        if len(shape) != 4:
            y = array_ops.reshape(y, array_ops.shape(inputs))
            y.set_shape(shape)
        return y


# -- the functional forms -------------------------------------------------------------------------
def dense(inputs: Any, units: int, activation: Any = None, use_bias: bool = True,
          kernel_initializer: Any = None, bias_initializer: Any = None,
          kernel_regularizer: Regularizer = None, bias_regularizer: Regularizer = None,
          trainable: bool = True, name: str | None = None, reuse: Reuse = None) -> Tensor:
    """A fully connected layer on `inputs`: variables '<name>/kernel' and '<name>/bias'."""
    return Dense(units, activation, use_bias, kernel_initializer, bias_initializer,
                 kernel_regularizer, bias_regularizer, trainable=trainable, name=name,
                 _reuse=reuse)(inputs)


def conv2d(inputs: Any, filters: int, kernel_size: int | Sequence[int],
           strides: int | Sequence[int] = (1, 1), padding: str = "valid",
           data_format: str = "channels_last", dilation_rate: int | Sequence[int] = (1, 1),
           activation: Any = None, use_bias: bool = True, kernel_initializer: Any = None,
           bias_initializer: Any = None, kernel_regularizer: Regularizer = None,
           bias_regularizer: Regularizer = None, trainable: bool = True,
           name: str | None = None, reuse: Reuse = None) -> Tensor:
    """A 2-D convolution layer on NHWC `inputs`."""
    return Conv2D(filters, kernel_size, strides, padding, data_format, dilation_rate,
                  activation, use_bias, kernel_initializer, bias_initializer,
                  kernel_regularizer, bias_regularizer, trainable=trainable, name=name,
                  _reuse=reuse)(inputs)


def max_pooling2d(inputs: Any, pool_size: int | Sequence[int], strides: int | Sequence[int],
                  padding: str = "valid", data_format: str = "channels_last",
                  name: str | None = None) -> Tensor:
    return MaxPooling2D(pool_size, strides, padding, data_format, name)(inputs)


def average_pooling2d(inputs: Any, pool_size: int | Sequence[int],
                      strides: int | Sequence[int], padding: str = "valid",
                      data_format: str = "channels_last", name: str | None = None) -> Tensor:
    return AveragePooling2D(pool_size, strides, padding, data_format, name)(inputs)


def flatten(inputs: Any, name: str | None = None) -> Tensor:
    return Flatten(name=name)(inputs)


def dropout(inputs: Any, rate: float = 0.5, noise_shape: Sequence[int | None] | None = None,
            seed: int | None = None, training: Any = False, name: str | None = None) -> Tensor:
    """Dropout when `training` (a bool or a bool tensor) is true, identity otherwise."""
    return Dropout(rate, noise_shape, seed, name)(inputs, training=training)


def batch_normalization(inputs: Any, axis: int = -1, momentum: float = 0.99,
                        epsilon: float = 1e-3, center: bool = True, scale: bool = True,
                        beta_initializer: Any = None, gamma_initializer: Any = None,
                        moving_mean_initializer: Any = None,
                        moving_variance_initializer: Any = None,
                        beta_regularizer: Regularizer = None,
                        gamma_regularizer: Regularizer = None, training: Any = False,
                        trainable: bool = True, name: str | None = None,
                        reuse: Reuse = None) -> Tensor:
    """Batch normalization; while training, run tf.GraphKeys.UPDATE_OPS with the train op to
    keep the moving mean and variance that inference uses."""
    return BatchNormalization(axis, momentum, epsilon, center, scale, beta_initializer,
                              gamma_initializer, moving_mean_initializer,
                              moving_variance_initializer, beta_regularizer, gamma_regularizer,
                              trainable=trainable, name=name, _reuse=reuse)(
        inputs, training=training)
