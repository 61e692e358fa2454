"""Loading: a validated snapshot rebuilt into its own Graph and Session, behind `Predictor`.

A snapshot is read from a directory or from any store object with `read_bytes(name)`; only the
two or three file names of the format are ever asked for. Nothing in a file is executed,
imported or unpickled: model.json passes the schema check, the weights file must match its
SHA-256 and the declared table, and the graph is rebuilt op by op from the servable op set.
"""

from __future__ import annotations

import copy
import hashlib
import os
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import numpy as np

from engine import gfile
from engine.graph import Graph, Tensor
from engine.ops.control_flow_ops import SERVED_LOOP_BUDGET
from engine.saved_model import weights
from engine.saved_model.format import MODEL_FILE, SnapshotError, parse_json, shape_json
from engine.saved_model.schema import Signature, build_graph, validate_document
from engine.session import Session, _feed_check
from engine.shapes import compatible, fmt

# Value kinds (numpy dtype.kind) accepted for an input of each kind; bools widen to numbers.
_ACCEPTS = {"f": "fiub", "i": "iub", "u": "iub", "b": "b"}


class Store(Protocol):
    """Where a snapshot lives: the platform's object store passes an adapter like this."""

    def read_bytes(self, name: str) -> bytes: ...


class _Directory:
    """A snapshot directory: a local path, a file:// URI or a URI of a registered file
    system (tf.gfile)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = gfile.resolve(path)

    def read_bytes(self, name: str) -> bytes:
        try:
            return gfile.read_file(gfile.join(self.path, name))
        except IsADirectoryError:
            raise FileNotFoundError(name) from None

    def __str__(self) -> str:
        return self.path


def load(path_or_store: str | os.PathLike[str] | Store, signature_name: str | None = None, *,
         device: str | None = None) -> Predictor:
    """A Predictor for one signature of the snapshot at `path_or_store`: `signature_name`, or
    by default 'serving_default' (or the only signature there is). Raises SnapshotError for
    anything malformed, inconsistent or hostile."""
    store = _Directory(path_or_store) if isinstance(path_or_store, str | os.PathLike) \
        else path_or_store
    snapshot = validate_document(parse_json(_read(store, MODEL_FILE), MODEL_FILE))
    blob = _read(store, snapshot.weights_file)
    if hashlib.sha256(blob).hexdigest() != snapshot.sha256:
        raise SnapshotError(f"{snapshot.weights_file}: SHA-256 does not match model.json "
                            f"(corrupt or replaced file)")
    arrays = weights.decode(snapshot.weights_file, blob, snapshot.tensors)
    graph = build_graph(snapshot.nodes, arrays)
    names = list(snapshot.signatures)
    if signature_name is None:  # the only one there is, else TF's default name
        signature_name = names[0] if len(names) == 1 else "serving_default"
    if signature_name not in snapshot.signatures:
        raise SnapshotError(f"no signature {signature_name!r} in the snapshot; it has "
                            f"{', '.join(map(repr, names))}")
    return Predictor(graph, snapshot.signatures[signature_name], snapshot.metadata, device)


def _read(store: Any, name: str) -> bytes:
    try:
        data = store.read_bytes(name)
    except (FileNotFoundError, KeyError):
        raise SnapshotError(f"{store}: no {name} (not a snapshot, or an incomplete one)") from None
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"{type(store).__name__}.read_bytes returned "
                        f"{type(data).__name__}, expected bytes")
    return bytes(data)


class Predictor:
    """Runs one signature of a loaded snapshot: named arrays in, named arrays out.

    The plan and one check per input are made once, at load: a well-formed request (a dict
    of ndarrays of the right dtypes and shapes) costs a few comparisons per input on top of
    the plan's kernels; anything else takes the slow path, which converts what converts
    exactly and words errors naming the input. It keeps no state between calls, so several
    threads may call it at once.
    """

    def __init__(self, graph: Graph, signature: Signature, metadata: dict[str, Any],
                 device: str | None = None) -> None:
        self._session = Session(graph=graph, device=device)
        self._metadata = metadata
        tensors = {name: graph.get_tensor_by_name(ref) for name, ref in signature.inputs.items()}
        self._names = set(tensors)
        self._output_names = list(signature.outputs)
        outputs = [graph.get_tensor_by_name(ref) for ref in signature.outputs.values()]
        self._run = self._session._checked_callable(outputs, list(tensors.values()))
        self._checks = [(name, _feed_check(t, _slow_check(name, t)))
                        for name, t in tensors.items()]
        # rank-0 outputs come back from the session as numpy scalars: those need np.asarray
        self._scalars = any(not t.static_shape for t in outputs)
        # the limits that all loops of one prediction share (not each loop its own)
        self._loops = next((op.attrs["guard"] for op in graph.get_operations()
                            if op.type == "While"), None)
        self._signature = {
            "inputs": {name: _spec(t) for name, t in tensors.items()},
            "outputs": dict(zip(self._output_names, map(_spec, outputs), strict=True)),
        }

    @property
    def signature(self) -> dict[str, Any]:
        """{"inputs": {name: {"dtype": "float32", "shape": [None, 4]}}, "outputs": {...}}"""
        return copy.deepcopy(self._signature)

    @property
    def metadata(self) -> dict[str, Any]:
        return copy.deepcopy(self._metadata)

    def predict(self, inputs: Mapping[str, Any] | Any) -> dict[str, np.ndarray]:
        """Outputs by name for `inputs` by name (a bare array when there is one input)."""
        if inputs.__class__ is not dict or len(inputs) != len(self._checks):
            inputs = self._as_dict(inputs)
        try:  # as many names as inputs: a KeyError is the only sign of a wrong name
            feeds = [check(inputs[name]) for name, check in self._checks]
        except KeyError:
            self._as_dict(inputs)  # raises naming the unknown and missing inputs
            raise
        if self._loops is None:
            results = self._run(*feeds)
        else:
            token = SERVED_LOOP_BUDGET.set(self._loops.budget())
            try:
                results = self._run(*feeds)
            finally:
                SERVED_LOOP_BUDGET.reset(token)
        if self._scalars:
            results = map(np.asarray, results)
        return dict(zip(self._output_names, results, strict=True))

    def _as_dict(self, inputs: Any) -> dict[str, Any]:
        """`inputs` as a dict with exactly the signature's input names, or a ValueError."""
        if isinstance(inputs, Mapping):
            inputs = dict(inputs)
        elif len(self._checks) == 1:
            inputs = {self._checks[0][0]: inputs}
        else:
            names = ", ".join(repr(name) for name, _ in self._checks) or "none"
            raise ValueError(f"predict needs a dict of inputs ({names}), got "
                             f"{type(inputs).__name__}")
        if inputs.keys() != self._names:
            self._wrong_names(inputs)
        return inputs

    def _wrong_names(self, inputs: Mapping[str, Any]) -> None:
        expected = [name for name, _ in self._checks]
        problems = []
        unknown = [repr(k) for k in inputs if k not in expected]
        if unknown:
            problems.append(f"unknown input(s) {', '.join(unknown)}")
        missing = [repr(n) for n in expected if n not in inputs]
        if missing:
            problems.append(f"missing input(s) {', '.join(missing)}")
        raise ValueError(f"predict: {'; '.join(problems)} (expected "
                         f"{', '.join(map(repr, expected))})")

    def close(self) -> None:
        self._session.close()

    def __repr__(self) -> str:
        return f"<Predictor inputs={list(self._signature['inputs'])} " \
               f"outputs={self._output_names}>"


def _spec(t: Tensor) -> dict[str, Any]:
    return {"dtype": t.dtype.name, "shape": shape_json(t.static_shape)}


def _slow_check(name: str, t: Tensor) -> Callable[[Any], np.ndarray]:
    """The check of input `name` for what the fast comparisons did not pass: convert it
    (`_converted`) unless it is an ndarray of the right dtype already, then check its shape."""
    dtype, shape = t.dtype.np, t.static_shape

    def check(value: Any) -> np.ndarray:
        if value.__class__ is not np.ndarray or value.dtype is not dtype:
            value = _converted(value, name, t)
        if not compatible(shape, value.shape):
            raise ValueError(f"input {name!r}: expected shape {fmt(shape)}, got "
                             f"{fmt(value.shape)}")
        return value

    return check


def _converted(value: Any, name: str, t: Tensor) -> np.ndarray:
    """`value` as an array of input `name`'s dtype, converting only what converts exactly
    (no strings, no floats into ints, no ints out of range); a ValueError naming the input."""
    dtype = t.dtype.np
    try:
        array = np.asarray(value)
    except ValueError:
        raise ValueError(f"input {name!r}: ragged nested lists (rows of different lengths) "
                         f"cannot form a {t.dtype.name} tensor") from None
    if array.dtype.kind not in _ACCEPTS[dtype.kind]:
        got = "ragged or mixed lists" if array.dtype.kind == "O" else str(array.dtype)
        raise ValueError(f"input {name!r}: expected {t.dtype.name} values, got {got}")
    if dtype.kind in "iu" and array.size and array.dtype.kind in "iu" and (
            array.min() < np.iinfo(dtype).min or array.max() > np.iinfo(dtype).max):
        raise ValueError(f"input {name!r}: values out of range for {t.dtype.name}")
    return array.astype(dtype, copy=False)
