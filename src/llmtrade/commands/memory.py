"""`llmtrade memory search | show | stats | rebuild`: the committee's memory, inspected and rebuilt."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from llmtrade.commands.context import Reads, container, echo_json, recorder
from llmtrade.commands.options import Json, Offline, Replay, parse_date
from llmtrade.console import Output
from llmtrade.errors import UsageError

memory_app = typer.Typer(help="The committee's memory of past setups, outcomes, lessons and market conditions.")


@memory_app.command("search", cls=Reads)
def search(
    ctx: typer.Context,
    text: Annotated[str | None, typer.Argument(help="A thesis or indicators to find past setups like.")] = None,
    week: Annotated[
        str | None, typer.Option("--week", help="Find past weeks whose market condition was like this week's.")
    ] = None,
    instrument: Annotated[
        str | None, typer.Option("--instrument", help="Rank setups of this instrument first (numeric part).")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=100, help="How many hits.")] = 10,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Search only what was known before this ISO time (default: now; with --week, the week's own time "
            "when that is earlier).",
        ),
    ] = None,
    offline: Offline = False,
    replay: Replay = False,
    as_json: Json = False,
) -> None:
    """Past setups like TEXT (with their outcomes), or past weeks like --week DATE's market condition.

    Best first; the score is a distance, smaller = closer: for TEXT 1 / the setup's fused rank sum, for --week
    the root-mean-square z-score difference of the two weeks' market conditions."""
    from llmtrade.app import memory_queries  # lazy: see package docstring
    from llmtrade.commands.render.memory import print_search

    if (text is None) == (week is None):
        raise UsageError("memory search: give either TEXT or --week DATE")
    app = container(ctx, offline=offline, replay=replay)
    if week is not None:
        day = parse_date(week)
        assert day is not None
        result = memory_queries.search_week(app, day, limit=limit, as_of=_instant(as_of))
    else:
        assert text is not None
        result = memory_queries.search_text(
            app, text, instrument=instrument.upper() if instrument else None, limit=limit, as_of=_instant(as_of)
        )
    if as_json:
        echo_json(result)
    else:
        print_search(Output(), result)


@memory_app.command("show", cls=Reads)
def show(
    ctx: typer.Context,
    memory_id: Annotated[str, typer.Argument(help="A memory id, e.g. setup:2025-01-08:pitch:pm_a.")],
    as_json: Json = False,
) -> None:
    """One memory as stored, with the event it came from."""
    from llmtrade.app import memory_queries
    from llmtrade.commands.render.memory import print_shown

    result = memory_queries.show(container(ctx, offline=True), memory_id)
    if as_json:
        echo_json(result)
    else:
        print_shown(Output(), result)


@memory_app.command("stats", cls=Reads)
def stats(ctx: typer.Context, offline: Offline = False, as_json: Json = False) -> None:
    """How much is remembered, over which weeks, and which models made the stored vectors."""
    from llmtrade.app import memory_queries
    from llmtrade.commands.render.memory import print_stats

    result = memory_queries.stats(container(ctx, offline=offline))
    if as_json:
        echo_json(result)
    else:
        print_stats(Output(), result)


@memory_app.command("rebuild")
def rebuild(ctx: typer.Context, offline: Offline = False, replay: Replay = False, as_json: Json = False) -> None:
    """Empty the memory tables and replay them from the events, re-embedding with the current model."""
    from llmtrade.app import memory_queries
    from llmtrade.commands.render.memory import print_rebuilt

    result = memory_queries.rebuild(recorder(ctx, "memory rebuild", offline=offline, replay=replay))
    if as_json:
        echo_json(result)
    else:
        print_rebuilt(Output(), result)


def _instant(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        # Python's reason says which part is wrong (hour must be in 0..23, day is out of range for month).
        raise UsageError(f"--as-of {value!r} is not an ISO time ({exc}; e.g. 2025-01-08T13:00:00+00:00)") from None
    if parsed.tzinfo is None:
        raise UsageError(f"--as-of {value!r} has no time zone: give one, e.g. 2025-01-08T13:00:00+00:00 or ...-05:00")
    return parsed


def register(app: typer.Typer) -> None:
    app.add_typer(memory_app, name="memory")
