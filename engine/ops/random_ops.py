"""Random tensors: normal, truncated normal, uniform, shuffles and multinomial samples.

The ops are stateful: each draws from its own numpy Generator, `ctx.rng_for(op)`, seeded from
the graph seed (`tf.set_random_seed`) and the op's `seed` attr and restarted per Session. So two
sessions of a seeded graph see the same sequence while successive runs differ. Numbers are
generated on the host and moved to the op's device, so CPU and GPU runs get identical values.
Like TF, the samplers produce standard distributions; scaling and shifting are ordinary math
ops, so gradients flow to mean/stddev/minval/maxval tensors.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine import dtypes as _dtypes
from engine.graph import Operation, Tensor, convert_to_tensor, graph_of, make_op
from engine.ops.array_ops import check_int_vector, host_reader, int_arg, shape_arg, static_dims
from engine.ops.math_ops import FLOAT, add, check_kind, multiply, shape_error, subtract
from engine.registry import ExecContext, Kernel, OpDef, Spec, register

__all__ = ["multinomial", "random_normal", "random_shuffle", "random_uniform",
           "truncated_normal"]


def _host_float(dtype: np.dtype) -> type:
    """The dtype numpy's Generator samples in: float64 only when the result needs it."""
    return np.float64 if dtype.itemsize > 4 else np.float32


class _Random(OpDef):
    stateful = True
    differentiable = False


class _Sampler(_Random):
    """A tensor of shape input 0 (an int vector) drawn by `sample`, which gets the remaining
    inputs as host scalars."""

    def sample(self, rng: np.random.Generator, shape: list[int], dtype: np.dtype,
               *params: Any) -> np.ndarray:
        raise NotImplementedError

    def infer(self, op: Operation) -> list[Spec]:
        check_int_vector(op, op.inputs[0], "shape")
        return [(static_dims(op, op.inputs[0]), op.attrs["dtype"])]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        rng, from_host = ctx.rng_for(op), ctx.backend.from_host
        readers = [host_reader(ctx, t) for t in op.inputs]
        dtype, sample = op.attrs["dtype"].np, self.sample

        def draw(*arrays: Any) -> Any:
            shape, *params = (r(a) for r, a in zip(readers, arrays, strict=True))
            return from_host(np.asarray(sample(rng, shape, dtype, *params), dtype=dtype))

        return draw


@register
class RandomStandardNormal(_Sampler):
    def sample(self, rng: np.random.Generator, shape: list[int], dtype: np.dtype,
               *params: Any) -> np.ndarray:
        return rng.standard_normal(shape, dtype=_host_float(dtype))


@register
class TruncatedNormal(_Sampler):
    """Standard normal samples, those more than 2 from the mean redrawn (as TF does)."""

    def sample(self, rng: np.random.Generator, shape: list[int], dtype: np.dtype,
               *params: Any) -> np.ndarray:
        host = _host_float(dtype)
        values = rng.standard_normal(shape, dtype=host)
        outside = np.abs(values) > 2
        while outside.any():
            values[outside] = rng.standard_normal(int(outside.sum()), dtype=host)
            outside = np.abs(values) > 2
        return values


@register
class RandomUniform(_Sampler):
    """Floats in [0, 1)."""

    def sample(self, rng: np.random.Generator, shape: list[int], dtype: np.dtype,
               *params: Any) -> np.ndarray:
        return rng.random(shape, dtype=_host_float(dtype))


@register
class RandomUniformInt(_Sampler):
    """Integers in [minval, maxval) (inputs 1 and 2)."""

    def infer(self, op: Operation) -> list[Spec]:
        for t in op.inputs[1:]:
            if t.static_shape not in (None, ()):
                raise shape_error(op, "minval and maxval must be scalars")
        return super().infer(op)

    def sample(self, rng: np.random.Generator, shape: list[int], dtype: np.dtype,
               *params: Any) -> np.ndarray:
        low, high = params
        if low >= high:
            raise ValueError(f"Need minval < maxval: {low} >= {high}")
        return rng.integers(low, high, shape, dtype=dtype)


@register
class RandomShuffle(_Random):
    """Input 0 with its first dimension randomly permuted."""

    def infer(self, op: Operation) -> list[Spec]:
        x = op.inputs[0]
        return [(x.static_shape, x.dtype)]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        rng, from_host = ctx.rng_for(op), ctx.backend.from_host

        def shuffle(x: Any) -> Any:
            return x if x.ndim == 0 else x[from_host(rng.permutation(x.shape[0]))]

        return shuffle


@register
class Multinomial(_Random):
    """attr num_samples class indices per row of logits [batch, classes] (input 0)."""

    def infer(self, op: Operation) -> list[Spec]:
        check_kind(op, op.inputs[0], FLOAT, "logits")
        if op.attrs["output_dtype"] not in (_dtypes.int32, _dtypes.int64):
            raise TypeError(f"Value passed to parameter 'output_dtype' has DataType "
                            f"{op.attrs['output_dtype'].name} not in list of allowed values: "
                            f"int32, int64")
        s = op.inputs[0].static_shape
        if s is not None and len(s) != 2:
            raise shape_error(op, f"logits should be a matrix, got rank {len(s)}")
        batch = None if s is None else s[0]
        return [((batch, op.attrs["num_samples"]), op.attrs["output_dtype"])]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        rng, backend = ctx.rng_for(op), ctx.backend
        n, dtype = op.attrs["num_samples"], op.attrs["output_dtype"].np

        def multinomial(logits: Any) -> Any:
            if logits.ndim != 2 or not logits.shape[1]:
                raise ValueError(f"logits should be a [batch, classes] matrix with at least one "
                                 f"class, got shape {tuple(logits.shape)}")
            z = backend.to_host(logits).astype(np.float64)
            p = np.exp(z - z.max(axis=1, keepdims=True))
            cdf = np.cumsum(p, axis=1)
            u = rng.random((len(z), n)) * cdf[:, -1:]
            picks = (cdf[:, None, :] <= u[:, :, None]).sum(axis=2)
            return backend.from_host(np.minimum(picks, z.shape[1] - 1).astype(dtype))

        return multinomial


# -- public functions ------------------------------------------------------------------------------
def _draw(op_type: str, shape: Any, dtype: Any, seed: int | None, *params: Any) -> Tensor:
    attrs = {"dtype": _dtypes.as_dtype(dtype), "seed": seed}
    return make_op(op_type, [shape_arg(shape), *params], attrs, op_type).outputs[0]


def _float_dtype(dtype: Any) -> _dtypes.DType:
    dt = _dtypes.as_dtype(dtype)
    if not dt.is_floating:
        raise ValueError(f"Invalid dtype {dt.name}: expected a floating point type.")
    return dt


def _scaled(op_type: str, shape: Any, mean: Any, stddev: Any, dtype: Any, seed: int | None,
            name: str) -> Tensor:
    """stddev * standard sample + mean, in a name scope like TF's."""
    dt = _float_dtype(dtype)
    graph = graph_of([shape, mean, stddev])
    with graph.name_scope(name):
        mean, stddev = (convert_to_tensor(v, dtype=dt, graph=graph) for v in (mean, stddev))
        return add(multiply(_draw(op_type, shape, dt, seed), stddev), mean)


def random_normal(shape: Any, mean: Any = 0.0, stddev: Any = 1.0, dtype: Any = _dtypes.float32,
                  seed: int | None = None, name: str | None = None) -> Tensor:
    return _scaled("RandomStandardNormal", shape, mean, stddev, dtype, seed,
                   name or "random_normal")


def truncated_normal(shape: Any, mean: Any = 0.0, stddev: Any = 1.0,
                     dtype: Any = _dtypes.float32, seed: int | None = None,
                     name: str | None = None) -> Tensor:
    """Normal samples, those more than 2 stddev from the mean redrawn."""
    return _scaled("TruncatedNormal", shape, mean, stddev, dtype, seed,
                   name or "truncated_normal")


def random_uniform(shape: Any, minval: Any = 0, maxval: Any = None,
                   dtype: Any = _dtypes.float32, seed: int | None = None,
                   name: str | None = None) -> Tensor:
    """Uniform in [minval, maxval); maxval defaults to 1 for floats and is required for ints."""
    dt = _dtypes.as_dtype(dtype)
    if dt.is_integer and maxval is None:
        raise ValueError(f"Must specify maxval for integer dtype {dt.name}")
    if not (dt.is_integer or dt.is_floating):
        raise ValueError(f"Invalid dtype {dt.name} for random_uniform.")
    graph = graph_of([shape, minval, maxval])
    with graph.name_scope(name or "random_uniform"):
        low, high = (convert_to_tensor(v, dtype=dt, graph=graph)
                     for v in (minval, 1 if maxval is None else maxval))
        if dt.is_integer:
            return _draw("RandomUniformInt", shape, dt, seed, low, high)
        return add(multiply(_draw("RandomUniform", shape, dt, seed), subtract(high, low)), low)


def random_shuffle(value: Any, seed: int | None = None, name: str | None = None) -> Tensor:
    """`value` with its first dimension randomly permuted."""
    return make_op("RandomShuffle", [value], {"seed": seed}, name or "RandomShuffle").outputs[0]


def multinomial(logits: Any, num_samples: int, seed: int | None = None, name: str | None = None,
                output_dtype: Any = None) -> Tensor:
    """Class indices drawn from the softmax of each row of `logits` [batch, classes]."""
    attrs = {"num_samples": int_arg(num_samples, "num_samples"), "seed": seed,
             "output_dtype": _dtypes.as_dtype(output_dtype or _dtypes.int64)}
    if attrs["num_samples"] < 0:
        raise ValueError(f"num_samples must be non-negative, got {num_samples}")
    return make_op("Multinomial", [logits], attrs, name or "multinomial").outputs[0]
