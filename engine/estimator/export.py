"""`tf.estimator.export`: what an exported snapshot takes as input.

A serving input receiver fn is called in the export graph and returns a ServingInputReceiver:
`features`, the tensors the model_fn reads, and `receiver_tensors`, the placeholders the
snapshot's callers feed, by input name (often the same tensors).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from engine.estimator.estimator import placeholder_name
from engine.graph import Tensor
from engine.ops.array_ops import placeholder

__all__ = ["ServingInputReceiver", "build_raw_serving_input_receiver_fn"]


class ServingInputReceiver:
    """features: a tensor or dict of tensors for the model_fn; receiver_tensors: a tensor or
    dict of the snapshot's inputs (a lone tensor is named 'input', as in TF)."""

    def __init__(self, features: Tensor | Mapping[str, Tensor],
                 receiver_tensors: Tensor | Mapping[str, Tensor]) -> None:
        self.features = features if isinstance(features, Tensor) else dict(features)
        self.receiver_tensors = {"input": receiver_tensors} \
            if isinstance(receiver_tensors, Tensor) else dict(receiver_tensors)
        for name, tensor in self.receiver_tensors.items():
            if not isinstance(tensor, Tensor):
                raise ValueError(f"receiver_tensors[{name!r}] must be a Tensor, got "
                                 f"{tensor!r}.")


def build_raw_serving_input_receiver_fn(features: Mapping[str, Any],
                                        default_batch_size: int | None = None
                                        ) -> Callable[[], ServingInputReceiver]:
    """A receiver fn feeding the model a placeholder per feature, with the dtype and
    per-example shape of `features` (tensors or arrays; made in the export graph)."""
    specs = {key: (value.dtype, tuple(value.shape.as_list()[1:]) if isinstance(value, Tensor)
                   else tuple(value.shape[1:])) for key, value in features.items()}

    def receiver_fn() -> ServingInputReceiver:
        tensors = {key: placeholder(dtype, (default_batch_size, *shape),
                                    name=placeholder_name(key))
                   for key, (dtype, shape) in specs.items()}
        return ServingInputReceiver(tensors, tensors)

    return receiver_fn
