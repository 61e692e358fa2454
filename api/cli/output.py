"""How results print. `--format text` is for people (aligned tables, YAML for single
resources), `json` is exactly the API's resource (a JSON array for lists) and
`value(field,...)` prints bare tab-separated values, one line per resource, for shell
variables (as gcloud's `--format 'value(...)'`). Results go to stdout; progress bars,
spinners and notes go to stderr, so a script's pipe only ever sees the result.

Rich and PyYAML are imported where they are used: `kumo --help` never loads them.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from itertools import pairwise
from typing import Any

import typer

FORMAT = re.compile(r"text|json|value\(\s*([\w.]+(?:\s*,\s*[\w.]+)*)\s*\)")


def check_format(text: str) -> str:
    """The --format callback: text, json or value(field[,field...])."""
    if not FORMAT.fullmatch(text):
        raise typer.BadParameter(f"{text!r}: use text, json or value(field,...), e.g. "
                                 f"'value(jobDir)'")
    return text


def emit(fmt: str, resource: Any, text: Callable[[Any], None]) -> None:
    """Print `resource` in format `fmt` (see the module doc)."""
    if fmt == "json":
        typer.echo(json.dumps(resource, indent=2, ensure_ascii=False))
    elif fmt == "text":
        text(resource)
    else:
        fields = [f.strip() for f in fmt[fmt.index("(") + 1:-1].split(",")]
        for item in resource if isinstance(resource, list) else [resource]:
            typer.echo("\t".join(_plain(_lookup(item, f)) for f in fields))


def _lookup(resource: Any, field: str) -> Any:
    """`a.b` of nested objects, `a.0` the first item of a list; None where a part is missing."""
    for part in field.split("."):
        if isinstance(resource, list) and part.isdigit():
            resource = resource[int(part)] if int(part) < len(resource) else None
        else:
            resource = resource.get(part) if isinstance(resource, dict) else None
    return resource


def _plain(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def note(message: str) -> None:
    """A line for people, on stderr."""
    typer.echo(message, err=True)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], empty: str) -> None:
    """Columns aligned with two spaces, like gcloud's lists; `empty` (on stderr) if no rows."""
    if not rows:
        note(empty)
        return
    cells = [list(headers), *[[cell_text(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for row in cells:
        typer.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def cell_text(value: Any) -> str:
    """A table cell: numbers to 4 significant digits, lists bracketed, objects as JSON."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return "[" + ", ".join(cell_text(v) for v in value) + "]"
    return _plain(value)


def when(timestamp: str | None) -> str:
    """An API time (ISO 8601, UTC) to the second: `2026-01-31 12:00:00`."""
    return timestamp[:19].replace("T", " ") if timestamp else ""


def describe(resource: dict[str, Any]) -> None:
    """One resource as YAML, as `gcloud ... describe` shows it."""
    import yaml

    typer.echo(yaml.safe_dump(resource, sort_keys=False, allow_unicode=True,
                              default_flow_style=False).rstrip())


@contextmanager
def transfer(total: int, description: str) -> Iterator[Callable[[int, str | None], None]]:
    """A progress bar of bytes with bytes/s on stderr; yields advance(bytes, description)."""
    from rich import progress as bars
    from rich.console import Console
    from rich.table import Column

    # One line at any width: a long path is cut short (…) rather than wrapped.
    progress = bars.Progress(
        bars.TextColumn("{task.description}", table_column=Column(
            no_wrap=True, overflow="ellipsis", ratio=1)),
        bars.BarColumn(bar_width=None, table_column=Column(ratio=1)), bars.DownloadColumn(),
        bars.TransferSpeedColumn(), bars.TimeRemainingColumn(), console=Console(stderr=True),
        expand=True)
    with progress:
        task = progress.add_task(description, total=total)

        def advance(size: int, now: str | None = None) -> None:
            progress.update(task, advance=size, description=now or description)

        try:
            yield advance
        except BaseException:  # the failure's one line follows: the bar goes
            progress.live.transient = True  # erased on a terminal,
            progress.console.quiet = not progress.console.is_interactive  # not printed elsewhere
            raise


@contextmanager
def waiting(message: str) -> Iterator[Callable[[str], None]]:
    """A spinner on stderr with the seconds waited (shown only on a terminal); yields
    update(message)."""
    from rich.console import Console

    started = time.monotonic()
    with Console(stderr=True).status(message) as status:
        yield lambda text: status.update(f"{text} ({time.monotonic() - started:.0f} s)")


def plot(points: Sequence[tuple[float, float]], width: int = 60, height: int = 12) -> list[str]:
    """A line chart of (x, y) points, in x order, in text: y axis on the left, x below."""
    points = sorted(points)
    x0, x1 = points[0][0], points[-1][0]
    y0, y1 = min(y for _, y in points), max(y for _, y in points)
    grid = [[" "] * width for _ in range(height)]

    def cell(x: float, y: float) -> tuple[int, int]:
        return (height - 1 - round((y - y0) / ((y1 - y0) or 1) * (height - 1)),
                round((x - x0) / ((x1 - x0) or 1) * (width - 1)))

    for (xa, ya), (xb, yb) in pairwise(points):
        (_, ca), (_, cb) = cell(xa, ya), cell(xb, yb)
        for column in range(ca, cb + 1):  # the segment between them, one dot per column
            t = (column - ca) / ((cb - ca) or 1)
            row, _ = cell(xa, ya + t * (yb - ya))
            grid[row][column] = "·"
    for x, y in points:
        row, column = cell(x, y)
        grid[row][column] = "•"
    top, bottom = f"{y1:.4g}", f"{y0:.4g}"
    margin = max(len(top), len(bottom))
    lines = []
    for i, row_cells in enumerate(grid):
        label = top if i == 0 else bottom if i == height - 1 else ""
        lines.append(f"{label.rjust(margin)} ┤{''.join(row_cells)}".rstrip())
    lines.append(" " * margin + " └" + "─" * width)
    left, right = f"{x0:g}", f"{x1:g}"
    lines.append(" " * (margin + 2) + left + right.rjust(width - len(left)))
    return lines
