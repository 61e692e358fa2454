"""`tf.Variable`: a named, session-held value with an initializer, plus the initializer helpers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from engine import dtypes as _dtypes
from engine.graph import (
    Graph,
    GraphKeys,
    Operation,
    Tensor,
    convert_to_tensor,
    get_default_graph,
)
from engine.ops import state_ops
from engine.ops.control_flow_ops import group
from engine.shapes import TensorShape


class Variable:
    """A value that persists across `Session.run` calls, separately in each Session."""

    def __init__(
        self,
        initial_value: Any = None,
        trainable: bool = True,
        collections: Sequence[str] | None = None,
        validate_shape: bool = True,
        name: str | None = None,
        dtype: Any = None,
        expected_shape: Any = None,
        caching_device: str | None = None,
        constraint: Callable[[Tensor], Tensor] | None = None,
    ) -> None:
        if initial_value is None:
            raise ValueError("initial_value must be specified.")
        graph = initial_value.graph if isinstance(initial_value, Tensor) else get_default_graph()
        self._graph: Graph = graph
        self.trainable = trainable
        self.constraint = constraint
        with graph.control_dependencies(None), graph.name_scope(name or "Variable") as scope:
            value = initial_value() if callable(initial_value) else initial_value
            want = None if dtype is None else _dtypes.as_dtype(dtype)
            literal = not (isinstance(value, Tensor) or hasattr(value, "_as_graph_element"))
            self._initial_value = convert_to_tensor(
                value, dtype=want if literal else None, name="initial_value", graph=graph)
            if want is not None and self._initial_value.dtype != want:
                raise ValueError(
                    f"Variable '{scope[:-1]}': initial value has dtype "
                    f"{self._initial_value.dtype.name}, expected {want.name}."
                )
            shape = self._initial_value.static_shape if validate_shape else None
            if validate_shape and (shape is None or any(d is None for d in shape)):
                raise ValueError(
                    f"initial_value of Variable '{scope[:-1]}' must have a fully defined shape, "
                    f"got {TensorShape(shape)}; pass validate_shape=False to allow that."
                )
            self._op = graph.create_op(
                "VariableV2", [], {"shape": shape, "dtype": self._initial_value.dtype},
                scope[:-1], exact_name=True,
            )
            self._variable = self._op.outputs[0]
            self._initializer_op = state_ops.assign(
                self._variable, self._initial_value, validate_shape=validate_shape,
                name="Assign").op
        if collections is None:
            collections = [GraphKeys.GLOBAL_VARIABLES]
        collections = list(collections)
        if trainable and GraphKeys.TRAINABLE_VARIABLES not in collections:
            collections.append(GraphKeys.TRAINABLE_VARIABLES)
        graph.add_to_collections(collections, self)

    # -- identity ---------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._variable.name

    @property
    def op(self) -> Operation:
        return self._op

    @property
    def graph(self) -> Graph:
        return self._graph

    @property
    def dtype(self) -> _dtypes.DType:
        return self._variable.dtype

    @property
    def device(self) -> str:
        return self._op.device

    @property
    def shape(self) -> TensorShape:
        return self._variable.shape

    def get_shape(self) -> TensorShape:
        return self._variable.shape

    @property
    def initializer(self) -> Operation:
        return self._initializer_op

    @property
    def initial_value(self) -> Tensor:
        return self._initial_value

    def value(self) -> Tensor:
        return self._variable

    read_value = value

    def _as_graph_element(self) -> Tensor:
        return self._variable

    # -- updates ----------------------------------------------------------------------------
    def assign(self, value: Any, use_locking: bool = False, name: str | None = None,
               read_value: bool = True) -> Any:
        t = state_ops.assign(self, value, name=name)
        return t if read_value else t.op

    def assign_add(self, delta: Any, use_locking: bool = False, name: str | None = None,
                   read_value: bool = True) -> Any:
        t = state_ops.assign_add(self, delta, name=name)
        return t if read_value else t.op

    def assign_sub(self, delta: Any, use_locking: bool = False, name: str | None = None,
                   read_value: bool = True) -> Any:
        t = state_ops.assign_sub(self, delta, name=name)
        return t if read_value else t.op

    def eval(self, session: Any = None) -> Any:
        return self._variable.eval(session=session)

    def load(self, value: Any, session: Any = None) -> None:
        """Write `value` into this variable in `session` (the default session if omitted)."""
        from engine.session import get_default_session

        session = session or get_default_session()
        if session is None:
            raise ValueError("Variable.load needs a session: pass session= or set a default.")
        session.run(self._initializer_op, {self._initial_value: value})

    def __repr__(self) -> str:
        return f"<tf.Variable '{self.name}' shape={self.shape} dtype={self.dtype.name}>"

    __hash__ = object.__hash__  # identity, at C speed (variables are feed and fetch keys)
    __eq__ = object.__eq__


def _delegate(method: str) -> Callable[..., Any]:
    def forward(self: Variable, *args: Any) -> Any:
        return getattr(self._variable, method)(*args)

    forward.__name__ = method
    return forward


for _method in ("__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__",
                "__truediv__", "__rtruediv__", "__floordiv__", "__rfloordiv__", "__mod__",
                "__pow__", "__rpow__", "__matmul__", "__rmatmul__", "__neg__", "__abs__",
                "__lt__", "__le__", "__gt__", "__ge__", "__getitem__", "__and__", "__or__",
                "__invert__"):
    setattr(Variable, _method, _delegate(_method))


def global_variables(scope: str | None = None) -> list[Variable]:
    return get_default_graph().get_collection(GraphKeys.GLOBAL_VARIABLES, scope)


all_variables = global_variables


def trainable_variables(scope: str | None = None) -> list[Variable]:
    return get_default_graph().get_collection(GraphKeys.TRAINABLE_VARIABLES, scope)


def local_variables(scope: str | None = None) -> list[Variable]:
    return get_default_graph().get_collection(GraphKeys.LOCAL_VARIABLES, scope)


def variables_initializer(var_list: Sequence[Variable], name: str = "init") -> Operation:
    """One op that runs the initializers of `var_list`."""
    if var_list is not None and (not isinstance(var_list, list | tuple | set) or not all(
            isinstance(v, Variable) for v in var_list)):
        raise TypeError(f"variables_initializer expects a list of tf.Variable, got "
                        f"{var_list!r}.")
    if not var_list:
        return get_default_graph().create_op("NoOp", [], name=name)
    return group(*[v.initializer for v in var_list], name=name)


def global_variables_initializer() -> Operation:
    return variables_initializer(global_variables(), name="init")


initialize_all_variables = global_variables_initializer


def local_variables_initializer() -> Operation:
    return variables_initializer(local_variables(), name="init_local")
