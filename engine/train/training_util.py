"""The global step: an int64 scalar Variable 'global_step' counting training steps.

It lives in the GLOBAL_STEP and GLOBAL_VARIABLES collections (never trainable), so
`apply_gradients(..., global_step=...)` can increment it and Savers checkpoint it.
"""

from __future__ import annotations

from typing import Any

from engine import dtypes as _dtypes
from engine.graph import Graph, GraphKeys, get_default_graph
from engine.variables import Variable


def get_global_step(graph: Graph | None = None) -> Variable | None:
    """The graph's global step variable, or None when it has none."""
    graph = graph or get_default_graph()
    found = graph.get_collection(GraphKeys.GLOBAL_STEP)
    if len(found) > 1:
        raise TypeError("Multiple tensors in global_step collection.")
    return found[0] if found else None


def create_global_step(graph: Graph | None = None) -> Variable:
    """Make the graph's global step (0); ValueError if it already has one."""
    graph = graph or get_default_graph()
    if get_global_step(graph) is not None:
        raise ValueError('"global_step" already exists.')
    with graph.as_default(), graph.name_scope(None):
        return Variable(0, trainable=False, name="global_step", dtype=_dtypes.int64,
                        collections=[GraphKeys.GLOBAL_VARIABLES, GraphKeys.GLOBAL_STEP])


def get_or_create_global_step(graph: Graph | None = None) -> Variable:
    step = get_global_step(graph)
    return create_global_step(graph) if step is None else step


def global_step(sess: Any, global_step_tensor: Any) -> int:
    """The step's current value in `sess`, as a python int."""
    return int(sess.run(global_step_tensor))
