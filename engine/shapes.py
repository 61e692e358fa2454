"""Static shapes: `TensorShape` for users, plain tuples (None = unknown dim) inside the engine."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

# Internally a shape is `None` (unknown rank) or a tuple of `int | None`.
Shape = tuple[int | None, ...] | None


class Dimension:
    """One dimension of a static shape; `value` is None when unknown (TF 1.x API)."""

    __slots__ = ("value",)

    def __init__(self, value: int | None) -> None:
        self.value = None if value is None else int(value)

    def __int__(self) -> int:
        if self.value is None:
            raise TypeError("Cannot convert an unknown Dimension to an int.")
        return self.value

    __index__ = __int__

    def __eq__(self, other: object) -> Any:
        other_value = other.value if isinstance(other, Dimension) else other
        if self.value is None or other_value is None:
            return None
        return self.value == other_value

    def __hash__(self) -> int:
        return hash(self.value)

    def __repr__(self) -> str:
        return f"Dimension({self.value})"

    def __str__(self) -> str:
        return "?" if self.value is None else str(self.value)


class TensorShape:
    """The static shape of a tensor, possibly partially known."""

    __slots__ = ("_dims",)

    def __init__(self, dims: Any) -> None:
        self._dims: Shape = as_shape_tuple(dims)

    @property
    def dims(self) -> list[Dimension] | None:
        return None if self._dims is None else [Dimension(d) for d in self._dims]

    @property
    def ndims(self) -> int | None:
        return None if self._dims is None else len(self._dims)

    rank = ndims

    def as_list(self) -> list[int | None]:
        if self._dims is None:
            raise ValueError("as_list() is not defined on an unknown TensorShape.")
        return list(self._dims)

    def as_tuple(self) -> Shape:
        return self._dims

    def is_fully_defined(self) -> bool:
        return self._dims is not None and all(d is not None for d in self._dims)

    def num_elements(self) -> int | None:
        if not self.is_fully_defined():
            return None
        n = 1
        for d in self._dims:  # type: ignore[union-attr]
            n *= d  # type: ignore[operator]
        return n

    def is_compatible_with(self, other: Any) -> bool:
        return compatible(self._dims, as_shape_tuple(other))

    def merge_with(self, other: Any) -> TensorShape:
        return TensorShape(merge(self._dims, as_shape_tuple(other)))

    def __len__(self) -> int:
        if self._dims is None:
            raise ValueError("Cannot take the length of a shape with unknown rank.")
        return len(self._dims)

    def __iter__(self) -> Iterator[Dimension]:
        if self._dims is None:
            raise ValueError("Cannot iterate over a shape with unknown rank.")
        return iter([Dimension(d) for d in self._dims])

    def __getitem__(self, key: int | slice) -> Any:
        if self._dims is None:
            return TensorShape(None) if isinstance(key, slice) else Dimension(None)
        if isinstance(key, slice):
            return TensorShape(self._dims[key])
        return Dimension(self._dims[key])

    def __eq__(self, other: object) -> bool:
        try:
            return self._dims == as_shape_tuple(other)
        except (TypeError, ValueError):
            return False

    def __hash__(self) -> int:
        return hash(self._dims)

    def __repr__(self) -> str:
        return f"TensorShape({self.as_list() if self._dims is not None else None})"

    def __str__(self) -> str:
        if self._dims is None:
            return "<unknown>"
        inner = ", ".join("?" if d is None else str(d) for d in self._dims)
        return f"({inner},)" if len(self._dims) == 1 else f"({inner})"


def as_shape_tuple(dims: Any) -> Shape:
    """Normalise a TensorShape, list, tuple, int or None into the internal tuple form."""
    if dims is None:
        return None
    if isinstance(dims, TensorShape):
        return dims.as_tuple()
    if isinstance(dims, int | Dimension):
        dims = [dims]
    if not isinstance(dims, Sequence):
        try:
            dims = list(dims)
        except TypeError as e:
            raise TypeError(f"Cannot interpret {dims!r} as a shape.") from e
    out: list[int | None] = []
    for d in dims:
        if isinstance(d, Dimension):
            d = d.value
        if d is None or (isinstance(d, int | float) and not isinstance(d, bool) and d == -1):
            out.append(None)
        elif isinstance(d, int) or (hasattr(d, "__index__") and not isinstance(d, bool)):
            if int(d) < 0:
                raise ValueError(f"Dimension {d} in shape {list(dims)} must be >= 0 or None.")
            out.append(int(d))
        else:
            raise TypeError(f"Shape dimensions must be integers or None, got {d!r}.")
    return tuple(out)


def compatible(a: Shape, b: Shape) -> bool:
    """True when two static shapes could describe the same runtime shape."""
    if a is None or b is None:
        return True
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):  # noqa: SIM110 (a loop is faster: runs per feed)
        if x != y and x is not None and y is not None:
            return False
    return True


def merge(a: Shape, b: Shape) -> Shape:
    if a is None:
        return b
    if b is None:
        return a
    if not compatible(a, b):
        raise ValueError(f"Shapes {fmt(a)} and {fmt(b)} are not compatible")
    return tuple(x if x is not None else y for x, y in zip(a, b, strict=True))


def fmt(shape: Shape) -> str:
    """TF's shape wording in messages: `[2,3]`, `[?,784]`, `?` for unknown rank."""
    if shape is None:
        return "?"
    return "[" + ",".join("?" if d is None else str(d) for d in shape) + "]"


def num_elements(shape: Shape) -> int | None:
    if shape is None or any(d is None for d in shape):
        return None
    n = 1
    for d in shape:
        n *= d  # type: ignore[operator]
    return n
