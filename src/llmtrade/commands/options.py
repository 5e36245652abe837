"""Options shared by many commands, declared once (typer `Annotated` aliases), and their parsing."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from llmtrade.errors import UsageError

Json = Annotated[
    bool, typer.Option("--json", help="Print the result as JSON (`llmtrade schema COMMAND` describes it).")
]
JsonLines = Annotated[bool, typer.Option("--json", help="JSON Lines: one record per line.")]
Offline = Annotated[
    bool,
    typer.Option(
        "--offline", help="Offline: the deterministic rules provider, offline market, paper brokers; no network."
    ),
]
Replay = Annotated[bool, typer.Option("--replay", help="Answer only from the cache of earlier live calls.")]
Week = Annotated[
    str | None,
    typer.Option("--week", help="Any date in the week (YYYY-MM-DD); the week's Wednesday is used. Default: this week."),
]
AnyWeek = Annotated[
    str | None,
    typer.Option(
        "--week", help="Only the week of this date (YYYY-MM-DD; the week's Wednesday is used). Default: every week."
    ),
]
PastWeek = Annotated[
    str | None, typer.Option("--week", help="Any date in the week to review (YYYY-MM-DD); default: last week.")
]
Backtest = Annotated[
    str | None, typer.Option("--backtest", help="Read the books of the backtest NAME instead of the live ones.")
]
LiveBooks = Annotated[bool, typer.Option("--live", help="Read the live books (the default).")]
DryRun = Annotated[
    bool,
    typer.Option("--dry-run", help="Decide everything but send no order and store nothing."),
]


def given_path(value: str | Path) -> Path:
    """A path option's or argument's value (`parser=` of each): the empty string is refused, not read as the current
    folder. typer makes `Path("")` of it, which is ".", so `report -o "$OUT"` with OUT unset was told "report path .
    is a folder" and `--config ""` read the configuration of whatever folder the command ran in."""
    if isinstance(value, Path):  # a default, already a path
        return value
    if value == "":
        raise typer.BadParameter("an empty path (a variable not set?): give a file or folder name")
    return Path(value)


def parse_date(value: str | None, option: str = "--week") -> date | None:
    if value is None:
        return None
    from llmtrade.config.times import calendar_day  # lazy: see package docstring
    from llmtrade.domain.weeks import week_problem

    try:
        day = calendar_day(value)
    except ValueError as exc:
        raise UsageError(f"{option} {exc}") from None
    # Every date option names the week holding it (Wednesday to Tuesday): one with none was a traceback, exit 1.
    problem = week_problem(day)
    if problem is not None:
        raise UsageError(f"{option} {value!r} {problem}")
    return day


def parse_time(value: str, where: str) -> str:
    """`value`, a time of day the user typed, as HH:MM (`9:00` is 09:00); exit 2 saying what is wrong with it."""
    from llmtrade.config.times import clock_time  # lazy: see package docstring

    try:
        return clock_time(value)
    except ValueError as exc:
        raise UsageError(f"{where} {exc}") from None


LogJson = Annotated[
    bool,
    typer.Option(
        "--log-json",
        help="Write the log's JSON lines to stderr too (they always go to LLMTRADE_HOME/logs/llmtrade.jsonl).",
    ),
]
Verbose = Annotated[
    bool, typer.Option("--verbose", "-v", help="Show the log on stderr as readable lines (what ran, when, for whom).")
]
Quiet = Annotated[
    bool,
    typer.Option(
        "--quiet",
        "-q",
        help="Say nothing on success (for cron): no result lines, mode or progress; warnings, errors and --json stay.",
    ),
]
