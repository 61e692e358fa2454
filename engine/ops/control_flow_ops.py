"""Identity, stop_gradient, grouping and control dependencies."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from contextvars import ContextVar
from typing import Any, NamedTuple

import numpy as np

from engine import dtypes as _dtypes
from engine import errors
from engine.graph import (
    Operation,
    Tensor,
    convert_to_tensor,
    get_default_graph,
    graph_of,
    make_op,
)
from engine.registry import ExecContext, Kernel, OpDef, Spec, register

__all__ = ["case", "cond", "control_dependencies", "group", "identity", "no_op", "stop_gradient",
           "tuple", "while_loop"]


def _same(op: Operation) -> list[Spec]:
    x = op.inputs[0]
    return [(x.static_shape, x.dtype)]


def _passthrough(*arrays: Any) -> Any:
    return arrays[0]


@register
class Identity(OpDef):
    def infer(self, op: Operation) -> list[Spec]:
        return _same(op)

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        return _passthrough

    def grad(self, op: Operation, dy: Tensor | None) -> list[Tensor | None]:
        return [dy]


@register
class StopGradient(OpDef):
    differentiable = False

    def infer(self, op: Operation) -> list[Spec]:
        return _same(op)

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        return _passthrough


@register
class NoOp(OpDef):
    differentiable = False

    def infer(self, op: Operation) -> list[Spec]:
        return []

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        return lambda: None


def identity(input: Any, name: str | None = None) -> Tensor:
    return make_op("Identity", [input], name=name or "Identity").outputs[0]


def stop_gradient(input: Any, name: str | None = None) -> Tensor:
    """Pass `input` through unchanged; `tf.gradients` treats the result as a constant."""
    return make_op("StopGradient", [input], name=name or "StopGradient").outputs[0]


def no_op(name: str | None = None) -> Operation:
    return get_default_graph().create_op("NoOp", [], name=name or "NoOp")


def group(*inputs: Any, name: str | None = None) -> Operation:
    """An op that runs all `inputs` (tensors or ops) and outputs nothing."""
    flat: list[Any] = []
    for i in inputs:
        flat.extend(i if isinstance(i, list | builtins.tuple) else [i])
    graph = graph_of(flat)
    deps = [graph.as_graph_element(i) for i in flat]
    with graph.control_dependencies([d.op if isinstance(d, Tensor) else d for d in deps]):
        return graph.create_op("NoOp", [], name=name or "group_deps")


def tuple(tensors: Sequence[Any], name: str | None = None,
          control_inputs: Sequence[Any] | None = None) -> list[Tensor | None]:
    """Tensors with the same values, each available only after all of them are computed."""
    if not isinstance(tensors, list | builtins.tuple):
        raise TypeError(f"tf.tuple expects a list of tensors, got {tensors!r}.")
    present = [t for t in tensors if t is not None]
    gate = group(*present, *(control_inputs or []), name=name or "tuple")
    graph = gate.graph
    with graph.control_dependencies([gate]):
        return [None if t is None else identity(convert_to_tensor(t, graph=graph))
                for t in tensors]


def control_dependencies(control_inputs: Sequence[Any] | None) -> Any:
    """`with tf.control_dependencies([...]):` on the default graph."""
    return get_default_graph().control_dependencies(control_inputs)


# -- tf.cond: only the taken branch runs ---------------------------------------------------------
class _Branch:
    """The ops one branch function created, its results (flat) and their nesting."""

    __slots__ = ("ops", "outputs", "structure")

    def __init__(self, ops: frozenset[Operation], outputs: list[Tensor], structure: Any) -> None:
        self.ops, self.outputs, self.structure = ops, outputs, structure


class _CondState:
    """What a cond's taken branch computed that its gradient reads again (the activations
    inside the branch), so the gradient neither reruns the branch nor its random draws."""

    __slots__ = ("branch", "values")

    def __init__(self, branch: int, values: dict[Tensor, Any]) -> None:
        self.branch, self.values = branch, values


def _trace(graph: Any, fn: Any, label: str) -> _Branch:
    """Call a branch function, noting the ops it adds and converting its results."""
    from engine.ops.array_ops import constant
    from engine.session import flatten_structure

    if not callable(fn):
        raise TypeError(f"{label} must be callable, got {fn!r}.")
    start = len(graph.get_operations())
    with graph.name_scope(label):
        result = fn()
        if result is None:
            raise ValueError(f"{label} returned None: a cond branch must return tensors (or "
                             f"an op).")
        leaves: list[Any] = []
        structure = flatten_structure(result, leaves)
        outputs = []
        for leaf in leaves:
            if isinstance(leaf, Operation):  # an op to run: carried by a tensor that waits for it
                with graph.control_dependencies([leaf]):
                    leaf = constant(True, name="op_done")
            outputs.append(convert_to_tensor(leaf, graph=graph))
    window = frozenset(graph.get_operations()[start:])
    return _Branch(window - _variable_ops(graph, window), outputs, structure)


def _variable_ops(graph: Any, window: frozenset[Operation]) -> set[Operation]:
    """The variables a cond or loop function created (say a layer's weights), with their
    initializers: as in TF they exist once, outside the control flow, so initializers and
    gradients reach them like any other variable."""
    hoisted: set[Operation] = set()
    for key in graph.get_all_collection_keys():
        for item in graph.get_collection(key):
            op = getattr(item, "op", None)
            if op in window and op.type == "VariableV2":
                hoisted.add(op)
                pending = [item.initializer]
                while pending:
                    found = pending.pop()
                    if found in window and found not in hoisted:
                        hoisted.add(found)
                        pending.extend(t.op for t in found.inputs)
    return hoisted


def _merged_shape(a: Any, b: Any) -> Any:
    if a is None or b is None or len(a) != len(b):
        return None
    return builtins.tuple(x if x == y else None for x, y in zip(a, b, strict=True))


@register
class Cond(OpDef):
    """Runs one of two branch subgraphs, chosen by a boolean scalar. Inputs: the predicate,
    [the forward cond's state when this is a gradient,] then the tensors from outside that the
    branches read. Outputs: the branch results, then the state for the gradient (variant)."""

    stateful = True  # branches may assign or draw random numbers: never merged or folded

    def infer(self, op: Operation) -> list[Spec]:
        true, false = op.attrs["branches"]
        specs = []
        for i, (t, f) in enumerate(zip(true.outputs, false.outputs, strict=True)):
            if t.dtype != f.dtype:
                raise TypeError(f"Outputs of true_fn and false_fn must have the same type: "
                                f"result {i} is {t.dtype.name} in true_fn and {f.dtype.name} "
                                f"in false_fn.")
            specs.append((_merged_shape(t.static_shape, f.static_shape), t.dtype))
        return [*specs, ((), _dtypes.variant)]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        restored = op.attrs["restored"]
        captured = list(op.inputs[1 + builtins.bool(restored):])
        runs = []
        for branch in op.attrs["branches"]:
            # for gradient conds, through the state; a loaded snapshot's cond ("guard") has
            # none (the loader checks nothing outside reads a branch), and scanning the ops
            # after each cond would make loading quadratic in the number of conds
            kept = [] if "guard" in op.attrs else _read_later(op, branch.ops)
            run = ctx.subplan([*branch.outputs, *kept], [*restored, *captured], set(branch.ops))
            runs.append((run, len(branch.outputs), kept))

        def cond(pred: Any, *values: Any) -> builtins.tuple[Any, ...]:
            index = 0 if pred else 1
            if restored:
                state, values = values[0], values[1:]
                if state.branch != index:
                    raise errors.InternalError(None, op, "a cond gradient took the other "
                                                         "branch than its forward cond")
                # the other branch's gradient reads none of these: its slots stay empty
                values = (*(state.values.get(t) for t in restored), *values)
            run, count, kept = runs[index]
            results = run(*values)
            found = dict(zip(kept, results[count:], strict=True))
            if restored:  # passed on: this gradient's own gradient reads them again
                found = {**state.values, **found}
            return (*results[:count], _CondState(index, found))

        return cond

    def grad(self, op: Operation, *grads: Tensor | None) -> list[Tensor | None]:
        from engine.gradients import gradients
        from engine.ops.array_ops import zeros_like

        restored = op.attrs["restored"]
        captured = list(op.inputs[1 + builtins.bool(restored):])
        wanted = [i for i, t in enumerate(captured) if t.dtype.is_floating]
        used = [i for i, g in enumerate(grads[:-1]) if g is not None]
        if not wanted or not used:
            return [None] * len(op.inputs)

        def branch_grads(branch: _Branch) -> Any:
            def build() -> list[Tensor]:
                found = gradients([branch.outputs[i] for i in used],
                                  [captured[i] for i in wanted],
                                  grad_ys=[grads[i] for i in used])
                return [zeros_like(captured[i]) if g is None else g
                        for i, g in zip(wanted, found, strict=True)]
            return build

        true, false = op.attrs["branches"]
        results = _cond(op.inputs[0], branch_grads(true), branch_grads(false), "cond_grad",
                        forward=op)
        by_input: dict[int, Tensor] = dict(zip(wanted, results, strict=True))
        return [None] * (1 + builtins.bool(restored)) + [by_input.get(i)
                                                           for i in range(len(captured))]


def cond(pred: Any, true_fn: Any = None, false_fn: Any = None, strict: builtins.bool = False,
         name: str | None = None, fn1: Any = None, fn2: Any = None) -> Any:
    """`true_fn()` if `pred` else `false_fn()`, deciding at run time: only the ops the taken
    function created run (tensors from outside that either branch reads are computed first).
    Both functions must return the same structure of tensors with the same dtypes; unless
    `strict`, a list or tuple of one item stands for that item (TF 1.x)."""
    if isinstance(pred, builtins.bool):
        raise TypeError("pred must not be a Python bool: use a boolean tensor (or an if).")
    true_fn = true_fn if true_fn is not None else fn1
    false_fn = false_fn if false_fn is not None else fn2
    if not strict:
        true_fn, false_fn = _unpacking(true_fn), _unpacking(false_fn)
    return _cond(pred, true_fn, false_fn, name or "cond")


def _guarded_last(pairs: list[Any]) -> Any:
    """TF 1.x's default for a case without one: the last function, run only after asserting
    its predicate, so a run where no predicate holds fails instead of taking it anyway."""
    from engine.ops.array_ops import stack
    from engine.ops.logging_ops import Assert
    from engine.session import flatten_structure, rebuild_structure

    last, fn = pairs[-1]
    if not callable(fn):
        return fn  # _trace says what is wrong

    def guarded() -> Any:
        check = Assert(last, ["Input error: None of conditions evaluated as True:",
                              stack([p for p, _ in pairs])])
        with control_dependencies([check]):
            leaves: list[Any] = []
            structure = flatten_structure(fn(), leaves)
            return rebuild_structure(structure, [group(leaf) if isinstance(leaf, Operation)
                                                 else identity(leaf) for leaf in leaves])

    return guarded


def _unpacking(fn: Any) -> Any:
    """`fn` whose result, a list or tuple of one item, becomes that item: TF 1.x's
    non-strict cond and case (`lambda: [x]` gives x)."""
    if not callable(fn):
        return fn  # _trace says what is wrong

    def call() -> Any:
        result = fn()
        single = isinstance(result, list | builtins.tuple) and len(result) == 1
        return result[0] if single else result

    return call


def _cond(pred: Any, true_fn: Any, false_fn: Any, name: str,
          forward: Operation | None = None) -> Any:
    """tf.cond; `forward` is the cond whose gradient this is: tensors inside its branches are
    read from its state output instead of being recomputed."""
    from engine.session import rebuild_structure

    graph = graph_of([pred])
    pred = convert_to_tensor(pred, graph=graph)
    if not pred.dtype.is_bool:
        raise TypeError(f"pred must be a bool tensor, got {pred.dtype.name} ({pred.name}).")
    if pred.static_shape not in (None, ()):
        raise ValueError(f"pred must be a scalar, got shape {list(pred.static_shape)} "
                         f"({pred.name}).")
    with graph.as_default(), graph.name_scope(name):
        branches = (_trace(graph, true_fn, "true_fn"), _trace(graph, false_fn, "false_fn"))
        true, false = branches
        shapes = [rebuild_structure(b.structure, [0] * len(b.outputs)) for b in branches]
        if shapes[0] != shapes[1]:
            raise ValueError(f"true_fn and false_fn must return the same structure: got "
                             f"{shapes[0]} and {shapes[1]} (0 marks a tensor).")
        inside = true.ops | false.ops
        outside = dict.fromkeys(_outside_reads(inside, true.outputs + false.outputs))
        inputs = [pred]
        restored: list[Tensor] = []
        if forward is not None:
            state = forward.outputs[-1]
            forward_ops = _carried(forward)
            restored = [t for t in outside if t.op in forward_ops]
            outside = {t: None for t in outside if t.op not in forward_ops}
            inputs.append(state)
        with graph.control_dependencies(_outside_controls(inside)):
            op = graph.create_op("Cond", [*inputs, *outside],
                                 {"branches": branches, "restored": restored}, "Merge")
    return rebuild_structure(true.structure, op.outputs[:-1])


def _carried(op: Operation) -> set[Operation]:
    """The ops whose tensors a cond's state carries: its branches', and for a gradient cond
    that restores tensors also those its forward cond's state (its input 1) carries, so a
    second derivative reads the forward branch's activations from there instead of running
    its ops again outside it."""
    found: set[Operation] = set()
    while True:
        found.update(*(b.ops for b in op.attrs["branches"]))
        if not op.attrs["restored"]:
            return found
        op = op.inputs[1].op


def case(pred_fn_pairs: Any, default: Any = None, exclusive: builtins.bool = False,
         strict: builtins.bool = False, name: str = "case") -> Any:
    """The function of the first true predicate (`exclusive`: exactly one may be true, checked
    at run time), else `default` (without one: the last function, failing the run when its
    predicate is false too, as TF 1.x): nested tf.conds."""
    pairs = list(pred_fn_pairs.items() if isinstance(pred_fn_pairs, dict) else pred_fn_pairs)
    if not strict:
        pairs = [(p, _unpacking(f)) for p, f in pairs]
        default = None if default is None else _unpacking(default)
    if not pairs:
        if default is None:
            raise ValueError("case needs at least one (pred, fn) pair or a default.")
        return default()
    if exclusive:  # more than one true predicate fails the run, naming how many
        from engine.ops.array_ops import stack
        from engine.ops.logging_ops import Assert
        from engine.ops.math_ops import cast, less_equal
        from engine.ops.reduction_ops import reduce_sum

        true = reduce_sum(cast(stack([p for p, _ in pairs]), _dtypes.int32))
        check = Assert(less_equal(true, 1), ["tf.case(exclusive=True): more than one "
                                              "predicate is true:", true])
        with control_dependencies([check]):
            pairs = [(identity(p), f) for p, f in pairs]
    if default is None:
        default = _guarded_last(pairs)
        pairs = pairs[:-1]
        if not pairs:
            return default()

    def chain(rest: list[Any]) -> Any:
        (pred, fn), tail = rest[0], rest[1:]
        return _cond(pred, fn, (lambda: chain(tail)) if tail else default, name)

    return chain(pairs)


# -- tf.while_loop: a body run while a condition holds -------------------------------------------
class _Loop:
    """A traced while loop: the placeholders standing for the loop variables inside it, the
    condition's ops and boolean result, and the body's ops and results."""

    __slots__ = ("body", "cond", "inputs")

    def __init__(self, inputs: list[Tensor], cond: _Branch, body: _Branch) -> None:
        self.inputs, self.cond, self.body = inputs, cond, body


class _LoopState:
    """Each iteration's loop values and the body activations its gradient reads."""

    __slots__ = ("history",)

    def __init__(self, history: list[builtins.tuple[Any, dict[Tensor, Any]]]) -> None:
        self.history = history


def _owned(op: Operation) -> frozenset[Operation]:
    """The ops that run only inside `op`'s own sub-plans, fed by `op` itself: a cond's
    branches, a loop's condition and body with the placeholders standing for its variables,
    a loop gradient's step. No other plan can compute them."""
    if op.type == "Cond":
        return frozenset().union(*(b.ops for b in op.attrs["branches"]))
    if op.type == "While":
        loop = op.attrs["loop"]
        return loop.cond.ops | loop.body.ops | {t.op for t in loop.inputs}
    if op.type == "WhileGrad":
        return op.attrs["step"].ops
    return frozenset()


def _nested(ops: frozenset[Operation]) -> frozenset[Operation]:
    """The ops among `ops` owned by a cond or loop that is itself among them (any depth):
    what they read from outside reaches them through that op's inputs or state."""
    return frozenset().union(*(_owned(op) for op in ops))


def _outside_reads(ops: frozenset[Operation], outputs: Sequence[Tensor]) -> list[Tensor]:
    """Tensors from outside `ops` that they (or the results `outputs`) read, in order. Reads
    by ops of a nested cond or loop are left out: that op's own inputs or state bring them."""
    found: dict[Tensor, None] = {}
    nested = _nested(ops)
    for op in sorted(ops - nested, key=lambda o: o._id):
        found.update((t, None) for t in op.inputs if t.op not in ops)
    found.update((t, None) for t in outputs if t.op not in ops)
    return list(found)


def _outside_controls(ops: frozenset[Operation]) -> list[Operation]:
    """Ops from outside `ops` that they wait for: the cond or loop op waits for them instead."""
    return list(dict.fromkeys(c for op in sorted(ops, key=lambda o: o._id)
                              for c in op.control_inputs if c not in ops))


def _read_later(op: Operation, inside: frozenset[Operation]) -> list[Tensor]:
    """Tensors made `inside` a subgraph that ops created after `op`, outside it, read (the
    activations a gradient needs). Tensors of a cond or loop nested inside are not among
    them: its sub-plans alone can make them, and its state carries them to its gradient."""
    later = op.graph.get_operations()[op._id + 1:]
    top = inside - _nested(inside)
    return list(dict.fromkeys(t for other in later if other not in inside
                              for t in other.inputs if t.op in top))


@register
class While(OpDef):
    """Runs the body while the condition holds. Inputs: the initial loop values, the tensors
    from outside that condition or body read, then maximum_iterations when it is a tensor.
    Outputs: the final loop values, then the state for the gradient (a history, recorded
    only when a gradient reads it)."""

    stateful = True

    def infer(self, op: Operation) -> list[Spec]:
        """The loop variables' shape invariants; checks the condition and the body against
        them (for tf.while_loop and for a loaded snapshot alike)."""
        loop = op.attrs["loop"]
        test = loop.cond.outputs
        if len(test) != 1 or not test[0].dtype.is_bool or test[0].static_shape not in (None, ()):
            raise ValueError("cond must return one boolean scalar tensor.")
        if len(loop.body.outputs) != len(loop.inputs) or len(op.inputs) < len(loop.inputs):
            raise ValueError(f"body gives {len(loop.body.outputs)} results for "
                             f"{len(loop.inputs)} loop variables.")
        initial = op.inputs[:len(loop.inputs)]
        for i, (t, var, out) in enumerate(zip(initial, loop.inputs, loop.body.outputs,
                                              strict=True)):
            inv = var.static_shape
            if out.dtype != t.dtype or var.dtype != t.dtype:
                raise TypeError(f"Loop variable {i} enters the loop as {t.dtype.name} and has "
                                f"type {out.dtype.name} after one iteration.")
            if not _fits(inv, t.static_shape):
                raise ValueError(
                    f"The shape invariant specified for loop variable {i} is not compatible "
                    f"with the initial shape of the loop variable. It enters the loop with "
                    f"shape {_shape_text(t.static_shape)}, but the specified shape invariant "
                    f"is {_shape_text(inv)}.")
            if not _fits(inv, out.static_shape):
                raise ValueError(
                    f"Loop variable {i} has shape {_shape_text(inv)} entering the loop, but "
                    f"shape {_shape_text(out.static_shape)} after one iteration. Provide "
                    f"shape invariants using the `shape_invariants` argument of tf.while_loop.")
        return [(t.static_shape, t.dtype) for t in loop.inputs] + [((), _dtypes.variant)]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        loop, fixed = op.attrs["loop"], op.attrs["maximum_iterations"]
        guard = op.attrs.get("guard")  # a loaded snapshot's loops stop with an error there
        cost = max(1, len(loop.cond.ops) + len(loop.body.ops))  # ops run per iteration
        count, fed_limit = len(loop.inputs), _fed_limit(op)
        fed = [*loop.inputs, *_captured(op)]
        kept = [] if guard is not None else _read_later(op, loop.body.ops)  # as in Cond
        test = ctx.subplan(loop.cond.outputs, fed, set(loop.cond.ops))
        step = ctx.subplan([*loop.body.outputs, *kept], fed, set(loop.body.ops))
        record = guard is None and any(op.outputs[-1] in other.inputs
                                       for other in op.graph.get_operations()[op._id + 1:])
        to_host = ctx.backend.to_host

        def run(*values: Any) -> builtins.tuple[Any, ...]:
            limit = fixed
            if fed_limit:
                limit, values = int(to_host(values[-1])), values[:-1]
                if limit < 0:
                    raise errors.InvalidArgumentError(
                        None, op, f"maximum_iterations must be >= 0, got {limit}")
            current, outside = values[:count], values[count:]
            history: list[builtins.tuple[Any, dict[Tensor, Any]]] = []
            done = 0
            budget = None if guard is None else SERVED_LOOP_BUDGET.get()
            token = None
            if guard is not None and budget is None:  # not run by a Predictor: its own budget
                budget = guard.budget()
                token = SERVED_LOOP_BUDGET.set(budget)
            try:
                while (limit is None or done < limit) and test(*current, *outside)[0]:
                    if budget is not None:
                        _spend(op, guard, budget, cost)
                    results = step(*current, *outside)
                    if record:
                        history.append((current, dict(zip(kept, results[count:],
                                                          strict=True))))
                    current, done = results[:count], done + 1
                    if guard is not None:
                        _check_size(op, guard, current)
            finally:
                if token is not None:
                    SERVED_LOOP_BUDGET.reset(token)
            return (*current, _LoopState(history))

        return run

    def grad(self, op: Operation, *grads: Tensor | None) -> list[Tensor | None]:
        from engine.gradients import gradients
        from engine.ops.array_ops import placeholder, zeros_like

        loop = op.attrs["loop"]
        count = len(loop.inputs)
        captured = _captured(op)
        variables = [i for i, t in enumerate(loop.inputs) if t.dtype.is_floating]
        outside = [j for j, t in enumerate(captured) if t.dtype.is_floating]
        if not op.attrs["back_prop"] or not variables or all(grads[i] is None
                                                              for i in variables):
            return [None] * len(op.inputs)
        graph = op.graph
        start = len(graph.get_operations())
        with graph.name_scope("while_grad"):
            # the gradient arriving at one iteration's results: fed per iteration
            arriving = [placeholder(loop.inputs[i].dtype, loop.inputs[i].static_shape)
                        for i in variables]
            xs = [loop.inputs[i] for i in variables] + [captured[j] for j in outside]
            found = gradients([loop.body.outputs[i] for i in variables], xs, grad_ys=arriving)
            step = [zeros_like(x) if g is None else g for x, g in zip(xs, found, strict=True)]
        ops = frozenset(graph.get_operations()[start:])
        restored = [t for t in _outside_reads(ops, step) if t.op in loop.body.ops]
        final = [zeros_like(op.outputs[i]) if grads[i] is None else grads[i] for i in variables]
        back = graph.create_op(
            "WhileGrad", [op.outputs[-1], *final, *captured],
            {"step": _Branch(ops, step, None), "arriving": arriving, "loop": loop,
             "restored": restored, "outside": outside}, "WhileGrad")
        by_input: dict[int, Tensor] = dict(zip(variables, back.outputs[:len(variables)],
                                               strict=True))
        by_input.update((count + j, g) for j, g in zip(outside, back.outputs[len(variables):],
                                                        strict=True))
        return [by_input.get(i) for i in range(len(op.inputs))]


def parts(op: Operation) -> builtins.tuple[list[Tensor], dict[str, Any]]:
    """What a snapshot stores of a Cond or While op: a loop's variable placeholders, and its
    subgraphs by name ('true_fn', 'false_fn' or 'cond', 'body'), each (ops, results)."""
    if op.type == "Cond":
        true, false = op.attrs["branches"]
        return [], {"true_fn": (true.ops, true.outputs), "false_fn": (false.ops, false.outputs)}
    loop = op.attrs["loop"]
    return list(loop.inputs), {"cond": (loop.cond.ops, loop.cond.outputs),
                               "body": (loop.body.ops, loop.body.outputs)}


class LoopGuard(NamedTuple):
    """What a loaded snapshot's loops may run in one run, all of them together (nested ones
    and one after another, so neither nesting nor many loops multiplies it): iterations, and
    ops run by their conditions and bodies (a big body runs fewer iterations); and the bytes
    one loop's values may hold (a body doubling a value exhausts memory long before)."""

    iterations: int
    ops: int
    bytes: int

    def budget(self) -> list[int]:
        """A run's budget: [iterations left, ops left]."""
        return [self.iterations, self.ops]


# The budget of the run in progress in this thread (set per prediction by the Predictor)
SERVED_LOOP_BUDGET: ContextVar[list[int] | None] = ContextVar("served_loop_budget",
                                                               default=None)


def _spend(op: Operation, guard: LoopGuard, budget: list[int], cost: int) -> None:
    """One more iteration of a served loop, running `cost` ops, or an error past the guard."""
    budget[0] -= 1
    budget[1] -= cost
    if budget[0] < 0:
        raise errors.InvalidArgumentError(
            None, op, f"while loop '{op.name}': served loops ran more than {guard.iterations} "
                      f"iterations in this run, the most they may run")
    if budget[1] < 0:
        raise errors.InvalidArgumentError(
            None, op, f"while loop '{op.name}': served loops ran more than {guard.ops} ops in "
                      f"this run, the most they may run")


def _check_size(op: Operation, guard: LoopGuard, values: Sequence[Any]) -> None:
    """An error once a served loop's values outgrow the guard: stopped long before memory
    runs out, whatever the iteration count."""
    size = sum(getattr(v, "nbytes", 0) for v in values)
    if size > guard.bytes:
        raise errors.ResourceExhaustedError(
            None, op, f"while loop '{op.name}': its values grew to {size} bytes, over the "
                      f"{guard.bytes} bytes a served loop may hold")


def from_parts(graph: Any, op_type: str, attrs: dict[str, Any],
               guard: LoopGuard) -> dict[str, Any]:
    """The attrs of a Cond or While op from a loaded snapshot's parts (names of nodes already
    in `graph`); a loop is stopped with an error past `guard`. Both keep it as their "guard"
    attr, which also marks them loaded: nothing outside their subgraphs reads them (the
    loader checks), so their kernels need not look for such reads."""
    def branch(key: str) -> _Branch:
        sub = attrs[key]
        return _Branch(frozenset(map(graph.get_operation_by_name, sub.ops)),
                       list(map(graph.get_tensor_by_name, sub.outputs)), None)

    if op_type == "Cond":
        return {"branches": (branch("true_fn"), branch("false_fn")), "restored": [],
                "guard": guard}
    return {"loop": _Loop(list(map(graph.get_tensor_by_name, attrs["loop_vars"])),
                          branch("cond"), branch("body")),
            "maximum_iterations": attrs["maximum_iterations"], "fed_limit": attrs["fed_limit"],
            "back_prop": False, "guard": guard}


def _fed_limit(op: Operation) -> builtins.bool:
    """Whether a While op's maximum_iterations is a tensor: then its last input."""
    return builtins.bool(op.attrs.get("fed_limit"))


def _captured(op: Operation) -> list[Tensor]:
    """A While op's inputs from outside that its condition and body read."""
    count = len(op.attrs["loop"].inputs)
    return list(op.inputs[count:len(op.inputs) - _fed_limit(op)])


@register
class WhileGrad(OpDef):
    """Backpropagation through a while loop: the body's gradient run once per recorded
    iteration, last to first. Inputs: the loop's state, the gradients of its final float
    values, the loop's outside tensors. Outputs: the gradients of the initial float values,
    then of the float outside tensors (summed over iterations)."""

    def grad(self, op: Operation, *grads: Tensor | None) -> list[Tensor | None]:
        """As in TF 1.x: the recorded iterations are not themselves differentiable."""
        raise TypeError("Second-order gradient for while loops not supported.")

    def infer(self, op: Operation) -> list[Spec]:
        width = len(op.attrs["arriving"])
        captured = op.inputs[1 + width:]
        return [(t.static_shape, t.dtype) for t in op.inputs[1:1 + width]] + \
            [(captured[j].static_shape, captured[j].dtype) for j in op.attrs["outside"]]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        arriving, loop, restored = op.attrs["arriving"], op.attrs["loop"], op.attrs["restored"]
        outside, width = op.attrs["outside"], len(op.attrs["arriving"])
        step = op.attrs["step"]
        run = ctx.subplan(step.outputs, [*arriving, *loop.inputs, *op.inputs[1 + width:],
                                         *restored], set(step.ops))

        def backward(state: _LoopState, *values: Any) -> builtins.tuple[Any, ...]:
            flowing, captured = list(values[:width]), values[width:]
            totals = [ctx.xp.zeros_like(captured[j]) for j in outside]
            for current, kept in reversed(state.history):
                results = run(*flowing, *current, *captured, *(kept[t] for t in restored))
                flowing = results[:width]
                totals = [a + b for a, b in zip(totals, results[width:], strict=True)]
            results = (*flowing, *totals)
            return results if len(results) > 1 else results[0]  # one output: the bare value

        return backward


def _fits(invariant: Any, shape: Any) -> builtins.bool:
    """Whether a body result's shape keeps to the loop variable's shape invariant."""
    if invariant is None:
        return True
    if shape is None or len(shape) != len(invariant):
        return False
    return all(i is None or i == s for i, s in zip(invariant, shape, strict=True))


def while_loop(cond: Any, body: Any, loop_vars: Any, shape_invariants: Any = None,
               parallel_iterations: int = 10, back_prop: builtins.bool = True,
               swap_memory: builtins.bool = False, name: str | None = None,
               maximum_iterations: Any = None,
               return_same_structure: builtins.bool = False) -> Any:
    """Repeat `loop_vars = body(*loop_vars)` while `cond(*loop_vars)` is true, at run time,
    at most `maximum_iterations` times (a Python int or an integer scalar tensor). `body`
    returns the same structure of tensors with the same dtypes and shapes (a dimension may
    change only where `shape_invariants` gives None). Differentiable with respect to float
    loop values and to float tensors from outside that the body reads."""
    from engine.ops.array_ops import placeholder
    from engine.session import flatten_structure, rebuild_structure

    if not callable(cond) or not callable(body):
        raise TypeError("cond and body must be callable.")
    if isinstance(maximum_iterations, Tensor) or hasattr(maximum_iterations, "_as_graph_element"):
        maximum_iterations = convert_to_tensor(maximum_iterations)  # checked at run time
        if not maximum_iterations.dtype.is_integer or \
                maximum_iterations.static_shape not in (None, ()):
            raise TypeError(f"maximum_iterations must be an integer scalar, got "
                            f"{maximum_iterations.name} of {maximum_iterations.dtype.name} "
                            f"and shape {_shape_text(maximum_iterations.static_shape)}.")
    elif maximum_iterations is not None and (
            isinstance(maximum_iterations, builtins.bool) or
            not isinstance(maximum_iterations, int | np.integer) or maximum_iterations < 0):
        raise TypeError(f"maximum_iterations must be a non-negative Python int or an integer "
                        f"scalar tensor, got {maximum_iterations!r}.")
    single = not isinstance(loop_vars, list | builtins.tuple)
    given = [loop_vars] if single else loop_vars
    leaves: list[Any] = []
    structure = flatten_structure(list(given), leaves)
    if not leaves:
        raise ValueError("No loop variables provided.")
    graph = graph_of(leaves)
    initial = [convert_to_tensor(v, graph=graph) for v in leaves]
    invariants: list[Any] = [t.static_shape for t in initial]
    if shape_invariants is not None:
        found: list[Any] = [shape_invariants] if single else list(shape_invariants)
        if len(found) != len(initial):  # nested loop_vars: TensorShape leaves, same nesting
            found = []
            flatten_structure(list(shape_invariants), found)
        if len(found) != len(initial):
            raise ValueError(f"shape_invariants has {len(found)} shapes for {len(initial)} loop "
                             f"variables.")
        invariants = [_shape_of(s) for s in found]
    with graph.as_default(), graph.name_scope(name or "while"):
        inputs = [placeholder(t.dtype, s, name="loop_var") for t, s in zip(initial, invariants,
                                                                            strict=True)]
        args = rebuild_structure(structure, inputs)
        test = _trace(graph, lambda: cond(*args), "cond")
        step = _trace(graph, lambda: _as_list(body(*args), single), "body")
        shapes = [rebuild_structure(b.structure, [0] * len(b.outputs))
                  for b in (step, _Branch(frozenset(), inputs, structure))]
        if shapes[0] != shapes[1]:
            raise ValueError(f"body must return the structure of loop_vars: got {shapes[0]}, "
                             f"loop_vars are {shapes[1]} (0 marks a tensor).")
        inside = test.ops | step.ops
        captured = [t for t in _outside_reads(inside, step.outputs) if t not in inputs]
        fed = isinstance(maximum_iterations, Tensor)
        attrs = {"loop": _Loop(inputs, test, step), "back_prop": back_prop,
                 "maximum_iterations": None if fed else maximum_iterations}
        if fed:  # the limit is the last input
            attrs["fed_limit"] = True
        with graph.control_dependencies(_outside_controls(inside)):
            op = graph.create_op("While", [*initial, *captured, *([maximum_iterations] * fed)],
                                 attrs, "While")
    results = rebuild_structure(structure, op.outputs[:-1])
    if single or (len(results) == 1 and not return_same_structure):
        return results[0]
    return results if isinstance(loop_vars, list) else builtins.tuple(results)


def _as_list(result: Any, single: builtins.bool) -> list[Any]:
    """A body's result as the list that loop_vars were given as."""
    if single or not isinstance(result, list | builtins.tuple):
        return [result]
    return list(result)


def _shape_of(value: Any) -> Any:
    from engine.shapes import TensorShape

    return TensorShape(value).as_tuple()


def _shape_text(shape: Any) -> str:
    return "<unknown>" if shape is None else str(list(shape))
