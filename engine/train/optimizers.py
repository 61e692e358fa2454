"""TF 1.x optimizers: `minimize` = `compute_gradients` (tf.gradients) + `apply_gradients`.

`apply_gradients` adds one Apply op per variable (engine/ops/training_ops.py), which updates the
variable and its slots in place in the running Session's store. Slots are non-trainable
Variables named like TF's ('W/Adam', 'W/Adam_1') in the global variables collection, so a
`global_variables_initializer()` built after `minimize()` initializes them; each Session keeps
its own optimizer state.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from engine import dtypes as _dtypes
from engine.gradients import gradients
from engine.graph import (
    Graph,
    GraphKeys,
    Operation,
    Tensor,
    convert_to_tensor,
    get_default_graph,
)
from engine.ops import training_ops
from engine.ops.array_ops import constant, ones_like
from engine.ops.control_flow_ops import group
from engine.ops.math_ops import multiply
from engine.registry import lookup
from engine.variables import Variable

_FLOATS = (_dtypes.float16, _dtypes.float32, _dtypes.float64)


class Optimizer:
    """Base class. A subclass names its Apply op and supplies slots and hyperparameters.

    - `_op_type`: the training_ops op that updates one variable.
    - `_slot_specs()`: (slot name, initial value) per slot, in the Apply op's slot order.
    - `_hyper_values(var_list)`: python floats or tensors, in the Apply op's `hypers` order
      (default: just the learning rate).
    - `_finish(update_ops, var_list)`: extra ops to run after all variables are updated.

    `use_locking` is accepted for TF's signatures; updates never lock (TF's default).
    """

    GATE_NONE, GATE_OP, GATE_GRAPH = 0, 1, 2
    _op_type = ""

    def __init__(self, use_locking: bool, name: str) -> None:
        if not name:
            raise ValueError("Must specify the optimizer name")
        self._name = name
        self._learning_rate: Any = None
        self._slots: dict[str, dict[Variable, Variable]] = {}
        self._created: list[Variable] = []
        self._attrs: dict[str, Any] = {}

    def get_name(self) -> str:
        return self._name

    # -- hooks --------------------------------------------------------------------------------
    def _slot_specs(self) -> list[tuple[str, float]]:
        return []

    def _hyper_values(self, var_list: list[Variable]) -> list[Any]:
        return [self._learning_rate]

    def _finish(self, update_ops: list[Operation], var_list: list[Variable]) -> list[Operation]:
        return []

    # -- public API ---------------------------------------------------------------------------
    def compute_gradients(
        self,
        loss: Any,
        var_list: Sequence[Variable] | None = None,
        gate_gradients: int = GATE_OP,
        aggregation_method: Any = None,
        colocate_gradients_with_ops: bool = False,
        grad_loss: Any = None,
    ) -> list[tuple[Tensor | None, Variable]]:
        """[(gradient or None, variable)] for `var_list` (default: the trainable variables)."""
        loss = convert_to_tensor(loss)
        _check_float(loss, loss.name)
        if var_list is None:
            var_list = loss.graph.get_collection(GraphKeys.TRAINABLE_VARIABLES)
        var_list = list(var_list)
        if not var_list:
            raise ValueError("No variables to optimize.")
        for v in var_list:
            if not isinstance(v, Variable):
                raise TypeError(f"Argument is not a tf.Variable: {v!r}")
            _check_float(v, v.op.name)
        grads = gradients(loss, var_list, grad_ys=grad_loss,
                          colocate_gradients_with_ops=colocate_gradients_with_ops,
                          aggregation_method=aggregation_method)
        return list(zip(grads, var_list, strict=True))

    def apply_gradients(
        self,
        grads_and_vars: Iterable[tuple[Any, Variable]],
        global_step: Variable | None = None,
        name: str | None = None,
    ) -> Operation:
        """One op running every variable's update, then incrementing `global_step` if given."""
        pairs = [tuple(p) if isinstance(p, list | tuple) else p for p in grads_and_vars]
        if not pairs:
            raise ValueError("No variables provided.")
        for p in pairs:
            if not isinstance(p, tuple) or len(p) != 2:
                raise TypeError(f"grads_and_vars must hold (gradient, variable) pairs, got {p!r}.")
            if not isinstance(p[1], Variable):
                raise TypeError(f"Argument is not a tf.Variable: {p[1]!r}")
        if global_step is not None and not isinstance(global_step, Variable):
            raise TypeError(f"global_step must be a tf.Variable (or None), got {global_step!r}.")
        live = [(g, v) for g, v in pairs if g is not None]
        if not live:
            raise ValueError(f"No gradients provided for any variable: "
                             f"{[v.op.name for _, v in pairs]}.")
        var_list = [v for _, v in live]
        graph = var_list[0].graph
        with graph.as_default():
            for v in var_list:
                self._create_slots(v)
            with graph.name_scope(name or self._name) as scope:
                hypers = _HyperCache(graph, scope, self._hyper_values(var_list))
                names = lookup(self._op_type).hypers
                update_ops = []
                for g, v in live:
                    with graph.name_scope(f"update_{v.op.name}"):
                        slots = [self._slots[s][v] for s, _ in self._slot_specs()]
                        update = training_ops.apply_update(
                            self._op_type, v, slots, convert_to_tensor(g, graph=graph),
                            hypers.tensors(names, v.dtype), self._attrs)
                    update_ops.append(update.op)
                finished = update_ops + self._finish(update_ops, var_list)
                train_op = _train_op(graph, finished, global_step, scope[:-1])
        train_ops = graph.get_collection_ref(GraphKeys.TRAIN_OP)
        if train_op not in train_ops:
            train_ops.append(train_op)
        return train_op

    def minimize(
        self,
        loss: Any,
        global_step: Variable | None = None,
        var_list: Sequence[Variable] | None = None,
        gate_gradients: int = GATE_OP,
        aggregation_method: Any = None,
        colocate_gradients_with_ops: bool = False,
        name: str | None = None,
        grad_loss: Any = None,
    ) -> Operation:
        """compute_gradients + apply_gradients: the op that runs one training step."""
        grads_and_vars = self.compute_gradients(
            loss, var_list, gate_gradients, aggregation_method, colocate_gradients_with_ops,
            grad_loss)
        if all(g is None for g, _ in grads_and_vars):
            raise ValueError(
                f"No gradients provided for any variable, check your graph for ops that do not "
                f"support gradients, between variables {[v.op.name for _, v in grads_and_vars]} "
                f"and loss {loss!r}.")
        return self.apply_gradients(grads_and_vars, global_step=global_step, name=name)

    def get_slot(self, var: Variable, name: str) -> Variable | None:
        return self._slots.get(name, {}).get(var)

    def get_slot_names(self) -> list[str]:
        return sorted(self._slots)

    def variables(self) -> list[Variable]:
        """The slot (and Adam's beta-power) variables this optimizer made in the default graph."""
        graph = get_default_graph()
        return [v for v in self._created if v.graph is graph]

    # -- internals ----------------------------------------------------------------------------
    def _create_slots(self, var: Variable) -> None:
        """Make the missing slots of `var`, named '<var>/<optimizer name>[_N]', on its device."""
        graph = var.graph
        for slot, value in self._slot_specs():
            per_var = self._slots.setdefault(slot, {})
            if var in per_var:
                continue
            with graph.name_scope(f"{var.op.name}/"), graph.device(var.device):
                per_var[var] = self._track(Variable(
                    lambda v=value: _filled_like(var, v), trainable=False, name=self._name,
                    validate_shape=var.op.attrs["shape"] is not None))

    def _track(self, var: Variable) -> Variable:
        self._created.append(var)
        return var


class _HyperCache:
    """Hyperparameter tensors of one apply_gradients call: python floats become constants
    named after the hyperparameter (e.g. 'Adam/learning_rate'), one per variable dtype."""

    def __init__(self, graph: Graph, scope: str, values: list[Any]) -> None:
        self._graph = graph
        self._scope = scope
        self._values = values
        self._made: dict[tuple[str, _dtypes.DType], Tensor] = {}

    def tensors(self, names: Sequence[str], dtype: _dtypes.DType) -> list[Tensor]:
        out = []
        for name, value in zip(names, self._values, strict=True):
            if _is_tensor(value):
                out.append(convert_to_tensor(value))
                continue
            key = (name, dtype)
            if key not in self._made:
                with self._graph.name_scope(self._scope):
                    self._made[key] = constant(value, dtype=dtype, name=name)
            out.append(self._made[key])
        return out


def _is_tensor(value: Any) -> bool:
    return isinstance(value, Tensor) or hasattr(value, "_as_graph_element")


def _check_float(t: Any, name: str) -> None:
    if t.dtype not in _FLOATS:
        raise ValueError(f"Invalid type {t.dtype!r} for {name}, expected: "
                         f"[tf.float16, tf.float32, tf.float64].")


def _filled_like(var: Variable, value: float) -> Tensor:
    """A tensor of var's shape filled with `value`; a zero-stride constant, so a slot's
    initializer does not keep a second full-size copy in the graph."""
    shape = var.op.attrs["shape"]
    if shape is None:
        return multiply(ones_like(var.initial_value), value)
    array = np.broadcast_to(np.asarray(value, dtype=var.dtype.np), shape)
    return var.graph.create_op("Const", [], {"value": array, "dtype": var.dtype}).outputs[0]


def _train_op(graph: Graph, finished: list[Operation], global_step: Variable | None,
              name: str) -> Operation:
    """The returned op, named like its scope (as in TF): a group of the updates, or the
    global-step increment that runs after them."""
    if global_step is None:
        with graph.control_dependencies(finished):
            return graph.create_op("NoOp", [], name=name, exact_name=True)
    one = constant(1, dtype=global_step.dtype, name="one")
    with graph.control_dependencies([group(*finished, name="update")]), \
            graph.device(global_step.device):
        return graph.create_op("AssignAdd", [one], {"var": global_step.op.name}, name=name,
                               exact_name=True)


class GradientDescentOptimizer(Optimizer):
    """var -= learning_rate * grad"""

    _op_type = "ApplyGradientDescent"

    def __init__(self, learning_rate: Any, use_locking: bool = False,
                 name: str = "GradientDescent") -> None:
        super().__init__(use_locking, name)
        self._learning_rate = learning_rate


class MomentumOptimizer(Optimizer):
    """accum = momentum * accum + grad; var -= learning_rate * accum (or Nesterov's step)."""

    _op_type = "ApplyMomentum"

    def __init__(self, learning_rate: Any, momentum: Any, use_locking: bool = False,
                 name: str = "Momentum", use_nesterov: bool = False) -> None:
        super().__init__(use_locking, name)
        self._learning_rate = learning_rate
        self._momentum = momentum
        self._attrs = {"use_nesterov": bool(use_nesterov)}

    def _slot_specs(self) -> list[tuple[str, float]]:
        return [("momentum", 0.0)]

    def _hyper_values(self, var_list: list[Variable]) -> list[Any]:
        return [self._learning_rate, self._momentum]


class AdagradOptimizer(Optimizer):
    """accum += grad^2; var -= learning_rate * grad / sqrt(accum)"""

    _op_type = "ApplyAdagrad"

    def __init__(self, learning_rate: Any, initial_accumulator_value: float = 0.1,
                 use_locking: bool = False, name: str = "Adagrad") -> None:
        if initial_accumulator_value <= 0.0:
            raise ValueError(f"initial_accumulator_value must be positive: "
                             f"{initial_accumulator_value}")
        super().__init__(use_locking, name)
        self._learning_rate = learning_rate
        self._initial_accumulator_value = initial_accumulator_value

    def _slot_specs(self) -> list[tuple[str, float]]:
        return [("accumulator", self._initial_accumulator_value)]


class AdamOptimizer(Optimizer):
    """Adam (Kingma & Ba): bias-corrected moment estimates; beta1^t and beta2^t are kept in
    non-trainable variables 'beta1_power' and 'beta2_power', updated after the variables."""

    _op_type = "ApplyAdam"

    def __init__(self, learning_rate: Any = 0.001, beta1: Any = 0.9, beta2: Any = 0.999,
                 epsilon: Any = 1e-08, use_locking: bool = False, name: str = "Adam") -> None:
        super().__init__(use_locking, name)
        self._learning_rate = learning_rate
        self._beta1, self._beta2, self._epsilon = beta1, beta2, epsilon
        self._powers: dict[Graph, tuple[Variable, Variable]] = {}

    def _slot_specs(self) -> list[tuple[str, float]]:
        return [("m", 0.0), ("v", 0.0)]

    def _beta_powers(self, var_list: list[Variable]) -> tuple[Variable, Variable]:
        """The graph's beta-power variables: made on first use at the top-level scope, next to
        the first variable by name (as TF does) and in its dtype when beta is a number."""
        graph = var_list[0].graph
        if graph not in self._powers:
            first = min(var_list, key=lambda v: v.op.name)
            with graph.name_scope(None), graph.device(first.device):
                self._powers[graph] = (self._power(self._beta1, "beta1_power", first),
                                       self._power(self._beta2, "beta2_power", first))
        return self._powers[graph]

    def _power(self, beta: Any, name: str, like: Variable) -> Variable:
        dtype = None if _is_tensor(beta) else like.dtype
        return self._track(Variable(beta, trainable=False, name=name, dtype=dtype))

    def _hyper_values(self, var_list: list[Variable]) -> list[Any]:
        return [self._learning_rate, self._beta1, self._beta2, self._epsilon,
                *self._beta_powers(var_list)]

    def _finish(self, update_ops: list[Operation], var_list: list[Variable]) -> list[Operation]:
        beta1_power, beta2_power = self._beta_powers(var_list)
        with var_list[0].graph.control_dependencies(update_ops):
            return [beta1_power.assign(beta1_power * self._beta1, read_value=False),
                    beta2_power.assign(beta2_power * self._beta2, read_value=False)]


class RMSPropOptimizer(Optimizer):
    """ms = decay ms + (1-decay) g^2; mom = momentum mom + lr g / sqrt(ms + eps); var -= mom.
    centered=True normalises by ms - mg^2 (mg: moving mean of g). The 'rms' slot starts at 1."""

    def __init__(self, learning_rate: Any, decay: Any = 0.9, momentum: Any = 0.0,
                 epsilon: Any = 1e-10, use_locking: bool = False, centered: bool = False,
                 name: str = "RMSProp") -> None:
        super().__init__(use_locking, name)
        self._learning_rate = learning_rate
        self._decay, self._momentum, self._epsilon = decay, momentum, epsilon
        self._centered = centered
        self._op_type = "ApplyCenteredRMSProp" if centered else "ApplyRMSProp"

    def _slot_specs(self) -> list[tuple[str, float]]:
        centered = [("mg", 0.0)] if self._centered else []
        return [("rms", 1.0), *centered, ("momentum", 0.0)]

    def _hyper_values(self, var_list: list[Variable]) -> list[Any]:
        return [self._learning_rate, self._decay, self._momentum, self._epsilon]


class AdadeltaOptimizer(Optimizer):
    """Adadelta (Zeiler 2012): step sizes from running averages of g^2 and past updates^2."""

    _op_type = "ApplyAdadelta"

    def __init__(self, learning_rate: Any = 0.001, rho: Any = 0.95, epsilon: Any = 1e-08,
                 use_locking: bool = False, name: str = "Adadelta") -> None:
        super().__init__(use_locking, name)
        self._learning_rate, self._rho, self._epsilon = learning_rate, rho, epsilon

    def _slot_specs(self) -> list[tuple[str, float]]:
        return [("accum", 0.0), ("accum_update", 0.0)]

    def _hyper_values(self, var_list: list[Variable]) -> list[Any]:
        return [self._learning_rate, self._rho, self._epsilon]


class FtrlOptimizer(Optimizer):
    """FTRL-Proximal with L1/L2 regularization (TF's ApplyFtrl)."""

    _op_type = "ApplyFtrl"

    def __init__(self, learning_rate: Any, learning_rate_power: float = -0.5,
                 initial_accumulator_value: float = 0.1,
                 l1_regularization_strength: float = 0.0,
                 l2_regularization_strength: float = 0.0, use_locking: bool = False,
                 name: str = "Ftrl") -> None:
        if learning_rate_power > 0.0:
            raise ValueError(f"learning_rate_power {learning_rate_power} needs to be negative "
                             f"or zero")
        for arg, value in (("initial_accumulator_value", initial_accumulator_value),
                           ("l1_regularization_strength", l1_regularization_strength),
                           ("l2_regularization_strength", l2_regularization_strength)):
            if value < 0.0:
                raise ValueError(f"{arg} {value} needs to be positive or zero")
        super().__init__(use_locking, name)
        self._learning_rate = learning_rate
        self._learning_rate_power = learning_rate_power
        self._initial_accumulator_value = initial_accumulator_value
        self._l1, self._l2 = l1_regularization_strength, l2_regularization_strength

    def _slot_specs(self) -> list[tuple[str, float]]:
        return [("accum", self._initial_accumulator_value), ("linear", 0.0)]

    def _hyper_values(self, var_list: list[Variable]) -> list[Any]:
        return [self._learning_rate, self._l1, self._l2, self._learning_rate_power]
