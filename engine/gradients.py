"""`tf.gradients`: reverse-mode differentiation that adds gradient ops to the graph.

Each op type's gradient lives next to its kernel (OpDef.grad). This module only walks the ops
that lie between `xs` and `ys`, in reverse creation order, summing gradients that arrive along
several paths.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from engine.graph import Operation, Tensor, convert_to_tensor, graph_of
from engine.registry import lookup


def _as_list(values: Any) -> list[Any]:
    return list(values) if isinstance(values, list | tuple) else [values]


def _tensor(value: Any) -> Tensor:
    if hasattr(value, "_as_graph_element"):
        value = value._as_graph_element()
    if not isinstance(value, Tensor):
        raise TypeError(f"Expected a Tensor or Variable, got {value!r}.")
    return value


def gradients(
    ys: Any,
    xs: Any,
    grad_ys: Any = None,
    name: str = "gradients",
    colocate_gradients_with_ops: bool = False,
    gate_gradients: bool = False,
    aggregation_method: Any = None,
    stop_gradients: Any = None,
) -> list[Tensor | None]:
    """Symbolic d(sum(ys))/d(x) for each x in xs; None where x does not affect ys."""
    from engine.ops.array_ops import ones_like
    from engine.ops.math_ops import add_n

    ys_list = [_tensor(y) for y in _as_list(ys)]
    xs_list = [_tensor(x) for x in _as_list(xs)]
    grad_ys_list = _as_list(grad_ys) if grad_ys is not None else [None] * len(ys_list)
    if len(grad_ys_list) != len(ys_list):
        raise ValueError(f"Passed {len(grad_ys_list)} grad_ys for {len(ys_list)} ys.")
    stops = {_tensor(s) for s in _as_list(stop_gradients)} if stop_gradients is not None else set()
    if not xs_list:
        return []
    graph = graph_of(ys_list + xs_list)

    between = _ops_between(graph.get_operations(), xs_list, ys_list, stops)
    partials: dict[Tensor, list[Tensor]] = {}
    with graph.name_scope(name):
        for y, gy in zip(ys_list, grad_ys_list, strict=True):
            if gy is None:
                gy = ones_like(y, name=f"grad_ys_{ys_list.index(y)}")
            else:
                gy = convert_to_tensor(gy, dtype=y.dtype, graph=graph)
            partials.setdefault(y, []).append(gy)

        def total(t: Tensor) -> Tensor | None:
            parts = partials.get(t)
            if not parts:
                return None
            if len(parts) > 1:
                parts[:] = [add_n(parts)]
            return parts[0]

        wanted = set(xs_list)
        for op in sorted(between, key=lambda o: o._id, reverse=True):
            out_grads = [total(t) for t in op.outputs]
            op_def = lookup(op.type)
            if all(g is None for g in out_grads) or not op_def.differentiable:
                continue
            if not any(t.dtype.is_floating for t in op.inputs):
                continue  # integer-valued paths carry no gradient (as in TF)
            with graph.name_scope(f"{op.name}_grad"):
                in_grads = op_def.grad(op, *out_grads)
            if len(in_grads) != len(op.inputs):
                raise RuntimeError(
                    f"Gradient of {op.type} returned {len(in_grads)} values for "
                    f"{len(op.inputs)} inputs."
                )
            for t, g in zip(op.inputs, in_grads, strict=True):
                if g is None or t in stops or not t.dtype.is_floating:
                    continue
                if t.op in between or t in wanted:
                    partials.setdefault(t, []).append(g)
        return [total(x) for x in xs_list]


def _ops_between(
    ops: Sequence[Operation], xs: list[Tensor], ys: list[Tensor], stops: set[Tensor]
) -> set[Operation]:
    """Ops on some data path from an x to a y (creation order is topological)."""
    start = min(x.op._id for x in xs)
    reached: set[Tensor] = set(xs)
    forward: set[Operation] = set()
    for op in ops[start:]:
        if any(t in reached and t not in stops for t in op.inputs):
            forward.add(op)
            reached.update(op.outputs)
    between: set[Operation] = set()
    pending = [y.op for y in ys]
    while pending:
        op = pending.pop()
        if op in between or op not in forward:
            continue
        between.add(op)
        pending.extend(t.op for t in op.inputs if t not in stops)
    return between
