"""Recurrent networks: `tf.nn.rnn_cell` cells and `tf.nn.dynamic_rnn` / `static_rnn` /
`bidirectional_dynamic_rnn`, as in TF 1.x.

A cell maps (input, state) to (output, new state). It makes its variables with
`tf.get_variable` on its first call, under the enclosing variable scope and its own name
(`rnn/basic_lstm_cell/kernel`), and uses the same ones on every later call, so one cell
object is one set of weights however often it runs. `dynamic_rnn` runs a cell over time in a
`tf.while_loop` (the sequence length can be fed), `static_rnn` over a Python list of steps.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Sequence
from typing import Any

from engine import dtypes as _dtypes
from engine import initializers
from engine.graph import Tensor, convert_to_tensor
from engine.ops import array_ops, math_ops, nn_ops
from engine.ops.control_flow_ops import while_loop
from engine.shapes import TensorShape
from engine.variable_scope import get_variable, get_variable_scope, variable_scope

__all__ = ["BasicLSTMCell", "BasicRNNCell", "DropoutWrapper", "GRUCell", "LSTMCell",
           "LSTMStateTuple", "MultiRNNCell", "RNNCell", "bidirectional_dynamic_rnn",
           "dynamic_rnn", "static_rnn"]


class LSTMStateTuple(collections.namedtuple("LSTMStateTuple", ("c", "h"))):
    """An LSTM's state: the cell value `c` and the output `h`."""

    __slots__ = ()

    @property
    def dtype(self) -> _dtypes.DType:
        return self.c.dtype


def _map(fn: Callable[[Any], Any], state: Any) -> Any:
    """`fn` applied to every tensor of a (nested tuple) state, keeping its structure."""
    if isinstance(state, tuple):
        items = [_map(fn, s) for s in state]
        return type(state)(*items) if hasattr(state, "_fields") else tuple(items)
    return fn(state)


def _flat(state: Any) -> list[Tensor]:
    return [t for s in state for t in _flat(s)] if isinstance(state, tuple) else [state]


class RNNCell:
    """Base class: subclasses give `build(input_depth)` (make the variables with
    `get_variable`) and `step(inputs, state)`, and `state_size` / `output_size` where they
    are not `num_units`."""

    default_name = "rnn_cell"

    def __init__(self, name: str | None = None, reuse: Any = None, num_units: int = 0,
                 dtype: Any = None) -> None:
        self._name, self._reuse, self._units = name, reuse, int(num_units)
        self._dtype = None if dtype is None else _dtypes.as_dtype(dtype)
        self._built = False

    @property
    def state_size(self) -> Any:
        """The size of the state (a tuple of sizes for cells with several state tensors)."""
        return self._units

    @property
    def output_size(self) -> int:
        return self._units

    def zero_state(self, batch_size: Any, dtype: Any) -> Any:
        """The all-zeros state for `batch_size` sequences."""
        def zeros(size: Any) -> Any:
            if isinstance(size, tuple):
                items = [zeros(s) for s in size]
                return type(size)(*items) if hasattr(size, "_fields") else tuple(items)
            return array_ops.zeros(array_ops.stack([batch_size, size]), dtype=dtype)

        return zeros(self.state_size)

    def __call__(self, inputs: Any, state: Any, scope: Any = None) -> tuple[Tensor, Any]:
        inputs = convert_to_tensor(inputs)
        name = scope or self._name
        if name is None and self._reuse:  # as TF's layers: a reusing cell's scope is its
            name = self.default_name      # plain name, where the first cell made its weights
        with variable_scope(name, default_name=self.default_name, reuse=self._reuse):
            if not self._built:
                depth = inputs.static_shape[-1] if inputs.static_shape else None
                if depth is None:
                    raise ValueError(f"{type(self).__name__}: the last dimension of the "
                                     f"inputs must be known, got shape {inputs.shape}.")
                # variables of the cell's dtype if given, else the inputs', as TF's cells
                with variable_scope(get_variable_scope(), dtype=self._dtype or inputs.dtype):
                    self.build(depth)
                self._built = True
            return self.step(inputs, state)

    def build(self, input_depth: int) -> None:
        raise NotImplementedError

    def step(self, inputs: Tensor, state: Any) -> tuple[Tensor, Any]:
        raise NotImplementedError


def _dense(inputs: Sequence[Tensor], kernel: Any, bias: Any) -> Tensor:
    """concat(inputs) @ kernel + bias: one matmul for all gates."""
    return nn_ops.bias_add(math_ops.matmul(array_ops.concat(list(inputs), 1), kernel), bias)


def _activation(fn: Callable[[Tensor], Tensor] | None) -> Callable[[Tensor], Tensor]:
    return fn if fn is not None else nn_ops.tanh


class BasicRNNCell(RNNCell):
    """output = new_state = activation(W [input, state] + b)."""

    default_name = "basic_rnn_cell"

    def __init__(self, num_units: int, activation: Callable[[Tensor], Tensor] | None = None,
                 reuse: Any = None, name: str | None = None, dtype: Any = None) -> None:
        super().__init__(name, reuse, num_units, dtype)
        self._act = _activation(activation)

    def build(self, input_depth: int) -> None:
        self._kernel = get_variable("kernel", [input_depth + self._units, self._units])
        self._bias = get_variable("bias", [self._units],
                                  initializer=initializers.zeros_initializer())

    def step(self, inputs: Tensor, state: Any) -> tuple[Tensor, Any]:
        out = self._act(_dense([inputs, state], self._kernel, self._bias))
        return out, out


class GRUCell(RNNCell):
    """Gated recurrent unit (Cho et al. 2014) as TF's: r, u = sigmoid(W_g [x, h] + b_g);
    c = activation(W_c [x, r h] + b_c); h' = u h + (1 - u) c. Gate biases start at 1."""

    default_name = "gru_cell"

    def __init__(self, num_units: int, activation: Callable[[Tensor], Tensor] | None = None,
                 reuse: Any = None, kernel_initializer: Any = None,
                 bias_initializer: Any = None, name: str | None = None,
                 dtype: Any = None) -> None:
        super().__init__(name, reuse, num_units, dtype)
        self._act = _activation(activation)
        self._kernel_init, self._bias_init = kernel_initializer, bias_initializer

    def build(self, input_depth: int) -> None:
        rows, units = input_depth + self._units, self._units
        with variable_scope("gates"):
            self._gate_kernel = get_variable("kernel", [rows, 2 * units],
                                             initializer=self._kernel_init)
            self._gate_bias = get_variable(
                "bias", [2 * units], initializer=self._bias_init or
                initializers.constant_initializer(1.0))
        with variable_scope("candidate"):
            self._candidate_kernel = get_variable("kernel", [rows, units],
                                                  initializer=self._kernel_init)
            self._candidate_bias = get_variable(
                "bias", [units], initializer=self._bias_init or initializers.zeros_initializer())

    def step(self, inputs: Tensor, state: Any) -> tuple[Tensor, Any]:
        gates = nn_ops.sigmoid(_dense([inputs, state], self._gate_kernel, self._gate_bias))
        reset, update = array_ops.split(gates, 2, axis=1)
        candidate = self._act(_dense([inputs, reset * state], self._candidate_kernel,
                                     self._candidate_bias))
        new = update * state + (1.0 - update) * candidate
        return new, new


class LSTMCell(RNNCell):
    """Long short-term memory as TF's LSTMCell: gates i, j, f, o from one matmul;
    c' = sigmoid(f + forget_bias) c + sigmoid(i) activation(j); h' = sigmoid(o) activation(c'),
    optionally with peepholes, `cell_clip` on c' and a projection of h' to `num_proj`."""

    default_name = "lstm_cell"

    def __init__(self, num_units: int, use_peepholes: bool = False,
                 cell_clip: float | None = None, initializer: Any = None,
                 num_proj: int | None = None, proj_clip: float | None = None,
                 num_unit_shards: int | None = None, num_proj_shards: int | None = None,
                 forget_bias: float = 1.0, state_is_tuple: bool = True,
                 activation: Callable[[Tensor], Tensor] | None = None, reuse: Any = None,
                 name: str | None = None, dtype: Any = None) -> None:
        """TF 1.x's signature and argument order; the deprecated shard counts (partitioned
        weights) must be left as None."""
        super().__init__(name, reuse, num_units, dtype)
        if num_unit_shards is not None or num_proj_shards is not None:
            raise ValueError("num_unit_shards and num_proj_shards (partitioned weights) are "
                             "not supported: leave them None.")
        if not state_is_tuple:
            raise ValueError("state_is_tuple=False (a concatenated state) is deprecated in "
                             "TF 1.x and not supported: use the LSTMStateTuple state.")
        self._act = _activation(activation)
        self._peepholes, self._cell_clip, self._proj_clip = use_peepholes, cell_clip, proj_clip
        self._init, self._num_proj, self._forget_bias = initializer, num_proj, forget_bias

    @property
    def state_size(self) -> LSTMStateTuple:
        return LSTMStateTuple(self._units, self.output_size)

    @property
    def output_size(self) -> int:
        return self._num_proj or self._units

    def build(self, input_depth: int) -> None:
        units = self._units
        self._kernel = get_variable("kernel", [input_depth + self.output_size, 4 * units],
                                    initializer=self._init)
        self._bias = get_variable("bias", [4 * units], initializer=initializers.zeros_initializer())
        if self._peepholes:
            self._diag = [get_variable(n, [units], initializer=self._init)
                          for n in ("w_f_diag", "w_i_diag", "w_o_diag")]
        if self._num_proj:
            with variable_scope("projection"):
                self._projection = get_variable("kernel", [units, self._num_proj],
                                                initializer=self._init)

    def step(self, inputs: Tensor, state: Any) -> tuple[Tensor, Any]:
        c, h = state
        i, j, f, o = array_ops.split(_dense([inputs, h], self._kernel, self._bias), 4, axis=1)
        f = f + self._forget_bias
        if self._peepholes:
            f_diag, i_diag, o_diag = self._diag
            f, i = f + f_diag * c, i + i_diag * c
        c = nn_ops.sigmoid(f) * c + nn_ops.sigmoid(i) * self._act(j)
        if self._cell_clip is not None:
            c = math_ops.clip_by_value(c, -self._cell_clip, self._cell_clip)
        if self._peepholes:
            o = o + o_diag * c
        h = nn_ops.sigmoid(o) * self._act(c)
        if self._num_proj:
            h = math_ops.matmul(h, self._projection)
            if self._proj_clip is not None:
                h = math_ops.clip_by_value(h, -self._proj_clip, self._proj_clip)
        return h, LSTMStateTuple(c, h)


class BasicLSTMCell(LSTMCell):
    """The LSTM without peepholes or projection (TF's BasicLSTMCell), names 'basic_lstm_cell'."""

    default_name = "basic_lstm_cell"

    def __init__(self, num_units: int, forget_bias: float = 1.0, state_is_tuple: bool = True,
                 activation: Callable[[Tensor], Tensor] | None = None, reuse: Any = None,
                 name: str | None = None, dtype: Any = None) -> None:
        super().__init__(num_units, forget_bias=forget_bias, state_is_tuple=state_is_tuple,
                         activation=activation, reuse=reuse, name=name, dtype=dtype)


class MultiRNNCell(RNNCell):
    """Cells stacked: each one's output is the next one's input; the state is the tuple of
    theirs, their variables under 'multi_rnn_cell/cell_<i>'."""

    default_name = "multi_rnn_cell"

    def __init__(self, cells: Sequence[RNNCell], state_is_tuple: bool = True) -> None:
        super().__init__()
        if not cells:
            raise ValueError("Must specify at least one cell for MultiRNNCell.")
        if not state_is_tuple:
            raise ValueError("state_is_tuple=False is not supported: use the tuple state.")
        self._cells = list(cells)
        if not all(isinstance(c, RNNCell) for c in self._cells):
            raise TypeError("MultiRNNCell takes a list of RNN cells (tf.nn.rnn_cell.*).")

    @property
    def state_size(self) -> tuple[Any, ...]:
        return tuple(cell.state_size for cell in self._cells)

    @property
    def output_size(self) -> int:
        return self._cells[-1].output_size

    def build(self, input_depth: int) -> None:
        """Each cell makes its own variables on its first call."""

    def step(self, inputs: Tensor, state: Any) -> tuple[Tensor, Any]:
        states = []
        for i, (cell, cell_state) in enumerate(zip(self._cells, state, strict=True)):
            with variable_scope(f"cell_{i}"):
                inputs, new = cell(inputs, cell_state)
            states.append(new)
        return inputs, tuple(states)


class DropoutWrapper(RNNCell):
    """Dropout on a cell's inputs, outputs and/or state (keep probabilities may be tensors,
    e.g. 1.0 fed at evaluation)."""

    def __init__(self, cell: RNNCell, input_keep_prob: Any = 1.0, output_keep_prob: Any = 1.0,
                 state_keep_prob: Any = 1.0, seed: int | None = None) -> None:
        super().__init__()
        if not isinstance(cell, RNNCell):
            raise TypeError(f"DropoutWrapper wraps an RNN cell (tf.nn.rnn_cell.*), got {cell!r}.")
        self._cell, self._seed = cell, seed
        self._keep = (input_keep_prob, output_keep_prob, state_keep_prob)

    @property
    def state_size(self) -> Any:
        return self._cell.state_size

    @property
    def output_size(self) -> int:
        return self._cell.output_size

    def zero_state(self, batch_size: Any, dtype: Any) -> Any:
        return self._cell.zero_state(batch_size, dtype)

    def __call__(self, inputs: Any, state: Any, scope: Any = None) -> tuple[Tensor, Any]:
        keep_in, keep_out, keep_state = self._keep
        inputs = self._drop(convert_to_tensor(inputs), keep_in)
        output, new = self._cell(inputs, state, scope=scope)
        return self._drop(output, keep_out), _map(lambda s: self._drop(s, keep_state), new)

    def _drop(self, x: Tensor, keep: Any) -> Tensor:
        if isinstance(keep, float | int) and keep == 1:
            return x
        return nn_ops.dropout(x, keep_prob=keep, seed=self._seed)


# -- running a cell over sequences --------------------------------------------------------------
def _initial_state(cell: RNNCell, batch: Any, initial_state: Any, dtype: Any) -> Any:
    if not isinstance(cell, RNNCell):
        raise TypeError(f"cell must be an RNN cell (tf.nn.rnn_cell.*), got {cell!r}.")
    if initial_state is not None:
        state = _map(convert_to_tensor, initial_state)
        if len(_flat(state)) != len(_flat(cell.state_size)):
            raise ValueError(f"initial_state must have the structure of the cell's state "
                             f"{cell.state_size}, got {len(_flat(state))} tensor(s).")
        return state
    if dtype is None:
        raise ValueError("If there is no initial_state, you must give a dtype.")
    return cell.zero_state(batch, dtype)


def dynamic_rnn(cell: RNNCell, inputs: Any, sequence_length: Any = None,
                initial_state: Any = None, dtype: Any = None, parallel_iterations: Any = None,
                swap_memory: bool = False, time_major: bool = False,
                scope: Any = None) -> tuple[Tensor, Any]:
    """Run `cell` over the time steps of `inputs` ([batch, time, depth], or [time, batch,
    depth] with `time_major`) in a while loop. With `sequence_length` ([batch] ints), steps
    past a sequence's end give zero outputs and leave its state as it was. Returns (outputs
    shaped like the inputs with the cell's output size, final state)."""
    inputs = convert_to_tensor(inputs)
    if inputs.static_shape is not None and len(inputs.static_shape) != 3:
        raise ValueError(f"dynamic_rnn inputs must have rank 3, got shape {inputs.shape}.")
    with variable_scope(scope or "rnn"):
        steps = inputs if time_major else array_ops.transpose(inputs, [1, 0, 2])
        shape = array_ops.shape(steps)
        known = steps.static_shape or (None, None, None)
        count = shape[0]
        # the batch size as a Python int where the inputs' shape gives it (TF's best-effort
        # batch size), so the state and the outputs keep it in their static shapes
        batch = shape[1] if known[1] is None else known[1]
        state = _initial_state(cell, batch, initial_state, dtype)
        lengths = None if sequence_length is None else math_ops.cast(
            convert_to_tensor(sequence_length), _dtypes.int32)
        flat_state = _flat(state)
        empty = array_ops.zeros(array_ops.stack([0, batch, cell.output_size]),
                                dtype=steps.dtype)

        def body(t: Tensor, outputs: Tensor, *flat: Tensor) -> list[Tensor]:
            old = _rebuild(state, list(flat))
            output, new = cell(steps[t], old)
            if lengths is not None:  # finished sequences: zero output, state kept
                live = array_ops.expand_dims(math_ops.cast(t < lengths, output.dtype), 1)
                output = output * live
                new = _rebuild(new, [n * live + o * (1.0 - live)
                                     for n, o in zip(_flat(new), flat, strict=True)])
            grown = array_ops.concat([outputs, array_ops.expand_dims(output, 0)], 0)
            return [t + 1, grown, *_flat(new)]

        shapes = [(), (None, known[1], cell.output_size),
                  *(s.static_shape for s in flat_state)]
        _, outputs, *final = while_loop(
            lambda t, *_: t < count, body, [array_ops.constant(0), empty, *flat_state],
            shape_invariants=[TensorShape(s) for s in shapes])
        outputs.set_shape([known[0], known[1], cell.output_size])  # one row per step
        if not time_major:
            outputs = array_ops.transpose(outputs, [1, 0, 2])
        return outputs, _rebuild(state, final)


def _rebuild(template: Any, flat: list[Tensor]) -> Any:
    """`flat` tensors in the nesting of the state `template`."""
    values = iter(flat)
    return _map(lambda _: next(values), template)


def static_rnn(cell: RNNCell, inputs: Sequence[Any], initial_state: Any = None,
               dtype: Any = None, sequence_length: Any = None,
               scope: Any = None) -> tuple[list[Tensor], Any]:
    """Run `cell` over a Python list of [batch, depth] inputs, one graph step per element.
    Returns (list of outputs, final state)."""
    if not isinstance(inputs, list | tuple) or not inputs:
        raise TypeError("static_rnn inputs must be a non-empty list of [batch, depth] tensors.")
    steps = [convert_to_tensor(x) for x in inputs]
    with variable_scope(scope or "rnn"):
        state = _initial_state(cell, array_ops.shape(steps[0])[0], initial_state, dtype)
        lengths = None if sequence_length is None else math_ops.cast(
            convert_to_tensor(sequence_length), _dtypes.int32)
        outputs = []
        for t, x in enumerate(steps):
            output, new = cell(x, state)
            if lengths is not None:
                live = array_ops.expand_dims(math_ops.cast(t < lengths, output.dtype), 1)
                output = output * live
                new = _rebuild(new, [n * live + o * (1.0 - live)
                                     for n, o in zip(_flat(new), _flat(state), strict=True)])
            outputs.append(output)
            state = new
        return outputs, state


def bidirectional_dynamic_rnn(cell_fw: RNNCell, cell_bw: RNNCell, inputs: Any,
                              sequence_length: Any = None, initial_state_fw: Any = None,
                              initial_state_bw: Any = None, dtype: Any = None,
                              parallel_iterations: Any = None, swap_memory: bool = False,
                              time_major: bool = False,
                              scope: Any = None) -> tuple[tuple[Tensor, Tensor], tuple[Any, Any]]:
    """A forward and a backward dynamic_rnn (the backward one reads each sequence reversed
    within its length, its outputs reversed back). Returns ((out_fw, out_bw),
    (state_fw, state_bw))."""
    inputs = convert_to_tensor(inputs)
    axis = 0 if time_major else 1
    with variable_scope(scope or "bidirectional_rnn"):
        # each direction's dynamic_rnn re-enters its scope, as TF's does: the variables are
        # 'bidirectional_rnn/fw/lstm_cell/kernel', the names TF checkpoints hold
        with variable_scope("fw") as fw_scope:
            out_fw, state_fw = dynamic_rnn(cell_fw, inputs, sequence_length, initial_state_fw,
                                           dtype, time_major=time_major, scope=fw_scope)
        with variable_scope("bw") as bw_scope:
            reverse = _reverser(inputs, sequence_length, axis)
            out_bw, state_bw = dynamic_rnn(cell_bw, reverse(inputs), sequence_length,
                                           initial_state_bw, dtype, time_major=time_major,
                                           scope=bw_scope)
            out_bw = reverse(out_bw)
    return (out_fw, out_bw), (state_fw, state_bw)


def _reverser(inputs: Tensor, sequence_length: Any, axis: int) -> Callable[[Tensor], Tensor]:
    """A function reversing tensors shaped like `inputs` along time, each sequence within its
    own length (TF's reverse_sequence); the padding stays where it is."""
    if sequence_length is None:
        return lambda x: array_ops.reverse(x, [axis])
    lengths = math_ops.cast(convert_to_tensor(sequence_length), _dtypes.int32)
    time = array_ops.shape(inputs)[axis]
    steps = array_ops.expand_dims(array_ops.range(time), 1)  # [time, 1]
    inside = math_ops.cast(steps < lengths, _dtypes.int32)  # [time, batch]
    source = inside * (lengths - 1 - steps) + (1 - inside) * steps
    batch = array_ops.zeros_like(source) + array_ops.range(array_ops.shape(lengths)[0])

    def reverse(x: Tensor) -> Tensor:
        index = array_ops.stack([source, batch], axis=-1)  # [time, batch, 2]
        major = x if axis == 0 else array_ops.transpose(x, [1, 0, 2])
        out = array_ops.gather_nd(major, index)
        return out if axis == 0 else array_ops.transpose(out, [1, 0, 2])

    return reverse
