"""Graphs, operations and tensors: the dataflow graph that Sessions run.

Ops are appended in creation order, and every op's inputs exist before it does, so creation
order is a topological order. Sessions and `tf.gradients` rely on that instead of recursion.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from engine import dtypes as _dtypes
from engine.registry import lookup
from engine.shapes import Shape, TensorShape, as_shape_tuple, fmt, merge

if TYPE_CHECKING:
    from engine.session import Session

_VALID_NAME = re.compile(r"^[A-Za-z0-9.][A-Za-z0-9_.\-/>]*$")


class GraphKeys:
    """Standard collection names (`tf.GraphKeys`)."""

    GLOBAL_VARIABLES = "variables"
    TRAINABLE_VARIABLES = "trainable_variables"
    LOCAL_VARIABLES = "local_variables"
    MODEL_VARIABLES = "model_variables"
    METRIC_VARIABLES = "metric_variables"
    WEIGHTS = "weights"
    SUMMARIES = "summaries"
    LOSSES = "losses"
    REGULARIZATION_LOSSES = "regularization_losses"
    UPDATE_OPS = "update_ops"
    GLOBAL_STEP = "global_step"
    TRAIN_OP = "train_op"
    INIT_OP = "init_op"
    LOCAL_INIT_OP = "local_init_op"
    SUMMARY_OP = "summary_op"
    SAVERS = "savers"


class Tensor:
    """One output of an Operation; a symbolic handle, valued only when a Session runs it."""

    __slots__ = ("_shape", "dtype", "op", "value_index")
    __array_priority__ = 100  # so `ndarray + tensor` defers to Tensor.__radd__

    def __init__(self, op: Operation, value_index: int, shape: Shape, dtype: _dtypes.DType):
        self.op = op
        self.value_index = value_index
        self._shape = shape
        self.dtype = dtype

    @property
    def name(self) -> str:
        return f"{self.op.name}:{self.value_index}"

    @property
    def graph(self) -> Graph:
        return self.op.graph

    @property
    def device(self) -> str:
        return self.op.device

    @property
    def shape(self) -> TensorShape:
        return TensorShape(self._shape)

    def get_shape(self) -> TensorShape:
        return TensorShape(self._shape)

    @property
    def static_shape(self) -> Shape:
        """The internal tuple form of the shape (None = unknown rank / dim)."""
        return self._shape

    def set_shape(self, shape: Any) -> None:
        try:
            self._shape = merge(self._shape, as_shape_tuple(shape))
        except ValueError:
            raise ValueError(
                f"Tensor '{self.name}' has shape {fmt(self._shape)}, which is not compatible "
                f"with the requested shape {fmt(as_shape_tuple(shape))}."
            ) from None

    def consumers(self) -> list[Operation]:
        return [op for op in self.graph.get_operations() if self in op.inputs]

    def eval(self, feed_dict: dict | None = None, session: Session | None = None) -> Any:
        return _session_for(self, session).run(self, feed_dict)

    def __repr__(self) -> str:
        return f"<tf.Tensor '{self.name}' shape={self.shape} dtype={self.dtype.name}>"

    # TF 1.x: identity, so tensors work as dict keys; object's own slots, not Python methods,
    # because every feed and fetch lookup hashes tensors
    __hash__ = object.__hash__
    __eq__ = object.__eq__

    def __bool__(self) -> bool:
        raise TypeError(
            "Using a `tf.Tensor` as a Python `bool` is not allowed. Use `if t is not None:` "
            "instead of `if t:`, or run the tensor in a Session to get its value."
        )

    def __len__(self) -> int:
        if self._shape is None or self._shape[0] is None:
            raise TypeError(f"len is not well defined for tensor '{self.name}' of unknown shape")
        return self._shape[0]

    def __iter__(self) -> Iterator[Tensor]:
        if self._shape is None or not self._shape or self._shape[0] is None:
            raise TypeError(
                f"Tensor '{self.name}' is not iterable: its first dimension is not known."
            )
        return (self[i] for i in range(self._shape[0]))

    # Operator overloads: delegate to the math/array op families (imported lazily: they import us).
    def __add__(self, o: Any) -> Tensor:
        return _math().add(self, o)

    def __radd__(self, o: Any) -> Tensor:
        return _math().add(o, self)

    def __sub__(self, o: Any) -> Tensor:
        return _math().subtract(self, o)

    def __rsub__(self, o: Any) -> Tensor:
        return _math().subtract(o, self)

    def __mul__(self, o: Any) -> Tensor:
        return _math().multiply(self, o)

    def __rmul__(self, o: Any) -> Tensor:
        return _math().multiply(o, self)

    def __truediv__(self, o: Any) -> Tensor:
        return _math().truediv(self, o)

    def __rtruediv__(self, o: Any) -> Tensor:
        return _math().truediv(o, self)

    def __floordiv__(self, o: Any) -> Tensor:
        return _math().floordiv(self, o)

    def __rfloordiv__(self, o: Any) -> Tensor:
        return _math().floordiv(o, self)

    def __mod__(self, o: Any) -> Tensor:
        return _math().mod(self, o)

    def __rmod__(self, o: Any) -> Tensor:
        return _math().mod(o, self)

    def __xor__(self, o: Any) -> Tensor:
        return _math().logical_xor(self, o)

    def __rxor__(self, o: Any) -> Tensor:
        return _math().logical_xor(o, self)

    def __pow__(self, o: Any) -> Tensor:
        return _math().pow(self, o)

    def __rpow__(self, o: Any) -> Tensor:
        return _math().pow(o, self)

    def __matmul__(self, o: Any) -> Tensor:
        return _math().matmul(self, o)

    def __rmatmul__(self, o: Any) -> Tensor:
        return _math().matmul(o, self)

    def __neg__(self) -> Tensor:
        return _math().negative(self)

    def __abs__(self) -> Tensor:
        return _math().abs(self)

    def __lt__(self, o: Any) -> Tensor:
        return _math().less(self, o)

    def __le__(self, o: Any) -> Tensor:
        return _math().less_equal(self, o)

    def __gt__(self, o: Any) -> Tensor:
        return _math().greater(self, o)

    def __ge__(self, o: Any) -> Tensor:
        return _math().greater_equal(self, o)

    def __and__(self, o: Any) -> Tensor:
        return _math().logical_and(self, o)

    def __rand__(self, o: Any) -> Tensor:
        return _math().logical_and(o, self)

    def __or__(self, o: Any) -> Tensor:
        return _math().logical_or(self, o)

    def __ror__(self, o: Any) -> Tensor:
        return _math().logical_or(o, self)

    def __invert__(self) -> Tensor:
        return _math().logical_not(self)

    def __getitem__(self, key: Any) -> Tensor:
        from engine.ops import array_ops

        return array_ops.slice_helper(self, key)


def _math() -> Any:
    from engine.ops import math_ops

    return math_ops


class Operation:
    """A node of the graph: an op type, input tensors, attributes and output tensors."""

    __slots__ = ("_id", "attrs", "control_inputs", "device", "graph", "inputs", "name", "outputs",
                 "type")

    def __init__(
        self,
        graph: Graph,
        op_type: str,
        name: str,
        inputs: Sequence[Tensor],
        attrs: dict[str, Any],
        control_inputs: Sequence[Operation],
        device: str,
    ) -> None:
        self.graph = graph
        self.type = op_type
        self.name = name
        self.inputs = tuple(inputs)
        self.attrs = attrs
        self.control_inputs = list(control_inputs)
        self.device = device
        self.outputs: list[Tensor] = []
        self._id = -1

    def get_attr(self, name: str) -> Any:
        try:
            return self.attrs[name]
        except KeyError:
            raise ValueError(f"Operation '{self.name}' has no attr named '{name}'.") from None

    def values(self) -> tuple[Tensor, ...]:
        return tuple(self.outputs)

    def run(self, feed_dict: dict | None = None, session: Session | None = None) -> None:
        _session_for(self, session).run(self, feed_dict)

    def _add_control_input(self, op: Operation) -> None:
        if op not in self.control_inputs:
            if op._id > self._id:
                raise ValueError("A control input must be created before the op it guards.")
            self.control_inputs.append(op)

    def __repr__(self) -> str:
        return f"<tf.Operation '{self.name}' type={self.type}>"


class Graph:
    """A dataflow graph: operations, name scopes, collections and a graph-level random seed."""

    def __init__(self) -> None:
        self._ops: list[Operation] = []
        self._by_name: dict[str, Operation] = {}
        self._names_in_use: dict[str, int] = {}
        self._name_stack = ""
        self._control_stack: list[list[Operation]] = []
        self._device_stack: list[str] = []
        self._collections: dict[str, list[Any]] = {}
        self.seed: int | None = None
        self._finalized = False

    # -- building ---------------------------------------------------------------------------
    def create_op(
        self,
        op_type: str,
        inputs: Sequence[Tensor],
        attrs: dict[str, Any] | None = None,
        name: str | None = None,
        *,
        exact_name: bool = False,
    ) -> Operation:
        """Add an op; its shape rule runs first so a clash raises before the graph changes."""
        if self._finalized:
            raise RuntimeError("Graph is finalized and cannot be modified.")
        for t in inputs:
            if not isinstance(t, Tensor):
                raise TypeError(f"Input to '{op_type}' must be a Tensor, got {t!r}.")
            if t.graph is not self:
                raise ValueError(
                    f"Tensor {t.name} must be from the same graph as the op being created "
                    f"({op_type}); it belongs to another Graph."
                )
        if name is not None and not isinstance(name, str):
            raise TypeError(f"Op name must be a string, got {name!r}.")
        if name and not _VALID_NAME.match(name):
            raise ValueError(
                f"'{name}' is not a valid op name: use letters, digits and '._-/', starting "
                f"with a letter, digit or '.'."
            )
        op_def = lookup(op_type)
        full_name = name if exact_name else self.unique_name(name or op_type)
        if exact_name:
            if full_name in self._by_name:
                raise ValueError(f"Duplicate op name '{full_name}'.")
            self._names_in_use.setdefault(full_name.lower(), 1)
        control = [c for frame in self._control_stack for c in frame]
        device = self._device_stack[-1] if self._device_stack else ""
        op = Operation(self, op_type, full_name, inputs, dict(attrs or {}), control, device)
        specs = op_def.infer(op)
        op.outputs = [Tensor(op, i, shape, dt) for i, (shape, dt) in enumerate(specs)]
        op._id = len(self._ops)
        self._ops.append(op)
        self._by_name[full_name] = op
        return op

    def unique_name(self, name: str, mark_as_used: bool = True) -> str:
        if self._name_stack:
            name = f"{self._name_stack}/{name}"
        key = name.lower()
        count = self._names_in_use.get(key, 0)
        if mark_as_used:
            self._names_in_use[key] = count + 1
        if count:
            candidate = f"{name}_{count}"
            while candidate.lower() in self._names_in_use:
                count += 1
                candidate = f"{name}_{count}"
            if mark_as_used:
                self._names_in_use[candidate.lower()] = 1
            return candidate
        return name

    @contextlib.contextmanager
    def name_scope(self, name: str | None) -> Iterator[str]:
        """Enter a name scope; yields the scope string with a trailing '/'."""
        if name is not None and not isinstance(name, str):
            raise TypeError(f"Scope name must be a string, got {name!r}.")
        old = self._name_stack
        if name is None or name == "":
            self._name_stack = ""
        elif name.endswith("/"):
            self._name_stack = name[:-1]
        else:
            if not _VALID_NAME.match(name):
                raise ValueError(f"'{name}' is not a valid scope name.")
            self._name_stack = self.unique_name(name)
        try:
            yield f"{self._name_stack}/" if self._name_stack else ""
        finally:
            self._name_stack = old

    def get_name_scope(self) -> str:
        return self._name_stack

    @contextlib.contextmanager
    def control_dependencies(self, control_inputs: Sequence[Any] | None) -> Iterator[None]:
        """Ops created inside run only after `control_inputs` (None clears outer ones)."""
        if control_inputs is None:
            saved, self._control_stack = self._control_stack, []
            try:
                yield
            finally:
                self._control_stack = saved
            return
        frame = [self.as_graph_element(c, allow_tensor=True, allow_operation=True) for c in
                 control_inputs]
        frame = [c.op if isinstance(c, Tensor) else c for c in frame]
        self._control_stack.append(frame)
        try:
            yield
        finally:
            self._control_stack.pop()

    @contextlib.contextmanager
    def device(self, device_name: str | None) -> Iterator[None]:
        from engine.backend import canonical_device

        self._device_stack.append(canonical_device(device_name))
        try:
            yield
        finally:
            self._device_stack.pop()

    @contextlib.contextmanager
    def as_default(self) -> Iterator[Graph]:
        _stack().append(self)
        try:
            yield self
        finally:
            _stack().pop()

    def finalize(self) -> None:
        self._finalized = True

    @property
    def finalized(self) -> bool:
        return self._finalized

    # -- lookup -----------------------------------------------------------------------------
    def get_operations(self) -> list[Operation]:
        return list(self._ops)

    def get_operation_by_name(self, name: str) -> Operation:
        op = self._by_name.get(name)
        if op is None:
            raise KeyError(f"The name '{name}' refers to an Operation not in the graph.")
        return op

    def get_tensor_by_name(self, name: str) -> Tensor:
        element = self.as_graph_element(name, allow_tensor=True, allow_operation=False)
        assert isinstance(element, Tensor)
        return element

    def as_graph_element(
        self, obj: Any, allow_tensor: bool = True, allow_operation: bool = True
    ) -> Tensor | Operation:
        """Resolve a Tensor, Operation, Variable or name string to an element of this graph."""
        if hasattr(obj, "_as_graph_element"):
            obj = obj._as_graph_element()
        if isinstance(obj, str):
            if ":" in obj:
                op_name, _, index = obj.rpartition(":")
                op = self._by_name.get(op_name)
                if op is None or not index.isdigit():
                    raise KeyError(f"The name '{obj}' refers to a Tensor which does not exist.")
                if int(index) >= len(op.outputs):
                    raise KeyError(
                        f"The name '{obj}' refers to a Tensor which does not exist. The "
                        f"operation '{op_name}' exists but only has {len(op.outputs)} outputs."
                    )
                if not allow_tensor:
                    raise ValueError(f"Can not convert '{obj}' to an Operation.")
                return op.outputs[int(index)]
            op = self._by_name.get(obj)
            if op is None:
                raise KeyError(f"The name '{obj}' refers to an Operation not in the graph.")
            if not allow_operation:
                raise ValueError(
                    f"The name '{obj}' refers to an Operation, not a Tensor. Tensor names "
                    f"must be of the form \"<op_name>:<output_index>\"."
                )
            return op
        if isinstance(obj, Tensor) and allow_tensor:
            if obj.graph is not self:
                raise ValueError(f"Tensor {obj!r} is not an element of this graph.")
            return obj
        if isinstance(obj, Operation) and allow_operation:
            if obj.graph is not self:
                raise ValueError(f"Operation {obj!r} is not an element of this graph.")
            return obj
        kinds = " or ".join(k for k, ok in (("Tensor", allow_tensor),
                                            ("Operation", allow_operation)) if ok)
        raise TypeError(
            f"Can not convert a {type(obj).__name__} into a {kinds}: fetch and feed keys must "
            f"be graph elements or their names."
        )

    # -- collections ------------------------------------------------------------------------
    def add_to_collection(self, name: str, value: Any) -> None:
        self._collections.setdefault(name, []).append(value)

    def add_to_collections(self, names: Sequence[str], value: Any) -> None:
        for name in set(names):
            self.add_to_collection(name, value)

    def get_collection(self, name: str, scope: str | None = None) -> list[Any]:
        items = self._collections.get(name, [])
        if scope is None:
            return list(items)
        pattern = re.compile(scope)
        return [i for i in items if pattern.match(getattr(i, "name", ""))]

    def get_collection_ref(self, name: str) -> list[Any]:
        return self._collections.setdefault(name, [])

    def get_all_collection_keys(self) -> list[str]:
        return list(self._collections)

    def clear_collection(self, name: str) -> None:
        self._collections.pop(name, None)


# -- the default graph ------------------------------------------------------------------------
class _DefaultStack(threading.local):
    def __init__(self) -> None:
        self.graphs: list[Graph] = []


_default = _DefaultStack()
_global_default_graph: Graph | None = None


def _stack() -> list[Graph]:
    return _default.graphs


def get_default_graph() -> Graph:
    global _global_default_graph
    if _default.graphs:
        return _default.graphs[-1]
    if _global_default_graph is None:
        _global_default_graph = Graph()
    return _global_default_graph


def reset_default_graph() -> None:
    global _global_default_graph
    if _default.graphs:
        raise AssertionError("Do not use reset_default_graph() inside a `with graph.as_default()`.")
    _global_default_graph = Graph()


def _session_for(element: Tensor | Operation, session: Session | None) -> Session:
    from engine.session import get_default_session

    session = session or get_default_session()
    if session is None:
        raise ValueError(
            "Cannot evaluate tensor using `eval()`: No default session is registered. Use "
            "`with sess.as_default()` or pass an explicit session to `eval(session=sess)`."
        )
    if session.graph is not element.graph:
        raise ValueError(
            "Cannot use the given session to evaluate tensor: the tensor's graph is different "
            "from the session's graph."
        )
    return session


# -- building helpers shared by the op families -----------------------------------------------
def graph_of(values: Sequence[Any]) -> Graph:
    """The graph that the given values belong to; all tensors must share it."""
    graph: Graph | None = None
    for v in values:
        g = getattr(v, "graph", None)
        if isinstance(v, Tensor | Operation) or hasattr(v, "_as_graph_element"):
            if graph is None:
                graph = g
            elif g is not graph:
                raise ValueError(f"{v!r} must be from the same graph as the other inputs.")
    return graph if graph is not None else get_default_graph()


def convert_to_tensor(
    value: Any, dtype: Any = None, name: str | None = None, graph: Graph | None = None
) -> Tensor:
    """A Tensor for `value`: tensors and variables pass through, python/numpy become constants."""
    if hasattr(value, "_as_graph_element"):
        value = value._as_graph_element()
    if isinstance(value, Tensor):
        if dtype is not None and _dtypes.as_dtype(dtype) != value.dtype:
            raise ValueError(
                f"Tensor conversion requested dtype {_dtypes.as_dtype(dtype).name} for Tensor "
                f"with dtype {value.dtype.name}: {value!r}"
            )
        return value
    if isinstance(value, Operation):
        raise TypeError(f"Can't convert Operation '{value.name}' to Tensor.")
    if isinstance(value, list | tuple) and _holds_tensor(value):
        return _pack(value, dtype, name, graph)
    from engine.ops.array_ops import constant

    if graph is not None:
        with graph.as_default():
            return constant(value, dtype=dtype, name=name or "Const")
    return constant(value, dtype=dtype, name=name or "Const")


def _is_tensor(v: Any) -> bool:
    return isinstance(v, Tensor) or hasattr(v, "_as_graph_element")


def _holds_tensor(value: list[Any] | tuple[Any, ...]) -> bool:
    return any(_is_tensor(v) or (isinstance(v, list | tuple) and _holds_tensor(v))
               for v in value)


def _first_dtype(value: Any) -> _dtypes.DType | None:
    """The dtype of the first tensor in a nested list (its literals take that dtype, as TF)."""
    if _is_tensor(value):
        return convert_to_tensor(value).dtype
    if isinstance(value, list | tuple):
        for v in value:
            found = _first_dtype(v)
            if found is not None:
                return found
    return None


def _pack(value: list[Any] | tuple[Any, ...], dtype: Any, name: str | None,
          graph: Graph | None) -> Tensor:
    """TF's autopacking: a (nested) list mixing tensors and literals, stacked into one tensor,
    e.g. `tf.concat([a, [n]], 0)` or `x + [1.0, t]`."""
    from engine.ops.array_ops import stack

    target = dtype if dtype is not None else _first_dtype(value)
    graph = graph or graph_of([v for v in value if _is_tensor(v)])
    with graph.as_default():
        parts = [convert_to_tensor(v, dtype=target, graph=graph) for v in value]
        return stack(parts, name=name or "packed")


def make_op(
    op_type: str,
    inputs: Sequence[Any],
    attrs: dict[str, Any] | None = None,
    name: str | None = None,
) -> Operation:
    """Create an op in the graph of its inputs (or the default graph), converting inputs."""
    graph = graph_of(inputs)
    tensors = [convert_to_tensor(v, graph=graph) for v in inputs]
    return graph.create_op(op_type, tensors, attrs, name)


def binary_inputs(x: Any, y: Any) -> tuple[Tensor, Tensor]:
    """Convert the operands of a binary op; a python literal takes the other operand's dtype."""
    graph = graph_of([x, y])
    if _is_tensorlike(x):
        x = convert_to_tensor(x, graph=graph)
        if not _is_tensorlike(y):
            y = convert_to_tensor(_cast_literal(y, x.dtype), x.dtype, graph=graph)
    elif _is_tensorlike(y):
        y = convert_to_tensor(y, graph=graph)
        x = convert_to_tensor(_cast_literal(x, y.dtype), y.dtype, graph=graph)
    return convert_to_tensor(x, graph=graph), convert_to_tensor(y, graph=graph)


def _is_tensorlike(v: Any) -> bool:
    """A tensor, a variable, or a list holding one (which autopacks into a tensor)."""
    return _is_tensor(v) or (isinstance(v, list | tuple) and _holds_tensor(v))


def _cast_literal(value: Any, dtype: _dtypes.DType) -> Any:
    """A python/numpy operand converted to the other operand's dtype, refusing lossy casts."""
    try:
        arr = np.asarray(value)
    except ValueError:
        raise ValueError(
            f"Cannot use {value!r} with a {dtype.name} tensor: it is a non-rectangular "
            f"(ragged) nested list."
        ) from None
    if arr.dtype.kind == "f" and dtype.is_integer:
        raise TypeError(
            f"Cannot convert {value!r} to EagerTensor of dtype {dtype.name}: a float literal "
            f"can't be used with an integer tensor; cast one of them first."
        )
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"Cannot use {value!r} in an expression with a {dtype.name} tensor.")
    if dtype.is_integer and arr.dtype.kind in "iu" and arr.size and (
        arr.min() < dtype.min or arr.max() > dtype.max
    ):
        raise ValueError(
            f"Value {value!r} is out of range for a {dtype.name} tensor "
            f"([{dtype.min}, {dtype.max}])."
        )
    return arr.astype(dtype.np)
