"""`llmtrade events`: the recorded events, oldest first, filtered by week, type, account, run and stream.

An answer with no event is checked against the books before it is given: a filter naming nothing they know (a
misspelt type, an account that is none, a run or stream never recorded, a week with no event) is a UsageError
(exit 2) naming what is known; a filter the books know that matches nothing is said on stderr, exit 0.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Annotated

import typer

from llmtrade.commands.context import Reads, read_books, say, state
from llmtrade.commands.options import AnyWeek, Backtest, JsonLines, parse_date
from llmtrade.console import Output, json_shown
from llmtrade.domain.wording import counted
from llmtrade.errors import UsageError

if TYPE_CHECKING:
    from llmtrade.storage.bootstrap import Storage


def events(
    ctx: typer.Context,
    week: AnyWeek = None,
    type: Annotated[list[str] | None, typer.Option("--type", "-t", help="Event type; repeat for several.")] = None,
    account: Annotated[str | None, typer.Option(help="Account id, e.g. acct_3.")] = None,
    run: Annotated[str | None, typer.Option(help="Run id.")] = None,
    stream: Annotated[str | None, typer.Option(help="Stream name.")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many events (oldest first).")] = None,
    backtest: Backtest = None,
    as_json: JsonLines = False,
) -> None:
    """List recorded events, oldest first."""
    from llmtrade.domain.weeks import week_id_for  # lazy: see package docstring

    day = parse_date(week)
    week_id = week_id_for(day) if day else None
    with read_books(ctx, backtest) as storage:
        found = storage.events.read(
            week_id=week_id, run_id=run, type=type or None, account_id=account, stream=stream, limit=limit
        )
        if not found:
            accounts = [a.id for a in state(ctx).config().config.accounts.accounts]
            _check_filters(storage, accounts, type or [], account, run, stream, backtest)
            if week_id is not None and day is not None:
                _check_week(storage, day, week_id, backtest)
            filters = [("--week", week), *(("--type", t) for t in type or []), ("--account", account)]
            filters += [("--run", run), ("--stream", stream)]
            named = " ".join(f"{option} {value}" for option, value in filters if value is not None)
            # Each filter names something the books hold (checked above): the answer is empty, not the question
            # wrong, so exit 0; said on stderr, as an empty table and empty JSON Lines look like no answer at all.
            say(f"no event matches {named}" if named else "the books hold no event")
    if as_json:
        for event in found:
            typer.echo(json_shown(event.model_dump_json()))  # a model's answer, printed: console.json_shown
        return
    import json  # lazy: only this command's table needs it

    from llmtrade.domain.wording import market_time

    Output().table(
        counted(len(found), "event"),
        ["id", "occurred at (New York)", "type", "stream", "v", "week", "account", "payload"],
        [
            (
                e.id,
                market_time(e.occurred_at),
                e.type,
                e.stream,
                e.version,
                e.week_id or "",
                e.account_id or "",
                _short(json.dumps(e.payload, separators=(",", ":"))),
            )
            for e in found
        ],
    )


def _check_filters(
    storage: Storage,
    accounts: list[str],
    types: list[str],
    account: str | None,
    run: str | None,
    stream: str | None,
    backtest: str | None,
) -> None:
    """Raise UsageError for a filter that names nothing the books know, once the events found are none: a misspelt
    type (`RunCompleted` for RunFinished, `OrderFiled`), an account that is not one (`acct_9`), a run id or stream
    never recorded listed "0 events" and exited 0, as if nothing of the kind had happened. A name the store holds
    (a type from another llmtrade version, an account since removed from accounts.yaml) is known. Each hint lists
    the same books: `--backtest NAME` kept (a backtest's hint listed the live books' runs)."""
    from llmtrade.domain.events import known_event_types  # lazy: loads every domain module

    events = storage.events
    command = "llmtrade events" + (f" --backtest {backtest}" if backtest else "")
    for name in types:
        if name not in known_event_types() and not events.read(type=[name], limit=1):
            raise UsageError.unknown(
                f"--type {name!r} is not an event type llmtrade records",
                name,
                known_event_types(),
                otherwise=f"`{command}` lists the types recorded",
            )
    if account is not None and account not in accounts and not events.read(account_id=account, limit=1):
        raise UsageError.unknown(
            f"--account {account!r} is not an account in accounts.yaml nor in the books",
            account,
            accounts,
            otherwise="",
        )
    recorded = {  # option: (its value, whether the books hold it, every one they hold, where else to look)
        "--run": (run, lambda: events.read(run_id=run, limit=1), lambda: _run_ids(storage), "--type RunStarted"),
        "--stream": (stream, lambda: events.read(stream=stream, limit=1), lambda: _streams(storage), ""),
    }
    for option, (value, held, every, listing) in recorded.items():
        if value is not None and not held():
            raise UsageError.unknown(
                f"{option} {value!r} is no {option[2:]} on record",
                value,
                every(),
                otherwise=f"`{command}{' ' + listing if listing else ''}` lists them",
            )


def _check_week(storage: Storage, day: date, week_id: date, backtest: str | None) -> None:
    """Raise UsageError for a `--week` the books hold no event of: a trial's `events --backtest h1 --week 2025-06-04`,
    a week the backtest never ran, printed an empty table and exited 0, as a week with nothing of the kind would.
    Names the week asked (the week holding `day`) and the weeks the books do hold: a backtest's range as it recorded
    it (and the weeks it finished, when fewer), the live books' first and last week."""
    from llmtrade.app.backtest_lock import held_elsewhere  # lazy: see package docstring
    from llmtrade.domain import streams
    from llmtrade.domain.backtests import BacktestStarted, again, weeks_done

    if storage.events.read(week_id=week_id, limit=1):
        return
    asked = f"--week {day}" + ("" if day == week_id else f" (the week of {week_id})")
    record = storage.events.read_stream(streams.BACKTEST)
    starts = [BacktestStarted.from_event(e) for e in record if e.type == BacktestStarted.event_type()]
    if backtest is not None and starts:
        was, done = starts[-1], sorted(weeks_done(record))
        held = f"first week {was.start}, last week {was.end}"
        if not was.start <= week_id <= was.end:
            raise UsageError(f"{asked} is outside backtest {was.name} ({held})")
        ran = f"{done[0]} to {done[-1]}" if done else "none"
        # What goes on is the leaderboard's word for these books: "the same command again" was said of a backtest
        # another process was running (the command meets its lock, exit 75) and of one whose last start stopped on a
        # bad price file (the command meets it again, exit 2).
        if held_elsewhere(storage.conn):
            next_step = "it is running now (another process holds its database) and has not reached that week"
        else:
            next_step = again(record, " to run it")
        raise UsageError(
            f"{asked}: backtest {was.name} has not run that week yet ({held}; weeks done: {ran}); {next_step}"
        )
    first, last = storage.conn.execute("SELECT min(week_id), max(week_id) FROM events").fetchone() or (None, None)
    books = f"backtest {backtest}'s books" if backtest is not None else "the books"
    held = "they hold no week yet" if first is None else f"first week {first}, last week {last}"
    raise UsageError(f"{asked}: {books} hold no event of that week ({held})")


def _run_ids(storage: Storage) -> list[str]:
    return [e.run_id for e in storage.events.read(type="RunStarted") if e.run_id]


def _streams(storage: Storage) -> list[str]:
    return [row[0] for row in storage.conn.execute("SELECT DISTINCT stream FROM events").fetchall()]


def _short(text: str, width: int = 80) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def register(app: typer.Typer) -> None:
    app.command(cls=Reads)(events)
