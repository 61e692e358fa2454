"""`tf.app` and `tf.flags` (also `tf.app.flags`): TF 1.x's command-line flags and entry point.

    tf.app.flags.DEFINE_integer("max_steps", 1000, "Steps to train.")
    FLAGS = tf.app.flags.FLAGS

    def main(argv):
        train(FLAGS.max_steps)

    if __name__ == "__main__":
        tf.app.run()

As in TF 1.x (absl flags underneath), reading a flag before `tf.app.run()` parses the known
flags of sys.argv first; `run` parses them all, refusing unknown ones, and calls
`main(remaining argv)`. Flags take `--name=value` or `--name value`; booleans also `--name`
and `--noname`; a dash in a name is read as an underscore (`--job-dir` sets `job_dir`, as Cloud
ML Engine passes it). A platform job's hyperparameters arrive as such flags.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any, NoReturn

__all__ = ["flags", "run"]


class Error(ValueError):
    """A flag definition or command line that cannot be used (absl's flags.Error)."""


def _boolean(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("true", "t", "1", "yes", "y"):
        return True
    if lowered in ("false", "f", "0", "no", "n"):
        return False
    raise ValueError(f"{text!r} is not a boolean (true/false)")


def _items(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


class _Flag:
    __slots__ = ("boolean", "default", "help", "parse")

    def __init__(self, default: Any, help: str, parse: Callable[[str], Any],
                 boolean: bool) -> None:
        self.default, self.help, self.parse, self.boolean = default, help, parse, boolean


class FlagValues:
    """The defined flags and their values; `FLAGS(argv)` parses a command line and returns
    the arguments that are not flags (argv[0] first)."""

    def __init__(self) -> None:
        object.__setattr__(self, "_flags", {})
        object.__setattr__(self, "_values", {})
        object.__setattr__(self, "_parsed", False)

    def _define(self, name: str, default: Any, help: str, parse: Callable[[str], Any],
                boolean: bool = False) -> None:
        if not isinstance(name, str) or not name.isidentifier():
            raise Error(f"Flag name must be an identifier, got {name!r}.")
        if name in self._flags:
            raise Error(f"The flag {name!r} is defined twice.")
        if isinstance(default, str) and parse is not str:
            default = self._convert(name, parse, default)
        self._flags[name] = _Flag(default, help, parse, boolean)
        self._values[name] = default

    @staticmethod
    def _convert(name: str, parse: Callable[[str], Any], text: str) -> Any:
        try:
            return parse(text)
        except ValueError as e:
            raise Error(f"flag --{name}={text}: {e}") from None

    def __call__(self, argv: Sequence[str], known_only: bool = False) -> list[str]:
        args = list(argv)
        rest, i = args[:1], 1
        while i < len(args):
            arg = args[i]
            i += 1
            if arg == "--":
                rest.extend(args[i:])
                break
            if not arg.startswith("-") or arg == "-":
                rest.append(arg)
                continue
            name, has_value, value = arg.lstrip("-").partition("=")
            name = name.replace("-", "_")  # --job-dir, as Cloud ML Engine passes it
            flag = self._flags.get(name)
            if flag is None and name.startswith("no") and not has_value:
                negated = self._flags.get(name[2:])
                if negated is not None and negated.boolean:
                    self._values[name[2:]] = False
                    continue
            if flag is None:
                if known_only:
                    rest.append(arg)
                    continue
                raise Error(f"Unknown command line flag {name!r}")
            if not has_value and flag.boolean:
                self._values[name] = True
                continue
            if not has_value:
                if i >= len(args):
                    raise Error(f"Flag --{name} must have a value other than None.")
                value, i = args[i], i + 1
            self._values[name] = self._convert(name, flag.parse, value)
        object.__setattr__(self, "_parsed", True)
        return rest

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in self._flags:
            raise AttributeError(f"Unknown flag {name!r}: define it with "
                                 f"tf.app.flags.DEFINE_...({name!r}, default, help)")
        if not self._parsed:  # TF 1.x reads the known flags of sys.argv on first use
            self(sys.argv, known_only=True)
        return self._values[name]

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in self._flags:
            raise AttributeError(f"Unknown flag {name!r}")
        self._values[name] = value

    def __contains__(self, name: str) -> bool:
        return name in self._flags

    def flag_values_dict(self) -> dict[str, Any]:
        return dict(self._values)


FLAGS = FlagValues()


def _definer(parse: Callable[[str], Any], boolean: bool = False) -> Callable[..., None]:
    def define(name: str, default: Any, help: str = "", flag_values: FlagValues = FLAGS,
               **_: Any) -> None:
        flag_values._define(name, default, help, parse, boolean)

    return define


def _enum_definer() -> Callable[..., None]:
    def define(name: str, default: str | None, enum_values: Sequence[str], help: str = "",
               flag_values: FlagValues = FLAGS, **_: Any) -> None:
        choices = list(enum_values)

        def parse(text: str) -> str:
            if text not in choices:
                raise ValueError(f"must be one of {choices}")
            return text

        if default is not None and default not in choices:
            raise Error(f"Flag {name!r}: default {default!r} is not one of {choices}.")
        flag_values._define(name, default, help, parse)

    return define


flags = SimpleNamespace(
    FLAGS=FLAGS, FlagValues=FlagValues, Error=Error,
    DEFINE_string=_definer(str), DEFINE_integer=_definer(int), DEFINE_float=_definer(float),
    DEFINE_boolean=_definer(_boolean, boolean=True), DEFINE_bool=_definer(_boolean, boolean=True),
    DEFINE_list=_definer(_items), DEFINE_enum=_enum_definer(),
)


def run(main: Callable[[list[str]], Any] | None = None,
        argv: Sequence[str] | None = None) -> NoReturn:
    """Parse the flags of `argv` (default sys.argv), then `sys.exit(main(remaining args))`;
    `main` defaults to the `main` function of the __main__ module, as in TF."""
    try:
        rest = FLAGS(sys.argv if argv is None else argv)
    except Error as e:
        sys.stderr.write(f"FATAL Flags parsing error: {e}\n")
        sys.exit(1)
    if main is None:
        main = sys.modules["__main__"].main
    sys.exit(main(rest))
