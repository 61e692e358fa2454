"""Print, print, Assert and the assert_* checks: ops that exist for their run-time side effect.

They are `stateful`, so a Session never folds or merges them, and they run whenever something
fetched depends on them, by data or through `tf.control_dependencies`. The engine has no string
tensors, so python strings among the printed data are kept in the op's `template` attr (None
marks where the next tensor input goes) and only the tensors are inputs.

Values are formatted on the host like TF's: `Print` and `Assert` use TF 1.x's
`Tensor::SummarizeValue` (the first `summarize` elements, in brackets per dimension, '...'
where cut); `tf.print` uses the TF 2 style (first and last `summarize` per dimension).
"""

from __future__ import annotations

import functools
import itertools
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from engine import errors
from engine.graph import Operation, Tensor, binary_inputs, convert_to_tensor, graph_of
from engine.ops import math_ops, reduction_ops
from engine.ops.array_ops import constant_value, int_arg, shape
from engine.ops.array_ops import rank as rank_of
from engine.ops.control_flow_ops import no_op
from engine.ops.math_ops import shape_error
from engine.registry import ExecContext, Kernel, OpDef, Spec, register

__all__ = [
    "Assert", "Print", "assert_equal", "assert_greater", "assert_greater_equal", "assert_less",
    "assert_less_equal", "assert_negative", "assert_non_negative", "assert_non_positive",
    "assert_none_equal", "assert_positive", "assert_rank", "print",
]

Template = tuple[str | None, ...]  # literal text, or None for the next tensor input


# -- formatting (host side) -----------------------------------------------------------------------
def _element(value: Any) -> str:
    """One element as TF's StrCat writes it: floats in 6 (float64: 15) significant digits, more
    only when needed to read back the same value; bools as 1/0."""
    value = np.asarray(value)[()]
    kind = value.dtype.kind
    if kind == "f":
        short, full = (6, 9) if value.dtype.itemsize <= 4 else (15, 17)
        text = f"{value:.{short}g}"
        return text if value != value or value.dtype.type(text) == value else f"{value:.{full}g}"
    if kind == "b":
        return "1" if value else "0"
    return str(value)


def _summary_v1(array: np.ndarray, limit: int) -> str:
    """TF 1.x's `Tensor::SummarizeValue(limit)`; a negative limit shows every element."""
    flat = array.reshape(-1)
    limit = flat.size if limit < 0 else min(limit, flat.size)
    items = [_element(v) for v in flat[:limit]]
    out: list[str] = []
    taken = 0

    def dim(d: int) -> None:
        nonlocal taken
        if d == array.ndim - 1:
            for i in range(array.shape[d]):
                if taken >= limit:
                    if d:
                        out.append("...")
                    return
                out.append(f" {items[taken]}" if i else items[taken])
                taken += 1
            return
        for _ in range(array.shape[d]):
            if taken >= limit:
                return
            out.append("[")
            dim(d + 1)
            out.append("]")

    if array.ndim == 0:
        out.extend(items)
    else:
        dim(0)
    if flat.size > limit:
        out.append("...")
    return "".join(out)


def _summary_v2(array: np.ndarray, summarize: int) -> str:
    """TF 2's tf.print form: nested brackets, the first and last `summarize` entries of each
    longer dimension around '...' (all of them when `summarize` is negative)."""
    return np.array2string(
        array, max_line_width=sys.maxsize, separator=" ", formatter={"all": _element},
        threshold=sys.maxsize if summarize < 0 else 0, edgeitems=max(summarize, 0))


def _render(template: Template, arrays: Sequence[np.ndarray],
            show: Callable[[np.ndarray], str], bracket: bool) -> list[str]:
    """The template's pieces as text: tensors through `show`; each piece in [..] if `bracket`
    (TF 1.x's Print and Assert bracket string tensors too)."""
    values = iter(arrays)
    texts = [piece if piece is not None else show(next(values)) for piece in template]
    return [f"[{t}]" for t in texts] if bracket else texts


def _split(data: Any, what: str) -> tuple[Template, list[Any]]:
    """`data` (a list of tensors, values and strings) as a template and its tensor inputs."""
    if isinstance(data, Tensor) or hasattr(data, "_as_graph_element") or isinstance(data, str):
        data = [data]
    if not isinstance(data, list | tuple):
        raise TypeError(f"{what} must be a list of tensors (or strings), got {data!r}.")
    template = tuple(d if isinstance(d, str) else None for d in data if d is not None)
    return template, [d for d in data if d is not None and not isinstance(d, str)]


def _summarize_arg(summarize: Any, default: int) -> int:
    return default if summarize is None else int_arg(summarize, "summarize")


class _LoggingOp(OpDef):
    """Shared by the ops below: stateful (never folded, merged or skipped) and host-formatted."""

    stateful = True
    differentiable = False

    @staticmethod
    def reader(ctx: ExecContext) -> Callable[[Sequence[Any]], list[np.ndarray]]:
        to_host = ctx.backend.to_host
        return lambda arrays: [np.asarray(to_host(a)) for a in arrays]


# -- Print ----------------------------------------------------------------------------------------
@register
class PrintOp(_LoggingOp):
    """Passes input 0 through; prints `message` and the other inputs to stderr when run, the
    first `first_n` times (counted per compiled run signature; negative: always)."""

    type = "Print"
    differentiable = True

    def infer(self, op: Operation) -> list[Spec]:
        x = op.inputs[0]
        return [(x.static_shape, x.dtype)]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        template, message = op.attrs["template"], op.attrs["message"]
        first_n, summarize, read = op.attrs["first_n"], op.attrs["summarize"], self.reader(ctx)
        show = functools.partial(_summary_v1, limit=summarize)
        runs = itertools.count()

        def print_(x: Any, *data: Any) -> Any:
            if first_n < 0 or next(runs) < first_n:
                texts = _render(template, read(data), show, bracket=True)
                sys.stderr.write(message + "".join(texts) + "\n")
            return x

        return print_

    def grad(self, op: Operation, dy: Tensor | None) -> list[Tensor | None]:
        return [dy] + [None] * (len(op.inputs) - 1)


def Print(input_: Any, data: Any, message: str | None = None, first_n: int | None = None,
          summarize: int | None = None, name: str | None = None) -> Tensor:
    """TF 1.x's tf.Print: `input_` unchanged, printing `message` and `data` whenever the result
    is computed (the print happens only if something fetched uses the returned tensor)."""
    if message is not None and not isinstance(message, str):
        raise TypeError(f"message must be a string, got {message!r}.")
    template, tensors = _split(data, "data")
    attrs = {"template": template, "message": message or "",
             "first_n": -1 if first_n is None else int_arg(first_n, "first_n"),
             "summarize": _summarize_arg(summarize, 3)}
    graph = graph_of([input_, *tensors])
    inputs = [convert_to_tensor(t, graph=graph) for t in (input_, *tensors)]
    return graph.create_op("Print", inputs, attrs, name or "Print").outputs[0]


# -- tf.print -------------------------------------------------------------------------------------
@register
class PrintV2(_LoggingOp):
    """Writes its inputs, formatted into the template, to the stream named in `stream`."""

    def infer(self, op: Operation) -> list[Spec]:
        return []

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        template, sep, end, stream = (op.attrs[k] for k in ("template", "sep", "end", "stream"))
        show, read = functools.partial(_summary_v2, summarize=op.attrs["summarize"]), \
            self.reader(ctx)

        def print_v2(*data: Any) -> None:
            text = sep.join(_render(template, read(data), show, bracket=False)) + end
            if stream.startswith("file://"):
                with open(stream[len("file://"):], "a", encoding="utf-8") as f:
                    f.write(text)
            else:
                getattr(sys, stream).write(text)  # looked up now: redirections stay visible

        return print_v2


def _stream_name(output_stream: Any) -> str:
    if output_stream is None or output_stream in (sys.stderr, sys.__stderr__):
        return "stderr"
    if output_stream in (sys.stdout, sys.__stdout__):
        return "stdout"
    if isinstance(output_stream, str) and output_stream.startswith("file://"):
        return output_stream
    raise ValueError(f"Unsupported output stream {output_stream!r}: use sys.stderr, sys.stdout "
                     f"or a 'file://<path>' string.")


def print(*inputs: Any, output_stream: Any = None, summarize: int | None = 3, sep: str = " ",
          end: str = "\n", name: str | None = None) -> Operation:
    """TF's tf.print: an op that writes `inputs` (tensors and strings) to `output_stream`
    (default sys.stderr) each time it runs; run it, or make something depend on it."""
    for arg, value in (("sep", sep), ("end", end)):
        if not isinstance(value, str):
            raise TypeError(f"{arg} must be a string, got {value!r}.")
    template, tensors = _split(list(inputs), "inputs")
    attrs = {"template": template, "sep": sep, "end": end, "stream": _stream_name(output_stream),
             "summarize": _summarize_arg(summarize, 3)}
    graph = graph_of(tensors)
    tensors = [convert_to_tensor(t, graph=graph) for t in tensors]
    return graph.create_op("PrintV2", tensors, attrs, name or "PrintV2")


# -- Assert ---------------------------------------------------------------------------------------
@register
class AssertOp(_LoggingOp):
    """Raises InvalidArgumentError, showing the data, when scalar input 0 is false."""

    type = "Assert"

    def infer(self, op: Operation) -> list[Spec]:
        condition = op.inputs[0]
        if condition.dtype.name != "bool":
            raise TypeError(f"Input 'condition' of 'Assert' Op has type {condition.dtype.name} "
                            f"that does not match expected type of bool (op '{op.name}').")
        if condition.static_shape not in (None, ()):
            raise shape_error(op, f"Shape must be rank 0 but is rank "
                                  f"{len(condition.static_shape)} for input 'condition'; "
                                  f"reduce it first (tf.reduce_all)")
        return []

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        template, read = op.attrs["template"], self.reader(ctx)
        show = functools.partial(_summary_v1, limit=op.attrs["summarize"])

        def assert_(condition: Any, *data: Any) -> None:
            if condition.ndim != 0:
                raise ValueError(f"In[0] should be a scalar: {list(condition.shape)}")
            if not condition:
                texts = _render(template, read(data), show, bracket=True)
                raise errors.InvalidArgumentError(
                    None, op, f"assertion failed: {' '.join(texts)} [[node {op.name}]]")

        return assert_


def Assert(condition: Any, data: Any, summarize: int | None = None,
           name: str | None = None) -> Operation:
    """An op that fails the run with the values of `data` if scalar bool `condition` is false;
    use it through tf.control_dependencies."""
    template, tensors = _split(data, "data")
    graph = graph_of([condition, *tensors])
    inputs = [convert_to_tensor(t, graph=graph) for t in (condition, *tensors)]
    attrs = {"template": template, "summarize": _summarize_arg(summarize, 3)}
    return graph.create_op("Assert", inputs, attrs, name or "Assert")


# -- assert_* (check_ops) -------------------------------------------------------------------------
def _static_check(holds: bool, data: Sequence[Any]) -> None:
    """TF's _assert_static: a condition known false at build time fails right away."""
    if not holds:
        parts = [d if isinstance(d, str) else str(_known(d)) for d in data]
        raise errors.InvalidArgumentError(None, None, "\n".join(parts))


def _known(t: Any) -> Any:
    value = constant_value(t) if isinstance(t, Tensor) else None
    return t if value is None else value


def _binary_assert(symbol: str, default_name: str, tf_compare: Callable[..., Tensor],
                   np_compare: Callable[..., Any], x: Any, y: Any, data: Any,
                   summarize: int | None, message: str | None, name: str | None) -> Operation:
    """Assert `x <symbol> y` element-wise; checked at build time when both are constants."""
    x, y = binary_inputs(x, y)
    with x.graph.name_scope(name or default_name):
        if data is None:
            data = [f"Condition x {symbol} y did not hold element-wise:",
                    f"x ({x.name}) = ", x, f"y ({y.name}) = ", y]
        if message is not None:
            data = [message, *data]
        condition = reduction_ops.reduce_all(tf_compare(x, y))
        x_static, y_static = constant_value(x), constant_value(y)
        if x_static is not None and y_static is not None:
            _static_check(bool(np.all(np_compare(x_static, y_static))), data)
        return Assert(condition, data, summarize=summarize)


def _comparison(symbol: str, default_name: str, tf_compare: Callable[..., Tensor],
                np_compare: Callable[..., Any]) -> Callable[..., Operation]:
    def check(x: Any, y: Any, data: Any = None, summarize: int | None = None,
              message: str | None = None, name: str | None = None) -> Operation:
        return _binary_assert(symbol, default_name, tf_compare, np_compare, x, y, data,
                              summarize, message, name)

    check.__name__ = check.__qualname__ = default_name
    check.__doc__ = f"An Assert op checking x {symbol} y element-wise (TF's tf.{default_name})."
    return check


assert_equal = _comparison("==", "assert_equal", math_ops.equal, np.equal)
assert_none_equal = _comparison("!=", "assert_none_equal", math_ops.not_equal, np.not_equal)
assert_less = _comparison("<", "assert_less", math_ops.less, np.less)
assert_less_equal = _comparison("<=", "assert_less_equal", math_ops.less_equal, np.less_equal)
assert_greater = _comparison(">", "assert_greater", math_ops.greater, np.greater)
assert_greater_equal = _comparison(">=", "assert_greater_equal", math_ops.greater_equal,
                                   np.greater_equal)


def _sign_check(symbol: str, default_name: str, zero_first: bool,
                compare: Callable[..., Operation]) -> Callable[..., Operation]:
    """assert_positive and kin: `compare` against a zero of x's dtype."""

    def check(x: Any, data: Any = None, summarize: int | None = None,
              message: str | None = None, name: str | None = None) -> Operation:
        graph = graph_of([x])
        with graph.name_scope(name or default_name):
            x = convert_to_tensor(x, graph=graph)
            if data is None:
                data = [f"Condition x {symbol} 0 did not hold element-wise:",
                        f"x ({x.name}) = ", x]
            if message is not None:
                data = [message, *data]
            zero = convert_to_tensor(0, dtype=x.dtype, graph=graph)
            return compare(*((zero, x) if zero_first else (x, zero)), data=data,
                           summarize=summarize)

    check.__name__ = check.__qualname__ = default_name
    check.__doc__ = f"An Assert op checking x {symbol} 0 element-wise (TF's tf.{default_name})."
    return check


assert_positive = _sign_check(">", "assert_positive", True, assert_less)
assert_non_negative = _sign_check(">=", "assert_non_negative", True, assert_less_equal)
assert_negative = _sign_check("<", "assert_negative", False, assert_less)
assert_non_positive = _sign_check("<=", "assert_non_positive", False, assert_less_equal)


def assert_rank(x: Any, rank: Any, data: Any = None, summarize: int | None = None,
                message: str | None = None, name: str | None = None) -> Operation:
    """Assert that `x` has rank `rank`: a ValueError at build time when both are known (and a
    no-op when it holds), otherwise an Assert op checked at run time."""
    graph = graph_of([x, rank])
    with graph.name_scope(name or "assert_rank"):
        x = convert_to_tensor(x, graph=graph)
        if isinstance(rank, Tensor):
            if not rank.dtype.is_integer or rank.static_shape not in (None, ()):
                raise ValueError(f"Rank must be a scalar int tensor, got {rank!r}.")
            rank_static = constant_value(rank)
        else:
            rank_static = int_arg(rank, "rank")
        x_shape = x.static_shape
        if x_shape is not None and rank_static is not None:
            if len(x_shape) != int(rank_static):
                raise ValueError(f"{message or ''}.  Tensor {x.name} must have rank "
                                 f"{int(rank_static)}.  Received rank {len(x_shape)}, shape "
                                 f"{x.shape}")
            return no_op(name="static_checks_determined_all_ok")
        rank = convert_to_tensor(rank, graph=graph)
        if data is None:
            data = [f"Tensor {x.name} must have rank", rank, "Received shape: ", shape(x)]
        if message is not None:
            data = [message, *data]
        condition = math_ops.equal(rank_of(x), math_ops.cast(rank, rank_of(x).dtype))
        return Assert(condition, data, summarize=summarize)
