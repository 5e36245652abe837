"""The EventSink contract (domain/events.py), run against every sink: the store that writes at append, a backtest's
(exclusive: held until flush), a draft view of each, and the tests' own sinks (tests/fakes/sinks.py). Callers use
every member without asking whether the sink has it (the recorder's flush and connection lock, the pipeline's stage
timings, the memory's transaction), so a sink that lacks one, or keeps it otherwise, fails here first."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import psycopg
import pytest

from llmtrade.clock import FixedClock
from llmtrade.domain.events import EventSink, NewEvent, StageStarted
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.event_store import EventStore
from tests.fakes.sinks import ListSink, SinkOver

STREAM = "run:sink-contract"
Reaches = Literal["at append", "at flush", "never", "not a database"]


@dataclass(frozen=True)
class Case:
    make: Callable[[Storage, FixedClock], EventSink]
    reaches: Reaches  # when an append is in the database, as another connection sees it
    stage_timings: bool
    holds: bool = False


CASES: dict[str, Case] = {
    "store": Case(lambda s, c: s.events, "at append", True),
    "backtest store": Case(
        lambda s, c: EventStore(s.conn, c, exclusive=True, stage_timings=False), "at flush", False, holds=True
    ),
    "draft": Case(lambda s, c: s.events.draft(), "never", True),
    "draft of a backtest store": Case(
        lambda s, c: EventStore(s.conn, c, exclusive=True, stage_timings=False).draft(), "never", False, holds=True
    ),
    "a test's list": Case(lambda s, c: ListSink(), "not a database", True),
    "a test's sink over the store": Case(lambda s, c: SinkOver(s.events), "at append", True),
}


def _event(n: int) -> NewEvent:
    return NewEvent.of(StageStarted(stage=f"s{n}"), stream=STREAM, run_id="sink-contract")


def _in_database(url: str, stage: str | None = None) -> int:
    with psycopg.connect(url) as other:
        row = other.execute(
            "SELECT count(*) FROM events WHERE stream = %s AND (%s::text IS NULL OR payload->>'stage' = %s)",
            (STREAM, stage, stage),
        ).fetchone()
    return int(row[0]) if row else 0


@pytest.mark.parametrize("name", CASES)
def test_every_sink_keeps_the_whole_contract(name: str, storage: Storage, clock: FixedClock, database_url: str) -> None:
    case = CASES[name]
    sink = case.make(storage, clock)
    assert isinstance(sink, EventSink)  # every member there: no caller needs a getattr with a default
    assert sink.stage_timings is case.stage_timings
    assert sink.holds_appends is case.holds

    sink.flush()  # nothing held yet: nothing to do
    sink.append([_event(1), _event(2)])
    stored_now = _in_database(database_url)
    sink.flush()
    sink.flush()  # again: nothing left
    stored_after_flush = _in_database(database_url)

    expected = {"at append": (2, 2), "at flush": (0, 2), "never": (0, 0), "not a database": (0, 0)}
    assert (stored_now, stored_after_flush) == expected[case.reaches]


@pytest.mark.parametrize("name", CASES)
def test_writing_is_reentrant_and_no_other_threads_append_reaches_the_connection_inside_it(
    name: str, storage: Storage, clock: FixedClock, database_url: str
) -> None:
    case = CASES[name]
    sink = case.make(storage, clock)
    other_appended = threading.Event()

    def other_thread() -> None:
        sink.append([_event(9)])
        other_appended.set()

    with sink.writing():
        with sink.writing():  # re-entrant: the recorder appends (taking it again) inside it
            sink.append([_event(1)])
            sink.flush()
        other = threading.Thread(target=other_thread)
        other.start()
        waited = other_appended.wait(0.3)
        assert _in_database(database_url, "s9") == 0  # not inside this block's transaction
        if case.reaches == "at append":
            assert not waited  # a sink writing at append waits for the block's end
    other.join(10)
    assert other_appended.is_set()
    assert _in_database(database_url, "s9") == (1 if case.reaches == "at append" else 0)
