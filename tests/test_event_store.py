"""Contract tests of the event store against a real PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import date

import psycopg
import pytest

from llmtrade.clock import FixedClock
from llmtrade.domain.events import NewEvent, StageStarted
from llmtrade.errors import ConcurrencyError
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import Storage, open_storage
from llmtrade.storage.event_store import EventStore
from tests.support import FIXED_NOW

WEEK = date(2026, 1, 7)


@pytest.fixture(params=["shared", "exclusive"])
def storage(request: pytest.FixtureRequest, database_url: str, clock: FixedClock) -> Iterator[Storage]:
    """Every contract below holds for the store live runs use and for a backtest's exclusive one."""
    with open_storage(Settings(DATABASE_URL=database_url), clock) as opened:
        if request.param == "exclusive":
            opened = replace(opened, events=EventStore(opened.conn, clock, exclusive=True))
        yield opened


def _event(stream: str = "week:2026-01-07", type: str = "PitchReceived", **kw: object) -> NewEvent:
    return NewEvent(type=type, stream=stream, payload={"n": kw.pop("n", 0)}, **kw)


def test_appended_events_come_back_with_dense_versions_and_the_clock_time(storage: Storage) -> None:
    stored = storage.events.append([_event(n=1), _event(n=2), _event(stream="other", n=3)])
    assert [(e.stream, e.version) for e in stored] == [("week:2026-01-07", 1), ("week:2026-01-07", 2), ("other", 1)]
    assert all(e.occurred_at == FIXED_NOW for e in stored)
    more = storage.events.append([_event(n=4)])
    assert more[0].version == 3
    assert [e.payload["n"] for e in storage.events.read_stream("week:2026-01-07")] == [1, 2, 4]


def test_reads_filter_by_week_run_type_account_and_stream(storage: Storage) -> None:
    storage.events.append(
        [
            _event(type="PitchReceived", week_id=WEEK, account_id="acct_1", run_id="r1", n=1),
            _event(type="ReviewReceived", week_id=WEEK, account_id="acct_2", run_id="r1", n=2),
            _event(type="PitchReceived", week_id=date(2026, 1, 14), account_id="acct_1", run_id="r2", n=3),
            _event(stream="s2", type="OrderSubmitted", week_id=WEEK, account_id="acct_1", run_id="r2", n=4),
        ]
    )

    def ns(**filters: object) -> list[int]:
        return [e.payload["n"] for e in storage.events.read(**filters)]

    assert ns(week_id=WEEK) == [1, 2, 4]
    assert ns(run_id="r2") == [3, 4]
    assert ns(type="PitchReceived") == [1, 3]
    assert ns(type=["ReviewReceived", "OrderSubmitted"]) == [2, 4]
    assert ns(account_id="acct_1") == [1, 3, 4]
    assert ns(stream="s2") == [4]
    assert ns(week_id=WEEK, account_id="acct_1") == [1, 4]
    assert ns(limit=2) == [1, 2]


def test_the_weeks_of_some_types_are_listed_once_each_oldest_first_with_a_drafts_own(storage: Storage) -> None:
    later, latest = date(2026, 1, 14), date(2026, 1, 21)
    storage.events.append(
        [
            _event(type="PitchReceived", week_id=later, n=1),
            _event(type="PitchReceived", week_id=WEEK, n=2),
            _event(type="PitchReceived", week_id=later, n=3),
            _event(type="ReviewReceived", week_id=latest, n=4),
            _event(stream="no-week", type="PitchReceived", n=5),
        ]
    )
    # Held by an exclusive store and not yet written: listed all the same.
    assert storage.events.week_ids("PitchReceived") == [WEEK, later]
    assert storage.events.week_ids(["PitchReceived", "ReviewReceived"]) == [WEEK, later, latest]
    assert storage.events.week_ids(["OrderSubmitted"]) == []
    draft = storage.events.draft()
    draft.append([_event(type="ReviewReceived", week_id=date(2025, 12, 31), n=6)])
    assert draft.week_ids(("PitchReceived", "ReviewReceived")) == [date(2025, 12, 31), WEEK, later, latest]
    assert storage.events.week_ids("ReviewReceived") == [latest]  # the draft's week stayed in the draft


def test_update_is_refused_by_the_trigger(storage: Storage) -> None:
    storage.events.append([_event(n=1)])
    storage.events.flush()
    with pytest.raises(psycopg.errors.RestrictViolation, match="append-only: UPDATE refused"):
        storage.conn.execute("UPDATE events SET payload = '{}'")
    assert storage.events.read()[0].payload == {"n": 1}


def test_delete_and_truncate_are_refused_by_the_trigger(storage: Storage) -> None:
    storage.events.append([_event(n=1)])
    storage.events.flush()
    with pytest.raises(psycopg.errors.RestrictViolation, match="append-only: DELETE refused"):
        storage.conn.execute("DELETE FROM events")
    with pytest.raises(psycopg.errors.RestrictViolation, match="append-only: TRUNCATE refused"):
        storage.conn.execute("TRUNCATE events")
    assert storage.events.count() == 1


def test_an_append_at_a_stale_expected_version_raises_the_concurrency_error(storage: Storage) -> None:
    storage.events.append([_event(n=1)], expected_versions={"week:2026-01-07": 0})
    storage.events.append([_event(n=2)], expected_versions={"week:2026-01-07": 1})
    with pytest.raises(ConcurrencyError) as caught:
        storage.events.append([_event(n=3)], expected_versions={"week:2026-01-07": 1})
    assert caught.value.stream == "week:2026-01-07"
    assert caught.value.version == 2
    assert "another writer got there first" in str(caught.value)
    assert storage.events.stream_version("week:2026-01-07") == 2


def test_two_writers_racing_on_one_stream_leave_one_winner(storage: Storage) -> None:
    """Both read head 0; the unique (stream, version) key lets exactly one commit."""
    other_conn = psycopg.connect(storage.location.url, autocommit=True)
    other = EventStore(other_conn, FixedClock(FIXED_NOW))
    gate = threading.Barrier(2)
    outcomes: list[str] = []

    def write(store: EventStore, n: int) -> None:
        gate.wait()
        try:
            store.append([_event(stream="race", n=n)], expected_versions={"race": 0})
            store.flush()  # an exclusive store writes here, and learns here that it was not alone
            outcomes.append("ok")
        except ConcurrencyError:
            outcomes.append("conflict")

    threads = [threading.Thread(target=write, args=(s, i)) for i, s in enumerate([storage.events, other])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    other_conn.close()
    assert sorted(outcomes) == ["conflict", "ok"]
    assert len(storage.events.read_stream("race")) == 1


def test_an_insert_whose_id_a_sole_writer_already_used_draws_another(database_url: str, clock: FixedClock) -> None:
    """The sole writer numbers its events itself; a live insert that drew one of those ids before the sole
    writer moved the sequence past them must not fail with a raw duplicate key (CI saw exactly this race)."""
    with open_storage(Settings(DATABASE_URL=database_url), clock) as opened:
        sole = EventStore(opened.conn, clock, exclusive=True)
        sole.append([_event(stream="backtest", n=1)])
        sole.flush()
        # Rewind the sequence, as if the live insert had drawn its id before the sole writer's setval.
        opened.conn.execute("SELECT setval(pg_get_serial_sequence('events', 'id'), 1, false)")
        with psycopg.connect(database_url, autocommit=True) as other_conn:
            live = EventStore(other_conn, clock)
            stored = live.append([_event(stream="live", n=2)])
            assert [(e.id, e.stream, e.version) for e in stored] == [(2, "live", 1)]


def test_a_batch_is_one_transaction(storage: Storage) -> None:
    storage.events.append([_event(stream="b", n=1)])
    with pytest.raises(ConcurrencyError):
        storage.events.append([_event(stream="a", n=2), _event(stream="b", n=3)], expected_versions={"a": 0, "b": 0})
    assert storage.events.read_stream("a") == []
    assert [e.payload["n"] for e in storage.events.read_stream("b")] == [1]


def test_typed_payloads_name_the_event_type(storage: Storage) -> None:
    [stored] = storage.events.append([NewEvent.of(StageStarted(stage="research"), stream="run:x", run_id="x")])
    assert stored.type == "StageStarted"
    assert StageStarted.from_event(stored).stage == "research"


def test_a_draft_view_reads_its_own_appends_and_writes_nothing(storage: Storage) -> None:
    storage.events.append([_event(n=1, week_id=WEEK), _event(stream="other", n=2)])
    draft = storage.events.draft()
    added = draft.append([_event(n=3, week_id=WEEK), _event(stream="new", n=4)])
    assert [(e.stream, e.version) for e in added] == [("week:2026-01-07", 2), ("new", 1)]
    assert [e.payload["n"] for e in draft.read_stream("week:2026-01-07")] == [1, 3]
    assert [e.payload["n"] for e in draft.read(week_id=WEEK)] == [1, 3]
    assert [e.payload["n"] for e in draft.read()] == [1, 2, 3, 4]  # oldest first, the draft's last
    assert [e.payload["n"] for e in draft.read(limit=3)] == [1, 2, 3]
    assert draft.stream_version("new") == 1 and draft.count() == 4
    with pytest.raises(ConcurrencyError):
        draft.append([_event(stream="new", n=5)], expected_versions={"new": 0})
    # The database never saw the draft's events.
    assert storage.events.count() == 2
    assert storage.events.stream_version("new") == 0
    assert storage.events.draft().count() == 2


def test_a_batch_that_loses_its_race_at_the_insert_is_a_concurrency_error_and_leaves_nothing(
    database_url: str, clock: FixedClock
) -> None:
    """A batch's inserts go pipelined in one executemany: the row after a conflicting one must not survive it, and
    the conflict must still surface as ConcurrencyError naming the stream, not as a raw duplicate key."""
    with open_storage(Settings(DATABASE_URL=database_url), clock) as opened:
        events = opened.events
        events.append([_event(stream="taken", n=1)])
        # As if another writer committed "taken" 1 between this writer's head read and its insert.
        events.stream_version = lambda stream: 0  # type: ignore[method-assign]
        with pytest.raises(ConcurrencyError) as lost:
            events.append([_event(stream="free", n=2), _event(stream="taken", n=3), _event(stream="free", n=4)])
        assert lost.value.stream == "taken"
        del events.stream_version
        assert events.read_stream("free") == []
        assert [e.payload["n"] for e in events.read_stream("taken")] == [1]


def test_a_batch_comes_back_in_order_with_the_ids_and_versions_the_table_holds(storage: Storage) -> None:
    batch = [_event(stream=f"s{i % 3}", n=i) for i in range(7)]
    stored = storage.events.append(batch)
    storage.events.flush()
    assert [e.payload["n"] for e in stored] == list(range(7))
    assert [(e.stream, e.version) for e in stored] == [(f"s{i % 3}", i // 3 + 1) for i in range(7)]
    table = {row[0]: row[1:] for row in storage.conn.execute("SELECT id, stream, version FROM events").fetchall()}
    assert {e.id: (e.stream, e.version) for e in stored} == table


def test_a_stream_read_is_the_streams_events_in_order_in_a_list_of_its_own(storage: Storage) -> None:
    assert storage.events.read_stream("s") == []
    storage.events.append([_event(stream="s", n=1), _event(stream="t", n=2), _event(stream="s", n=3)])
    first = storage.events.read_stream("s")
    assert [(e.version, e.payload["n"]) for e in first] == [(1, 1), (2, 3)]
    first.clear()  # the caller's list: what is held is not changed by it
    storage.events.append([_event(stream="s", n=4)])
    assert [e.payload["n"] for e in storage.events.read_stream("s")] == [1, 3, 4]
    assert storage.events.read_stream("s") == storage.events.read(stream="s")
