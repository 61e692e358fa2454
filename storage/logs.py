"""Structured logging: one JSON object per line (or plain text), set by KUMO_LOG_FORMAT.

The process entry points (`kumo serve`, `kumo worker`) call `configure_logging` once; the
library code only logs through named loggers, with the fields as `extra=`.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

from storage.config import Settings

# Attributes every LogRecord has; anything else came in through `extra=` and is a field
# (except uvicorn's terminal-coloured copy of its message).
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName",
                                                    "color_message"}


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The `extra=` fields of a record."""
    return {k: v for k, v in vars(record).items() if k not in _STANDARD}


class JsonFormatter(logging.Formatter):
    """`{"time", "level", "logger", "message", ...extra fields, "exc"?}` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **record_fields(record),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    """Human-readable: `time LEVEL logger message key=value ...`."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = " ".join(f"{k}={v}" for k, v in record_fields(record).items())
        return f"{line} {fields}" if fields else line


def configure_logging(settings: Settings) -> None:
    """Send all logs (kumo's, uvicorn's) to stderr in the configured format; `auto` is text
    for a person at a terminal and JSON lines for a log collector (docker, systemd)."""
    handler = logging.StreamHandler(sys.stderr)
    text = settings.log_format == "text" or (settings.log_format == "auto"
                                             and sys.stderr.isatty())
    handler.setFormatter(TextFormatter() if text else JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
