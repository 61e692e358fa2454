"""Linear algebra beyond matmul: QR decomposition (for orthogonal initial weights)."""

from __future__ import annotations

from typing import Any

from engine.graph import Operation, Tensor, make_op
from engine.ops.math_ops import shape_error
from engine.registry import ExecContext, Kernel, OpDef, Spec, register

__all__ = ["qr"]


@register
class Qr(OpDef):
    """input [..., M, N] = q r, q with orthonormal columns, r upper triangular; with
    `full_matrices` q is [..., M, M] and r [..., M, N], else q is [..., M, K] and r
    [..., K, N], K = min(M, N). Not differentiable here (TF's gradient covers only M >= N)."""

    differentiable = False

    def infer(self, op: Operation) -> list[Spec]:
        x = op.inputs[0]
        if not x.dtype.is_floating:
            raise TypeError(f"Qr needs a float input, got {x.dtype.name} ({x.name}).")
        shape = x.static_shape
        if shape is None:
            return [(None, x.dtype), (None, x.dtype)]
        if len(shape) < 2:
            raise shape_error(op, f"Qr needs a matrix (rank >= 2), got rank {len(shape)}")
        *batch, m, n = shape
        k = m if op.attrs["full_matrices"] else (None if m is None or n is None else min(m, n))
        return [((*batch, m, k), x.dtype), ((*batch, k, n), x.dtype)]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        mode = "complete" if op.attrs["full_matrices"] else "reduced"
        decompose = ctx.xp.linalg.qr

        def qr(x: Any) -> tuple[Any, Any]:
            if x.ndim < 2:
                raise ValueError(f"Qr needs a matrix (rank >= 2), got shape {x.shape}")
            return decompose(x, mode=mode)

        return qr


def qr(input: Any, full_matrices: bool = False, name: str | None = None) -> tuple[Tensor, Tensor]:
    """(q, r) with input = q r (`tf.qr`, `tf.linalg.qr`)."""
    op = make_op("Qr", [input], {"full_matrices": bool(full_matrices)}, name or "Qr")
    return op.outputs[0], op.outputs[1]
