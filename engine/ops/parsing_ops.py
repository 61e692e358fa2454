"""`tf.decode_csv`: CSV records (string tensors) into typed columns, the parse step of TF 1.x
input pipelines (`tf.data.TextLineDataset(...).map(parse_csv)`).

Strings live on the host, so the kernel parses there (with Python's csv module) and hands
numeric columns to the op's device; string columns stay host object arrays of bytes, as TF's.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from typing import Any

import numpy as np

from engine import dtypes as _dtypes
from engine import errors
from engine.graph import Operation, Tensor, convert_to_tensor
from engine.registry import ExecContext, Kernel, OpDef, Spec, register

__all__ = ["decode_csv"]

_KINDS = (_dtypes.float32, _dtypes.float64, _dtypes.int32, _dtypes.int64, _dtypes.string)


@register
class DecodeCSV(OpDef):
    """records (strings, any shape) -> one tensor per column, each of the records' shape.
    Attrs: `defaults`, one (dtype, default or None when the field is required) per column."""

    differentiable = False

    def infer(self, op: Operation) -> list[Spec]:
        records = op.inputs[0]
        if records.dtype != _dtypes.string:
            raise TypeError(f"decode_csv: records must be a string tensor, got "
                            f"{records.dtype.name} ({records.name}).")
        return [(records.static_shape, dtype) for dtype, _ in op.attrs["defaults"]]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        defaults, delim = op.attrs["defaults"], op.attrs["field_delim"]
        quoting = csv.QUOTE_MINIMAL if op.attrs["use_quote_delim"] else csv.QUOTE_NONE
        na, select = op.attrs["na_value"], op.attrs["select_cols"]
        from_host = ctx.backend.from_host

        def decode(records: Any) -> Any:
            lines = np.asarray(records, dtype=object)
            columns = [np.empty(lines.shape, dtype=dtype.np) for dtype, _ in defaults]
            for index, record in np.ndenumerate(lines):
                text = record.decode() if isinstance(record, bytes) else str(record)
                fields = next(csv.reader([text], delimiter=delim, quoting=quoting), [])
                if select is not None:
                    fields = [fields[i] if i < len(fields) else "" for i in select]
                if len(fields) != len(defaults):
                    raise errors.InvalidArgumentError(
                        None, op, f"Expect {len(defaults)} fields but have {len(fields)} in "
                                  f"record {text!r}")
                for column, (dtype, default), (i, field) in zip(
                        columns, defaults, enumerate(fields), strict=True):
                    column[index] = _value(op, field, i, dtype, default, na, text)
            out = [c if dtype == _dtypes.string else from_host(c)
                   for c, (dtype, _) in zip(columns, defaults, strict=True)]
            return out[0] if len(out) == 1 else tuple(out)

        return decode


def _value(op: Operation, field: str, column: int, dtype: _dtypes.DType, default: Any,
           na: str, record: str) -> Any:
    """One field as `dtype`; an empty (or `na`) field takes the column's default."""
    if field == "" or field == na:
        if default is None:
            raise errors.InvalidArgumentError(
                None, op, f"Field {column} is required but missing in record {record!r}")
        return default
    if dtype == _dtypes.string:
        return field.encode()
    try:
        return float(field) if dtype.is_floating else int(field)
    except ValueError:
        raise errors.InvalidArgumentError(
            None, op, f"Field {column} in record {record!r} is not a valid "
                      f"{dtype.name}: {field!r}") from None


def decode_csv(records: Any, record_defaults: Sequence[Any], field_delim: str = ",",
               use_quote_delim: bool = True, name: str | None = None, na_value: str = "",
               select_cols: Sequence[int] | None = None) -> list[Tensor]:
    """The columns of CSV `records`: `record_defaults` gives one entry per column, a list
    holding its default value (whose type is the column's dtype) or a dtype / empty list for
    a required column (float32 when empty)."""
    records = convert_to_tensor(records)
    if not isinstance(record_defaults, list | tuple) or not record_defaults:
        raise ValueError("record_defaults must be a non-empty list, one entry per column.")
    if not isinstance(field_delim, str) or len(field_delim) != 1:
        raise ValueError(f"field_delim must be one character, got {field_delim!r}.")
    if select_cols is not None and (list(select_cols) != sorted(set(select_cols)) or
                                    len(select_cols) != len(record_defaults)):
        raise ValueError("select_cols must be increasing, one index per record default.")
    defaults = [_column(d, i) for i, d in enumerate(record_defaults)]
    attrs = {"defaults": defaults, "field_delim": field_delim,
             "use_quote_delim": bool(use_quote_delim), "na_value": str(na_value),
             "select_cols": None if select_cols is None else [int(i) for i in select_cols]}
    op = records.graph.create_op("DecodeCSV", [records], attrs, name or "DecodeCSV")
    return list(op.outputs)


def _column(default: Any, index: int) -> tuple[_dtypes.DType, Any]:
    """(dtype, default value or None) of one record default, as TF reads them."""
    if isinstance(default, _dtypes.DType):
        return _checked(default, index), None
    if isinstance(default, list | tuple):
        if not default:
            return _dtypes.float32, None
        if len(default) != 1:
            raise ValueError(f"record_defaults[{index}] must hold one default value, got "
                             f"{default!r}.")
        default = default[0]
    if isinstance(default, bytes | str):
        return _dtypes.string, default.encode() if isinstance(default, str) else default
    if isinstance(default, bool) or not isinstance(default, int | float | np.number):
        raise TypeError(f"record_defaults[{index}]: {default!r} is not a number or string.")
    dtype = _dtypes.float32 if isinstance(default, float | np.floating) else _dtypes.int32
    if isinstance(default, np.generic):
        dtype = _checked(_dtypes.as_dtype(default.dtype), index)
    return dtype, default


def _checked(dtype: _dtypes.DType, index: int) -> _dtypes.DType:
    if dtype not in _KINDS:
        raise TypeError(f"record_defaults[{index}]: {dtype.name} columns are not supported "
                        f"(float32, float64, int32, int64 or string).")
    return dtype
