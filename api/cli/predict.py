"""`kumo predict`: online prediction, with instances read the way gcloud reads them. The
reading and the printing are shared with `kumo local predict`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from api.cli import output
from api.cli.client import Cli, CliError

JsonInstances = Annotated[str | None, typer.Option(
    metavar="FILE|-", help="Newline-delimited JSON, one instance per line (- reads "
    "stdin).")]
JsonRequest = Annotated[str | None, typer.Option(
    metavar="FILE|-", help='A JSON request, {"instances": [...]} (- reads stdin).')]


def read_instances(json_instances: str | None, json_request: str | None) -> list[Any]:
    """The instances of --json-instances or --json-request (exactly one of them)."""
    if (json_instances is None) == (json_request is None):
        raise CliError("give either --json-instances or --json-request", code=2)
    flag, source = ("--json-instances", json_instances) if json_instances is not None \
        else ("--json-request", json_request)
    assert source is not None
    name = "stdin" if source == "-" else source
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"{flag} {name}: {getattr(exc, 'strerror', None) or exc}") from None
    if json_instances is not None:
        instances = []
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    instances.append(json.loads(line))
                except ValueError as exc:
                    raise CliError(f"{flag} {name} line {number}: not JSON ({exc})") from None
    else:
        try:
            request = json.loads(text)
        except ValueError as exc:
            raise CliError(f"{flag} {name}: not JSON ({exc})") from None
        if not isinstance(request, dict) or not isinstance(request.get("instances"), list):
            raise CliError(f'{flag} {name}: expected {{"instances": [...]}}')
        instances = request["instances"]
    if not instances:
        raise CliError(f"{flag} {name}: no instances")
    return instances


def prediction_table(response: dict[str, Any]) -> None:
    """One row per instance; objects (such as a classifier's classes and probabilities)
    get a column per key."""
    predictions = response["predictions"]
    if all(isinstance(p, dict) for p in predictions):
        keys = list(dict.fromkeys(k for p in predictions for k in p))
        output.table([k.upper() for k in keys], [[p.get(k) for k in keys] for p in predictions],
                     "No predictions.")
    else:
        output.table(["PREDICTION"], [[p] for p in predictions], "No predictions.")


def predict(
    ctx: typer.Context,
    model: Annotated[str, typer.Option(help="The model.")],
    version: Annotated[str | None, typer.Option(help="The version (default: the model's "
                                                "default version).")] = None,
    json_instances: JsonInstances = None,
    json_request: JsonRequest = None,
) -> None:
    """Get online predictions. An instance is the feature values in training column order
    (label left out), or an object keyed by column or input name.

    \b
    Examples:
      kumo predict --model iris --json-instances instances.json
      echo '[5.1, 3.5, 1.4, 0.2]' | kumo predict --model iris --json-instances -
      kumo predict --model iris --version v2 --json-request request.json --format json
    """
    cli: Cli = ctx.obj
    instances = read_instances(json_instances, json_request)
    path = cli.api.url("models", model, *(["versions", version] if version else []))
    cli.emit(cli.api.call("POST", path + ":predict", json={"instances": instances}),
             prediction_table)
