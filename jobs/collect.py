"""A running process's stdout/stderr and metrics file, into `LogLine` and `Metric` rows.

Reader threads turn the process's pipes into lines on a bounded queue (a process that
prints faster than the DB takes lines is slowed down by its full pipe, never by runner
memory); the job's thread calls `Collector.flush()` every fraction of a second, which writes
everything pending in one transaction, so users see output while the job runs.

Metrics come from JSON lines in the file named by $KUMO_METRICS_FILE. Two formats:
- engine summaries: {"tag": "loss", "value": 0.25, "step": 100, "wall_time": 1.7e9}
- cloudml-hypertune: {"accuracy": "0.93", "global_step": "100", "timestamp": 1.7e9,
  "trial": "1", "checkpoint_path": ""}; one line may carry several tags, and values may be
  strings. The hypertune library rewrites its whole file (its last 100 reports) on every
  report instead of appending, so the reader notices rewrites and skips lines it already
  took.
"""

from __future__ import annotations

import json
import math
import os
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import insert

from storage.db import Database
from storage.models import LogLine, Metric, utcnow

MAX_LINE_CHARS = 16_384
"""Longest log line kept; the rest is cut (a process printing a huge array on one line
should not make one multi-megabyte row)."""
MAX_TAG_CHARS = 256  # Metric.tag's column width
MAX_BATCH = 2_000  # rows per INSERT
MAX_METRICS_READ = 4 << 20  # bytes of the metrics file read per flush
MAX_METRIC_NOTES = 20  # "ignored metrics line" notes per process, then silence
HYPERTUNE_FIELDS = frozenset({"timestamp", "trial", "global_step", "checkpoint_path"})


def cap_line(text: str) -> str:
    """`text` cut to MAX_LINE_CHARS, saying how much was cut."""
    if len(text) <= MAX_LINE_CHARS:
        return text
    return f"{text[:MAX_LINE_CHARS]} [... {len(text) - MAX_LINE_CHARS} more characters cut]"


def log_row(job_pk: int, stream: str, text: str, *, trial_id: str | None = None,
            time: datetime | None = None) -> LogLine:
    """One LogLine, capped; stream is "stdout", "stderr" or "system" (the platform's notes)."""
    return LogLine(job_pk=job_pk, trial_id=trial_id, stream=stream, text=cap_line(text),
                   time=time or utcnow())


@dataclass(frozen=True)
class MetricPoint:
    tag: str
    value: float
    step: int | None
    wall_time: float


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{what} {value!r} is not a number")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{what} {value!r} is not a number") from None
    if not math.isfinite(number):
        raise ValueError(f"{what} {value!r} is not a finite number")
    return number


def _step(value: Any) -> int | None:
    if value is None or value == "":
        return None
    step = _number(value, "step")
    if step != int(step):
        raise ValueError(f"step {value!r} is not a whole number")
    return int(step)


def parse_metric_line(text: str) -> list[MetricPoint]:
    """The points of one metrics-file line in either format; ValueError saying what is wrong
    with it otherwise."""
    try:
        obj = json.loads(text)
    except ValueError:
        raise ValueError("not JSON") from None
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    if "tag" in obj and "value" in obj:
        pairs, step, wall = [(obj["tag"], obj["value"])], obj.get("step"), obj.get("wall_time")
    else:
        pairs = [(k, v) for k, v in obj.items() if k not in HYPERTUNE_FIELDS]
        step, wall = obj.get("global_step"), obj.get("timestamp")
        if not pairs:
            raise ValueError("no metric in it")
    wall_time = time.time() if wall is None else _number(wall, "wall time")
    points = []
    for tag, value in pairs:
        if not isinstance(tag, str) or not tag or len(tag) > MAX_TAG_CHARS:
            raise ValueError(f"tag {tag!r} is not a string of 1 to {MAX_TAG_CHARS} characters")
        points.append(MetricPoint(tag, _number(value, f"{tag} value"), _step(step), wall_time))
    return points


class LineTail:
    """New complete lines of a file that another process appends to, or rewrites whole.

    A rewrite shows as the file being shorter than what was read, or the last line read no
    longer being where it was; the file is then read from the start. From the first rewrite
    on, lines among the `memory` most recent ones already returned are skipped (a rewriting
    writer repeats its earlier lines)."""

    def __init__(self, path: Path, memory: int = 10_000) -> None:
        self.path = path
        self._offset = 0
        self._last = b""
        self._recent: deque[int] = deque(maxlen=memory)
        self._recent_set: set[int] = set()
        self._rewritten = False

    def _remember(self, key: int) -> None:
        if len(self._recent) == self._recent.maxlen:
            self._recent_set.discard(self._recent[0])
        self._recent.append(key)
        self._recent_set.add(key)

    def read(self, final: bool = False) -> list[str]:
        """Lines completed since the last call; `final` also takes an unterminated last
        line (the writer has exited)."""
        try:
            f = open(self.path, "rb")  # noqa: SIM115 - closed below; absent file = no lines
        except FileNotFoundError:
            return []
        with f:
            size = os.fstat(f.fileno()).st_size
            rewritten = size < self._offset
            if not rewritten and self._last:
                f.seek(self._offset - len(self._last))
                rewritten = f.read(len(self._last)) != self._last
            if rewritten:
                f.seek(0)
                self._offset, self._last, self._rewritten = 0, b"", True
            data = f.read(MAX_METRICS_READ)
        end = len(data) if final else data.rfind(b"\n") + 1
        lines = data[:end].splitlines(keepends=True)
        self._offset += end
        out = []
        for raw in lines:
            key = hash(raw.rstrip(b"\r\n"))
            if not (self._rewritten and key in self._recent_set):
                self._remember(key)
                out.append(raw.decode("utf-8", errors="replace").strip())
        if lines:
            self._last = lines[-1]
        return [line for line in out if line]


class Collector:
    """Collects one process's output (job `job_pk`, trial `trial_id`) into the DB."""

    def __init__(self, database: Database, job_pk: int, trial_id: str | None = None,
                 metrics_file: Path | None = None, max_pending: int = 10_000) -> None:
        self.database = database
        self.job_pk = job_pk
        self.trial_id = trial_id
        self._pending: queue.Queue[tuple[str, str, datetime]] = queue.Queue(max_pending)
        self._max_pending = max_pending
        self._unsent_logs: list[dict[str, Any]] = []
        self._unsent_metrics: list[dict[str, Any]] = []
        self._metrics = LineTail(metrics_file) if metrics_file else None
        self._metric_notes = 0
        self.last_stderr_line = ""

    def add(self, stream: str, text: str) -> None:
        """Queue one line (already capped); blocks while the queue is full (the flusher is
        behind)."""
        self._pending.put((stream, text, utcnow()))

    def system(self, text: str) -> None:
        """A note of the platform's own (stream "system"), in order with the output."""
        self.add("system", cap_line(text))

    def pump(self, stream: str, pipe: IO[bytes]) -> threading.Thread:
        """Start a thread that reads `pipe` line by line into the queue until EOF."""
        thread = threading.Thread(target=self._read_pipe, args=(stream, pipe),
                                  name=f"kumo-job-{self.job_pk}-{stream}", daemon=True)
        thread.start()
        return thread

    def _read_pipe(self, stream: str, pipe: IO[bytes]) -> None:
        with pipe:
            while raw := pipe.readline(MAX_LINE_CHARS):
                cut = 0
                if not raw.endswith(b"\n"):  # over the cap: drop the rest of the line
                    while more := pipe.readline(MAX_LINE_CHARS):
                        ended = more.endswith(b"\n")
                        cut += len(more) - ended
                        if ended:
                            break
                text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                if cut:
                    text = f"{text} [... {cut} more bytes cut]"
                if stream == "stderr" and text.strip():
                    self.last_stderr_line = text.strip()
                self.add(stream, text)

    def _metric_rows(self, final: bool) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        if self._metrics is None:
            return rows
        lines = self._metrics.read(final)
        while final and (more := self._metrics.read(final)):  # the whole rest, at the end
            lines += more
        for line in lines:
            try:
                points = parse_metric_line(line)
            except ValueError as exc:
                self._metric_notes += 1
                if self._metric_notes <= MAX_METRIC_NOTES:
                    more = " (further bad lines are ignored silently)" \
                        if self._metric_notes == MAX_METRIC_NOTES else ""
                    self.system(f"Ignored a metrics line ({exc}){more}: {line[:200]}")
                continue
            rows += [{"job_pk": self.job_pk, "trial_id": self.trial_id, "tag": p.tag,
                      "value": p.value, "step": p.step, "wall_time": p.wall_time}
                     for p in points]
        return rows

    def flush(self, final: bool = False) -> int:
        """Write pending lines and new metrics in one transaction; returns how many rows.
        `final` (the process has exited) also takes an unterminated last metrics line. If
        the DB fails, the rows are kept for the next call (at most `max_pending` lines, so a
        long outage slows the process down instead of filling memory) and it raises."""
        if len(self._unsent_metrics) < MAX_BATCH:
            self._unsent_metrics += self._metric_rows(final)
        while len(self._unsent_logs) < self._max_pending:
            try:
                stream, text, at = self._pending.get_nowait()
            except queue.Empty:
                break
            self._unsent_logs.append({"job_pk": self.job_pk, "trial_id": self.trial_id,
                                      "stream": stream, "text": text, "time": at})
        count = len(self._unsent_logs) + len(self._unsent_metrics)
        if count:
            with self.database.session() as session:
                for table, rows in ((LogLine, self._unsent_logs),
                                    (Metric, self._unsent_metrics)):
                    for start in range(0, len(rows), MAX_BATCH):
                        session.execute(insert(table), rows[start:start + MAX_BATCH])
            self._unsent_logs, self._unsent_metrics = [], []
        return count
