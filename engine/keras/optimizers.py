"""`tf.keras.optimizers`: Keras's optimizers with Keras's documented defaults (those of
keras.io / tf.keras 2.x), on the engine's fused update ops.

They subclass the tf.train optimizers, so a model accepts either kind. Where Keras's rule
differs from TF 1.x's it is matched: RMSprop's mean square starts at 0 (TF 1.x starts it at
1), and epsilon is Keras's 1e-7. `lr` is accepted as Keras 2.2's spelling of
`learning_rate`. Adagrad takes no epsilon: the fused update divides by sqrt(accumulator),
which starts at `initial_accumulator_value`.
"""

from __future__ import annotations

from typing import Any

from engine.train.optimizers import (
    AdadeltaOptimizer,
    AdagradOptimizer,
    AdamOptimizer,
    MomentumOptimizer,
    Optimizer,
    RMSPropOptimizer,
)

__all__ = ["SGD", "Adadelta", "Adagrad", "Adam", "Optimizer", "RMSprop", "get"]


def _rate(learning_rate: Any, lr: Any) -> Any:
    return learning_rate if lr is None else lr


class SGD(MomentumOptimizer):
    """Gradient descent with optional (Nesterov) momentum: v = m v - lr g; w += v."""

    def __init__(self, learning_rate: Any = 0.01, momentum: float = 0.0, nesterov: bool = False,
                 name: str = "SGD", lr: Any = None) -> None:
        super().__init__(_rate(learning_rate, lr), momentum, name=name, use_nesterov=nesterov)


class RMSprop(RMSPropOptimizer):
    """ms = rho ms + (1 - rho) g^2 (from 0); w -= lr g / sqrt(ms + epsilon)."""

    def __init__(self, learning_rate: Any = 0.001, rho: float = 0.9, momentum: float = 0.0,
                 epsilon: float = 1e-7, centered: bool = False, name: str = "RMSprop",
                 lr: Any = None) -> None:
        super().__init__(_rate(learning_rate, lr), rho, momentum, epsilon, centered=centered,
                         name=name)

    def _slot_specs(self) -> list[tuple[str, float]]:
        return [("rms", 0.0), *super()._slot_specs()[1:]]


class Adam(AdamOptimizer):
    def __init__(self, learning_rate: Any = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, name: str = "Adam", lr: Any = None) -> None:
        super().__init__(_rate(learning_rate, lr), beta_1, beta_2, epsilon, name=name)


class Adagrad(AdagradOptimizer):
    def __init__(self, learning_rate: Any = 0.001, initial_accumulator_value: float = 0.1,
                 name: str = "Adagrad", lr: Any = None) -> None:
        super().__init__(_rate(learning_rate, lr), initial_accumulator_value, name=name)


class Adadelta(AdadeltaOptimizer):
    def __init__(self, learning_rate: Any = 0.001, rho: float = 0.95, epsilon: float = 1e-7,
                 name: str = "Adadelta", lr: Any = None) -> None:
        super().__init__(_rate(learning_rate, lr), rho, epsilon, name=name)


_BY_NAME = {"sgd": SGD, "rmsprop": RMSprop, "adam": Adam, "adagrad": Adagrad,
            "adadelta": Adadelta}


def get(identifier: Any) -> Optimizer:
    """An optimizer from a Keras name (default settings) or an optimizer instance (Keras's or
    tf.train's)."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    raise ValueError(f"Unknown optimizer: {identifier!r}. Valid names: "
                     f"{', '.join(sorted(_BY_NAME))}; or pass an optimizer instance "
                     f"(tf.keras.optimizers.* or tf.train.*Optimizer).")
