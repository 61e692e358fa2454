"""Options more than one verb group takes, declared once so their help reads alike."""

from __future__ import annotations

from typing import Annotated

import typer

from api.cli.client import CliError

Labels = Annotated[str | None, typer.Option(metavar="KEY=VALUE,...",
                                            help="Labels, e.g. team=ml,stage=test.")]
Description = Annotated[str, typer.Option(help="A description for people.")]
Limit = Annotated[int | None, typer.Option(min=1, help="List at most this many.")]
Async = Annotated[bool, typer.Option("--async", help="Return at once instead of waiting.")]


def parse_labels(text: str | None) -> dict[str, str]:
    """`k=v,k2=v2` as a dict (the server checks the keys and values)."""
    labels: dict[str, str] = {}
    for pair in filter(None, (p.strip() for p in (text or "").split(","))):
        key, equals, value = pair.partition("=")
        if not equals or not key.strip():
            raise CliError(f"--labels: {pair!r} is not key=value", code=2)
        labels[key.strip()] = value.strip()
    return labels
