"""The exclusive event store (a backtest's): appends held in memory, seen by every read, written whole at flush,
and exactly what a store that writes at once would have stored. And the backtest's in-memory bar cache."""

from __future__ import annotations

import json
import random
import struct
import threading
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from pydantic import ValidationError

from llmtrade.clock import FixedClock
from llmtrade.domain.events import NewEvent, StoredEvent
from llmtrade.domain.market import Bar
from llmtrade.errors import ConcurrencyError
from llmtrade.storage.bar_cache import BarCache
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.event_store import EventStore
from llmtrade.storage.held_bar_cache import HeldBarCache
from tests.support import FIXED_NOW

WEEK = date(2026, 1, 7)


def _batches() -> list[list[NewEvent]]:
    # Keys in no particular order, nested objects, floats and ints: what jsonb reorders or renders.
    payload = {"zeta": 1, "a": {"yy": 0.1 + 0.2, "b": [1, {"kk": 2, "k": 1.5e-7}]}, "mid": "x"}
    return [
        [NewEvent(type="PitchReceived", stream="week:a", payload=payload, week_id=WEEK, account_id="acct_1")],
        [
            NewEvent(type="OrderSubmitted", stream="ledger:acct_1", payload={"n": 2}, account_id="acct_1"),
            NewEvent(type="PitchReceived", stream="week:a", payload={"n": 3}, week_id=WEEK, run_id="r1"),
        ],
        [NewEvent(type="RunStarted", stream="run:r1", payload={"mode": "offline"}, week_id=WEEK, run_id="r1")],
    ]


def _rows(url: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT id, type, stream, version, week_id, account_id, run_id, occurred_at, payload::text,"
            " schema_version FROM events ORDER BY id"
        ).fetchall()


def _fresh(url: str) -> str:
    head, _, query = url.partition("?")
    name = f"t_{__import__('uuid').uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{head.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")


def test_held_appends_are_read_at_once_but_reach_the_database_only_at_flush(
    storage: Storage, database_url: str
) -> None:
    store = EventStore(storage.conn, FixedClock(FIXED_NOW), exclusive=True)
    # A copy's first read asks PostgreSQL (writing what is held first); from then on appends keep it current.
    assert store.read_stream("week:a") == store.read(account_id="acct_1") == store.read(type="PitchReceived") == []
    assert store.read(week_id=WEEK) == []
    for batch in _batches():
        store.append(batch)
    # Every kind of read sees them: by account, stream, type, week (copies) and by run (which flushes).
    assert [e.version for e in store.read_stream("week:a")] == [1, 2]
    assert [e.type for e in store.read(account_id="acct_1")] == ["PitchReceived", "OrderSubmitted"]
    assert [e.stream for e in store.read(type="PitchReceived")] == ["week:a", "week:a"]
    assert [e.type for e in store.read(week_id=WEEK, type=["RunStarted", "PitchReceived"])] == [
        "PitchReceived",
        "PitchReceived",
        "RunStarted",
    ]
    assert store.stream_version("week:a") == 2 and store.stream_version("never") == 0
    assert _rows(database_url) == []  # nothing written yet
    assert [e.type for e in store.read(run_id="r1")] == ["PitchReceived", "RunStarted"]  # SQL: flushed first
    assert len(_rows(database_url)) == 4


def test_a_flush_stores_exactly_what_a_store_writing_at_once_stores(storage: Storage, database_url: str) -> None:
    other_url = _fresh(database_url)
    clock = FixedClock(FIXED_NOW)
    held = EventStore(storage.conn, clock, exclusive=True)
    returned = [e for batch in _batches() for e in held.append(batch)]
    held.flush()
    with psycopg.connect(other_url, autocommit=True) as conn:
        from llmtrade.storage.migrations import migrate

        migrate(conn)
        direct = EventStore(conn, clock)
        written = [e for batch in _batches() for e in direct.append(batch)]
    assert _rows(database_url) == _rows(other_url)
    # What the append handed back is what a read from PostgreSQL gives: same ids, versions, key order, floats.
    assert [e.model_dump() for e in returned] == [e.model_dump() for e in written]
    assert [list(e.payload) for e in returned] == [list(e.payload) for e in written]
    # The id sequence moved past the held ids: a writer that takes ids from it later does not collide.
    with psycopg.connect(database_url, autocommit=True) as conn:
        [after] = EventStore(conn, clock).append([NewEvent(type="X", stream="later", payload={})])
    assert after.id == returned[-1].id + 1


class _Side(StrEnum):
    LONG = "LONG"


def _awkward_payloads() -> list[dict[str, object]]:
    """Values whose JSON text pydantic_core writes otherwise than json.dumps (floats as 1e-5 not 1e-05, UTF-8 not
    \\u escapes, no spaces); then values left to json.dumps: floats numeric renders whole (from 1e16 up: a read
    gives them back as ints) and a str of its own."""
    rng = random.Random(7)
    doubles = [struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0] for _ in range(4000)]
    doubles += [rng.random() * 10 ** rng.randint(-12, 25) for _ in range(2000)]
    finite = [d for d in doubles if d == d and d - d == 0.0]
    return [
        {"tiny": 1e-05, "tinier": 2.5e-05, "exp": 1e-07, "neg0": -0.0, "e15": 1e15, "sum": 0.1 + 0.2},
        {"text": 'é ☃ \u2028 "quoted" \\ back / slash \x1f \n tab\t', "ключ": "значение", "emoji": "📈"},
        {"huge": 2**70, "neg": -(2**65), "zero": 0, "t": True, "f": False, "none": None, "empty": {}, "list": []},
        {"nested": [{"b": 1.5, "a": [0.001, 1e-300, {"zz": -9.5e15}]}, [[], [1, "2", 3.25]]], "tuple": (1, 2.0)},
        {"doubles": [d for d in finite if abs(d) < 1e16]},
        {"whole": [1e16, -2e20, 1.7976931348623157e308, *(d for d in finite if abs(d) >= 1e16)]},
        {"side": _Side.LONG, "list": [_Side.LONG]},
    ]


def test_held_events_are_stored_exactly_as_a_store_writing_at_once_stores_them(
    storage: Storage, database_url: str
) -> None:
    other_url = _fresh(database_url)
    # A time with microseconds and an offset of its own; names with what COPY's text format escapes.
    clock = FixedClock(datetime(2026, 1, 7, 8, 0, 0, 123456, tzinfo=ZoneInfo("America/New_York")))
    names = {"stream": "w\tx\\y\nz\r", "account_id": "acct\\1", "run_id": "run\t1", "week_id": WEEK}
    batch = [NewEvent(type="Awk\\ward", payload=p, **names) for p in _awkward_payloads()]  # type: ignore[arg-type]
    batch.append(NewEvent(type="Plain", stream="p", payload={}))  # the NULLs
    held = EventStore(storage.conn, clock, exclusive=True)
    returned = held.append(batch)
    texts = [text for _, text in held._writer.pending]  # type: ignore[union-attr]
    # The fast encoder wrote the first five, in its own way (else this test would prove nothing); json.dumps the rest.
    assert [text == json.dumps(event.payload) for text, event in zip(texts, batch[:-1], strict=False)] == [
        False
    ] * 5 + [True] * 2
    held.flush()
    with psycopg.connect(other_url, autocommit=True) as conn:
        from llmtrade.storage.migrations import migrate

        migrate(conn)
        written = EventStore(conn, clock).append(batch)
    # The stored jsonb (its text shows every number's scale) and what the append handed back are the database's.
    assert _rows(database_url) == _rows(other_url)
    assert [e.model_dump() for e in returned] == [e.model_dump() for e in written]
    assert [list(e.payload) for e in returned] == [list(e.payload) for e in written]


def test_a_held_append_hands_back_events_equal_to_validated_ones(storage: Storage) -> None:
    store = EventStore(storage.conn, FixedClock(FIXED_NOW), exclusive=True)
    [event] = store.append([NewEvent(type="A", stream="s", payload={"n": 1}, week_id=WEEK, account_id="acct_1")])
    validated = StoredEvent(**event.model_dump())
    assert event == validated and repr(event) == repr(validated)
    assert event.model_fields_set == validated.model_fields_set
    assert event.model_copy(update={"version": 9}).version == 9
    with pytest.raises(ValidationError):
        event.id = 5  # type: ignore[misc]  # frozen, as a validated one


def test_an_expected_version_is_checked_against_the_held_head(storage: Storage, database_url: str) -> None:
    store = EventStore(storage.conn, FixedClock(FIXED_NOW), exclusive=True)
    store.append([NewEvent(type="A", stream="s", payload={})], expected_versions={"s": 0})
    with pytest.raises(ConcurrencyError):
        store.append([NewEvent(type="A", stream="s", payload={})], expected_versions={"s": 0})
    store.append([NewEvent(type="A", stream="s", payload={})], expected_versions={"s": 1})
    store.flush()
    assert [r[3] for r in _rows(database_url)] == [1, 2]


def test_a_flush_that_loses_to_another_writer_drops_what_it_held_and_reads_the_database_again(
    storage: Storage, database_url: str
) -> None:
    store = EventStore(storage.conn, FixedClock(FIXED_NOW), exclusive=True)
    assert store.read_stream("s") == []
    store.append([NewEvent(type="Mine", stream="s", payload={}, account_id="acct_1")])
    with psycopg.connect(database_url, autocommit=True) as conn:
        EventStore(conn, FixedClock(FIXED_NOW)).append([NewEvent(type="Theirs", stream="s", payload={})])
    with pytest.raises(ConcurrencyError) as lost:
        store.flush()
    assert lost.value.stream == "s"
    assert [e.type for e in store.read_stream("s")] == ["Theirs"]
    assert store.read(account_id="acct_1") == []
    assert store.stream_version("s") == 1


def test_a_draft_over_the_exclusive_store_sees_its_held_events_and_adds_none(
    storage: Storage, database_url: str
) -> None:
    store = EventStore(storage.conn, FixedClock(FIXED_NOW), exclusive=True)
    store.append([NewEvent(type="A", stream="s", payload={"n": 1})])
    draft = store.draft()
    [mine] = draft.append([NewEvent(type="A", stream="s", payload={"n": 2})])
    assert (mine.id, mine.version) == (2, 2)
    assert [e.payload["n"] for e in draft.read_stream("s")] == [1, 2]
    store.flush()
    assert [r[3] for r in _rows(database_url)] == [1]
    assert [e.payload["n"] for e in store.read_stream("s")] == [1]


def _bars(symbol: str, first: date, days: int) -> list[Bar]:
    out = []
    for n in range(days):
        day = first + timedelta(days=n)
        price = 100.0 + n
        out.append(
            Bar(symbol=symbol, day=day, open=price, high=price + 1, low=price - 1, close=price, volume=10, source="t")
        )
    return out


def test_the_held_bar_cache_answers_as_the_database_does_and_sees_what_it_stores(storage: Storage) -> None:
    plain, held = BarCache(storage.conn), HeldBarCache(storage.conn)
    start = date(2026, 1, 5)
    held.store({"SPY": _bars("SPY", start, 5)}, start, start + timedelta(days=4), provider="t", synthetic=False)
    for cache in (plain, held):
        assert cache.covers(["SPY"], start, start + timedelta(days=4), synthetic=False)
        assert not cache.covers(["SPY"], start, start + timedelta(days=5), synthetic=False)
        assert not cache.covers(["SPY", "QQQ"], start, start, synthetic=False)
        assert not cache.covers(["SPY"], start, start, synthetic=True)
    ranges = [(start, start + timedelta(days=2)), (start + timedelta(days=1), date(2027, 1, 1)), (date.min, start)]
    for first, last in ranges:
        assert held.read(["SPY", "QQQ"], first, last, synthetic=False) == plain.read(
            ["SPY", "QQQ"], first, last, synthetic=False
        )
    # A later store (more history) is seen by the next read, as the database would show it.
    later = start + timedelta(days=5)
    held.store({"SPY": _bars("SPY", later, 3)}, later, later + timedelta(days=2), provider="t", synthetic=False)
    assert len(held.read(["SPY"], start, date(2027, 1, 1), synthetic=False)["SPY"]) == 8
    held.vouch(["SPY"], start, later, synthetic=False)
    assert held.vouched(["SPY"], start, later, synthetic=False) and not plain.vouched(
        ["SPY"], start, later, synthetic=False
    )
    held.forget(["SPY"], start, later, synthetic=False)  # what is forgotten is no longer vouched for
    assert not held.vouched(["SPY"], start, later, synthetic=False)
    assert held.read(["SPY"], start, later, synthetic=False) == plain.read(["SPY"], start, later, synthetic=False)


def test_a_held_append_feeds_each_copy_of_its_type_account_and_week_and_no_other(storage: Storage) -> None:
    store = EventStore(storage.conn, FixedClock(FIXED_NOW), exclusive=True)
    assert store.read(type=["A", "B"]) == store.read(type="B") == store.read(account_id="acct_1") == []
    assert store.read(week_id=WEEK) == []
    store.append(
        [
            NewEvent(type="A", stream="s1", payload={}, account_id="acct_1"),
            NewEvent(type="B", stream="s2", payload={}, week_id=WEEK),
            NewEvent(type="C", stream="s3", payload={}, account_id="acct_2", week_id=WEEK),
        ]
    )
    assert [e.type for e in store.read(type=["A", "B"])] == ["A", "B"]
    assert [e.type for e in store.read(type="B")] == ["B"]
    assert [e.type for e in store.read(account_id="acct_1")] == ["A"]
    assert [e.type for e in store.read(week_id=WEEK)] == ["B", "C"]
    # The copies gone (as a lost flush drops them), reads ask PostgreSQL again and find what was written.
    store._copies_held().counted.clear()
    store.append([NewEvent(type="B", stream="s2", payload={})])
    assert [e.stream for e in store.read(type="B")] == ["s2", "s2"]
    assert [e.type for e in store.read(type=["A", "B", "C"], after_id=1)] == ["B", "C", "B"]


def test_a_flush_lost_inside_a_read_raises_instead_of_waiting_on_its_own_lock(
    storage: Storage, database_url: str
) -> None:
    store = EventStore(storage.conn, FixedClock(FIXED_NOW), exclusive=True)
    assert store.read_stream("s") == []
    store.append([NewEvent(type="Mine", stream="s", payload={}, week_id=WEEK)])
    with psycopg.connect(database_url, autocommit=True) as conn:
        EventStore(conn, FixedClock(FIXED_NOW)).append([NewEvent(type="Theirs", stream="s", payload={})])
    raised: list[BaseException] = []

    def read_the_week() -> None:
        try:
            store.read(type="Mine")  # a type not held yet: the copies' read flushes first, under their lock
        except BaseException as exc:
            raised.append(exc)

    reader = threading.Thread(target=read_the_week, daemon=True)
    reader.start()
    reader.join(timeout=30)
    assert not reader.is_alive(), "the read still waits: the failed flush is blocked on the copies' lock"
    assert [type(e) for e in raised] == [ConcurrencyError]
    assert [e.type for e in store.read_stream("s")] == ["Theirs"]


def test_a_weeks_first_read_holds_the_writers_unwritten_appends_and_writes_nothing(
    storage: Storage, database_url: str
) -> None:
    # The backtest reads each week's events once, early in the week: its appends of the week reach the database
    # with the week's one COPY, not also in an extra one for that read.
    store = EventStore(storage.conn, FixedClock(FIXED_NOW), exclusive=True)
    later = WEEK + timedelta(days=7)
    store.append([NewEvent(type="A", stream="s", payload={}, week_id=WEEK)])
    store.flush()
    store.append(
        [
            NewEvent(type="B", stream="s", payload={}, week_id=WEEK),
            NewEvent(type="X", stream="t", payload={}, week_id=later),
        ]
    )

    def written() -> list[str]:
        with psycopg.connect(database_url) as conn:
            return [row[0] for row in conn.execute("SELECT type FROM events ORDER BY id")]

    assert [e.type for e in store.read(week_id=WEEK)] == ["A", "B"]
    assert written() == ["A"]
    store.append([NewEvent(type="C", stream="s", payload={}, week_id=WEEK)])
    assert [(e.type, e.version) for e in store.read(week_id=WEEK)] == [("A", 1), ("B", 2), ("C", 3)]
    assert [e.type for e in store.read(week_id=later)] == ["X"]
    assert written() == ["A"]
    store.flush()
    assert written() == ["A", "B", "X", "C"]
    assert [e.type for e in EventStore(storage.conn, FixedClock(FIXED_NOW)).read(week_id=WEEK)] == ["A", "B", "C"]


@pytest.mark.parametrize("cut", ["inside its COPY", "after its COMMIT"])
def test_a_flush_cut_short_by_ctrl_c_holds_its_events_for_the_next_and_writes_each_once(
    storage: Storage, database_url: str, monkeypatch: pytest.MonkeyPatch, cut: str
) -> None:
    """A Ctrl-C inside a flush (a read that asks PostgreSQL flushes first) dropped the week's held events, and the
    stop's record flushed after it was stored past a gap of them (a trial: events 1-129, then 511)."""
    from llmtrade.storage import sole_writer

    store = EventStore(storage.conn, FixedClock(FIXED_NOW), exclusive=True)
    assert store.read_stream("s") == []
    store.append([NewEvent(type="Done", stream="s", payload={"n": n}) for n in range(3)])
    real_write, real_copy = sole_writer.write, sole_writer.copy_events

    def committed_then_interrupted(conn: psycopg.Connection, held: list[tuple[StoredEvent, str]]) -> None:
        real_write(conn, held)
        raise KeyboardInterrupt

    def interrupted_after_a_row(cursor: psycopg.Cursor, rows: Any) -> None:
        def cut() -> Any:
            yield next(iter(rows))
            raise KeyboardInterrupt

        real_copy(cursor, cut())

    if cut == "after its COMMIT":
        monkeypatch.setattr(sole_writer, "write", committed_then_interrupted)
    else:
        monkeypatch.setattr(sole_writer, "copy_events", interrupted_after_a_row)
    with pytest.raises(KeyboardInterrupt):
        store.flush()
    monkeypatch.setattr(sole_writer, "write", real_write)
    monkeypatch.setattr(sole_writer, "copy_events", real_copy)
    store.append([NewEvent(type="RunFailed", stream="s", payload={"error": "KeyboardInterrupt"})])
    store.flush()  # the stop's record, as the backtest flushes it on its way out
    rows = _rows(database_url)
    assert [(r[1], r[3]) for r in rows] == [("Done", 1), ("Done", 2), ("Done", 3), ("RunFailed", 4)]
    assert [r[0] for r in rows] == list(range(rows[0][0], rows[0][0] + 4))  # no gap, nothing twice


def test_one_event_appends_are_numbered_and_checked_as_batches_are(storage: Storage, database_url: str) -> None:
    """An append of one event, every head known (most of a backtest's appends, which take a way of their own), gets
    the version and id a batch would, and a head moved under its expected version refuses it whole, naming the
    stream and the version taken, with nothing held."""
    other_url = _fresh(database_url)
    clock = FixedClock(FIXED_NOW)
    held = EventStore(storage.conn, clock, exclusive=True)
    held.append([NewEvent(type="A", stream="s", payload={"n": 0})])  # every head read: from here, one event's way
    singles = [NewEvent(type="A", stream=stream, payload={"n": n}) for n, stream in enumerate("stsst", start=1)]
    returned = [e for event in singles for e in held.append([event])]
    assert [(e.stream, e.version) for e in returned] == [("s", 2), ("t", 1), ("s", 3), ("s", 4), ("t", 2)]
    assert [e.id for e in returned] == [2, 3, 4, 5, 6]
    with pytest.raises(ConcurrencyError) as lost:
        held.append([NewEvent(type="A", stream="t", payload={})], expected_versions={"t": 1})
    assert (lost.value.stream, lost.value.version) == ("t", 2)
    assert len(held._writer.pending) == 6  # type: ignore[union-attr]
    [next_one] = held.append([NewEvent(type="A", stream="t", payload={})], expected_versions={"t": 2})
    assert (next_one.id, next_one.version) == (7, 3)
    held.flush()
    with psycopg.connect(other_url, autocommit=True) as conn:
        from llmtrade.storage.migrations import migrate

        migrate(conn)
        direct = EventStore(conn, clock)
        direct.append([NewEvent(type="A", stream="s", payload={"n": 0})])
        direct.append(singles)
        direct.append([NewEvent(type="A", stream="t", payload={})], expected_versions={"t": 2})
    assert _rows(database_url) == _rows(other_url)
