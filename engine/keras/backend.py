"""`tf.keras.backend`: the graph that `tf.keras.Input` and the layers called on its tensors
build in, and the record of which layer call made which tensor.

As in TF 1.x Keras, functional models share one graph and session (the "Keras session"), so
models made from the same tensors share their layers' variables; `clear_session()` starts a
fresh one, and so does `tf.keras.utils.set_random_seed` (so seeded models repeat). A
Sequential model keeps a graph of its own. Layer calls on Keras tensors are recorded as
`Node`s, from which a Model finds its layers and replays them for its training pass; a model
called as a layer is one node, the calls inside it unrecorded.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from engine.graph import Graph, GraphKeys, Tensor, get_default_graph
from engine.session import Session
from engine.variables import Variable

__all__ = ["clear_session", "get_graph", "get_session", "is_keras_tensor"]

_seed: int | None = None


class Node:
    """One call of a layer on Keras tensors; `index` orders calls by creation, which is a
    topological order (a call's inputs exist before it), `node_index` counts the layer's
    own calls (Keras's `layer[node_index][tensor_index]` in summaries)."""

    def __init__(self, layer: Any, inputs: list[Tensor], listed: bool, outputs: list[Tensor],
                 training: Any, index: int, node_index: int) -> None:
        self.layer, self.inputs, self.listed, self.outputs = layer, inputs, listed, outputs
        self.training, self.index, self.node_index = training, index, node_index


class Runtime:
    """A graph, its session and the variables that session has initialized: what the models
    building in one graph must share, so that one model never re-initializes another's."""

    def __init__(self, graph: Graph | None = None) -> None:
        if graph is None:
            graph = Graph()
            graph.seed = _seed if _seed is not None else get_default_graph().seed
        self.graph = graph
        self.session = Session(graph=self.graph)
        self.initialized: set[Variable] = set()
        self.nodes: dict[Tensor, Node] = {}
        self._calls: dict[int, int] = {}  # id(layer) -> its calls so far
        self._uids: dict[str, int] = {}

    def initialize_new_variables(self) -> None:
        fresh = [v for v in self.graph.get_collection(GraphKeys.GLOBAL_VARIABLES)
                 if v not in self.initialized]
        self.session.run([v.initializer for v in fresh])
        self.initialized.update(fresh)

    def record(self, layer: Any, inputs: list[Tensor], listed: bool, outputs: list[Tensor],
               training: Any) -> None:
        node_index = self._calls.get(id(layer), 0)
        self._calls[id(layer)] = node_index + 1
        index = sum(self._calls.values())
        node = Node(layer, inputs, listed, outputs, training, index, node_index)
        self.nodes.update((t, node) for t in outputs)

    def uid(self, prefix: str) -> int:
        """1, 2, ... per prefix: Keras's default Input names are input_1, input_2, ..."""
        self._uids[prefix] = self._uids.get(prefix, 0) + 1
        return self._uids[prefix]


_current: Runtime | None = None
_unrecorded = 0  # how many model calls are running: their layers' calls are not recorded


def runtime() -> Runtime:
    """The Keras session's runtime, made on first use."""
    global _current
    if _current is None:
        _current = Runtime()
    return _current


def runtime_of(graph: Graph) -> Runtime:
    """The Keras session's runtime if `graph` is its graph, else a runtime (a session) around
    `graph`: where a model called on tensors of that graph builds."""
    if _current is not None and _current.graph is graph:
        return _current
    return Runtime(graph)


@contextmanager
def unrecorded() -> Iterator[None]:
    """Layer calls inside are not recorded: a model called as a layer is one node of the outer
    model, its own layers' calls are its business."""
    global _unrecorded
    _unrecorded += 1
    try:
        yield
    finally:
        _unrecorded -= 1


def get_graph() -> Graph:
    return runtime().graph


def get_session() -> Session:
    return runtime().session


def clear_session() -> None:
    """Forget the Keras graph: later Inputs and functional models start a fresh one (models
    made before keep theirs)."""
    global _current
    _current = None


def set_seed(seed: int) -> None:
    """The graph seed of every runtime made from now on; starts a fresh Keras session."""
    global _seed
    _seed = int(seed)
    clear_session()


def node_of(value: Any) -> Node | None:
    """The layer call that made `value`, if it is a tensor of the current Keras graph (and no
    model call is running)."""
    if _current is None or _unrecorded or not isinstance(value, Tensor):
        return None
    return _current.nodes.get(value)


def is_keras_tensor(value: Any) -> bool:
    """True for the tensors of tf.keras.Input and of tf.keras layers called on them."""
    return node_of(value) is not None
