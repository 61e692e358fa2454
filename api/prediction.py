"""Online prediction: snapshots loaded from their deployment URIs, kept in memory, and each
request's instances validated and run as one batched predict call.

Instances (Cloud ML Engine's / TF Serving's "instances" rows):
- snapshots of the built-in trainers (jobs.builtin; metadata "columns"): a list of the feature
  values in training column order (label left out), or an object keyed by column name.
  Numeric columns take numbers; categorical columns take their values (strings), and a value
  training never saw counts as unknown (all zeros), as it did in training.
- any other snapshot (engine.saved_model.save, estimator and Keras exports): an object keyed
  by input name, or the bare value when the signature has a single input, shaped like one
  example of that input. Categorical inputs of estimator exports take the raw values, mapped
  to ids with the vocabulary the export recorded.
A bad instance raises PredictionInputError naming the instance (0-based) and what is wrong.

Predictions, one per instance:
- classifiers (metadata head "classification"): {"classes": <label>, "probabilities": [one
  per class, in describe()["classes"] order], "logits": [...]}; the label is as in the
  training data (int or string), the label_vocabulary entry, or else the class id.
- regressors (head "regression"): {"predictions": <number>} (a list when a label has several
  values).
- anything else: the value of the single output, or {output name: value} for several.
"""

from __future__ import annotations

import copy
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine import dtypes
from engine.feature_column import RawFeature
from engine.saved_model import Predictor, SnapshotError, load
from storage.config import Settings
from storage.objectstore import ObjectStore
from storage.stores import open_store

__all__ = ["PredictionInputError", "PredictionService"]

DEFAULT_MAX_MODELS = 16
# A prediction expected to take less than this may run on the event loop: handing it to a
# worker thread costs about as much, and under load the threads fight the loop for the GIL.
QUICK_SECONDS = 0.002
_ACCEPTS = {"f": "biuf", "i": "biu", "u": "biu", "b": "b"}  # value kinds per input kind
_SHOWN_NAMES = 8


class PredictionInputError(ValueError):
    """An instance the model cannot take; the message names the instance and what is wrong."""


class _SnapshotFiles:
    """The loader's view of a store: read_bytes, and the URI in its error messages."""

    def __init__(self, store: ObjectStore) -> None:
        self._store = store

    def read_bytes(self, name: str) -> bytes:
        return self._store.read_bytes(name)

    def __str__(self) -> str:
        return self._store.base_uri


def _names(names: list[str]) -> str:
    shown = ", ".join(map(repr, names[:_SHOWN_NAMES]))
    return shown + (f", ... ({len(names)} in all)" if len(names) > _SHOWN_NAMES else "")


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _fmt(shape: tuple[int | None, ...] | None) -> str:
    if shape is None:
        return "any"
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


@dataclass(frozen=True)
class _Input:
    """One signature input: its dtype, the shape of one example (None: any), and for a
    categorical input of an estimator export, the vocabulary lookup from values to ids."""

    name: str
    dtype: np.dtype
    shape: tuple[int | None, ...] | None
    vocabulary: RawFeature | None = None

    def batch(self, values: list[Any], where: Callable[[int], str]) -> np.ndarray:
        """`values` (one per instance) as the input's array, or a PredictionInputError about
        the first bad one (`where(i)` names instance i and the input)."""
        if self.vocabulary is not None:
            return self._ids(values, where)
        array = self.convert(values)
        if array is None:
            for i, value in enumerate(values):
                self.check(value, where(i))
            if self.shape is None or None in self.shape:
                raise PredictionInputError(f"instances: the values of input {self.name!r} "
                                           f"differ in shape from one instance to the next")
            # Each value fits, in different forms: numbers and [number] for a [1] input.
            array = np.stack([np.asarray(v).reshape(self.shape) for v in values])
        return array.astype(self.dtype, copy=False)

    def convert(self, values: list[Any]) -> np.ndarray | None:
        """The fast path: the batch as one array, or None if any value is unfit."""
        try:
            array = np.asarray(values)
        except (ValueError, TypeError):  # ragged nested lists
            return None
        if not self._fits(array, batched=True):
            return None
        if self.shape == (1,) and array.ndim == 1:  # bare numbers for a one-value input
            array = array[:, None]
        return array.astype(self.dtype, copy=False)

    def _fits(self, array: np.ndarray, batched: bool) -> bool:
        if array.dtype.kind not in _ACCEPTS[self.dtype.kind] or not self._shape_fits(
                array.shape[1:] if batched else array.shape):
            return False
        if not array.size:
            return True
        if array.dtype.kind == "f":  # the ufunc's reduce: ndarray.all adds Python frames
            return bool(np.logical_and.reduce(np.isfinite(array), axis=None))
        if self.dtype.kind in "iu" and array.dtype.kind in "iu":
            info = np.iinfo(self.dtype)
            return bool(info.min <= array.min() and array.max() <= info.max)
        return True

    def _shape_fits(self, shape: tuple[int, ...]) -> bool:
        """Whether one example of this shape fits; a bare number fits a [1] input."""
        return self.shape is None or (shape == () and self.shape == (1,)) or (
            len(shape) == len(self.shape) and all(
                e is None or d == e for d, e in zip(shape, self.shape, strict=True)))

    def check(self, value: Any, where: str) -> None:
        """Raise PredictionInputError saying what is wrong with one instance's value."""
        try:
            array = np.asarray(value)
        except (ValueError, TypeError):
            raise PredictionInputError(f"{where}: nested lists of different lengths") from None
        if self._fits(array, batched=False):
            return
        if array.dtype.kind not in _ACCEPTS[self.dtype.kind]:
            kind = {"f": "numbers", "i": "integers", "u": "integers", "b": "booleans"}
            raise PredictionInputError(f"{where} must hold {kind[self.dtype.kind]}, got "
                                       f"{_show(value)}")
        if not self._shape_fits(array.shape):
            assert self.shape is not None
            if len(self.shape) == 1 and array.ndim == 1:
                raise PredictionInputError(f"{where} must hold {self.shape[0]} values, got "
                                           f"{array.shape[0]}")
            raise PredictionInputError(f"{where} must have shape {_fmt(self.shape)}, got "
                                       f"{_fmt(array.shape)}")
        if array.dtype.kind == "f":
            raise PredictionInputError(f"{where} must hold finite numbers, got {_show(value)}")
        raise PredictionInputError(f"{where}: values out of range for {self.dtype.name}")

    def _ids(self, values: list[Any], where: Callable[[int], str]) -> np.ndarray:
        assert self.vocabulary is not None
        words = self.vocabulary.vocabulary or ()
        text = all(isinstance(w, str) for w in words)
        converted = []
        for i, value in enumerate(values):
            if isinstance(value, str) and text:
                converted.append(value)
            elif isinstance(value, int) and not isinstance(value, bool):
                converted.append(str(value) if text else value)
            else:
                kind = "string" if text else "integer"
                raise PredictionInputError(f"{where(i)} takes a category (a {kind} such as "
                                           f"{words[0]!r}), got {_show(value)}")
        return self.vocabulary.encode(np.array(converted))


@dataclass(frozen=True)
class _Column:
    name: str
    categorical: bool


class _Model:
    """A loaded snapshot, how instances become its inputs and its outputs predictions."""

    def __init__(self, predictor: Predictor, uri: str) -> None:
        self.predictor = predictor
        signature, metadata = predictor.signature, predictor.metadata
        vocabularies = _vocabularies(metadata, uri)
        self.inputs = {name: _Input(name, np.dtype(spec["dtype"]),
                                    _per_example(uri, name, spec["shape"]),
                                    vocabularies.get(name))
                       for name, spec in signature["inputs"].items()}
        self.outputs = list(signature["outputs"])
        self.columns = self._columns(metadata, uri)
        self._column_names = [c.name for c in self.columns or ()]
        self._column_set = set(self._column_names)
        self.numeric_input = metadata.get("numeric_input") if self.columns else None
        self.head = metadata.get("head") if isinstance(metadata.get("head"), str) else None
        self.classes = self._classes(metadata, signature, uri)
        label = metadata.get("label_column")
        self.label = label if isinstance(label, str) and self.columns else None
        self.seconds_per_instance: float | None = None  # running mean over recent calls
        self.description = {
            "inputs": signature["inputs"], "outputs": signature["outputs"],
            "head": self.head, "classes": self.classes,
            "columns": None if self.columns is None else
            [{"name": c.name, "type": "categorical" if c.categorical else "numeric"}
             for c in self.columns],
            "labelColumn": self.label, "instanceFormat": self._instance_format()}

    # -- reading the snapshot's metadata -----------------------------------------------------
    def _columns(self, metadata: dict[str, Any], uri: str) -> list[_Column] | None:
        """The built-in trainers' feature columns, checked against the signature."""
        raw = metadata.get("columns")
        if raw is None:
            return None
        where = f"{uri}: model.json metadata"
        if not isinstance(raw, list) or not raw or not all(
                isinstance(c, dict) and isinstance(c.get("name"), str)
                and c.get("type") in ("numeric", "categorical") for c in raw):
            raise SnapshotError(f"{where}: 'columns' must be a non-empty list of "
                                f"{{name, type: numeric|categorical}}")
        columns = [_Column(c["name"], c["type"] == "categorical") for c in raw]
        if len({c.name for c in columns}) != len(columns):
            raise SnapshotError(f"{where}: 'columns' names a column twice")
        numeric = [c for c in columns if not c.categorical]
        key = metadata.get("numeric_input")
        if numeric and not isinstance(key, str):
            raise SnapshotError(f"{where}: 'numeric_input' must name the input of the numeric "
                                f"columns")
        expected = {c.name for c in columns if c.categorical} | ({key} if numeric else set())
        if set(self.inputs) != expected or (numeric and self.inputs[key].shape != (
                len(numeric),)) or any(self.inputs[c.name].vocabulary is None
                                       for c in columns if c.categorical):
            raise SnapshotError(f"{where}: 'columns' and 'numeric_input' do not match the "
                                f"signature's inputs {sorted(self.inputs)}")
        return columns

    def _classes(self, metadata: dict[str, Any], signature: dict[str, Any],
                 uri: str) -> list[Any] | None:
        if self.head != "classification" or not {"class_ids", "probabilities"} <= set(
                signature["outputs"]):
            return None
        shape = signature["outputs"]["probabilities"]["shape"]
        n = shape[-1] if shape and isinstance(shape[-1], int) else metadata.get("n_classes")
        for key in ("classes", "label_vocabulary"):
            names = metadata.get(key)
            if isinstance(names, list) and all(isinstance(c, str | int) for c in names):
                if isinstance(n, int) and len(names) != n:
                    raise SnapshotError(f"{uri}: model.json metadata '{key}' lists "
                                        f"{len(names)} classes, the model has {n}")
                return names
        if not isinstance(n, int):
            raise SnapshotError(f"{uri}: the classifier's number of classes is unknown")
        return list(range(n))

    def _instance_format(self) -> str:
        if self.columns is not None:
            label = f", label {self.label!r} left out" if self.label else ""
            return (f"a list of {len(self.columns)} values in the order of 'columns'{label}; "
                    f"or an object keyed by column name")
        if len(self.inputs) == 1:
            (spec,) = self.inputs.values()
            return (f"the value of input {spec.name!r} ({spec.dtype.name}, shape "
                    f"{_fmt(spec.shape)}), or an object {{{spec.name!r}: value}}")
        return f"an object keyed by input name: {_names(list(self.inputs))}"

    # -- predicting ---------------------------------------------------------------------------
    def predict(self, instances: list[Any]) -> list[Any]:
        # Wall time (a vDSO read; thread_time is a system call costing as much as a small
        # model's layer): waits for the GIL only overstate it, sending work to a thread.
        start = time.perf_counter()
        feeds = self._column_feeds(instances) if self.columns is not None \
            else self._input_feeds(instances)
        try:
            outputs = self.predictor.predict(feeds)
        except ValueError as exc:  # what the checks above cannot see, e.g. a fixed batch size
            raise PredictionInputError(f"instances: {exc}") from None
        predictions = self._predictions(outputs, len(instances))
        per_instance = (time.perf_counter() - start) / len(instances)
        mean = self.seconds_per_instance
        self.seconds_per_instance = per_instance if mean is None else \
            0.8 * mean + 0.2 * per_instance
        return predictions

    def _input_feeds(self, instances: list[Any]) -> dict[str, np.ndarray]:
        names = list(self.inputs)
        if len(names) == 1:  # bare values, or objects keyed by the input's name
            (spec,) = self.inputs.values()
            values = instances
            if any(isinstance(x, dict) for x in instances):
                values = [self._keyed(i, x, names)[spec.name] if isinstance(x, dict) else x
                          for i, x in enumerate(instances)]
            return {spec.name: spec.batch(values, lambda i: f"instance {i}")}
        for i, instance in enumerate(instances):
            if not isinstance(instance, dict):
                raise PredictionInputError(f"instance {i}: expected an object keyed by input "
                                           f"name ({_names(names)}), got {_kind(instance)}")
            self._keyed(i, instance, names)
        return {name: spec.batch([x[name] for x in instances],
                                 lambda i, name=name: f"instance {i}: input {name!r}")
                for name, spec in self.inputs.items()}

    @staticmethod
    def _keyed(i: int, instance: dict[str, Any], names: list[str]) -> dict[str, Any]:
        """`instance` if its keys are the input names."""
        if instance.keys() != set(names):
            raise PredictionInputError(f"instance {i}: {_key_problems(instance, names)}; the "
                                       f"inputs are {_names(names)}")
        return instance

    def _column_feeds(self, instances: list[Any]) -> dict[str, np.ndarray]:
        assert self.columns is not None
        rows = [self._row(i, x) for i, x in enumerate(instances)]
        feeds = {}
        numeric = [j for j, c in enumerate(self.columns) if not c.categorical]
        if numeric:
            spec = self.inputs[self.numeric_input]
            values = rows if len(numeric) == len(self.columns) else \
                [[row[j] for j in numeric] for row in rows]
            array = spec.convert(values)
            if array is None:
                self._check_numbers(rows, numeric)
                array = spec.batch(values, lambda i: f"instance {i}")
            feeds[spec.name] = array
        for j, column in enumerate(self.columns):
            if column.categorical:
                feeds[column.name] = self.inputs[column.name].batch(
                    [row[j] for row in rows], lambda i, name=column.name:
                    f"instance {i}: column {name!r}")
        return feeds

    def _row(self, i: int, instance: Any) -> list[Any]:
        """An instance as its list of column values, in column order."""
        names = self._column_names
        if isinstance(instance, list):
            if len(instance) != len(names):
                hint = f" (leave out the label column {self.label!r})" \
                    if self.label and len(instance) == len(names) + 1 else ""
                raise PredictionInputError(
                    f"instance {i}: expected {len(names)} values, one per feature column in "
                    f"training order ({_names(names)}), got {len(instance)}{hint}")
            return instance
        if isinstance(instance, dict):
            if instance.keys() != self._column_set:
                raise PredictionInputError(f"instance {i}: {_key_problems(instance, names)}; "
                                           f"the columns are {_names(names)}")
            return [instance[name] for name in names]
        raise PredictionInputError(f"instance {i}: expected a list of {len(names)} feature "
                                   f"values or an object keyed by column name, got "
                                   f"{_kind(instance)}")

    def _check_numbers(self, rows: list[list[Any]], numeric: list[int]) -> None:
        """Name the first numeric column value that is not a finite number."""
        assert self.columns is not None
        for i, row in enumerate(rows):
            for j in numeric:
                value = row[j]
                if not isinstance(value, int | float) or (
                        isinstance(value, float) and not math.isfinite(value)):
                    what = "a finite number" if isinstance(value, float) else "a number"
                    raise PredictionInputError(f"instance {i}: column {self.columns[j].name!r} "
                                               f"must be {what}, got {_show(value)}")

    def _predictions(self, outputs: dict[str, np.ndarray], n: int) -> list[Any]:
        for name, array in outputs.items():
            if array.shape[:1] != (n,):
                raise SnapshotError(f"output {name!r} has shape {_fmt(array.shape)}, not one "
                                    f"row per instance ({n}), so it cannot be served")
        if self.classes is not None:
            classes = self.classes
            ids = outputs["class_ids"].reshape(n, -1)[:, 0].tolist()
            probabilities = outputs["probabilities"].tolist()
            if "logits" not in outputs:
                return [{"classes": classes[c], "probabilities": p}
                        for c, p in zip(ids, probabilities, strict=True)]
            return [{"classes": classes[c], "probabilities": p, "logits": q}
                    for c, p, q in zip(ids, probabilities, outputs["logits"].tolist(),
                                       strict=True)]
        if self.head == "regression" and "predictions" in outputs:
            values = outputs["predictions"].reshape(n, -1)
            rows = values[:, 0].tolist() if values.shape[1] == 1 else values.tolist()
            return [{"predictions": v} for v in rows]
        if len(self.outputs) == 1:
            return outputs[self.outputs[0]].tolist()
        columns = [outputs[name].tolist() for name in self.outputs]
        return [dict(zip(self.outputs, row, strict=True)) for row in zip(*columns, strict=True)]


def _per_example(uri: str, name: str, shape: list[int | None] | None
                 ) -> tuple[int | None, ...] | None:
    """One example's shape: the input's shape without its batch dimension (None: unknown)."""
    if shape is None:
        return None
    if not shape:
        raise SnapshotError(f"{uri}: input {name!r} is a scalar, with no batch dimension; "
                            f"serving feeds a batch of instances")
    return tuple(shape[1:])


def _vocabularies(metadata: dict[str, Any], uri: str) -> dict[str, RawFeature]:
    """Categorical inputs of estimator exports (metadata 'inputs' entries with a vocabulary):
    the lookup the estimator did on the host in training."""
    out = {}
    entries = metadata.get("inputs")
    for entry in entries if isinstance(entries, list) else ():
        if not isinstance(entry, dict) or not isinstance(entry.get("vocabulary"), list):
            continue
        words, oov = entry["vocabulary"], entry.get("num_oov_buckets", 0)
        if not isinstance(entry.get("name"), str) or not words or not all(
                isinstance(w, str | int) and not isinstance(w, bool) for w in words) \
                or not isinstance(oov, int) or oov < 0:
            raise SnapshotError(f"{uri}: model.json metadata: bad vocabulary entry for input "
                                f"{entry.get('name')!r}")
        out[entry["name"]] = RawFeature(entry["name"], dtypes.int64, (1,), vocabulary=tuple(words),
                                        num_buckets=len(words) + oov, num_oov_buckets=oov)
    return out


def _kind(value: Any) -> str:
    return {str: "a string", int: "a number", float: "a number", bool: "a boolean",
            type(None): "null", list: "a list", dict: "an object"}.get(type(value),
                                                                       type(value).__name__)


def _key_problems(instance: dict[str, Any], names: list[str]) -> str:
    problems = []
    unknown = [k for k in instance if k not in set(names)]
    if unknown:
        problems.append(f"unknown key(s) {_names(unknown)}")
    missing = [n for n in names if n not in instance]
    if missing:
        problems.append(f"missing key(s) {_names(missing)}")
    return "; ".join(problems)


def _checked(instances: Any) -> list[Any]:
    if not isinstance(instances, list):
        raise PredictionInputError(f"instances must be a list, got {_kind(instances)}")
    if not instances:
        raise PredictionInputError("instances is empty: send at least one instance")
    return instances


class PredictionService:
    """Predictions from snapshots by deployment URI (`s3://...` or `file://...` prefixes holding
    model.json and the weights). Loaded snapshots stay in memory, the `max_models` most
    recently used; each URI is loaded once even when requests for it arrive together.
    Thread-safe. Loading errors: SnapshotError (not a valid snapshot) or StoreError."""

    def __init__(self, settings: Settings, max_models: int = DEFAULT_MAX_MODELS) -> None:
        if max_models < 1:
            raise ValueError(f"max_models must be at least 1, got {max_models}")
        self._settings = settings
        self._max_models = max_models
        self._lock = threading.Lock()
        self._models: OrderedDict[str, _Model] = OrderedDict()
        self._loading: dict[str, Future[_Model]] = {}

    def describe(self, uri: str, *, reload: bool = False) -> dict[str, Any]:
        """What to send and what comes back: {"inputs", "outputs" (name: {dtype, shape}),
        "head", "classes", "columns" (built-in trainers: [{name, type}] in instance order),
        "labelColumn", "instanceFormat"}. `reload` loads the snapshot afresh (for a new
        version at a URI that may hold a newer snapshot than the cached one)."""
        return copy.deepcopy(self._model(uri, reload).description)

    def predict(self, uri: str, instances: list[Any]) -> list[Any]:
        """One prediction per instance (see the module doc), run as one batch."""
        return self._model(uri, False).predict(_checked(instances))

    def predict_now(self, uri: str, instances: list[Any]) -> list[Any] | None:
        """`predict`, if `uri` is loaded and its recent calls say these instances take under
        QUICK_SECONDS: cheap enough to run on an event loop. None, having done nothing,
        otherwise (the model still to load, or slow). The model is taken once, so an
        eviction in between cannot make this load it."""
        with self._lock:
            model = self._models.get(uri.rstrip("/"))
        per_instance = None if model is None else model.seconds_per_instance
        if per_instance is None or per_instance * len(_checked(instances)) >= QUICK_SECONDS:
            return None
        return model.predict(instances)

    def _model(self, uri: str, reload: bool) -> _Model:
        key = uri.rstrip("/")
        with self._lock:
            model = None if reload else self._models.get(key)
            if model is not None:
                self._models.move_to_end(key)
                return model
            pending = self._loading.get(key)
            owner = pending is None
            if pending is None:
                pending = self._loading[key] = Future()
        if not owner:
            return pending.result()
        try:
            model = self._load(key)
        except BaseException as exc:
            with self._lock:
                del self._loading[key]
            pending.set_exception(exc)
            raise
        with self._lock:
            del self._loading[key]
            self._models[key] = model
            self._models.move_to_end(key)
            while len(self._models) > self._max_models:
                self._models.popitem(last=False)
        pending.set_result(model)
        return model

    def _load(self, uri: str) -> _Model:
        store = open_store(uri, self._settings)
        return _Model(load(_SnapshotFiles(store)), uri)
