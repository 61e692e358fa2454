"""Where job processes run. One process = one `ProcessSpec` (a job, or one trial of a
tuning job); `Executor.submit` starts it and returns an `Execution` to cancel or wait on.

`run_process` is the whole life of one process: fresh work dir, packages unpacked onto
PYTHONPATH, `python -m <module> <args> --job-dir <job_dir>` in its own process group,
stdout/stderr and metrics collected into the DB while it runs, cancel = SIGTERM to the group
and SIGKILL after a grace period, and an `Outcome` at the end. `LocalExecutor` runs it in a
thread on this machine; an executor for other machines (Dask) runs the same function there.

A job process must not outlive its runner: if the runner is killed (SIGKILL, OOM killer) no
one would ever stop or account for the process. On Linux the child asks the kernel for
SIGKILL when its parent dies (prctl PR_SET_PDEATHSIG, followed by a check that the parent
has not died already). The child does that itself, as its first act, before it runs the
module (`_LAUNCH`): set by a preexec_fn instead, it would make subprocess fork() rather than
vfork(), and fork() runs OpenBLAS's at-fork handler, which shuts its thread pool down under
any numpy call running in another thread of this process (a GP proposal of a tuning study, a
prediction of `kumo serve`): that call then waits forever. The kernel sends it when the *thread*
that forked the child exits, so the thread that starts a process is the one that waits for
it (`run_process` does both). Processes the job itself starts in its process group are
stopped with it on cancel and at its end, but not by the death signal.
"""

from __future__ import annotations

import abc
import logging
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

import jobs
from jobs.collect import Collector
from jobs.packages import PackageError, fetch_packages
from jobs.queue import CANCELLED, FAILED, SUCCEEDED
from storage.config import Settings
from storage.db import Database

log = logging.getLogger("kumo.runner")

KILL_GRACE = 5.0
"""Seconds between SIGTERM and SIGKILL on cancel: time for a trainer to save a checkpoint."""
FLUSH_INTERVAL = 0.2
"""Seconds between writes of collected output (and checks for the process's end)."""
PIPE_DRAIN_TIMEOUT = 5.0
"""How long output is still read after the process ended (from processes it left behind
that escaped its group but kept its stdout)."""

STOP_REASONS = {"cancelled": "the job was cancelled",
                "lost": "this runner lost the job to another runner",
                "shutdown": "the runner is shutting down",
                "stopped_early": "early stopping: the trial is behind the completed trials",
                "study_failed": "too many trials of the study failed",
                "error": "the job runner failed"}
_MODULE_NAME = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
# python -c _LAUNCH RUNNER_PID MODULE ARGS...: `python -m MODULE ARGS...` that dies with the
# runner (see module doc); it imports nothing of kumo's, so a user package cannot shadow it.
_LAUNCH = """\
import ctypes, os, signal, sys
runner, module = int(sys.argv.pop(1)), sys.argv.pop(1)
ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
if os.getppid() != runner:  # the runner died before prctl took effect
    os._exit(1)
del ctypes, os, signal, sys, runner
__import__("runpy")._run_module_as_main(module)  # what `python -m` calls: same errors
"""


@dataclass(frozen=True)
class ProcessSpec:
    """One process to run: `python -m module *args --job-dir job_dir`."""

    job_pk: int
    job_id: str
    module: str
    args: tuple[str, ...]
    job_dir: str
    package_uris: tuple[str, ...] = ()
    trial_id: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    """Extra environment (e.g. a trial's metric tag), on top of what every process gets."""

    def __post_init__(self) -> None:
        if not _MODULE_NAME.fullmatch(self.module):
            raise ValueError(f"pythonModule {self.module!r} is not a Python module name "
                             "(dotted identifiers, e.g. trainer.task).")

    def argv(self) -> list[str]:
        return [sys.executable, "-m", self.module, *self.args, "--job-dir", self.job_dir]


@dataclass(frozen=True)
class Outcome:
    """How a process ended. `cancel_reason` says who stopped a CANCELLED one: the user
    ("cancelled"), a lost heartbeat ("lost") or the runner's shutdown ("shutdown")."""

    state: str
    error_message: str = ""
    cancel_reason: str | None = None


class Execution:
    """A submitted process: cancel it, or wait for its Outcome."""

    def __init__(self) -> None:
        self.future: Future[Outcome] = Future()
        self._cancel = threading.Event()
        self.cancel_reason: str | None = None

    def cancel(self, reason: str = "cancelled") -> None:
        """Ask the process to stop (SIGTERM, then SIGKILL); the first reason given sticks."""
        if self.cancel_reason is None:
            self.cancel_reason = reason
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def wait_cancel(self, timeout: float) -> bool:
        return self._cancel.wait(timeout)

    def result(self, timeout: float | None = None) -> Outcome:
        return self.future.result(timeout)


class Executor(abc.ABC):
    """Runs ProcessSpecs somewhere."""

    @abc.abstractmethod
    def submit(self, spec: ProcessSpec, on_start: Callable[[], bool]) -> Execution:
        """Start `spec`. `on_start()` is called once the process runs; if it answers False
        (the job was cancelled or taken away meanwhile) the process is stopped."""


class LocalExecutor(Executor):
    """Subprocesses on this machine, one thread each (the thread starts, watches and reaps
    its process)."""

    def __init__(self, settings: Settings, database: Database, *,
                 kill_grace: float = KILL_GRACE, flush_interval: float = FLUSH_INTERVAL) -> None:
        self.settings = settings
        self.database = database
        self.kill_grace = kill_grace
        self.flush_interval = flush_interval

    def submit(self, spec: ProcessSpec, on_start: Callable[[], bool]) -> Execution:
        execution = Execution()
        threading.Thread(target=self._run, args=(spec, on_start, execution), daemon=True,
                         name=f"kumo-job-{spec.job_pk}").start()
        return execution

    def _run(self, spec: ProcessSpec, on_start: Callable[[], bool],
             execution: Execution) -> None:
        try:
            outcome = run_process(spec, self.settings, self.database, execution, on_start,
                                  kill_grace=self.kill_grace,
                                  flush_interval=self.flush_interval)
        except BaseException as exc:
            execution.future.set_exception(exc)
        else:
            execution.future.set_result(outcome)


def make_executor(settings: Settings, database: Database) -> Executor:
    """The executor `settings.executor` names."""
    if settings.executor == "local":
        return LocalExecutor(settings, database)
    raise ValueError(f"KUMO_EXECUTOR={settings.executor!r}: only 'local' is available in this "
                     "version.")


def settings_env(settings: Settings) -> dict[str, str]:
    """The KUMO_* variables that give a job process this runner's configuration (resolved:
    the process runs in another directory), so code like the built-in trainers opens the
    same object store. The metadata DB's URL is left out: job code has no business there."""
    values = settings.model_dump(exclude={"database_url"})
    values.update(data_dir=settings.data_dir.resolve(), home=settings.home.expanduser(),
                  store_url=settings.resolved_store_url)
    return {f"KUMO_{name.upper()}": str(value).lower() if isinstance(value, bool) else str(value)
            for name, value in values.items() if value is not None}


def process_env(settings: Settings, spec: ProcessSpec, workdir: Path,
                import_paths: list[Path]) -> dict[str, str]:
    """The environment of a job process: the runner's own, with KUMO_* replaced by
    `settings_env`, user packages first on PYTHONPATH and kumo itself last (so `jobs.builtin`
    imports however kumo was installed), and the CloudML variables."""
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("KUMO_", "CLOUD_ML_"))}
    env.update(settings_env(settings))
    kumo_root = str(Path(jobs.__file__).resolve().parent.parent)
    inherited = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join([*map(str, import_paths), *inherited, kumo_root])
    metrics_file = str(workdir / "metrics.jsonl")
    env.update(PYTHONUNBUFFERED="1", KUMO_METRICS_FILE=metrics_file,
               CLOUD_ML_HP_METRIC_FILE=metrics_file, CLOUD_ML_JOB_ID=spec.job_id)
    if spec.trial_id is not None:
        env["CLOUD_ML_TRIAL_ID"] = spec.trial_id
    env.update(spec.env)
    return env


def _dying_with_runner(argv: list[str]) -> list[str]:
    """`python -m module args` as a command that dies with this process (see module doc)."""
    if sys.platform != "linux":
        return argv
    python, _, module, *args = argv
    return [python, "-c", _LAUNCH, str(os.getpid()), module, *args]


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        log.debug("process group %d already gone", pgid)


def _exited(pid: int) -> bool:
    """Whether `pid` has exited, without reaping it: while it is an unreaped zombie its
    process group id cannot be reused, so signalling the group stays safe."""
    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None


def failure_message(returncode: int, last_stderr_line: str) -> str:
    """CloudML-style errorMessage of a process that failed."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        message = f"The replica was killed by {name}"
    else:
        message = f"The replica exited with a non-zero status of {returncode}"
    return f"{message}: {last_stderr_line}" if last_stderr_line else f"{message}."


def run_process(spec: ProcessSpec, settings: Settings, database: Database,
                execution: Execution, on_start: Callable[[], bool], *,
                kill_grace: float = KILL_GRACE,
                flush_interval: float = FLUSH_INTERVAL) -> Outcome:
    """Run `spec` to its end (see module doc); raises only on the runner's own failures,
    and then only after the process is gone."""
    workdir = Path(tempfile.mkdtemp(prefix=f"kumo-job-{spec.job_pk}-"))
    collector = Collector(database, spec.job_pk, spec.trial_id, workdir / "metrics.jsonl")
    try:
        try:
            if spec.package_uris:
                collector.system(f"Fetching {len(spec.package_uris)} package(s).")
            import_paths = fetch_packages(list(spec.package_uris), settings,
                                          workdir / "packages")
        except PackageError as exc:
            return Outcome(FAILED, str(exc))
        if execution.cancelled:
            return Outcome(CANCELLED, cancel_reason=execution.cancel_reason)
        argv = spec.argv()
        collector.system(f"Running: python {shlex.join(argv[1:])}")
        proc = subprocess.Popen(_dying_with_runner(argv), cwd=workdir, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=process_env(settings, spec, workdir, import_paths),
                                start_new_session=True)
        try:
            assert proc.stdout is not None and proc.stderr is not None
            pumps = [collector.pump("stdout", proc.stdout),
                     collector.pump("stderr", proc.stderr)]
            if not on_start():
                execution.cancel()
            stopped = _watch(proc, execution, collector, kill_grace, flush_interval)
        finally:  # on the runner's own error too: no process is left behind
            _signal_group(proc.pid, signal.SIGKILL)
            returncode = proc.wait()
        deadline = time.monotonic() + PIPE_DRAIN_TIMEOUT
        for pump in pumps:  # the rest of its output, flushing so the pumps never block
            while pump.is_alive() and time.monotonic() < deadline:
                collector.flush()
                pump.join(flush_interval)
        if stopped:
            return Outcome(CANCELLED, cancel_reason=execution.cancel_reason)
        if returncode == 0:
            return Outcome(SUCCEEDED)
        return Outcome(FAILED, failure_message(returncode, collector.last_stderr_line))
    finally:
        collector.flush(final=True)
        shutil.rmtree(workdir, onerror=lambda _f, path, exc: log.warning(
            "could not remove %s: %s", path, exc[1]))


def _watch(proc: subprocess.Popen[bytes], execution: Execution, collector: Collector,
           kill_grace: float, flush_interval: float) -> bool:
    """Flush output until the process exits, stopping it if cancelled; True if it was
    stopped (a process that ended by itself keeps its own outcome). It is left unreaped:
    the caller kills what it left in its group, then reaps it."""
    term_sent: float | None = None
    while not _exited(proc.pid):
        if execution.cancelled and term_sent is None:
            why = STOP_REASONS.get(execution.cancel_reason or "", execution.cancel_reason)
            collector.system(f"Stopping the process: {why}.")
            _signal_group(proc.pid, signal.SIGTERM)
            term_sent = time.monotonic()
        elif term_sent is not None and time.monotonic() - term_sent > kill_grace:
            _signal_group(proc.pid, signal.SIGKILL)
        try:
            collector.flush()
        except Exception:  # the DB is briefly unavailable: the rows stay pending
            log.warning("could not write job %d output yet", collector.job_pk, exc_info=True)
        if term_sent is None:
            execution.wait_cancel(flush_interval)
        else:
            time.sleep(flush_interval)
    return term_sent is not None
