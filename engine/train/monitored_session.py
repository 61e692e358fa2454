"""`tf.train.MonitoredTrainingSession`: a Session that initializes or restores itself and runs
hooks around every `run`, as TF 1.x training scripts use it:

    with tf.train.MonitoredTrainingSession(checkpoint_dir=job_dir,
                                           hooks=[tf.train.StopAtStepHook(last_step=1000)]) as sess:
        while not sess.should_stop():
            sess.run(train_op)

On entry the latest checkpoint in `checkpoint_dir` is restored (so a restarted job resumes),
or the variables are initialized; the graph is then finalized. Each `run` adds the hooks'
fetches and feeds to the caller's, in one Session.run. The end of a tf.data input
(OutOfRangeError) ends the `with` block quietly, as in TF; hooks' `end` runs on a normal exit.
With a checkpoint directory the chief also saves checkpoints (every 600 s by default) and
summaries (every 100 steps) and logs the steps per second, as TF's defaults do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, NamedTuple

from engine import errors, summary
from engine.graph import GraphKeys, Operation, get_default_graph
from engine.ops.control_flow_ops import group
from engine.session import Session
from engine.train.saver import Saver, latest_checkpoint
from engine.variables import (
    global_variables,
    global_variables_initializer,
    local_variables_initializer,
)

__all__ = ["ChiefSessionCreator", "MonitoredSession", "MonitoredTrainingSession", "Scaffold",
           "SessionRunArgs", "SessionRunContext", "SessionRunHook", "SessionRunValues",
           "SingularMonitoredSession"]

USE_DEFAULT = object()  # TF's marker: "the argument was not given"


class SessionRunArgs(NamedTuple):
    """What a hook adds to the next run: fetches (any structure) and feeds."""

    fetches: Any
    feed_dict: Mapping[Any, Any] | None = None
    options: Any = None


class SessionRunValues(NamedTuple):
    """The values of a hook's fetches after the run."""

    results: Any
    options: Any = None
    run_metadata: Any = None


class SessionRunContext:
    """The run being made, given to hooks; `request_stop()` ends the training loop."""

    def __init__(self, original_args: SessionRunArgs, session: Session) -> None:
        self.original_args, self.session = original_args, session
        self.stop_requested = False

    def request_stop(self) -> None:
        self.stop_requested = True


class SessionRunHook:
    """Base class of hooks: override what you need."""

    def begin(self) -> None:
        """Called before the graph is finalized: the place to add ops."""

    def after_create_session(self, session: Session, coord: Any) -> None:
        """Called once the session is initialized or restored."""

    def before_run(self, run_context: SessionRunContext) -> SessionRunArgs | None:
        """What to add to the coming run."""
        return None

    def after_run(self, run_context: SessionRunContext, run_values: SessionRunValues) -> None:
        """Sees the values of what before_run asked for."""

    def end(self, session: Session) -> None:
        """Called when the monitored session closes normally."""


class Scaffold:
    """The ops a monitored session needs, with TF's defaults made by `finalize()`: initialize
    all global variables, then the local ones; merge all summaries; save all variables."""

    def __init__(self, init_op: Operation | None = None, init_feed_dict: Any = None,
                 init_fn: Any = None, ready_op: Any = None, ready_for_local_init_op: Any = None,
                 local_init_op: Operation | None = None, summary_op: Any = None,
                 saver: Saver | None = None, copy_from_scaffold: Scaffold | None = None) -> None:
        if copy_from_scaffold is not None:
            init_op = init_op or copy_from_scaffold.init_op
            local_init_op = local_init_op or copy_from_scaffold.local_init_op
            summary_op = summary_op or copy_from_scaffold.summary_op
            saver = saver or copy_from_scaffold.saver
        self.init_op, self.init_feed_dict, self.init_fn = init_op, init_feed_dict, init_fn
        self.local_init_op, self.summary_op, self.saver = local_init_op, summary_op, saver
        self.ready_op, self.ready_for_local_init_op = ready_op, ready_for_local_init_op
        self._finalized = False

    def finalize(self) -> Scaffold:
        """Make the missing ops (or take those an earlier scaffold of this graph made, from
        the graph's collections), then finalize the graph: no op may be added after."""
        if self._finalized:
            return self
        self.init_op = self.init_op or _once(GraphKeys.INIT_OP, global_variables_initializer)
        self.local_init_op = self.local_init_op or _once(
            GraphKeys.LOCAL_INIT_OP, lambda: group(local_variables_initializer()))
        if self.summary_op is None:
            self.summary_op = _once(GraphKeys.SUMMARY_OP, summary.merge_all)
        if self.saver is None and global_variables():
            self.saver = _once(GraphKeys.SAVERS, Saver)
        get_default_graph().finalize()
        self._finalized = True
        return self


def _once(key: str, make: Any) -> Any:
    """The graph's object in collection `key`, made and put there the first time."""
    graph = get_default_graph()
    found = graph.get_collection(key)
    if found:
        return found[0]
    made = make()
    if made is not None:
        graph.add_to_collection(key, made)
    return made


class ChiefSessionCreator:
    """Makes the session: restores the latest checkpoint in `checkpoint_dir` (or
    `checkpoint_filename_with_path`) when there is one, else runs the init op and init_fn;
    then the local init op."""

    def __init__(self, scaffold: Scaffold | None = None, master: str = "", config: Any = None,
                 checkpoint_dir: str | None = None,
                 checkpoint_filename_with_path: str | None = None) -> None:
        self.scaffold = scaffold or Scaffold()
        self._master, self._config = master, config
        self._checkpoint_dir, self._checkpoint_path = checkpoint_dir, checkpoint_filename_with_path

    def create_session(self) -> Session:
        scaffold = self.scaffold.finalize()
        session = Session(self._master, config=self._config)
        path = self._checkpoint_path or (
            latest_checkpoint(self._checkpoint_dir) if self._checkpoint_dir else None)
        if path is not None and scaffold.saver is not None:
            scaffold.saver.restore(session, path)
        else:
            session.run(scaffold.init_op, scaffold.init_feed_dict)
            if scaffold.init_fn is not None:
                scaffold.init_fn(scaffold, session)
        session.run(scaffold.local_init_op)
        return session


class MonitoredSession:
    """A session made by `session_creator` whose runs go through `hooks`."""

    def __init__(self, session_creator: ChiefSessionCreator | None = None,
                 hooks: Sequence[SessionRunHook] | None = None,
                 stop_grace_period_secs: float = 120) -> None:
        self._hooks = list(hooks or [])
        for hook in self._hooks:
            if not isinstance(hook, SessionRunHook):
                raise TypeError(f"hooks must be tf.train.SessionRunHook objects, got {hook!r}.")
        for hook in self._hooks:
            hook.begin()
        creator = session_creator or ChiefSessionCreator()
        self.scaffold = creator.scaffold
        self._session = creator.create_session()
        self._should_stop = False
        self._closed = False
        for hook in self._hooks:
            hook.after_create_session(self._session, None)

    @property
    def graph(self) -> Any:
        return self._session.graph

    def should_stop(self) -> bool:
        return self._should_stop or self._closed

    def run(self, fetches: Any, feed_dict: Mapping[Any, Any] | None = None, options: Any = None,
            run_metadata: Any = None) -> Any:
        """The caller's fetches, run together with what the hooks ask for."""
        if self._closed:
            raise RuntimeError("Run called on a closed MonitoredSession.")
        if self._should_stop:
            raise RuntimeError("Run called even after should_stop requested.")
        context = SessionRunContext(SessionRunArgs(fetches, feed_dict, options), self._session)
        combined: dict[Any, Any] = {"caller": fetches}
        feeds = dict(feed_dict or {})
        for i, hook in enumerate(self._hooks):
            args = hook.before_run(context)
            if args is None:
                continue
            if args.fetches is not None:
                combined[i] = args.fetches
            for key, value in (args.feed_dict or {}).items():
                if key in feeds:
                    raise RuntimeError(f"Same tensor is fed by a SessionRunHook and the caller "
                                       f"(or another hook): {key!r}.")
                feeds[key] = value
        results = self._session.run(combined, feeds or None, options, run_metadata)
        for i, hook in enumerate(self._hooks):
            hook.after_run(context, SessionRunValues(results.get(i), options, run_metadata))
        self._should_stop = self._should_stop or context.stop_requested
        return results["caller"]

    def close(self) -> None:
        self._close(None)

    def _close(self, exc_type: type[BaseException] | None) -> None:
        if self._closed:
            return
        try:
            if exc_type is None:
                for hook in self._hooks:
                    hook.end(self._session)
        finally:
            self._closed = True
            self._session.close()

    def __enter__(self) -> MonitoredSession:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> bool:
        if exc_type is not None and issubclass(exc_type, errors.OutOfRangeError | StopIteration):
            exc_type = None  # the input ran out: a normal end of training, as in TF
        self._close(exc_type)
        return exc_type is None


SingularMonitoredSession = MonitoredSession


def MonitoredTrainingSession(
        master: str = "", is_chief: bool = True, checkpoint_dir: str | None = None,
        scaffold: Scaffold | None = None, hooks: Sequence[SessionRunHook] | None = None,
        chief_only_hooks: Sequence[SessionRunHook] | None = None,
        save_checkpoint_secs: Any = USE_DEFAULT, save_summaries_steps: Any = USE_DEFAULT,
        save_summaries_secs: Any = USE_DEFAULT, config: Any = None,
        stop_grace_period_secs: float = 120, log_step_count_steps: int | None = 100,
        max_wait_secs: float = 7200, save_checkpoint_steps: Any = USE_DEFAULT,
        summary_dir: str | None = None) -> MonitoredSession:
    """A MonitoredSession with TF's training defaults. Every process initializes (or
    restores) its own variables: there are no parameter servers to wait for; only the chief
    gets the chief-only hooks and the checkpoint, summary and step-count hooks."""
    from engine.train import basic_session_run_hooks as basic

    save_checkpoint_secs, save_checkpoint_steps = _every(save_checkpoint_secs,
                                                         save_checkpoint_steps, (600, None))
    save_summaries_secs, save_summaries_steps = _every(save_summaries_secs, save_summaries_steps,
                                                       (None, 100))
    scaffold = scaffold or Scaffold()
    all_hooks = list(hooks or [])
    if is_chief:
        all_hooks += list(chief_only_hooks or [])
        output = summary_dir or checkpoint_dir
        if output and log_step_count_steps and log_step_count_steps > 0:
            all_hooks.append(basic.StepCounterHook(every_n_steps=log_step_count_steps,
                                                   output_dir=output))
        if output and (save_summaries_steps or save_summaries_secs):
            all_hooks.append(basic.SummarySaverHook(save_steps=save_summaries_steps,
                                                    save_secs=save_summaries_secs,
                                                    output_dir=output, scaffold=scaffold))
        if checkpoint_dir and (save_checkpoint_secs or save_checkpoint_steps):
            all_hooks.append(basic.CheckpointSaverHook(
                checkpoint_dir, save_secs=save_checkpoint_secs,
                save_steps=save_checkpoint_steps, scaffold=scaffold))
    creator = ChiefSessionCreator(scaffold, master, config, checkpoint_dir)
    return MonitoredSession(creator, all_hooks, stop_grace_period_secs)


def _every(secs: Any, steps: Any, default: tuple[Any, Any]) -> tuple[Any, Any]:
    """TF's rule for an "every N seconds" / "every N steps" pair: given neither, the default
    pair; given one, the other is off."""
    if secs is USE_DEFAULT and steps is USE_DEFAULT:
        return default
    return (None if secs is USE_DEFAULT else secs, None if steps is USE_DEFAULT else steps)
