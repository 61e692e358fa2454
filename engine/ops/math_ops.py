"""Elementwise math with broadcasting, comparisons, logic, casts, select and matmul.

Op types of one shape (one input; two broadcast inputs; comparisons) share a base class that
owns the shape rule, dtype check and kernel lookup, so each op is little more than its xp
function name and its gradient rule.
"""

from __future__ import annotations

import math
import operator
import re
import string
from collections.abc import Sequence
from typing import Any, NamedTuple

from engine import dtypes as _dtypes
from engine import errors
from engine.graph import Operation, Tensor, binary_inputs, convert_to_tensor, make_op
from engine.registry import ExecContext, Kernel, OpDef, Spec, register
from engine.shapes import Shape, fmt

__all__ = [
    "abs", "add", "add_n", "ceil", "clip_by_value", "cast", "cos", "cumprod", "cumsum", "div",
    "divide", "einsum", "equal", "exp", "floor", "floor_div", "floordiv", "floormod", "greater",
    "greater_equal", "is_finite", "is_inf", "is_nan", "less", "less_equal", "log", "log1p",
    "logical_and", "logical_not", "logical_or", "logical_xor", "matmul", "maximum", "minimum",
    "mod", "multiply", "negative", "not_equal", "pow", "realdiv", "reciprocal", "round", "rsqrt",
    "scalar_mul", "sign", "sin", "sqrt", "square", "squared_difference", "subtract",
    "tensordot", "to_double", "to_float", "to_int32", "to_int64", "truediv", "where",
]

# numpy dtype kinds, the vocabulary of the `kinds` class attributes below
FLOAT = "f"
NUMERIC = "fiu"
BOOL = "b"
_KIND_NAMES = {"f": "float16, float32, float64", "i": "int8, int16, int32, int64",
               "u": "uint8", "b": "bool"}


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


def merge_shapes(op: Operation, a: Shape, b: Shape) -> Shape:
    """Two shapes that must be equal (no broadcasting), merged; TF's wording when they clash."""
    if a is None or b is None:
        return b if a is None else a
    if len(a) != len(b):
        raise shape_error(op, f"Shapes must be equal rank, but are {len(a)} and {len(b)}")
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        if x is not None and y is not None and x != y:
            raise shape_error(op, f"Dimension {i} in both shapes must be equal, but are {x} and "
                                  f"{y}. Shapes are {fmt(a)} and {fmt(b)}.")
    return tuple(x if x is not None else y for x, y in zip(a, b, strict=True))


def check_same_dtype(op: Operation) -> None:
    first = op.inputs[0]
    for name, t in zip("yzw", op.inputs[1:], strict=False):
        if t.dtype != first.dtype:
            raise TypeError(
                f"Input '{name}' of '{op.type}' Op has type {t.dtype.name} that does not match "
                f"type {first.dtype.name} of argument 'x'."
            )


def check_kind(op: Operation, t: Tensor, kinds: str, param: str = "x") -> None:
    """Reject a dtype the op is not defined for (numpy would often compute something anyway)."""
    if t.dtype.np.kind not in kinds:
        allowed = ", ".join(_KIND_NAMES[k] for k in kinds)
        raise TypeError(f"Value passed to parameter '{param}' has DataType {t.dtype.name} not in "
                        f"list of allowed values: {allowed} (op '{op.name}' of type {op.type}).")


def sum_to(grad: Tensor, like: Tensor) -> Tensor:
    """Undo broadcasting: sum `grad` down to the shape of `like`."""
    if grad.static_shape == like.static_shape and all(
        d is not None for d in (like.static_shape or (None,))
    ):
        return grad
    return make_op("SumToShapeOf", [grad, like]).outputs[0]


def _zeros_like(t: Tensor) -> Tensor:
    from engine.ops.array_ops import zeros_like  # array_ops imports this module

    return zeros_like(t)


@register
class SumToShapeOf(OpDef):
    """Sum input 0 over the axes along which input 1 was broadcast (gradient plumbing)."""

    shape_only_inputs = (1,)

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


# -- one input ------------------------------------------------------------------------------------
class UnaryOp(OpDef):
    """An elementwise op of one input of a dtype kind in `kinds`; `fn` names the xp function.

    Differentiable subclasses define `dx(dy, x, y)`, the input gradient in terms of the output
    gradient, the input and the output.
    """

    fn = ""
    kinds = NUMERIC

    def infer(self, op: Operation) -> list[Spec]:
        x = op.inputs[0]
        check_kind(op, x, self.kinds)
        return [(x.static_shape, x.dtype)]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        return getattr(ctx.xp, self.fn)

    def grad(self, op: Operation, dy: Tensor | None) -> list[Tensor | None]:
        return [self.dx(dy, op.inputs[0], op.outputs[0])]

    def dx(self, dy: Tensor, x: Tensor, y: Tensor) -> Tensor:
        raise NotImplementedError(f"{self.type} has no gradient rule")


class _Predicate(UnaryOp):
    """A float -> bool test per element (is_nan, ...): not differentiable."""

    differentiable = False
    kinds = FLOAT

    def infer(self, op: Operation) -> list[Spec]:
        ((shape, _),) = super().infer(op)
        return [(shape, _dtypes.bool)]


@register
class Neg(UnaryOp):
    fn = "negative"

    def dx(self, dy: Tensor, x: Tensor, y: Tensor) -> Tensor:
        return negative(dy)


@register
class Square(UnaryOp):
    fn = "square"

    def dx(self, dy: Tensor, x: Tensor, y: Tensor) -> Tensor:
        return multiply(dy, multiply(2, x))


@register
class Sqrt(UnaryOp):
    fn, kinds = "sqrt", FLOAT

    def dx(self, dy: Tensor, x: Tensor, y: Tensor) -> Tensor:
        return truediv(multiply(dy, 0.5), y)


@register
class Rsqrt(UnaryOp):
    kinds = FLOAT

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        xp = ctx.xp
        return lambda x: xp.reciprocal(xp.sqrt(x))

    def dx(self, dy: Tensor, x: Tensor, y: Tensor) -> Tensor:
        return multiply(dy, multiply(-0.5, multiply(y, square(y))))


@register
class Reciprocal(UnaryOp):
    fn = "reciprocal"

    def dx(self, dy: Tensor, x: Tensor, y: Tensor) -> Tensor:
        return negative(multiply(dy, square(y)))


@register
class Exp(UnaryOp):
    fn, kinds = "exp", FLOAT

    def dx(self, dy: Tensor, x: Tensor, y: Tensor) -> Tensor:
        return multiply(dy, y)


@register
class Log(UnaryOp):
    fn, kinds = "log", FLOAT

    def dx(self, dy: Tensor, x: Tensor, y: Tensor) -> Tensor:
        return truediv(dy, x)


@register
class Log1p(UnaryOp):
    fn, kinds = "log1p", FLOAT

    def dx(self, dy: Tensor, x: Tensor, y: Tensor) -> Tensor:
        return truediv(dy, add(1, x))


@register
class Sin(UnaryOp):
    fn, kinds = "sin", FLOAT

    def dx(self, dy: Tensor, x: Tensor, y: Tensor) -> Tensor:
        return multiply(dy, cos(x))


@register
class Cos(UnaryOp):
    fn, kinds = "cos", FLOAT

    def dx(self, dy: Tensor, x: Tensor, y: Tensor) -> Tensor:
        return negative(multiply(dy, sin(x)))


@register
class Abs(UnaryOp):
    fn = "abs"

    def dx(self, dy: Tensor, x: Tensor, y: Tensor) -> Tensor:
        return multiply(dy, sign(x))


@register
class Sign(UnaryOp):
    fn = "sign"

    def dx(self, dy: Tensor, x: Tensor, y: Tensor) -> Tensor:
        return _zeros_like(x)  # TF: a zero gradient, not None


@register
class Floor(UnaryOp):
    fn, kinds, differentiable = "floor", FLOAT, False


@register
class Ceil(UnaryOp):
    fn, kinds, differentiable = "ceil", FLOAT, False


@register
class Round(UnaryOp):
    """Half to even, like TF (and numpy); integers pass through."""

    fn, differentiable = "round", False


@register
class LogicalNot(UnaryOp):
    fn, kinds, differentiable = "logical_not", BOOL, False


@register
class IsNan(_Predicate):
    fn = "isnan"


@register
class IsInf(_Predicate):
    fn = "isinf"


@register
class IsFinite(_Predicate):
    fn = "isfinite"


# -- two broadcast inputs -------------------------------------------------------------------------
class BinaryOp(OpDef):
    """An elementwise op of two same-dtype, broadcastable inputs; `fn` names the xp ufunc."""

    fn = ""
    kinds = NUMERIC

    def infer(self, op: Operation) -> list[Spec]:
        check_same_dtype(op)
        x, y = op.inputs
        check_kind(op, x, self.kinds)
        return [(broadcast_shapes(op, x.static_shape, y.static_shape), x.dtype)]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        return getattr(ctx.xp, self.fn)


class _InPlaceBinary(BinaryOp):
    """A BinaryOp whose result may overwrite input 0: when static shapes show that the result
    has input 0's shape (input 1 broadcasts into it; same dtype by the shape rule)."""

    fresh_output = True

    def in_place(self, op: Operation, ctx: ExecContext) -> Kernel | None:
        x, y = (t.static_shape for t in op.inputs)
        if x is None or y is None or not x or len(y) > len(x) or any(
                dy != 1 and (dx is None or dx != dy)
                for dx, dy in zip(x[len(x) - len(y):], y, strict=True)):
            return None
        fn, array = getattr(ctx.xp, self.fn), ctx.xp.ndarray
        return lambda a, b: fn(a, b, out=a) if a.__class__ is array else fn(a, b)


@register
class Add(_InPlaceBinary):
    fn = "add"

    def grad(self, op: Operation, dz: Tensor | None) -> list[Tensor | None]:
        x, y = op.inputs
        return [sum_to(dz, x), sum_to(dz, y)]


@register
class Sub(_InPlaceBinary):
    fn = "subtract"

    def grad(self, op: Operation, dz: Tensor | None) -> list[Tensor | None]:
        x, y = op.inputs
        return [sum_to(dz, x), sum_to(negative(dz), y)]


@register
class Mul(_InPlaceBinary):
    fn = "multiply"

    def grad(self, op: Operation, dz: Tensor | None) -> list[Tensor | None]:
        x, y = op.inputs
        return [sum_to(multiply(dz, y), x), sum_to(multiply(dz, x), y)]


@register
class RealDiv(BinaryOp):
    """Float division; `truediv` casts integer operands to a float type first, as TF does."""

    fn, kinds = "true_divide", FLOAT

    def grad(self, op: Operation, dz: Tensor | None) -> list[Tensor | None]:
        x, y = op.inputs
        dx = truediv(dz, y)
        dy = negative(multiply(dz, truediv(op.outputs[0], y)))
        return [sum_to(dx, x), sum_to(dy, y)]


class _IntegerDivision(BinaryOp):
    """FloorDiv / FloorMod: an integer division by zero is an error, as in TF (numpy would
    give 0)."""

    differentiable = False

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        divide = super().kernel(op, ctx)
        if not op.inputs[0].dtype.is_integer:
            return divide

        def checked(x: Any, y: Any) -> Any:
            if not y.all():
                raise errors.InvalidArgumentError(
                    None, op, f"Integer division by zero in '{op.name}' (op: {op.type})")
            return divide(x, y)

        return checked


@register
class FloorDiv(_IntegerDivision):
    fn = "floor_divide"


@register
class FloorMod(_IntegerDivision):
    """Python's `%`: the result takes the divisor's sign."""

    fn = "mod"


@register
class Pow(BinaryOp):
    fn = "power"

    def grad(self, op: Operation, dz: Tensor | None) -> list[Tensor | None]:
        x, y = op.inputs
        dx = multiply(dz, multiply(y, pow(x, subtract(y, 1))))
        # d/dy x**y = x**y * log(x); TF takes it as 0 where x <= 0, where log is undefined
        log_x = where(greater(x, 0), log(x), _zeros_like(x))
        dy = multiply(dz, multiply(op.outputs[0], log_x))
        return [sum_to(dx, x), sum_to(dy, y)]


class _Extremum(BinaryOp):
    """Maximum / Minimum: the gradient goes to the winning input; ties go to x, as in TF.
    `x_wins` names the comparison op that picks x."""

    x_wins = ""

    def grad(self, op: Operation, dz: Tensor | None) -> list[Tensor | None]:
        x, y = op.inputs
        picked = make_op(self.x_wins, [x, y]).outputs[0]
        dx = multiply(dz, cast(picked, dz.dtype))
        return [sum_to(dx, x), sum_to(subtract(dz, dx), y)]


@register
class Maximum(_Extremum):
    fn, x_wins = "maximum", "GreaterEqual"


@register
class Minimum(_Extremum):
    fn, x_wins = "minimum", "LessEqual"


@register
class SquaredDifference(BinaryOp):
    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        square_ = ctx.xp.square
        return lambda x, y: square_(x - y)

    def grad(self, op: Operation, dz: Tensor | None) -> list[Tensor | None]:
        x, y = op.inputs
        d = multiply(dz, multiply(2, subtract(x, y)))
        return [sum_to(d, x), sum_to(negative(d), y)]


class _Comparison(BinaryOp):
    """A broadcast elementwise test with a bool result: not differentiable."""

    differentiable = False

    def infer(self, op: Operation) -> list[Spec]:
        ((shape, _),) = super().infer(op)
        return [(shape, _dtypes.bool)]


@register
class Equal(_Comparison):
    fn, kinds = "equal", NUMERIC + BOOL


@register
class NotEqual(_Comparison):
    fn, kinds = "not_equal", NUMERIC + BOOL


@register
class Less(_Comparison):
    fn = "less"


@register
class LessEqual(_Comparison):
    fn = "less_equal"


@register
class Greater(_Comparison):
    fn = "greater"


@register
class GreaterEqual(_Comparison):
    fn = "greater_equal"


@register
class LogicalAnd(BinaryOp):
    fn, kinds, differentiable = "logical_and", BOOL, False


@register
class LogicalOr(BinaryOp):
    fn, kinds, differentiable = "logical_or", BOOL, False


@register
class LogicalXor(BinaryOp):
    """One op where TF 1.x composes and/or/not: one pass over the data."""

    fn, kinds, differentiable = "logical_xor", BOOL, False


# -- sums, select, clip, cast ---------------------------------------------------------------------
@register
class AddN(OpDef):
    def infer(self, op: Operation) -> list[Spec]:
        check_same_dtype(op)
        check_kind(op, op.inputs[0], NUMERIC, "inputs")
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
class Select(OpDef):
    """TF 1.x `where(c, x, y)`: x and y of one shape; c of that shape, a scalar, or a vector
    that picks whole rows (slices along axis 0)."""

    def infer(self, op: Operation) -> list[Spec]:
        cond, x, y = op.inputs
        check_kind(op, cond, BOOL, "condition")
        if x.dtype != y.dtype:
            raise TypeError(f"Input 'e' of 'Select' Op has type {y.dtype.name} that does not "
                            f"match type {x.dtype.name} of argument 't'.")
        shape = merge_shapes(op, x.static_shape, y.static_shape)
        c = cond.static_shape
        if c is not None and shape is not None and c != ():
            merge_shapes(op, c, shape[:1] if len(c) == 1 and len(shape) > 1 else shape)
        return [(shape, x.dtype)]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        xp = ctx.xp
        c, shape = op.inputs[0].static_shape, op.outputs[0].static_shape
        if c is not None and shape is not None and not (len(c) == 1 and len(shape) > 1):
            return xp.where

        def select(c: Any, x: Any, y: Any) -> Any:
            if c.ndim == 1 and x.ndim > 1:
                c = c.reshape(c.shape + (1,) * (x.ndim - 1))
            return xp.where(c, x, y)

        return select

    def grad(self, op: Operation, dz: Tensor | None) -> list[Tensor | None]:
        cond = op.inputs[0]
        zeros = _zeros_like(dz)
        return [None, where(cond, dz, zeros), where(cond, zeros, dz)]


@register
class Where(OpDef):
    """TF 1.x `where(c)`: the int64 coordinates of the true (non-zero) elements, [N, rank]."""

    differentiable = False

    def infer(self, op: Operation) -> list[Spec]:
        c = op.inputs[0].static_shape
        return [((None, None if c is None else len(c)), _dtypes.int64)]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        return ctx.xp.argwhere


@register
class ClipByValue(OpDef):
    """(t, lo, hi) -> t clipped to [lo, hi]; the bounds may broadcast but not reshape t."""

    def infer(self, op: Operation) -> list[Spec]:
        check_same_dtype(op)
        t, lo, hi = op.inputs
        check_kind(op, t, NUMERIC, "t")
        shape = broadcast_shapes(op, t.static_shape, lo.static_shape)
        shape = broadcast_shapes(op, shape, hi.static_shape)
        return [(merge_shapes(op, t.static_shape, shape), t.dtype)]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        return ctx.xp.clip

    def grad(self, op: Operation, dz: Tensor | None) -> list[Tensor | None]:
        t, lo, hi = op.inputs
        d_lo = multiply(dz, cast(less(t, lo), dz.dtype))
        d_hi = multiply(dz, cast(greater(t, hi), dz.dtype))
        return [subtract(subtract(dz, d_lo), d_hi), sum_to(d_lo, lo), sum_to(d_hi, hi)]


@register
class Cast(OpDef):
    def infer(self, op: Operation) -> list[Spec]:
        return [(op.inputs[0].static_shape, op.attrs["DstT"])]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        return operator.methodcaller("astype", op.attrs["DstT"].np)

    def grad(self, op: Operation, dy: Tensor | None) -> list[Tensor | None]:
        src = op.inputs[0].dtype
        return [cast(dy, src) if src.is_floating and dy.dtype.is_floating else None]


# -- cumulative sums and products -----------------------------------------------------------------
class _Scan(OpDef):
    """Running `fn` (cumsum/cumprod) along attr axis; `exclusive` starts from the identity
    instead of the first element, `reverse` runs from the end."""

    fn = ""
    identity = 0

    def infer(self, op: Operation) -> list[Spec]:
        x, axis = op.inputs[0], op.attrs["axis"]
        check_kind(op, x, NUMERIC)
        s = x.static_shape
        if s is not None and not -len(s) <= axis < len(s):
            raise shape_error(op, f"axis must be in the range [{-len(s)}, {len(s)}), got {axis}")
        return [(s, x.dtype)]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        xp, fn, identity = ctx.xp, getattr(ctx.xp, self.fn), self.identity
        axis, exclusive, reverse = (op.attrs[k] for k in ("axis", "exclusive", "reverse"))

        def scan(x: Any) -> Any:
            if not -x.ndim <= axis < x.ndim:
                raise ValueError(f"axis {axis} is out of range for an input of shape "
                                 f"{fmt(x.shape)}")
            ax = axis % x.ndim
            if reverse:
                x = xp.flip(x, ax)
            if exclusive and x.shape[ax]:
                head = xp.full((*x.shape[:ax], 1, *x.shape[ax + 1:]), identity, x.dtype)
                x = xp.concatenate([head, x[(slice(None),) * ax + (slice(None, -1),)]], ax)
            y = fn(x, axis=ax, dtype=x.dtype)
            return xp.flip(y, ax) if reverse else y

        return scan

    def scan_back(self, op: Operation, g: Tensor) -> Tensor:
        """The running sum of `g` in the opposite direction: the gradient of a cumsum."""
        return cumsum(g, op.attrs["axis"], op.attrs["exclusive"], not op.attrs["reverse"])


@register
class Cumsum(_Scan):
    fn = "cumsum"

    def grad(self, op: Operation, dy: Tensor | None) -> list[Tensor | None]:
        return [self.scan_back(op, dy)]


@register
class Cumprod(_Scan):
    """The gradient divides by x, as TF's does, so it is not finite where x is 0."""

    fn, identity = "cumprod", 1

    def grad(self, op: Operation, dy: Tensor | None) -> list[Tensor | None]:
        return [truediv(self.scan_back(op, multiply(op.outputs[0], dy)), op.inputs[0])]


# -- matrix product -------------------------------------------------------------------------------
@register
class MatMul(OpDef):
    """Matrix product of rank-2 (or batched rank-N) inputs with TF's transpose flags."""

    fresh_output = True

    def infer(self, op: Operation) -> list[Spec]:
        check_same_dtype(op)
        check_kind(op, op.inputs[0], NUMERIC, "a")
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
        product = self._product(op, ctx)
        if all(t.static_shape is not None for t in op.inputs):
            return product  # ranks were checked when the graph was built

        def matmul(a: Any, b: Any) -> Any:
            if a.ndim < 2 or b.ndim < 2:
                raise ValueError(f"In[{0 if a.ndim < 2 else 1}] is not a matrix: MatMul needs "
                                 f"inputs of rank >= 2, got shapes {a.shape} and {b.shape}")
            return product(a, b)

        return matmul

    @staticmethod
    def _product(op: Operation, ctx: ExecContext) -> Kernel:
        ta, tb = op.attrs["transpose_a"], op.attrs["transpose_b"]
        if not ta and not tb:
            return operator.matmul
        if all(t.static_shape is not None and len(t.static_shape) == 2 for t in op.inputs):
            # matrices: `.T` is an attribute lookup, swapaxes a Python-level call
            if ta and tb:
                return lambda a, b: a.T @ b.T
            return (lambda a, b: a.T @ b) if ta else (lambda a, b: a @ b.T)
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
            ga, gb = matmul(g, b, transpose_b=True), matmul(a, g, transpose_a=True)
        elif ta and not tb:
            ga, gb = matmul(b, g, transpose_b=True), matmul(a, g)
        elif not ta and tb:
            ga, gb = matmul(g, b), matmul(g, a, transpose_a=True)
        else:
            ga = matmul(b, g, transpose_a=True, transpose_b=True)
            gb = matmul(g, a, transpose_a=True, transpose_b=True)
        if a.static_shape is not None and len(a.static_shape) == 2:
            return [ga, gb]  # no batch dims, so nothing was broadcast
        return [sum_to(ga, a), sum_to(gb, b)]


# -- einsum ---------------------------------------------------------------------------------------
# Parsed subscripts use one '.' for '...', so each term has one character per named dim.
_SUBSCRIPTS = re.compile(r"^([a-zA-Z,.]*)(->[a-zA-Z.]*)?$")


class _Subscripts(NamedTuple):
    """An einsum equation resolved against its operand count: one term per input, the output
    term (implicit outputs made explicit), and whether the output drops '...' that inputs
    have (TF 1.x sums those dims)."""

    inputs: tuple[str, ...]
    output: str
    sums_ellipsis: bool

    def numpy_equation(self) -> str:
        """The equation for xp.einsum; summed '...' dims lead its output (the kernel sums them)."""
        output = "." + self.output if self.sums_ellipsis else self.output
        return (",".join(self.inputs) + "->" + output).replace(".", "...")


def _term(subscripts: str, equation: str) -> str:
    """One term with '...' as '.'; TF's errors for a stray period or a second ellipsis."""
    if subscripts.count("...") > 1:
        raise ValueError(f"Unable to resolve ellipsis. Excess number found in equation "
                         f"'{equation}'.")
    term = subscripts.replace("...", ".")
    if term.count(".") != subscripts.count("..."):
        raise ValueError(f'period "." found outside of ellipsis in equation \'{equation}\'')
    return term


def _parse_einsum(equation: str, n_inputs: int) -> _Subscripts:
    """The subscripts of `equation`; ValueError, worded as TF's, when malformed. Without '->'
    the output is numpy's: '...' first, then the letters used once, in alphabetical order."""
    compact = equation.replace(" ", "")
    match = _SUBSCRIPTS.match(compact)
    if not match:
        raise ValueError(f"Indices have incorrect format: {equation}")
    inputs = tuple(_term(t, equation) for t in match.group(1).split(","))
    if len(inputs) != n_inputs:
        raise ValueError(f'Got {n_inputs} arguments for equation "{equation}", expecting '
                         f"{len(inputs)}")
    joined = "".join(inputs)
    if match.group(2) is None:
        letters = sorted(c for c in set(joined) if c != "." and joined.count(c) == 1)
        output = ("." if "." in joined else "") + "".join(letters)
    else:
        output = _term(match.group(2)[2:], equation)
        for c in output:
            if output.count(c) > 1:
                raise ValueError(f"Output subscript '{c}' appears more than once in equation "
                                 f"'{equation}'")
            if c != "." and c not in joined:
                raise ValueError(f"Output subscript '{c}' of equation '{equation}' does not "
                                 f"appear in any input")
    return _Subscripts(inputs, output, "." in joined and "." not in output)


def _einsum_dims(term: str, shape: Sequence[int | None]) -> tuple[tuple, tuple] | None:
    """(the dims that `term`'s letters name, the dims under its '...') of an input of
    `shape`; None when the rank does not fit the term."""
    extra = len(shape) - len(term) + ("." in term)
    if extra < 0 or (extra and "." not in term):
        return None
    at = term.find(".")
    if at < 0:
        return tuple(shape), ()
    return tuple(shape[:at]) + tuple(shape[at + extra:]), tuple(shape[at:at + extra])


def _einsum_sizes(equation: str, subs: _Subscripts,
                  shapes: Sequence[Shape]) -> tuple[dict[str, int | None], list[Shape]]:
    """Each letter's size and each input's '...' dims (None where its rank is unknown).
    ValueError when an input's rank does not fit its term or one letter has two sizes."""
    sizes: dict[str, int | None] = {}
    ellipses: list[Shape] = []
    for k, (term, shape) in enumerate(zip(subs.inputs, shapes, strict=True)):
        split = (((None,) * len(term.replace(".", "")), None if "." in term else ())
                 if shape is None else _einsum_dims(term, shape))
        if split is None:
            raise ValueError(f"Input {k} of equation '{equation}' has rank {len(shape)}, but "
                             f"its subscripts '{term.replace('.', '...')}' name "
                             f"{len(term.replace('.', ''))} dimensions")
        named, ellipsis = split
        ellipses.append(ellipsis)
        for c, d in zip(term.replace(".", ""), named, strict=True):
            known = sizes.get(c)
            if d is not None and known is not None and d != known:
                raise ValueError(f"Dimension {d} of input {k} for label '{c}' does not match "
                                 f"dimension {known} elsewhere in equation '{equation}'")
            if known is None:
                sizes[c] = d
    return sizes, ellipses


def _matmul_kernel(subs: _Subscripts) -> Kernel | None:
    """Two-operand contractions that are one (batched) matmul after transposes: letters shared
    by both inputs and the output are batch dims; at most one letter is summed between the
    inputs and at most one is kept from each. Faster than einsum's path search, which costs
    more than the product for small matrices. None for any other equation."""
    if len(subs.inputs) != 2 or "." in "".join(subs.inputs) + subs.output:
        return None
    a, b, out = *subs.inputs, subs.output
    if len(set(a)) != len(a) or len(set(b)) != len(b) or any(
            c not in out and c not in other for term, other in ((a, b), (b, a)) for c in term):
        return None
    batch = [c for c in out if c in a and c in b]
    rows, cols = [c for c in a if c not in b], [c for c in b if c not in a]
    inner = [c for c in a if c in b and c not in out]
    if len(rows) > 1 or len(cols) > 1 or len(inner) > 1:
        return None
    perm_a = [a.index(c) for c in batch + rows + inner]
    perm_b = [b.index(c) for c in batch + inner + cols]
    order = batch + rows + cols
    perm_out = [order.index(c) for c in out]

    def index(first: list[str], second: list[str], missing: int | None) -> tuple | None:
        """A missing row/inner/column dim becomes a size-1 axis (None) and is dropped from
        the product again (0); None where nothing is missing."""
        if first and second:
            return None
        return Ellipsis, slice(None) if first else missing, slice(None) if second else missing

    at_a, at_b, at_out = index(rows, inner, None), index(inner, cols, None), index(rows, cols, 0)
    perm_a, perm_b, perm_out = (None if p == sorted(p) else p
                                for p in (perm_a, perm_b, perm_out))

    def product(x: Any, y: Any) -> Any:
        if perm_a:
            x = x.transpose(perm_a)
        if perm_b:
            y = y.transpose(perm_b)
        z = (x if at_a is None else x[at_a]) @ (y if at_b is None else y[at_b])
        if at_out is not None:
            z = z[at_out]
        return z.transpose(perm_out) if perm_out else z

    return product


@register
class Einsum(OpDef):
    """TF's `einsum`: attr equation over any number of same-dtype inputs. Letters must have one
    size throughout; dims under '...' broadcast as in numpy."""

    def infer(self, op: Operation) -> list[Spec]:
        equation = op.attrs["equation"]
        subs = _parse_einsum(equation, len(op.inputs))
        x = op.inputs[0]
        if any(t.dtype != x.dtype for t in op.inputs):
            types = ", ".join(t.dtype.name for t in op.inputs)
            raise TypeError(f"Tensors in list passed to 'inputs' of '{op.type}' Op have types "
                            f"[{types}] that don't all match.")
        check_kind(op, x, NUMERIC, "inputs")
        try:
            sizes, ellipses = _einsum_sizes(equation, subs, [t.static_shape for t in
                                                              op.inputs])
        except ValueError as e:
            raise shape_error(op, str(e)) from None
        ellipsis: Shape = ()
        for dims in ellipses:
            ellipsis = broadcast_shapes(op, ellipsis, dims)
        if "." in subs.output and ellipsis is None:
            return [(None, x.dtype)]
        shape = [d for c in subs.output for d in (ellipsis if c == "." else (sizes[c],))]
        return [(tuple(shape), x.dtype)]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        equation = op.attrs["equation"]
        subs = _parse_einsum(equation, len(op.inputs))
        product = _matmul_kernel(subs)
        if product is None:
            einsum, sum_ = ctx.xp.einsum, ctx.backend.sum
            numpy_equation, optimize = subs.numpy_equation(), len(op.inputs) > 1
            n_out = len(subs.output)

            def product(*arrays: Any) -> Any:
                y = einsum(numpy_equation, *arrays, optimize=optimize)
                return sum_(y, axis=tuple(range(y.ndim - n_out))) if subs.sums_ellipsis else y

        if all(t.static_shape is not None and None not in t.static_shape for t in op.inputs):
            return product  # sizes were checked when the graph was built

        def checked(*arrays: Any) -> Any:
            # xp.einsum would broadcast a size-1 dim against its letter's size; TF refuses
            _einsum_sizes(equation, subs, [a.shape for a in arrays])
            return product(*arrays)

        return checked

    def grad(self, op: Operation, dy: Tensor | None) -> list[Tensor | None]:
        subs = _parse_einsum(op.attrs["equation"], len(op.inputs))
        return [_einsum_input_grad(op, subs, k, dy) for k in range(len(op.inputs))]


def _einsum_input_grad(op: Operation, subs: _Subscripts, k: int, dy: Tensor) -> Tensor:
    """The gradient of input k: an einsum of dy with the other inputs. A repeated letter of
    input k puts the gradient on that diagonal (an identity matrix joins the product per extra
    occurrence); letters and '...' dims that only input k has are summed in the forward pass,
    so the gradient is constant along them (a ones tensor shaped like input k joins). '...'
    dims that input k broadcast are summed back with `sum_to`."""
    from engine.ops import array_ops  # array_ops imports this module

    x, term = op.inputs[k], subs.inputs[k]
    others = [j for j in range(len(op.inputs)) if j != k]
    elsewhere = set(subs.output).union(*(subs.inputs[j] for j in others))
    if "." not in subs.output:
        elsewhere.discard(".")  # summed: dy has none of those dims
    fresh = (c for c in string.ascii_letters if c not in "".join(subs.inputs))
    terms = [subs.output] + [subs.inputs[j] for j in others]
    operands = [dy] + [op.inputs[j] for j in others]
    renamed = ""
    for at, c in enumerate(term):
        if c in renamed:  # a repeat: its own letter, tied to the first by an identity matrix
            new = next(fresh, None)
            if new is None:
                raise ValueError(f"einsum's gradient of '{op.attrs['equation']}' needs more "
                                 f"than 52 letters")
            axis = at - len(term) if "." in term[:at] else at
            terms.append(c + new)
            operands.append(_identity_like_dim(x, axis))
            c = new
        renamed += c
    if any(term.count(c) == 1 and c not in elsewhere for c in term):
        terms.append(term)
        operands.append(array_ops.ones_like(x))
    def product(equation: str, *tensors: Tensor) -> Tensor:  # '.' stands for '...'
        return einsum(equation.replace(".", "..."), *tensors)

    inputs = ",".join(terms)
    if "." not in term:
        return product(f"{inputs}->{renamed}", *operands)
    # '...' first in the product, so that sum_to can sum away what input k broadcast; einsums
    # of one operand move it there in x and back in the result, whatever x's rank
    front = "." + renamed.replace(".", "")
    g = product(f"{inputs}->{front}", *operands)
    if term[0] == ".":
        return sum_to(g, x)
    return product(f"{front}->{renamed}", sum_to(g, product(f"{renamed}->{front}", x)))


def _identity_like_dim(x: Tensor, axis: int) -> Tensor:
    """An identity matrix, in x's dtype, of the size of x's dim `axis`."""
    from engine.ops import array_ops  # array_ops imports this module

    shape = x.static_shape
    n = shape[axis] if shape is not None and shape[axis] is not None else \
        array_ops.shape(x)[axis]
    index = array_ops.range(n)
    return cast(equal(array_ops.expand_dims(index, 1), array_ops.expand_dims(index, 0)),
                x.dtype)


# -- public functions ------------------------------------------------------------------------------
def _unary(op_type: str, x: Any, name: str | None) -> Tensor:
    return make_op(op_type, [x], name=name or op_type).outputs[0]


def _binary(op_type: str, x: Any, y: Any, name: str | None) -> Tensor:
    x, y = binary_inputs(x, y)
    return make_op(op_type, [x, y], name=name or op_type).outputs[0]


def add(x: Any, y: Any, name: str | None = None) -> Tensor:
    return _binary("Add", x, y, name)


def subtract(x: Any, y: Any, name: str | None = None) -> Tensor:
    return _binary("Sub", x, y, name)


def multiply(x: Any, y: Any, name: str | None = None) -> Tensor:
    return _binary("Mul", x, y, name)


# TF's truediv: integer operands become this float type before dividing
_TRUEDIV_FLOAT = {
    _dtypes.int8: _dtypes.float32, _dtypes.uint8: _dtypes.float32,
    _dtypes.int16: _dtypes.float32, _dtypes.int32: _dtypes.float64,
    _dtypes.int64: _dtypes.float64,
}


def truediv(x: Any, y: Any, name: str | None = None) -> Tensor:
    """x / y in floating point (Python 3 division); ints are cast to float first, as in TF."""
    x, y = binary_inputs(x, y)
    target = _TRUEDIV_FLOAT.get(x.dtype)
    if target is not None and x.dtype == y.dtype:
        x, y = cast(x, target), cast(y, target)
    return make_op("RealDiv", [x, y], name=name or "truediv").outputs[0]


def divide(x: Any, y: Any, name: str | None = None) -> Tensor:
    return truediv(x, y, name=name)


def realdiv(x: Any, y: Any, name: str | None = None) -> Tensor:
    return _binary("RealDiv", x, y, name)


def floordiv(x: Any, y: Any, name: str | None = None) -> Tensor:
    """floor(x / y), for ints and floats alike (Python's `//`)."""
    return _binary("FloorDiv", x, y, name)


floor_div = floordiv


def div(x: Any, y: Any, name: str | None = None) -> Tensor:
    """TF 1.x `div`: Python 2 division, flooring for ints, true division for floats."""
    x, y = binary_inputs(x, y)
    op_type = "FloorDiv" if x.dtype.is_integer else "RealDiv"
    return make_op(op_type, [x, y], name=name or "div").outputs[0]


def floormod(x: Any, y: Any, name: str | None = None) -> Tensor:
    return _binary("FloorMod", x, y, name)


mod = floormod


def pow(x: Any, y: Any, name: str | None = None) -> Tensor:
    return _binary("Pow", x, y, name)


def maximum(x: Any, y: Any, name: str | None = None) -> Tensor:
    return _binary("Maximum", x, y, name)


def minimum(x: Any, y: Any, name: str | None = None) -> Tensor:
    return _binary("Minimum", x, y, name)


def squared_difference(x: Any, y: Any, name: str | None = None) -> Tensor:
    return _binary("SquaredDifference", x, y, name)


def negative(x: Any, name: str | None = None) -> Tensor:
    return _unary("Neg", x, name)


def square(x: Any, name: str | None = None) -> Tensor:
    return _unary("Square", x, name)


def sqrt(x: Any, name: str | None = None) -> Tensor:
    return _unary("Sqrt", x, name)


def rsqrt(x: Any, name: str | None = None) -> Tensor:
    return _unary("Rsqrt", x, name)


def reciprocal(x: Any, name: str | None = None) -> Tensor:
    return _unary("Reciprocal", x, name)


def exp(x: Any, name: str | None = None) -> Tensor:
    return _unary("Exp", x, name)


def log(x: Any, name: str | None = None) -> Tensor:
    return _unary("Log", x, name)


def log1p(x: Any, name: str | None = None) -> Tensor:
    return _unary("Log1p", x, name)


def sin(x: Any, name: str | None = None) -> Tensor:
    return _unary("Sin", x, name)


def cos(x: Any, name: str | None = None) -> Tensor:
    return _unary("Cos", x, name)


def abs(x: Any, name: str | None = None) -> Tensor:
    return _unary("Abs", x, name)


def sign(x: Any, name: str | None = None) -> Tensor:
    return _unary("Sign", x, name)


def floor(x: Any, name: str | None = None) -> Tensor:
    return _unary("Floor", x, name)


def ceil(x: Any, name: str | None = None) -> Tensor:
    return _unary("Ceil", x, name)


def round(x: Any, name: str | None = None) -> Tensor:
    return _unary("Round", x, name)


def is_nan(x: Any, name: str | None = None) -> Tensor:
    return _unary("IsNan", x, name)


def is_inf(x: Any, name: str | None = None) -> Tensor:
    return _unary("IsInf", x, name)


def is_finite(x: Any, name: str | None = None) -> Tensor:
    return _unary("IsFinite", x, name)


def equal(x: Any, y: Any, name: str | None = None) -> Tensor:
    return _binary("Equal", x, y, name)


def not_equal(x: Any, y: Any, name: str | None = None) -> Tensor:
    return _binary("NotEqual", x, y, name)


def less(x: Any, y: Any, name: str | None = None) -> Tensor:
    return _binary("Less", x, y, name)


def less_equal(x: Any, y: Any, name: str | None = None) -> Tensor:
    return _binary("LessEqual", x, y, name)


def greater(x: Any, y: Any, name: str | None = None) -> Tensor:
    return _binary("Greater", x, y, name)


def greater_equal(x: Any, y: Any, name: str | None = None) -> Tensor:
    return _binary("GreaterEqual", x, y, name)


def logical_and(x: Any, y: Any, name: str | None = None) -> Tensor:
    return _binary("LogicalAnd", x, y, name)


def logical_or(x: Any, y: Any, name: str | None = None) -> Tensor:
    return _binary("LogicalOr", x, y, name)


def logical_xor(x: Any, y: Any, name: str = "LogicalXor") -> Tensor:
    return _binary("LogicalXor", x, y, name)


def logical_not(x: Any, name: str | None = None) -> Tensor:
    return _unary("LogicalNot", x, name)


def where(condition: Any, x: Any = None, y: Any = None, name: str | None = None) -> Tensor:
    """TF 1.x: `where(c, x, y)` picks from x where c is true, else from y; `where(c)` gives the
    coordinates of c's true elements as an int64 [N, rank] tensor."""
    if x is None and y is None:
        return _unary("Where", condition, name)
    if x is None or y is None:
        raise ValueError("x and y must both be non-None or both be None.")
    x, y = binary_inputs(x, y)
    return make_op("Select", [condition, x, y], name=name or "Select").outputs[0]


def clip_by_value(t: Any, clip_value_min: Any, clip_value_max: Any,
                  name: str | None = None) -> Tensor:
    """t limited to [clip_value_min, clip_value_max]; python bounds take t's dtype."""
    t, lo = binary_inputs(t, clip_value_min)
    t, hi = binary_inputs(t, clip_value_max)
    return make_op("ClipByValue", [t, lo, hi], name=name or "clip_by_value").outputs[0]


def cast(x: Any, dtype: Any, name: str | None = None) -> Tensor:
    """x converted to `dtype` (floats truncate toward zero); x itself when already of it."""
    dst = _dtypes.as_dtype(dtype)
    x = convert_to_tensor(x)
    if x.dtype == dst:
        return x
    if _dtypes.string in (x.dtype, dst):
        raise TypeError(f"Cast {x.dtype.name} to {dst.name} is not supported (tensor {x.name}).")
    return make_op("Cast", [x], {"DstT": dst}, name or "Cast").outputs[0]


def to_float(x: Any, name: str = "ToFloat") -> Tensor:
    return cast(x, _dtypes.float32, name)


def to_double(x: Any, name: str = "ToDouble") -> Tensor:
    return cast(x, _dtypes.float64, name)


def to_int32(x: Any, name: str = "ToInt32") -> Tensor:
    return cast(x, _dtypes.int32, name)


def to_int64(x: Any, name: str = "ToInt64") -> Tensor:
    return cast(x, _dtypes.int64, name)


def scalar_mul(scalar: Any, x: Any, name: str | None = None) -> Tensor:
    """scalar * x, where scalar must be 0-d (TF checks that it is)."""
    scalar, x = binary_inputs(scalar, x)
    if scalar.static_shape != ():
        raise ValueError(f"Only scalar multiply works, got shape {scalar.get_shape()}")
    return multiply(scalar, x, name=name)


def add_n(inputs: list[Any], name: str | None = None) -> Tensor:
    if not isinstance(inputs, list | tuple) or not inputs:
        raise ValueError(f"inputs must be a list of at least one Tensor with the same dtype and "
                         f"shape, got {inputs!r}.")
    return make_op("AddN", list(inputs), name=name or "AddN").outputs[0]


def _scan(op_type: str, x: Any, axis: Any, exclusive: bool, reverse: bool,
          name: str | None) -> Tensor:
    from engine.ops.array_ops import int_arg  # array_ops imports this module

    attrs = {"axis": int_arg(axis, "axis"), "exclusive": bool(exclusive),
             "reverse": bool(reverse)}
    return make_op(op_type, [x], attrs, name or op_type).outputs[0]


def cumsum(x: Any, axis: Any = 0, exclusive: bool = False, reverse: bool = False,
           name: str | None = None) -> Tensor:
    """Running sums along `axis`: [a, b, c] -> [a, a + b, a + b + c]."""
    return _scan("Cumsum", x, axis, exclusive, reverse, name)


def cumprod(x: Any, axis: Any = 0, exclusive: bool = False, reverse: bool = False,
            name: str | None = None) -> Tensor:
    """Running products along `axis`: [a, b, c] -> [a, a * b, a * b * c]."""
    return _scan("Cumprod", x, axis, exclusive, reverse, name)


def matmul(a: Any, b: Any, transpose_a: bool = False, transpose_b: bool = False,
           adjoint_a: bool = False, adjoint_b: bool = False, a_is_sparse: bool = False,
           b_is_sparse: bool = False, name: str | None = None) -> Tensor:
    attrs = {"transpose_a": transpose_a or adjoint_a, "transpose_b": transpose_b or adjoint_b}
    a, b = binary_inputs(a, b)
    return make_op("MatMul", [a, b], attrs, name or "MatMul").outputs[0]


def _contraction_axes(axes: Any, rank_a: int, rank_b: int) -> tuple[list[int], list[int]]:
    """tensordot's `axes` (an int n: a's last n with b's first n; or a pair of int lists) as
    two equally long lists of non-negative axes."""
    from engine.ops.array_ops import int_arg, ints_arg

    if isinstance(axes, list | tuple):
        if len(axes) != 2:
            raise ValueError(f"'axes' must be an int or a pair of axis lists, got {axes!r}.")
        pairs = [list(ints_arg(axes[0], "axes[0]")), list(ints_arg(axes[1], "axes[1]"))]
    else:
        n = int_arg(axes, "axes")
        if not 0 <= n <= min(rank_a, rank_b):
            raise ValueError(f"'axes' must be in [0, {min(rank_a, rank_b)}] (the smaller rank "
                             f"of a and b), got {n}.")
        pairs = [list(range(rank_a - n, rank_a)), list(range(n))]
    if len(pairs[0]) != len(pairs[1]):
        raise ValueError(f"Different number of contraction axes 'a' and 'b', "
                         f"{len(pairs[0])} != {len(pairs[1])}.")
    for which, listed, rank in (("a", pairs[0], rank_a), ("b", pairs[1], rank_b)):
        if any(not -rank <= ax < rank for ax in listed) or len(
                {ax % rank for ax in listed}) != len(listed):
            raise ValueError(f"'axes' for {which} must be distinct axes in [{-rank}, {rank}), "
                             f"got {listed}.")
        listed[:] = [ax % rank for ax in listed]
    return pairs[0], pairs[1]


def tensordot(a: Any, b: Any, axes: Any, name: str | None = None) -> Tensor:
    """Sum of products over `axes` of a and b. Composed, as in TF, of one matmul between a and
    b transposed and reshaped to matrices, so its gradient comes from those ops."""
    from engine.ops import array_ops, reduction_ops  # both import this module

    a, b = binary_inputs(a, b)
    sa, sb = a.static_shape, b.static_shape
    if sa is None or sb is None:
        raise ValueError(f"tensordot needs a and b of known rank, got shapes {fmt(sa)} and "
                         f"{fmt(sb)}.")
    axes_a, axes_b = _contraction_axes(axes, len(sa), len(sb))
    inner: list[int | None] = []
    for i, j in zip(axes_a, axes_b, strict=True):
        if None not in (sa[i], sb[j]) and sa[i] != sb[j]:
            raise ValueError(f"Dimension {i} of a ({sa[i]}) must equal dimension {j} of b "
                             f"({sb[j]}) to contract them; shapes are {fmt(sa)} and {fmt(sb)}.")
        inner.append(sa[i] if sa[i] is not None else sb[j])
    free_a = [i for i in range(len(sa)) if i not in axes_a]
    free_b = [j for j in range(len(sb)) if j not in axes_b]
    with a.graph.name_scope(name or "Tensordot"):
        shape_a, shape_b = array_ops.shape(a), array_ops.shape(b)
        depth: Any = math.prod(inner) if None not in inner else reduction_ops.reduce_prod(
            array_ops.gather(shape_a, axes_a))
        left = array_ops.reshape(array_ops.transpose(a, free_a + axes_a), [-1, depth])
        right = array_ops.reshape(array_ops.transpose(b, axes_b + free_b), [depth, -1])
        dims = [shape_a[i] if sa[i] is None else sa[i] for i in free_a] + [
            shape_b[j] if sb[j] is None else sb[j] for j in free_b]
        return array_ops.reshape(matmul(left, right), dims)


def einsum(equation: str, *inputs: Any, name: str | None = None) -> Tensor:
    """Sums of products over the letters of `equation`, as numpy's einsum: 'ij,jk->ik' is a
    matmul, 'ii->i' a diagonal, 'ji' a transpose (without '->' the output has the letters used
    once, in alphabetical order); '...' stands for dims that broadcast."""
    if not isinstance(equation, str):
        raise TypeError(f"einsum's equation must be a string such as 'ij,jk->ik', got "
                        f"{equation!r}.")
    return make_op("Einsum", list(inputs), {"equation": equation},
                   name or "einsum").outputs[0]
