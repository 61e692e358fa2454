"""TF 1.x's standard hooks for monitored sessions: stop at a step, save checkpoints and
summaries, log tensors and the step rate, fail on a NaN loss, feed, run final ops."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from engine import gfile, summary, tf_logging
from engine.graph import Tensor, get_default_graph
from engine.session import Session
from engine.train.monitored_session import (
    Scaffold,
    SessionRunArgs,
    SessionRunContext,
    SessionRunHook,
    SessionRunValues,
)
from engine.train.saver import Saver
from engine.train.training_util import get_global_step

__all__ = ["CheckpointSaverHook", "FeedFnHook", "FinalOpsHook", "LoggingTensorHook",
           "NanLossDuringTrainingError", "NanTensorHook", "SecondOrStepTimer",
           "StepCounterHook", "StopAtStepHook", "SummarySaverHook"]


class NanLossDuringTrainingError(RuntimeError):
    def __str__(self) -> str:
        return "NaN loss during training."


class SecondOrStepTimer:
    """Triggers every `every_secs` seconds or every `every_steps` steps (exactly one)."""

    def __init__(self, every_secs: float | None = None, every_steps: int | None = None) -> None:
        if (every_secs is None) == (every_steps is None):
            raise ValueError("Either every_secs or every_steps should be provided.")
        self._every_secs, self._every_steps = every_secs, every_steps
        self._last_step: int | None = None
        self._last_time: float | None = None

    def should_trigger_for_step(self, step: int) -> bool:
        if self._last_step is None:
            return True
        if self._last_step == step:
            return False
        if self._every_secs is not None:
            return time.time() >= self._last_time + self._every_secs  # type: ignore[operator]
        return step >= self._last_step + self._every_steps  # type: ignore[operator]

    def update_last_triggered_step(self, step: int) -> tuple[float | None, int | None]:
        """(seconds, steps) since the last trigger (None the first time)."""
        now = time.time()
        elapsed = (None, None) if self._last_step is None else \
            (now - self._last_time, step - self._last_step)  # type: ignore[operator]
        self._last_step, self._last_time = step, now
        return elapsed

    def last_triggered_step(self) -> int | None:
        return self._last_step


def _global_step_tensor(hook: str) -> Tensor:
    step = get_global_step()
    if step is None:
        raise RuntimeError(f"Global step should be created to use {hook}.")
    return step  # type: ignore[return-value]


class StopAtStepHook(SessionRunHook):
    """Requests a stop once the global step reaches `last_step` (or `num_steps` more than
    it was when the session started)."""

    def __init__(self, num_steps: int | None = None, last_step: int | None = None) -> None:
        if num_steps is None and last_step is None:
            raise ValueError("One of num_steps or last_step must be specified.")
        if num_steps is not None and last_step is not None:
            raise ValueError("Only one of num_steps or last_step can be specified.")
        self._num_steps, self._last_step = num_steps, last_step

    def begin(self) -> None:
        self._step = _global_step_tensor("StopAtStepHook")

    def after_create_session(self, session: Session, coord: Any) -> None:
        if self._last_step is None:
            self._last_step = int(session.run(self._step)) + self._num_steps  # type: ignore

    def before_run(self, run_context: SessionRunContext) -> SessionRunArgs:
        return SessionRunArgs(self._step)

    def after_run(self, run_context: SessionRunContext, run_values: SessionRunValues) -> None:
        # the step this run may have reached; the variable itself decides
        if run_values.results + 1 >= self._last_step and \
                run_context.session.run(self._step) >= self._last_step:
            run_context.request_stop()


class CheckpointSaverHook(SessionRunHook):
    """Saves `checkpoint_dir/model.ckpt-<step>` every `save_secs` or `save_steps`, when the
    session starts and at the end (the scaffold's saver, or a Saver of all variables)."""

    def __init__(self, checkpoint_dir: str, save_secs: float | None = None,
                 save_steps: int | None = None, saver: Saver | None = None,
                 checkpoint_basename: str = "model.ckpt", scaffold: Scaffold | None = None,
                 listeners: Sequence[Any] | None = None) -> None:
        if saver is not None and scaffold is not None:
            raise ValueError("You cannot provide both saver and scaffold.")
        self._timer = SecondOrStepTimer(every_secs=save_secs, every_steps=save_steps)
        self._path = gfile.join(checkpoint_dir, checkpoint_basename)
        self._dir, self._saver, self._scaffold = checkpoint_dir, saver, scaffold
        self._listeners = list(listeners or [])

    def begin(self) -> None:
        self._step = _global_step_tensor("CheckpointSaverHook")
        gfile.MakeDirs(self._dir)
        if self._saver is None and self._scaffold is None:
            self._saver = Saver()  # now, while the graph may still grow

    def after_create_session(self, session: Session, coord: Any) -> None:
        summary.FileWriter(self._dir, session.graph).close()  # graph.json, as TF writes it
        self._save(session, int(session.run(self._step)))

    def before_run(self, run_context: SessionRunContext) -> SessionRunArgs:
        return SessionRunArgs(self._step)

    def after_run(self, run_context: SessionRunContext, run_values: SessionRunValues) -> None:
        # the fetched step may be from before or after this run's update: check the variable
        if self._timer.should_trigger_for_step(int(run_values.results) + 1):
            step = int(run_context.session.run(self._step))
            if self._timer.should_trigger_for_step(step):
                self._save(run_context.session, step)

    def end(self, session: Session) -> None:
        step = int(session.run(self._step))
        if step != self._timer.last_triggered_step():
            self._save(session, step)

    def _save(self, session: Session, step: int) -> None:
        self._timer.update_last_triggered_step(step)
        saver = self._saver or self._scaffold.saver  # type: ignore[union-attr]
        tf_logging.info("Saving checkpoints for %d into %s.", step, self._path)
        for listener in self._listeners:
            listener.before_save(session, step)
        saver.save(session, self._path, global_step=step)
        for listener in self._listeners:
            listener.after_save(session, step)


class SummarySaverHook(SessionRunHook):
    """Writes the merged summaries (or `summary_op`) every `save_steps` or `save_secs` to
    `output_dir`'s metrics.jsonl, with the global step."""

    def __init__(self, save_steps: int | None = None, save_secs: float | None = None,
                 output_dir: str | None = None, summary_writer: Any = None,
                 scaffold: Scaffold | None = None, summary_op: Any = None) -> None:
        if (scaffold is None) == (summary_op is None):
            raise ValueError("Exactly one of scaffold or summary_op should be passed.")
        if output_dir is None and summary_writer is None:
            raise ValueError("Either output_dir or summary_writer should be passed.")
        self._timer = SecondOrStepTimer(every_secs=save_secs, every_steps=save_steps)
        self._output_dir, self._writer = output_dir, summary_writer
        self._scaffold, self._op = scaffold, summary_op
        self._next_step: int | None = None  # the step the coming run will write as
        self._due = False

    def begin(self) -> None:
        self._step = _global_step_tensor("SummarySaverHook")
        if self._writer is None:
            self._writer = summary.FileWriter(self._output_dir)  # type: ignore[arg-type]

    def before_run(self, run_context: SessionRunContext) -> SessionRunArgs:
        op = self._op if self._op is not None else self._scaffold.summary_op  # type: ignore
        self._due = op is not None and (self._next_step is None or
                                        self._timer.should_trigger_for_step(self._next_step))
        return SessionRunArgs({"step": self._step, "summary": op} if self._due
                              else {"step": self._step})

    def after_run(self, run_context: SessionRunContext, run_values: SessionRunValues) -> None:
        if not self._due:  # a run takes one step; the variable is read again when writing
            self._next_step = (self._next_step or int(run_values.results["step"])) + 1
            return
        step = int(run_context.session.run(self._step))  # the step this run reached
        self._timer.update_last_triggered_step(step)
        self._writer.add_summary(run_values.results["summary"], step)
        self._next_step = step + 1

    def end(self, session: Session) -> None:
        self._writer.flush()


class StepCounterHook(SessionRunHook):
    """Logs and writes 'global_step/sec' every `every_n_steps` (or `every_n_secs`)."""

    def __init__(self, every_n_steps: int | None = 100, every_n_secs: float | None = None,
                 output_dir: str | None = None, summary_writer: Any = None) -> None:
        if every_n_secs is not None:
            every_n_steps = None
        self._timer = SecondOrStepTimer(every_secs=every_n_secs, every_steps=every_n_steps)
        self._output_dir, self._writer = output_dir, summary_writer

    def begin(self) -> None:
        self._step = _global_step_tensor("StepCounterHook")
        if self._writer is None and self._output_dir:
            self._writer = summary.FileWriter(self._output_dir)

    def before_run(self, run_context: SessionRunContext) -> SessionRunArgs:
        return SessionRunArgs(self._step)

    def after_run(self, run_context: SessionRunContext, run_values: SessionRunValues) -> None:
        step = int(run_values.results)
        if not self._timer.should_trigger_for_step(step):
            return
        seconds, steps = self._timer.update_last_triggered_step(step)
        if seconds and steps:
            rate = steps / seconds
            tf_logging.info("global_step/sec: %g", rate)
            if self._writer is not None:
                self._writer.add_summary(json.dumps({"global_step/sec": rate}), step)


class LoggingTensorHook(SessionRunHook):
    """Logs the values of `tensors` (a dict of tag -> tensor or name, or a list) every
    `every_n_iter` runs or `every_n_secs` seconds, and/or at the end."""

    def __init__(self, tensors: Mapping[str, Any] | Sequence[Any],
                 every_n_iter: int | None = None, every_n_secs: float | None = None,
                 at_end: bool = False,
                 formatter: Callable[[dict[str, Any]], str] | None = None) -> None:
        if not at_end and (every_n_iter is None) == (every_n_secs is None):
            raise ValueError("either at_end and/or exactly one of every_n_iter and "
                             "every_n_secs must be provided.")
        if every_n_iter is not None and every_n_iter <= 0:
            raise ValueError(f"invalid every_n_iter={every_n_iter}.")
        self._tags = dict(tensors) if isinstance(tensors, Mapping) else \
            {getattr(t, "name", t): t for t in tensors}
        self._timer = None if every_n_iter is None and every_n_secs is None else \
            SecondOrStepTimer(every_secs=every_n_secs, every_steps=every_n_iter)
        self._at_end, self._formatter = at_end, formatter
        self._iteration, self._due = 0, False

    def begin(self) -> None:
        graph = get_default_graph()
        self._tensors = {tag: graph.as_graph_element(t, allow_tensor=True,
                                                     allow_operation=False)
                         for tag, t in self._tags.items()}

    def before_run(self, run_context: SessionRunContext) -> SessionRunArgs | None:
        self._due = self._timer is not None and self._timer.should_trigger_for_step(
            self._iteration)
        return SessionRunArgs(self._tensors) if self._due else None

    def after_run(self, run_context: SessionRunContext, run_values: SessionRunValues) -> None:
        if self._due:
            self._timer.update_last_triggered_step(self._iteration)  # type: ignore[union-attr]
            self._log(run_values.results)
        self._iteration += 1

    def end(self, session: Session) -> None:
        if self._at_end:
            self._log(session.run(self._tensors))

    def _log(self, values: dict[str, Any]) -> None:
        if self._formatter is not None:
            tf_logging.info(self._formatter(values))
        else:
            tf_logging.info(", ".join(f"{tag} = {values[tag]}" for tag in self._tags))


class NanTensorHook(SessionRunHook):
    """Fails the training (NanLossDuringTrainingError) when `loss_tensor` is NaN, or only
    requests a stop with `fail_on_nan_loss=False`."""

    def __init__(self, loss_tensor: Any, fail_on_nan_loss: bool = True) -> None:
        self._loss, self._fail = loss_tensor, fail_on_nan_loss

    def before_run(self, run_context: SessionRunContext) -> SessionRunArgs:
        return SessionRunArgs(self._loss)

    def after_run(self, run_context: SessionRunContext, run_values: SessionRunValues) -> None:
        if math.isnan(float(np.asarray(run_values.results))):
            if self._fail:
                raise NanLossDuringTrainingError
            tf_logging.warning("Model diverged with loss = NaN.")
            run_context.request_stop()


class FeedFnHook(SessionRunHook):
    """Feeds what `feed_fn()` returns into every run."""

    def __init__(self, feed_fn: Callable[[], Mapping[Any, Any]]) -> None:
        self._feed_fn = feed_fn

    def before_run(self, run_context: SessionRunContext) -> SessionRunArgs:
        return SessionRunArgs(fetches=None, feed_dict=self._feed_fn())


class FinalOpsHook(SessionRunHook):
    """Runs `final_ops` when the session ends; their values are `final_ops_values`."""

    def __init__(self, final_ops: Any,
                 final_ops_feed_dict: Mapping[Any, Any] | None = None) -> None:
        self._ops, self._feed = final_ops, final_ops_feed_dict
        self.final_ops_values: Any = None

    def end(self, session: Session) -> None:
        if self._ops is not None:
            self.final_ops_values = session.run(self._ops, self._feed)
