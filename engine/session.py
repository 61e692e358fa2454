"""Sessions: variable state plus cached execution plans for (fetches, feeds) pairs.

A plan is compiled once per distinct (fetch list, feed keys) pair: the needed ops are pruned
from the graph, put in creation (= topological) order, given integer slots, and bound to their
kernels. Running a plan is then one straight pass over prebuilt steps, with no recursion and no
per-op objects created per call.

Plans of up to `STRAIGHT_LINE_LIMIT` steps are turned into one generated Python function whose
body is the steps in order (`s7 = k3(s2, c5)`), so a step costs a kernel call and nothing else:
a generic loop's per-step bookkeeping (slot lists, argument unpacking) is about a microsecond,
a fifth of a batch-1 MLP prediction. The generated text is made only of integers and fixed
words; kernels and constants are bound as objects, never spelled out, so nothing from a graph
or a loaded snapshot (names, attributes) can reach the code. Longer plans (the 100,000-op
chain) run the same steps in a loop.
"""

from __future__ import annotations

import functools
import operator
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from engine import errors
from engine.backend import Backend, backend_for, canonical_device
from engine.dtypes import variant
from engine.graph import Graph, Operation, Tensor, get_default_graph
from engine.registry import ExecContext, OpDef, lookup
from engine.shapes import Shape, compatible

DEFAULT_GRAPH_SEED = 87654321

# Kernels run with numpy's floating-point warnings off (TF computes inf/nan silently).
try:  # numpy >= 2 keeps that state in a context variable; setting it directly costs a quarter
    # of `with np.errstate(...)`, which matters for small graphs run per request (serving)
    from numpy._core._ufunc_config import _extobj_contextvar
    from numpy._core.umath import _make_extobj

    _IGNORE_ALL = _make_extobj(all="ignore")

    def _ignore_fp_errors() -> Any:
        return _extobj_contextvar.set(_IGNORE_ALL)

    def _restore_fp_errors(token: Any) -> None:
        _extobj_contextvar.reset(token)

except ImportError:  # numpy 1.x
    def _ignore_fp_errors() -> Any:
        state = np.errstate(all="ignore")
        state.__enter__()
        return state

    def _restore_fp_errors(state: Any) -> None:
        state.__exit__(None, None, None)


class _Leaf:
    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index


def flatten_structure(fetches: Any, leaves: list[Any]) -> Any:
    """Replace each leaf of a nested list/tuple/dict by a _Leaf; collect the leaves (fetches
    here; tf.cond's branch results too)."""
    if isinstance(fetches, list):
        return [flatten_structure(f, leaves) for f in fetches]
    if isinstance(fetches, tuple):
        items = [flatten_structure(f, leaves) for f in fetches]
        return type(fetches)(*items) if hasattr(fetches, "_fields") else tuple(items)
    if isinstance(fetches, dict):
        return type(fetches)((k, flatten_structure(v, leaves)) for k, v in fetches.items())
    if fetches is None:
        raise TypeError("Fetch argument None has invalid type <class 'NoneType'>: fetch a "
                        "Tensor, an Operation or a name.")
    leaves.append(fetches)
    return _Leaf(len(leaves) - 1)


def rebuild_structure(template: Any, values: list[Any]) -> Any:
    if isinstance(template, _Leaf):
        return values[template.index]
    if isinstance(template, list):
        return [rebuild_structure(t, values) for t in template]
    if isinstance(template, tuple):
        items = [rebuild_structure(t, values) for t in template]
        return type(template)(*items) if hasattr(template, "_fields") else tuple(items)
    return type(template)((k, rebuild_structure(v, values)) for k, v in template.items())


def _shaper(template: Any) -> Callable[[list[Any]], Any]:
    """Results list -> the fetches' structure: the list itself for a flat list of fetches
    (the plan makes a new one per run), its only item for a single fetch."""
    if isinstance(template, _Leaf):
        return operator.itemgetter(0)
    if isinstance(template, list) and all(isinstance(x, _Leaf) for x in template):
        return _same
    return functools.partial(rebuild_structure, template)


def _same(results: list[Any]) -> list[Any]:
    return results


def _runner(run: Callable[..., list[Any]], shape: Callable[[list[Any]], Any],
            checks: list[Callable[[Any], Any]]) -> Callable[[Any], Any]:
    """`Session.run` for one remembered (fetches, feed keys): feed values in key order."""

    def call(values: Any) -> Any:
        return shape(run(*[check(v) for check, v in zip(checks, values, strict=True)]))

    return call


class _Plan:
    """A compiled (fetches, feeds) pair: flat steps over integer slots."""

    __slots__ = ("direct", "feed_slots", "fetch_slots", "initial", "ops", "run", "steps")

    def __init__(self) -> None:
        # (kernel, input slots, output slot(s), slots whose last reader is this step)
        self.steps: list[tuple[Callable[..., Any], tuple[int, ...], Any, tuple[int, ...]]] = []
        self.ops: list[Operation] = []
        self.feed_slots: dict[Tensor, int] = {}
        self.fetch_slots: list[int | None] = []
        # fetch slots whose value is returned as it is: a new host array nothing else holds
        self.direct: set[int] = set()
        # the slots' values when a run starts: constants, computed once here; None elsewhere
        self.initial: list[Any] = []
        # feed values (in feed_slots order) -> the fetched values on the host (None for ops),
        # computed with floating-point warnings off
        self.run: Callable[..., list[Any]] = _unbound


class Session:
    """Runs graph fragments; holds the values of variables (isolated per session)."""

    def __init__(
        self,
        target: str = "",
        graph: Graph | None = None,
        config: Any = None,
        device: str | None = None,
    ) -> None:
        if target:
            raise errors.UnimplementedError(
                None, None, f"Session target {target!r}: only in-process sessions exist ('')."
            )
        if graph is not None and not isinstance(graph, Graph):
            raise TypeError(f"graph must be a tf.Graph, got {graph!r}.")
        self.graph = graph if graph is not None else get_default_graph()
        self._device = canonical_device(device)
        self._variables: dict[str, Any] = {}
        self._rngs: dict[Operation, np.random.Generator] = {}
        self._plans: dict[Any, _Plan] = {}
        # (fetches' type, fetches, feed keys) -> feed values -> results, for `run`'s repeats
        self._runners: dict[Any, Callable[[Any], Any]] = {}
        self._contexts: dict[str, ExecContext] = {}
        self._closed = False
        self._entered: list[Any] = []

    # -- context management -----------------------------------------------------------------
    def __enter__(self) -> Session:
        graph_ctx, session_ctx = self.graph.as_default(), self.as_default()
        graph_ctx.__enter__()
        session_ctx.__enter__()
        self._entered.append((graph_ctx, session_ctx))
        return self

    def __exit__(self, *exc: Any) -> None:
        graph_ctx, session_ctx = self._entered.pop()
        session_ctx.__exit__(*exc)
        graph_ctx.__exit__(*exc)
        self.close()

    @contextmanager
    def as_default(self) -> Iterator[Session]:
        _sessions().append(self)
        try:
            yield self
        finally:
            _sessions().remove(self)

    def close(self) -> None:
        self._closed = True
        self._variables.clear()
        self._plans.clear()
        self._runners.clear()
        for ctx in self._contexts.values():
            ctx.scratch.clear()

    @property
    def sess_str(self) -> str:
        return ""

    # -- running ----------------------------------------------------------------------------
    def run(
        self,
        fetches: Any,
        feed_dict: dict[Any, Any] | None = None,
        options: Any = None,
        run_metadata: Any = None,
    ) -> Any:
        """Run the ops needed for `fetches`, with `feed_dict` values replacing tensors.

        Fetches (a graph element or name, or a flat list/tuple of them) and feed keys seen
        before go straight to their plan and feed checks: resolving names and structures
        again would cost more than a small graph's kernels (training steps, serving)."""
        if self._closed:
            raise RuntimeError("Attempted to use a closed Session.")
        try:
            memo: Any = (fetches.__class__, tuple(fetches) if fetches.__class__ in (list, tuple)
                        else fetches, tuple(feed_dict) if feed_dict else ())
            runner = self._runners.get(memo)
        except TypeError:  # unhashable: nested structures, dicts, arrays
            memo = runner = None
        if runner is not None:
            return runner(feed_dict.values() if feed_dict else ())
        template, elements = self._fetch_elements(fetches)
        if feed_dict.__class__ is not dict and feed_dict is not None and not isinstance(
                feed_dict, Mapping):
            raise TypeError(f"feed_dict must be a dict from tensors to values, got "
                            f"{type(feed_dict).__name__}.")
        feeds: dict[Tensor, Any] = {}
        for key, value in (feed_dict or {}).items():
            t = self._feed_tensor(key)
            feeds[t] = _feed_value(t, value, t.dtype.np, t.static_shape)
        plan = self._plan(elements, list(feeds))
        if memo is not None and len(feeds) == len(memo[2]):  # no tensor fed under two keys
            checks = list(map(_feed_check, feeds))
            self._runners[memo] = _runner(plan.run, _shaper(template), checks)
        return rebuild_structure(template, plan.run(*feeds.values()))

    def make_callable(self, fetches: Any, feed_list: Sequence[Any] | None = None,
                      accept_options: bool = False) -> Callable[..., Any]:
        """TF 1.x's `Session.make_callable`: a function of the `feed_list` values (in order)
        returning `fetches`' values, with the plan resolved and compiled once, here, instead
        of per call as `run` does (what serving's per-request latency needs)."""
        template, elements = self._fetch_elements(fetches)
        fed = [self._feed_tensor(k) for k in feed_list or ()]
        if len(set(fed)) != len(fed):
            raise ValueError("make_callable: feed_list names a tensor more than once.")
        plan = self._plan(elements, fed)
        checks = [_feed_check(t) for t in fed]
        shape = _shaper(template)
        run = plan.run

        def call(*feed_values: Any, options: Any = None, run_metadata: Any = None) -> Any:
            if self._closed:
                raise RuntimeError("Attempted to use a closed Session.")
            if (options is not None or run_metadata is not None) and not accept_options:
                raise TypeError("options and run_metadata need make_callable(..., "
                                "accept_options=True).")
            if len(feed_values) != len(checks):
                raise TypeError(f"This callable takes {len(fed)} feed value(s) "
                                f"({', '.join(t.name for t in fed)}), got {len(feed_values)}.")
            return shape(run(*[check(v) for check, v in zip(checks, feed_values, strict=True)]))

        return call

    def _checked_callable(self, fetches: Sequence[Tensor], feed_list: Sequence[Tensor]
                          ) -> Callable[..., list[Any]]:
        """`run(*feed values)` returning the fetched values as a list, for callers that check
        their feeds themselves (serving: `_feed_check` with its own messages): the compiled
        plan and a closed-session check, nothing else per call."""
        _, elements = self._fetch_elements(list(fetches))
        plan_run = self._plan(elements, [self._feed_tensor(k) for k in feed_list]).run

        def run(*values: Any) -> list[Any]:
            if self._closed:
                raise RuntimeError("Attempted to use a closed Session.")
            return plan_run(*values)

        return run

    def _fetch_elements(self, fetches: Any) -> tuple[Any, tuple[Tensor | Operation, ...]]:
        """The structure of `fetches` with leaf placeholders, and the graph elements fetched."""
        leaves: list[Any] = []
        template = flatten_structure(fetches, leaves)
        elements = tuple(
            self.graph.as_graph_element(f, allow_tensor=True, allow_operation=True)
            for f in leaves
        )
        return template, elements

    def _plan(self, elements: tuple[Tensor | Operation, ...], fed: list[Tensor]) -> _Plan:
        """The cached plan for these fetches and fed tensors, compiled on first use."""
        key = (elements, tuple(fed))
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = self._compile(elements, fed)
        return plan

    def _feed_tensor(self, key: Any) -> Tensor:
        if hasattr(key, "_as_graph_element") or isinstance(key, str | Tensor):
            t = self.graph.as_graph_element(key, allow_tensor=True, allow_operation=False)
        else:
            raise TypeError(
                f"Cannot interpret feed_dict key as Tensor: {key!r} is not a Tensor or the "
                f"name of one."
            )
        assert isinstance(t, Tensor)
        return t

    def _context(self, backend: Backend) -> ExecContext:
        ctx = self._contexts.get(backend.name)
        if ctx is None:
            ctx = ExecContext(backend, self._variables, self._rng_for,
                              functools.partial(self._subplan, backend))
            self._contexts[backend.name] = ctx
        return ctx

    def _rng_for(self, op: Operation) -> np.random.Generator:
        """Per-session random streams; repeatable across sessions when seeds are set (TF)."""
        rng = self._rngs.get(op)
        if rng is None:
            graph_seed, op_seed = op.graph.seed, op.attrs.get("seed")
            if graph_seed is None and op_seed is None:
                rng = np.random.default_rng()
            else:
                graph_seed = DEFAULT_GRAPH_SEED if graph_seed is None else graph_seed
                op_seed = op._id if op_seed is None else op_seed
                rng = np.random.default_rng([int(graph_seed) & 0xFFFFFFFF,
                                             int(op_seed) & 0xFFFFFFFF])
            self._rngs[op] = rng
        return rng

    def _device_of(self, op: Operation) -> str:
        """Ops that update a variable in place run where the variable lives."""
        var_attrs = lookup(op.type).var_attrs
        if var_attrs:
            op = self.graph.get_operation_by_name(op.attrs[var_attrs[0]])
        return op.device or self._device

    def _compile(self, elements: Sequence[Tensor | Operation], fed: list[Tensor], *,
                 within: set[Operation] | None = None, feed_backend: Backend | None = None,
                 fetch: Callable[[Any], Any] | None = None) -> _Plan:
        """The plan for `elements` given `fed`. A sub-plan (a tf.cond branch) takes only ops
        `within` its branch, its feeds on `feed_backend`, and returns values as they are."""
        fed_set = set(fed)
        needed: set[Operation] = set()
        pending: list[Operation] = []
        for e in elements:
            if isinstance(e, Operation):
                pending.append(e)
            elif e not in fed_set:
                pending.append(e.op)
        while pending:
            op = pending.pop()
            if op in needed or (within is not None and op not in within):
                continue
            needed.add(op)
            pending.extend(t.op for t in op.inputs if t not in fed_set)
            pending.extend(op.control_inputs)
        if within is None:
            _check_outside_control_flow(self.graph, needed)

        plan = _Plan()
        slots: dict[Tensor, int] = {}
        slot_backend: list[Backend] = []
        cpu = backend_for("")

        def new_slot(backend: Backend) -> int:
            slot_backend.append(backend)
            return len(slot_backend) - 1

        for t in fed:
            slots[t] = plan.feed_slots[t] = new_slot(feed_backend or cpu)
        constants: dict[int, Any] = {}
        moved: dict[tuple[int, str], int] = {}
        fresh: set[int] = set()  # slots holding a new array that nothing else references
        in_place: dict[int, tuple[Operation, OpDef, Backend]] = {}  # op steps, by position
        for op in sorted(needed, key=lambda o: o._id):
            backend = backend_for(self._device_of(op))
            in_slots = []
            for t in op.inputs:
                slot = slots[t]
                if slot_backend[slot] is not backend:
                    slot = moved.get((slot, backend.name)) or self._transfer(
                        plan, op, slot, slot_backend[slot], backend, new_slot(backend), moved)
                in_slots.append(slot)
            op_def = lookup(op.type)
            kernel = op_def.kernel(op, self._context(backend))
            outs = [new_slot(backend) for _ in op.outputs]
            for t, s in zip(op.outputs, outs, strict=True):
                slots.setdefault(t, s)
            if not op.inputs and hasattr(op_def, "fold"):  # a constant: no step at run time
                constants[outs[0]] = kernel()
                continue
            out: Any = outs[0] if len(outs) == 1 else tuple(outs)
            if len(outs) == 1 and op_def.fresh_output:
                fresh.add(outs[0])
            in_place[len(plan.steps)] = (op, op_def, backend)
            plan.steps.append((kernel, tuple(in_slots), out, ()))
            plan.ops.append(op)
        for e in elements:
            if isinstance(e, Tensor) and e.dtype == variant and fetch is None:
                raise TypeError(f"Fetch argument {e.name} holds the internal state of a "
                                f"{'tf.while_loop' if e.op.type == 'While' else 'tf.cond'}, "
                                f"not a value: fetch its other outputs.")
            plan.fetch_slots.append(None if isinstance(e, Operation) else slots[e])
            if isinstance(e, Tensor) and slots[e] in fresh and slot_backend[slots[e]] is cpu \
                    and e.static_shape:  # a known rank >= 1: an ndarray, never a scalar
                plan.direct.add(slots[e])
        plan.initial = [constants.get(i) for i in range(len(slot_backend))]
        self._reuse_buffers(plan, in_place, fresh)
        _add_frees(plan, set(constants))
        fetch = fetch or self._fetch_value
        plan.run = _straight_line(plan, fetch) if len(plan.steps) <= STRAIGHT_LINE_LIMIT \
            else functools.partial(_run_loop, plan, fetch)
        return plan

    def _subplan(self, backend: Backend, fetches: Sequence[Tensor], fed: Sequence[Tensor],
                 within: set[Operation]) -> Callable[..., list[Any]]:
        """`ExecContext.subplan`: a compiled run of `fetches` from `fed` over the ops
        `within` a subgraph, in this session, with values left on `backend`."""
        return self._compile(tuple(fetches), list(fed), within=within, feed_backend=backend,
                             fetch=_as_is).run

    def _reuse_buffers(self, plan: _Plan, candidates: dict[int, tuple[Operation, OpDef, Backend]],
                       fresh: set[int]) -> None:
        """Let elementwise ops overwrite their first input where nothing can tell: the input
        is a new array from a `fresh_output` op, this step is the only one reading its values
        (others may read its shape, which stays), it is not fetched, and it appears once among
        the step's inputs. Saves an allocation and a cold pass over memory per op (bias add,
        ReLU and its gradient in a training step; every layer of a prediction)."""
        if not REUSE_BUFFERS:
            return
        value_readers: dict[int, list[int]] = {}
        for index, (_, ins, _, _) in enumerate(plan.steps):
            found = candidates.get(index)
            shape_only = found[1].shape_only_inputs if found else ()
            for position, slot in enumerate(ins):
                if position not in shape_only:
                    value_readers.setdefault(slot, []).append(index)
        fetched = set(plan.fetch_slots)
        for index, (op, op_def, backend) in candidates.items():
            _, ins, out, frees = plan.steps[index]
            if type(op_def).in_place is OpDef.in_place or not ins or out.__class__ is not int:
                continue
            slot = ins[0]
            if slot in fresh and slot not in fetched and value_readers[slot] == [index] \
                    and ins.count(slot) == 1:
                kernel = op_def.in_place(op, self._context(backend))
                if kernel is not None:
                    plan.steps[index] = (kernel, ins, out, frees)

    @staticmethod
    def _transfer(plan: _Plan, consumer: Operation, src: int, frm: Backend, to: Backend,
                  dst: int, moved: dict[tuple[int, str], int]) -> int:
        """Add a host<->device copy step feeding `consumer`."""

        def copy(array: Any) -> Any:
            return to.from_host(frm.to_host(array))

        plan.steps.append((copy, (src,), dst, ()))
        plan.ops.append(consumer)
        moved[(src, to.name)] = dst
        return dst

    def _fetch_value(self, value: Any) -> Any:
        """Host copy of a fetched value; never an alias of variable storage or a constant."""
        if value.__class__ is not np.ndarray and not isinstance(value, np.ndarray):
            host = isinstance(value, np.generic | int | float | bool | bytes)
            return _fetch_scalar(np.asarray(value) if host else value.get())
        if value.base is not None or not value.flags.writeable or (self._variables and any(
            value is v for v in self._variables.values()
        )):
            value = value.copy()
        return value[()] if value.ndim == 0 else value


def _check_outside_control_flow(graph: Graph, needed: set[Operation]) -> None:
    """A tensor made inside a tf.cond branch or a tf.while_loop exists only while its cond or
    loop runs: fetching it (or what depends on it) from outside is refused, as in TF."""
    from engine.ops.control_flow_ops import _owned

    flows = [op for op in graph.get_operations() if op.type in ("Cond", "While")]
    inside = set().union(*map(_owned, flows)) & needed if flows else set()
    if inside:
        op = min(inside, key=lambda o: o._id)
        raise errors.InvalidArgumentError(
            None, op, f"'{op.name}' is made inside a tf.cond branch or a tf.while_loop; fetch "
                      f"the cond's or loop's outputs instead (its tensors exist only while it "
                      f"runs).")


def _as_is(value: Any) -> Any:
    return value


def _fetch_scalar(value: np.ndarray) -> Any:
    return value[()] if value.ndim == 0 else value


STRAIGHT_LINE_LIMIT = 2000  # steps; compiling a longer plan would cost more than it saves
REUSE_BUFFERS = True  # let elementwise ops overwrite dead inputs (tests turn it off to compare)


def _unbound(*feeds: Any) -> list[Any]:
    raise RuntimeError("plan used before it was compiled")


def _step_failed(plan: _Plan, index: int, error: Exception, values: Callable[[int], Any]) -> None:
    """Raise the TF-style error for step `index` failing with `error` (OpErrors pass through);
    `values(slot)` reads the step's inputs for the message."""
    if isinstance(error, errors.OpError):
        raise error
    op = plan.ops[index]
    if isinstance(error, MemoryError):
        raise errors.ResourceExhaustedError(
            None, op, f"OOM when running '{op.name}' (op: {op.type}): {error}") from error
    shapes = ", ".join(str(getattr(values(i), "shape", "?")) for i in plan.steps[index][1])
    raise errors.InvalidArgumentError(
        None, op, f"{error} [[node {op.name} (op: {op.type}) with input shapes: {shapes}]]"
    ) from error


def _run_loop(plan: _Plan, fetch: Callable[[Any], Any], *feeds: Any) -> list[Any]:
    """The plan's steps in a loop over a list of slots (plans too long to compile)."""
    values = plan.initial.copy()
    for slot, value in zip(plan.feed_slots.values(), feeds, strict=True):
        values[slot] = value
    get = values.__getitem__
    step: Any = None
    fp_state = _ignore_fp_errors()
    try:
        for step in plan.steps:
            kernel, ins, out, frees = step
            result = kernel(*map(get, ins))
            if out.__class__ is int:
                values[out] = result
            elif out:
                for slot, value in zip(out, result, strict=True):
                    values[slot] = value
            for slot in frees:
                values[slot] = None
    except Exception as e:
        _step_failed(plan, next(i for i, s in enumerate(plan.steps) if s is step), e, get)
    finally:
        _restore_fp_errors(fp_state)
    return [None if slot is None else values[slot] if slot in plan.direct else
            fetch(values[slot]) for slot in plan.fetch_slots]


def _straight_line(plan: _Plan, fetch: Callable[[Any], Any]) -> Callable[..., list[Any]]:
    """The plan as one generated function of the feed values: a line per step, locals for
    slots. Only integers are formatted into the text; kernels and constants are bound by
    reference in the function's namespace. `fetch` makes a fetched value a host value that
    the caller may keep (skipped for `plan.direct` slots)."""
    feed_names = {slot: f"f{i}" for i, slot in enumerate(plan.feed_slots.values())}
    namespace: dict[str, Any] = {"_step_failed": _step_failed, "_plan": plan, "_fetch": fetch,
                                 "_ignore": _ignore_fp_errors, "_restore": _restore_fp_errors}

    def name(slot: int) -> str:
        if slot in feed_names:
            return feed_names[slot]
        if plan.initial[slot] is not None:
            namespace[f"c{slot:d}"] = plan.initial[slot]
            return f"c{slot:d}"
        return f"s{slot:d}"

    body = []
    for index, (kernel, ins, out, frees) in enumerate(plan.steps):
        namespace[f"k{index:d}"] = kernel
        target = name(out) if out.__class__ is int else \
            "".join(f"{name(slot)}, " for slot in out) or "_"
        body.append(f"        i = {index:d}; {target} = k{index:d}({', '.join(map(name, ins))})")
        dead = [name(slot) for slot in frees if plan.initial[slot] is None]
        if dead:
            body.append(f"        del {', '.join(dead)}")
    fetched = ", ".join("None" if slot is None else name(slot) if slot in plan.direct else
                        f"_fetch({name(slot)})" for slot in plan.fetch_slots)
    source = "\n".join([
        f"def run({', '.join(feed_names.values())}):",
        "    i = 0",
        "    fp_state = _ignore()",
        "    try:",
        *body,
        "        pass",
        "    except Exception as e:",
        "        scope = locals()",
        "        _step_failed(_plan, i, e, lambda slot: _lookup(scope, slot))",
        "    finally:",
        "        _restore(fp_state)",
        f"    return [{fetched}]",
    ])

    def lookup(scope: dict[str, Any], slot: int) -> Any:
        key = name(slot)
        return scope.get(key, namespace.get(key))

    namespace["_lookup"] = lookup
    exec(compile(source, "<engine plan>", "exec"), namespace)  # integers only: see above
    return namespace["run"]


def _add_frees(plan: _Plan, constants: set[int]) -> None:
    """Drop each intermediate right after its last reader, so the allocator reuses its
    memory (still in cache, no fresh page faults) for the next large array."""
    keep = {s for s in plan.fetch_slots if s is not None} | constants
    last_reader: dict[int, int] = {}
    for index, (_, ins, _, _) in enumerate(plan.steps):
        for slot in ins:
            last_reader[slot] = index
    frees: dict[int, list[int]] = {}
    for slot, index in last_reader.items():
        if slot not in keep:
            frees.setdefault(index, []).append(slot)
    plan.steps = [(kernel, ins, out, tuple(frees.get(i, ())))
                  for i, (kernel, ins, out, _) in enumerate(plan.steps)]


class InteractiveSession(Session):
    """A Session that installs itself as the default on construction (for shells)."""

    def __init__(self, target: str = "", graph: Graph | None = None, config: Any = None,
                 device: str | None = None) -> None:
        super().__init__(target, graph, config, device)
        self._default = self.as_default()
        self._default.__enter__()

    def close(self) -> None:
        if not self._closed:
            self._default.__exit__(None, None, None)
        super().close()


class _SessionStack(threading.local):
    def __init__(self) -> None:
        self.sessions: list[Session] = []


_session_stack = _SessionStack()


def _sessions() -> list[Session]:
    return _session_stack.sessions


def get_default_session() -> Session | None:
    return _sessions()[-1] if _sessions() else None


def _feed_check(t: Tensor, fallback: Callable[[Any], Any] | None = None) -> Callable[[Any], Any]:
    """`_feed_value` for one tensor, with the common case (an ndarray of the right dtype whose
    shape fits) decided by a few precomputed comparisons; anything else goes to `fallback`
    (by default `_feed_value`: serving passes one wording its errors for its users)."""
    dtype, shape = t.dtype.np, t.static_shape
    if fallback is None:
        def fallback(value: Any) -> Any:
            return _feed_value(t, value, dtype, shape)
    if shape is None:
        return fallback
    rank = len(shape)
    known = tuple((axis, size) for axis, size in enumerate(shape) if size is not None)
    if len(known) == 1:
        (axis, size), = known

        def check_one(value: Any) -> Any:
            if value.__class__ is np.ndarray and value.dtype is dtype and \
                    value.ndim == rank and value.shape[axis] == size:
                return value
            return fallback(value)

        return check_one

    def check(value: Any) -> Any:
        if value.__class__ is np.ndarray and value.dtype is dtype and value.ndim == rank:
            dims = value.shape
            for axis, size in known:
                if dims[axis] != size:
                    break
            else:
                return value
        return fallback(value)

    return check


def _feed_value(t: Tensor, value: Any, dtype: np.dtype, shape: Shape) -> Any:
    """`value` as an array of `t`'s dtype and static shape (passed in, for callables that look
    them up once)."""
    if value.__class__ is np.ndarray and value.dtype is dtype:
        array = value  # the common case first (native dtypes are singletons): as np.asarray
    elif isinstance(value, Tensor):
        raise TypeError(
            f"The value of a feed cannot be a tf.Tensor object ({value.name}). Acceptable "
            f"feed values include Python scalars, strings, lists, numpy ndarrays."
        )
    elif hasattr(value, "__cuda_array_interface__"):
        array = value.astype(dtype, copy=False)
    else:
        try:
            array = np.asarray(value, dtype=dtype)
        except (TypeError, ValueError, OverflowError) as e:
            raise ValueError(
                f"Cannot feed value {_short(value)} for Tensor '{t.name}' of dtype "
                f"{t.dtype.name}: {e}"
            ) from None
    if not compatible(shape, array.shape):
        raise ValueError(
            f"Cannot feed value of shape {array.shape} for Tensor '{t.name}', which has "
            f"shape '{t.get_shape()}'"
        )
    return array


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) < 60 else text[:57] + "..."
