"""`tf.initializers` and the `tf.*_initializer` classes: callables that build a variable's
initial value, `init(shape, dtype=None, partition_info=None) -> Tensor`.

Random initializers draw with the ops of engine/ops/random_ops.py, so `tf.set_random_seed`
(the graph seed) or their own `seed` makes the values repeatable across Sessions, as in TF.
The variance-scaling family follows TF 1.x: a 'truncated_normal' draw is rescaled by
0.87962566103423978 (the stddev of a standard normal truncated at 2) to keep its variance.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from engine import dtypes as _dtypes
from engine import variables as _variables
from engine.graph import Tensor
from engine.ops import array_ops, random_ops
from engine.shapes import as_shape_tuple

# Only the `*_initializer` names go to `tf.*`; the short ones (zeros, ones, ...) would shadow
# tf.zeros and tf.ones there, so they live on `tf.initializers` alone.
__all__ = [
    "constant_initializer", "glorot_normal_initializer", "glorot_uniform_initializer",
    "ones_initializer", "orthogonal_initializer", "random_normal_initializer",
    "random_uniform_initializer", "truncated_normal_initializer",
    "variance_scaling_initializer", "zeros_initializer",
]

_TRUNCATED_STDDEV = 0.87962566103423978


class Initializer:
    """Base class: subclasses implement `_generate(shape, dtype)` for a fully known shape."""

    def __init__(self, dtype: Any = _dtypes.float32) -> None:
        self.dtype = _dtypes.as_dtype(dtype)

    def __call__(self, shape: Any, dtype: Any = None, partition_info: Any = None) -> Tensor:
        dims = as_shape_tuple(shape)
        if dims is None or any(d is None for d in dims):
            raise ValueError(f"An initializer needs a fully defined shape, got {shape!r}.")
        return self._generate(tuple(int(d) for d in dims),
                              _dtypes.as_dtype(dtype if dtype is not None else self.dtype))

    def _generate(self, shape: tuple[int, ...], dtype: _dtypes.DType) -> Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.dtype.name}>"


class Zeros(Initializer):
    def _generate(self, shape: tuple[int, ...], dtype: _dtypes.DType) -> Tensor:
        return array_ops.zeros(shape, dtype)


class Ones(Initializer):
    def _generate(self, shape: tuple[int, ...], dtype: _dtypes.DType) -> Tensor:
        return array_ops.ones(shape, dtype)


class Constant(Initializer):
    """`value` (a scalar fills the shape; a list must have the shape's size, or fewer elements
    unless `verify_shape`: the last one is repeated, as `tf.constant` does)."""

    def __init__(self, value: Any = 0, dtype: Any = _dtypes.float32,
                 verify_shape: bool = False) -> None:
        super().__init__(dtype)
        self.value, self.verify_shape = value, verify_shape

    def _generate(self, shape: tuple[int, ...], dtype: _dtypes.DType) -> Tensor:
        return array_ops.constant(self.value, dtype, shape, verify_shape=self.verify_shape)


class _Seeded(Initializer):
    def __init__(self, seed: int | None, dtype: Any) -> None:
        super().__init__(dtype)
        self.seed = seed


class RandomNormal(_Seeded):
    def __init__(self, mean: float = 0.0, stddev: float = 1.0, seed: int | None = None,
                 dtype: Any = _dtypes.float32) -> None:
        super().__init__(seed, dtype)
        self.mean, self.stddev = mean, stddev

    def _generate(self, shape: tuple[int, ...], dtype: _dtypes.DType) -> Tensor:
        return random_ops.random_normal(shape, self.mean, self.stddev, dtype, self.seed)


class TruncatedNormal(RandomNormal):
    """Normal samples, those more than two stddevs from the mean redrawn."""

    def _generate(self, shape: tuple[int, ...], dtype: _dtypes.DType) -> Tensor:
        return random_ops.truncated_normal(shape, self.mean, self.stddev, dtype, self.seed)


class RandomUniform(_Seeded):
    """Uniform in [minval, maxval); maxval defaults to 1 for floats."""

    def __init__(self, minval: float = 0, maxval: float | None = None, seed: int | None = None,
                 dtype: Any = _dtypes.float32) -> None:
        super().__init__(seed, dtype)
        self.minval, self.maxval = minval, maxval

    def _generate(self, shape: tuple[int, ...], dtype: _dtypes.DType) -> Tensor:
        return random_ops.random_uniform(shape, self.minval, self.maxval, dtype, self.seed)


def _fans(shape: tuple[int, ...]) -> tuple[float, float]:
    """(fan_in, fan_out) as TF computes them; conv kernels [..., in, out] count their
    receptive field."""
    if not shape:
        return 1.0, 1.0
    if len(shape) == 1:
        return float(shape[0]), float(shape[0])
    receptive = math.prod(shape[:-2])
    return float(shape[-2] * receptive), float(shape[-1] * receptive)


class VarianceScaling(_Seeded):
    """Samples with variance scale / n, n the fan-in, fan-out or their mean (`mode`)."""

    _MODES = ("fan_in", "fan_out", "fan_avg")
    _DISTRIBUTIONS = ("normal", "truncated_normal", "untruncated_normal", "uniform")

    def __init__(self, scale: float = 1.0, mode: str = "fan_in",
                 distribution: str = "truncated_normal", seed: int | None = None,
                 dtype: Any = _dtypes.float32) -> None:
        if scale <= 0.0:
            raise ValueError(f"`scale` must be a positive float, got {scale}.")
        if mode not in self._MODES:
            raise ValueError(f"Invalid `mode` argument {mode!r}: expected one of {self._MODES}.")
        if distribution not in self._DISTRIBUTIONS:
            raise ValueError(f"Invalid `distribution` argument {distribution!r}: expected one of "
                             f"{self._DISTRIBUTIONS}.")
        super().__init__(seed, dtype)
        self.scale, self.mode, self.distribution = scale, mode, distribution

    def _generate(self, shape: tuple[int, ...], dtype: _dtypes.DType) -> Tensor:
        fan_in, fan_out = _fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        variance = self.scale / max(1.0, n)
        if self.distribution in ("normal", "truncated_normal"):
            stddev = math.sqrt(variance) / _TRUNCATED_STDDEV
            return random_ops.truncated_normal(shape, 0.0, stddev, dtype, self.seed)
        if self.distribution == "untruncated_normal":
            return random_ops.random_normal(shape, 0.0, math.sqrt(variance), dtype, self.seed)
        limit = math.sqrt(3.0 * variance)
        return random_ops.random_uniform(shape, -limit, limit, dtype, self.seed)


class GlorotUniform(VarianceScaling):
    """Uniform in [-l, l], l = sqrt(6 / (fan_in + fan_out)): the default kernel initializer."""

    def __init__(self, seed: int | None = None, dtype: Any = _dtypes.float32) -> None:
        super().__init__(1.0, "fan_avg", "uniform", seed, dtype)


class GlorotNormal(VarianceScaling):
    """Truncated normal with stddev sqrt(2 / (fan_in + fan_out))."""

    def __init__(self, seed: int | None = None, dtype: Any = _dtypes.float32) -> None:
        super().__init__(1.0, "fan_avg", "truncated_normal", seed, dtype)


class Orthogonal(_Seeded):
    """A (semi-)orthogonal matrix times `gain` (Saxe et al. 2014), as TF makes it: the shape
    flattened to [rows, last dim], the Q of a normal draw's QR decomposition, its columns'
    signs fixed by R's diagonal so the result is uniform over orthogonal matrices."""

    def __init__(self, gain: float = 1.0, seed: int | None = None,
                 dtype: Any = _dtypes.float32) -> None:
        super().__init__(seed, dtype)
        self.gain = gain

    def _generate(self, shape: tuple[int, ...], dtype: _dtypes.DType) -> Tensor:
        from engine.ops import linalg_ops, math_ops, reduction_ops

        if len(shape) < 2:
            raise ValueError(f"The tensor to initialize must be at least two-dimensional, got "
                             f"shape {list(shape)}.")
        rows, cols = math.prod(shape[:-1]), shape[-1]
        draw = random_ops.random_normal((max(rows, cols), min(rows, cols)), dtype=dtype,
                                        seed=self.seed)
        q, r = linalg_ops.qr(draw)
        identity = array_ops.constant(np.eye(min(rows, cols)), dtype)
        diagonal = reduction_ops.reduce_sum(r * identity, 0)
        q = q * math_ops.sign(diagonal)
        if rows < cols:
            q = array_ops.transpose(q)
        return array_ops.reshape(q * self.gain, shape)


def he_normal(seed: int | None = None) -> VarianceScaling:
    return VarianceScaling(2.0, "fan_in", "truncated_normal", seed)


def he_uniform(seed: int | None = None) -> VarianceScaling:
    return VarianceScaling(2.0, "fan_in", "uniform", seed)


def lecun_normal(seed: int | None = None) -> VarianceScaling:
    return VarianceScaling(1.0, "fan_in", "truncated_normal", seed)


def lecun_uniform(seed: int | None = None) -> VarianceScaling:
    return VarianceScaling(1.0, "fan_in", "uniform", seed)


# TF 1.x spellings: `tf.zeros_initializer()`, `tf.initializers.zeros()`, Keras's `'zeros'`.
zeros_initializer = zeros = Zeros
ones_initializer = ones = Ones
constant_initializer = constant = Constant
random_normal_initializer = random_normal = RandomNormal
truncated_normal_initializer = truncated_normal = TruncatedNormal
random_uniform_initializer = random_uniform = RandomUniform
variance_scaling_initializer = variance_scaling = VarianceScaling
glorot_uniform_initializer = glorot_uniform = GlorotUniform
glorot_normal_initializer = glorot_normal = GlorotNormal
orthogonal_initializer = orthogonal = Orthogonal
# `tf.initializers.global_variables()` etc.: the ops that run variables' initializers.
global_variables = _variables.global_variables_initializer
local_variables = _variables.local_variables_initializer
variables = _variables.variables_initializer

_BY_NAME: dict[str, Callable[[], Initializer]] = {
    "zeros": Zeros, "ones": Ones, "constant": Constant, "random_normal": RandomNormal,
    "truncated_normal": TruncatedNormal, "random_uniform": RandomUniform,
    "variance_scaling": VarianceScaling, "glorot_uniform": GlorotUniform,
    "glorot_normal": GlorotNormal, "orthogonal": Orthogonal, "he_normal": he_normal,
    "he_uniform": he_uniform, "lecun_normal": lecun_normal, "lecun_uniform": lecun_uniform,
}


def get(identifier: Any) -> Callable[..., Tensor] | None:
    """An initializer from a Keras-style name ('glorot_uniform'), a callable, or None."""
    if identifier is None or callable(identifier):
        return identifier
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier]()
    raise ValueError(f"Unknown initializer {identifier!r}: expected a callable or one of "
                     f"{sorted(_BY_NAME)}.")

