"""Norm clipping (`tf.clip_by_norm`, `tf.clip_by_global_norm`, ...), mostly for gradients.

Each is composed of existing ops with TF 1.x's formulas, so their gradients come from those
ops' gradients. (`tf.clip_by_value` is its own op, in math_ops.)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from engine.graph import Graph, Tensor, convert_to_tensor, graph_of
from engine.ops import array_ops, math_ops, nn_ops, reduction_ops
from engine.ops.control_flow_ops import identity
from engine.shapes import compatible, fmt

__all__ = ["clip_by_average_norm", "clip_by_global_norm", "clip_by_norm", "global_norm"]


@contextmanager
def _scope(values: Sequence[Any], name: str) -> Iterator[Graph]:
    """The graph of `values`, made the default, inside the name scope `name`."""
    graph = graph_of(values)
    with graph.as_default(), graph.name_scope(name):
        yield graph


def _tensor_list(t_list: Any) -> list[Tensor | None]:
    """`t_list` as tensors, Nones kept (gradients of unused variables are None)."""
    if not isinstance(t_list, list | tuple):
        raise TypeError(f"t_list should be a sequence, got {t_list!r}.")
    return [None if t is None else convert_to_tensor(t, name=f"t_{i}")
            for i, t in enumerate(t_list)]


def clip_by_norm(t: Any, clip_norm: Any, axes: Any = None, name: str | None = None) -> Tensor:
    """`t * clip_norm / max(l2norm(t), clip_norm)`: `t` rescaled so that its L2 norm (over
    `axes`, default all) is at most `clip_norm`; unchanged when it already is."""
    with _scope([t, clip_norm], name or "clip_by_norm"):
        values = convert_to_tensor(t, name="t")
        l2sum = reduction_ops.reduce_sum(values * values, axes, keepdims=True)
        positive = math_ops.greater(l2sum, 0.0)
        # sqrt only where the sum is positive: sqrt's gradient at 0 would be inf, and NaN here
        safe = math_ops.where(positive, l2sum, array_ops.ones_like(l2sum))
        l2norm = math_ops.where(positive, math_ops.sqrt(safe), l2sum)
        scaled = values * clip_norm
        if not compatible(values.static_shape, scaled.static_shape):
            raise ValueError(f"clip_by_norm: clip_norm must broadcast to the shape of t "
                             f"{fmt(values.static_shape)}, got {scaled.shape}.")
        return identity(scaled / math_ops.maximum(l2norm, clip_norm), name="clip_by_norm")


def global_norm(t_list: Sequence[Any], name: str | None = None) -> Tensor:
    """sqrt(sum of the squared L2 norms of the tensors in `t_list`); None entries are skipped."""
    values = [t for t in _tensor_list(t_list) if t is not None]
    if not values:
        raise ValueError("global_norm needs at least one tensor in t_list that is not None.")
    with _scope(values, name or "global_norm"):
        half_squared = reduction_ops.reduce_sum(array_ops.stack([nn_ops.l2_loss(v)
                                                                 for v in values]))
        return math_ops.sqrt(half_squared * 2.0, name="global_norm")


def clip_by_global_norm(t_list: Sequence[Any], clip_norm: Any, use_norm: Any = None,
                        name: str | None = None) -> tuple[list[Tensor | None], Tensor]:
    """(every tensor scaled by clip_norm / max(global_norm, clip_norm), the global norm).

    One scale for the whole list keeps the direction of the combined gradient. None entries
    stay None; an infinite or NaN norm makes every value NaN, as in TF."""
    values = _tensor_list(t_list)
    if use_norm is None:
        use_norm = global_norm(values, name)
    use_norm = convert_to_tensor(use_norm)
    present = [v for v in values if v is not None]
    with _scope([*present, use_norm, clip_norm], name or "clip_by_global_norm"):
        one = array_ops.constant(1.0, use_norm.dtype)
        scale = clip_norm * math_ops.minimum(one / use_norm, one / clip_norm)
        scale = scale + (use_norm - use_norm)  # NaN when the norm is not finite
        clipped = [None if v is None else identity(v * scale, name=f"clip_by_global_norm_{i}")
                   for i, v in enumerate(values)]
    return clipped, use_norm


def clip_by_average_norm(t: Any, clip_norm: Any, name: str | None = None) -> Tensor:
    """`t` scaled so that its L2 norm divided by its number of elements is at most
    `clip_norm`."""
    with _scope([t, clip_norm], name or "clip_by_average_norm"):
        values = convert_to_tensor(t, name="t")
        count = math_ops.cast(array_ops.size(values), values.dtype)
        inverse_norm = math_ops.rsqrt(reduction_ops.reduce_sum(values * values))
        one = array_ops.constant(1.0, values.dtype)
        return identity(values * clip_norm * math_ops.minimum(inverse_norm * count,
                                                              one / clip_norm),
                        name="clip_by_average_norm")
