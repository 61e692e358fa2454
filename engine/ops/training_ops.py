"""Optimizer update ops (TF's training_ops): each updates one variable and its slots in place.

An Apply op names the variable and its slot variables in attributes (listed in `var_attrs`, so
the Session runs it on the variable's device) and takes the gradient plus scalar hyperparameter
tensors as inputs. This is the inner loop of every training step, so kernels update the stored
arrays in place with `out=` ufuncs and one or two temporaries, and hyperparameters that are
constants are cast to the variable's dtype once, when the kernel is built.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from engine import errors
from engine.graph import Operation, Tensor
from engine.ops.math_ops import shape_error
from engine.ops.state_ops import read_variable
from engine.registry import ExecContext, Kernel, OpDef, Spec, lookup, register
from engine.shapes import compatible, fmt

if TYPE_CHECKING:
    from engine.variables import Variable

# On the CPU, updates of variables over one chunk run chunk by chunk: each chunk stays in cache
# across the update's several passes instead of streaming the whole arrays from memory each
# time (measured here: Adam on a 784x512 weight 0.95 -> 0.65 ms; 64k is the best chunk size).
CHUNK = 1 << 16


class ApplyOp(OpDef):
    """Shared shape rule and kernel of the Apply ops.

    Subclasses list their slot attributes in `slots` and their scalar inputs (after the
    gradient) in `hypers`, and implement `update(xp, var, *slots, grad, *hypers, work)`, which
    modifies the arrays in place; `work` is a scratch array of grad's shape for temporaries
    (reused across steps, so an update allocates nothing of its own in the common case).
    """

    differentiable = False
    stateful = True
    slots: tuple[str, ...] = ()
    hypers: tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.var_attrs = ("var", *cls.slots)

    def infer(self, op: Operation) -> list[Spec]:
        var = op.graph.get_operation_by_name(op.attrs["var"]).outputs[0]
        if len(op.inputs) != 1 + len(self.hypers):
            raise ValueError(f"{op.type} takes the gradient and {', '.join(self.hypers)}; got "
                             f"{len(op.inputs)} inputs for '{op.name}'.")
        grad = op.inputs[0]
        if grad.dtype != var.dtype:
            raise TypeError(f"Input 'grad' of '{op.type}' Op has type {grad.dtype.name} that "
                            f"does not match type {var.dtype.name} of argument 'var'.")
        if not compatible(var.static_shape, grad.static_shape):
            raise shape_error(op, f"var and grad do not have the same shape: variable "
                                  f"'{var.op.name}'")
        for name, t in zip(self.hypers, op.inputs[1:], strict=True):
            if not t.dtype.is_floating:
                raise TypeError(f"Input '{name}' of '{op.type}' Op must be a float, got "
                                f"{t.dtype.name}.")
            if t.static_shape not in (None, ()):
                raise shape_error(op, f"{name} is not a scalar")
        return [(var.static_shape, var.dtype)]

    update: Callable[..., None]

    def updater(self, op: Operation) -> Callable[..., None]:
        """The update function for this op's attributes (Momentum picks Nesterov here)."""
        return self.update

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        store, xp, scratch = ctx.variables, ctx.xp, ctx.scratch
        names = [op.attrs[a] for a in self.var_attrs]
        dtype = op.outputs[0].dtype.np
        static = [_constant_scalar(t, dtype) for t in op.inputs[1:]]
        runtime = [(i, name) for i, (name, s) in enumerate(zip(self.hypers, static, strict=True))
                   if s is None]
        update = self.updater(op)
        chunked = ctx.backend.name == "cpu"

        def apply(grad: Any, *values: Any) -> Any:
            try:
                arrays = [store[n] for n in names]
            except KeyError:
                arrays = [read_variable(ctx, op, n) for n in names]
            if grad.shape != arrays[0].shape:
                raise errors.InvalidArgumentError(
                    None, op, f"var and grad do not have the same shape: variable '{names[0]}' "
                    f"{fmt(arrays[0].shape)}, gradient {fmt(grad.shape)}")
            scalars = static
            if runtime:
                scalars = static.copy()
                for i, name in runtime:
                    scalars[i] = _scalar(op, name, values[i], dtype)
            size = grad.size
            if chunked and size > CHUNK and all(a.flags.c_contiguous for a in arrays):
                flat = [a.reshape(-1) for a in (*arrays, grad)]
                work = scratch.take((CHUNK,), dtype)
                for start in range(0, size, CHUNK):
                    stop = min(start + CHUNK, size)
                    update(xp, *[a[start:stop] for a in flat], *scalars, work[:stop - start])
            else:
                work = scratch.take(grad.shape, dtype)
                update(xp, *arrays, grad, *scalars, work)
            scratch.give((work,))
            return arrays[0]

        return apply


def _scalar(op: Operation, name: str, value: Any, dtype: Any) -> Any:
    """A hyperparameter computed at run time, as a scalar of the variable's dtype (a numpy
    scalar on the CPU: arithmetic on it costs a tenth of a 0-d array's)."""
    if value.ndim:
        raise errors.InvalidArgumentError(
            None, op, f"{name} is not a scalar: got shape {fmt(value.shape)} for '{op.name}'")
    return value.astype(dtype, copy=False)[()]


def _constant_scalar(t: Tensor, dtype: Any) -> Any:
    """A Const input's value as a scalar of the variable's dtype; None for runtime values."""
    if t.op.type != "Const":
        return None
    return dtype.type(t.op.attrs["value"])


def _moving_average(xp: Any, acc: Any, decay: Any, value: Any, work: Any) -> None:
    """acc = decay * acc + (1 - decay) * value, in place; work (may be value) is overwritten."""
    xp.multiply(value, 1 - decay, out=work)
    acc *= decay
    acc += work


def _average_square(xp: Any, acc: Any, decay: Any, grad: Any, work: Any) -> None:
    """acc = decay * acc + (1 - decay) * grad^2, in place, via (sqrt(1 - decay) grad)^2: two
    in-place passes instead of a product of two arrays and a scaling."""
    xp.multiply(grad, (1 - decay) ** 0.5, out=work)
    xp.square(work, out=work)
    acc *= decay
    acc += work


@register
class ApplyGradientDescent(ApplyOp):
    """var -= lr * grad"""

    hypers = ("learning_rate",)

    def update(self, xp: Any, var: Any, grad: Any, lr: Any, work: Any) -> None:
        xp.multiply(grad, lr, out=work)
        var -= work


@register
class ApplyMomentum(ApplyOp):
    """accum = momentum * accum + grad; var -= lr * accum (Nesterov: lr * (grad + momentum *
    accum))."""

    slots = ("accum",)
    hypers = ("learning_rate", "momentum")

    def updater(self, op: Operation) -> Callable[..., None]:
        return self._nesterov if op.attrs.get("use_nesterov") else self.update

    def update(self, xp: Any, var: Any, accum: Any, grad: Any, lr: Any,
               momentum: Any, work: Any) -> None:
        accum *= momentum
        accum += grad
        xp.multiply(accum, lr, out=work)
        var -= work

    @staticmethod
    def _nesterov(xp: Any, var: Any, accum: Any, grad: Any, lr: Any, momentum: Any,
                  work: Any) -> None:
        accum *= momentum
        accum += grad
        xp.multiply(accum, momentum, out=work)
        work += grad
        work *= lr
        var -= work


@register
class ApplyAdagrad(ApplyOp):
    """accum += grad^2; var -= lr * grad / sqrt(accum)"""

    slots = ("accum",)
    hypers = ("learning_rate",)

    def update(self, xp: Any, var: Any, accum: Any, grad: Any, lr: Any, work: Any) -> None:
        xp.square(grad, out=work)
        accum += work
        xp.sqrt(accum, out=work)
        xp.divide(grad, work, out=work)
        work *= lr
        var -= work


@register
class ApplyAdam(ApplyOp):
    """m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; var -= lr_t m / (sqrt(v) + eps) with
    lr_t = lr sqrt(1 - b2^t) / (1 - b1^t) from the beta-power inputs."""

    slots = ("m", "v")
    hypers = ("learning_rate", "beta1", "beta2", "epsilon", "beta1_power", "beta2_power")

    def update(self, xp: Any, var: Any, m: Any, v: Any, grad: Any,
               lr: Any, beta1: Any, beta2: Any, epsilon: Any, beta1_power: Any,
               beta2_power: Any, work: Any) -> None:
        _moving_average(xp, m, beta1, grad, work)
        _average_square(xp, v, beta2, grad, work)
        xp.sqrt(v, out=work)
        work += epsilon
        xp.divide(m, work, out=work)
        work *= lr * (1 - beta2_power) ** 0.5 / (1 - beta1_power)
        var -= work


def _rms_step(xp: Any, var: Any, mom: Any, grad: Any, denom: Any, lr: Any,
              momentum: Any) -> None:
    """mom = momentum * mom + lr * grad / sqrt(denom); var -= mom (denom is overwritten)."""
    xp.sqrt(denom, out=denom)
    xp.divide(grad, denom, out=denom)
    denom *= lr
    mom *= momentum
    mom += denom
    var -= mom


@register
class ApplyRMSProp(ApplyOp):
    """ms = rho ms + (1-rho) g^2; mom = momentum mom + lr g / sqrt(ms + eps); var -= mom"""

    slots = ("ms", "mom")
    hypers = ("learning_rate", "rho", "momentum", "epsilon")

    def update(self, xp: Any, var: Any, ms: Any, mom: Any, grad: Any,
               lr: Any, rho: Any, momentum: Any, epsilon: Any, work: Any) -> None:
        _average_square(xp, ms, rho, grad, work)
        xp.add(ms, epsilon, out=work)
        _rms_step(xp, var, mom, grad, work, lr, momentum)


@register
class ApplyCenteredRMSProp(ApplyOp):
    """RMSProp normalised by the centered second moment: ms - mg^2 + eps, with
    mg = rho mg + (1-rho) g."""

    slots = ("ms", "mg", "mom")
    hypers = ("learning_rate", "rho", "momentum", "epsilon")

    def update(self, xp: Any, var: Any, ms: Any, mg: Any, mom: Any,
               grad: Any, lr: Any, rho: Any, momentum: Any, epsilon: Any, work: Any) -> None:
        _average_square(xp, ms, rho, grad, work)
        _moving_average(xp, mg, rho, grad, work)
        xp.square(mg, out=work)
        xp.subtract(ms, work, out=work)
        work += epsilon
        _rms_step(xp, var, mom, grad, work, lr, momentum)


@register
class ApplyAdadelta(ApplyOp):
    """accum = rho accum + (1-rho) g^2; u = sqrt(accum_update + eps) / sqrt(accum + eps) g;
    accum_update = rho accum_update + (1-rho) u^2; var -= lr u"""

    slots = ("accum", "accum_update")
    hypers = ("learning_rate", "rho", "epsilon")

    def update(self, xp: Any, var: Any, accum: Any, accum_update: Any,
               grad: Any, lr: Any, rho: Any, epsilon: Any, work: Any) -> None:
        _average_square(xp, accum, rho, grad, work)
        u = xp.add(accum_update, epsilon)
        xp.sqrt(u, out=u)
        xp.add(accum, epsilon, out=work)
        xp.sqrt(work, out=work)
        u /= work
        u *= grad
        _average_square(xp, accum_update, rho, u, work)
        u *= lr
        var -= u


@register
class ApplyFtrl(ApplyOp):
    """FTRL-Proximal (McMahan et al. 2013) as TF's ApplyFtrl:
    n' = n + g^2; linear += g - (n'^-p - n^-p) / lr * var;
    var = (sign(linear) l1 - linear) / (n'^-p / lr + 2 l2) where |linear| > l1, else 0."""

    slots = ("accum", "linear")
    hypers = ("learning_rate", "l1", "l2", "lr_power")

    def update(self, xp: Any, var: Any, accum: Any, linear: Any,
               grad: Any, lr: Any, l1: Any, l2: Any, lr_power: Any, work: Any) -> None:
        p = xp.square(grad)
        p += accum  # n'
        xp.power(accum, -lr_power, out=work)
        xp.copyto(accum, p)
        xp.power(p, -lr_power, out=p)
        xp.subtract(p, work, out=work)
        work /= lr
        work *= var
        linear += grad
        linear -= work
        p /= lr
        p += 2 * l2
        xp.sign(linear, out=work)
        work *= l1
        work -= linear
        work /= p
        xp.abs(linear, out=p)
        xp.multiply(work, p > l1, out=var)


def apply_update(op_type: str, var: Variable, slots: Sequence[Variable], grad: Tensor,
                 hypers: Sequence[Tensor], attrs: dict[str, Any] | None = None) -> Tensor:
    """Build the Apply op `op_type` updating `var` (and `slots`, in the op's slot order)."""
    op_def = lookup(op_type)
    if not isinstance(op_def, ApplyOp):
        raise TypeError(f"{op_type} is not an optimizer update op.")
    names = {"var": var.op.name}
    names |= {attr: s.op.name for attr, s in zip(op_def.slots, slots, strict=True)}
    graph = var.graph
    with graph.device(var.device):
        op = graph.create_op(op_type, [grad, *hypers], {**names, **(attrs or {})}, op_type)
    return op.outputs[0]
