"""model.json: the hand-written schema check (numpy only, no jsonschema) and the graph rebuild.

`validate_document` turns the parsed JSON into typed `Node`s and `Signature`s or raises one
`SnapshotError` saying what is wrong and where. It checks structure and types, the format and
its version, unique and safe names, that inputs refer to earlier nodes only (so the node list
is a topological order and cycles cannot be written down), op types against the servable
op set, attrs against each op's attr types, shapes and dtypes against fixed bounds, Const
weights against the declared weight table, and that every signature can run on its inputs.
A Cond's or While's subgraphs must name earlier nodes and be closed: each node lives in the
innermost subgraph listing it (a subgraph holds whole conds and loops, so these scopes nest, at
most MAX_NESTING deep) and reads only tensors of its own scope or, inside a subgraph, the Cond's
or While's inputs and loop variables (Placeholders of that loop alone); signatures read only
the top level. Conds and loops and signatures are counted: each costs work at load.
`build_graph` then recreates the nodes with `Graph.create_op` and checks that each op's shape
rule gives the outputs the file declares.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from engine import dtypes as _dtypes
from engine.dtypes import variant
from engine.graph import Graph
from engine.ops import control_flow_ops
from engine.registry import registered_types
from engine.saved_model import opset
from engine.saved_model.format import (
    FORMAT,
    FORMAT_VERSION,
    MAX_ITEMS,
    NODE_NAME,
    SIGNATURE_KEY,
    WEIGHT_FILES,
    WEIGHT_NAME,
    SnapshotError,
    describe,
    dtype_of,
    expect,
    expect_keys,
    expect_name,
    shape_json,
    shape_of,
)
from engine.saved_model.opset import OPS, Subgraph, WeightRef, decode_attrs
from engine.shapes import Shape

MAX_NODES = 1 << 20
MAX_NESTING = 64  # conds and loops inside one another (sub-plans compile recursively)
MAX_CONTROL_FLOW = 1 << 12  # conds and loops in a file: each compiles its sub-plans at load
MAX_SIGNATURES = 64  # each is checked runnable by a walk over the graph
TOP_KEYS = {"format", "format_version", "opset", "nodes", "signatures", "metadata", "weights"}

TensorInfo = tuple[_dtypes.DType, Shape]


class Node(NamedTuple):
    """One op of a snapshot graph; `inputs` are tensor names ("node:index") of earlier nodes.
    A Const's `value` attr is an array or a WeightRef into the weights file."""

    name: str
    op: str
    inputs: tuple[str, ...]
    attrs: dict[str, Any]
    outputs: tuple[TensorInfo, ...] | None  # None while exporting: not yet inferred


class Signature(NamedTuple):
    """Named input and output tensors ("node:index") of one servable function."""

    inputs: dict[str, str]
    outputs: dict[str, str]


class Snapshot(NamedTuple):
    nodes: list[Node]
    signatures: dict[str, Signature]
    metadata: dict[str, Any]
    weights_file: str
    sha256: str
    tensors: dict[str, TensorInfo]  # the weights file's contents, as declared


def validate_document(doc: Any) -> Snapshot:
    """Check a parsed model.json completely; the typed result is safe to rebuild."""
    where = "model.json"
    expect_keys(doc, TOP_KEYS, where)
    if doc["format"] != FORMAT:
        raise SnapshotError(f"{where}: format is {describe(doc['format'])}, expected {FORMAT!r}")
    version = expect(doc["format_version"], int, f"{where}.format_version")
    if version != FORMAT_VERSION:
        raise SnapshotError(f"{where}: format_version {version} is not supported (this engine "
                            f"reads version {FORMAT_VERSION})")
    opset = _opset(doc["opset"])
    tensors = _weights_table(doc["weights"])
    nodes, scopes = _nodes(doc["nodes"], opset, tensors)
    used = {n.op for n in nodes}
    if used != opset:
        raise SnapshotError(f"{where}.opset: lists {sorted(opset - used)} unused, or misses "
                            f"{sorted(used - opset)}; it must be exactly the op types used")
    signatures = _signatures(doc["signatures"], nodes, scopes)
    expect(doc["metadata"], dict, f"{where}.metadata")
    return Snapshot(nodes, signatures, doc["metadata"], doc["weights"]["file"],
                    doc["weights"]["sha256"], tensors)


def _opset(raw: Any) -> set[str]:
    where = "model.json.opset"
    expect(raw, list, where)
    for i, op in enumerate(raw):
        _servable(expect(op, str, f"{where}[{i}]"), f"{where}[{i}]")
    if len(set(raw)) != len(raw):
        raise SnapshotError(f"{where}: op types listed more than once")
    return set(raw)


def _servable(op_type: str, where: str) -> None:
    if op_type in OPS:
        return
    if op_type in registered_types():
        raise SnapshotError(f"{where}: op type {op_type!r} is not servable (stateful or "
                            f"training-only ops cannot be in a snapshot)")
    raise SnapshotError(f"{where}: unknown op type {op_type[:60]!r}")


def _weights_table(raw: Any) -> dict[str, TensorInfo]:
    where = "model.json.weights"
    expect_keys(raw, {"file", "sha256", "tensors"}, where)
    if raw["file"] not in WEIGHT_FILES:
        raise SnapshotError(f"{where}.file: {str(raw['file'])[:60]!r} is not one of "
                            f"{', '.join(WEIGHT_FILES)}")
    sha = expect(raw["sha256"], str, f"{where}.sha256")
    if len(sha) != 64 or sha.strip("0123456789abcdef"):
        raise SnapshotError(f"{where}.sha256: not a lowercase hex SHA-256 digest")
    table = expect(raw["tensors"], dict, f"{where}.tensors")
    out = {}
    for key, info in table.items():
        at = f"{where}.tensors[{key[:60]!r}]"
        expect_name(key, WEIGHT_NAME, at)
        expect_keys(info, {"dtype", "shape"}, at)
        out[key] = (dtype_of(info["dtype"], f"{at}.dtype"),
                    shape_of(info["shape"], f"{at}.shape", exact=True))
    return out


def _nodes(raw: Any, opset: set[str], tensors: dict[str, TensorInfo]
           ) -> tuple[list[Node], _Scopes]:
    expect(raw, list, "model.json.nodes")
    if len(raw) > MAX_NODES:
        raise SnapshotError(f"model.json.nodes: {len(raw)} nodes is over the limit of {MAX_NODES}")
    outputs_of: dict[str, int] = {}
    nodes: list[Node] = []
    earlier: dict[str, Node] = {}
    referenced: set[str] = set()
    scopes = _Scopes()
    for i, item in enumerate(raw):
        where = f"model.json.nodes[{i}]"
        expect_keys(item, {"name", "op", "inputs", "attrs", "outputs"}, where)
        name = expect_name(item["name"], NODE_NAME, f"{where}.name")
        where = f"node {name!r}"
        if name in outputs_of:
            raise SnapshotError(f"{where}: duplicate node name")
        op = expect(item["op"], str, f"{where}.op")
        _servable(op, f"{where}.op")
        if op not in opset:
            raise SnapshotError(f"{where}: op type {op!r} is missing from model.json.opset")
        inputs = _inputs(item["inputs"], op, outputs_of, where)
        attrs = decode_attrs(op, item["attrs"], where)
        if op in ("Cond", "While"):
            if len(scopes.outside) == MAX_CONTROL_FLOW:
                raise SnapshotError(f"{where}: more than {MAX_CONTROL_FLOW} Cond and While "
                                    f"nodes")
            attrs = _control_flow(name, op, inputs, attrs, earlier, outputs_of, scopes, where)
        outputs = _outputs(item["outputs"], where)
        if op == "Const":
            referenced.update(_check_const(attrs, tensors, where))
        outputs_of[name] = len(outputs)
        nodes.append(Node(name, op, inputs, attrs, outputs))
        earlier[name] = nodes[-1]
    unused = sorted(tensors.keys() - referenced)
    if unused:
        raise SnapshotError(f"model.json.weights.tensors: {unused[:5]} not used by any Const")
    scopes.check_reads(nodes)
    return nodes, scopes


def _control_flow(name: str, op: str, inputs: tuple[str, ...], attrs: dict[str, Any],
                  earlier: Mapping[str, Node], outputs_of: Mapping[str, int], scopes: _Scopes,
                  where: str) -> dict[str, Any]:
    """A Cond's or While's attrs resolved against the earlier nodes and checked: a boolean
    scalar predicate, or distinct loop variables (Placeholders of this loop alone) and an
    integer scalar limit when it is fed; distinct tensors read from outside (the node's
    inputs past the predicate or initial values: the kernel feeds them to its sub-plans by
    position); subgraphs that list earlier nodes, whole nested conds and loops, and give
    results made in them or read from outside. `scopes` records which nodes the subgraphs
    hold; their reads are checked once all nodes are known (`_Scopes.check_reads`)."""
    loop_vars: tuple[str, ...] = ()
    if op == "While":
        fed_limit = attrs["fed_limit"]
        loop_vars = tuple(_tensor_ref(r, outputs_of, f"{where}.attrs.loop_vars[{i}]")
                          for i, r in enumerate(attrs["loop_vars"]))
        if not loop_vars or len(loop_vars) > len(inputs) - fed_limit:
            raise SnapshotError(f"{where}: a While needs one or more loop variables and an "
                                f"initial value (input) for each"
                                f"{', then its maximum_iterations tensor' if fed_limit else ''}"
                                f"; got {len(loop_vars)} variable(s) and {len(inputs)} "
                                f"input(s)")
        given = set(inputs)
        for ref in loop_vars:
            if earlier[ref.rpartition(":")[0]].op != "Placeholder":
                raise SnapshotError(f"{where}.attrs.loop_vars: {ref!r} is not a Placeholder")
            if ref in given:
                raise SnapshotError(f"{where}.attrs.loop_vars: {ref!r} is also an input of "
                                    f"this node")
        if len(set(loop_vars)) != len(loop_vars):
            raise SnapshotError(f"{where}.attrs.loop_vars: the loop variables must be distinct")
        limit = attrs["maximum_iterations"]
        if limit is not None and limit < 0:
            raise SnapshotError(f"{where}.attrs.maximum_iterations: {limit} is negative")
        if fed_limit:
            _expect_scalar(inputs[-1], earlier, "integer", f"{where}: the maximum_iterations "
                                                           f"tensor")
        captured, keys = inputs[len(loop_vars):len(inputs) - fed_limit], ("cond", "body")
    else:
        _expect_scalar(inputs[0], earlier, "bool", f"{where}: the predicate")
        captured, keys = inputs[1:], ("true_fn", "false_fn")
    if len(set(captured)) != len(captured):
        raise SnapshotError(f"{where}.inputs: a tensor read from outside is given twice")
    scopes.enter(name, captured, loop_vars, where)
    subs: dict[str, Subgraph] = {key: attrs[key] for key in keys}
    listed = {key: set(sub.ops) for key, sub in subs.items()}
    for key, sub in subs.items():
        missing = [node for node in sub.ops if node not in earlier]
        if missing or len(listed[key]) != len(sub.ops):
            raise SnapshotError(f"{where}.attrs.{key}.ops: {missing[:1] or 'a name twice'} "
                                f"(the ops must be distinct, earlier nodes)")
    both = listed[keys[0]] & listed[keys[1]]
    if both:
        raise SnapshotError(f"{where}: the {keys[0]} and the {keys[1]} both list "
                            f"{sorted(both)[:1]}")
    resolved: dict[str, Any] = {**attrs, "loop_vars": loop_vars} if op == "While" else \
        dict(attrs)
    for key, sub in subs.items():
        at = f"{where}.attrs.{key}"
        scopes.claim(name, key, sub.ops, listed[key], earlier, at)
        outputs = tuple(_tensor_ref(r, outputs_of, f"{at}.outputs[{i}]")
                        for i, r in enumerate(sub.outputs))
        for ref in outputs:
            if not scopes.readable(ref, (name, key)):
                raise SnapshotError(f"{at}.outputs: {ref!r} is neither made in the {key} "
                                    f"(outside the conds and loops it holds) nor an input of "
                                    f"this node")
        resolved[key] = Subgraph(sub.ops, outputs)
    scopes.nest(name, [node for sub in subs.values() for node in sub.ops], where)
    wanted = (1, len(loop_vars)) if op == "While" else \
        (len(resolved["false_fn"].outputs),) * 2
    if tuple(len(resolved[key].outputs) for key in keys) != wanted:
        raise SnapshotError(f"{where}: the {' and '.join(keys)} give "
                            f"{[len(resolved[k].outputs) for k in keys]} results, expected "
                            f"{list(wanted)}")
    return resolved


def _expect_scalar(ref: str, earlier: Mapping[str, Node], kind: str, what: str) -> None:
    """`ref`, as its node declares it, must be a scalar (or of unknown shape) of `kind`."""
    node, _, index = ref.rpartition(":")
    dtype, shape = earlier[node].outputs[int(index)]
    if (dtype.is_bool if kind == "bool" else dtype.is_integer) and shape in ((), None):
        return
    raise SnapshotError(f"{what} {ref!r} must be a {'boolean' if kind == 'bool' else kind} "
                        f"scalar, not {dtype.name} {shape_json(shape)}")


Scope = tuple[str, str]  # a Cond or While and one of its subgraphs, or "loop_vars"


class _Scopes:
    """Where the nodes of a file live: each in the innermost subgraph that lists it (or a
    loop's variables), the rest at the top level. A subgraph holds whole conds and loops, so
    these scopes nest as a tree, at most MAX_NESTING deep (sub-plans compile and run
    recursively). A node reads only tensors of its own scope, or inside a subgraph also its
    Cond's or While's inputs and loop variables: a tensor made in a subgraph exists only
    while that runs. Reads are checked against the innermost scope alone, so loading stays
    linear in the file's size however the subgraphs nest and overlap."""

    def __init__(self) -> None:
        self.owner: dict[str, Scope] = {}  # node -> its innermost scope
        self.top: dict[str, str] = {}  # node -> the outermost Cond or While holding it so far
        self.depth: dict[str, int] = {}  # Cond or While -> how many levels deep it nests
        self.outside: dict[str, set[str]] = {}  # Cond or While -> what it gives its subgraphs

    def enter(self, flow: str, captured: tuple[str, ...], loop_vars: tuple[str, ...],
              where: str) -> None:
        """A Cond or While: what its subgraphs read from outside; a loop's variables are its
        own (never another loop's, never in a subgraph of another)."""
        self.outside[flow] = {*captured, *loop_vars}
        for ref in loop_vars:
            node = ref.rpartition(":")[0]
            if node in self.top:
                raise SnapshotError(f"{where}.attrs.loop_vars: {ref!r} belongs to "
                                    f"{self.top[node]!r}")
            self.owner[node], self.top[node] = (flow, "loop_vars"), flow

    def claim(self, flow: str, key: str, names: tuple[str, ...], listed: set[str],
              earlier: Mapping[str, Node], where: str) -> None:
        """The nodes a subgraph lists: a node of a nested cond or loop only with that cond or
        loop; a Placeholder only as the variable of a loop listed too."""
        for name in names:
            inner = self.top.get(name)
            if inner is not None and inner not in listed:
                raise SnapshotError(f"{where}.ops: {name!r} belongs to {inner!r}, which the "
                                    f"{key} does not list (a subgraph holds whole conds and "
                                    f"loops)")
            if inner is None and earlier[name].op == "Placeholder":
                raise SnapshotError(f"{where}.ops: {name!r} is a Placeholder but not the "
                                    f"variable of a loop in the {key}")
        for name in names:
            self.owner.setdefault(name, (flow, key))
            self.top[name] = flow

    def nest(self, flow: str, names: list[str], where: str) -> None:
        self.depth[flow] = 1 + max((self.depth.get(name, 0) for name in names), default=0)
        if self.depth[flow] > MAX_NESTING:
            raise SnapshotError(f"{where}: conds and loops nested more than {MAX_NESTING} "
                                f"deep")

    def readable(self, ref: str, scope: Scope | None) -> bool:
        """Whether a node in `scope` may read tensor `ref`."""
        return self.owner.get(ref.rpartition(":")[0]) == scope or \
            (scope is not None and ref in self.outside[scope[0]])

    def check_reads(self, nodes: Sequence[Node]) -> None:
        for node in nodes:
            scope = self.owner.get(node.name)
            for ref in node.inputs:
                if self.readable(ref, scope):
                    continue
                if scope is None:
                    raise SnapshotError(f"node {node.name!r}: reads {ref!r}, which is "
                                        f"{self.inside(ref)}")
                raise SnapshotError(f"node {scope[0]!r}.attrs.{scope[1]}: node {node.name!r} "
                                    f"reads {ref!r}, which is neither made in the "
                                    f"{scope[1]} nor an input of this node")

    def inside(self, ref: str) -> str:
        flow, key = self.owner[ref.rpartition(":")[0]]
        return f"made inside {flow!r} ({key}): it exists only while that runs"


def _tensor_ref(raw: Any, outputs_of: Mapping[str, int], where: str) -> str:
    """A "node:index" reference to an output of a node defined before this point."""
    expect(raw, str, where)
    node, _, index = raw.rpartition(":")
    if not node or not (index.isascii() and index.isdigit()) or len(index) > 6:
        raise SnapshotError(f"{where}: {raw[:80]!r} is not a tensor name of the form 'node:index'")
    if node not in outputs_of:
        raise SnapshotError(f"{where}: {raw[:80]!r} refers to {node[:60]!r}, which is not an "
                            f"earlier node (forward references and cycles are not allowed)")
    if int(index) >= outputs_of[node]:
        raise SnapshotError(f"{where}: {raw[:80]!r}: node {node!r} has only "
                            f"{outputs_of[node]} output(s)")
    return f"{node}:{int(index)}"  # one spelling per tensor ("x:00" is "x:0")


def _inputs(raw: Any, op: str, outputs_of: Mapping[str, int], where: str) -> tuple[str, ...]:
    expect(raw, list, f"{where}.inputs")
    spec = OPS[op]
    top = MAX_ITEMS if spec.max_inputs is None else spec.max_inputs
    if not spec.min_inputs <= len(raw) <= top:
        wanted = spec.min_inputs if spec.min_inputs == top else f"{spec.min_inputs} to {top}"
        raise SnapshotError(f"{where}: {op} takes {wanted} input(s), got {len(raw)}")
    return tuple(_tensor_ref(r, outputs_of, f"{where}.inputs[{i}]") for i, r in enumerate(raw))


def _outputs(raw: Any, where: str) -> tuple[TensorInfo, ...]:
    expect(raw, list, f"{where}.outputs")
    if len(raw) > MAX_ITEMS:
        raise SnapshotError(f"{where}.outputs: {len(raw)} outputs is over the limit")
    out = []
    for i, info in enumerate(raw):
        at = f"{where}.outputs[{i}]"
        expect_keys(info, {"dtype", "shape"}, at)
        out.append((dtype_of(info["dtype"], f"{at}.dtype"), shape_of(info["shape"], f"{at}.shape")))
    return tuple(out)


def _check_const(attrs: dict[str, Any], tensors: dict[str, TensorInfo], where: str) -> set[str]:
    """A Const's value must match its dtype attr; returns the weight it uses, if any."""
    value = attrs["value"]
    if isinstance(value, WeightRef):
        if value.key not in tensors:
            raise SnapshotError(f"{where}: weight {value.key!r} is not in "
                                f"model.json.weights.tensors")
        dtype = tensors[value.key][0]
    else:
        dtype = _dtypes.as_dtype(value.dtype)
    if dtype != attrs["dtype"]:
        raise SnapshotError(f"{where}: value has dtype {dtype.name}, attr dtype says "
                            f"{attrs['dtype'].name}")
    return {value.key} if isinstance(value, WeightRef) else set()


def _signatures(raw: Any, nodes: list[Node], scopes: _Scopes) -> dict[str, Signature]:
    expect(raw, dict, "model.json.signatures")
    if not raw:
        raise SnapshotError("model.json.signatures: no signature")
    if len(raw) > MAX_SIGNATURES:
        raise SnapshotError(f"model.json.signatures: {len(raw)} signatures is over the limit "
                            f"of {MAX_SIGNATURES}")
    by_name = {n.name: n for n in nodes}
    out = {}
    for key, sig in raw.items():
        where = f"signature {key[:60]!r}"
        expect_name(key, SIGNATURE_KEY, where)
        expect_keys(sig, {"inputs", "outputs"}, where)
        inputs = _ends(sig["inputs"], by_name, scopes, f"{where}.inputs")
        outputs = _ends(sig["outputs"], by_name, scopes, f"{where}.outputs")
        if not outputs:
            raise SnapshotError(f"{where}: no outputs")
        for name, ref in inputs.items():
            node = by_name[ref.rpartition(":")[0]]
            if node.op != "Placeholder":
                raise SnapshotError(f"{where}.inputs[{name!r}]: {ref!r} is not a Placeholder")
        if len(set(inputs.values())) != len(inputs):
            raise SnapshotError(f"{where}.inputs: two inputs name the same tensor")
        _check_runnable(inputs, outputs, by_name, where)
        out[key] = Signature(inputs, outputs)
    return out


def _ends(raw: Any, by_name: dict[str, Node], scopes: _Scopes, where: str) -> dict[str, str]:
    """Signature inputs or outputs: name -> tensor, with dtype and shape as the node says;
    none made inside a cond or loop."""
    expect(raw, dict, where)
    outputs_of = {name: len(node.outputs) for name, node in by_name.items()}
    out = {}
    for name, info in raw.items():
        at = f"{where}[{name[:60]!r}]"
        expect_name(name, SIGNATURE_KEY, at)
        expect_keys(info, {"tensor", "dtype", "shape"}, at)
        ref = _tensor_ref(info["tensor"], outputs_of, f"{at}.tensor")
        if not scopes.readable(ref, None):
            raise SnapshotError(f"{at}.tensor: {ref!r} is {scopes.inside(ref)}")
        node, _, index = ref.rpartition(":")
        dtype, shape = by_name[node].outputs[int(index)]
        if dtype_of(info["dtype"], f"{at}.dtype") != dtype or \
                shape_of(info["shape"], f"{at}.shape") != shape:
            raise SnapshotError(f"{at}: declared {info['dtype']} {info['shape']}, but tensor "
                                f"{ref!r} is {dtype.name} {shape_json(shape)}")
        out[name] = ref
    return out


def _check_runnable(inputs: dict[str, str], outputs: dict[str, str], by_name: dict[str, Node],
                    where: str) -> None:
    """Every Placeholder the outputs depend on must be one of the signature's inputs."""
    fed = {ref.rpartition(":")[0] for ref in inputs.values()}
    seen: set[str] = set()
    pending = [ref.rpartition(":")[0] for ref in outputs.values()]
    while pending:
        name = pending.pop()
        if name in seen or name in fed:
            continue
        seen.add(name)
        node = by_name[name]
        if node.op == "Placeholder":
            raise SnapshotError(f"{where}: its outputs need Placeholder {name!r}, which is not "
                                f"one of its inputs")
        pending.extend(ref.rpartition(":")[0] for ref in node.inputs)


def build_graph(nodes: Sequence[Node], weights: Mapping[str, np.ndarray]) -> Graph:
    """A fresh Graph holding `nodes`, each checked to give the outputs it declares, if any."""
    graph = Graph()
    for node in nodes:
        attrs = dict(node.attrs)
        if isinstance(attrs.get("value"), WeightRef):
            attrs["value"] = weights[attrs["value"].key]
        if node.op in ("Cond", "While"):
            attrs = control_flow_ops.from_parts(graph, node.op, attrs, loop_guard())
        inputs = [graph.get_tensor_by_name(ref) for ref in node.inputs]
        try:
            op = graph.create_op(node.op, inputs, attrs, node.name, exact_name=True)
        except Exception as e:  # a shape rule meeting hostile attrs may raise anything
            raise SnapshotError(f"node {node.name!r} ({node.op}): cannot be rebuilt: "
                                f"{type(e).__name__}: {e}") from None
        # a cond's or loop's state output (for gradients) is not part of a snapshot
        got = tuple((t.dtype, t.static_shape) for t in op.outputs if t.dtype != variant)
        if node.outputs is not None and got != node.outputs:
            raise SnapshotError(f"node {node.name!r} ({node.op}): declares outputs "
                                f"{_fmt(node.outputs)}, but its inputs and attrs give {_fmt(got)}")
    graph.finalize()
    return graph


def loop_guard() -> control_flow_ops.LoopGuard:
    """The limits on a loaded snapshot's loops (read when it loads, so tests may lower them)."""
    return control_flow_ops.LoopGuard(opset.MAX_LOOP_ITERATIONS, opset.MAX_LOOP_OPS,
                                      opset.MAX_LOOP_BYTES)


def _fmt(outputs: Sequence[TensorInfo]) -> str:
    return ", ".join(f"{d.name} {shape_json(s)}" for d, s in outputs) or "none"
