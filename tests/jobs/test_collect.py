"""Metrics lines in both formats, files that are appended to or rewritten, capped lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobs.collect import LineTail, MetricPoint, cap_line, parse_metric_line


def test_engine_summary_line() -> None:
    line = json.dumps({"tag": "loss", "value": 0.25, "step": 100, "wall_time": 1.5})
    assert parse_metric_line(line) == [MetricPoint("loss", 0.25, 100, 1.5)]


def test_hypertune_line_with_string_values_and_several_tags() -> None:
    line = json.dumps({"timestamp": 2.5, "trial": "3", "accuracy": "0.9", "loss": 0.1,
                       "global_step": "40", "checkpoint_path": ""})
    assert parse_metric_line(line) == [MetricPoint("accuracy", 0.9, 40, 2.5),
                                       MetricPoint("loss", 0.1, 40, 2.5)]


@pytest.mark.parametrize(("line", "why"), [
    ("{nope", "not JSON"),
    ("[1, 2]", "not a JSON object"),
    ('{"timestamp": 1, "trial": "1"}', "no metric in it"),
    ('{"tag": "loss", "value": "high"}', "loss value 'high' is not a number"),
    ('{"tag": "loss", "value": NaN}', "loss value nan is not a finite number"),
    ('{"tag": "loss", "value": 1, "step": 1.5}', "step 1.5 is not a whole number"),
    ('{"tag": "", "value": 1}', "tag '' is not a string"),
])
def test_bad_metric_lines_say_what_is_wrong(line: str, why: str) -> None:
    with pytest.raises(ValueError, match=why.replace("(", r"\(").replace(".", r"\.")):
        parse_metric_line(line)


def test_tail_of_an_appended_file_returns_complete_lines_once(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    tail = LineTail(path)
    assert tail.read() == []  # not there yet
    path.write_text("a\nb\npart")
    assert tail.read() == ["a", "b"]
    with path.open("a") as f:
        f.write("ial\nc\n")
    assert tail.read() == ["partial", "c"]
    assert tail.read() == []
    with path.open("a") as f:
        f.write("no newline at exit")
    assert tail.read() == []
    assert tail.read(final=True) == ["no newline at exit"]


def test_tail_of_a_rewritten_file_skips_lines_it_already_returned(tmp_path: Path) -> None:
    path = tmp_path / "hypertune.metrics"
    tail = LineTail(path)
    reports: list[str] = []
    for n in range(1, 6):  # like cloudml-hypertune: keep the last 3 reports, rewrite all
        reports = [*reports, f'{{"m": {n}}}'][-3:]
        path.write_text("".join(f"{r}\n" for r in reports))
        assert tail.read() == [f'{{"m": {n}}}']
    path.write_text("")  # truncated, then written again
    assert tail.read() == []
    path.write_text('{"m": 5}\n{"m": 6}\n')
    assert tail.read() == ['{"m": 6}']


def test_cap_line() -> None:
    assert cap_line("short") == "short"
    capped = cap_line("y" * 20_000)
    assert capped.startswith("y" * 16_384) and capped.endswith("[... 3616 more characters cut]")
