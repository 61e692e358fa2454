"""`kumo local train|predict`: the platform's training and prediction on this machine, with
no server, for the "check it on my machine first" step. Both run the platform's own code:
`train` starts the module with the runner's environment contract (jobs/executor.py) and
`predict` uses the server's PredictionService, so results match the server's."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from api.cli.client import Cli, CliError
from api.cli.package import build_package
from api.cli.predict import JsonInstances, JsonRequest, prediction_table, read_instances
from api.cli.server import load_settings

app = typer.Typer(no_args_is_help=True, help="""Train and predict on this machine, as the
platform would, with no server.

\b
Examples:
  kumo local train --module-name jobs.builtin.dnn --job-dir out -- \\
      --train-files iris_train.csv --label-column species --model-type classification
  kumo local predict --model-dir out/model --json-instances instances.json
""")


@app.command("train")
def train(
    module_name: Annotated[str, typer.Option(help="The module run with `python -m`, e.g. "
                                             "jobs.builtin.dnn or trainer.task.")],
    job_dir: Annotated[str, typer.Option(help="A local directory for the outputs (the "
                                         "built-in trainers export model/ there); the "
                                         "metrics go to its metrics.jsonl.")],
    package_path: Annotated[Path | None, typer.Option(
        help="Your package's directory, packaged and unpacked as the platform does.")] = None,
    user_args: Annotated[list[str] | None, typer.Argument(
        metavar="[-- USER_ARGS...]", help="Arguments for the module, after --.")] = None,
) -> None:
    """Run a trainer module here: `python -m MODULE USER_ARGS --job-dir DIR`, with the
    environment a platform job gets (KUMO_* settings, KUMO_METRICS_FILE, CLOUD_ML_*).

    \b
    Examples:
      kumo local train --module-name jobs.builtin.dnn --job-dir out -- \\
          --train-files iris_train.csv --label-column species --model-type classification
      kumo local train --module-name trainer.task --package-path ./trainer --job-dir out
    """
    from jobs.executor import ProcessSpec, process_env
    from jobs.packages import PackageError, fetch_packages

    if "://" in job_dir:
        raise CliError(f"--job-dir {job_dir}: local train writes to a local directory",
                       code=2)
    settings = load_settings()
    out = Path(job_dir).expanduser().resolve()
    try:
        spec = ProcessSpec(job_pk=0, job_id="local", module=module_name,
                           args=tuple(user_args or ()), job_dir=str(out))
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.jsonl").unlink(missing_ok=True)  # this run's metrics only
    except ValueError as exc:
        raise CliError(str(exc), code=2) from None
    except OSError as exc:
        raise CliError(f"--job-dir {out}: {exc.strerror or exc}") from None
    with tempfile.TemporaryDirectory(prefix="kumo-local-") as tmp:
        import_paths = []
        if package_path is not None:
            archive = build_package(package_path, Path(tmp))
            try:
                import_paths = fetch_packages([archive.as_uri()], settings,
                                              Path(tmp) / "packages")
            except PackageError as exc:
                raise CliError(str(exc)) from None
        returncode = subprocess.call(spec.argv(),
                                     env=process_env(settings, spec, out, import_paths))
    if returncode:
        raise CliError(f"{module_name} exited with status {returncode}",
                       code=returncode if 0 < returncode < 128 else 1)


@app.command("predict")
def predict(
    ctx: typer.Context,
    model_dir: Annotated[Path, typer.Option(help="A snapshot directory (model.json and "
                                            "its variables), e.g. <job-dir>/model.")],
    json_instances: JsonInstances = None,
    json_request: JsonRequest = None,
) -> None:
    """Predict from a snapshot on disk, as `kumo predict` would with it deployed.

    \b
    Example:
      kumo local predict --model-dir out/model --json-instances instances.json
    """
    from api.prediction import PredictionInputError, PredictionService
    from engine.saved_model import SnapshotError
    from storage.objectstore import StoreError

    cli: Cli = ctx.obj
    instances = read_instances(json_instances, json_request)
    if not model_dir.is_dir():
        raise CliError(f"--model-dir {model_dir}: not a directory")
    service = PredictionService(load_settings())
    try:
        predictions = service.predict(model_dir.resolve().as_uri(), instances)
    except PredictionInputError as exc:
        raise CliError(str(exc)) from None
    except (SnapshotError, StoreError) as exc:
        raise CliError(f"--model-dir {model_dir}: not a usable snapshot: {exc}") from None
    cli.emit({"predictions": predictions}, prediction_table)
