"""`tf.estimator.train_and_evaluate` with TrainSpec, EvalSpec and exporters, as Cloud ML
Engine's TF 1.x samples drive an estimator:

    train_spec = tf.estimator.TrainSpec(train_input, max_steps=1000)
    exporter = tf.estimator.FinalExporter("census", serving_input_fn)
    eval_spec = tf.estimator.EvalSpec(eval_input, steps=100, exporters=[exporter])
    tf.estimator.train_and_evaluate(estimator, train_spec, eval_spec)

One process trains and evaluates in turn (TF's local mode): training runs in chunks ending
at a checkpoint (every `save_checkpoints_steps` of the RunConfig, else all the way), an
evaluation follows a chunk once `throttle_secs` have passed since the last one, and the last
checkpoint is always evaluated and exported. Exports go to `<model_dir>/export/<name>/<time>`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from engine import gfile, tf_logging
from engine.estimator.estimator import Estimator

__all__ = ["EvalSpec", "Exporter", "FinalExporter", "LatestExporter", "TrainSpec",
           "train_and_evaluate"]


class TrainSpec(NamedTuple):
    """Training input and the global step to stop at (None: until the input ends)."""

    input_fn: Callable[[], Any]
    max_steps: int | None = None
    hooks: Sequence[Any] = ()


class EvalSpec(NamedTuple):
    """Evaluation input (`steps` batches, None: all of it), how often to evaluate, and the
    exporters to run after each evaluation."""

    input_fn: Callable[[], Any]
    steps: int | None = 100
    name: str | None = None
    hooks: Sequence[Any] = ()
    exporters: Sequence[Exporter] | Exporter = ()
    start_delay_secs: float = 120
    throttle_secs: float = 600


class Exporter:
    """Writes a servable snapshot after an evaluation; subclasses decide when."""

    def __init__(self, name: str, serving_input_receiver_fn: Callable[[], Any]) -> None:
        if not name or not isinstance(name, str):
            raise ValueError(f"An exporter needs a name (a directory under export/), got "
                             f"{name!r}.")
        self.name, self._receiver = name, serving_input_receiver_fn

    def export(self, estimator: Estimator, export_path: str, checkpoint_path: str | None,
               eval_result: dict[str, Any], is_the_final_export: bool) -> str | None:
        raise NotImplementedError

    def _write(self, estimator: Estimator, export_path: str,
               checkpoint_path: str | None) -> str:
        return estimator.export_savedmodel(export_path, self._receiver,
                                           checkpoint_path=checkpoint_path)


class FinalExporter(Exporter):
    """Exports once, the final model."""

    def export(self, estimator: Estimator, export_path: str, checkpoint_path: str | None,
               eval_result: dict[str, Any], is_the_final_export: bool) -> str | None:
        return self._write(estimator, export_path, checkpoint_path) if is_the_final_export \
            else None


class LatestExporter(Exporter):
    """Exports after every evaluation, keeping the newest `exports_to_keep`."""

    def __init__(self, name: str, serving_input_receiver_fn: Callable[[], Any],
                 assets_extra: Any = None, as_text: bool = False,
                 exports_to_keep: int | None = 5) -> None:
        super().__init__(name, serving_input_receiver_fn)
        if exports_to_keep is not None and exports_to_keep < 1:
            raise ValueError(f"exports_to_keep must be positive or None, got "
                             f"{exports_to_keep}.")
        self._keep = exports_to_keep

    def export(self, estimator: Estimator, export_path: str, checkpoint_path: str | None,
               eval_result: dict[str, Any], is_the_final_export: bool) -> str | None:
        path = self._write(estimator, export_path, checkpoint_path)
        if self._keep is not None:
            stamps = sorted((n.rstrip("/") for n in gfile.ListDirectory(export_path)
                             if n.rstrip("/").isdigit()), key=int)
            for old in stamps[:-self._keep]:
                gfile.DeleteRecursively(gfile.join(export_path, old))
        return path


def train_and_evaluate(estimator: Estimator, train_spec: TrainSpec,
                       eval_spec: EvalSpec) -> tuple[dict[str, Any], list[str]]:
    """Train, evaluating and exporting on the way and at the end; returns the final
    evaluation's metrics and the paths of the final exports."""
    if not isinstance(estimator, Estimator):
        raise TypeError(f"estimator must be a tf.estimator.Estimator, got {estimator!r}.")
    if not isinstance(train_spec, TrainSpec) or not isinstance(eval_spec, EvalSpec):
        raise TypeError("train_spec must be a tf.estimator.TrainSpec and eval_spec a "
                        "tf.estimator.EvalSpec.")
    exporters = [eval_spec.exporters] if isinstance(eval_spec.exporters, Exporter) \
        else list(eval_spec.exporters)
    if len({e.name for e in exporters}) != len(exporters):
        raise ValueError("Exporters must have distinct names.")
    chunk = estimator.config.save_checkpoints_steps
    last_eval = time.monotonic()
    while True:
        before = estimator._checkpoint_step()
        target = train_spec.max_steps if chunk is None else before + chunk
        if train_spec.max_steps is not None:
            target = min(target, train_spec.max_steps)  # type: ignore[type-var]
        estimator.train(train_spec.input_fn, max_steps=target)
        step = estimator._checkpoint_step()
        done = step == before or (train_spec.max_steps is not None and
                                  step >= train_spec.max_steps) or target is None
        if done:
            return _evaluate_and_export(estimator, eval_spec, exporters, final=True)
        if time.monotonic() - last_eval >= eval_spec.throttle_secs:
            _evaluate_and_export(estimator, eval_spec, exporters, final=False)
            last_eval = time.monotonic()


def _evaluate_and_export(estimator: Estimator, eval_spec: EvalSpec,
                         exporters: list[Exporter], final: bool
                         ) -> tuple[dict[str, Any], list[str]]:
    result = estimator.evaluate(eval_spec.input_fn, steps=eval_spec.steps, name=eval_spec.name)
    tf_logging.info("Saving dict for global step %s: %s", result.get("global_step"), result)
    checkpoint = estimator.latest_checkpoint()
    paths = []
    for exporter in exporters:
        path = exporter.export(estimator, gfile.join(estimator.model_dir, "export",
                                                     exporter.name),
                               checkpoint, result, final)
        if path is not None:
            paths.append(path)
    return result, paths
