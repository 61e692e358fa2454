"""`tf.keras.regularizers`: weight penalties for `kernel_regularizer=` and friends; a model
adds them to its training loss."""

from __future__ import annotations

from typing import Any

from engine.graph import Tensor, convert_to_tensor
from engine.ops import math_ops, reduction_ops

__all__ = ["L1L2", "l1", "l1_l2", "l2"]


class L1L2:
    """l1 * sum(|w|) + l2 * sum(w^2)."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0) -> None:
        self.l1, self.l2 = float(l1), float(l2)

    def __call__(self, weights: Any) -> Tensor:
        w = convert_to_tensor(weights)
        penalty = convert_to_tensor(0.0, w.dtype)
        if self.l1:
            penalty += self.l1 * reduction_ops.reduce_sum(math_ops.abs(w))
        if self.l2:
            penalty += self.l2 * reduction_ops.reduce_sum(math_ops.square(w))
        return penalty


def l1(l: float = 0.01) -> L1L2:
    return L1L2(l1=l)


def l2(l: float = 0.01) -> L1L2:
    return L1L2(l2=l)


def l1_l2(l1: float = 0.01, l2: float = 0.01) -> L1L2:
    return L1L2(l1=l1, l2=l2)
