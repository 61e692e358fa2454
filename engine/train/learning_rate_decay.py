"""TF 1.x's learning-rate schedules (`tf.train.exponential_decay`, ...): scalar tensors of the
global step, built from graph ops, so an optimizer given one reads the decayed rate at every
step while `minimize(..., global_step=gs)` advances the step.

The step is cast to the learning rate's dtype (float32 for a python float) before the formulas,
as TF does; each function documents its formula in terms of p = global_step / decay_steps.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from engine.graph import Tensor, convert_to_tensor, graph_of
from engine.ops import math_ops
from engine.ops.array_ops import constant

__all__ = ["cosine_decay", "exponential_decay", "inverse_time_decay", "natural_exp_decay",
           "piecewise_constant", "polynomial_decay"]


@contextmanager
def _schedule(name: str, learning_rate: Any, global_step: Any,
              *rest: Any) -> Iterator[tuple[Tensor, Tensor, list[Tensor]]]:
    """The learning rate as a tensor, the step and `rest` cast to its dtype, inside the name
    scope `name` of their graph."""
    if global_step is None:
        raise ValueError(f"global_step is required for {name}.")
    graph = graph_of([learning_rate, global_step, *rest])
    with graph.as_default(), graph.name_scope(name):
        lr = convert_to_tensor(learning_rate, name="learning_rate")
        if not lr.dtype.is_floating:
            raise TypeError(f"{name}: learning_rate must be a float, got {lr.dtype.name}.")
        yield lr, math_ops.cast(global_step, lr.dtype), [math_ops.cast(v, lr.dtype)
                                                         for v in rest]


def _progress(step: Tensor, decay_steps: Tensor, staircase: bool) -> Tensor:
    """p = step / decay_steps, floored when `staircase` (the rate then changes every
    decay_steps steps instead of at every step)."""
    p = step / decay_steps
    return math_ops.floor(p) if staircase else p


def exponential_decay(learning_rate: Any, global_step: Any, decay_steps: Any, decay_rate: Any,
                      staircase: bool = False, name: str | None = None) -> Tensor:
    """learning_rate * decay_rate ^ p."""
    with _schedule(name or "ExponentialDecay", learning_rate, global_step, decay_steps,
                   decay_rate) as (lr, step, (steps, rate)):
        return math_ops.multiply(lr, math_ops.pow(rate, _progress(step, steps, staircase)))


def natural_exp_decay(learning_rate: Any, global_step: Any, decay_steps: Any, decay_rate: Any,
                      staircase: bool = False, name: str | None = None) -> Tensor:
    """learning_rate * exp(-decay_rate * p)."""
    with _schedule(name or "NaturalExpDecay", learning_rate, global_step, decay_steps,
                   decay_rate) as (lr, step, (steps, rate)):
        return math_ops.multiply(lr, math_ops.exp(-rate * _progress(step, steps, staircase)))


def inverse_time_decay(learning_rate: Any, global_step: Any, decay_steps: Any, decay_rate: Any,
                       staircase: bool = False, name: str | None = None) -> Tensor:
    """learning_rate / (1 + decay_rate * p)."""
    with _schedule(name or "InverseTimeDecay", learning_rate, global_step, decay_steps,
                   decay_rate) as (lr, step, (steps, rate)):
        return math_ops.divide(lr, 1.0 + rate * _progress(step, steps, staircase))


def polynomial_decay(learning_rate: Any, global_step: Any, decay_steps: Any,
                     end_learning_rate: Any = 0.0001, power: Any = 1.0, cycle: bool = False,
                     name: str | None = None) -> Tensor:
    """(learning_rate - end) * (1 - p) ^ power + end, with the step held at decay_steps
    afterwards; with `cycle`, decay_steps grows to the first multiple of itself above the
    step instead, so the decay restarts."""
    with _schedule(name or "PolynomialDecay", learning_rate, global_step, decay_steps,
                   end_learning_rate, power) as (lr, step, (steps, end, exponent)):
        if cycle:
            multiplier = math_ops.where(math_ops.equal(step, 0.0), constant(1.0, lr.dtype),
                                        math_ops.ceil(step / steps))
            steps = steps * multiplier
        else:
            step = math_ops.minimum(step, steps)
        p = step / steps
        return math_ops.add((lr - end) * math_ops.pow(1.0 - p, exponent), end)


def cosine_decay(learning_rate: Any, global_step: Any, decay_steps: Any, alpha: Any = 0.0,
                 name: str | None = None) -> Tensor:
    """learning_rate * ((1 - alpha) * 0.5 * (1 + cos(pi * p)) + alpha), the step held at
    decay_steps afterwards."""
    with _schedule(name or "CosineDecay", learning_rate, global_step, decay_steps,
                   alpha) as (lr, step, (steps, alpha_t)):
        p = math_ops.minimum(step, steps) / steps
        cosine = 0.5 * (1.0 + math_ops.cos(math.pi * p))
        return math_ops.multiply(lr, (1.0 - alpha_t) * cosine + alpha_t)


def piecewise_constant(x: Any, boundaries: Sequence[Any], values: Sequence[Any],
                       name: str | None = None) -> Tensor:
    """values[0] while x <= boundaries[0], values[i] while boundaries[i-1] < x <=
    boundaries[i], values[-1] once x > boundaries[-1]."""
    if len(boundaries) != len(values) - 1:
        raise ValueError("The length of boundaries should be 1 less than the length of values")
    graph = graph_of([x, *boundaries, *values])
    with graph.as_default(), graph.name_scope(name or "PiecewiseConstant"):
        x = convert_to_tensor(x)
        picked = [convert_to_tensor(v) for v in values]
        for v in picked[1:]:
            if v.dtype != picked[0].dtype:
                raise ValueError(f"Values must have elements all with the same dtype "
                                 f"({picked[0].dtype.name} vs {v.dtype.name}).")
        result = picked[0]
        for boundary, value in zip(boundaries, picked[1:], strict=True):
            result = math_ops.where(math_ops.greater(x, _boundary_like(boundary, x)), value,
                                    result)
        return result


def _boundary_like(boundary: Any, x: Tensor) -> Any:
    """An int32 boundary tensor cast to an int64 `x` (the global step), as TF promotes it:
    that cast is exact, and a step compared with `tf.constant(1000)` is the usual case."""
    if isinstance(boundary, Tensor) and boundary.dtype.name == "int32" \
            and x.dtype.name == "int64":
        return math_ops.cast(boundary, x.dtype)
    return boundary
