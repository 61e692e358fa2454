"""Identity, stop_gradient, grouping and control dependencies."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

from engine.graph import (
    Operation,
    Tensor,
    convert_to_tensor,
    get_default_graph,
    graph_of,
    make_op,
)
from engine.registry import ExecContext, Kernel, OpDef, Spec, register

__all__ = ["control_dependencies", "group", "identity", "no_op", "stop_gradient", "tuple"]


def _same(op: Operation) -> list[Spec]:
    x = op.inputs[0]
    return [(x.static_shape, x.dtype)]


def _passthrough(*arrays: Any) -> Any:
    return arrays[0]


@register
class Identity(OpDef):
    def infer(self, op: Operation) -> list[Spec]:
        return _same(op)

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        return _passthrough

    def grad(self, op: Operation, dy: Tensor | None) -> list[Tensor | None]:
        return [dy]


@register
class StopGradient(OpDef):
    differentiable = False

    def infer(self, op: Operation) -> list[Spec]:
        return _same(op)

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        return _passthrough


@register
class NoOp(OpDef):
    differentiable = False

    def infer(self, op: Operation) -> list[Spec]:
        return []

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        return lambda: None


def identity(input: Any, name: str | None = None) -> Tensor:
    return make_op("Identity", [input], name=name or "Identity").outputs[0]


def stop_gradient(input: Any, name: str | None = None) -> Tensor:
    """Pass `input` through unchanged; `tf.gradients` treats the result as a constant."""
    return make_op("StopGradient", [input], name=name or "StopGradient").outputs[0]


def no_op(name: str | None = None) -> Operation:
    return get_default_graph().create_op("NoOp", [], name=name or "NoOp")


def group(*inputs: Any, name: str | None = None) -> Operation:
    """An op that runs all `inputs` (tensors or ops) and outputs nothing."""
    flat: list[Any] = []
    for i in inputs:
        flat.extend(i if isinstance(i, list | builtins.tuple) else [i])
    graph = graph_of(flat)
    deps = [graph.as_graph_element(i) for i in flat]
    with graph.control_dependencies([d.op if isinstance(d, Tensor) else d for d in deps]):
        return graph.create_op("NoOp", [], name=name or "group_deps")


def tuple(tensors: Sequence[Any], name: str | None = None,
          control_inputs: Sequence[Any] | None = None) -> list[Tensor | None]:
    """Tensors with the same values, each available only after all of them are computed."""
    if not isinstance(tensors, list | builtins.tuple):
        raise TypeError(f"tf.tuple expects a list of tensors, got {tensors!r}.")
    present = [t for t in tensors if t is not None]
    gate = group(*present, *(control_inputs or []), name=name or "tuple")
    graph = gate.graph
    with graph.control_dependencies([gate]):
        return [None if t is None else identity(convert_to_tensor(t, graph=graph))
                for t in tensors]


def control_dependencies(control_inputs: Sequence[Any] | None) -> Any:
    """`with tf.control_dependencies([...]):` on the default graph."""
    return get_default_graph().control_dependencies(control_inputs)
