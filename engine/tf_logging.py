"""`tf.logging`: TF 1.x's logging calls on Python's logging, under the logger "engine"."""

from __future__ import annotations

import logging
import sys
from typing import Any

DEBUG, INFO, WARN, ERROR, FATAL = (logging.DEBUG, logging.INFO, logging.WARNING,
                                   logging.ERROR, logging.CRITICAL)

_logger = logging.getLogger("engine")
_log_counts: dict[tuple[str, int], int] = {}


def _tf_logger() -> logging.Logger:
    """The "engine" logger, given a stderr handler on first use when nothing is configured
    (as TF does), so `set_verbosity(INFO)` then `info(...)` prints."""
    if not _logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(logging.BASIC_FORMAT))
        _logger.addHandler(handler)
    return _logger


def log(level: int, msg: Any, *args: Any, **kwargs: Any) -> None:
    _tf_logger().log(level, msg, *args, **kwargs)


def _log_first_calls(level: int, msg: Any, n: int, every: bool, *args: Any) -> None:
    """Log on the calls from the caller's caller's line that `every` (each n-th, from the
    first) or else the first n select, counted per line of code as TF does."""
    caller = sys._getframe(2)
    key = (caller.f_code.co_filename, caller.f_lineno)
    count = _log_counts.get(key, 0)
    _log_counts[key] = count + 1
    if (count % n == 0) if every else (count < n):
        _tf_logger().log(level, msg, *args)


def log_every_n(level: int, msg: Any, n: int, *args: Any) -> None:
    """Log on the 1st, (n+1)-th, (2n+1)-th, ... call from this line."""
    _log_first_calls(level, msg, n, True, *args)


def log_first_n(level: int, msg: Any, n: int, *args: Any) -> None:
    """Log on the first n calls from this line."""
    _log_first_calls(level, msg, n, False, *args)


def log_if(level: int, msg: Any, condition: bool, *args: Any) -> None:
    if condition:
        _tf_logger().log(level, msg, *args)


def set_verbosity(v: int) -> None:
    """Log at level `v` and above (tf.logging.INFO, ...)."""
    _tf_logger().setLevel(v)


def get_verbosity() -> int:
    return _logger.getEffectiveLevel()


def debug(msg: Any, *args: Any, **kwargs: Any) -> None:
    log(DEBUG, msg, *args, **kwargs)


def info(msg: Any, *args: Any, **kwargs: Any) -> None:
    log(INFO, msg, *args, **kwargs)


def warning(msg: Any, *args: Any, **kwargs: Any) -> None:
    log(WARN, msg, *args, **kwargs)


def error(msg: Any, *args: Any, **kwargs: Any) -> None:
    log(ERROR, msg, *args, **kwargs)


def fatal(msg: Any, *args: Any, **kwargs: Any) -> None:
    log(FATAL, msg, *args, **kwargs)


warn = warning
