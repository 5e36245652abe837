"""What is wrong in a configuration file, said so the user can fix it: ConfigError (exit 2) and its ConfigProblems.

A ConfigError names the file and lists its problems, each a dotted field path, what is wrong and the value given
(`shown`, cut short when long); `more` carries the other files' errors, so one message reports every broken file at
once (`combine`, `each`). An OperationalError (errors.py): retrying does not help until the file is changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llmtrade.errors import OperationalError


class ConfigError(OperationalError):
    """A configuration file that cannot be used; names the file, the field path and the bad value.

    `more` carries the other files' errors, so one message reports every broken file at once."""

    exit_code = 2

    def __init__(
        self,
        file: str,
        problems: list[ConfigProblem] | None = None,
        message: str | None = None,
        *,
        more: Sequence[ConfigError] = (),
    ):
        self.file = file
        self.problems = problems or []
        self.message = message
        self.more = tuple(e for error in more for e in error.each)
        super().__init__(str(self))

    @classmethod
    def combine(cls, errors: Sequence[ConfigError]) -> ConfigError:
        """One error reporting every file in `errors` (at least one), in the order given."""
        first, *rest = errors
        return cls(first.file, first.problems, first.message, more=[*first.more, *rest])

    @property
    def each(self) -> tuple[ConfigError, ...]:
        """This file's error and every other file's, one per file."""
        return (ConfigError(self.file, self.problems, self.message), *self.more) if self.more else (self,)

    def __str__(self) -> str:
        head = f"invalid configuration in {self.file}"
        if self.message:
            head += f": {self.message}"
        lines = [head]
        lines += [f"  - {problem}" for problem in self.problems]
        lines += [str(other) for other in self.more]
        return "\n".join(lines)


def shown(value: Any, limit: int = 60) -> str:
    """`value` as a message quotes it, a long mapping, list or text cut to `limit` characters and counted: a whole
    list of entries in a message hid the setting it was about, and leaving it out hid what was given."""
    text = repr(value)
    if len(text) <= limit:
        return text
    if isinstance(value, dict | list):
        return f"{text[:limit]}… ({len(value)} {'entries' if isinstance(value, dict) else 'items'})"
    return f"{text[:limit]}…"


class ConfigProblem:
    """One thing wrong in a config file: where (dotted field path), what, and the offending value."""

    _MISSING = object()

    def __init__(self, path: str, message: str, value: Any = _MISSING):
        self.path = path
        self.message = message
        self.value = value

    @property
    def said(self) -> str:
        """The message and the value given, without the path."""
        return self.message if self.value is self._MISSING else f"{self.message} (got {shown(self.value)})"

    def __str__(self) -> str:
        return f"{self.path or '(top level)'}: {self.said}"

    def __repr__(self) -> str:
        return f"ConfigProblem({self.path!r}, {self.message!r})"
