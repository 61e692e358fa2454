"""`tf.map_fn`, `tf.scan`, `tf.foldl`, `tf.foldr`: a function applied along the first
dimension, built on tf.while_loop (so the length may be known only at run time, and gradients
flow through).

Results are gathered the way TF's TensorArray would: each step's result is appended to an
accumulator that starts empty, so the function is traced once, inside the loop, and nothing
needs its result's shape in advance.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import Any

from engine import dtypes as _dtypes
from engine.graph import Tensor, convert_to_tensor, graph_of
from engine.ops import array_ops
from engine.ops.control_flow_ops import while_loop
from engine.shapes import TensorShape

__all__ = ["foldl", "foldr", "map_fn", "scan"]


def _flat(value: Any) -> tuple[Any, list[Any]]:
    from engine.session import flatten_structure

    leaves: list[Any] = []
    return flatten_structure(value, leaves), leaves


def _rebuild(template: Any, values: list[Any]) -> Any:
    from engine.session import rebuild_structure

    return rebuild_structure(template, values)


def _elements(elems: Any, reverse: bool) -> tuple[Any, list[Tensor], Tensor]:
    """(structure, tensors, length) of `elems`, all sharing their first dimension; reversed
    along it for foldr."""
    structure, leaves = _flat(elems)
    if not leaves:
        raise ValueError("elems must hold at least one tensor.")
    graph = graph_of(leaves)
    tensors = [convert_to_tensor(t, graph=graph) for t in leaves]
    for t in tensors:
        if t.static_shape is not None and len(t.static_shape) == 0:
            raise ValueError(f"elems must be tensors of rank >= 1 to be unpacked along their "
                             f"first dimension, got the scalar {t.name}.")
    if reverse:
        tensors = [array_ops.reverse(t, [0]) for t in tensors]
    return structure, tensors, array_ops.shape(tensors[0])[0]


def _append(acc: Tensor, value: Tensor) -> Tensor:
    """`acc` (empty at the start, of any shape) with `value` added as its last row."""
    rows = array_ops.reshape(acc, array_ops.concat([[-1], array_ops.shape(value)], 0))
    return array_ops.concat([rows, array_ops.expand_dims(value, 0)], 0)


def _gather(fn: Callable[..., Any], elems: Any, initializer: Any, dtype: Any,
            keep_each: bool, reverse: bool, back_prop: bool, name: str) -> Any:
    """The loop behind all four: `state = fn(state, element)` over the elements (map_fn has
    no state), keeping each step's result (`keep_each`) or only the last."""
    if not callable(fn):
        raise TypeError(f"{name}: fn must be callable, got {fn!r}.")
    structure, tensors, length = _elements(elems, reverse)

    def items(t: Tensor) -> Any:
        return _rebuild(structure, [x[t] for x in tensors])

    if initializer is None:
        state_template, state = None, []
        if dtype is None:
            kinds = [t.dtype for t in tensors]
        else:
            _, wanted = _flat(dtype)
            kinds = [_dtypes.as_dtype(d) for d in wanted]
        out_template = dtype if dtype is not None else structure
    else:
        state_template, state = _flat(initializer)
        state = [convert_to_tensor(s) for s in state]
        kinds, out_template = [s.dtype for s in state], state_template
    accs = [array_ops.zeros([0], k) for k in kinds] if keep_each else []
    traced: list[Any] = []  # the static shapes of fn's results, seen when the body is traced

    def body(t: Tensor, *values: Tensor) -> list[Tensor]:
        current, kept = list(values[:len(state)]), list(values[len(state):])
        if state_template is None:
            result = fn(items(t))
        else:
            result = fn(_rebuild(state_template, current), items(t))
        _, outs = _flat(result)
        outs = [convert_to_tensor(o) for o in outs]
        if len(outs) != len(kinds):
            raise ValueError(f"{name}: fn returned {len(outs)} tensor(s), expected "
                             f"{len(kinds)}")
        for o, k in zip(outs, kinds, strict=True):
            if o.dtype != k:
                raise TypeError(f"{name}: fn returned {o.dtype.name}, expected {k.name}; "
                                f"pass dtype= when the results' dtype differs from elems'")
        traced[:] = [o.static_shape for o in outs]
        new_state = outs if state_template is not None else []
        grown = [_append(a, o) for a, o in zip(kept, outs, strict=True)] if keep_each else []
        return [t + 1, *new_state, *grown]

    invariants = [TensorShape([]), *[s.get_shape() for s in state],
                  *[TensorShape(None) for _ in accs]]
    results = while_loop(lambda t, *_: t < length, body, [array_ops.constant(0), *state, *accs],
                         shape_invariants=invariants, back_prop=back_prop,
                         return_same_structure=True)
    final, gathered = results[1:1 + len(state)], results[1 + len(state):]
    if not keep_each:
        return _rebuild(state_template, final)
    gathered = [_rows(g, shape) for g, shape in zip(gathered, traced, strict=True)]
    if reverse:
        gathered = [array_ops.reverse(g, [0]) for g in gathered]
    return _rebuild(_template_of(out_template), gathered)


def _rows(stacked: Tensor, shape: Any) -> Tensor:
    """The stacked results with their known shape: a reshape when fn's result shape is fully
    known (so no elements still gives [0, ...]), else what is known."""
    if shape is not None and all(d is not None for d in shape):
        return array_ops.reshape(stacked, [-1, *shape])
    if shape is not None:
        stacked.set_shape((None, *shape))
    return stacked


def _template_of(value: Any) -> Any:
    return _flat(value)[0]


def map_fn(fn: Callable[[Any], Any], elems: Any, dtype: Any = None,
           parallel_iterations: Any = None, back_prop: builtins.bool = True,
           swap_memory: builtins.bool = False, infer_shape: builtins.bool = True,
           name: str | None = None) -> Any:
    """`fn` applied to each slice of `elems` along its first dimension, the results stacked.
    `elems` may be a nested tuple of tensors (fn gets the same nesting); `dtype` gives the
    results' dtypes (and nesting) when they differ from elems'."""
    return _gather(fn, elems, None, dtype, True, False, back_prop, name or "map_fn")


def scan(fn: Callable[[Any, Any], Any], elems: Any, initializer: Any = None,
         parallel_iterations: Any = None, back_prop: builtins.bool = True,
         swap_memory: builtins.bool = False, infer_shape: builtins.bool = True,
         reverse: builtins.bool = False, name: str | None = None) -> Any:
    """Every intermediate `state = fn(state, element)`, stacked; without an initializer the
    first element starts the state (and is the first result)."""
    return _folded(fn, elems, initializer, back_prop, True, reverse, name or "scan")


def foldl(fn: Callable[[Any, Any], Any], elems: Any, initializer: Any = None,
          parallel_iterations: Any = None, back_prop: builtins.bool = True,
          swap_memory: builtins.bool = False, name: str | None = None) -> Any:
    """The final `state = fn(state, element)` over elems, first to last."""
    return _folded(fn, elems, initializer, back_prop, False, False, name or "foldl")


def foldr(fn: Callable[[Any, Any], Any], elems: Any, initializer: Any = None,
          parallel_iterations: Any = None, back_prop: builtins.bool = True,
          swap_memory: builtins.bool = False, name: str | None = None) -> Any:
    """The final `state = fn(state, element)` over elems, last to first."""
    return _folded(fn, elems, initializer, back_prop, False, True, name or "foldr")


def _folded(fn: Callable[[Any, Any], Any], elems: Any, initializer: Any,
            back_prop: builtins.bool, keep_each: builtins.bool, reverse: builtins.bool,
            name: str) -> Any:
    """scan/foldl/foldr: without an initializer the first element (last, reversed) is the
    starting state and the loop runs over the rest."""
    if initializer is not None:
        return _gather(fn, elems, initializer, None, keep_each, reverse, back_prop, name)
    structure, tensors, _ = _elements(elems, reverse)
    first = _rebuild(structure, [t[0] for t in tensors])
    rest = _rebuild(structure, [t[1:] for t in tensors])
    if not keep_each:
        return _gather(fn, rest, first, None, False, False, back_prop, name)
    tail = _gather(fn, rest, first, None, True, False, back_prop, name)
    _, head_leaves = _flat(first)
    template, tail_leaves = _flat(tail)
    stacked = [array_ops.concat([array_ops.expand_dims(h, 0), t], 0)
               for h, t in zip(head_leaves, tail_leaves, strict=True)]
    if reverse:
        stacked = [array_ops.reverse(s, [0]) for s in stacked]
    return _rebuild(template, stacked)
