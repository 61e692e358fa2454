"""Keras's recurrent layers: SimpleRNN, LSTM and GRU over [batch, time, features] inputs.

They keep Keras's weights and defaults (TF 1.x's tf.keras): `kernel` [features, gates * units],
`recurrent_kernel` [units, gates * units] (orthogonal at the start), `bias` [gates * units];
LSTM gates in the order i, f, c, o with the forget bias starting at 1; GRU gates z, r, h
(reset applied before the recurrent matmul); 'hard_sigmoid' for the gates. So parameter counts
and saved weights line up with Keras. The time loop is engine.rnn.dynamic_rnn (a
tf.while_loop) around a step that uses the layer's weights.
"""

from __future__ import annotations

from typing import Any

from engine import initializers
from engine.graph import Tensor
from engine.keras.layers import Layer
from engine.layers import Regularizer, get_activation
from engine.ops import array_ops, math_ops
from engine.rnn import RNNCell, dynamic_rnn
from engine.shapes import Shape, fmt

__all__ = ["GRU", "LSTM", "SimpleRNN"]


class _Step(RNNCell):
    """A cell whose weights belong to a Keras layer (made in the layer's build)."""

    def __init__(self, layer: _Recurrent) -> None:
        super().__init__(num_units=layer.units)
        self._layer = layer
        self._built = True

    @property
    def state_size(self) -> Any:
        return (self._units,) * self._layer.state_count

    def step(self, inputs: Tensor, state: Any) -> tuple[Tensor, Any]:
        return self._layer.step(inputs, state)


class _Recurrent(Layer):
    """The shared part: weights, options and the loop; subclasses give the step."""

    gates = 1
    state_count = 1

    def __init__(self, units: int, activation: Any = "tanh",
                 recurrent_activation: Any = "hard_sigmoid", use_bias: bool = True,
                 kernel_initializer: Any = "glorot_uniform",
                 recurrent_initializer: Any = "orthogonal", bias_initializer: Any = "zeros",
                 kernel_regularizer: Regularizer = None, recurrent_regularizer: Regularizer = None,
                 bias_regularizer: Regularizer = None, dropout: float = 0.0,
                 recurrent_dropout: float = 0.0, return_sequences: bool = False,
                 return_state: bool = False, go_backwards: bool = False,
                 stateful: bool = False, unroll: bool = False, **kwargs: Any) -> None:
        if dropout or recurrent_dropout:
            raise ValueError(f"{type(self).__name__}: dropout and recurrent_dropout are not "
                             f"supported yet; put a Dropout layer before or after it.")
        if stateful:
            raise ValueError(f"{type(self).__name__}: stateful=True (state carried from one "
                             f"batch to the next) is not supported.")
        super().__init__(**kwargs)
        self.units = int(units)
        if self.units < 1:
            raise ValueError(f"units must be a positive integer, got {units!r}.")
        self.activation = get_activation(activation)
        self.recurrent_activation = get_activation(recurrent_activation)
        self.use_bias, self.go_backwards = use_bias, go_backwards
        self.return_sequences, self.return_state = return_sequences, return_state
        self._inits = [initializers.get(i) for i in
                       (kernel_initializer, recurrent_initializer, bias_initializer)]
        self._regularizers = (kernel_regularizer, recurrent_regularizer, bias_regularizer)

    def build(self, input_shape: Shape) -> None:
        if input_shape is None or len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(f"Input 0 of layer {self.name} is incompatible with the layer: "
                             f"expected ndim=3 with known features, found shape "
                             f"{fmt(input_shape)}.")
        width = self.gates * self.units
        self.kernel = self.add_weight("kernel", (input_shape[-1], width), self._inits[0],
                                      regularizer=self._regularizers[0])
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (self.units, width),
                                                self._inits[1],
                                                regularizer=self._regularizers[1])
        self.bias = self.add_weight("bias", (width,), self._bias_initializer(),
                                    regularizer=self._regularizers[2]) if self.use_bias else None

    def _bias_initializer(self) -> Any:
        return self._inits[2]

    def call(self, inputs: Tensor, training: Any) -> Any:
        steps = array_ops.reverse(inputs, [1]) if self.go_backwards else inputs
        outputs, state = dynamic_rnn(_Step(self), steps, dtype=inputs.dtype, scope=self.name)
        states = list(state)
        result = outputs if self.return_sequences else states[0]
        return [result, *states] if self.return_state else result

    def _inputs_part(self, inputs: Tensor) -> Tensor:
        """inputs @ kernel + bias, for all gates at once."""
        z = math_ops.matmul(inputs, self.kernel)
        return z + self.bias if self.bias is not None else z

    def step(self, inputs: Tensor, state: Any) -> tuple[Tensor, Any]:
        raise NotImplementedError


class SimpleRNN(_Recurrent):
    """h' = activation(x W + h U + b)."""

    def step(self, inputs: Tensor, state: Any) -> tuple[Tensor, Any]:
        (h,) = state
        new = self.activation(self._inputs_part(inputs)
                              + math_ops.matmul(h, self.recurrent_kernel))
        return new, (new,)


class LSTM(_Recurrent):
    """Keras's LSTM: gates i, f, c, o; c' = f c + i activation(c~); h' = o activation(c').
    The state is (h, c), and `return_state` gives [output, h, c], as Keras."""

    gates = 4
    state_count = 2

    def __init__(self, units: int, unit_forget_bias: bool = True, **kwargs: Any) -> None:
        super().__init__(units, **kwargs)
        self.unit_forget_bias = unit_forget_bias

    def _bias_initializer(self) -> Any:
        if not self.unit_forget_bias:
            return self._inits[2]
        base, units = self._inits[2], self.units

        def init(shape: Any, dtype: Any = None, partition_info: Any = None) -> Tensor:
            ones = initializers.Ones()((units,), dtype)
            return array_ops.concat([base((units,), dtype), ones, base((2 * units,), dtype)], 0)

        return init

    def step(self, inputs: Tensor, state: Any) -> tuple[Tensor, Any]:
        h, c = state
        z = self._inputs_part(inputs) + math_ops.matmul(h, self.recurrent_kernel)
        i, f, candidate, o = array_ops.split(z, 4, axis=1)
        act, gate = self.activation, self.recurrent_activation
        c = gate(f) * c + gate(i) * act(candidate)
        h = gate(o) * act(c)
        return h, (h, c)


class GRU(_Recurrent):
    """Keras's GRU (reset_after=False): z, r gates; h~ = activation(x W_h + (r h) U_h + b_h);
    h' = z h + (1 - z) h~."""

    gates = 3

    def __init__(self, units: int, reset_after: bool = False, **kwargs: Any) -> None:
        if reset_after:
            raise ValueError("GRU(reset_after=True) (the CuDNN-compatible variant) is not "
                             "supported; use the default reset_after=False.")
        super().__init__(units, **kwargs)

    def step(self, inputs: Tensor, state: Any) -> tuple[Tensor, Any]:
        (h,) = state
        x_z, x_r, x_h = array_ops.split(self._inputs_part(inputs), 3, axis=1)
        u_z, u_r, u_h = array_ops.split(self.recurrent_kernel, 3, axis=1)
        gate = self.recurrent_activation
        z = gate(x_z + math_ops.matmul(h, u_z))
        r = gate(x_r + math_ops.matmul(h, u_r))
        candidate = self.activation(x_h + math_ops.matmul(r * h, u_h))
        new = z * h + (1.0 - z) * candidate
        return new, (new,)
