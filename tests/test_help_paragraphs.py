"""Every command's `--help` reads as its docstring's paragraphs: a new user's `llmtrade --help` showed the
leaderboard's line cut after "Sharpe with a", and `backtest sweep --help` broke "as `llmtrade" from "backtest`",
wherever the docstring had been hard-wrapped (typer's rich help kept a paragraph's single newlines).

The real help of every command and group, at 100 columns, against the help as written (the click tree typer builds
from the app, never rendered): each paragraph's words are there, none lost to markup, and no line of a description
ends where the next line's first word would still have fit."""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from itertools import pairwise
from typing import Annotated, Any

import typer
import typer.main
from typer.testing import CliRunner

from llmtrade.cli import _Group, app

runner = CliRunner()
WIDTH = 100
# typer prints the description with one column of padding each side; a panel has its border and one column of
# padding each side, and its last column no padding of its own (rich_utils.STYLE_*_TABLE_PAD_EDGE).
DESCRIPTION_WIDTH = WIDTH - 2
PANEL_INNER_END = WIDTH - 3


def _commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, (*path, name))


def _paragraphs(text: str) -> list[list[str]]:
    """Each blank-line separated paragraph of a help text as written, as its words."""
    return [p.split() for p in re.split(r"\n\s*\n", inspect.cleandoc(text)) if p.strip()]


def _early_breaks(lines: list[str], width: int) -> list[str]:
    """The lines of one paragraph that end where the next line's first word would still have fit in `width`."""
    return [
        f"{line!r} then {after.split()[0]!r}"
        for line, after in pairwise(lines)
        if len(line) + 1 + len(after.split()[0]) <= width
    ]


def _split(lines: list[str]) -> list[list[str]]:
    """Rendered lines into paragraphs at their blank lines."""
    paragraphs: list[list[str]] = [[]]
    for line in lines:
        if line.strip():
            paragraphs[-1].append(line.rstrip())
        elif paragraphs[-1]:
            paragraphs.append([])
    return [p for p in paragraphs if p]


def _description(output: str) -> list[str]:
    """The lines between the usage line and the first panel, without typer's one column of padding."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("Usage:")) + 1
    end = next((i for i, line in enumerate(lines) if line.startswith("╭")), len(lines))
    return [line[1:] for line in lines[start:end]]


def _panel(output: str, title: str) -> list[str]:
    """The inside of a panel's lines (between its borders), or none."""
    lines = output.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith(f"╭─ {title} ")]
    if not starts:
        return []
    inside = []
    for line in lines[starts[0] + 1 :]:
        if line.startswith("╰"):
            break
        inside.append(line.rstrip()[1:-1])
    return inside


def _command_rows(inside: list[str]) -> tuple[dict[str, list[str]], int]:
    """A commands panel's descriptions by command name (a row starts where the name column has one), and where
    the description column starts."""
    rows: dict[str, list[str]] = {}
    current: list[str] = []
    start = 0
    for line in inside:
        name = line[1:].split(" ", 1)[0]
        if name:
            start = len(line) - len(line[1 + len(name) :].lstrip())
            current = rows.setdefault(name, [])
        current.append(line[start:].rstrip())
    return rows, start


def _help_pages() -> Iterator[tuple[tuple[str, ...], Any, str]]:
    written = typer.main.get_command(app)  # the help as declared, never formatted
    for path, command in _commands(written):
        shown = runner.invoke(app, [*path, "--help"], env={"COLUMNS": str(WIDTH)})
        assert shown.exit_code == 0, (path, shown.output)
        yield path, command, shown.stdout


def test_every_help_keeps_its_paragraphs_and_wraps_them_whole() -> None:
    wrong: list[str] = []
    pages = 0
    for path, command, output in _help_pages():
        pages += 1
        where = " ".join(("llmtrade", *path))
        # The command's own description, every paragraph.
        written = _paragraphs((command.help or "").partition("\f")[0])
        shown = _split(_description(output))
        if [" ".join(line for line in p).split() for p in shown] != written:
            wrong.append(f"{where}: description {shown!r} is not the paragraphs written {written!r}")
        for paragraph in shown:
            wrong += [f"{where}: description line {b}" for b in _early_breaks(paragraph, DESCRIPTION_WIDTH)]
        # A group's commands panel: each subcommand's first paragraph.
        subcommands = getattr(command, "commands", {})
        inside = _panel(output, "Commands")
        assert bool(inside) == bool(subcommands), where
        rows, column = _command_rows(inside)
        assert list(rows) == list(subcommands), where
        for name, sub in subcommands.items():
            first = _paragraphs(sub.short_help or sub.help or "")[0]
            lines = rows[name]
            if " ".join(lines).split() != first:
                wrong.append(f"{where}: {name}'s line {lines!r} is not its first paragraph {first!r}")
            wrong += [f"{where}: {name}'s line {b}" for b in _early_breaks(lines, PANEL_INNER_END - column)]
        # Options and arguments: each paragraph of their help, whole, in the page.
        page = " ".join(output.replace("│", " ").split())
        for param in command.params:
            for paragraph in _paragraphs(getattr(param, "help", None) or ""):
                if " ".join(paragraph) not in page:
                    wrong.append(f"{where}: {param.name}'s help {' '.join(paragraph)!r} is not in its help")
    assert pages > 40  # every command and group: the walk reached them all
    assert wrong == [], "\n".join(wrong)


def test_help_prints_markup_looking_text_as_written() -> None:
    """typer's rich help reads a help text as rich markup: `[level]` would be taken for a style and dropped, and an
    unmatched `[/bold]` ended the help in a MarkupError. llmtrade's root group (cli.py `_Group`) has it printed as
    written, and its backquotes and asterisks too (not styling, as the markdown mode would make them)."""
    demo = typer.Typer(cls=_Group, name="demo")

    @demo.command()
    def show(
        level: Annotated[int, typer.Option(help="A [level], [bold]not bold[/bold] or [/bold] alone: `--x`.")] = 0,
    ) -> None:
        """Show it [dim]as written[/dim], `backquoted` and
        *starred*, \\[escaped] too.

        A [second] paragraph."""

    @demo.command()
    def other() -> None:
        """Another [one]."""

    listed = runner.invoke(demo, ["--help"], env={"COLUMNS": str(WIDTH)})
    assert listed.exit_code == 0, listed.output
    text = " ".join(listed.stdout.replace("│", " ").split())
    assert "show Show it [dim]as written[/dim], `backquoted` and *starred*, \\[escaped] too." in text
    assert "other Another [one]." in text
    shown = runner.invoke(demo, ["show", "--help"], env={"COLUMNS": str(WIDTH)})
    assert shown.exit_code == 0, shown.output
    assert _split(_description(shown.stdout)) == [
        ["Show it [dim]as written[/dim], `backquoted` and *starred*, \\[escaped] too."],
        ["A [second] paragraph."],
    ]
    text = " ".join(shown.stdout.replace("│", " ").split())
    assert "A [level], [bold]not bold[/bold] or [/bold] alone: `--x`. [default: 0]" in text
