"""A long backtest's memory stays bounded (issue 13): the in-process copies of a closed week's streams, the folds over
them and the payloads parsed from them leave memory once two weeks have passed without a read of them
(storage/event_copies.py `Copies.drop_idle`, called after each week); what is read again is read from PostgreSQL, the
same events. A whole backtest's: tests/test_backtest_tail.py (its
module's backtest)."""

from __future__ import annotations

from datetime import date, timedelta

from llmtrade.clock import FixedClock
from llmtrade.domain.events import NewEvent, StageDeferred
from llmtrade.domain.streams import week_stream
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.event_copies import copies_of
from llmtrade.storage.event_store import EventStore
from tests.support import FIXED_NOW

WEEK = date(2026, 1, 7)
WEEKS = 12


def _week(n: int) -> date:
    return WEEK + timedelta(weeks=n)


def test_a_closed_weeks_stream_copies_folds_and_payloads_leave_memory_and_read_back_the_same(storage: Storage) -> None:
    held = EventStore(storage.conn, FixedClock(FIXED_NOW), exclusive=True)
    copies = copies_of(storage.conn)
    kept: list[int] = []
    for n in range(WEEKS):
        week = _week(n)
        for part in ("pitches", "risk", "orders"):
            stream = week_stream(week, part)
            payload = StageDeferred(stage=part, waiting=[f"week {n}"], errors=[], deadline=None).model_dump(mode="json")
            held.append([NewEvent(type="StageDeferred", stream=stream, payload=payload, week_id=week)])
            for event in held.read(stream=stream):
                held.payload(StageDeferred, event)
            held.fold_stream("count", stream=stream, types=["StageDeferred"], start=0, step=lambda s, e: s + len(e))
        held.append([NewEvent(type="BreakerUpdated", stream="breaker:acct_1", payload={"n": n})])
        if n == 0:
            held.read(stream="breaker:acct_1")  # read once, appended to since: dropped all the same
            held.keep_stream("backtest")
            held.read(stream="backtest")  # read once, kept (the leaderboard reads it at the end)
        held.append([NewEvent(type="BacktestWeekDone", stream="backtest", payload={"n": n})])
        held.flush_behind()
        held.drop_idle_copies()
        kept.append(len(copies.streams))
    # Without the drop: three more streams every week. With it: this week's and last week's, and the one kept.
    assert kept[-1] == kept[-4] == 2 * 3 + 1, kept
    assert all(not name.startswith(f"week:{_week(n)}") for n in range(WEEKS - 2) for name in copies.streams)
    assert "breaker:acct_1" not in copies.streams
    assert [e.payload["n"] for e in copies.streams["backtest"].events] == list(range(WEEKS))
    assert len(copies.folds) <= 2 * 3 and len(copies.parsed) + len(copies.parsed_before) <= 2 * 3
    # A dropped stream read again: PostgreSQL's events (the week's writes flushed first), parsed and folded afresh.
    first = week_stream(_week(0), "pitches")
    again = held.read(stream=first)
    assert [(e.type, e.version, e.payload["waiting"]) for e in again] == [("StageDeferred", 1, ["week 0"])]
    assert held.payload(StageDeferred, again[0]).waiting == ["week 0"]
    assert held.fold_stream("count", stream=first, types=["StageDeferred"], start=0, step=lambda s, e: s + len(e)) == 1
    held.flush()
