"""Terminal output: rich tables on a terminal, plain tab-separated text when piped.

Cron mails and `| grep` pipelines get stable plain text; people at a terminal get tables. With `llmtrade --quiet`
(`quiet_on_success`) a command says nothing on success: no result lines or tables, no mode banner or progress; only
what needs a look (`Output.warning`, commands/context.py `warn`), errors, and documents asked for (`--json`).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from contextvars import ContextVar, Token
from typing import Any

_QUIET: ContextVar[bool] = ContextVar("llmtrade_quiet", default=False)


def quiet_on_success(on: bool) -> Token[bool]:
    """From now until `speak_again(token)`, what a command says on success is left out (`llmtrade --quiet`)."""
    return _QUIET.set(on)


def speak_again(token: Token[bool]) -> None:
    _QUIET.reset(token)


def quiet() -> bool:
    return _QUIET.get()


class Output:
    def __init__(self, *, stream: Any = None, force_plain: bool | None = None):
        self._stream = stream or sys.stdout
        is_tty = hasattr(self._stream, "isatty") and self._stream.isatty()
        self.plain = (not is_tty) if force_plain is None else force_plain
        self._console: Any = None

    @property
    def console(self) -> Any:
        if self._console is None:
            from rich.console import Console  # lazy: rich is only needed once something is printed

            self._console = Console(file=self._stream, highlight=False, soft_wrap=self.plain)
        return self._console

    def line(self, text: str = "", style: str | None = None) -> None:
        if quiet():
            return
        self._line(text, style)

    def warning(self, text: str) -> None:
        """A line that needs a look (a degraded run): said with --quiet too."""
        self._line(text, "bold red")

    def _line(self, text: str, style: str | None) -> None:
        if self.plain:
            print(text, file=self._stream)
        else:
            self.console.print(text, style=style, markup=False)

    def heading(self, text: str) -> None:
        if quiet():
            return
        if self.plain:
            print(f"== {text}", file=self._stream)
        else:
            self.console.rule(text, style="bold")

    def pairs(self, rows: Sequence[tuple[str, Any]]) -> None:
        """Key/value lines, aligned on a terminal."""
        if quiet():
            return
        if self.plain:
            for key, value in rows:
                print(f"{key}: {value}", file=self._stream)
            return
        from rich.table import Table

        table = Table(show_header=False, box=None, pad_edge=False)
        table.add_column(style="bold")
        table.add_column()
        for key, value in rows:
            table.add_row(key, str(value))
        self.console.print(table)

    def table(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        if quiet():
            return
        if self.plain:
            print(f"# {title}", file=self._stream)
            print("\t".join(columns), file=self._stream)
            for row in rows:
                print("\t".join("" if v is None else str(v) for v in row), file=self._stream)
            return
        from rich.table import Table

        table = Table(title=title, title_justify="left")
        for column in columns:
            table.add_column(column)
        for row in rows:
            table.add_row(*("" if v is None else str(v) for v in row))
        self.console.print(table)


def one_line(message: str) -> str:
    """A message of several lines (a config error lists each problem under its file) as one: what `--quiet` prints,
    since cron mails every line and a mail's subject or a log's grep shows the first alone."""
    head, *rest = message.splitlines() or [""]
    details = [line.strip().removeprefix("- ") for line in rest if line.strip()]
    return f"{head}: {'; '.join(details)}" if details else head


def print_error(message: str, *, prefix: str = "error: ") -> None:
    """Errors (and the mode banner) go to stderr, in bold on a terminal."""
    if sys.stderr.isatty():
        from rich.console import Console

        Console(stderr=True, highlight=False).print(f"{prefix}{message}", style="bold red", markup=False)
    else:
        print(f"{prefix}{message}", file=sys.stderr)
