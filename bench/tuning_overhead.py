"""Platform overhead of a hyperparameter tuning study: 20 trials of a tiny trainer with
maxParallelTrials 4 run by kumo (a runner on the embedded SQLite + file store: package fetch,
process start, log and metric collection, the searcher, DB writes) against the same 20
commands run by hand, 4 at a time, with the trainer already unpacked, in one run.
bench/tuning.py prints it too, after the search quality.

    python bench/tuning_overhead.py [--trials 20] [--parallel 4] [--work 0.5]
                                    [--algorithm ALGORITHM_UNSPECIFIED]

Per-trial overhead = (study wall time - by-hand wall time) x parallel / trials: the slot time
the platform adds to each trial. The study's wall time runs from the job's start (the runner
has claimed it) to its end, both as recorded in the DB. Target: under 1 s per trial.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select

from jobs.queue import FINAL_STATES, as_utc
from jobs.runner import Runner
from jobs.study import format_value
from jobs.tuning.spec import parse_spec
from storage.config import Settings
from storage.db import Database
from storage.models import Job, Project, Trial
from storage.stores import open_store

# Works `--work` seconds (sleeping, so trials in parallel do not compete for cores), reporting
# its metric 10 times.
TRAINER = """
import sys, time
from jobs.hypertune import HyperTune
args = dict(a.lstrip("-").split("=", 1) for a in sys.argv[1:] if "=" in a)
work, x = float(args["work"]), float(args["x"])
reporter = HyperTune()
for step in range(1, 11):
    time.sleep(work / 10)
    reporter.report_hyperparameter_tuning_metric("score", -(x - 0.3) ** 2, global_step=step)
"""


def package() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, text in (("trainer/__init__.py", ""), ("trainer/tiny.py", TRAINER)):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def run_study(settings: Settings, db: Database, uri: str, args: argparse.Namespace
              ) -> tuple[float, list[dict[str, object]]]:
    """The study's wall time (job start to end) and its trials' parameters."""
    spec = parse_spec({"algorithm": args.algorithm, "hyperparameterMetricTag": "score",
                       "maxTrials": args.trials, "maxParallelTrials": args.parallel,
                       "params": [{"parameterName": "x", "type": "DOUBLE", "minValue": 0,
                                   "maxValue": 1}]})
    with db.session() as session:
        session.add(Project(name="bench"))
        session.flush()
        job = Job(project="bench", job_id="overhead", job_dir=f"{settings.resolved_store_url}"
                  f"/projects/bench/jobs/overhead", training_input={
                      "pythonModule": "trainer.tiny", "args": [f"--work={args.work}"],
                      "packageUris": [uri], "hyperparameters": spec.to_api()})
        session.add(job)
        session.flush()
        pk = job.id
    runner, stop = Runner(settings, db), threading.Event()
    thread = threading.Thread(target=runner.run_forever, args=(stop,), daemon=True)
    thread.start()
    try:
        while True:
            with db.session() as session:
                job = session.get_one(Job, pk)
                if job.state in FINAL_STATES:
                    break
            time.sleep(0.05)
        if job.state != "SUCCEEDED":
            raise SystemExit(f"the study ended {job.state}: {job.error_message}")
        assert job.start_time is not None and job.end_time is not None
        wall = (as_utc(job.end_time) - as_utc(job.start_time)).total_seconds()
        with db.session() as session:
            params = [dict(hp) for hp in session.scalars(
                select(Trial.hyperparameters).where(Trial.job_pk == pk).order_by(Trial.id))]
    finally:
        stop.set()
        thread.join(60)
    return wall, params


def run_by_hand(workdir: Path, params: list[dict[str, object]], args: argparse.Namespace
                ) -> float:
    """The same trials as plain subprocesses, `parallel` at a time; their wall time."""
    with tarfile.open(fileobj=io.BytesIO(package())) as tar:
        tar.extractall(workdir / "code", filter="data")
    kumo_root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(workdir / "code"), kumo_root])}

    def one(index: int) -> None:
        trial_env = {**env, "CLOUD_ML_HP_METRIC_FILE": str(workdir / f"metrics-{index}")}
        flags = [f"--{k}={format_value(v)}" for k, v in params[index].items()]
        subprocess.run([sys.executable, "-m", "trainer.tiny", f"--work={args.work}", *flags,
                        "--job-dir", str(workdir / "out" / str(index))], env=trial_env,
                       check=True, stdout=subprocess.DEVNULL)

    start = time.perf_counter()
    with ThreadPoolExecutor(args.parallel) as pool:
        list(pool.map(one, range(len(params))))
    return time.perf_counter() - start


def measure(trials: int = 20, parallel: int = 4, work: float = 0.5,
            algorithm: str = "ALGORITHM_UNSPECIFIED") -> None:
    """Run the study and the same trials by hand; print both and the overhead per trial."""
    args = argparse.Namespace(trials=trials, parallel=parallel, work=work, algorithm=algorithm)
    with tempfile.TemporaryDirectory(prefix="kumo-bench-tuning-") as tmp:
        root = Path(tmp)
        settings = Settings(data_dir=root / "kumo-data", home=root / "home", database_url="",
                            store_url="", workers=1)
        db = Database(settings.resolved_database_url)
        db.migrate()
        try:
            store = open_store(settings.resolved_store_url, settings)
            uri = store.put_bytes("packages/tiny.tar.gz", package()).uri
            study, params = run_study(settings, db, uri, args)
        finally:
            db.dispose()
        by_hand = run_by_hand(root, params, args)
    per_trial = (study - by_hand) * parallel / trials
    waves = -(-trials // parallel)
    print(f"platform overhead: {trials} trials, {parallel} in parallel, {work:g} s of work "
          f"each, {algorithm}")
    print(f"  kumo study:  {study:6.2f} s  (job start to end)")
    print(f"  by hand:     {by_hand:6.2f} s  (ideal {waves * work:.2f} s of work)")
    print(f"  ratio kumo / by hand: {study / by_hand:.2f}x")
    print(f"  platform overhead per trial: {per_trial:.3f} s (target < 1 s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--work", type=float, default=0.5,
                        help="seconds each trial works (default 0.5)")
    parser.add_argument("--algorithm", default="ALGORITHM_UNSPECIFIED",
                        choices=("ALGORITHM_UNSPECIFIED", "GRID_SEARCH", "RANDOM_SEARCH"))
    args = parser.parse_args()
    measure(args.trials, args.parallel, args.work, args.algorithm)


if __name__ == "__main__":
    main()
