"""Terminal output: rich tables on a terminal, plain tab-separated text when piped.

Cron mails and `| grep` pipelines get stable plain text; people at a terminal get tables. With `llmtrade --quiet`
(`quiet_on_success`) a command says nothing on success: no result lines or tables, no mode banner or progress; only
what needs a look (`Output.warning`, commands/context.py `warn`), errors, and documents asked for (`--json`).

Every text goes through `shown` first: what a model or an operator wrote (a failed run's error quoting an answer, a
kill switch's reason) is printed as text, never as the terminal's commands; and rich is given it as `Text`, never as
markup, so "[bold red]" or "[link=...]" in it prints as written.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from contextvars import ContextVar, Token
from typing import Any

_QUIET: ContextVar[bool] = ContextVar("llmtrade_quiet", default=False)
# C0 and C1 controls but tab and newline, DEL, and the bidirectional embeddings, overrides and isolates: an ESC a model
# wrote ("\x1b[2J") cleared the screen of whoever read the leaderboard's note quoting it, piped or not; a CR overwrote
# the line before it; U+202E showed the rest of the line reversed. Each is printed as its escape, visible.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def shown(text: str) -> str:
    """`text` safe to print on a terminal: each control character as its Python escape (`\\x1b`, `\\r`, `\\u202e`)."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode(), text)


def json_shown(document: str) -> str:
    """A JSON document safe to print on a terminal, its value unchanged: JSON escapes the C0 controls itself, not DEL,
    the C1 controls (U+009B is a CSI to xterm, which takes C1 controls in UTF-8) or the bidirectional ones; each is
    written as JSON's \\uXXXX. Outside its strings a JSON document holds none of them."""
    return _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", document)


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
        text = shown(text)
        if self.plain:
            print(text, file=self._stream)
        else:
            self.console.print(text, style=style, markup=False)

    def heading(self, text: str) -> None:
        if quiet():
            return
        text = shown(text)
        if self.plain:
            print(f"== {text}", file=self._stream)
        else:
            from rich.text import Text

            self.console.rule(Text(text), style="bold")

    def pairs(self, rows: Sequence[tuple[str, Any]]) -> None:
        """Key/value lines, aligned on a terminal."""
        if quiet():
            return
        said = [(shown(key), shown(str(value))) for key, value in rows]
        if self.plain:
            for key, value in said:
                print(f"{key}: {value}", file=self._stream)
            return
        from rich.table import Table
        from rich.text import Text

        table = Table(show_header=False, box=None, pad_edge=False)
        table.add_column(style="bold")
        table.add_column()
        for key, value in said:
            table.add_row(Text(key), Text(value))
        self.console.print(table)

    def table(
        self, title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], *, whole: Sequence[str] = ()
    ) -> None:
        """`whole`: the columns whose cells are never cut or wrapped on a terminal (a name to be typed back, as
        `backtest delete NAME`'s); the others give way to them."""
        if quiet():
            return
        title, columns = shown(title), [shown(column) for column in columns]
        cells = [["" if v is None else shown(str(v)) for v in row] for row in rows]
        if self.plain:
            print(f"# {title}", file=self._stream)
            print("\t".join(columns), file=self._stream)
            for said in cells:
                print("\t".join(said), file=self._stream)
            return
        from rich.table import Table
        from rich.text import Text

        table = Table(title=Text(title), title_justify="left")
        for at, column in enumerate(columns):
            if column in {shown(c) for c in whole}:
                widest = max((len(said[at]) for said in cells), default=0)
                table.add_column(Text(column), no_wrap=True, min_width=max(widest, len(column)))
            else:
                table.add_column(Text(column))
        for said in cells:
            table.add_row(*map(Text, said))
        self.console.print(table)


def one_line(message: str) -> str:
    """A message of several lines (a config error lists each problem under its file) as one: what `--quiet` prints,
    since cron mails every line and a mail's subject or a log's grep shows the first alone."""
    head, *rest = message.splitlines() or [""]
    details = [line.strip().removeprefix("- ") for line in rest if line.strip()]
    return f"{head}: {'; '.join(details)}" if details else head


def print_error(message: str, *, prefix: str = "error: ") -> None:
    """Errors (and the mode banner) go to stderr, in bold on a terminal."""
    message = shown(message)
    if sys.stderr.isatty():
        from rich.console import Console

        Console(stderr=True, highlight=False).print(f"{prefix}{message}", style="bold red", markup=False)
    else:
        print(f"{prefix}{message}", file=sys.stderr)
