"""A backtest's books do not grow by waiting: its weeks are its range's, and a week more comes only from a longer
range (the same command with a later --to, or another backtest). Its leaderboard said "SPY needs about 928 more"
and "weeks more 928" as the live books say them, where weekly runs will add the weeks; it now says they are weeks of
a longer backtest, not a wait. The live books keep their wording. On a real PostgreSQL, from the hand-written books
of tests/test_leaderboard_build.py."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import date

from llmtrade.analytics.records import Leaderboard
from llmtrade.app.leaderboard import build_leaderboard
from llmtrade.commands.render.leaderboard import print_leaderboard
from llmtrade.console import Output
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.event_store import EventStore
from tests.test_leaderboard_build import FILLS, FIRST_RUN, LAST_RUN, _Clock, _container, _ny, _write_books


def test_a_backtests_weeks_more_are_weeks_of_a_longer_range_not_a_wait(storage: Storage, database_url: str) -> None:
    clock = _Clock()
    events = EventStore(storage.conn, clock)
    _write_books(events, clock, [FIRST_RUN, _ny(date(2024, 12, 4), 8), LAST_RUN], FILLS)
    books = replace(storage, events=events)
    app = _container(database_url, None)
    backtest = build_leaderboard(app, books, source="backtest demo")
    waiting = [s.name for s in backtest.standings if s.weeks_more]
    assert waiting
    [note] = [n for n in backtest.notes if n.startswith("weeks more (a backtest's)")]
    assert "waiting adds none" in note and "a later --to" in note
    assert all(name in note for name in waiting)
    schema = Leaderboard.model_json_schema()["$defs"]["Standing"]["properties"]["weeks_more"]["description"]
    assert "a backtest does not grow by waiting" in schema
    [undecided] = [n for n in backtest.notes if n.startswith("no account is distinguishable from FLAT yet")]
    assert "more weeks of a longer backtest" in undecided and "needs about" in undecided
    text = io.StringIO()
    print_leaderboard(Output(stream=text, force_plain=True), backtest)
    assert f"note: {note}" in text.getvalue()

    live = build_leaderboard(app, books, source="live")
    assert not [n for n in live.notes if n.startswith("weeks more (a backtest's)")]
    [undecided] = [n for n in live.notes if n.startswith("no account is distinguishable from FLAT yet")]
    assert "longer backtest" not in undecided and "needs about" in undecided
