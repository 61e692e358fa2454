"""Export: prune a trained graph to one signature, freeze its variables, write a snapshot.

The exported graph holds only what the signature's outputs need from its inputs. Variable reads
become Consts whose values go to the weights file (as do big Consts), Dropout becomes Identity
(inference is deterministic), and a PlaceholderWithDefault that is not an input keeps its
default. Control dependencies are dropped: with no stateful op left, they order nothing. A
graph that still needs anything stateful (random draws, variable updates), or an op outside
the servable op set, is refused with a ValueError naming the op. A tf.cond or tf.while_loop
(an RNN) is exported with the nodes of its subgraphs, which it names in its attrs.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from engine import dtypes as _dtypes
from engine import gfile
from engine.dtypes import variant
from engine.graph import Graph, Operation, Tensor
from engine.ops import control_flow_ops
from engine.registry import lookup
from engine.saved_model import weights
from engine.saved_model.format import (
    DTYPES,
    FORMAT,
    FORMAT_VERSION,
    MODEL_FILE,
    SIGNATURE_KEY,
    WEIGHT_FILES,
    expect_name,
    parse_json,
    shape_json,
)
from engine.saved_model.opset import OPS, decode_attrs, encode_attr, encode_const
from engine.saved_model.schema import Node, build_graph, validate_document

_FORMATS = {"safetensors": weights.SAFETENSORS_FILE, "npz": weights.NPZ_FILE}


def save(sess: Any, path: str | os.PathLike[str], inputs: Mapping[str, Any],
         outputs: Mapping[str, Any], metadata: Mapping[str, Any] | None = None,
         signature_name: str = "serving_default", *,
         weights_format: str | None = None) -> str:
    """Write a servable snapshot of `outputs` computed from `inputs` (name -> tensor) to the
    directory `path`, with the variable values held by `sess`; returns the path.

    `metadata` (JSON-safe: head type, classes, label vocabulary, feature columns, ...) travels
    with the snapshot. `weights_format` is "safetensors" or "npz"; by default safetensors
    when that package is installed, else npz.
    """
    if weights_format is not None and weights_format not in _FORMATS:
        raise ValueError(f"weights_format must be one of {sorted(_FORMATS)}, "
                         f"got {weights_format!r}")
    file = _FORMATS[weights_format] if weights_format else weights.default_file()
    expect_name(signature_name, SIGNATURE_KEY, "signature_name")
    fed = _endpoints(sess.graph, inputs, "inputs")
    fetched = _endpoints(sess.graph, outputs, "outputs")
    if not fetched:
        raise ValueError("save: `outputs` must name at least one tensor.")
    if len(set(fed.values())) != len(fed):
        raise ValueError("save: two `inputs` name the same tensor.")
    ops = _prune(set(fed.values()), fetched)
    variables = [op for op in ops if op.type == "VariableV2"]
    values = dict(zip(variables, sess.run([op.outputs[0] for op in variables]), strict=True))
    exporter = _Exporter({op.name for op in ops})
    for t in fed.values():
        exporter.placeholder(t)
    for op in ops:
        exporter.add(op, values.get(op))
    blob = weights.encode(exporter.arrays, file)
    text = exporter.document(signature_name, fed, fetched, _json_safe(dict(metadata or {})),
                             file, hashlib.sha256(blob).hexdigest())
    directory = gfile.resolve(path)
    gfile.MakeDirs(directory)
    gfile.write_file(gfile.join(directory, file), blob)
    gfile.write_file(gfile.join(directory, MODEL_FILE), text)
    for stale in set(WEIGHT_FILES) - {file}:  # from an earlier save in the other format
        gfile.remove_if_there(gfile.join(directory, stale))
    return directory


def _endpoints(graph: Graph, tensors: Mapping[str, Any], what: str) -> dict[str, Tensor]:
    if not isinstance(tensors, Mapping):
        raise TypeError(f"save: `{what}` must be a dict of name -> tensor, got "
                        f"{type(tensors).__name__}.")
    out = {}
    for key, value in tensors.items():
        expect_name(key, SIGNATURE_KEY, f"save: {what} name {key!r}")
        t = graph.as_graph_element(value, allow_tensor=True, allow_operation=False)
        assert isinstance(t, Tensor)
        if t.dtype.name not in DTYPES:
            raise ValueError(f"save: {what}[{key!r}] ({t.name}) has dtype {t.dtype.name}, "
                             f"which a snapshot cannot hold.")
        out[key] = t
    return out


def _live_inputs(op: Operation) -> tuple[Tensor, ...]:
    """The inputs an op needs once exported: none for a frozen variable, x for Dropout."""
    if op.type == "VariableV2":
        return ()
    return op.inputs[:1] if op.type == "Dropout" else op.inputs


def _prune(fed: set[Tensor], fetched: dict[str, Tensor]) -> list[Operation]:
    """The ops the fetched tensors need, given the fed ones, in creation (topological) order;
    a cond or loop brings what its subgraphs' results need, and a loop its variables'
    placeholders."""
    kept: set[Operation] = set()
    loop_vars: set[Operation] = set()
    pending = [t for t in fetched.values() if t not in fed]
    while pending:
        t = pending.pop()
        op = t.op
        if op.type == "Dropout" and t.value_index:
            raise ValueError(f"Cannot export: the outputs need the mask of dropout "
                             f"'{op.name}', which has no inference-time meaning.")
        if op in kept:
            continue
        if op not in loop_vars:
            _check_servable(op)
        kept.add(op)
        pending.extend(x for x in _live_inputs(op) if x not in fed)
        if op.type in ("Cond", "While"):
            variables, subgraphs = control_flow_ops.parts(op)
            loop_vars.update(t.op for t in variables)
            kept.update(t.op for t in variables)
            pending.extend(t for _, outputs in subgraphs.values() for t in outputs
                           if t not in fed)
    return sorted(kept, key=lambda o: o._id)


def _check_servable(op: Operation) -> None:
    where = f"Cannot export: the outputs depend on '{op.name}' (op: {op.type})"
    if op.type == "Placeholder":
        raise ValueError(f"{where}, which is not among the signature inputs; add it to "
                         f"`inputs`, or give it a default (tf.placeholder_with_default).")
    if op.type in OPS or op.type in ("VariableV2", "Dropout"):
        return
    if op.type == "Cond" and op.attrs["restored"]:
        raise ValueError(f"{where}, which is a gradient; serve the forward graph.")
    if op.type in ("Cond", "While"):
        return
    if lookup(op.type).stateful:
        raise ValueError(f"{where}, which is stateful (random draws or variable updates); a "
                         f"served graph must be deterministic and free of side effects.")
    raise ValueError(f"{where}, which is not in the servable op set "
                     f"(engine/saved_model/opset.py).")


class _Exporter:
    """Collects the exported nodes in two forms: JSON, and decoded (as loading will see them)
    for rebuilding the graph, which gives each node's outputs and proves the file loads."""

    def __init__(self, reserved: set[str]) -> None:
        self.json_nodes: list[dict[str, Any]] = []
        self.nodes: list[Node] = []
        self.arrays: dict[str, np.ndarray] = {}
        self.refs: dict[Tensor, str] = {}  # fed tensor -> the Placeholder standing for it
        self._names = set(reserved)  # the kept ops' names, which placeholders must avoid

    def ref(self, t: Tensor) -> str:
        """The exported name of tensor `t`."""
        return self.refs.get(t, t.name)

    def placeholder(self, t: Tensor) -> None:
        """A Placeholder standing for fed tensor `t` (usually `t`'s own Placeholder op)."""
        base = t.op.name if t.value_index == 0 else f"{t.op.name}_{t.value_index}"
        name = _fresh(base, self._names)
        self._node(name, "Placeholder", (), {"dtype": t.dtype, "shape": t.static_shape})
        self.refs[t] = f"{name}:0"

    def add(self, op: Operation, value: Any) -> None:
        """Export `op`; `value` is the session's value of a variable, which freezes it."""
        if op.type == "VariableV2":
            self._const(op.name, np.asarray(value), inline=False)
        elif op.type == "Const":
            self._const(op.name, np.asarray(op.attrs["value"]), inline=True)
        elif op.type in ("Cond", "While"):
            self._control_flow(op)
        else:
            inputs = tuple(self.ref(t) for t in _live_inputs(op))
            dropout = op.type == "Dropout"
            self._node(op.name, "Identity" if dropout else op.type, inputs,
                       {} if dropout else op.attrs)

    def _control_flow(self, op: Operation) -> None:
        """A Cond or While: its subgraphs as the names of their exported nodes (exported
        before it, as they were made before it) and of their results."""
        variables, subgraphs = control_flow_ops.parts(op)
        exported = set(self._names)
        attrs: dict[str, Any] = {
            key: {"ops": [o.name for o in sorted(ops, key=lambda o: o._id)
                          if o.name in exported],
                  "outputs": [self.ref(t) for t in outputs]}
            for key, (ops, outputs) in subgraphs.items()}
        if op.type == "While":
            attrs["loop_vars"] = [self.ref(t) for t in variables]
            attrs["maximum_iterations"] = op.attrs["maximum_iterations"]
            attrs["fed_limit"] = bool(op.attrs.get("fed_limit"))
        self._node(op.name, op.type, tuple(self.ref(t) for t in op.inputs), attrs,
                   encoded=tuple(attrs))

    def _const(self, name: str, value: np.ndarray, inline: bool) -> None:
        """A Const node; trained values (`inline` False) always go to the weights file."""
        dtype = _dtypes.as_dtype(value.dtype) if value.dtype.kind in "biuf" else None
        if dtype is None or dtype.name not in DTYPES:
            raise ValueError(f"Cannot export Const/Variable '{name}': its {value.dtype} values "
                             f"cannot be served (numeric and bool only).")
        key = _fresh(re.sub(r"[^A-Za-z0-9_\-]", "_", name), self.arrays.keys())
        encoded = encode_const(value, key) if inline else {"weight": key}
        if "weight" in encoded:
            self.arrays[key] = value
        self._node(name, "Const", (), {"value": encoded, "dtype": dtype}, encoded=("value",))

    def _node(self, name: str, op_type: str, inputs: tuple[str, ...], attrs: Mapping[str, Any],
              encoded: tuple[str, ...] = ()) -> None:
        where = f"Cannot export op '{name}' ({op_type})"
        spec = OPS[op_type].attrs
        if set(attrs) != set(spec):
            raise ValueError(f"{where}: attrs {sorted(attrs)} differ from the snapshot format's "
                             f"{sorted(spec)}.")
        json_attrs = {k: v if k in encoded else encode_attr(spec[k], v, f"{where}, attr {k!r}")
                      for k, v in attrs.items()}
        self.json_nodes.append({"name": name, "op": op_type, "inputs": list(inputs),
                                "attrs": json_attrs})
        self.nodes.append(Node(name, op_type, inputs, decode_attrs(op_type, json_attrs, where),
                               None))
        self._names.add(name)

    def document(self, signature_name: str, fed: dict[str, Tensor], fetched: dict[str, Tensor],
                 metadata: dict[str, Any], file: str, sha256: str) -> bytes:
        """model.json, checked by the loader's own schema check before it is returned."""
        built = build_graph(self.nodes, self.arrays)
        for item in self.json_nodes:
            item["outputs"] = [_info(t) for t in built.get_operation_by_name(item["name"]).outputs
                               if t.dtype != variant]  # a cond's or loop's state stays inside

        def ends(tensors: dict[str, Tensor]) -> dict[str, Any]:
            return {key: {"tensor": self.ref(t), **_info(built.get_tensor_by_name(self.ref(t)))}
                    for key, t in tensors.items()}

        doc = {
            "format": FORMAT, "format_version": FORMAT_VERSION,
            "opset": sorted({item["op"] for item in self.json_nodes}),
            "nodes": self.json_nodes,
            "signatures": {signature_name: {"inputs": ends(fed), "outputs": ends(fetched)}},
            "metadata": metadata,
            "weights": {"file": file, "sha256": sha256,
                        "tensors": {k: {"dtype": _dtypes.as_dtype(v.dtype).name,
                                        "shape": list(v.shape)} for k, v in self.arrays.items()}},
        }
        text = json.dumps(doc, allow_nan=False, separators=(",", ":")).encode()
        validate_document(parse_json(text, MODEL_FILE))
        return text


def _fresh(base: str, taken: Any) -> str:
    """`base`, or `base_N` with the smallest N that is not taken."""
    name, n = base, 0
    while name in taken:
        n += 1
        name = f"{base}_{n}"
    return name


def _info(t: Tensor) -> dict[str, Any]:
    return {"dtype": t.dtype.name, "shape": shape_json(t.static_shape)}


def _json_safe(value: Any) -> Any:
    """Metadata with numpy scalars and arrays made plain JSON; anything else must be JSON."""
    try:
        return json.loads(json.dumps(value, allow_nan=False, default=_plain))
    except (TypeError, ValueError) as e:
        raise ValueError(f"save: metadata must be JSON-serializable (no NaN): {e}") from None


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray | np.generic):
        return value.tolist()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")
