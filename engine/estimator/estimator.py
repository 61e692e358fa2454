"""`tf.estimator.Estimator`: a model_fn plus a model_dir, trained, evaluated, used to predict
and exported without writing Session code.

Like TF, every call builds a fresh graph for its mode (TRAIN, EVAL or PREDICT) and picks up the
latest checkpoint in model_dir, so training resumes where it stopped, also from another
Estimator object on the same model_dir; the global step keeps counting. Input batches come
from an input_fn as numpy arrays (engine/estimator/inputs.py) and are fed into placeholders
shaped like the first batch; the model_fn receives those placeholders.

Training writes the summaries of the graph ('loss' always, plus whatever the model_fn
records) every `save_summary_steps` steps and at the last step, and evaluation writes its
metrics as 'eval/<name>', all with engine.summary.FileWriter to <model_dir>/metrics.jsonl,
which is how platform jobs report progress.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import itertools
import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from engine import gfile, summary
from engine.estimator.inputs import Batch, read_batches
from engine.graph import Graph, GraphKeys, Operation, Tensor
from engine.ops.array_ops import placeholder
from engine.session import Session
from engine.train.saver import SUFFIX, Saver, latest_checkpoint
from engine.train.training_util import get_or_create_global_step
from engine.variables import global_variables_initializer

__all__ = ["DatasetMetrics", "Estimator", "EstimatorSpec", "ModeKeys", "RunConfig"]

logger = logging.getLogger("engine.estimator")

CHECKPOINT_PREFIX = "model.ckpt"
_SANITIZE = re.compile(r"[^A-Za-z0-9_.\-]")


class ModeKeys:
    TRAIN = "train"
    EVAL = "eval"
    PREDICT = "infer"


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Where and how often an Estimator saves (a subset of TF's RunConfig)."""

    model_dir: str | None = None
    tf_random_seed: int | None = None
    save_summary_steps: int = 100
    save_checkpoints_steps: int | None = None
    keep_checkpoint_max: int = 5
    log_step_count_steps: int = 100

    def replace(self, **kwargs: Any) -> RunConfig:
        return dataclasses.replace(self, **kwargs)


@dataclasses.dataclass(frozen=True)
class DatasetMetrics:
    """Metrics over the whole evaluation set rather than averaged per batch (AUC, RMSE): the
    per-example `fetches` of every batch are concatenated and passed to `compute`."""

    fetches: Mapping[str, Tensor]
    compute: Callable[[dict[str, np.ndarray]], dict[str, float]]


@dataclasses.dataclass(frozen=True)
class EstimatorSpec:
    """What a model_fn returns. TRAIN needs loss and train_op, EVAL loss, PREDICT predictions.

    eval_metric_ops: scalar tensors, averaged over the evaluation batches weighted by batch
    size (there is no tf.metrics here). export_outputs: the tensors an exported snapshot
    serves (default: the numeric predictions). dataset_metrics: see DatasetMetrics."""

    mode: str
    predictions: Tensor | Mapping[str, Tensor] | None = None
    loss: Tensor | None = None
    train_op: Operation | Tensor | None = None
    eval_metric_ops: Mapping[str, Tensor] | None = None
    export_outputs: Mapping[str, Tensor] | None = None
    dataset_metrics: DatasetMetrics | None = None

    def __post_init__(self) -> None:
        if self.mode == ModeKeys.TRAIN and (self.loss is None or self.train_op is None):
            raise ValueError("Missing loss or train_op: both are required in TRAIN mode.")
        if self.mode == ModeKeys.EVAL and self.loss is None:
            raise ValueError("Missing loss: it is required in EVAL mode.")
        if self.mode == ModeKeys.PREDICT and self.predictions is None:
            raise ValueError("Missing predictions: they are required in PREDICT mode.")


@dataclasses.dataclass
class _Model:
    """One mode's graph in a session, with its placeholders and a reusable feed dict."""

    graph: Graph
    session: Session
    spec: EstimatorSpec
    step: int
    features: dict[str, Tensor]
    labels: Tensor | None
    batches: Iterator[Batch]
    constant_input: bool
    saver: Saver
    feed: dict[Tensor, Any] = dataclasses.field(default_factory=dict)

    def fill(self, batch: tuple[dict[str, np.ndarray], np.ndarray | None]) -> dict[Tensor, Any]:
        features, labels = batch
        for key, tensor in self.features.items():
            self.feed[tensor] = features[key]
        if self.labels is not None:
            if labels is None:
                raise ValueError("input_fn gave no labels, which training and evaluation need.")
            self.feed[self.labels] = labels
        return self.feed


class Estimator:
    """Trains, evaluates and serves the model built by `model_fn(features, labels, mode[,
    params][, config])`, which returns an EstimatorSpec."""

    def __init__(self, model_fn: Callable[..., EstimatorSpec], model_dir: str | None = None,
                 config: RunConfig | None = None, params: Mapping[str, Any] | None = None
                 ) -> None:
        config = config or RunConfig()
        if model_dir and config.model_dir and _where(model_dir) != _where(config.model_dir):
            raise ValueError(f"model_dir are set both in constructor and RunConfig, but with "
                             f"different values: {model_dir} and {config.model_dir}.")
        model_dir = model_dir or config.model_dir
        if not model_dir:
            model_dir = tempfile.mkdtemp(prefix="estimator_")
            logger.warning("Using temporary folder as model directory: %s", model_dir)
        self._model_dir = gfile.resolve(model_dir)
        self._config = config.replace(model_dir=self._model_dir)
        self._model_fn = model_fn
        self._params = dict(params or {})

    @property
    def model_dir(self) -> str:
        return self._model_dir

    @property
    def config(self) -> RunConfig:
        return self._config

    @property
    def params(self) -> dict[str, Any]:
        return dict(self._params)

    # -- checkpoints ----------------------------------------------------------------------------
    def latest_checkpoint(self) -> str | None:
        return latest_checkpoint(self._model_dir)

    def get_variable_names(self) -> list[str]:
        with np.load(self._require_checkpoint() + SUFFIX, allow_pickle=False) as data:
            return sorted(data.files)

    def get_variable_value(self, name: str) -> np.ndarray:
        with np.load(self._require_checkpoint() + SUFFIX, allow_pickle=False) as data:
            if name not in data.files:
                raise ValueError(f"Variable {name!r} is not in the checkpoint; it has "
                                 f"{sorted(data.files)}.")
            return data[name]

    def _require_checkpoint(self, checkpoint_path: str | None = None) -> str:
        path = checkpoint_path or self.latest_checkpoint()
        if path is None:
            raise ValueError(f"Could not find trained model in model_dir: {self._model_dir}. "
                             f"Train it first.")
        return path

    # -- the model, per mode ----------------------------------------------------------------------
    def _encode_features(self, features: Any) -> dict[str, np.ndarray]:
        """Host-side preparation of one batch's features, keyed by feature name."""
        if isinstance(features, Mapping):
            return {k: np.asarray(v) for k, v in features.items()}
        return {"": np.asarray(features)}

    def _encode_labels(self, labels: Any) -> np.ndarray | None:
        return None if labels is None else np.asarray(labels)

    def _model_features(self, features: dict[str, Tensor]) -> Any:
        """What the model_fn receives: a single-array input stays a single tensor."""
        return features[""] if list(features) == [""] else features

    def _call_model_fn(self, features: dict[str, Tensor], labels: Tensor | None,
                       mode: str) -> EstimatorSpec:
        accepted = inspect.signature(self._model_fn).parameters
        extra = {k: v for k, v in (("mode", mode), ("params", self.params),
                                   ("config", self._config)) if k in accepted}
        spec = self._model_fn(features=self._model_features(features), labels=labels, **extra)
        if not isinstance(spec, EstimatorSpec):
            raise ValueError(f"model_fn should return an EstimatorSpec, got {type(spec)}.")
        return spec

    @contextlib.contextmanager
    def _open(self, mode: str, input_fn: Callable[[], Any],
              checkpoint_path: str | None = None) -> Iterator[_Model]:
        """Build `mode`'s graph from input_fn's first batch; restore the latest checkpoint
        (required unless training) into a new session."""
        if mode != ModeKeys.TRAIN:
            checkpoint_path = self._require_checkpoint(checkpoint_path)
        graph = Graph()
        graph.seed = self._config.tf_random_seed
        raw, constant = read_batches(input_fn, graph)
        batches: Iterator[Batch] = (self._encode(batch, mode) for batch in raw)
        first = next(batches, None)
        if first is None:
            raise ValueError("input_fn produced no data.")
        if constant:  # encoded once, not per step
            batches = itertools.repeat(first)
        features, labels = first
        with graph.as_default():
            placeholders = {key: placeholder(value.dtype, (None, *value.shape[1:]),
                                             name=placeholder_name(key))
                            for key, value in features.items()}
            label_ph = None if labels is None else placeholder(
                labels.dtype, (None, *labels.shape[1:]), name="labels")
            get_or_create_global_step(graph)
            spec = self._call_model_fn(placeholders, label_ph, mode)
        session, saver, step = self._session(graph, checkpoint_path)
        try:
            yield _Model(graph, session, spec, step, placeholders, label_ph,
                         itertools.chain([first], batches), constant, saver)
        finally:
            session.close()

    def _encode(self, batch: Batch, mode: str) -> Batch:
        features, labels = batch
        return (self._encode_features(features),
                None if mode == ModeKeys.PREDICT else self._encode_labels(labels))

    def _session(self, graph: Graph, checkpoint_path: str | None
                 ) -> tuple[Session, Saver, int]:
        """A session on the finished `graph` holding `checkpoint_path` (default: the latest
        checkpoint, if any; else fresh variables), its Saver and global step."""
        with graph.as_default():
            step = get_or_create_global_step(graph)
            saver = Saver(max_to_keep=self._config.keep_checkpoint_max)
            init = global_variables_initializer()
        session = Session(graph=graph)
        path = checkpoint_path or self.latest_checkpoint()
        if path:
            saver.restore(session, path)
        else:
            session.run(init)
        return session, saver, int(session.run(step))

    # -- train ----------------------------------------------------------------------------------
    def train(self, input_fn: Callable[[], Any], steps: int | None = None,
              max_steps: int | None = None) -> Estimator:
        """Train from the latest checkpoint for `steps` more steps, up to global step
        `max_steps`, or until input_fn's data runs out; then save a checkpoint."""
        if steps is not None and max_steps is not None:
            raise ValueError("Can not provide both steps and max_steps.")
        for name, value in (("steps", steps), ("max_steps", max_steps)):
            if value is not None and value <= 0:
                raise ValueError(f"Must specify {name} > 0, given: {value}")
        if max_steps is not None and self._checkpoint_step() >= max_steps:
            logger.info("Skipping training since max_steps has already saved.")
            return self
        with self._open(ModeKeys.TRAIN, input_fn) as model:
            last = max_steps if steps is None else model.step + steps
            if last is None and model.constant_input:
                raise ValueError("input_fn gives one constant batch, so training would never "
                                 "end: pass steps or max_steps.")
            self._train_loop(model, last)
        return self

    def _train_loop(self, model: _Model, last: int | None) -> None:
        graph, session, spec, config = model.graph, model.session, model.spec, self._config
        with graph.as_default(), graph.name_scope(None):
            tags = {t.op.attrs.get("tag") for t in graph.get_collection(GraphKeys.SUMMARIES)}
            if "loss" not in tags:
                summary.scalar("loss", spec.loss)
            merged = summary.merge_all()
        prefix = gfile.join(self._model_dir, CHECKPOINT_PREFIX)
        batches = _mark_last(model.batches)
        step, started = model.step, time.perf_counter()
        with summary.FileWriter(self._model_dir, graph if model.step == 0 else None) as writer:
            for batch, input_ends in batches:
                step += 1
                feed = model.fill(batch)
                done = input_ends or step == last
                if done or step % config.save_summary_steps == 0 or \
                        step % config.log_step_count_steps == 0:
                    _, values, loss = session.run([spec.train_op, merged, spec.loss], feed)
                    writer.add_summary(values, step)
                    logger.info("loss = %g, step = %d (%.3f s)", loss, step,
                                time.perf_counter() - started)
                else:
                    session.run(spec.train_op, feed)
                if config.save_checkpoints_steps and step % config.save_checkpoints_steps == 0:
                    model.saver.save(session, prefix, global_step=step)
                if done:
                    break
        if step > model.step:
            model.saver.save(session, prefix, global_step=step)
            logger.info("Saving checkpoints for %d into %s.", step, prefix)

    def _checkpoint_step(self) -> int:
        path = self.latest_checkpoint()
        if path is None:
            return 0
        with np.load(path + SUFFIX, allow_pickle=False) as data:
            return int(data["global_step"]) if "global_step" in data.files else 0

    # -- evaluate -------------------------------------------------------------------------------
    def evaluate(self, input_fn: Callable[[], Any], steps: int | None = None,
                 checkpoint_path: str | None = None, name: str | None = None
                 ) -> dict[str, Any]:
        """Metrics of the latest checkpoint over input_fn's data (or `steps` batches):
        'loss' (mean batch loss), the model's metrics and 'global_step'. They are also
        written to metrics.jsonl as 'eval/<metric>' ('eval_<name>/...' when named)."""
        if steps is not None and steps <= 0:
            raise ValueError(f"Must specify steps > 0, given: {steps}")
        with self._open(ModeKeys.EVAL, input_fn, checkpoint_path) as model:
            spec = model.spec
            averaged = dict(spec.eval_metric_ops or {})
            whole = spec.dataset_metrics or DatasetMetrics({}, lambda _: {})
            fetches = {"loss": spec.loss, "averaged": averaged, "whole": dict(whole.fetches)}
            limit = 1 if steps is None and model.constant_input else steps
            losses, sizes, per_batch, gathered = [], [], [], []
            for batch in itertools.islice(model.batches, limit):
                values = model.session.run(fetches, model.fill(batch))
                losses.append(values["loss"])
                sizes.append(len(next(iter(batch[0].values()))))
                per_batch.append(values["averaged"])
                gathered.append(values["whole"])
            results: dict[str, Any] = {"loss": float(np.mean(losses))}
            for key in averaged:
                results[key] = float(np.average([v[key] for v in per_batch], weights=sizes))
            results.update(whole.compute(
                {k: np.concatenate([g[k] for g in gathered]) for k in whole.fetches}))
            results["global_step"] = model.step
        tag = "eval" if name is None else f"eval_{name}"
        with summary.FileWriter(self._model_dir) as writer:
            writer.add_summary(_summary_bytes(
                {f"{tag}/{k}": v for k, v in results.items() if k != "global_step"}),
                model.step)
        return results

    # -- predict --------------------------------------------------------------------------------
    def predict(self, input_fn: Callable[[], Any], predict_keys: list[str] | None = None,
                checkpoint_path: str | None = None, yield_single_examples: bool = True
                ) -> Iterator[Any]:
        """Predictions of the latest checkpoint for input_fn's features, one example (a dict
        when the model predicts a dict) at a time, or one batch at a time."""
        with self._open(ModeKeys.PREDICT, input_fn, checkpoint_path) as model:
            predictions = model.spec.predictions
            if isinstance(predictions, Mapping):
                unknown = set(predict_keys or ()) - set(predictions)
                if unknown:
                    raise ValueError(f"Expected to run at least one output from "
                                     f"{sorted(predictions)}, provided {sorted(unknown)}.")
                predictions = {k: v for k, v in predictions.items()
                               if predict_keys is None or k in predict_keys}
            batches = itertools.islice(model.batches, 1) if model.constant_input \
                else model.batches
            for batch in batches:
                values = self._add_predictions(model.session.run(predictions, model.fill(batch)))
                if not yield_single_examples:
                    yield values
                elif isinstance(values, dict):
                    n = len(next(iter(values.values())))
                    yield from ({k: v[i] for k, v in values.items()} for i in range(n))
                else:
                    yield from values

    def _add_predictions(self, values: Any) -> Any:
        """Host-side predictions computed from a batch's fetched ones (none by default)."""
        return values

    # -- export ---------------------------------------------------------------------------------
    def export_savedmodel(self, export_dir_base: str,
                          serving_input_receiver_fn: Callable[[], Any] | None = None,
                          checkpoint_path: str | None = None, *,
                          metadata: Mapping[str, Any] | None = None) -> str:
        """Write a servable snapshot of the latest checkpoint (engine.saved_model) under
        `export_dir_base/<timestamp>`; returns its path. Inputs are the receiver's tensors,
        outputs the spec's export_outputs (default: its numeric predictions). `metadata`
        (JSON-safe) is added to the snapshot's own (head, inputs, ...), overriding its keys."""
        from engine import saved_model

        checkpoint_path = self._require_checkpoint(checkpoint_path)
        graph = Graph()
        with graph.as_default():
            if serving_input_receiver_fn is None:
                receiver = self._default_serving_input()
            else:
                receiver = serving_input_receiver_fn()
            features = receiver.features if isinstance(receiver.features, Mapping) \
                else {"": receiver.features}
            get_or_create_global_step(graph)
            spec = self._call_model_fn(dict(features), None, ModeKeys.PREDICT)
        outputs = spec.export_outputs
        if outputs is None:
            predictions = spec.predictions
            outputs = predictions if isinstance(predictions, Mapping) else {"output": predictions}
            outputs = {k: v for k, v in outputs.items() if v.dtype.is_numeric or v.dtype.is_bool}
        session, _, _ = self._session(graph, checkpoint_path)
        try:
            return saved_model.save(session, _fresh_dir(export_dir_base),
                                    inputs=dict(receiver.receiver_tensors), outputs=dict(outputs),
                                    metadata={**(self._export_metadata() or {}),
                                              **(metadata or {})})
        finally:
            session.close()

    def _default_serving_input(self) -> Any:
        raise ValueError("export_savedmodel needs a serving_input_receiver_fn for a custom "
                         "model_fn (see tf.estimator.export).")

    def _export_metadata(self) -> dict[str, Any] | None:
        return None


def _mark_last(items: Iterator[Any]) -> Iterator[tuple[Any, bool]]:
    """(item, whether it is the last one), looking one item ahead."""
    current = next(items, _END)
    while current is not _END:
        following = next(items, _END)
        yield current, following is _END
        current = following


_END = object()


def placeholder_name(key: str) -> str:
    """A placeholder name for feature `key` ('' -> 'x')."""
    name = _SANITIZE.sub("_", key).lstrip("_-.")
    return name or "x"


def _summary_bytes(values: Mapping[str, Any]) -> bytes:
    return json.dumps({k: float(v) for k, v in values.items()}).encode()


def _fresh_dir(base: str) -> str:
    """`base/<unix time>`, bumped past existing ones (two exports in one second)."""
    gfile.MakeDirs(base)
    stamp = int(time.time())
    while gfile.Exists(gfile.join(base, str(stamp))):
        stamp += 1
    return gfile.join(base, str(stamp))


def _where(model_dir: str) -> str:
    """A model_dir as compared with another: a URI as it is, a local path made absolute."""
    return model_dir if gfile.is_remote(model_dir) else os.path.abspath(gfile.resolve(model_dir))
