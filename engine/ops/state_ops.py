"""Variables and assignments: the ops that read and write a Session's variable store.

Ops that write a variable name it in the `var` attribute instead of taking it as an input, so an
uninitialized variable can be assigned without being read first; the Session runs them on the
variable's device.
"""

from __future__ import annotations

from typing import Any

from engine import errors
from engine.graph import Operation, Tensor, convert_to_tensor
from engine.registry import ExecContext, Kernel, OpDef, Spec, register
from engine.shapes import compatible, fmt

__all__ = ["assign", "assign_add", "assign_sub"]


def read_variable(ctx: ExecContext, op: Operation, name: str) -> Any:
    """The stored value of variable `name`, or FailedPreconditionError if it has none yet."""
    try:
        return ctx.variables[name]
    except KeyError:
        raise errors.FailedPreconditionError(
            None, op,
            f"Attempting to use uninitialized value {name}: run its initializer first "
            f"(e.g. sess.run(tf.global_variables_initializer())).",
        ) from None


@register
class VariableV2(OpDef):
    differentiable = False
    stateful = True

    def infer(self, op: Operation) -> list[Spec]:
        return [(op.attrs["shape"], op.attrs["dtype"])]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        store, name = ctx.variables, op.name

        def read() -> Any:
            value = store.get(name)
            return read_variable(ctx, op, name) if value is None else value

        return read


class _Update(OpDef):
    """Assign/AssignAdd/AssignSub: write input 0 into the variable named by attr `var`."""

    differentiable = False
    stateful = True
    var_attrs = ("var",)

    def infer(self, op: Operation) -> list[Spec]:
        var = op.graph.get_operation_by_name(op.attrs["var"]).outputs[0]
        value = op.inputs[0]
        if value.dtype != var.dtype:
            raise TypeError(
                f"Input 'value' of '{op.type}' Op has type {value.dtype.name} that does not "
                f"match type {var.dtype.name} of variable '{var.op.name}'."
            )
        if op.attrs.get("validate_shape", True):
            if not compatible(var.static_shape, value.static_shape):
                raise ValueError(
                    f"Shapes must be equal rank and compatible, but are {fmt(var.static_shape)} "
                    f"and {fmt(value.static_shape)} for '{op.name}' (op: '{op.type}')."
                )
            return [(var.static_shape, var.dtype)]
        return [(value.static_shape, var.dtype)]


@register
class Assign(_Update):
    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        store, name, xp = ctx.variables, op.attrs["var"], ctx.xp
        validate = op.attrs.get("validate_shape", True)
        static = op.outputs[0].static_shape

        def assign(value: Any) -> Any:
            current = store.get(name)
            if current is not None and current.shape == value.shape:
                xp.copyto(current, value)  # in place: plans holding the array stay valid
                return current
            if validate and not compatible(static, value.shape):
                raise errors.InvalidArgumentError(
                    None, op, f"Assign requires shapes of both tensors to match. lhs shape= "
                    f"{fmt(static)} rhs shape= {fmt(value.shape)}",
                )
            store[name] = value = xp.array(value, copy=True)
            return value

        return assign


class _InPlace(_Update):
    ufunc = ""

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        store, name = ctx.variables, op.attrs["var"]
        ufunc = getattr(ctx.xp, self.ufunc)

        def update(value: Any) -> Any:
            current = store.get(name)
            if current is None:
                current = read_variable(ctx, op, name)
            if value.shape != current.shape:
                raise errors.InvalidArgumentError(
                    None, op, f"{op.type} requires shapes of both tensors to match: variable "
                    f"'{name}' has shape {fmt(current.shape)}, the value {fmt(value.shape)}")
            ufunc(current, value, out=current)
            return current

        return update


@register
class AssignAdd(_InPlace):
    ufunc = "add"


@register
class AssignSub(_InPlace):
    ufunc = "subtract"


def _variable_op(ref: Any) -> Operation:
    op = getattr(ref, "op", None)
    if not isinstance(op, Operation) or op.type != "VariableV2":
        raise TypeError(f"'ref' must be a Variable (or its tensor), got {ref!r}.")
    return op


def _update(op_type: str, ref: Any, value: Any, name: str | None, **attrs: Any) -> Tensor:
    var_op = _variable_op(ref)
    graph = var_op.graph
    value = convert_to_tensor(value, graph=graph)
    with graph.device(var_op.device):
        op = graph.create_op(op_type, [value], {"var": var_op.name, **attrs}, name or op_type)
    return op.outputs[0]


def _literal(ref: Any, value: Any) -> Any:
    """Python/numpy literals take the variable's dtype, as in TF."""
    if isinstance(value, Tensor) or hasattr(value, "_as_graph_element"):
        return value
    return convert_to_tensor(value, _variable_op(ref).attrs["dtype"], graph=_variable_op(ref).graph)


def assign(ref: Any, value: Any, validate_shape: bool = True, use_locking: bool | None = None,
           name: str | None = None) -> Tensor:
    """Store `value` in the variable `ref`; the result is the new value."""
    return _update("Assign", ref, _literal(ref, value), name or "Assign",
                   validate_shape=validate_shape)


def assign_add(ref: Any, value: Any, use_locking: bool | None = None,
               name: str | None = None) -> Tensor:
    return _update("AssignAdd", ref, _literal(ref, value), name or "AssignAdd")


def assign_sub(ref: Any, value: Any, use_locking: bool | None = None,
               name: str | None = None) -> Tensor:
    return _update("AssignSub", ref, _literal(ref, value), name or "AssignSub")
