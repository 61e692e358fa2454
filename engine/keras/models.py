"""`tf.keras.Model` (the functional API and subclassed models) and `tf.keras.Sequential`:
compile / fit / evaluate / predict / summary / save, shared by all three.

    inputs = tf.keras.Input(shape=(8,))
    x = tf.keras.layers.Dense(16, activation="relu")(inputs)
    model = tf.keras.Model(inputs, tf.keras.layers.Dense(1)(x))

    class MLP(tf.keras.Model):
        def __init__(self):
            super().__init__()
            self.hidden = tf.keras.layers.Dense(16, activation="relu")
            self.out = tf.keras.layers.Dense(1)

        def call(self, inputs, training=None):
            return self.out(self.hidden(inputs))

A Sequential or subclassed model owns a Graph and a Session (`model.graph`, `model.session`),
so two never share variables. Functional models live in the Keras session's graph
(backend.py), which models made from the same Input tensors share, with their layers'
variables, as in TF 1.x Keras. A model's graph holds two forward passes over the same
variables: the inference pass (dropout off, batch normalization on its moving statistics),
which predict, evaluate, validation and `save` use, and the training pass that `fit` minimises
(it also runs batch normalization's moving-average updates); both are the model's `call`
(Sequential runs its stack, a functional model replays its recorded layer calls, a subclass
runs its own) with `training` False or True. A subclassed model makes its inputs and the
inference pass from the first data it sees (Keras's deferred build).

A model is a layer: calling it on tensors runs its `call` with its weights, so a model nests
in a functional model (one node there, shared by every call, e.g. a siamese encoder) or in a
Sequential one. A Sequential or subclassed model used in another graph moves there first,
weights and all (Model._move). The graph's random seed is the one given to
`tf.keras.utils.set_random_seed`, else the default graph's (`tf.set_random_seed`); with
neither, initial weights differ from run to run, as in Keras.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from engine import dtypes as _dtypes
from engine import saved_model
from engine.graph import Graph, GraphKeys, Tensor, convert_to_tensor
from engine.keras import backend, losses, metrics, optimizers
from engine.keras.backend import Node, Runtime
from engine.keras.callbacks import Callback, History
from engine.keras.layers import InputLayer, Layer
from engine.layers import Layer as _BaseLayer
from engine.layers import _snake_case, is_tensor_list
from engine.ops import array_ops, math_ops, reduction_ops
from engine.session import Session
from engine.shapes import Shape
from engine.variables import Variable

__all__ = ["Model", "Sequential"]

_NOT_BUILT = ("This model has not yet been built. Build the model first by calling `build()`, "
              "calling `fit()` with some data or calling the model on data, or specify an "
              "`input_shape` argument in the first layer(s) for automatic build.")
_NO_INIT = ("It looks like you are subclassing `Model` and you forgot to call "
            "`super().__init__()`. Always start your model's `__init__` with this line.")
_ELSEWHERE = ("Model '{name}' {how} of another graph, where its weights are, so it cannot be "
              "used in this one; use it on tensors of that graph, e.g. tf.keras.Input made in "
              "the same Keras session (before tf.keras.backend.clear_session()).")
_NOT_COMPILED = ("You must compile your model before training/testing. Use "
                 "`model.compile(optimizer, loss)`.")


def _notify(callbacks: Sequence[Callback], hook: str, *args: Any) -> None:
    for callback in callbacks:
        getattr(callback, hook)(*args)


def _format_logs(logs: dict[str, float]) -> str:
    """Keras's ' - loss: 0.1234' style, switching to exponent notation below 1e-3."""
    return "".join(f" - {k}: {v:.4f}" if abs(v) > 1e-3 else f" - {k}: {v:.4e}"
                   for k, v in logs.items())


def _standardize(data: Any, shape: Shape, what: str, name: str) -> np.ndarray:
    """`data` as an array of `shape` (batch dim free), or Keras's 'Error when checking' error.
    A 1-D array for a 2-D input gains an axis; a trailing axis of 1 beyond it is dropped."""
    array = np.asarray(data)
    assert shape is not None
    if array.ndim == 1 and len(shape) == 2:
        array = array[:, None]
    elif array.ndim == len(shape) + 1 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim != len(shape):
        raise ValueError(f"Error when checking {what}: expected {name} to have {len(shape)} "
                         f"dimensions, but got array with shape {array.shape}")
    if any(want is not None and want != got for want, got in zip(shape[1:], array.shape[1:],
                                                                 strict=True)):
        raise ValueError(f"Error when checking {what}: expected {name} to have shape "
                         f"{tuple(shape[1:])} but got array with shape {array.shape[1:]}")
    return array


def _per_name(data: Any, names: list[str], what: str) -> list[Any]:
    """`data` given for each of `names`: a dict by name, a list in order, or (one name) the
    value itself."""
    if isinstance(data, Mapping):
        missing = [n for n in names if n not in data]
        if missing:
            raise ValueError(f"No data provided for {missing[0]!r}. Need data for each key in: "
                             f"{names}")
        return [data[n] for n in names]
    if len(names) == 1:
        single = isinstance(data, list | tuple) and len(data) == 1 and \
            isinstance(data[0], np.ndarray)
        return [data[0] if single else data]
    if not isinstance(data, list | tuple) or len(data) != len(names):
        got = f"{len(data)} arrays" if isinstance(data, list | tuple) else \
            f"a single array of shape {np.shape(data)}"
        raise ValueError(f"Error when checking model {what}: the list of Numpy arrays that you "
                         f"are passing to your model is not the size the model expected. "
                         f"Expected to see {len(names)} array(s) ({names}), but instead got "
                         f"{got}.")
    return list(data)


def _unique(items: Sequence[Any]) -> list[Any]:
    """`items` without repeats, in order (shared layers and their variables count once)."""
    return list({id(item): item for item in items}.values())


class _Compiled:
    """What `compile` built: the target placeholders and the train and test callables, each
    mapping (*x batches, *y batches) to [loss, *metrics]."""

    def __init__(self, targets: list[Tensor], train: Callable[..., Any],
                 test: Callable[..., Any]) -> None:
        self.targets, self.train, self.test = targets, train, test


class _CompileArgs:
    """The arguments given to `compile`, checked; resolved per output when the model is."""

    def __init__(self, optimizer: Any, loss: Any, metrics: Any, loss_weights: Any) -> None:
        self.optimizer, self.loss, self.metrics = optimizer, loss, metrics
        self.loss_weights = loss_weights


class Model(Layer):
    """A model from `inputs` (tf.keras.Input tensors) to `outputs` (tensors of tf.keras
    layers called on them), each a tensor, a list or a dict by name; the base of Sequential.
    Input names are the Input layers' names (or the dict's keys), output names those of the
    layers that make the outputs (or the dict's keys): data may be passed by them.

    Without inputs and outputs it is the base of a subclassed model: its layers are those
    assigned as attributes, `call(inputs, training=None)` computes the outputs, and it builds
    (in a graph of its own, like Sequential) from the first data it sees, `build(input_shape)`
    or a call on tensors; its inputs are named input_1, ..., its outputs output_1, ....

    A model is a layer: called on tensors (Keras tensors too, nesting it in a functional
    model) it computes its outputs with its own weights, shared by every call."""

    def __init__(self, inputs: Any = None, outputs: Any = None, name: str | None = None) -> None:
        if inputs is None and outputs is None:
            self._setup(name or _snake_case(type(self).__name__), Runtime())
            return
        if inputs is None or outputs is None:
            raise ValueError("A functional Model needs both `inputs` and `outputs`; a subclass "
                             "of Model calls `super().__init__()` without them and defines "
                             "`call`.")
        input_list = list(inputs.values()) if isinstance(inputs, Mapping) else \
            list(inputs) if isinstance(inputs, list | tuple) else [inputs]
        output_list = list(outputs.values()) if isinstance(outputs, Mapping) else \
            list(outputs) if isinstance(outputs, list | tuple) else [outputs]
        runtime = backend.runtime()
        self._setup(name or "model", runtime)
        self._nodes, self._layer_list = _trace(runtime, input_list, output_list)
        names = [layer.name for layer in self._layers]
        for layer_name in names:
            if names.count(layer_name) > 1:
                raise ValueError(f'The name "{layer_name}" is used {names.count(layer_name)} '
                                 f"times in the model. All layer names should be unique.")
        self._input_names = list(inputs) if isinstance(inputs, Mapping) else \
            [runtime.nodes[t].layer.name for t in input_list]
        self._output_names = list(outputs) if isinstance(outputs, Mapping) else _dedupe(
            [runtime.nodes[t].layer.name for t in output_list])
        self._inputs = input_list
        self._set_outputs(output_list)

    def _setup(self, name: str, runtime: Runtime) -> None:
        """The state every model has (in place of tf.layers' Layer attributes, which a model
        computes from its layers)."""
        self.name = name
        self._runtime = runtime
        self.trainable = True
        self._nodes: list[Node] | None = None  # the recorded layer calls of a functional model
        self._called = False  # called on tensors of its graph: other models there use it
        self._layer_list: list[_BaseLayer] = []
        self._input_names: list[str] = []
        self._output_names: list[str] = []
        self._inputs: list[Tensor] = []
        self._outputs: list[Tensor] = []
        self._predict: Callable[..., Any] | None = None
        self._compile_args: _CompileArgs | None = None
        self._compiled: _Compiled | None = None
        self._metric_names: list[str] = []
        self.stop_training = False
        self.history: History | None = None

    def __setattr__(self, name: str, value: Any) -> None:
        if _layers_in(value) and "_runtime" not in self.__dict__:
            raise RuntimeError(_NO_INIT)
        super().__setattr__(name, value)

    def __getattr__(self, name: str) -> Any:
        """Reached only for a missing attribute: a model's own state is missing when a
        subclass did not call `super().__init__()`."""
        if "_runtime" not in self.__dict__ and not name.startswith("__"):
            raise AttributeError(_NO_INIT)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    # -- structure ----------------------------------------------------------------------------
    def call(self, inputs: Any, training: Any = None) -> Any:
        """A functional model's layer calls replayed on `inputs` (a tensor, or a list in the
        order of the model's inputs) in the order they were made, `training` going to the
        calls that did not fix it. Subclasses define their own."""
        if self._nodes is None:
            raise NotImplementedError(f"Model '{self.name}' has no call(): a subclass of "
                                      f"tf.keras.Model defines `call(self, inputs, "
                                      f"training=None)`; a functional model is made with "
                                      f"Model(inputs, outputs).")
        given = list(inputs) if is_tensor_list(inputs) else [inputs]
        if len(given) != len(self._inputs):
            raise ValueError(f"Model '{self.name}' expects {len(self._inputs)} input(s) "
                             f"{self.input_names}, but it was called on {len(given)}.")
        values = dict(zip(self._inputs, given, strict=True))
        for node in self._nodes:
            args = [values[t] for t in node.inputs]
            flag = training if node.training is None else node.training
            out = node.layer._call_tensors(args if node.listed else args[0], flag)
            values.update(zip(node.outputs, out if isinstance(out, list | tuple) else [out],
                              strict=True))
        return _one_or_list([values[t] for t in self._outputs])

    def _forward(self, training: bool) -> list[Tensor]:
        """The outputs computed from the model's own inputs with `training`: its call."""
        out = self.call(_one_or_list(self._inputs), training)
        return list(out) if isinstance(out, list | tuple) else [out]

    def build(self, input_shape: Any) -> None:
        """Make a subclassed model's inputs, placeholders of `input_shape` (a list of shapes
        for several inputs; the batch dimension may be None), and its inference pass; fit,
        predict and calls on tensors do this from their data. A functional model is built
        when made."""
        if self._nodes is not None:
            return
        shapes = [tuple(s) for s in input_shape] if _several(input_shape) else \
            [tuple(input_shape)]
        self._input_names = [f"input_{i}" for i in range(1, len(shapes) + 1)]
        with self.graph.as_default():
            self._inputs = [array_ops.placeholder(_dtypes.float32, shape, name=name)
                            for shape, name in zip(shapes, self._input_names, strict=True)]
        outputs = self._forward(training=False)
        self._output_names = [f"output_{i}" for i in range(1, len(outputs) + 1)]
        self._set_outputs(outputs)

    def _call_tensors(self, inputs: Any, training: Any) -> Any:
        """The model's call on tensors, its layers' calls unrecorded; it is first built in the
        tensors' graph (see `_set_scope`), from their shapes if it was not built yet."""
        listed = is_tensor_list(inputs)
        tensors = [convert_to_tensor(t) for t in (inputs if listed else [inputs])]
        self._set_scope(tensors[0].graph)
        if not self.built:
            self.build(_shape_arg([(None, *t.static_shape[1:]) for t in tensors]))
        self._called = True
        with backend.unrecorded():
            return self.call(tensors if listed else tensors[0], training)

    def _set_scope(self, graph: Graph) -> None:
        """Make `graph` this model's, as a layer's scope: a Sequential or subclassed model
        (each starts in a graph of its own) used in another graph, e.g. called on
        tf.keras.Input tensors or added to a Sequential model, moves there (see `_move`),
        unless models of its graph use it already."""
        if graph is self.graph:
            return
        if self._called:
            raise ValueError(_ELSEWHERE.format(name=self.name, how="was called on tensors"))
        self._move(graph)

    def _move(self, graph: Graph) -> None:
        """Rebuild the model's layers (and nested models) in `graph`, keeping its weights'
        values; it runs in that graph's session from then on. A functional model cannot: its
        recorded calls are in its graph."""
        if self._nodes is not None:
            raise ValueError(_ELSEWHERE.format(name=self.name,
                                               how="was made from tf.keras.Input tensors"))
        values, shape = (self.get_weights(), self._input_shape_arg()) if self.built else \
            (None, None)
        for layer in self._layers:
            if isinstance(layer, Model):
                layer._move(graph)
            else:
                _unbuild(layer)
        self._runtime = backend.runtime_of(graph)
        self._inputs, self._outputs, self._predict, self._compiled = [], [], None, None
        self._called = False
        if values is not None:
            self.build(shape)
            self.set_weights(values)

    def _input_shape_arg(self) -> Any:
        """The inputs' shapes as `build` takes them."""
        return _shape_arg([t.static_shape for t in self._inputs])

    def _set_outputs(self, outputs: list[Tensor]) -> None:
        self._outputs = outputs
        self._predict = self.session.make_callable(outputs, self._inputs)
        self._runtime.initialize_new_variables()

    @property
    def graph(self) -> Graph:
        return self._runtime.graph

    @property
    def session(self) -> Session:
        return self._runtime.session

    @property
    def built(self) -> bool:
        return bool(self._outputs)

    @property
    def _layers(self) -> list[_BaseLayer]:
        """The layers the model was made of (functional, Sequential), then those a subclass
        assigned as attributes (also in lists, tuples and dicts), in that order, each once."""
        assigned = [layer for key, value in vars(self).items() if key != "_layer_list"
                    for layer in _layers_in(value)]
        return _unique([*self._layer_list, *assigned])

    @property
    def layers(self) -> list[_BaseLayer]:
        return list(self._layers)

    def get_layer(self, name: str) -> _BaseLayer:
        for layer in self._layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No such layer: {name}. The model's layers: "
                         f"{[layer.name for layer in self._layers]}")

    @property
    def inputs(self) -> list[Tensor]:
        if not self.built:
            raise ValueError(_NOT_BUILT)
        return list(self._inputs)

    @property
    def outputs(self) -> list[Tensor]:
        if not self.built:
            raise ValueError(_NOT_BUILT)
        return list(self._outputs)

    @property
    def input(self) -> Tensor | list[Tensor]:
        return _one_or_list(self.inputs)

    @property
    def output(self) -> Tensor | list[Tensor]:
        return _one_or_list(self.outputs)

    @property
    def input_shape(self) -> Shape | list[Shape]:
        return _one_or_list([t.static_shape for t in self.inputs])

    @property
    def output_shape(self) -> Shape | list[Shape]:
        return _one_or_list([t.static_shape for t in self.outputs])

    @property
    def batch_input_shape(self) -> Shape:
        """The input's shape once built (what a Sequential model takes from its first
        layer), else None."""
        return self._inputs[0].static_shape if len(self._inputs) == 1 else None

    @property
    def input_names(self) -> list[str]:
        return list(self._input_names)

    @property
    def output_names(self) -> list[str]:
        return list(self._output_names)

    # -- weights ------------------------------------------------------------------------------
    @property
    def weights(self) -> list[Variable]:
        """Layer by layer (each layer: trainable first), a shared variable once."""
        return _unique([v for layer in self._layers for v in layer.weights])

    @property
    def trainable_weights(self) -> list[Variable]:
        """Empty when the model is frozen (`trainable = False`, say a pretrained encoder)."""
        if not self.trainable:
            return []
        return _unique([v for layer in self._layers for v in layer.trainable_weights])

    @property
    def non_trainable_weights(self) -> list[Variable]:
        if not self.trainable:
            return self.weights
        return _unique([v for layer in self._layers for v in layer.non_trainable_weights])

    variables = weights
    trainable_variables = trainable_weights
    non_trainable_variables = non_trainable_weights

    @property
    def losses(self) -> list[Tensor]:
        """The layers' regularization losses, which training adds to the loss."""
        return _unique([loss for layer in self._layers for loss in layer.losses])

    def count_params(self) -> int:
        if not self.built:
            raise ValueError(_NOT_BUILT)
        return sum(math.prod(v.shape.as_list()) for v in self.weights)

    def get_weights(self) -> list[np.ndarray]:
        """The weights' values, in the order of `weights`."""
        return list(self.session.run(self.weights))

    def set_weights(self, weights: Sequence[Any]) -> None:
        variables = self.weights
        if len(weights) != len(variables):
            raise ValueError(f"You called `set_weights(weights)` on model {self.name} with a "
                             f"weight list of length {len(weights)}, but the model was "
                             f"expecting {len(variables)} weights.")
        feeds = {}
        for v, w in zip(variables, weights, strict=True):
            w = np.asarray(w)
            if tuple(v.shape.as_list()) != w.shape:
                raise ValueError(f"Layer weight shape {tuple(v.shape.as_list())} not compatible "
                                 f"with provided weight shape {w.shape} (for {v.op.name}).")
            feeds[v.initial_value] = w
        self.session.run([v.initializer for v in variables], feeds)

    # -- training -----------------------------------------------------------------------------
    def compile(self, optimizer: Any = "rmsprop", loss: Any = None,
                metrics: Sequence[Any] | Mapping[str, Any] | None = None,
                loss_weights: Sequence[float] | Mapping[str, float] | None = None) -> None:
        """Choose the optimizer (name or instance), the loss (name or callable; with several
        outputs, one for all or a list / dict by output name, the model's loss being their sum
        weighted by `loss_weights`) and the metrics (a list for every output, or a dict)."""
        if loss is None:
            raise ValueError("The model cannot be compiled because it has no loss to optimize.")
        for each in loss.values() if isinstance(loss, Mapping) else \
                loss if isinstance(loss, list | tuple) else [loss]:
            losses.get(each)
        self._compile_args = _CompileArgs(optimizers.get(optimizer), loss, metrics or [],
                                          loss_weights)
        self._compiled = None
        if self.built:
            self._compile_graph()

    def _resolved_losses(self) -> list[tuple[Any, losses.Loss]]:
        """Per output: the loss as given and its function."""
        assert self._compile_args is not None
        loss = self._compile_args.loss
        given = loss if isinstance(loss, Mapping | list | tuple) else [loss] * len(self._outputs)
        return [(each, losses.get(each)) for each in self._per_output(given, "loss")]

    def _per_output(self, value: Any, what: str, missing: Any = None) -> list[Any]:
        """A list or dict `compile` argument as one entry per output; a dict may leave out
        outputs only where `missing` gives their entry."""
        names = self.output_names
        if isinstance(value, Mapping):
            unknown = sorted(set(value) - set(names))
            absent = [n for n in names if n not in value]
            if unknown or (absent and missing is None):
                raise ValueError(f"The {what} dictionary must map model output names {names} "
                                 f"to entries; unknown: {unknown}, missing: {absent}.")
            return [value.get(n, missing) for n in names]
        if len(value) != len(names):
            raise ValueError(f"When passing a list as {what}, it should have one entry per "
                             f"model output. The model has {len(names)} outputs ({names}), "
                             f"but you passed {what}={value!r}")
        return list(value)

    def _compile_graph(self) -> _Compiled:
        """Build the training pass, losses, metrics and train op for the compile arguments."""
        args = self._compile_args
        assert args is not None
        loss_fns = [fn for _, fn in self._resolved_losses()]
        n = len(self._outputs)
        weights = [1.0] * n if args.loss_weights is None else \
            self._per_output(args.loss_weights, "loss_weights")
        metric_ids = self._per_output(args.metrics, "metrics", missing=[]) \
            if isinstance(args.metrics, Mapping) else [args.metrics] * n
        metric_ids = [list(ids) if isinstance(ids, list | tuple) else [ids] for ids in metric_ids]
        graph = self.graph
        with graph.as_default():
            first_update = len(graph.get_collection(GraphKeys.UPDATE_OPS))
            train_outputs = self._forward(training=True)
            updates = graph.get_collection(GraphKeys.UPDATE_OPS)[first_update:]
            targets = [array_ops.placeholder(
                _dtypes.float32, out.static_shape[:-1]
                if fn is losses.sparse_categorical_crossentropy else out.static_shape,
                name=f"{name}_target")
                for out, fn, name in zip(self._outputs, loss_fns, self.output_names,
                                         strict=True)]
            metric_fns = [[metrics.get(m, fn, out.static_shape) for m in ids]
                          for ids, fn, out in zip(metric_ids, loss_fns, self._outputs,
                                                  strict=True)]
            penalties = self.losses

            def scores(outs: list[Tensor]) -> list[Tensor]:
                per_output = [reduction_ops.reduce_mean(fn(target, out))
                              for fn, target, out in zip(loss_fns, targets, outs, strict=True)]
                terms = [loss if w == 1 else loss * float(w)
                         for loss, w in zip(per_output, weights, strict=True)] + penalties
                total = terms[0] if len(terms) == 1 else math_ops.add_n(terms)
                return [total, *(per_output if n > 1 else []),
                        *(reduction_ops.reduce_mean(fn(target, out))
                          for fns, target, out in zip(metric_fns, targets, outs, strict=True)
                          for fn in fns)]

            with graph.name_scope("training"):
                train_scores = scores(train_outputs)
                with graph.control_dependencies(updates):
                    train_op = args.optimizer.minimize(train_scores[0],
                                                       var_list=self.trainable_weights)
            with graph.name_scope("test"):
                test_scores = scores(self._outputs)
        names = [[m if isinstance(m, str) else m.__name__ for m in ids] for ids in metric_ids]
        self._metric_names = names[0] if n == 1 else [
            *(f"{o}_loss" for o in self.output_names),
            *(f"{o}_{m}" for o, ms in zip(self.output_names, names, strict=True) for m in ms)]
        feeds = [*self._inputs, *targets]
        train = self.session.make_callable([train_op, *train_scores], feeds)
        test = self.session.make_callable(test_scores, feeds)
        self._compiled = _Compiled(targets, lambda *batch: train(*batch)[1:], test)
        self._runtime.initialize_new_variables()
        return self._compiled

    @property
    def metrics_names(self) -> list[str]:
        return ["loss", *self._metric_names]

    def _input_arrays(self, x: Any) -> list[np.ndarray]:
        """`x` (an array, a list, or a dict by input name) checked against the inputs; a model
        not built yet is built from its shapes first (an array, or a list of arrays)."""
        if not self.built:
            if isinstance(x, Mapping):
                raise ValueError(f"Model '{self.name}' is not built yet, so it has no input "
                                 f"names to match the dict's keys: pass an array (or a list "
                                 f"of arrays), or call `build(input_shape)` first.")
            parts = list(x) if isinstance(x, list | tuple) and all(
                isinstance(a, np.ndarray) for a in x) else [x]
            self.build(_shape_arg([(None, *np.shape(a)[1:]) for a in parts]))
        names = self.input_names
        return [_standardize(data, t.static_shape, "input", name)
                for data, t, name in zip(_per_name(x, names, "input"), self._inputs, names,
                                         strict=True)]

    def _arrays(self, x: Any, y: Any) -> tuple[list[np.ndarray], _Compiled]:
        """[*inputs, *targets] as checked arrays, and the compiled callables."""
        if self._compile_args is None:
            raise RuntimeError(_NOT_COMPILED)
        xs = self._input_arrays(x)
        compiled = self._compiled or self._compile_graph()
        names = self.output_names
        ys = [_standardize(data, t.static_shape, "target", name)
              for data, t, name in zip(_per_name(y, names, "target"), compiled.targets, names,
                                       strict=True)]
        if len({len(a) for a in xs}) > 1:
            raise ValueError(f"All input arrays (x) should have the same number of samples. "
                             f"Got array shapes: {[a.shape for a in xs]}")
        if len({len(a) for a in ys}) > 1 or len(xs[0]) != len(ys[0]):
            raise ValueError(f"Input arrays should have the same number of samples as target "
                             f"arrays. Found {len(xs[0])} input samples and "
                             f"{[len(a) for a in ys] if len(ys) > 1 else len(ys[0])} target "
                             f"samples.")
        return [*xs, *ys], compiled

    def _loop(self, step: Callable[..., Any], arrays: list[np.ndarray], batch_size: int,
              order: np.ndarray | None = None,
              callbacks: Sequence[Callback] = ()) -> dict[str, float]:
        """Run `step` over batches; the sample-weighted means of [loss, *metrics]."""
        names = self.metrics_names
        totals, seen = np.zeros(len(names)), 0
        for batch, start in enumerate(range(0, len(arrays[0]), batch_size)):
            index = slice(start, start + batch_size) if order is None else \
                order[start:start + batch_size]
            parts = [a[index] for a in arrays]
            size = len(parts[0])
            _notify(callbacks, "on_batch_begin", batch, {"batch": batch, "size": size})
            values = np.asarray(step(*parts), dtype=np.float64)
            totals += values * size
            seen += size
            _notify(callbacks, "on_batch_end", batch,
                    {"batch": batch, "size": size, **dict(zip(names, values.tolist(),
                                                              strict=True))})
            if self.stop_training:
                break
        return dict(zip(names, (totals / max(seen, 1)).tolist(), strict=True))

    def fit(self, x: Any = None, y: Any = None, batch_size: int | None = None, epochs: int = 1,
            verbose: int = 1, callbacks: Sequence[Callback] | None = None,
            validation_split: float = 0.0, validation_data: Sequence[Any] | None = None,
            shuffle: bool = True, initial_epoch: int = 0) -> History:
        """Train for `epochs` epochs over mini-batches, shuffled (numpy's global generator) each
        epoch; return the History of per-epoch training and validation logs."""
        batch_size = batch_size or 32
        arrays, compiled = self._arrays(x, y)
        validation: list[np.ndarray] | None = None
        if validation_data is not None:
            if len(validation_data) != 2:
                raise ValueError("validation_data must be a tuple (x_val, y_val); sample "
                                 "weights are not supported.")
            validation = self._arrays(*validation_data)[0]
        elif validation_split:
            if not 0 < validation_split < 1:
                raise ValueError(f"validation_split must be in (0, 1), got {validation_split}.")
            split = int(len(arrays[0]) * (1.0 - validation_split))
            arrays, validation = [a[:split] for a in arrays], [a[split:] for a in arrays]
        samples = len(arrays[0])
        self.history = History()
        everything = [*(callbacks or ()), self.history]
        params = {"batch_size": batch_size, "epochs": epochs, "samples": samples,
                  "verbose": verbose, "do_validation": validation is not None,
                  "metrics": self.metrics_names}
        for callback in everything:
            callback.set_model(self)
            callback.set_params(params)
        self.stop_training = False
        if verbose:
            extra = "" if validation is None else f", validate on {len(validation[0])} samples"
            print(f"Train on {samples} samples{extra}")
        _notify(everything, "on_train_begin")
        for epoch in range(initial_epoch, epochs):
            if verbose:
                print(f"Epoch {epoch + 1}/{epochs}")
            _notify(everything, "on_epoch_begin", epoch)
            started = time.perf_counter()
            order = np.random.permutation(samples) if shuffle else None
            logs = self._loop(compiled.train, arrays, batch_size, order, everything)
            if validation is not None:
                val = self._loop(compiled.test, validation, batch_size)
                logs.update({f"val_{k}": v for k, v in val.items()})
            if verbose:
                seconds = time.perf_counter() - started
                print(f"{samples}/{samples} - {seconds:.0f}s{_format_logs(logs)}")
            _notify(everything, "on_epoch_end", epoch, logs)
            if self.stop_training:
                break
        _notify(everything, "on_train_end")
        return self.history

    def evaluate(self, x: Any = None, y: Any = None, batch_size: int | None = None,
                 verbose: int = 1) -> float | list[float]:
        """The loss (and metrics) in inference mode: a float, or [loss, *metrics]."""
        arrays, compiled = self._arrays(x, y)
        logs = self._loop(compiled.test, arrays, batch_size or 32)
        if verbose:
            print(f"{len(arrays[0])}/{len(arrays[0])}{_format_logs(logs)}")
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def predict(self, x: Any, batch_size: int | None = None,
                verbose: int = 0) -> np.ndarray | list[np.ndarray]:
        """The inference outputs for `x` (an array, or a list / dict by input name), batch by
        batch: an array, or a list for several outputs (`verbose` is accepted for Keras's
        signature; nothing is printed)."""
        xs = self._input_arrays(x)
        assert self._predict is not None
        size = batch_size or 32
        batches = [self._predict(*(a[i:i + size] for a in xs))
                   for i in range(0, len(xs[0]), size)] or [self._predict(*xs)]
        return _one_or_list([np.concatenate(parts) for parts in zip(*batches, strict=True)])

    # -- reporting and export -----------------------------------------------------------------
    def _summary_table(self) -> tuple[int, tuple[float, ...], list[str], list[list[list[Any]]]]:
        """Line length, column stops, headers, and per layer its lines of fields: Keras's
        functional table, whose last column lists each call's inbound `layer[node][tensor]`;
        a subclassed model's is Sequential's, its shapes 'multiple' (as Keras prints)."""
        if self._nodes is None:
            return self._stack_table(lambda layer: "multiple")
        made_by = self._runtime.nodes
        nodes = [*(made_by[t] for t in self._inputs), *self._nodes]
        rows = []
        for layer in self._layers:
            calls = [n for n in nodes if n.layer is layer]
            shapes = {tuple(t.static_shape for t in n.outputs) for n in calls}
            shape: Any = "multiple" if len(shapes) != 1 else next(iter(shapes))
            if isinstance(shape, tuple) and len(shape) == 1:
                shape = [shape[0]] if isinstance(layer, InputLayer) else shape[0]
            links = [f"{made_by[t].layer.name}[{made_by[t].node_index}]"
                     f"[{made_by[t].outputs.index(t)}]" for n in calls for t in n.inputs] or [""]
            first = [f"{layer.name} ({type(layer).__name__})", shape,
                     layer.count_params(), links[0]]
            rows.append([first, *(["", "", "", link] for link in links[1:])])
        return 98, (0.33, 0.55, 0.67, 1.0), \
            ["Layer (type)", "Output Shape", "Param #", "Connected to"], rows

    def _stack_table(self, shape_of: Callable[[_BaseLayer], Any]) -> tuple[
            int, tuple[float, ...], list[str], list[list[list[Any]]]]:
        """Keras's table for a stack of layers: a row per layer, no connections."""
        return 65, (0.45, 0.85, 1.0), ["Layer (type)", "Output Shape", "Param #"], [
            [[f"{layer.name} ({type(layer).__name__})", shape_of(layer),
              layer.count_params()]] for layer in self._layers]

    def summary(self, line_length: int | None = None, positions: Sequence[float] | None = None,
                print_fn: Callable[[str], Any] | None = None) -> None:
        """Keras's layer table (columns as Keras prints them for this kind of model), then the
        parameter totals."""
        if not self.built:
            raise ValueError(_NOT_BUILT)
        default_width, default_positions, headers, rows = self._summary_table()
        width = line_length or default_width
        stops = [int(width * p) if p <= 1 else int(p) for p in positions or default_positions]
        emit = print_fn or print

        def row(fields: Sequence[Any]) -> None:
            line = ""
            for stop, field in zip(stops, fields, strict=True):
                line = (line[:-1] + " " if line else "") + str(field)
                line = line[:stop].ljust(stop)
            emit(line)

        emit(f'Model: "{self.name}"')
        emit("_" * width)
        row(headers)
        emit("=" * width)
        for i, lines in enumerate(rows):
            for fields in lines:
                row(fields)
            emit(("=" if i == len(rows) - 1 else "_") * width)
        trainable = sum(math.prod(v.shape.as_list()) for v in self.trainable_weights)
        total = self.count_params()
        emit(f"Total params: {total:,}")
        emit(f"Trainable params: {trainable:,}")
        emit(f"Non-trainable params: {total - trainable:,}")
        emit("_" * width)

    def _signature(self) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """The snapshot's input and output names: the model's."""
        return dict(zip(self.input_names, self.inputs, strict=True)), \
            dict(zip(self.output_names, self.outputs, strict=True))

    def save(self, path: str) -> str:
        """Write a servable snapshot (engine.saved_model) of the inference pass, its signature
        named as `_signature` says; returns the path. Not Keras's HDF5 file. The metadata give
        the loss and, for a classifier, the number of classes (per output name when there are
        several outputs)."""
        inputs, outputs = self._signature()
        resolved = self._resolved_losses() if self._compile_args is not None else \
            [(None, None)] * len(outputs)
        loss_names = [getattr(loss, "__name__", loss) for loss, _ in resolved]
        classes = [_n_classes(fn, t.static_shape[-1])
                   for (_, fn), t in zip(resolved, self.outputs, strict=True)]
        several = len(outputs) > 1
        return saved_model.save(
            self.session, path, inputs=inputs, outputs=outputs,
            metadata={"framework": "keras",
                      "loss": dict(zip(outputs, loss_names, strict=True)) if several
                      else loss_names[0],
                      "n_classes": dict(zip(outputs, classes, strict=True)) if several
                      else classes[0]})


def _n_classes(loss_fn: Any, units: int | None) -> int | None:
    if loss_fn in (losses.categorical_crossentropy, losses.sparse_categorical_crossentropy):
        return units
    return 2 if loss_fn is losses.binary_crossentropy and units == 1 else None


def _one_or_list(items: list[Any]) -> Any:
    return items[0] if len(items) == 1 else items


def _several(shape: Any) -> bool:
    """Whether `shape` is a list of input shapes rather than one shape."""
    return isinstance(shape, list | tuple) and bool(shape) and all(
        isinstance(s, list | tuple) for s in shape)


def _shape_arg(shapes: list[Any]) -> Any:
    """Input shapes as `build` takes them: one shape, or a list of them."""
    return shapes[0] if len(shapes) == 1 else list(shapes)


def _layers_in(value: Any) -> list[_BaseLayer]:
    """The layers an attribute holds: itself, or those in a list, tuple or dict."""
    if isinstance(value, _BaseLayer):
        return [value]
    items = list(value.values()) if isinstance(value, Mapping) else \
        value if isinstance(value, list | tuple) else []
    return [layer for item in items for layer in _layers_in(item)]


def _unbuild(layer: _BaseLayer) -> None:
    """Make `layer` forget its graph and variables, so its next call builds it in another
    graph (a model moving into the graph it is called in; see Model._move)."""
    layer._graph, layer.built = None, False
    layer._trainable_weights, layer._non_trainable_weights = [], []
    layer.updates, layer.losses = [], []


def _dedupe(names: list[str]) -> list[str]:
    """`names` with repeats suffixed _1, _2, ... (one layer's outputs named apart)."""
    out: list[str] = []
    for name in names:
        candidate, k = name, 0
        while candidate in out:
            k += 1
            candidate = f"{name}_{k}"
        out.append(candidate)
    return out


def _trace(runtime: Runtime, inputs: list[Tensor],
           outputs: list[Tensor]) -> tuple[list[Node], list[_BaseLayer]]:
    """The layer calls that compute `outputs` from `inputs`, in the order they were made (to
    replay), and the layers in Keras's order (by depth from the inputs, ties in the order a
    depth-first walk from the outputs meets them), which `layers`, `weights` and `summary`
    follow. Errors say which tensor is not a Keras tensor or which Input is missing."""
    for t in inputs:
        node = runtime.nodes.get(t) if isinstance(t, Tensor) else None
        if node is None or not isinstance(node.layer, InputLayer):
            raise ValueError(f"Input tensors to a Model must come from `tf.keras.Input`. "
                             f"Received: {t!r}")
    fed = set(inputs)
    met: dict[int, int] = {}  # id(layer) -> when the walk met it
    finished: dict[int, Node] = {}  # id(node) -> node, inputs first

    def walk(t: Tensor) -> None:
        node = runtime.nodes.get(t) if isinstance(t, Tensor) else None
        if node is None:
            raise ValueError(f"Output tensors to a Model must be the output of a tf.keras "
                             f"layer (called on tf.keras.Input tensors); {t!r} is not: use "
                             f"tf.keras.layers (not tf.layers), and wrap other tf ops in "
                             f"tf.keras.layers.Lambda.")
        if isinstance(node.layer, InputLayer) and t not in fed:
            raise ValueError(f"Graph disconnected: cannot obtain value for tensor {t.name} "
                             f'(Input "{node.layer.name}"), which the outputs need; add it to '
                             f"the model's inputs.")
        if id(node) in finished:
            return
        met.setdefault(id(node.layer), len(met))
        for inbound in node.inputs:
            walk(inbound)
        finished[id(node)] = node

    for t in outputs:
        walk(t)
    for t in inputs:
        walk(t)  # an Input the outputs do not use still belongs to the model
    node_depth: dict[int, int] = {}
    layer_depth: dict[int, int] = {}
    for node in reversed(finished.values()):
        depth = max(node_depth.get(id(node), 0), layer_depth.get(id(node.layer), 0))
        layer_depth[id(node.layer)] = node_depth[id(node)] = depth
        for inbound in node.inputs:
            parent = id(runtime.nodes[inbound])
            node_depth[parent] = max(depth + 1, node_depth.get(parent, 0))
    layers = _unique([node.layer for node in finished.values()])
    layers.sort(key=lambda layer: (-layer_depth[id(layer)], met[id(layer)]))
    calls = sorted((n for n in finished.values() if n.inputs), key=lambda n: n.index)
    return calls, layers


class Sequential(Model):
    """A linear stack of layers; the first needs `input_shape=` (or the model is built from
    the first data it sees). Its snapshot's signature is input 'x', output 'predictions'."""

    def __init__(self, layers: Sequence[_BaseLayer] | None = None,
                 name: str | None = None) -> None:
        self._setup(name or "sequential", Runtime())
        self._batch_input_shape: tuple[int | None, ...] | None = None
        for layer in layers or ():
            self.add(layer)

    # -- structure ----------------------------------------------------------------------------
    def add(self, layer: _BaseLayer) -> None:
        """Append `layer`; once the input shape is known, its variables are made at once."""
        if not isinstance(layer, _BaseLayer):
            raise TypeError(f"The added layer must be an instance of class Layer. Found: "
                            f"{layer!r}")
        if isinstance(layer, InputLayer):
            if self._layer_list or self._batch_input_shape is not None:
                raise ValueError("An InputLayer can only be the first layer of a Sequential "
                                 "model.")
            self._batch_input_shape = layer.batch_input_shape
            return
        if not self._layer_list and self._batch_input_shape is None:
            self._batch_input_shape = layer.batch_input_shape
        if isinstance(layer, Model) and not self._layer_list:
            self._runtime = layer._runtime  # a model first: the stack builds in its graph
        layer._set_scope(self.graph)
        self._layer_list.append(layer)
        self._compiled = None  # the training pass must include the new layer
        if self._outputs:
            self._set_outputs([layer(self._outputs[0], training=False)])
        elif self._batch_input_shape is not None:
            self.build()

    def build(self, input_shape: Sequence[int | None] | None = None) -> None:
        """Make the input placeholder, the inference pass and the variables."""
        if input_shape is not None:
            self._batch_input_shape = tuple(input_shape)
        if self._batch_input_shape is None or not self._layer_list:
            raise ValueError(_NOT_BUILT)
        with self.graph.as_default():
            self._inputs = [array_ops.placeholder(_dtypes.float32, self._batch_input_shape,
                                                  name=f"{self._layers[0].name}_input")]
        self._set_outputs(self._forward(training=False))

    def call(self, inputs: Any, training: Any = None) -> Any:
        """The layers applied in turn."""
        out = inputs
        for layer in self._layer_list:
            out = layer(out, training=training)
        return out

    @property
    def input_names(self) -> list[str]:
        return [self.inputs[0].op.name]

    @property
    def output_names(self) -> list[str]:
        if not self._layer_list:
            raise ValueError(_NOT_BUILT)
        return [self._layer_list[-1].name]

    def predict_classes(self, x: Any, batch_size: int | None = None,
                        verbose: int = 0) -> np.ndarray:
        """Class indices: argmax of the outputs, or output > 0.5 for a single unit."""
        probs = self.predict(x, batch_size, verbose)
        return probs.argmax(axis=-1) if probs.shape[-1] > 1 else (probs > 0.5).astype("int32")

    # -- reporting and export -----------------------------------------------------------------
    def _summary_table(self) -> tuple[int, tuple[float, ...], list[str], list[list[list[Any]]]]:
        return self._stack_table(lambda layer: layer.output_shape)

    def _signature(self) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        return {"x": self.inputs[0]}, {"predictions": self.outputs[0]}
