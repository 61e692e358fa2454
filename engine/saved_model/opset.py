"""The servable op set: which op types a snapshot may hold, how many inputs each takes, and the
type of each attr, with the JSON encoding of every attr type.

This is an explicit list, not "whatever is registered": a snapshot comes from outside, so only
side-effect-free inference ops are accepted (no variables, assignments, optimizer updates,
random draws, summaries, or gradient ops that name other ops), and each attr is decoded into
exactly the python type its OpDef reads (tuple vs list, DType, None). To make a new op
servable, add it to `OPS`; tests check every entry is registered and stateless.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from engine import dtypes as _dtypes
from engine.ops.nn_ops import LOSS_DENOMINATORS
from engine.saved_model.format import (
    DTYPES,
    MAX_DIM,
    MAX_ITEMS,
    NODE_NAME,
    WEIGHT_NAME,
    SnapshotError,
    dtype_of,
    expect,
    expect_keys,
    expect_name,
    shape_json,
    shape_of,
)

_WORDS = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}  # non-finite floats in JSON
_EQUATION = re.compile(r"[A-Za-z,. ]*(->[A-Za-z. ]*)?")
_MAX_EQUATION = 256
INLINE_MAX = 16  # Const values up to this many elements are written into model.json
_MAX_CLASSES = 1 << 24  # OneHot's kernel holds a range of `depth` ints from load on


@dataclass(frozen=True)
class Attr:
    """One attr's type: `kind` names the encoding; `nullable` admits None; `choices` limits a
    string; `limit` bounds the magnitude of ints (and counts, like num outputs)."""

    kind: str
    nullable: bool = False
    choices: tuple[str, ...] = ()
    limit: int = MAX_DIM


@dataclass(frozen=True)
class OpSpec:
    """A servable op type: how many inputs it takes and its attrs' types."""

    min_inputs: int
    max_inputs: int | None  # None: any number (AddN, ConcatV2, Pack)
    attrs: dict[str, Attr] = field(default_factory=dict)


class WeightRef(NamedTuple):
    """A Const value stored in the weights file under `key`."""

    key: str


class Subgraph(NamedTuple):
    """A cond branch or a loop's condition or body: the names of its nodes (defined earlier
    in the file) and the tensors it gives. Checked against the file's nodes in schema.py."""

    ops: tuple[str, ...]
    outputs: tuple[str, ...]


BOOL, INT, FLOAT, SCALAR, DTYPE = Attr("bool"), Attr("int"), Attr("float"), Attr("scalar"), \
    Attr("dtype")
INTS = Attr("ints")  # tuple of ints
PADDING = Attr("str", choices=("SAME", "VALID"))
_REDUCE = {"axis": Attr("ints", nullable=True), "keepdims": BOOL}
SUBGRAPH, REFS = Attr("subgraph"), Attr("refs")
# Served loops stop with an error past these (read at load; see control_flow_ops.LoopGuard)
MAX_LOOP_ITERATIONS = 1 << 20  # iterations of all loops of one prediction, nested ones too
MAX_LOOP_OPS = 1 << 24  # ops their conditions and bodies run in one prediction
MAX_LOOP_BYTES = 1 << 30  # one loop's values
_WINDOW = {"strides": Attr("int_list"), "padding": PADDING}


def _same(names: str, n_inputs: int, **attrs: Attr) -> dict[str, OpSpec]:
    """Several op types taking `n_inputs` inputs and the same attrs."""
    return {name: OpSpec(n_inputs, n_inputs, attrs) for name in names.split()}


OPS: dict[str, OpSpec] = {
    "Const": OpSpec(0, 0, {"value": Attr("tensor"), "dtype": DTYPE}),
    "Placeholder": OpSpec(0, 0, {"dtype": DTYPE, "shape": Attr("shape", nullable=True)}),
    "PlaceholderWithDefault": OpSpec(1, 1, {"shape": Attr("shape", nullable=True)}),
    **_same("Identity StopGradient Abs Neg Square Sqrt Rsqrt Reciprocal Exp Log Log1p Sin Cos "
            "Sign Floor Ceil Round LogicalNot IsNan IsInf IsFinite Relu Relu6 Elu Selu Sigmoid "
            "Tanh Softplus Softsign L2Loss Where", 1),
    **_same("Add Sub Mul RealDiv FloorDiv FloorMod Pow Maximum Minimum SquaredDifference Equal "
            "NotEqual Less LessEqual Greater GreaterEqual LogicalAnd LogicalOr LogicalXor "
            "SparseSoftmaxCrossEntropyWithLogits SigmoidCrossEntropyWithLogits Fill Reshape "
            "Tile BroadcastTo", 2),
    **_same("Select ClipByValue Slice Range LinSpace", 3),
    "AddN": OpSpec(1, None),
    "Cast": OpSpec(1, 1, {"DstT": DTYPE}),
    "MatMul": OpSpec(2, 2, {"transpose_a": BOOL, "transpose_b": BOOL}),
    **_same("Sum Mean Prod Max Min All Any ReduceLogSumExp", 1, **_REDUCE),
    **_same("ArgMax ArgMin", 1, axis=INT, output_type=DTYPE),
    **_same("OnesLike ZerosLike", 1, dtype=Attr("dtype", nullable=True)),
    **_same("Shape Size Rank", 1, out_type=DTYPE),
    **_same("ExpandDims", 1, axis=INT),
    **_same("Squeeze ReverseV2", 1, axis=INTS),
    "Transpose": OpSpec(1, 1, {"perm": Attr("ints", nullable=True)}),
    "ConcatV2": OpSpec(1, None, {"axis": INT}),
    "Pack": OpSpec(1, None, {"axis": INT}),
    "SplitV": OpSpec(1, 1, {"num": Attr("int", nullable=True, limit=MAX_ITEMS),
                            "sizes": Attr("ints", nullable=True), "axis": INT}),
    "Unpack": OpSpec(1, 1, {"num": Attr("int", limit=MAX_ITEMS), "axis": INT}),
    "StridedSlice": OpSpec(4, 4, {m: INT for m in ("begin_mask", "end_mask", "ellipsis_mask",
                                                    "new_axis_mask", "shrink_axis_mask")}),
    "GatherV2": OpSpec(2, 2, {"axis": INT}),
    "GatherNd": OpSpec(2, 2),
    "BooleanMask": OpSpec(2, 2, {"axis": INT}),
    **_same("Cumsum Cumprod", 1, axis=INT, exclusive=BOOL, reverse=BOOL),
    "OneHot": OpSpec(1, 1, {"depth": Attr("int", limit=_MAX_CLASSES), "axis": INT,
                            "dtype": DTYPE, "on_value": SCALAR, "off_value": SCALAR}),
    "Pad": OpSpec(2, 2, {"constant_values": SCALAR}),
    "LeakyRelu": OpSpec(1, 1, {"alpha": FLOAT}),
    **_same("Softmax LogSoftmax", 1, axis=INT),
    "SoftmaxCrossEntropyWithLogits": OpSpec(2, 2, {"axis": INT}),
    "BiasAdd": OpSpec(2, 2, {"data_format": Attr("str", nullable=True,
                                                 choices=("NHWC", "NCHW"))}),
    "Moments": OpSpec(1, 1, {"axes": INTS, "keep_dims": BOOL}),
    "InTopK": OpSpec(2, 2, {"k": INT}),
    "TopKV2": OpSpec(1, 1, {"k": INT}),
    "FusedBatchNorm": OpSpec(3, 5, {"epsilon": FLOAT, "is_training": BOOL,
                                    "data_format": Attr("str", choices=("NHWC", "NCHW"))}),
    "WeightedLoss": OpSpec(2, 2, {"reduction": Attr("str", choices=tuple(LOSS_DENOMINATORS))}),
    "Conv2D": OpSpec(2, 2, {**_WINDOW, "dilations": Attr("int_list")}),
    "Conv2DBackpropInput": OpSpec(3, 3, {**_WINDOW, "dilations": Attr("int_list")}),
    "Einsum": OpSpec(1, None, {"equation": Attr("equation")}),
    # control flow: inputs are the predicate or the loop's initial values, then the tensors
    # from outside its subgraphs that they read
    "Cond": OpSpec(1, None, {"true_fn": SUBGRAPH, "false_fn": SUBGRAPH}),
    "While": OpSpec(1, None, {"loop_vars": REFS, "cond": SUBGRAPH, "body": SUBGRAPH,
                              "maximum_iterations": Attr("int", nullable=True,
                                                         limit=MAX_LOOP_ITERATIONS),
                              "fed_limit": BOOL}),  # maximum_iterations is the last input
    **_same("MaxPool AvgPool", 1, ksize=Attr("int_list"), **_WINDOW),
}


# -- export: engine values -> JSON ----------------------------------------------------------------
def encode_attr(attr: Attr, value: Any, where: str) -> Any:
    """The JSON form of attr `value`; ValueError naming `where` when it is not of the type."""
    if value is None and attr.nullable:
        return None
    try:
        return _ENCODERS[attr.kind](value)
    except (TypeError, ValueError, KeyError):
        raise ValueError(f"{where}: cannot encode {value!r} as a {attr.kind} attr") from None


def _encode_int(value: Any) -> int:
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer):
        raise TypeError
    return int(value)


def _encode_float(value: Any) -> float | str:
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.number):
        raise TypeError
    value = float(value)
    return value if math.isfinite(value) else str(value)


def _encode_scalar(value: Any) -> Any:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    return _encode_int(value) if isinstance(value, int | np.integer) else _encode_float(value)


def _encode_bool(value: Any) -> bool:
    if not isinstance(value, bool | np.bool_):
        raise TypeError
    return bool(value)


def _encode_str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError
    return value


def _encode_dtype(value: Any) -> str:
    if not isinstance(value, _dtypes.DType) or value.name not in DTYPES:
        raise TypeError
    return value.name


def _encode_ints(value: Any) -> list[int]:
    if not isinstance(value, Sequence | np.ndarray) or isinstance(value, str):
        raise TypeError
    return [_encode_int(v) for v in value]


def _encode_shape(value: Any) -> list[int | None] | None:
    return shape_json(tuple(None if d is None else _encode_int(d) for d in value))


_ENCODERS = {"bool": _encode_bool, "int": _encode_int, "float": _encode_float,
             "scalar": _encode_scalar, "str": _encode_str, "equation": _encode_str,
             "dtype": _encode_dtype,
             "ints": _encode_ints, "int_list": _encode_ints, "shape": _encode_shape}


def encode_const(value: np.ndarray, key: str) -> dict[str, Any]:
    """A Const value: inline when small and finite, else a reference to weight `key`."""
    small = value.size <= INLINE_MAX and value.dtype.kind in "biuf"
    if small and (value.dtype.kind != "f" or np.isfinite(value).all()):
        return {"dtype": _dtypes.as_dtype(value.dtype).name, "shape": list(value.shape),
                "data": value.reshape(-1).tolist()}
    return {"weight": key}


# -- loading: JSON -> engine values ---------------------------------------------------------------
def decode_attrs(op_type: str, raw: Any, where: str) -> dict[str, Any]:
    """The attrs of a node of `op_type` as its OpDef expects them (Const values stay
    `WeightRef`s or inline arrays here); every attr present, none unknown."""
    spec = OPS[op_type].attrs
    expect_keys(raw, set(spec), f"{where}.attrs")
    return {name: _decode(attr, raw[name], f"{where}.attrs.{name}") for name, attr in
            spec.items()}


def _decode(attr: Attr, raw: Any, where: str) -> Any:
    if raw is None:
        if attr.nullable:
            return None
        raise SnapshotError(f"{where}: must not be null")
    kind = attr.kind
    if kind == "bool":
        return expect(raw, bool, where)
    if kind == "int":
        return _decode_int(raw, attr.limit, where)
    if kind == "float":
        return _decode_float(raw, where)
    if kind == "scalar":
        if isinstance(raw, bool):
            return raw
        return _decode_int(raw, attr.limit, where) if isinstance(raw, int) else \
            _decode_float(raw, where)
    if kind == "equation":  # einsum's: letters, commas, '...', one '->'; parsed on rebuild
        expect(raw, str, where)
        if len(raw) > _MAX_EQUATION or not _EQUATION.fullmatch(raw):
            raise SnapshotError(f"{where}: {raw[:40]!r} is not an einsum equation (letters, "
                                f"',', '...', one '->', at most {_MAX_EQUATION} characters)")
        return raw
    if kind == "str":
        expect(raw, str, where)
        if raw not in attr.choices:
            raise SnapshotError(f"{where}: {raw[:40]!r} is not one of {', '.join(attr.choices)}")
        return raw
    if kind == "dtype":
        return dtype_of(raw, where)
    if kind == "shape":
        return shape_of(raw, where)
    if kind == "refs":
        return _decode_names(raw, where)
    if kind == "subgraph":
        expect_keys(raw, {"ops", "outputs"}, where)
        ops = _decode_names(raw["ops"], f"{where}.ops")
        for i, name in enumerate(ops):
            expect_name(name, NODE_NAME, f"{where}.ops[{i}]")
        return Subgraph(ops, _decode_names(raw["outputs"], f"{where}.outputs"))
    if kind in ("ints", "int_list"):
        expect(raw, list, where)
        if len(raw) > MAX_ITEMS:
            raise SnapshotError(f"{where}: {len(raw)} items is over the limit of {MAX_ITEMS}")
        values = [_decode_int(v, attr.limit, f"{where}[{i}]") for i, v in enumerate(raw)]
        return tuple(values) if kind == "ints" else values
    return _decode_tensor(raw, where)


def _decode_names(raw: Any, where: str) -> tuple[str, ...]:
    """A list of node or tensor names (resolved against the file in schema.py)."""
    expect(raw, list, where)
    if len(raw) > MAX_ITEMS:
        raise SnapshotError(f"{where}: {len(raw)} items is over the limit of {MAX_ITEMS}")
    return tuple(expect(name, str, f"{where}[{i}]") for i, name in enumerate(raw))


def _decode_int(raw: Any, limit: int, where: str) -> int:
    expect(raw, int, where)
    if abs(raw) > limit:
        raise SnapshotError(f"{where}: {raw} is out of range (|value| <= {limit})")
    return raw


def _decode_float(raw: Any, where: str) -> float:
    if isinstance(raw, str) and raw in _WORDS:
        return _WORDS[raw]
    return float(expect(raw, (int, float), where))


def _decode_tensor(raw: Any, where: str) -> WeightRef | np.ndarray:
    expect(raw, dict, where)
    if "weight" in raw:
        expect_keys(raw, {"weight"}, where)
        return WeightRef(expect_name(raw["weight"], WEIGHT_NAME, f"{where}.weight"))
    expect_keys(raw, {"dtype", "shape", "data"}, where)
    dtype = dtype_of(raw["dtype"], f"{where}.dtype")
    shape = shape_of(raw["shape"], f"{where}.shape", exact=True)
    data = expect(raw["data"], list, f"{where}.data")
    if len(data) != math.prod(shape) or len(data) > INLINE_MAX:  # type: ignore[arg-type]
        raise SnapshotError(f"{where}: {len(data)} inline values for shape {list(shape)} "
                            f"(at most {INLINE_MAX} may be inline)")
    kinds = {"b": bool, "i": int, "u": int, "f": (int, float)}[dtype.np.kind]
    for i, v in enumerate(data):
        expect(v, kinds, f"{where}.data[{i}]")
    try:
        array = np.array(data, dtype=dtype.np).reshape(shape)
    except OverflowError:
        raise SnapshotError(f"{where}: a value is out of range for {dtype.name}") from None
    array.setflags(write=False)
    return array
