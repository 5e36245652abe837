"""Every command a message tells the user to run exists: a config alert told cron's reader to run `llmtrade config
check`, which exits 2 with "No such command" (a new user's trial); the command is `config validate`.

Read from the source: each `llmtrade WORD [WORD]` between backticks in src/llmtrade (messages, alerts, hints)
names a command of the command line, and, where that command is a group, one of its subcommands."""

from __future__ import annotations

import re
from pathlib import Path

import typer.main

from llmtrade.cli import app

SRC = Path(__file__).resolve().parent.parent / "src" / "llmtrade"
# `llmtrade config validate`, 'llmtrade db stop': the words after llmtrade up to the first option or argument.
_NAMED = re.compile(r"`llmtrade ((?:[a-z][a-z-]*)(?: [a-z][a-z-]*)?)")


def _named() -> dict[str, str]:
    found: dict[str, str] = {}
    for path in sorted(SRC.rglob("*.py")):
        for match in _NAMED.finditer(path.read_text()):
            found.setdefault(match.group(1), str(path.relative_to(SRC)))
    return found


def test_every_command_a_message_names_exists() -> None:
    root = typer.main.get_command(app)
    assert "config" in root.commands  # type: ignore[attr-defined]
    named = _named()
    wrong = []
    for words, where in named.items():
        first, *rest = words.split(" ")
        command = root.commands.get(first)  # type: ignore[attr-defined]
        # A group's second word is one of its subcommands; a command's is an argument (`llmtrade schema status`).
        if command is None or (hasattr(command, "commands") and rest and rest[0] not in command.commands):
            wrong.append(f"{where}: llmtrade {words}")
    assert wrong == []
    assert "config validate" in named  # the config alert's hint is among those read
