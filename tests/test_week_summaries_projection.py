"""week_summaries: each (week, account) row holds its latest postmortem, and a projection writes only what changed."""

from __future__ import annotations

from datetime import date

import psycopg
import psycopg.errors
import pytest

from llmtrade.clock import FixedClock
from llmtrade.domain.checkpoints import Postmortem, PostmortemWritten
from llmtrade.domain.events import NewEvent
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.event_store import EventStore
from llmtrade.storage.projections import project_week_summaries
from tests.support import FIXED_NOW

W1, W2 = date(2026, 1, 7), date(2026, 1, 14)


def _written(storage: Storage, week_id: date, account_id: str, end_equity: float, *, stamped: bool = False) -> int:
    """A postmortem's event; `stamped`: with its account too, as the postmortem job stamps its own."""
    pm = _postmortem(week_id, account_id, end_equity)
    event = NewEvent.of(
        PostmortemWritten(postmortem=pm),
        stream=f"pm:{week_id}:{account_id}",
        week_id=week_id,
        account_id=account_id if stamped else None,
    )
    [stored] = storage.events.append([event])
    return stored.id


def _postmortem(week_id: date, account_id: str, end_equity: float) -> Postmortem:
    return Postmortem(
        week_id=week_id,
        account_id=account_id,
        instrument="SPY",
        direction="LONG",
        start_equity=100_000.0,
        end_equity=end_equity,
        realized_pnl=0.0,
        unrealized_pnl=end_equity - 100_000.0,
        week_pnl=end_equity - 100_000.0,
        week_return=end_equity / 100_000.0 - 1,
        instrument_return=None,
        indicators=[],
        reflection=None,
    )


def _rows(storage: Storage) -> list[tuple[object, ...]]:
    return storage.conn.execute(
        "SELECT week_id, account_id, end_equity, event_id FROM week_summaries ORDER BY week_id, account_id"
    ).fetchall()


def test_a_projection_writes_new_and_newer_postmortems_only_and_keeps_each_weeks_latest(storage: Storage) -> None:
    a1 = _written(storage, W1, "acct_1", 101_000.0)
    b1 = _written(storage, W1, "acct_2", 99_000.0)
    assert project_week_summaries(storage.conn, storage.events) == 2
    assert project_week_summaries(storage.conn, storage.events) == 0  # nothing new: nothing written
    a2 = _written(storage, W2, "acct_1", 102_000.0)
    again = _written(storage, W1, "acct_2", 98_000.0)  # a later postmortem of an already projected week
    assert project_week_summaries(storage.conn, storage.events) == 2
    assert _rows(storage) == [
        (W1, "acct_1", 101_000.0, a1),
        (W1, "acct_2", 98_000.0, again),
        (W2, "acct_1", 102_000.0, a2),
    ]
    assert b1 < again
    # The table can be dropped and rebuilt from the events.
    storage.conn.execute("DELETE FROM week_summaries")
    assert project_week_summaries(storage.conn, storage.events) == 3
    assert [r[3] for r in _rows(storage)] == [a1, again, a2]


def _every_postmortems_latest(storage: Storage) -> list[tuple[object, ...]]:
    """The full computation: every PostmortemWritten parsed, each (week, account) at its highest id."""
    latest: dict[tuple[date, str], tuple[date, str, float, int]] = {}
    for event in storage.events.read(type=PostmortemWritten.event_type()):
        pm = PostmortemWritten.from_event(event).postmortem
        latest[(pm.week_id, pm.account_id)] = (pm.week_id, pm.account_id, pm.end_equity, event.id)
    return [latest[key] for key in sorted(latest)]


def test_postmortems_keyed_by_their_columns_project_as_the_parsed_ones_do(storage: Storage) -> None:
    _written(storage, W1, "acct_1", 101_000.0, stamped=True)
    _written(storage, W1, "acct_2", 99_000.0)  # unstamped account: keyed by its payload
    assert project_week_summaries(storage.conn, storage.events) == 2
    _written(storage, W2, "acct_1", 102_000.0, stamped=True)
    _written(storage, W1, "acct_2", 97_000.0, stamped=True)  # the same key as the unstamped one, later: it wins
    _written(storage, W1, "acct_1", 100_500.0, stamped=True)
    assert project_week_summaries(storage.conn, storage.events) == 3
    assert project_week_summaries(storage.conn, storage.events) == 0
    assert _rows(storage) == _every_postmortems_latest(storage)
    storage.conn.execute("DELETE FROM week_summaries WHERE week_id = %s", (W1,))
    assert project_week_summaries(storage.conn, storage.events) == 2
    assert _rows(storage) == _every_postmortems_latest(storage)


def test_a_later_projection_reads_only_the_postmortems_written_since_while_the_table_is_as_it_left_it(
    storage: Storage,
) -> None:
    from llmtrade.storage import projections

    _written(storage, W1, "acct_1", 101_000.0, stamped=True)
    first = _written(storage, W1, "acct_2", 99_000.0, stamped=True)
    assert project_week_summaries(storage.conn, storage.events) == 2
    assert projections._PROJECTED[storage.conn].seen == first
    read = storage.events.read
    asked: list[object] = []

    def reading(**filters: object) -> object:
        asked.append(filters.get("after_id"))
        return read(**filters)  # type: ignore[arg-type]

    storage.events.read = reading  # type: ignore[method-assign]
    _written(storage, W2, "acct_1", 102_000.0, stamped=True)
    assert project_week_summaries(storage.conn, storage.events) == 1
    assert asked == [first]  # only what came after the last projection
    # A row changed behind the projection's back (its event id rewritten): every postmortem is read again.
    storage.conn.execute("UPDATE week_summaries SET event_id = event_id + 1000 WHERE week_id = %s", (W1,))
    assert project_week_summaries(storage.conn, storage.events) == 2
    assert asked[-1] is None
    assert _rows(storage) == _every_postmortems_latest(storage)


def test_a_failed_projection_keeps_the_events_its_read_wrote_for_a_backtests_store(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A backtest's store holds its appends until a read asks PostgreSQL; the projection's read is that read when
    # the type's copy is new, so it writes them. A projection that then fails must not take them back with it.
    store = EventStore(storage.conn, FixedClock(FIXED_NOW), exclusive=True)
    try:
        pm = _postmortem(W1, "acct_1", 101_000.0)
        store.append([NewEvent.of(PostmortemWritten(postmortem=pm), stream=f"pm:{W1}:acct_1", week_id=W1)])

        def fails(*args: object, **kwargs: object) -> None:
            raise psycopg.errors.QueryCanceled("canceling statement due to statement timeout")

        monkeypatch.setattr(psycopg.Cursor, "executemany", fails)
        with pytest.raises(psycopg.errors.QueryCanceled):
            project_week_summaries(storage.conn, store)
        monkeypatch.undo()
        kept = storage.conn.execute("SELECT type FROM events WHERE stream = %s", (f"pm:{W1}:acct_1",)).fetchall()
        assert kept == [("PostmortemWritten",)]
        assert _rows(storage) == []  # the projection's own rows rolled back
        assert project_week_summaries(storage.conn, store) == 1  # and a later one writes them
    finally:
        store.close()
