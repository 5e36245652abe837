"""The commands' and options' help as typer's rich help prints it: each paragraph of a docstring as one paragraph.

typer's rich help (its markup mode "rich", the default when rich is installed) prints a docstring's single newlines
as they are, in a command's description after its first paragraph and in a group's list of its commands (a
command's first paragraph), where its plain help (click's) and its other markup modes join a paragraph's lines. The
docstrings here are wrapped at the source's line length, so `llmtrade --help` cut the leaderboard's line after
"Sharpe with a" and `backtest sweep --help` broke "`llmtrade" from "backtest`", a short line at every wrap. The
"markdown" mode would join them, but it reads backquotes, asterisks and underscores as styling and drops them.

So each help text is given to typer as its paragraphs (blank-line separated), each on one line, for rich to wrap at
the terminal's width; click's `\\b` paragraphs (no rewrap) and anything after `\\f` (not shown) are left as written.
typer also reads the text as rich markup: `[word]` would be taken for a style and dropped (an unmatched `[/word]`
ends the help in a MarkupError), so what rich would read as a tag is escaped to print as written. Rich has no escape
for its `:name:` emoji codes: tests/test_help_paragraphs.py would catch one.
"""

from __future__ import annotations

import inspect
import re
import weakref
from typing import Any

# Blank lines, however many and with whatever spaces on them, end a paragraph (as they do for click and typer).
_BLANK_LINES = re.compile(r"\n(?:[ \t]*\n)+")

# The commands and parameters already rewritten: escaping twice would show the escapes (a test session formats the
# same click tree thousands of times; conftest.py `_built_once`).
_DONE: weakref.WeakSet[Any] = weakref.WeakSet()


def unwrapped(text: str) -> str:
    """`text`'s paragraphs, each on one line, blank-line separated; a `\\b` paragraph and what follows `\\f` as
    written."""
    shown, cut, hidden = inspect.cleandoc(text).partition("\f")
    paragraphs = [
        paragraph if paragraph.startswith("\b") else " ".join(line.strip() for line in paragraph.split("\n"))
        for paragraph in _BLANK_LINES.split(shown.strip("\n"))
    ]
    return "\n\n".join(paragraphs) + (f"\n{cut}{hidden}" if cut else "")


def as_rich_markup(text: str) -> str:
    """`text` to print as written where rich reads markup: what rich would take for a tag, escaped."""
    if "[" not in text and not text.endswith("\\"):
        return text  # nothing to escape, and rich not imported on a command's way in (a --help starts fast)
    from rich.markup import escape

    return escape(text)


def readable(root: Any) -> None:
    """Every help text of `root`'s click command tree (commands, groups, their options and arguments), rewritten
    once for typer's rich help; a command under another markup mode (click's plain help, markdown) keeps its own."""
    from typer.core import HAS_RICH

    if not HAS_RICH or root in _DONE:
        return
    commands = [root]
    while commands:
        command = commands.pop()
        commands += list(getattr(command, "commands", {}).values())
        if command in _DONE or getattr(command, "rich_markup_mode", None) != "rich":
            continue
        for field in ("help", "short_help", "epilog"):
            text = getattr(command, field, None)
            if text:
                setattr(command, field, as_rich_markup(unwrapped(text)))
        for param in command.params:
            text = getattr(param, "help", None)
            if text and param not in _DONE:
                param.help = as_rich_markup(unwrapped(text))
                _DONE.add(param)
        _DONE.add(command)
    _DONE.add(root)
