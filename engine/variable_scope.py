"""`tf.variable_scope` and `tf.get_variable`: TF 1.x's named, shareable variables.

Each graph keeps a store of the variables `get_variable` made, keyed by their full names
('tower/dense/kernel'), and a stack of variable scopes. A scope with `reuse=True` (inherited by
the scopes inside it) makes `get_variable` return the stored variable instead of a new one;
`tf.AUTO_REUSE` returns it when it exists and makes it otherwise. That is how TF 1.x code shares
weights between towers or between a training and an evaluation graph section.

Entering `variable_scope('tower')` also opens the name scope 'tower' for ops. A second entry
gets the name scope 'tower_1', as in TF, while its variables stay under 'tower/'.
`variable_name` maps a name scope back to the variable scope in the same way, so that layers
(engine/layers.py), whose variables follow name scopes, share them across such re-entries.
"""

from __future__ import annotations

import enum
import inspect
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from functools import partial
from typing import Any

from engine import dtypes as _dtypes
from engine import initializers
from engine.graph import Graph, GraphKeys, Tensor, convert_to_tensor, get_default_graph, graph_of
from engine.shapes import TensorShape, as_shape_tuple, compatible
from engine.variables import Variable

__all__ = ["AUTO_REUSE", "VariableScope", "get_variable", "get_variable_scope",
           "variable_scope"]


class _ReuseMode(enum.Enum):
    """The reuse mode that creates missing variables and returns existing ones."""

    AUTO_REUSE = 1


AUTO_REUSE = _ReuseMode.AUTO_REUSE
Reuse = bool | _ReuseMode | None
Getter = Callable[..., Variable]


class VariableScope:
    """What `get_variable` uses inside a scope: the name prefix, the reuse mode and the default
    initializer, regularizer and dtype. `with tf.variable_scope(...) as scope` yields one; pass
    it back to `variable_scope` to re-enter it from elsewhere."""

    def __init__(self, reuse: Reuse, name: str = "", initializer: Any = None,
                 regularizer: Callable[[Any], Any] | None = None,
                 custom_getter: Callable[..., Variable] | None = None, name_scope: str = "",
                 dtype: Any = _dtypes.float32,
                 constraint: Callable[[Tensor], Tensor] | None = None) -> None:
        self._reuse = reuse
        self._name = name
        self._initializer = initializer
        self._regularizer = regularizer
        self._custom_getter = custom_getter
        self._name_scope = name_scope
        self._dtype = _dtypes.as_dtype(dtype)
        self._constraint = constraint

    @property
    def name(self) -> str:
        return self._name

    @property
    def original_name_scope(self) -> str:
        """The name scope (with a trailing '/') opened when this scope was first entered."""
        return self._name_scope

    @property
    def reuse(self) -> Reuse:
        return self._reuse

    @property
    def initializer(self) -> Any:
        return self._initializer

    @property
    def regularizer(self) -> Callable[[Any], Any] | None:
        return self._regularizer

    @property
    def custom_getter(self) -> Callable[..., Variable] | None:
        return self._custom_getter

    @property
    def dtype(self) -> _dtypes.DType:
        return self._dtype

    @property
    def constraint(self) -> Callable[[Tensor], Tensor] | None:
        return self._constraint

    def reuse_variables(self) -> None:
        """From now on, `get_variable` in this scope returns the existing variables."""
        self._reuse = True

    def set_initializer(self, initializer: Any) -> None:
        self._initializer = initializer

    def set_regularizer(self, regularizer: Callable[[Any], Any] | None) -> None:
        self._regularizer = regularizer

    def set_dtype(self, dtype: Any) -> None:
        self._dtype = _dtypes.as_dtype(dtype)

    def __repr__(self) -> str:
        return f"<tf.VariableScope '{self._name}' reuse={self._reuse}>"


class _GraphState:
    """A graph's variable store and scope stack. `name_scope` is the name scope in force when
    the current variable scope was entered; `counts` makes default scope names unique."""

    def __init__(self) -> None:
        self.variables: dict[str, Variable] = {}
        self.scope = VariableScope(False)
        self.name_scope = ""
        self.counts: dict[str, int] = {}


_STATES: weakref.WeakKeyDictionary[Graph, _GraphState] = weakref.WeakKeyDictionary()


def _state(graph: Graph) -> _GraphState:
    state = _STATES.get(graph)
    if state is None:
        state = _STATES[graph] = _GraphState()
    return state


def current_scope(graph: Graph) -> VariableScope:
    """The variable scope in force in `graph` (the root scope, named '', outside any
    `variable_scope`)."""
    return _state(graph).scope


def get_variable_scope() -> VariableScope:
    return current_scope(get_default_graph())


def variable_name(graph: Graph, scoped_name: str) -> str:
    """The variable name for a name made under the current name scope: the name scope the
    current variable scope opened (say 'tower_1/') is replaced by the scope's name ('tower/'),
    so re-entering a variable scope names a layer's variables as its first entry did."""
    state = _state(graph)
    opened = state.name_scope
    if opened and not (scoped_name == opened or scoped_name.startswith(f"{opened}/")):
        return scoped_name
    rest = scoped_name[len(opened) + 1:] if opened else scoped_name
    return "/".join(part for part in (state.scope.name, rest) if part)


def _check_reuse(reuse: Any) -> Reuse:
    """reuse=False means 'inherit', like None, as in TF (scopes cannot turn reuse off)."""
    if reuse is False:
        return None
    if reuse is not None and reuse is not True and reuse is not AUTO_REUSE:
        raise ValueError("The reuse parameter must be True or False or None.")
    return reuse


class variable_scope:
    """`with tf.variable_scope('layer1'):` prefixes `get_variable` names with 'layer1/' and
    opens the name scope 'layer1' for ops. `name_or_scope` may be a VariableScope to re-enter
    it; with None, `default_name` is made unique ('block', 'block_1', ...). `reuse=True` or
    `tf.AUTO_REUSE` is inherited by inner scopes. `caching_device` and `use_resource` are
    accepted for TF's signature and have no effect (values live in the Session either way);
    partitioned variables are not supported."""

    def __init__(self, name_or_scope: str | VariableScope | None,
                 default_name: str | None = None, values: Sequence[Any] | None = None,
                 initializer: Any = None, regularizer: Callable[[Any], Any] | None = None,
                 caching_device: str | None = None, partitioner: Any = None,
                 custom_getter: Callable[..., Variable] | None = None, reuse: Any = None,
                 dtype: Any = None, use_resource: bool | None = None,
                 constraint: Callable[[Tensor], Tensor] | None = None,
                 auxiliary_name_scope: bool = True) -> None:
        if name_or_scope is None and default_name is None:
            raise TypeError("If default_name is None then name_or_scope is required")
        if name_or_scope is not None and not isinstance(name_or_scope, str | VariableScope):
            raise TypeError("VariableScope: name_or_scope must be a string or VariableScope.")
        if partitioner is not None:
            raise ValueError("Partitioned variables are not supported: pass partitioner=None.")
        self._reuse = _check_reuse(reuse)
        if name_or_scope is None and self._reuse:
            raise ValueError("reuse=True cannot be used without a name_or_scope")
        self._name_or_scope, self._default_name = name_or_scope, default_name
        self._initializer, self._regularizer = initializer, regularizer
        self._custom_getter, self._constraint = custom_getter, constraint
        self._dtype = None if dtype is None else _dtypes.as_dtype(dtype)
        self._aux_name_scope = auxiliary_name_scope
        self._graph = graph_of(values or [])
        self._entries: list[AbstractContextManager[VariableScope]] = []

    def __enter__(self) -> VariableScope:
        entry = self._entered()
        scope = entry.__enter__()
        self._entries.append(entry)
        return scope

    def __exit__(self, *exc: Any) -> None:
        self._entries.pop().__exit__(*exc)

    @contextmanager
    def _entered(self) -> Iterator[VariableScope]:
        graph, target = self._graph, self._name_or_scope
        state = _state(graph)
        parent, parent_name_scope, counts = state.scope, state.name_scope, dict(state.counts)
        if isinstance(target, VariableScope):
            ns_name = target.name.rsplit("/", 1)[-1]
        else:
            ns_name = target if target is not None else self._default_name
        with ExitStack() as stack:
            stack.enter_context(graph.as_default())
            if self._aux_name_scope and ns_name:
                opened = stack.enter_context(graph.name_scope(ns_name))
            else:
                opened = f"{graph.get_name_scope()}/" if graph.get_name_scope() else ""
            if isinstance(target, VariableScope):
                scope = VariableScope(
                    self._reuse or target.reuse, target.name, target.initializer,
                    target.regularizer, target.custom_getter, target.original_name_scope,
                    target.dtype, target.constraint)
            else:
                name = target if target is not None else self._unique(state, ns_name)
                full = f"{parent.name}/{name}" if parent.name else name
                state.counts[full] = state.counts.get(full, 0) + 1
                scope = VariableScope(
                    self._reuse or parent.reuse, full, parent.initializer, parent.regularizer,
                    parent.custom_getter, opened, parent.dtype, parent.constraint)
            state.scope, state.name_scope = self._overridden(scope), graph.get_name_scope()
            try:
                yield scope
            finally:
                state.scope, state.name_scope = parent, parent_name_scope
                if isinstance(target, VariableScope):
                    state.counts = counts
                else:
                    prefix = f"{scope.name}/"
                    state.counts = {k: 0 if k.startswith(prefix) else n
                                    for k, n in state.counts.items()}

    @staticmethod
    def _unique(state: _GraphState, prefix: str) -> str:
        """`prefix`, or `prefix_N` with the first N unused among the current scope's
        children (TF's `_get_unique_variable_scope`)."""
        base = f"{state.scope.name}/{prefix}" if state.scope.name else prefix
        if not state.counts.get(base):
            return prefix
        n = 1
        while state.counts.get(f"{base}_{n}"):
            n += 1
        return f"{prefix}_{n}"

    def _overridden(self, scope: VariableScope) -> VariableScope:
        """`scope` with the defaults given to this `variable_scope` call."""
        if self._initializer is not None:
            scope.set_initializer(self._initializer)
        if self._regularizer is not None:
            scope.set_regularizer(self._regularizer)
        if self._custom_getter is not None:
            scope._custom_getter = _chained(self._custom_getter, scope.custom_getter)
        if self._dtype is not None:
            scope.set_dtype(self._dtype)
        if self._constraint is not None:
            scope._constraint = self._constraint
        return scope


def _chained(inner: Getter, outer: Getter | None) -> Getter:
    """An inner scope's custom getter calls the outer scope's one, as in TF."""
    if outer is None:
        return inner

    def getter(next_getter: Getter, *args: Any, **kwargs: Any) -> Variable:
        return inner(partial(outer, next_getter), *args, **kwargs)

    return getter


def get_variable(name: str, shape: Any = None, dtype: Any = None, initializer: Any = None,
                 regularizer: Callable[[Any], Any] | None = None, trainable: bool = True,
                 collections: Sequence[str] | None = None, caching_device: str | None = None,
                 partitioner: Any = None, validate_shape: bool = True,
                 use_resource: bool | None = None,
                 custom_getter: Callable[..., Variable] | None = None,
                 constraint: Callable[[Tensor], Tensor] | None = None) -> Variable:
    """The variable '<scope>/<name>': made on first use, returned again under reuse.

    `initializer` may be an initializer (called with the shape and dtype), a Tensor or a
    python/numpy value (then `shape` must be left out). Without one, the scope's initializer
    is used, else glorot_uniform for floats and zeros for ints and bools, as in TF. As in
    `variable_scope`, `caching_device` and `use_resource` have no effect."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"get_variable needs a non-empty string name, got {name!r}.")
    if partitioner is not None:
        raise ValueError("Partitioned variables are not supported: pass partitioner=None.")
    graph = get_default_graph()
    scope = _state(graph).scope
    want = None if dtype is None else _dtypes.as_dtype(dtype)
    if want is not None and initializer is not None and not callable(initializer):
        found = convert_to_tensor(initializer).dtype
        if found != want:
            raise ValueError(f"Initializer type '{found.name}' and explicit dtype "
                             f"'{want.name}' don't match.")
    full = f"{scope.name}/{name}" if scope.name else name
    kwargs: dict[str, Any] = {
        "name": full, "shape": shape, "dtype": want or scope.dtype,
        "initializer": initializer if initializer is not None else scope.initializer,
        "regularizer": regularizer if regularizer is not None else scope.regularizer,
        "reuse": scope.reuse, "trainable": trainable, "collections": collections,
        "caching_device": caching_device, "partitioner": None,
        "validate_shape": validate_shape, "use_resource": use_resource,
    }
    constraint = constraint if constraint is not None else scope.constraint

    def store_getter(name: str, shape: Any = None, dtype: Any = _dtypes.float32,
                     initializer: Any = None, regularizer: Callable[[Any], Any] | None = None,
                     reuse: Reuse = None, trainable: bool | None = None,
                     collections: Sequence[str] | None = None,
                     caching_device: str | None = None, partitioner: Any = None,
                     validate_shape: bool = True, use_resource: bool | None = None,
                     constraint: Callable[[Tensor], Tensor] | None = None) -> Variable:
        """TF's own getter, in its argument order: custom getters pass arguments on to it
        by position as well as by keyword."""
        if partitioner is not None:
            raise ValueError("Partitioned variables are not supported: pass partitioner=None.")
        return stored_variable(graph, name, shape=shape, dtype=dtype, initializer=initializer,
                               regularizer=regularizer, reuse=reuse,
                               trainable=trainable is not False, collections=collections,
                               validate_shape=validate_shape, constraint=constraint)

    custom = custom_getter if custom_getter is not None else scope.custom_getter
    if custom is None:
        return store_getter(constraint=constraint, **kwargs)
    if _takes_constraint(custom):  # as TF: only a getter that can take it gets `constraint`
        kwargs["constraint"] = constraint
    return custom(store_getter, **kwargs)  # TF names it `getter=`; by position, any name works


def _takes_constraint(getter: Getter) -> bool:
    """Whether a custom getter names a `constraint` parameter or takes any keyword."""
    try:
        parameters = inspect.signature(getter).parameters.values()
    except (TypeError, ValueError):  # no signature to read (some builtins): TF passes it
        return True
    return any(p.name == "constraint" or p.kind is p.VAR_KEYWORD for p in parameters)


def stored_variable(graph: Graph, name: str, shape: Any = None, dtype: Any = _dtypes.float32,
                    initializer: Any = None, regularizer: Callable[[Any], Any] | None = None,
                    reuse: Reuse = False, trainable: bool = True,
                    collections: Sequence[str] | None = None, validate_shape: bool = True,
                    constraint: Callable[[Tensor], Tensor] | None = None) -> Variable:
    """The variable `name` of `graph`'s store: returned when it exists (if `reuse` allows),
    made and stored otherwise. Layers call this with their own names and reuse mode."""
    from_value = initializer is not None and not callable(initializer)
    if shape is not None and from_value:
        raise ValueError("If initializer is a constant, do not specify shape.")
    dtype = _dtypes.as_dtype(dtype)
    dims = as_shape_tuple(shape) if shape is not None else None
    store = _state(graph).variables
    found = store.get(name)
    if found is not None:
        if not reuse:
            raise ValueError(f"Variable {name} already exists, disallowed. Did you mean to set "
                             f"reuse=True or reuse=tf.AUTO_REUSE in VarScope?")
        if not compatible(dims, found.shape.as_list()):
            raise ValueError(f"Trying to share variable {name}, but specified shape "
                             f"{TensorShape(dims)} and found shape {found.shape}.")
        if not from_value and found.dtype != dtype:
            raise ValueError(f"Trying to share variable {name}, but specified dtype "
                             f"{dtype.name} and found dtype {found.dtype.name}.")
        return found
    if reuse is True:
        raise ValueError(f"Variable {name} does not exist, or was not created with "
                         f"tf.get_variable(). Did you mean to set reuse=tf.AUTO_REUSE in "
                         f"VarScope?")
    if from_value:
        initial_value, var_dtype = initializer, None
    else:
        if dims is None or any(d is None for d in dims):
            raise ValueError(f"Shape of a new variable ({name}) must be fully defined, but "
                             f"instead was {TensorShape(dims)}.")
        init = _default_initializer(name, dtype) if initializer is None else initializer
        if isinstance(init, type):
            init = init()
        initial_value, var_dtype = (lambda: init(list(dims), dtype=dtype)), dtype
    with graph.as_default(), graph.name_scope(None):
        var = Variable(initial_value, trainable=trainable, collections=collections,
                       validate_shape=validate_shape, name=name, dtype=var_dtype,
                       constraint=constraint)
        store[name] = var
        if regularizer is not None:
            with graph.name_scope(f"{name}/Regularizer/"):
                loss = regularizer(var)
            if loss is not None:
                graph.add_to_collection(GraphKeys.REGULARIZATION_LOSSES, loss)
    return var


def _default_initializer(name: str, dtype: _dtypes.DType) -> initializers.Initializer:
    """TF's defaults: glorot_uniform for floats, zeros for ints and bools."""
    if dtype.is_floating:
        return initializers.GlorotUniform()
    if dtype.is_integer or dtype.is_bool:
        return initializers.Zeros()
    raise ValueError(f"An initializer for variable {name} of {dtype.name} is required")
