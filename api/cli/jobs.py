"""`kumo jobs submit training|describe|list|cancel|stream-logs|metrics`, as gcloud's
`ml-engine jobs` verbs."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from api.cli import output
from api.cli.client import Api, Cli, CliError
from api.cli.data import staging_folder, upload_paths
from api.cli.package import build_package
from api.cli.params import Async, Labels, Limit, parse_labels

ENDED = ("SUCCEEDED", "FAILED", "CANCELLED")
POLL_SECONDS = 1.0

app = typer.Typer(no_args_is_help=True, help="""Training jobs: submit, follow, inspect, cancel.

\b
Examples:
  kumo jobs submit training iris_1 --module-name jobs.builtin.dnn --async -- \\
      --train-files "$TRAIN" --label-column species --model-type classification
  kumo jobs stream-logs iris_1
  kumo jobs list --filter state=FAILED --limit 5
""")
submit = typer.Typer(no_args_is_help=True, help="""Submit a job.

\b
Example:
  kumo jobs submit training my_job --module-name trainer.task --package-path ./trainer \\
      --config hptuning_config.yaml --stream-logs -- --epochs 5
""")
app.add_typer(submit, name="submit")

JobId = Annotated[str, typer.Argument(metavar="JOB_ID", help="The job's ID.")]
Trial = Annotated[str | None, typer.Option("--trial", metavar="TRIAL_ID",
                                           help="Only this trial's (hyperparameter tuning).")]


def _load_config(path: Path) -> dict[str, Any]:
    """A Job's fields from YAML or JSON (`trainingInput: {...}`, `labels: {...}`), as
    CloudML's config.yaml and hptuning_config.yaml files hold them."""
    import yaml

    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CliError(f"--config {path}: {exc.strerror or exc}", code=2) from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise CliError(f"--config {path}: not YAML or JSON: {exc}", code=2) from None
    loaded = {} if loaded is None else loaded
    if not isinstance(loaded, dict) or not isinstance(loaded.get("trainingInput", {}), dict):
        raise CliError(f"--config {path}: expected a job's fields, e.g. `trainingInput: "
                       f"{{scaleTier: BASIC, hyperparameters: ...}}`", code=2)
    return loaded


def _upload_package(api: Api, path: Path, job_id: str) -> str:
    with tempfile.TemporaryDirectory(prefix="kumo-package-") as tmp:
        archive = build_package(path, Path(tmp))
        (result,) = upload_paths(api, archive,
                                 f"{staging_folder('packages', job_id)}/{archive.name}")
    return result["uri"]


def _seconds(job: dict[str, Any]) -> str:
    if not (job.get("startTime") and job.get("endTime")):
        return ""
    spent = datetime.fromisoformat(job["endTime"]) - datetime.fromisoformat(job["startTime"])
    return f" in {spent.total_seconds():.0f} s"


def _ended(job: dict[str, Any]) -> None:
    """For people: how the job ended (a failure is the error line that follows)."""
    if job["state"] == "SUCCEEDED":
        typer.echo(f"Job {job['jobId']} SUCCEEDED{_seconds(job)}; its outputs are in "
                   f"{job['jobDir']}.")


def _check_succeeded(job: dict[str, Any]) -> None:
    if job["state"] != "SUCCEEDED":
        raise CliError(f"job {job['jobId']} {job['state']}: "
                       f"{job.get('errorMessage') or 'no error message'}")


@contextmanager
def _detachable(job_id: str) -> Iterator[None]:
    """Ctrl-C stops watching, not the job: say so, then exit 130."""
    try:
        yield
    except KeyboardInterrupt:
        output.note(f"Stopped watching; job {job_id} goes on (kumo jobs stream-logs {job_id}, "
                    f"kumo jobs cancel {job_id}).")
        raise typer.Exit(130) from None


def _log_line(entry: dict[str, Any]) -> str:
    prefix = f"[trial {entry['trialId']}] " if entry.get("trialId") else ""
    return prefix + ("[kumo] " if entry["stream"] == "system" else "") + entry["text"]


def _follow(cli: Cli, job_id: str, trial: str | None, *, as_result: bool) -> dict[str, Any]:
    """Print the job's log entries as they come until it ends; then the job. As the result
    (`jobs stream-logs`) they print in --format (json: one entry per line); else as text
    on stdout, or on stderr when the result printed afterwards is for scripts."""
    params = {"follow": "true", **({"trialId": trial} if trial else {})}
    with _detachable(job_id), cli.api.stream("GET", cli.api.url("jobs", job_id, "logs"),
                                             params=params, read_timeout=None) as response:
        for line in response.iter_lines():
            if not line:
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                raise CliError(f"the server sent a log line that is not JSON: "
                               f"{line[:100]!r}") from None
            if as_result and cli.format == "json":
                typer.echo(json.dumps(entry, ensure_ascii=False))
            elif as_result:
                cli.emit(entry, lambda e: typer.echo(_log_line(e)))
            else:
                typer.echo(_log_line(entry), err=not cli.human)
    job = cli.api.call("GET", cli.api.url("jobs", job_id))
    if job["state"] not in ENDED:
        raise CliError(f"the log stream ended while job {job_id} is {job['state']} (the "
                       f"server may be restarting); run `kumo jobs stream-logs {job_id}` again")
    return job


def _wait(cli: Cli, job_id: str) -> dict[str, Any]:
    with _detachable(job_id), output.waiting(f"Job {job_id}: QUEUED") as update:
        while True:
            job = cli.api.call("GET", cli.api.url("jobs", job_id))
            update(f"Job {job_id}: {job['state']}")
            if job["state"] in ENDED:
                return job
            time.sleep(POLL_SECONDS)


@submit.command("training")
def submit_training(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(metavar="JOB_ID", help="A new job ID: letters, "
                                          "digits and underscores, starting with a letter.")],
    module_name: Annotated[str, typer.Option(
        help="The module run with `python -m`: a built-in trainer (jobs.builtin.dnn, "
             "jobs.builtin.linear) or one of --package-path (trainer.task).")],
    package_path: Annotated[Path | None, typer.Option(
        help="Your package's directory: built into a .tar.gz, uploaded, and named in "
             "packageUris.")] = None,
    job_dir: Annotated[str | None, typer.Option(
        help="Where the job writes its outputs (s3:// or file://; default: the job's own "
             "folder in the object store).")] = None,
    config: Annotated[Path | None, typer.Option(
        help="A YAML or JSON file of the job's fields (trainingInput, labels), such as "
             "CloudML's hptuning_config.yaml; the command line wins where both say.")] = None,
    scale_tier: Annotated[str | None, typer.Option(help="BASIC, STANDARD_1, PREMIUM_1, "
                                                   "BASIC_GPU, ... (default BASIC).")] = None,
    labels: Labels = None,
    stream_logs: Annotated[bool, typer.Option(
        "--stream-logs", help="Print the job's logs until it ends.")] = False,
    run_async: Async = False,
    user_args: Annotated[list[str] | None, typer.Argument(
        metavar="[-- USER_ARGS...]", help="Arguments for the module, after --.")] = None,
) -> None:
    """Submit a training job: `python -m MODULE USER_ARGS --job-dir DIR` on the platform.

    It waits for the job to end (with a spinner; --stream-logs prints its logs instead,
    --async returns at once) and exits non-zero unless the job SUCCEEDED.

    \b
    Examples:
      kumo jobs submit training iris_1 --module-name jobs.builtin.dnn --stream-logs -- \\
          --train-files "$TRAIN" --label-column species --model-type classification
      kumo jobs submit training my_job --module-name trainer.task \\
          --package-path ./trainer --config hptuning_config.yaml --async -- --epochs 5
    """
    cli: Cli = ctx.obj
    if stream_logs and run_async:
        raise CliError("jobs submit training: --stream-logs and --async exclude each other",
                       code=2)
    body = _load_config(config) if config else {}
    training = dict(body.get("trainingInput") or {})
    training["pythonModule"] = module_name
    if user_args:
        training["args"] = user_args
    if job_dir:
        training["jobDir"] = job_dir
    if scale_tier:
        training["scaleTier"] = scale_tier
    if labels:
        body["labels"] = {**(body.get("labels") or {}), **parse_labels(labels)}
    if package_path:
        training["packageUris"] = [_upload_package(cli.api, package_path, job_id),
                                   *training.get("packageUris", [])]
    body.update(jobId=job_id, trainingInput=training)
    job = cli.api.call("POST", cli.api.url("jobs"), json=body)
    if run_async:
        cli.emit(job, lambda j: typer.echo(
            f"Job {job_id} submitted ({j['state']}). Follow it with: kumo jobs stream-logs "
            f"{job_id}"))
        return
    job = _follow(cli, job_id, None, as_result=False) if stream_logs else _wait(cli, job_id)
    cli.emit(job, _ended)
    _check_succeeded(job)


@app.command("describe")
def describe(ctx: typer.Context, job_id: JobId) -> None:
    """Show a job: state, times, errorMessage, trainingInput, jobDir.

    \b
    Examples:
      kumo jobs describe iris_1
      kumo jobs describe iris_1 --format 'value(jobDir)'
    """
    cli: Cli = ctx.obj
    cli.emit(cli.api.call("GET", cli.api.url("jobs", job_id)), output.describe)


@app.command("list")
def list_jobs(
    ctx: typer.Context,
    filter_: Annotated[str, typer.Option(
        "--filter", metavar="EXPR", help="key=value terms joined by AND; keys: state, "
        "jobId, labels.<key>.")] = "",
    limit: Limit = None,
) -> None:
    """List jobs, newest first.

    \b
    Examples:
      kumo jobs list --filter 'state=FAILED'
      kumo jobs list --filter 'state=RUNNING AND labels.team=ml' --limit 10
    """
    cli: Cli = ctx.obj
    found = cli.api.pages(cli.api.url("jobs"), "jobs", limit,
                          {"filter": filter_} if filter_ else None)
    cli.emit(found, lambda rows: output.table(
        ["JOB_ID", "STATUS", "CREATED"],
        [[j["jobId"], j["state"], output.when(j["createTime"])] for j in rows],
        "No jobs" + (f" match {filter_!r}." if filter_ else ".")))


@app.command("cancel")
def cancel(ctx: typer.Context, job_id: JobId) -> None:
    """Cancel a job: a queued one at once, a running one once its process has stopped.

    \b
    Example:
      kumo jobs cancel iris_2
    """
    cli: Cli = ctx.obj
    job = cli.api.call("POST", cli.api.url("jobs", job_id) + ":cancel")
    cli.emit(job, lambda j: typer.echo(
        f"Cancelled job {job_id}." if j["state"] == "CANCELLED" else
        f"Cancelling job {job_id}: its process is being stopped."))


@app.command("stream-logs")
def stream_logs(ctx: typer.Context, job_id: JobId, trial: Trial = None) -> None:
    """Print a job's logs, following them until the job ends; exits non-zero unless it
    SUCCEEDED. With --format json: one log entry (time, stream, text) per line.

    \b
    Example:
      kumo jobs stream-logs iris_1
    """
    cli: Cli = ctx.obj
    job = _follow(cli, job_id, trial, as_result=True)
    _check_succeeded(job)
    output.note(f"Job {job_id} SUCCEEDED{_seconds(job)}.")


@app.command("metrics")
def metrics(
    ctx: typer.Context, job_id: JobId, trial: Trial = None,
    plot: Annotated[str | None, typer.Option(metavar="TAG", help="Draw this metric over "
                                             "the steps instead.")] = None,
) -> None:
    """Show the latest value of each metric a job reported, or chart one with --plot.

    \b
    Examples:
      kumo jobs metrics iris_1
      kumo jobs metrics iris_1 --plot loss
    """
    cli: Cli = ctx.obj
    params = {"trialId": trial} if trial else None
    resource = cli.api.call("GET", cli.api.url("jobs", job_id, "metrics"), params=params)
    series: dict[str, list[dict[str, Any]]] = resource["metrics"]
    if plot is None:
        cli.emit(resource, lambda r: latest_table(r["metrics"]))
        return
    points = series.get(plot)
    if not points:
        raise CliError(f"job {job_id} has no metric {plot!r}; it has: "
                       f"{', '.join(series) or 'none yet'}")
    trials = sorted({str(p.get("trialId")) for p in points})
    if len(trials) > 1:
        raise CliError(f"metric {plot!r} comes from {len(trials)} trials ({', '.join(trials)});"
                       f" choose one with --trial")

    def draw(_: Any) -> None:
        xy = [(p["step"] if p["step"] is not None else i, p["value"])
              for i, p in enumerate(points)]
        typer.echo(f"{plot} of job {job_id}, over steps:")
        width = max(20, min(100, typer.get_terminal_size().columns - 16))
        for line in output.plot(xy, width=width):
            typer.echo(line)

    cli.emit({"metrics": {plot: points}}, draw)


def latest_table(series: dict[str, list[dict[str, Any]]]) -> None:
    """TAG, STEP and the latest VALUE of each tag (per trial, when there are trials)."""
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for tag, points in series.items():
        for point in points:  # in step order: the last one stays
            latest[(point.get("trialId") or "", tag)] = point
    trials = any(trial for trial, _ in latest)
    rows = [[*([trial] if trials else []), tag, p["step"], p["value"]]
            for (trial, tag), p in sorted(latest.items())]
    output.table([*(["TRIAL"] if trials else []), "TAG", "STEP", "VALUE"], rows,
                 "No metrics reported yet.")
