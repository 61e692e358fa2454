"""Elementwise math with broadcasting, matmul, reductions and comparisons."""

from __future__ import annotations

import operator
from typing import Any

from engine.graph import Operation, Tensor, binary_inputs, make_op
from engine.registry import ExecContext, Kernel, OpDef, Spec, register
from engine.shapes import Shape, fmt

__all__ = ["add", "add_n", "matmul", "multiply", "subtract", "truediv", "divide"]


# -- shared shape rules and gradient helpers ------------------------------------------------------
def shape_error(op: Operation, message: str) -> ValueError:
    """A build-time shape clash, worded like TF's: names the op and all input shapes."""
    shapes = ", ".join(fmt(t.static_shape) for t in op.inputs)
    return ValueError(f"{message} for '{op.name}' (op: '{op.type}') with input shapes: {shapes}.")


def broadcast_shapes(op: Operation, a: Shape, b: Shape) -> Shape:
    """Numpy broadcasting of two static shapes; unknown dims stay unknown where undecidable."""
    if a is None or b is None:
        return None
    out: list[int | None] = []
    for i in range(max(len(a), len(b))):
        x = a[len(a) - 1 - i] if i < len(a) else 1
        y = b[len(b) - 1 - i] if i < len(b) else 1
        if x == 1:
            out.append(y)
        elif y == 1:
            out.append(x)
        elif x is None or y is None:
            out.append(x if y is None else y)
        elif x == y:
            out.append(x)
        else:
            raise shape_error(op, f"Dimensions must be equal, but are {x} and {y}")
    return tuple(reversed(out))


def check_same_dtype(op: Operation) -> None:
    first = op.inputs[0]
    for name, t in zip("yzw", op.inputs[1:], strict=False):
        if t.dtype != first.dtype:
            raise TypeError(
                f"Input '{name}' of '{op.type}' Op has type {t.dtype.name} that does not match "
                f"type {first.dtype.name} of argument 'x'."
            )


def sum_to(grad: Tensor, like: Tensor) -> Tensor:
    """Undo broadcasting: sum `grad` down to the shape of `like`."""
    if grad.static_shape == like.static_shape and all(
        d is not None for d in (like.static_shape or (None,))
    ):
        return grad
    return make_op("SumToShapeOf", [grad, like]).outputs[0]


class BinaryOp(OpDef):
    """An elementwise op of two same-dtype, broadcastable inputs; `fn` names the xp ufunc."""

    fn = ""

    def infer(self, op: Operation) -> list[Spec]:
        check_same_dtype(op)
        x, y = op.inputs
        return [(broadcast_shapes(op, x.static_shape, y.static_shape), x.dtype)]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        return getattr(ctx.xp, self.fn)


@register
class SumToShapeOf(OpDef):
    """Sum input 0 over the axes along which input 1 was broadcast (gradient plumbing)."""

    def infer(self, op: Operation) -> list[Spec]:
        return [(op.inputs[1].static_shape, op.inputs[0].dtype)]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        def reduce(grad: Any, like: Any) -> Any:
            if grad.shape == like.shape:
                return grad
            lead = grad.ndim - like.ndim
            axes = tuple(range(lead)) + tuple(
                lead + i for i, d in enumerate(like.shape) if d == 1 and grad.shape[lead + i] != 1
            )
            return grad.sum(axis=axes).reshape(like.shape)

        return reduce

    def grad(self, op: Operation, dy: Tensor | None) -> list[Tensor | None]:
        from engine.ops.array_ops import broadcast_to_like

        return [broadcast_to_like(dy, op.inputs[0]), None]


@register
class Add(BinaryOp):
    fn = "add"

    def grad(self, op: Operation, dz: Tensor | None) -> list[Tensor | None]:
        x, y = op.inputs
        return [sum_to(dz, x), sum_to(dz, y)]


@register
class Sub(BinaryOp):
    fn = "subtract"

    def grad(self, op: Operation, dz: Tensor | None) -> list[Tensor | None]:
        x, y = op.inputs
        return [sum_to(dz, x), sum_to(negative(dz), y)]


@register
class Mul(BinaryOp):
    fn = "multiply"

    def grad(self, op: Operation, dz: Tensor | None) -> list[Tensor | None]:
        x, y = op.inputs
        return [sum_to(multiply(dz, y), x), sum_to(multiply(dz, x), y)]


@register
class RealDiv(BinaryOp):
    fn = "true_divide"

    def grad(self, op: Operation, dz: Tensor | None) -> list[Tensor | None]:
        x, y = op.inputs
        dx = truediv(dz, y)
        dy = negative(multiply(dz, truediv(op.outputs[0], y)))
        return [sum_to(dx, x), sum_to(dy, y)]


@register
class Neg(OpDef):
    def infer(self, op: Operation) -> list[Spec]:
        return [(op.inputs[0].static_shape, op.inputs[0].dtype)]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        return ctx.xp.negative

    def grad(self, op: Operation, dy: Tensor | None) -> list[Tensor | None]:
        return [negative(dy)]


@register
class AddN(OpDef):
    def infer(self, op: Operation) -> list[Spec]:
        check_same_dtype(op)
        shape = op.inputs[0].static_shape
        for t in op.inputs[1:]:
            shape = broadcast_shapes(op, shape, t.static_shape)
        return [(shape, op.inputs[0].dtype)]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        def add_all(first: Any, *rest: Any) -> Any:
            total = first + rest[0]
            for r in rest[1:]:
                total += r
            return total

        return add_all if len(op.inputs) > 1 else (lambda x: x)

    def grad(self, op: Operation, dz: Tensor | None) -> list[Tensor | None]:
        return [sum_to(dz, x) for x in op.inputs]


@register
class MatMul(OpDef):
    """Matrix product of rank-2 (or batched rank-N) inputs with TF's transpose flags."""

    def infer(self, op: Operation) -> list[Spec]:
        check_same_dtype(op)
        a, b = (t.static_shape for t in op.inputs)
        ta, tb = op.attrs["transpose_a"], op.attrs["transpose_b"]
        if a is None or b is None:
            return [(None, op.inputs[0].dtype)]
        if len(a) < 2 or len(b) < 2:
            raise shape_error(op, f"Shape must be rank 2 but is rank {min(len(a), len(b))}")
        if len(a) != len(b):
            raise shape_error(op, f"Shapes must be equal rank, but are {len(a)} and {len(b)}")
        m, k1 = (a[-1], a[-2]) if ta else (a[-2], a[-1])
        k2, n = (b[-1], b[-2]) if tb else (b[-2], b[-1])
        if k1 is not None and k2 is not None and k1 != k2:
            raise shape_error(op, f"Dimensions must be equal, but are {k1} and {k2}")
        batch = broadcast_shapes(op, a[:-2], b[:-2])
        return [((*batch, m, n), op.inputs[0].dtype)]  # type: ignore[misc]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        ta, tb = op.attrs["transpose_a"], op.attrs["transpose_b"]
        if not ta and not tb:
            return operator.matmul
        swap = ctx.xp.swapaxes
        if ta and tb:
            return lambda a, b: swap(a, -1, -2) @ swap(b, -1, -2)
        if ta:
            return lambda a, b: swap(a, -1, -2) @ b
        return lambda a, b: a @ swap(b, -1, -2)

    def grad(self, op: Operation, g: Tensor | None) -> list[Tensor | None]:
        a, b = op.inputs
        ta, tb = op.attrs["transpose_a"], op.attrs["transpose_b"]
        if not ta and not tb:
            return [matmul(g, b, transpose_b=True), matmul(a, g, transpose_a=True)]
        if ta and not tb:
            return [matmul(b, g, transpose_b=True), matmul(a, g)]
        if not ta and tb:
            return [matmul(g, b), matmul(g, a, transpose_a=True)]
        return [matmul(b, g, transpose_a=True, transpose_b=True),
                matmul(g, a, transpose_a=True, transpose_b=True)]


# -- public functions ------------------------------------------------------------------------------
def _binary(op_type: str, x: Any, y: Any, name: str | None) -> Tensor:
    x, y = binary_inputs(x, y)
    return make_op(op_type, [x, y], name=name or op_type).outputs[0]


def add(x: Any, y: Any, name: str | None = None) -> Tensor:
    return _binary("Add", x, y, name)


def subtract(x: Any, y: Any, name: str | None = None) -> Tensor:
    return _binary("Sub", x, y, name)


def multiply(x: Any, y: Any, name: str | None = None) -> Tensor:
    return _binary("Mul", x, y, name)


def truediv(x: Any, y: Any, name: str | None = None) -> Tensor:
    return _binary("RealDiv", x, y, name)


divide = truediv


def negative(x: Any, name: str | None = None) -> Tensor:
    return make_op("Neg", [x], name=name or "Neg").outputs[0]


def add_n(inputs: list[Any], name: str | None = None) -> Tensor:
    if not inputs:
        raise ValueError("add_n needs at least one input.")
    return make_op("AddN", list(inputs), name=name or "AddN").outputs[0]


def matmul(a: Any, b: Any, transpose_a: bool = False, transpose_b: bool = False,
           adjoint_a: bool = False, adjoint_b: bool = False, a_is_sparse: bool = False,
           b_is_sparse: bool = False, name: str | None = None) -> Tensor:
    attrs = {"transpose_a": transpose_a or adjoint_a, "transpose_b": transpose_b or adjoint_b}
    a, b = binary_inputs(a, b)
    return make_op("MatMul", [a, b], attrs, name or "MatMul").outputs[0]
