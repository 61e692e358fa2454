"""The runner end to end: real subprocesses, real packages in the object store, the real DB."""

from __future__ import annotations

import textwrap
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from api.services.jobs import cancel_job
from jobs.executor import LocalExecutor, ProcessSpec
from jobs.runner import Runner
from storage.config import Settings
from storage.db import Database
from storage.models import Metric
from storage.stores import open_store
from tests.jobs.helpers import (
    SLEEPER,
    fast_settings,
    job_row,
    logs,
    pid_gone,
    put_package,
    submit,
    tar_gz,
    wait_for,
    wait_state,
)

REPORTER = """
    import json, os, sys, time
    # Logs and metrics in both formats; waits for the test between phases.
    gate = sys.argv[sys.argv.index("--gate") + 1]
    def wait(name):
        while not os.path.exists(os.path.join(gate, name)):
            time.sleep(0.02)
    print("hello from stdout", flush=True)
    print("job dir:", sys.argv[sys.argv.index("--job-dir") + 1], flush=True)
    print("careful on stderr", file=sys.stderr, flush=True)
    print("x" * 100_000, flush=True)
    with open(os.environ["KUMO_METRICS_FILE"], "a") as f:  # the engine's summary writer
        for step in (1, 2):
            f.write(json.dumps({"tag": "loss", "value": 1.0 / step, "step": step,
                                "wall_time": time.time()}) + "\\n")
        f.write("not json\\n")
    wait("phase2")
    reports = []  # cloudml-hypertune rewrites its whole file on every report
    for step, value in ((10, "0.5"), (20, "0.75")):
        reports.append(json.dumps({"timestamp": time.time(), "trial": "0",
                                   "accuracy": value, "global_step": str(step),
                                   "checkpoint_path": ""}))
        with open(os.environ["CLOUD_ML_HP_METRIC_FILE"], "w") as f:
            f.write("\\n".join(reports) + "\\n")
    wait("finish")
"""

FAILING = """
    print("about to fail", flush=True)
    raise ValueError("boom")
"""


def metrics(db: Database, pk: int) -> list[tuple[str, int | None, float]]:
    with db.session() as session:
        return [tuple(row) for row in session.execute(
            select(Metric.tag, Metric.step, Metric.value).where(Metric.job_pk == pk)
            .order_by(Metric.id))]


def test_job_streams_logs_and_metrics_while_running_and_succeeds(
        job_settings: Settings, job_db: Database, trainer_package: Callable[..., str],
        start_runner: Callable[..., Runner], tmp_path: Path) -> None:
    uri = trainer_package(reporter=REPORTER)
    pk = submit(job_db, job_settings, "trainer.reporter", package_uris=[uri],
                args=["--gate", str(tmp_path)])
    start_runner(job_settings, job_db)

    wait_for(lambda: [m for m in metrics(job_db, pk) if m[0] == "loss"] == [
        ("loss", 1, 1.0), ("loss", 2, 0.5)], what="engine metrics")
    wait_for(lambda: "careful on stderr" in logs(job_db, pk, "stderr"), what="stderr")
    running = job_row(job_db, pk)
    assert running.state == "RUNNING" and running.start_time and not running.end_time
    stdout = logs(job_db, pk, "stdout")
    assert stdout[:2] == ["hello from stdout", f"job dir: {running.job_dir}"]
    long_line = stdout[2]
    assert long_line.startswith("x" * 1000) and long_line.endswith("more bytes cut]")
    assert len(long_line) < 20_000
    wait_for(lambda: any("Ignored a metrics line (not JSON)" in t
                         for t in logs(job_db, pk, "system")), what="bad-line note")

    (tmp_path / "phase2").touch()
    wait_for(lambda: [m for m in metrics(job_db, pk) if m[0] == "accuracy"] == [
        ("accuracy", 10, 0.5), ("accuracy", 20, 0.75)], what="hypertune metrics")
    (tmp_path / "finish").touch()

    job = wait_state(job_db, pk, "SUCCEEDED", "FAILED")
    assert (job.state, job.error_message) == ("SUCCEEDED", "")
    assert job.start_time <= job.end_time and job.attempts == 1
    assert len(metrics(job_db, pk)) == 4  # the rewritten hypertune file counted once
    system = logs(job_db, pk, "system")
    assert system[0].startswith("Job started on runner")
    assert system[-1] == "Job completed successfully."
    assert any(t.startswith("Running: python -m trainer.reporter --gate") for t in system)


def test_failing_module_fails_the_job_with_its_last_error_line(
        job_settings: Settings, job_db: Database, trainer_package: Callable[..., str],
        start_runner: Callable[..., Runner]) -> None:
    pk = submit(job_db, job_settings, "trainer.failing",
                package_uris=[trainer_package(failing=FAILING)])
    start_runner(job_settings, job_db)
    job = wait_state(job_db, pk, "SUCCEEDED", "FAILED")
    assert job.state == "FAILED"
    assert job.error_message == ("The replica exited with a non-zero status of 1: "
                                 "ValueError: boom")
    assert "about to fail" in logs(job_db, pk, "stdout")
    assert "Traceback (most recent call last):" in logs(job_db, pk, "stderr")
    assert logs(job_db, pk, "system")[-1] == f"Job failed: {job.error_message}"


def test_numpy_in_another_thread_keeps_going_while_job_processes_start(
        job_settings: Settings, job_db: Database, trainer_package: Callable[..., str],
        start_runner: Callable[..., Runner]) -> None:
    """`kumo serve` predicts (and a study proposes trials) with numpy in threads while the
    runner starts processes: starting one must not fork() under a multi-threaded BLAS call,
    whose thread pool OpenBLAS shuts down at fork, leaving the call waiting forever."""
    uri = trainer_package(quick="print('done')")
    pks = [submit(job_db, job_settings, "trainer.quick", package_uris=[uri]) for _ in range(4)]
    a, b = np.random.default_rng(0).random((3000, 16)), np.ones((16, 16))
    stop, products = threading.Event(), [0]

    def multiply() -> None:  # the GP's product; OpenBLAS runs it on its threads
        while not stop.is_set():
            a @ b.T
            products[0] += 1

    thread = threading.Thread(target=multiply, daemon=True)
    thread.start()
    start_runner(job_settings, job_db)
    try:
        for pk in pks:
            assert wait_state(job_db, pk, "SUCCEEDED", "FAILED").state == "SUCCEEDED"
        before = products[0]
        wait_for(lambda: products[0] > before, timeout=5, what="numpy to go on multiplying")
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()


@pytest.mark.parametrize(("module", "packages", "message"), [
    ("no_such_module", None, "No module named no_such_module"),
    ("trainer.absent", {"trainer/__init__.py": ""}, "No module named trainer.absent"),
    ("trainer.task", b"this is not a tarball",
     "Package {uri} is not a valid .tar.gz archive"),
    ("trainer.task", {"../evil.py": "print('escaped')"}, "Package {uri} is unsafe to unpack"),
    ("trainer.task; rm -rf /", None, "is not a Python module name"),
])
def test_jobs_that_cannot_run_fail_with_a_clear_message(
        job_settings: Settings, job_db: Database, start_runner: Callable[..., Runner],
        module: str, packages: dict[str, str] | bytes | None, message: str) -> None:
    uris = []
    if packages is not None:
        data = packages if isinstance(packages, bytes) else tar_gz(packages)
        uris = [put_package(job_settings, "pkg.tar.gz", data)]
    pk = submit(job_db, job_settings, module, package_uris=uris)
    start_runner(job_settings, job_db)
    job = wait_state(job_db, pk, "SUCCEEDED", "FAILED")
    assert job.state == "FAILED"
    assert message.format(uri=uris[0] if uris else "") in job.error_message
    assert job.end_time is not None


def test_missing_package_fails_the_job(job_settings: Settings, job_db: Database,
                                       start_runner: Callable[..., Runner]) -> None:
    uri = f"{job_settings.resolved_store_url}/packages/nowhere.tar.gz"
    pk = submit(job_db, job_settings, "trainer.task", package_uris=[uri])
    start_runner(job_settings, job_db)
    job = wait_state(job_db, pk, "SUCCEEDED", "FAILED")
    assert (job.state, job.error_message) == ("FAILED", f"Package {uri} was not found.")


def test_cancel_stops_a_running_job(job_settings: Settings, job_db: Database,
                                    trainer_package: Callable[..., str],
                                    start_runner: Callable[..., Runner], tmp_path: Path) -> None:
    out = tmp_path / "pids"
    pk = submit(job_db, job_settings, "trainer.sleeper", args=["--out", str(out)],
                package_uris=[trainer_package(sleeper=SLEEPER)])
    start_runner(job_settings, job_db)
    wait_for(lambda: "sleeping" in logs(job_db, pk, "stdout"), what="the job to run")
    pid = int(out.read_text())
    with job_db.session() as session:
        assert cancel_job(session, "default", job_row(job_db, pk).job_id).state == "CANCELLING"
    job = wait_state(job_db, pk, "CANCELLED", timeout=5)
    assert job.end_time is not None and job.error_message == ""
    assert pid_gone(pid)
    assert logs(job_db, pk, "system")[-2:] == ["Stopping the process: the job was cancelled.",
                                               "Job cancelled."]


def test_cancel_kills_a_job_that_ignores_sigterm_after_the_grace_period(
        job_settings: Settings, job_db: Database, trainer_package: Callable[..., str],
        start_runner: Callable[..., Runner], tmp_path: Path) -> None:
    out = tmp_path / "pids"
    pk = submit(job_db, job_settings, "trainer.sleeper",
                args=["--out", str(out), "--ignore-term"],
                package_uris=[trainer_package(sleeper=SLEEPER)])
    start_runner(job_settings, job_db, kill_grace=0.5)
    wait_for(lambda: "sleeping" in logs(job_db, pk, "stdout"), what="the job to run")
    with job_db.session() as session:
        cancel_job(session, "default", job_row(job_db, pk).job_id)
    wait_state(job_db, pk, "CANCELLED", timeout=5)
    assert pid_gone(int(out.read_text()))


def test_cancelled_queued_job_never_runs(job_settings: Settings, job_db: Database,
                                         trainer_package: Callable[..., str],
                                         start_runner: Callable[..., Runner],
                                         tmp_path: Path) -> None:
    out = tmp_path / "pids"
    pk = submit(job_db, job_settings, "trainer.sleeper", args=["--out", str(out)],
                package_uris=[trainer_package(sleeper=SLEEPER)])
    with job_db.session() as session:
        assert cancel_job(session, "default", job_row(job_db, pk).job_id).state == "CANCELLED"
    later = submit(job_db, job_settings, "trainer.failing",
                   package_uris=[trainer_package("f.tar.gz", failing=FAILING)])
    start_runner(job_settings, job_db)
    wait_state(job_db, later, "FAILED")  # the runner has looked at the queue
    assert job_row(job_db, pk).state == "CANCELLED" and job_row(job_db, pk).attempts == 0
    assert not out.exists()


def test_stopping_a_runner_gives_its_jobs_back(job_settings: Settings, job_db: Database,
                                              trainer_package: Callable[..., str],
                                              tmp_path: Path) -> None:
    out = tmp_path / "pids"
    pk = submit(job_db, job_settings, "trainer.sleeper", args=["--out", str(out)],
                package_uris=[trainer_package(sleeper=SLEEPER)])
    runner = Runner(job_settings, job_db)
    assert runner.run_once() == 1
    wait_state(job_db, pk, "RUNNING")
    wait_for(out.exists, what="the job to start")
    runner.stop()
    job = job_row(job_db, pk)
    assert (job.state, job.attempts, job.runner_id) == ("QUEUED", 0, None)
    assert pid_gone(int(out.read_text()))
    assert logs(job_db, pk, "system")[-1].endswith("shut down; the job is queued again.")
    assert runner.run_once() == 0  # a stopped runner claims nothing


class _BrokenExecutor(LocalExecutor):
    """An executor that fails on one module: the runner's own failure on one job."""

    def submit(self, spec: ProcessSpec, on_start: Callable[[], bool]):  # type: ignore[override]
        if spec.module == "trainer.broken":
            raise RuntimeError("executor exploded")
        return super().submit(spec, on_start)


def test_runner_failure_on_one_job_fails_it_and_the_loop_goes_on(
        job_settings: Settings, job_db: Database, trainer_package: Callable[..., str]) -> None:
    broken = submit(job_db, job_settings, "trainer.broken")
    fine = submit(job_db, job_settings, "trainer.failing",
                  package_uris=[trainer_package(failing=FAILING)])
    runner = Runner(job_settings.model_copy(update={"workers": 1}), job_db,
                    executor=_BrokenExecutor(job_settings, job_db))
    try:
        wait_for(lambda: (runner.run_once(), job_row(job_db, fine).state == "FAILED")[1],
                 what="both jobs to end")
        job = wait_state(job_db, broken, "FAILED")
        assert job.error_message == "Internal error in the job runner: executor exploded"
        wait_state(job_db, fine, "FAILED")
    finally:
        runner.stop()


def test_job_with_a_package_runs_on_both_platforms(
        platform_settings: Settings, databases: Callable[[Settings], Database],
        start_runner: Callable[..., Runner]) -> None:
    settings = fast_settings(platform_settings)
    db = databases(settings)
    uri = put_package(settings, "hello.tar.gz", tar_gz({
        "hello-1.0/setup.py": "", "hello-1.0/hello/__init__.py": "",
        "hello-1.0/hello/task.py": "import os; print('store', os.environ['KUMO_STORE_URL'])"}))
    assert uri.startswith(settings.resolved_store_url)
    pk = submit(db, settings, "hello.task", package_uris=[uri])
    start_runner(settings, db)
    job = wait_state(db, pk, "SUCCEEDED", "FAILED")
    assert (job.state, job.error_message) == ("SUCCEEDED", "")
    assert logs(db, pk, "stdout") == [f"store {settings.resolved_store_url}"]


TF1_TRAINER = """
    import numpy as np
    import engine as tf

    tf.app.flags.DEFINE_string("job_dir", "", "where the platform wants outputs")
    tf.app.flags.DEFINE_integer("max_steps", 40, "training steps")
    FLAGS = tf.app.flags.FLAGS

    def main(argv):
        rng = np.random.default_rng(0)
        x = rng.standard_normal((64, 2)).astype(np.float32)
        y = x @ np.array([[1.5], [-0.5]], np.float32)
        step = tf.train.get_or_create_global_step()
        features, target = tf.data.Dataset.from_tensor_slices((x, y)).batch(16).repeat() \\
            .make_one_shot_iterator().get_next()
        w = tf.Variable(tf.zeros([2, 1]))
        loss = tf.reduce_mean(tf.square(tf.matmul(features, w) - target))
        tf.summary.scalar("loss", loss)
        train = tf.train.GradientDescentOptimizer(0.2).minimize(loss, global_step=step)
        hooks = [tf.train.StopAtStepHook(last_step=FLAGS.max_steps)]
        with tf.train.MonitoredTrainingSession(checkpoint_dir=FLAGS.job_dir, hooks=hooks,
                                               save_summaries_steps=10) as sess:
            while not sess.should_stop():
                sess.run(train)
        print("trained for", FLAGS.max_steps, "steps; job dir", FLAGS.job_dir)

    if __name__ == "__main__":
        tf.app.run()
"""


def test_a_tf1_trainer_with_flags_and_a_monitored_session_reports_its_summaries(
        platform_settings: Settings, databases: Callable[[Settings], Database],
        start_runner: Callable[..., Runner]) -> None:
    """Its checkpoints go to its job dir: a file:// URI on the embedded store, an s3:// one
    on MinIO-style storage (the engine writes there through storage's gfile file system)."""
    settings = fast_settings(platform_settings)
    db = databases(settings)
    uri = put_package(settings, "tf1.tar.gz", tar_gz({
        "tf1-1.0/setup.py": "", "tf1-1.0/trainer/__init__.py": "",
        "tf1-1.0/trainer/task.py": textwrap.dedent(TF1_TRAINER)}))
    pk = submit(db, settings, "trainer.task", package_uris=[uri], args=["--max_steps=40"])
    start_runner(settings, db)
    job = wait_state(db, pk, "SUCCEEDED", "FAILED", timeout=60)
    assert (job.state, job.error_message) == ("SUCCEEDED", ""), logs(db, pk)
    assert logs(db, pk, "stdout") == [f"trained for 40 steps; job dir {job.job_dir}"]
    losses = [m for m in metrics(db, pk) if m[0] == "loss"]
    assert [step for _, step, _ in losses] == [1, 11, 21, 31]
    assert losses[-1][2] < losses[0][2] / 10
    outputs = open_store(job.job_dir, settings)
    assert outputs.exists("model.ckpt-40.npz") and outputs.exists("checkpoint")
