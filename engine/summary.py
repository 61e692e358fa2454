"""`tf.summary`: summary ops and the FileWriter that records their values.

A summary op outputs a 0-d `string` tensor holding JSON bytes that map tags to numbers,
`b'{"loss": 0.25}'`; `merge`/`merge_all` combine them. Pass the fetched bytes to
`FileWriter.add_summary`, which appends one JSON line per tag to

    <logdir>/metrics.jsonl:  {"tag": "loss", "value": 0.25, "step": 100, "wall_time": 1.7e9}

(`step` is null without a global step; non-finite values are written as NaN/Infinity, as
Python's json does). The platform's job runner collects exactly these lines as the trial's
metrics, so the file name and fields are an interface.

When the environment variable `KUMO_METRICS_FILE` names a file (the job runner sets it for
each trial; read when a FileWriter is made), every FileWriter also appends each of those
lines there: parent directories are created, the file is opened in append mode and each line
goes out in one `write` call, so several writers (processes or threads) sharing the file
never interleave within a line. Nothing is mirrored when the variable is unset or empty, or
when it names the writer's own metrics.jsonl. `FileWriter(logdir, graph)` and
`add_graph` write `<logdir>/graph.json`: the graph's nodes with their op types, inputs,
JSON-safe attributes and output dtypes/shapes.

Summary ops run on the host (their values are Python bytes), wherever their inputs live.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import time
from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import Any

import numpy as np

from engine import dtypes as _dtypes
from engine import errors, gfile
from engine.graph import (
    Graph,
    GraphKeys,
    Operation,
    Tensor,
    convert_to_tensor,
    get_default_graph,
    graph_of,
)
from engine.ops.math_ops import shape_error
from engine.registry import ExecContext, Kernel, OpDef, Spec, register

METRICS_FILENAME = "metrics.jsonl"
GRAPH_FILENAME = "graph.json"

__all__ = ["FileWriter", "histogram", "merge", "merge_all", "scalar"]

_INVALID_TAG_CHARACTERS = re.compile(r"[^-/\w.]")


def _encode(values: dict[str, float]) -> np.ndarray:
    """A 0-d string (object) array holding the JSON bytes: summaries are host values."""
    out = np.empty((), dtype=object)
    out[()] = json.dumps(values).encode()
    return out


class _Summary(OpDef):
    """A summary of input 0 under the tag in attr `tag`; `summarize` maps the host array to
    {tag: number}."""

    differentiable = False

    def check(self, op: Operation) -> None:
        """Build-time checks of the summarized tensor."""

    def infer(self, op: Operation) -> list[Spec]:
        if not op.inputs[0].dtype.is_numeric and not op.inputs[0].dtype.is_bool:
            raise TypeError(f"'{op.type}' Op summarizes numbers, got a "
                            f"{op.inputs[0].dtype.name} tensor.")
        self.check(op)
        return [((), _dtypes.string)]

    def summarize(self, op: Operation, tag: str, value: np.ndarray) -> dict[str, float]:
        raise NotImplementedError

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        tag, to_host = op.attrs["tag"], ctx.backend.to_host
        return lambda value: _encode(self.summarize(op, tag, to_host(value)))


@register
class ScalarSummary(_Summary):
    def check(self, op: Operation) -> None:
        if op.inputs[0].static_shape not in (None, ()):
            raise shape_error(op, "tags and values not the same shape: the value must be a "
                                  "scalar")

    def summarize(self, op: Operation, tag: str, value: np.ndarray) -> dict[str, float]:
        if value.ndim:
            raise errors.InvalidArgumentError(
                None, op, f"tags and values not the same shape: [] != {list(value.shape)} "
                          f"(tag '{tag}')")
        return {tag: float(value)}


@register
class HistogramSummary(_Summary):
    """Recorded as three scalars, '<tag>/min', '<tag>/max' and '<tag>/mean'."""

    def summarize(self, op: Operation, tag: str, value: np.ndarray) -> dict[str, float]:
        if not value.size:
            return {}
        value = value.astype(np.float64)
        lo, hi = float(value.min()), float(value.max())
        if math.isnan(lo) or math.isnan(hi):
            raise errors.InvalidArgumentError(None, op, f"Nan in summary histogram for: {tag}")
        return {f"{tag}/min": lo, f"{tag}/max": hi, f"{tag}/mean": float(value.mean())}


@register
class MergeSummary(OpDef):
    differentiable = False

    def infer(self, op: Operation) -> list[Spec]:
        for t in op.inputs:
            if t.dtype != _dtypes.string:
                raise TypeError(f"tf.summary.merge takes summary tensors, got {t.name} of "
                                f"dtype {t.dtype.name}.")
        return [((), _dtypes.string)]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        def merge_all(*summaries: np.ndarray) -> np.ndarray:
            merged: dict[str, float] = {}
            for summary in summaries:
                for tag, value in json.loads(summary[()]).items():
                    if tag in merged:
                        raise errors.InvalidArgumentError(
                            None, op, f"Duplicate tag {tag} found in summary inputs")
                    merged[tag] = value
            return _encode(merged)

        return merge_all


# -- building ---------------------------------------------------------------------------------
def _clean_tag(name: str) -> str:
    return _INVALID_TAG_CHARACTERS.sub("_", name).lstrip("/")


@contextlib.contextmanager
def _summary_scope(graph: Graph, name: str, family: str | None) -> Iterator[tuple[str, str]]:
    """(tag, op name) as TF 1.x makes them: the name scope's path, prefixed by `family`."""
    name = _clean_tag(name)
    family = None if family is None else _clean_tag(family)
    with graph.name_scope(name if family is None else f"{family}/{name}") as scope:
        path = scope.rstrip("/")
        yield (path if family is None else f"{family}/{path}"), path


def _summary(op_type: str, name: str, tensor: Any, collections: Sequence[str] | None,
             family: str | None) -> Tensor:
    tensor = convert_to_tensor(tensor, graph=graph_of([tensor]))
    graph = tensor.graph
    with _summary_scope(graph, name, family) as (tag, op_name), graph.device("/cpu:0"):
        out = graph.create_op(op_type, [tensor], {"tag": tag}, op_name, exact_name=True)
    graph.add_to_collections(
        [GraphKeys.SUMMARIES] if collections is None else collections, out.outputs[0])
    return out.outputs[0]


def scalar(name: str, tensor: Any, collections: Sequence[str] | None = None,
           family: str | None = None) -> Tensor:
    """Record a scalar under the tag `name` (prefixed by the enclosing name scopes)."""
    return _summary("ScalarSummary", name, tensor, collections, family)


def histogram(name: str, values: Any, collections: Sequence[str] | None = None,
              family: str | None = None) -> Tensor:
    """Record the min, max and mean of `values` (TF keeps buckets; the metrics file keeps
    numbers)."""
    return _summary("HistogramSummary", name, values, collections, family)


def merge(inputs: Sequence[Any], collections: Sequence[str] | None = None,
          name: str | None = None) -> Tensor:
    """One summary holding all tags of `inputs`; duplicate tags fail at run time."""
    graph = graph_of(list(inputs))
    tensors = [convert_to_tensor(t, graph=graph) for t in inputs]
    with graph.device("/cpu:0"):
        out = graph.create_op("MergeSummary", tensors, name=name or "Merge").outputs[0]
    graph.add_to_collections(collections or [], out)
    return out


def merge_all(key: str = GraphKeys.SUMMARIES, scope: str | None = None,
              name: str | None = None) -> Tensor | None:
    """Merge the summaries of the default graph's collection `key`; None when it is empty."""
    summaries = get_default_graph().get_collection(key, scope)
    return merge(summaries, name=name) if summaries else None


# -- writing ----------------------------------------------------------------------------------
class FileWriter:
    """Appends summary values to `<logdir>/metrics.jsonl` and writes `<logdir>/graph.json`."""

    def __init__(self, logdir: str, graph: Graph | None = None) -> None:
        """`logdir`: a directory, file:// URI or any tf.gfile URI (a remote file is uploaded
        whole every few seconds and when the writer closes)."""
        logdir = gfile.resolve(logdir)
        gfile.MakeDirs(logdir)
        self._logdir = logdir
        own = gfile.join(logdir, METRICS_FILENAME)
        self._file = gfile.GFile(own, "a")
        self._mirror = _open_mirror(own)  # KUMO_METRICS_FILE's descriptor, or None
        if graph is not None:
            self.add_graph(graph)

    def get_logdir(self) -> str:
        return self._logdir

    def add_summary(self, summary: bytes | str, global_step: Any = None) -> None:
        """Append one line per tag of `summary` (the bytes a summary tensor evaluates to).
        Each call is written and flushed at once, so a reader never sees half of it."""
        step = None if global_step is None else int(global_step)
        wall_time = time.time()
        lines = [json.dumps({"tag": tag, "value": value, "step": step, "wall_time": wall_time})
                 for tag, value in json.loads(summary).items()]
        if lines:
            self._file.write("\n".join(lines) + "\n")
            self._file.flush()
            if self._mirror is not None:
                for line in lines:  # one O_APPEND write per line: whole lines only
                    os.write(self._mirror, f"{line}\n".encode())

    def add_graph(self, graph: Graph) -> None:
        document = {"nodes": [_node(op) for op in graph.get_operations()]}
        gfile.write_file(gfile.join(self._logdir, GRAPH_FILENAME), json.dumps(document).encode())

    def flush(self) -> None:
        gfile.sync(self._file)

    def close(self) -> None:
        self._file.close()
        if self._mirror is not None:
            os.close(self._mirror)
            self._mirror = None

    def __enter__(self) -> FileWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


METRICS_FILE_ENV = "KUMO_METRICS_FILE"


def _open_mirror(own_path: str) -> int | None:
    """An append-only descriptor for $KUMO_METRICS_FILE, unless unset or `own_path` itself."""
    path = os.environ.get(METRICS_FILE_ENV, "")
    if not path:
        return None
    path = os.path.abspath(path)
    if os.path.realpath(path) == os.path.realpath(own_path):
        return None
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)


def _node(op: Operation) -> dict[str, Any]:
    return {
        "name": op.name,
        "op": op.type,
        "inputs": [t.name for t in op.inputs],
        "control_inputs": [c.name for c in op.control_inputs],
        "device": op.device,
        "attrs": {k: _json_safe(v) for k, v in op.attrs.items()},
        "outputs": [{"dtype": t.dtype.name, "shape": _json_safe(t.static_shape)}
                    for t in op.outputs],
    }


_MAX_INLINE_ELEMENTS = 16


def _json_safe(value: Any) -> Any:
    """Attributes as JSON: dtypes by name, shapes as lists, arrays inline only when small."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, _dtypes.DType):
        return value.name
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        described: dict[str, Any] = {"dtype": str(value.dtype), "shape": list(value.shape)}
        if value.size <= _MAX_INLINE_ELEMENTS and value.dtype.kind in "biuf":
            described["value"] = value.tolist()
        return described
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    return repr(value)
