"""`tf.data`: input pipelines, as in TF 1.4 and later.

A `Dataset` describes a sequence of elements (nested tuples/dicts of arrays) and how to make
them on the host: slices of arrays, then `map`, `filter`, `shuffle`, `batch`, `repeat`, ...
An iterator's `get_next()` is a graph op: each `Session.run` that needs it takes the next
element, and the end of the data raises `tf.errors.OutOfRangeError`, which ends a training
loop as in TF. Where an iterator is in its sequence is kept per Session, like a variable.

Functions given to `map` and `filter` are traced once into graph ops on placeholders, and run
through the Session's own plans (`ExecContext.subplan`); tensors from outside that they (or
`from_tensor_slices`) use are evaluated when the iterator starts.
"""

from __future__ import annotations

import builtins
import gzip
import itertools
import threading
import weakref
import zlib
from collections.abc import Callable, Sequence
from collections.abc import Iterator as Stream
from typing import Any

import numpy as np

from engine import dtypes as _dtypes
from engine import errors, gfile
from engine.graph import Graph, Operation, Tensor, convert_to_tensor, get_default_graph
from engine.registry import ExecContext, Kernel, OpDef, Spec, register
from engine.shapes import Shape, TensorShape

__all__ = ["Dataset", "Iterator", "TextLineDataset"]

Element = tuple[Any, ...]  # the flat leaves of one element, as arrays


class _Function:
    """A traced map/filter function: placeholders in, tensors out, the ops in between, and
    the tensors from outside that it reads (bound when an iterator starts)."""

    def __init__(self, fn: Callable[..., Any], dataset: Dataset, what: str) -> None:
        from engine.ops.array_ops import placeholder
        from engine.ops.control_flow_ops import _outside_reads, _trace
        from engine.session import rebuild_structure

        graph = get_default_graph()
        with graph.name_scope(what):
            self.inputs = [placeholder(dt, shape) for dt, shape in dataset.specs]
        args = rebuild_structure(dataset.structure, self.inputs)
        call = (lambda: fn(*args)) if isinstance(args, tuple) else (lambda: fn(args))
        traced = _trace(graph, call, what)
        self.ops, self.outputs, self.structure = traced.ops, traced.outputs, traced.structure
        self.captured = [t for t in _outside_reads(self.ops, self.outputs)
                         if t not in self.inputs]


class _Env:
    """What a running pipeline needs from its Session: compiled functions and the values of
    the outside tensors, bound when the iterator started."""

    def __init__(self, ctx: ExecContext, captured: Sequence[Tensor], values: Sequence[Any],
                 op: Operation) -> None:
        self.ctx, self.op = ctx, op
        self.values = dict(zip(captured, values, strict=True))
        self.seeds: dict[Any, Any] = {}
        self.rngs: dict[Any, np.random.Generator] = {}
        self.cached: dict[Any, list[Element]] = {}  # by cache(): its complete first pass

    def compile(self, fn: _Function) -> Callable[[Element], list[Any]]:
        run = self.ctx.subplan(fn.outputs, [*fn.inputs, *fn.captured], set(fn.ops))
        bound = [self.values[t] for t in fn.captured]
        to_host = self.ctx.backend.to_host
        return lambda element: [to_host(v) for v in run(*element, *bound)]

    def rng(self, owner: Any, seed: int | None, restart: bool,
            ordinal: int = 0) -> np.random.Generator:
        """`owner`'s random stream for this pass of the iterator: continued from the last
        pass, or (`restart`) the same stream again. Seeded from the graph seed and `seed`
        when either is set (repeatable), else from fresh entropy drawn once per start. With
        a graph seed alone, `ordinal` (the owner's number among the graph's shuffles) stands
        for `seed`, as TF gives each op its own seed: two shuffles are not permuted alike."""
        if owner not in self.seeds:
            graph_seed = self.op.graph.seed
            own = ordinal if seed is None else seed
            self.seeds[owner] = np.random.SeedSequence().entropy \
                if seed is None and graph_seed is None else \
                [int(graph_seed or 0) & 0xFFFFFFFF, int(own) & 0xFFFFFFFF]
        if restart or owner not in self.rngs:
            self.rngs[owner] = np.random.default_rng(self.seeds[owner])
        return self.rngs[owner]


class _Described:
    """Datasets and iterators describe their elements: `structure` (the nesting, a
    template) and `specs` (each leaf's dtype and per-element shape)."""

    structure: Any
    specs: list[tuple[_dtypes.DType, Shape]]

    @property
    def output_types(self) -> Any:
        from engine.session import rebuild_structure

        return rebuild_structure(self.structure, [dt for dt, _ in self.specs])

    @property
    def output_shapes(self) -> Any:
        from engine.session import rebuild_structure

        return rebuild_structure(self.structure, [TensorShape(s) for _, s in self.specs])


class Dataset(_Described):
    """A sequence of elements: `structure` is their nesting (a template), `specs` the dtype
    and per-element shape of each leaf, `_make(env)` the host generator of flat elements."""

    def __init__(self, structure: Any, specs: list[tuple[_dtypes.DType, Shape]],
                 make: Callable[[_Env], Stream[Element]],
                 captured: Sequence[Tensor] = ()) -> None:
        self.structure, self.specs, self._make = structure, specs, make
        self._captured = list(dict.fromkeys(captured))

    # -- sources ----------------------------------------------------------------------------
    @staticmethod
    def from_tensor_slices(tensors: Any) -> Dataset:
        """One element per row of the given arrays (all with the same first dimension)."""
        structure, leaves = _leaves_of(tensors)
        if not leaves:
            raise ValueError("from_tensor_slices needs at least one array.")
        specs, rows = [], set()
        for leaf in leaves:
            shape = leaf.static_shape
            if shape == ():
                raise ValueError(f"from_tensor_slices: {leaf.name} is a scalar; every "
                                 f"component needs a first dimension to slice.")
            if shape is None:  # unknown rank (a placeholder without a shape): checked when fed
                specs.append((leaf.dtype, None))
                continue
            specs.append((leaf.dtype, shape[1:]))
            rows.add(shape[0])
        rows.discard(None)
        if len(rows) > 1:
            raise ValueError(f"from_tensor_slices: components have different first "
                             f"dimensions {sorted(rows)}; they must all be the same.")

        def make(env: _Env) -> Stream[Element]:
            arrays = [np.asarray(env.values[t]) for t in leaves]
            for t, a in builtins.zip(leaves, arrays, strict=True):
                if a.ndim == 0:
                    raise errors.InvalidArgumentError(
                        None, env.op, f"from_tensor_slices: {t.name} was given a scalar; "
                                      f"every component needs a first dimension to slice.")
            count = {len(a) for a in arrays}
            if len(count) > 1:
                raise errors.InvalidArgumentError(
                    None, env.op, f"from_tensor_slices: components have different first "
                                  f"dimensions {sorted(count)}")
            for i in range(count.pop()):
                yield tuple(a[i] for a in arrays)

        return Dataset(structure, specs, make, leaves)

    @staticmethod
    def from_tensors(tensors: Any) -> Dataset:
        """A single element: the given arrays as they are."""
        structure, leaves = _leaves_of(tensors)
        specs = [(t.dtype, t.static_shape) for t in leaves]
        return Dataset(structure, specs,
                       lambda env: iter([tuple(env.values[t] for t in leaves)]), leaves)

    @staticmethod
    def range(*args: int) -> Dataset:
        """int64 values like Python's range(start, stop, step)."""
        values = builtins.range(*args)
        return Dataset(_single(), [(_dtypes.int64, ())],
                       lambda env: ((np.int64(v),) for v in values))

    @staticmethod
    def zip(datasets: Any) -> Dataset:
        """Elements of several datasets side by side, until the shortest ends."""
        structure, parts = _structure_of_datasets(datasets)
        specs = [spec for d in parts for spec in d.specs]

        def make(env: _Env) -> Stream[Element]:
            for items in builtins.zip(*(d._make(env) for d in parts), strict=False):
                yield tuple(v for item in items for v in item)

        captured = [t for d in parts for t in d._captured]
        return Dataset(_nest(structure, parts), specs, make, captured)

    @staticmethod
    def from_generator(generator: Callable[..., Any], output_types: Any,
                       output_shapes: Any = None, args: Sequence[Any] | None = None) -> Dataset:
        """The elements a Python generator yields (`generator(*args)` called anew on each
        pass), converted to `output_types` and checked against `output_shapes`."""
        from engine.session import flatten_structure

        if not callable(generator):
            raise TypeError(f"generator must be callable, got {generator!r}.")
        types: list[Any] = []
        structure = flatten_structure(output_types, types)
        dtypes = [_dtypes.as_dtype(t) for t in types]
        shapes = [None] * len(dtypes) if output_shapes is None else \
            _values_like(output_shapes, structure)
        specs = [(dt, TensorShape(s).as_tuple()) for dt, s in
                 builtins.zip(dtypes, shapes, strict=True)]

        def make(env: _Env) -> Stream[Element]:
            for item in generator(*(args or ())):
                try:
                    leaves = _values_like(item, structure)
                except ValueError as e:
                    raise errors.InvalidArgumentError(
                        None, env.op, f"from_generator: the generator yielded {item!r}, which "
                                      f"does not have the structure of output_types ({e})"
                    ) from None
                yield tuple(_converted(v, dt, shape, env) for v, (dt, shape) in
                            builtins.zip(leaves, specs, strict=True))

        return Dataset(structure, specs, make)

    def concatenate(self, dataset: Dataset) -> Dataset:
        """This dataset's elements, then `dataset`'s (same structure and types)."""
        if [dt for dt, _ in dataset.specs] != [dt for dt, _ in self.specs]:
            raise TypeError(f"Two datasets to concatenate have different types "
                            f"{[dt.name for dt, _ in self.specs]} and "
                            f"{[dt.name for dt, _ in dataset.specs]}.")
        specs = [(dt, _merged(a, b)) for (dt, a), (_, b) in
                 builtins.zip(self.specs, dataset.specs, strict=True)]
        return Dataset(self.structure, specs,
                       lambda env: itertools.chain(self._make(env), dataset._make(env)),
                       [*self._captured, *dataset._captured])

    # -- transformations --------------------------------------------------------------------
    def map(self, map_func: Callable[..., Any], num_parallel_calls: Any = None) -> Dataset:
        """Elements passed through `map_func` (graph ops, traced once; tuple elements are
        passed as separate arguments, as in TF)."""
        fn = _Function(map_func, self, "map")
        specs = [(t.dtype, t.static_shape) for t in fn.outputs]

        def make(env: _Env) -> Stream[Element]:
            run = env.compile(fn)
            for element in self._make(env):
                yield tuple(run(element))

        return Dataset(fn.structure, specs, make, [*self._captured, *fn.captured])

    def filter(self, predicate: Callable[..., Any]) -> Dataset:
        """The elements for which `predicate` gives a true boolean scalar."""
        fn = _Function(predicate, self, "filter")
        if len(fn.outputs) != 1 or not fn.outputs[0].dtype.is_bool or \
                fn.outputs[0].static_shape not in (None, ()):
            raise ValueError("filter's predicate must return one boolean scalar tensor.")

        def make(env: _Env) -> Stream[Element]:
            keep = env.compile(fn)
            return (element for element in self._make(env) if keep(element)[0])

        return self._derived(make, fn.captured)

    def batch(self, batch_size: Any, drop_remainder: bool = False) -> Dataset:
        """Consecutive elements stacked along a new first dimension (the last batch may be
        smaller unless `drop_remainder`)."""
        def stacked(rows: list[Element], env: _Env) -> Element:
            try:
                return tuple(np.stack(column) for column in builtins.zip(*rows, strict=True))
            except ValueError as e:
                raise errors.InvalidArgumentError(
                    None, env.op, f"batch: elements of different shapes cannot be stacked "
                                  f"({e}); pad them first") from None

        return self._batched(batch_size, drop_remainder, [s for _, s in self.specs], stacked)

    def padded_batch(self, batch_size: Any, padded_shapes: Any = None,
                     padding_values: Any = None, drop_remainder: bool = False) -> Dataset:
        """Batches of elements padded at the end of each dimension to the longest in the
        batch (or to `padded_shapes`, where a dimension is given), with `padding_values`
        (default 0)."""
        targets = [s for _, s in self.specs] if padded_shapes is None else \
            [TensorShape(t).as_tuple() for t in _values_like(padded_shapes, self.structure)]
        fills = [0] * len(self.specs) if padding_values is None else \
            _values_like(padding_values, self.structure)
        if len(targets) != len(self.specs) or len(fills) != len(self.specs):
            raise ValueError("padded_shapes and padding_values must have the structure of the "
                             "dataset's elements.")

        def padded(rows: list[Element], env: _Env) -> Element:
            return tuple(_padded(list(column), target, fill, env) for column, target, fill
                         in builtins.zip(builtins.zip(*rows, strict=True), targets, fills,
                                         strict=True))

        return self._batched(batch_size, drop_remainder, targets, padded)

    def _batched(self, batch_size: Any, drop_remainder: bool, shapes: list[Shape],
                 combine: Callable[[list[Element], _Env], Element]) -> Dataset:
        """Runs of `batch_size` consecutive elements made one by `combine`; each component's
        shape is `shapes`' with the batch dimension in front."""
        given = _count(batch_size, "batch_size", 1)
        first = given if drop_remainder and isinstance(given, int) else None
        specs = [(dt, None if shape is None else (first, *shape))
                 for (dt, _), shape in builtins.zip(self.specs, shapes, strict=True)]

        def make(env: _Env) -> Stream[Element]:
            size = _counted(env, given, "batch_size", 1)
            source = self._make(env)
            while rows := list(itertools.islice(source, size)):
                if len(rows) < size and drop_remainder:
                    return
                yield combine(rows, env)

        return Dataset(self.structure, specs, make, [*self._captured, *_tensors(given)])

    def shuffle(self, buffer_size: Any, seed: int | None = None,
                reshuffle_each_iteration: bool | None = None) -> Dataset:
        """Elements in random order, drawn from a buffer of `buffer_size` (TF's algorithm:
        the buffer is filled, then each output is replaced by the next input); a new order
        each pass unless `reshuffle_each_iteration` is False (None, TF's default: True)."""
        given = _count(buffer_size, "buffer_size", 1)
        ordinal = _next_ordinal(get_default_graph())

        def make(env: _Env) -> Stream[Element]:
            size = _counted(env, given, "buffer_size", 1)
            rng = env.rng(make, seed, reshuffle_each_iteration is False, ordinal)
            buffer: list[Element] = []
            for element in self._make(env):
                if len(buffer) < size:
                    buffer.append(element)
                    continue
                index = int(rng.integers(len(buffer)))
                yield buffer[index]
                buffer[index] = element
            while buffer:
                yield buffer.pop(int(rng.integers(len(buffer))))

        return self._derived(make, _tensors(given))

    def repeat(self, count: Any = None) -> Dataset:
        """The elements `count` times over (None or -1: without end)."""
        given = _count(-1 if count is None else count, "repeat count", -1)

        def make(env: _Env) -> Stream[Element]:
            times = _counted(env, given, "repeat count", -1)
            passes = itertools.count() if times == -1 else builtins.range(times)
            for _ in passes:
                empty = True
                for element in self._make(env):
                    empty = False
                    yield element
                if empty:
                    return

        return self._derived(make, _tensors(given))

    def take(self, count: Any) -> Dataset:
        """The first `count` elements (-1: all)."""
        given = _count(count, "take count", -1)

        def make(env: _Env) -> Stream[Element]:
            n = _counted(env, given, "take count", -1)
            return itertools.islice(self._make(env), None if n == -1 else n)

        return self._derived(make, _tensors(given))

    def skip(self, count: Any) -> Dataset:
        """All but the first `count` elements (-1: skips them all, as in TF)."""
        given = _count(count, "skip count", -1)

        def make(env: _Env) -> Stream[Element]:
            n = _counted(env, given, "skip count", -1)
            return iter(()) if n == -1 else itertools.islice(self._make(env), n, None)

        return self._derived(make, _tensors(given))

    def cache(self, filename: str = "") -> Dataset:
        """The first pass's elements, replayed on later passes (random maps drawn once)."""
        def make(env: _Env) -> Stream[Element]:
            if make in env.cached:
                yield from env.cached[make]
                return
            seen = []
            for element in self._make(env):
                seen.append(element)
                yield element
            env.cached[make] = seen

        return self._derived(make)

    def prefetch(self, buffer_size: int) -> Dataset:
        """The same elements; there is no background thread to fill a buffer ahead."""
        return self

    def _derived(self, make: Callable[[_Env], Stream[Element]],
                 captured: Sequence[Tensor] = ()) -> Dataset:
        return Dataset(self.structure, self.specs, make, [*self._captured, *captured])

    # -- iterators --------------------------------------------------------------------------
    def make_one_shot_iterator(self) -> Iterator:
        """An iterator that starts by itself on its first get_next()."""
        return Iterator(self.structure, self.specs, self)

    def make_initializable_iterator(self, shared_name: str | None = None) -> Iterator:
        """An iterator that starts (and restarts) when its `initializer` runs."""
        iterator = Iterator(self.structure, self.specs)
        iterator.initializer = iterator.make_initializer(self)
        return iterator


class TextLineDataset(Dataset):
    """The lines of text files (bytes, without their line ends), file after file: local
    paths, file:// or any tf.gfile URI (s3://), optionally GZIP- or ZLIB-compressed."""

    def __init__(self, filenames: str | Sequence[str], compression_type: str | None = None,
                 buffer_size: int | None = None) -> None:
        names = [filenames] if isinstance(filenames, str) else list(filenames)
        if not names or not all(isinstance(n, str) for n in names):
            raise TypeError(f"filenames must be a file name or a list of them, got "
                            f"{filenames!r}.")
        if compression_type not in (None, "", "GZIP", "ZLIB"):
            raise ValueError(f"compression_type must be None, '', 'GZIP' or 'ZLIB', got "
                             f"{compression_type!r}.")

        def make(env: _Env) -> Stream[Element]:
            for name in names:
                try:
                    data = gfile.read_file(name)
                except (FileNotFoundError, IsADirectoryError):
                    raise errors.NotFoundError(None, env.op, f"{name}; No such file or "
                                                             f"directory") from None
                if compression_type == "GZIP":
                    data = gzip.decompress(data)
                elif compression_type == "ZLIB":
                    data = zlib.decompress(data)
                for line in data.splitlines():
                    yield (line,)

        super().__init__(_single(), [(_dtypes.string, ())], make)


class Iterator(_Described):
    """Takes elements of a dataset in a Session: `get_next()` gives the element's tensors."""

    def __init__(self, structure: Any, specs: list[tuple[_dtypes.DType, Shape]],
                 one_shot: Dataset | None = None) -> None:
        self.structure, self.specs = structure, specs
        graph = get_default_graph()
        self._key = f"iterator:{graph.unique_name('Iterator')}"  # no op name has a ':'
        self._one_shot = one_shot
        self.initializer: Operation | None = None

    @staticmethod
    def from_structure(output_types: Any, output_shapes: Any = None) -> Iterator:
        """A reinitializable iterator: `make_initializer(dataset)` for each dataset of this
        structure (say training and validation data) switches it to that dataset."""
        from engine.session import flatten_structure

        types: list[Any] = []
        structure = flatten_structure(output_types, types)
        shapes: list[Any] = [None] * len(types)
        if output_shapes is not None:
            shapes = []
            flatten_structure(output_shapes, shapes)
        return Iterator(structure, [(_dtypes.as_dtype(t), TensorShape(s).as_tuple())
                                    for t, s in builtins.zip(types, shapes, strict=True)])

    def make_initializer(self, dataset: Dataset, name: str | None = None) -> Operation:
        """The op that (re)starts this iterator on `dataset`."""
        if [dt for dt, _ in dataset.specs] != [dt for dt, _ in self.specs]:
            raise TypeError(f"Expected dataset elements of types "
                            f"{[dt.name for dt, _ in self.specs]}, got "
                            f"{[dt.name for dt, _ in dataset.specs]}.")
        return get_default_graph().create_op(
            "MakeIterator", dataset._captured, {"dataset": dataset, "key": self._key},
            name or "MakeIterator")

    def get_next(self, name: str | None = None) -> Any:
        """The tensors of the next element; running them moves the iterator on."""
        from engine.session import rebuild_structure

        captured = self._one_shot._captured if self._one_shot is not None else []
        op = get_default_graph().create_op(
            "IteratorGetNext", captured,
            {"specs": self.specs, "key": self._key, "dataset": self._one_shot},
            name or "IteratorGetNext")
        return rebuild_structure(self.structure, op.outputs)


class _Position:
    """Where an iterator is in a pass (kept per Session, like a variable's value). Threads
    running get_next in one Session take turns: a Python generator refuses to be advanced
    by two at once, and TF's iterators hand each element to one caller."""

    __slots__ = ("lock", "source")

    def __init__(self, source: Stream[Element]) -> None:
        self.source, self.lock = source, threading.Lock()

    def next(self) -> Element | None:
        """The next element, or None at the end of the pass."""
        with self.lock:
            return next(self.source, None)


@register
class MakeIterator(OpDef):
    """Starts an iterator's pass over a dataset in this Session (inputs: the outside tensors
    the dataset reads, evaluated now)."""

    differentiable = False
    stateful = True

    def infer(self, op: Operation) -> list[Spec]:
        return []

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        dataset, key = op.attrs["dataset"], op.attrs["key"]
        captured = list(op.inputs)

        def start(*values: Any) -> None:
            env = _Env(ctx, captured, [ctx.backend.to_host(v) for v in values], op)
            ctx.variables[key] = _Position(dataset._make(env))

        return start


@register
class IteratorGetNext(OpDef):
    """The next element of an iterator's pass (a one-shot iterator starts its pass on first
    use); OutOfRangeError once the pass has no more."""

    differentiable = False
    stateful = True

    def infer(self, op: Operation) -> list[Spec]:
        return [(shape, dt) for dt, shape in op.attrs["specs"]]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        key, dataset = op.attrs["key"], op.attrs["dataset"]
        captured, from_host = list(op.inputs), ctx.backend.from_host
        single = len(op.outputs) == 1

        def get_next(*values: Any) -> Any:
            position = ctx.variables.get(key)
            if position is None:
                if dataset is None:
                    raise errors.FailedPreconditionError(
                        None, op, "GetNext() failed because the iterator has not been "
                                  "initialized. Ensure that you have run the initializer "
                                  "operation for this iterator before getting the next "
                                  "element.")
                env = _Env(ctx, captured, [ctx.backend.to_host(v) for v in values], op)
                # the first of several threads starting a one-shot iterator wins
                position = ctx.variables.setdefault(key, _Position(dataset._make(env)))
            element = position.next()
            if element is None:
                raise errors.OutOfRangeError(None, op, "End of sequence")
            out = tuple(from_host(np.asarray(v)) for v in element)
            return out[0] if single else out

        return get_next


_ORDINALS: weakref.WeakKeyDictionary[Graph, itertools.count[int]] = weakref.WeakKeyDictionary()


def _next_ordinal(graph: Graph) -> int:
    """0, 1, 2, ... for the shuffles made in `graph`: the same numbers when the graph is
    built again, so a graph seed repeats every shuffle's order."""
    return next(_ORDINALS.setdefault(graph, itertools.count()))


# -- nested structures --------------------------------------------------------------------------
def _single() -> Any:
    """The template of an element that is one array."""
    from engine.session import flatten_structure

    return flatten_structure(0, [])


def _leaves_of(value: Any) -> tuple[Any, list[Tensor]]:
    """(template, tensors) for a nested tuple/dict of arrays or tensors; as in TF a list is
    one array, not a structure. numpy and Python values become constants (float64 arrays
    stay float64, Python floats are float32)."""
    from engine.session import flatten_structure

    found: list[Any] = []
    structure = flatten_structure(_lists_as_tensors(value), found)
    return structure, [convert_to_tensor(v) for v in found]


def _lists_as_tensors(value: Any) -> Any:
    if isinstance(value, list):
        return convert_to_tensor(value)
    if isinstance(value, tuple):
        return type(value)(*map(_lists_as_tensors, value)) if hasattr(value, "_fields") \
            else tuple(map(_lists_as_tensors, value))
    if isinstance(value, dict):
        return type(value)((k, _lists_as_tensors(v)) for k, v in value.items())
    return value


def _structure_of_datasets(datasets: Any) -> tuple[Any, list[Dataset]]:
    from engine.session import flatten_structure

    found: list[Any] = []
    structure = flatten_structure(datasets, found)
    if not found or not all(isinstance(d, Dataset) for d in found):
        raise TypeError("Dataset.zip takes a tuple (or dict) of Datasets.")
    return structure, found


def _nest(structure: Any, parts: list[Dataset]) -> Any:
    """The template of a zip: `structure` with each dataset replaced by its own template,
    the leaves numbered anew in order."""
    from engine.session import flatten_structure, rebuild_structure

    markers = [rebuild_structure(d.structure, [object() for _ in d.specs]) for d in parts]
    return flatten_structure(rebuild_structure(structure, markers), [])


def _values_like(item: Any, like: Any) -> list[Any]:
    """The leaves of `item` (a generator's element, padded shapes or values) in the order of
    the template `like` (the element's structure): dicts by its keys, tuples in order; a list
    where `like` has a leaf is one value (or one shape)."""
    if isinstance(like, dict):
        if not isinstance(item, dict) or item.keys() != like.keys():
            raise ValueError(f"expected a dict with keys {sorted(like)}, got {item!r}")
        return [v for key in like for v in _values_like(item[key], like[key])]
    if isinstance(like, list | tuple):
        if not isinstance(item, list | tuple) or len(item) != len(like):
            raise ValueError(f"expected {len(like)} components, got {item!r}")
        return [v for part, sub in builtins.zip(item, like, strict=True)
                for v in _values_like(part, sub)]
    return [item]


def _converted(value: Any, dtype: _dtypes.DType, shape: Shape, env: _Env) -> np.ndarray:
    """A generator's value as an array of `dtype` with a shape that `shape` admits."""
    try:
        array = np.asarray(value, dtype=dtype.np)
    except (TypeError, ValueError) as e:
        raise errors.InvalidArgumentError(
            None, env.op, f"from_generator: {value!r} is not a {dtype.name} value ({e})"
        ) from None
    if shape is not None and (len(shape) != array.ndim or any(
            d is not None and d != n for d, n in builtins.zip(shape, array.shape, strict=True))):
        raise errors.InvalidArgumentError(
            None, env.op, f"from_generator: a value of shape {list(array.shape)} does not "
                          f"match output_shapes {TensorShape(shape)}")
    return array


def _merged(a: Shape, b: Shape) -> Shape:
    """The dimensions two shapes agree on (None where they differ)."""
    if a is None or b is None or len(a) != len(b):
        return None
    return tuple(x if x == y else None for x, y in builtins.zip(a, b, strict=True))


def _padded(values: list[Any], target: Shape, fill: Any, env: _Env) -> np.ndarray:
    """`values` stacked after padding each at the end of every dimension to the longest
    (or to `target`'s dimension where it is given)."""
    arrays = [np.asarray(v) for v in values]
    ranks = {a.ndim for a in arrays}
    if len(ranks) != 1:
        raise errors.InvalidArgumentError(None, env.op, "padded_batch: elements of different "
                                                        "ranks cannot be batched")
    longest = [max(a.shape[i] for a in arrays) for i in builtins.range(ranks.pop())]
    if target is not None:
        if len(target) != len(longest) or any(t is not None and t < n for t, n in
                                              builtins.zip(target, longest, strict=True)):
            raise errors.InvalidArgumentError(
                None, env.op, f"padded_batch: an element of shape {longest} does not fit "
                              f"padded_shapes {TensorShape(target)}")
        longest = [n if t is None else t for t, n in builtins.zip(target, longest, strict=True)]
    out = np.full((len(arrays), *longest), fill, dtype=arrays[0].dtype)
    for row, a in enumerate(arrays):
        out[(row, *(slice(0, n) for n in a.shape))] = a
    return out


def _count(value: Any, what: str, least: int) -> int | Tensor:
    """A size or count given to a transformation: a Python int, checked now, or an integer
    scalar tensor (a placeholder fed with the initializer, say), read when the iterator
    starts, as TF 1.x allows."""
    if isinstance(value, Tensor) or hasattr(value, "_as_graph_element"):
        tensor = convert_to_tensor(value)
        if not tensor.dtype.is_integer or tensor.static_shape not in (None, ()):
            raise TypeError(f"{what} must be an integer scalar, got {tensor.name} of "
                            f"{tensor.dtype.name} and shape {tensor.shape}.")
        return tensor
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < least:
        wanted = "a positive Python int" if least == 1 else f"a Python int >= {least}"
        raise ValueError(f"{what} must be {wanted} or an integer scalar tensor, got "
                         f"{value!r}.")
    return int(value)


def _counted(env: _Env, count: int | Tensor, what: str, least: int) -> int:
    """The value of a `_count` for this pass: a tensor's value from when the iterator
    started, checked as `_count` checks an int (an InvalidArgumentError, as in TF)."""
    if not isinstance(count, Tensor):
        return count
    value = int(np.asarray(env.values[count]))
    if value < least:
        raise errors.InvalidArgumentError(None, env.op, f"{what} must be >= {least}, got "
                                                        f"{value}")
    return value


def _tensors(count: int | Tensor) -> list[Tensor]:
    """The tensors a dataset reads for a `_count`: evaluated when its iterator starts."""
    return [count] if isinstance(count, Tensor) else []
