"""`kumo serve --runners 0` serves the API only and `kumo worker` is the runner alone: a job
submitted to the first waits in the queue until a worker sharing its database and store
runs it; the worker stops cleanly on SIGTERM."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.cli.conftest import kumo, ok, running, serving

pytestmark = pytest.mark.timeout(120)


def test_a_worker_runs_what_the_api_queued(tmp_path: Path) -> None:
    with serving(tmp_path, "--runners", "0") as server:
        # `python -m this` prints the Zen of Python and ignores its arguments.
        ok(kumo(server, "jobs", "submit", "training", "queued", "--module-name", "this",
                "--job-dir", (tmp_path / "out").as_uri(), "--async"))
        time.sleep(1.5)  # three heartbeats: a runner would have claimed it by now
        state = ok(kumo(server, "jobs", "describe", "queued", "--format",
                        "value(state,jobDir)"))
        assert state.stdout == f"QUEUED\t{(tmp_path / 'out').as_uri()}\n"
        with running(["worker"], tmp_path) as worker:
            logs = ok(kumo(server, "jobs", "stream-logs", "queued"))
            worker.terminate()
            assert worker.wait(timeout=30) == 0
    assert "Beautiful is better than ugly." in logs.stdout
    assert logs.stderr.startswith("Job queued SUCCEEDED")
