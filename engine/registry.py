"""The op registry: one `OpDef` per op type keeps its shape rule, kernel and gradient together.

An op family module (engine/ops/*.py) defines subclasses and decorates them with `@register`.
Sessions look up kernels here, `tf.gradients` looks up gradients, and snapshot loading uses the
registered names as its allow-list.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.backend import Backend
    from engine.dtypes import DType
    from engine.graph import Operation, Tensor
    from engine.shapes import Shape

Spec = tuple["Shape", "DType"]
Kernel = Callable[..., Any]


class ExecContext:
    """What a kernel factory may bind: the backend, the session's variable store and RNG,
    scratch arrays for kernels' internal temporaries, and `subplan(fetches, fed, within)`,
    which compiles a subgraph to run in the same session (tf.cond's branches)."""

    __slots__ = ("backend", "rng_for", "scratch", "subplan", "variables", "xp")

    def __init__(
        self, backend: Backend, variables: dict[str, Any], rng_for: Callable[[Operation], Any],
        subplan: Callable[..., Callable[..., list[Any]]],
    ) -> None:
        self.backend = backend
        self.xp = backend.xp
        self.variables = variables
        self.rng_for = rng_for
        self.subplan = subplan
        self.scratch = Scratch(backend.xp)


class Scratch:
    """Work arrays a kernel takes for temporaries and gives back before it returns, so that
    big temporaries are reused from one run to the next (kept per Session and device, dropped
    with the Session). A kernel's results never come from here: they outlive the call. Safe
    with several threads running one Session: an array is handed to one taker at a time."""

    KEEP = 2  # arrays kept per (shape, dtype)

    def __init__(self, xp: Any) -> None:
        self.xp = xp
        self._free: dict[tuple[Any, ...], list[Any]] = {}

    def take(self, shape: tuple[int, ...], dtype: Any) -> Any:
        """An uninitialised array of `shape` and `dtype`."""
        free = self._free.get((shape, dtype))
        if free:
            try:
                return free.pop()
            except IndexError:  # another thread took the last one
                pass
        return self.xp.empty(shape, dtype)

    def give(self, arrays: Sequence[Any]) -> None:
        """Return arrays from `take` (nothing may still use them)."""
        for array in arrays:
            free = self._free.setdefault((array.shape, array.dtype), [])
            if len(free) < self.KEEP:
                free.append(array)

    def clear(self) -> None:
        self._free.clear()


class OpDef:
    """Base class of an op type. Subclasses override `infer`, `kernel` and `grad`.

    - `infer(op)` returns one `(shape, dtype)` spec per output, or raises ValueError/TypeError.
    - `kernel(op, ctx)` returns a callable taking the input arrays and returning the output
      array (or a tuple for several outputs). It is built once per compiled plan, so
      attribute handling belongs in the factory, not in the callable.
    - `grad(op, *output_grads)` builds gradient ops and returns one tensor (or None) per input.
    - `in_place(op, ctx)`, optional: an elementwise kernel that may reuse input 0's buffer.
    """

    type: str = ""
    differentiable: bool = True
    # Stateful ops (variables, random, assignments) are never deduplicated or constant-folded.
    stateful: bool = False
    # Attributes naming the variables an op updates in place; it runs on their device.
    var_attrs: tuple[str, ...] = ()
    # The kernel always returns a newly allocated array (or a view of one) that nothing else
    # references, so a later op may overwrite it (see `in_place`).
    fresh_output: bool = False
    # Input positions whose value only matters through its shape and dtype.
    shape_only_inputs: tuple[int, ...] = ()

    def infer(self, op: Operation) -> list[Spec]:
        raise NotImplementedError(f"{self.type} has no shape rule")

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        raise NotImplementedError(f"{self.type} has no kernel")

    def in_place(self, op: Operation, ctx: ExecContext) -> Kernel | None:
        """Optionally, a kernel like `kernel`'s that writes its result into input 0 and returns
        it. The Session uses it only when input 0 is a `fresh_output` array that no other op
        reads the values of; it must still work (allocating) when given a non-array."""
        return None

    def grad(self, op: Operation, *grads: Tensor | None) -> Sequence[Tensor | None]:
        raise LookupError(f"No gradient defined for operation '{op.name}' (op type: {op.type})")


_REGISTRY: dict[str, OpDef] = {}


def register(cls: type[OpDef]) -> type[OpDef]:
    """Class decorator: register an op type under its class name (or its own `type`)."""
    name = cls.__dict__.get("type") or cls.__name__
    if name in _REGISTRY:
        raise ValueError(f"Op type {name!r} is registered twice")
    cls.type = name
    _REGISTRY[name] = cls()
    return cls


def lookup(op_type: str) -> OpDef:
    try:
        return _REGISTRY[op_type]
    except KeyError:
        raise KeyError(f"Op type {op_type!r} is not registered") from None


def registered_types() -> frozenset[str]:
    return frozenset(_REGISTRY)
