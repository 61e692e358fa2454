"""Log format choice: a person at a terminal gets text, a log collector JSON lines."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from storage.config import Settings
from storage.logs import JsonFormatter, TextFormatter, configure_logging


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def root_handlers() -> Iterator[None]:
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    yield
    root.handlers[:] = saved
    root.setLevel(level)


@pytest.mark.parametrize(("log_format", "terminal", "formatter"), [
    ("auto", True, TextFormatter), ("auto", False, JsonFormatter),
    ("json", True, JsonFormatter), ("text", False, TextFormatter)])
def test_format_follows_the_setting_and_auto_the_terminal(
        root_handlers: None, monkeypatch: pytest.MonkeyPatch, log_format: str, terminal: bool,
        formatter: type[logging.Formatter]) -> None:
    monkeypatch.setattr("sys.stderr", Terminal() if terminal else io.StringIO())
    configure_logging(Settings(log_format=log_format))
    (handler,) = logging.getLogger().handlers
    assert type(handler.formatter) is formatter


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="log_format"):
        Settings(log_format="xml")
