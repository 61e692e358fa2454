"""`tf.keras.models.Sequential`: a stack of layers with compile / fit / evaluate / predict.

Each model owns a Graph and a Session (`model.graph`, `model.session`), so models never share
variables and users never handle sessions. The graph holds two forward passes over the same
variables: the inference pass (dropout off, batch normalization on its moving statistics),
which predict, evaluate, validation and `save` use, and the training pass that `fit` minimises
(it also runs batch normalization's moving-average updates). The graph's random seed is the
one given to `tf.keras.utils.set_random_seed`, else the default graph's (`tf.set_random_seed`);
with neither, initial weights differ from run to run, as in Keras.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from engine import dtypes as _dtypes
from engine import saved_model
from engine.graph import Graph, GraphKeys, Tensor, get_default_graph
from engine.keras import losses, metrics, optimizers, utils
from engine.keras.callbacks import Callback, History
from engine.keras.layers import InputLayer, Layer
from engine.ops import array_ops, math_ops, reduction_ops
from engine.session import Session
from engine.shapes import Shape
from engine.variables import Variable

__all__ = ["Sequential"]

_NOT_BUILT = ("This model has not yet been built. Build the model first by calling `build()` or "
              "calling `fit()` with some data, or specify an `input_shape` argument in the first "
              "layer(s) for automatic build.")
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


class _Compiled:
    """What `compile` built: the target placeholder and the train and test callables, each
    mapping (x batch, y batch) to [loss, *metrics]."""

    def __init__(self, target: Tensor, train: Callable[..., Any],
                 test: Callable[..., Any]) -> None:
        self.target, self.train, self.test = target, train, test


class Sequential:
    """A linear stack of layers; the first needs `input_shape=` (or the model is built from
    the first data it sees)."""

    def __init__(self, layers: Sequence[Layer] | None = None, name: str | None = None) -> None:
        self.name = name or "sequential"
        self.graph = Graph()
        seed = utils.random_seed()
        self.graph.seed = seed if seed is not None else get_default_graph().seed
        self.session = Session(graph=self.graph)
        self._layers: list[Layer] = []
        self._batch_input_shape: tuple[int | None, ...] | None = None
        self._input: Tensor | None = None
        self._output: Tensor | None = None
        self._predict: Callable[..., Any] | None = None
        self._initialized: set[Variable] = set()
        self._compile_args: tuple[Any, Any, Any, list[Any]] | None = None
        self._compiled: _Compiled | None = None
        self._metric_names: list[str] = []
        self.stop_training = False
        self.history: History | None = None
        for layer in layers or ():
            self.add(layer)

    # -- structure ----------------------------------------------------------------------------
    def add(self, layer: Layer) -> None:
        """Append `layer`; once the input shape is known, its variables are made at once."""
        if not isinstance(layer, Layer):
            raise TypeError(f"The added layer must be an instance of class Layer. Found: "
                            f"{layer!r}")
        if isinstance(layer, InputLayer):
            if self._layers or self._batch_input_shape is not None:
                raise ValueError("An InputLayer can only be the first layer of a Sequential "
                                 "model.")
            self._batch_input_shape = layer.batch_input_shape
            return
        if not self._layers and self._batch_input_shape is None:
            self._batch_input_shape = layer.batch_input_shape
        layer._set_scope(self.graph)
        self._layers.append(layer)
        self._compiled = None  # the training pass must include the new layer
        if self._output is not None:
            self._set_output(layer(self._output, training=False))
        elif self._batch_input_shape is not None:
            self.build()

    def build(self, input_shape: Sequence[int | None] | None = None) -> None:
        """Make the input placeholder, the inference pass and the variables."""
        if input_shape is not None:
            self._batch_input_shape = tuple(input_shape)
        if self._batch_input_shape is None or not self._layers:
            raise ValueError(_NOT_BUILT)
        with self.graph.as_default():
            self._input = array_ops.placeholder(_dtypes.float32, self._batch_input_shape,
                                                name=f"{self._layers[0].name}_input")
        self._set_output(self._forward(training=False))

    def _forward(self, training: bool) -> Tensor:
        out = self._input
        for layer in self._layers:
            out = layer(out, training=training)
        assert out is not None
        return out

    def _set_output(self, output: Tensor) -> None:
        self._output = output
        self._predict = self.session.make_callable(output, [self._input])
        self._initialize_new_variables()

    def _initialize_new_variables(self) -> None:
        fresh = [v for v in self.graph.get_collection(GraphKeys.GLOBAL_VARIABLES)
                 if v not in self._initialized]
        self.session.run([v.initializer for v in fresh])
        self._initialized.update(fresh)

    @property
    def built(self) -> bool:
        return self._output is not None

    @property
    def layers(self) -> list[Layer]:
        return list(self._layers)

    @property
    def input(self) -> Tensor:
        if self._input is None:
            raise ValueError(_NOT_BUILT)
        return self._input

    @property
    def output(self) -> Tensor:
        if self._output is None:
            raise ValueError(_NOT_BUILT)
        return self._output

    @property
    def input_shape(self) -> Shape:
        return self.input.static_shape

    @property
    def output_shape(self) -> Shape:
        return self.output.static_shape

    # -- weights ------------------------------------------------------------------------------
    @property
    def weights(self) -> list[Variable]:
        return [v for layer in self._layers for v in layer.weights]

    @property
    def trainable_weights(self) -> list[Variable]:
        return [v for layer in self._layers for v in layer.trainable_weights]

    @property
    def non_trainable_weights(self) -> list[Variable]:
        return [v for layer in self._layers for v in layer.non_trainable_weights]

    def count_params(self) -> int:
        if not self.built:
            raise ValueError(_NOT_BUILT)
        return sum(layer.count_params() for layer in self._layers)

    def get_weights(self) -> list[np.ndarray]:
        """The weights' values, layer by layer (each layer: trainable first)."""
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
                metrics: Sequence[Any] | None = None) -> None:
        """Choose the optimizer (name or instance), loss (name or callable) and metrics."""
        if loss is None:
            raise ValueError("The model cannot be compiled because it has no loss to optimize.")
        self._compile_args = (optimizers.get(optimizer), loss, losses.get(loss),
                              list(metrics or []))
        self._compiled = None
        if self.built:
            self._compile_graph()

    def _compile_graph(self) -> _Compiled:
        """Build the training pass, loss, metrics and train op for the compile arguments."""
        assert self._compile_args is not None and self._input is not None
        optimizer, _, loss_fn, metric_ids = self._compile_args
        output = self.output
        sparse = loss_fn is losses.sparse_categorical_crossentropy
        graph = self.graph
        with graph.as_default():
            first_update = len(graph.get_collection(GraphKeys.UPDATE_OPS))
            train_output = self._forward(training=True)
            updates = graph.get_collection(GraphKeys.UPDATE_OPS)[first_update:]
            target_shape = output.static_shape[:-1] if sparse else output.static_shape
            target = array_ops.placeholder(_dtypes.float32, target_shape,
                                           name=f"{self._layers[-1].name}_target")
            metric_fns = [metrics.get(m, loss_fn, output.static_shape) for m in metric_ids]
            penalties = [loss for layer in self._layers for loss in layer.losses]

            def scores(out: Tensor) -> list[Tensor]:
                loss = reduction_ops.reduce_mean(loss_fn(target, out))
                if penalties:
                    loss = math_ops.add_n([loss, *penalties])
                return [loss, *(reduction_ops.reduce_mean(fn(target, out)) for fn in metric_fns)]

            with graph.name_scope("training"):
                train_scores = scores(train_output)
                with graph.control_dependencies(updates):
                    train_op = optimizer.minimize(train_scores[0], var_list=self.trainable_weights)
            with graph.name_scope("test"):
                test_scores = scores(output)
        self._metric_names = [m if isinstance(m, str) else m.__name__ for m in metric_ids]
        train = self.session.make_callable([train_op, *train_scores], [self._input, target])
        test = self.session.make_callable(test_scores, [self._input, target])
        self._compiled = _Compiled(target, lambda x, y: train(x, y)[1:], test)
        self._initialize_new_variables()
        return self._compiled

    @property
    def metrics_names(self) -> list[str]:
        return ["loss", *self._metric_names]

    def _inputs(self, x: Any) -> np.ndarray:
        """Check `x` against the input shape, building the model from it if need be."""
        if not self.built:
            self.build((None, *np.shape(x)[1:]))
        return _standardize(x, self.input_shape, "input", self.input.op.name)

    def _arrays(self, x: Any, y: Any) -> tuple[np.ndarray, np.ndarray, _Compiled]:
        if self._compile_args is None:
            raise RuntimeError(_NOT_COMPILED)
        x = self._inputs(x)
        compiled = self._compiled or self._compile_graph()
        y = _standardize(y, compiled.target.static_shape, "target", self._layers[-1].name)
        if len(x) != len(y):
            raise ValueError(f"Input arrays should have the same number of samples as target "
                             f"arrays. Found {len(x)} input samples and {len(y)} target "
                             f"samples.")
        return x, y, compiled

    def _loop(self, step: Callable[..., Any], x: np.ndarray, y: np.ndarray, batch_size: int,
              order: np.ndarray | None = None,
              callbacks: Sequence[Callback] = ()) -> dict[str, float]:
        """Run `step` over batches; the sample-weighted means of [loss, *metrics]."""
        names = self.metrics_names
        totals, seen = np.zeros(len(names)), 0
        for batch, start in enumerate(range(0, len(x), batch_size)):
            index = slice(start, start + batch_size) if order is None else \
                order[start:start + batch_size]
            xb, yb = x[index], y[index]
            _notify(callbacks, "on_batch_begin", batch, {"batch": batch, "size": len(xb)})
            values = np.asarray(step(xb, yb), dtype=np.float64)
            totals += values * len(xb)
            seen += len(xb)
            _notify(callbacks, "on_batch_end", batch,
                    {"batch": batch, "size": len(xb), **dict(zip(names, values.tolist(),
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
        x, y, compiled = self._arrays(x, y)
        validation: tuple[np.ndarray, np.ndarray] | None = None
        if validation_data is not None:
            if len(validation_data) != 2:
                raise ValueError("validation_data must be a tuple (x_val, y_val); sample "
                                 "weights are not supported.")
            validation = self._arrays(*validation_data)[:2]
        elif validation_split:
            if not 0 < validation_split < 1:
                raise ValueError(f"validation_split must be in (0, 1), got {validation_split}.")
            split = int(len(x) * (1.0 - validation_split))
            x, y, validation = x[:split], y[:split], (x[split:], y[split:])
        self.history = History()
        everything = [*(callbacks or ()), self.history]
        params = {"batch_size": batch_size, "epochs": epochs, "samples": len(x),
                  "verbose": verbose, "do_validation": validation is not None,
                  "metrics": self.metrics_names}
        for callback in everything:
            callback.set_model(self)
            callback.set_params(params)
        self.stop_training = False
        if verbose:
            extra = "" if validation is None else f", validate on {len(validation[0])} samples"
            print(f"Train on {len(x)} samples{extra}")
        _notify(everything, "on_train_begin")
        for epoch in range(initial_epoch, epochs):
            if verbose:
                print(f"Epoch {epoch + 1}/{epochs}")
            _notify(everything, "on_epoch_begin", epoch)
            started = time.perf_counter()
            order = np.random.permutation(len(x)) if shuffle else None
            logs = self._loop(compiled.train, x, y, batch_size, order, everything)
            if validation is not None:
                val = self._loop(compiled.test, *validation, batch_size)
                logs.update({f"val_{k}": v for k, v in val.items()})
            if verbose:
                seconds = time.perf_counter() - started
                print(f"{len(x)}/{len(x)} - {seconds:.0f}s{_format_logs(logs)}")
            _notify(everything, "on_epoch_end", epoch, logs)
            if self.stop_training:
                break
        _notify(everything, "on_train_end")
        return self.history

    def evaluate(self, x: Any = None, y: Any = None, batch_size: int | None = None,
                 verbose: int = 1) -> float | list[float]:
        """The loss (and metrics) in inference mode: a float, or [loss, *metrics]."""
        x, y, compiled = self._arrays(x, y)
        logs = self._loop(compiled.test, x, y, batch_size or 32)
        if verbose:
            print(f"{len(x)}/{len(x)}{_format_logs(logs)}")
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def predict(self, x: Any, batch_size: int | None = None, verbose: int = 0) -> np.ndarray:
        """The inference outputs for `x`, batch by batch (`verbose` is accepted for Keras's
        signature; nothing is printed)."""
        x = self._inputs(x)
        assert self._predict is not None
        size = batch_size or 32
        outputs = [self._predict(x[i:i + size]) for i in range(0, len(x), size)]
        return np.concatenate(outputs) if outputs else self._predict(x)

    def predict_classes(self, x: Any, batch_size: int | None = None,
                        verbose: int = 0) -> np.ndarray:
        """Class indices: argmax of the outputs, or output > 0.5 for a single unit."""
        probs = self.predict(x, batch_size, verbose)
        return probs.argmax(axis=-1) if probs.shape[-1] > 1 else (probs > 0.5).astype("int32")

    # -- reporting and export -----------------------------------------------------------------
    def summary(self, line_length: int | None = None, positions: Sequence[float] | None = None,
                print_fn: Callable[[str], Any] | None = None) -> None:
        """Keras's layer table: name (type), output shape, parameter count; then totals."""
        if not self.built:
            raise ValueError(_NOT_BUILT)
        width = line_length or 65
        stops = [int(width * p) if p <= 1 else int(p) for p in positions or (0.45, 0.85, 1.0)]
        emit = print_fn or print

        def row(fields: Sequence[Any]) -> None:
            line = ""
            for stop, field in zip(stops, fields, strict=True):
                line = (line[:-1] + " " if line else "") + str(field)
                line = line[:stop].ljust(stop)
            emit(line)

        emit(f'Model: "{self.name}"')
        emit("_" * width)
        row(["Layer (type)", "Output Shape", "Param #"])
        emit("=" * width)
        for i, layer in enumerate(self._layers):
            row([f"{layer.name} ({type(layer).__name__})", layer.output_shape,
                 layer.count_params()])
            emit(("=" if i == len(self._layers) - 1 else "_") * width)
        trainable = sum(math.prod(v.shape.as_list()) for v in self.trainable_weights)
        total = self.count_params()
        emit(f"Total params: {total:,}")
        emit(f"Trainable params: {trainable:,}")
        emit(f"Non-trainable params: {total - trainable:,}")
        emit("_" * width)

    def save(self, path: str) -> str:
        """Write a servable snapshot (engine.saved_model) of the inference pass: input 'x',
        output 'predictions'; returns the path. Not Keras's HDF5 file."""
        _, loss, loss_fn, _ = self._compile_args or (None, None, None, None)
        units = self.output_shape[-1]
        if loss_fn in (losses.categorical_crossentropy, losses.sparse_categorical_crossentropy):
            n_classes = units
        elif loss_fn is losses.binary_crossentropy and units == 1:
            n_classes = 2
        else:
            n_classes = None
        return saved_model.save(self.session, path, inputs={"x": self.input},
                                outputs={"predictions": self.output},
                                metadata={"framework": "keras",
                                          "loss": getattr(loss, "__name__", loss),
                                          "n_classes": n_classes})
