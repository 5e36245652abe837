"""The event store's in-process copy of an account's events must never hide what PostgreSQL holds."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from llmtrade.clock import FixedClock
from llmtrade.domain.events import NewEvent, StageCompleted, StageStarted
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.event_store import EventStore
from llmtrade.storage.migrations import migrate
from tests.support import FIXED_NOW


def _event(n: int, *, stream: str = "s", type: str = "PitchReceived", account_id: str = "acct_1") -> NewEvent:
    return NewEvent(type=type, stream=stream, payload={"n": n}, account_id=account_id)


def _ns(events: EventStore, **filters: object) -> list[int]:
    return [e.payload["n"] for e in events.read(account_id="acct_1", **filters)]


def test_an_account_read_sees_what_another_process_appended_after_it(storage: Storage, database_url: str) -> None:
    storage.events.append([_event(1)])
    assert _ns(storage.events) == [1]
    with psycopg.connect(database_url, autocommit=True) as other:
        EventStore(other, FixedClock(FIXED_NOW)).append([_event(2), _event(3, type="OrderSubmitted")])
    assert _ns(storage.events) == [1, 2, 3]
    assert _ns(storage.events, type="OrderSubmitted") == [3]
    assert _ns(storage.events, type=["OrderSubmitted", "PitchReceived"]) == [1, 2, 3]


def test_an_id_committed_after_a_higher_one_was_read_is_not_lost(storage: Storage, database_url: str) -> None:
    # Ids come from a sequence: a transaction that took id N can commit after one that took N+1 was read.
    with psycopg.connect(database_url, autocommit=True) as slow:
        slow.execute("BEGIN")
        slow.execute(
            """INSERT INTO events (type, stream, version, account_id, occurred_at, payload, schema_version)
               VALUES ('PitchReceived', 'slow', 1, 'acct_1', now(), '{"n": 1}', 1)"""
        )
        storage.events.append([_event(2)])
        assert _ns(storage.events) == [2]
        assert [e.payload["n"] for e in storage.events.read(type="PitchReceived")] == [2]
        slow.execute("COMMIT")
    assert _ns(storage.events) == [1, 2]
    assert [e.payload["n"] for e in storage.events.read(type="PitchReceived")] == [1, 2]
    assert _ns(storage.events, type="PitchReceived") == [1, 2]
    assert _ns(storage.events, stream="slow") == [1]


def test_a_read_inside_a_rolled_back_transaction_leaves_nothing_behind(storage: Storage) -> None:
    storage.events.append([_event(1)])

    class Abandoned(Exception):
        pass

    try:
        with storage.conn.transaction():
            storage.events.append([_event(2)])
            assert _ns(storage.events) == [1, 2]
            raise Abandoned
    except Abandoned:
        pass
    assert _ns(storage.events) == [1]
    storage.events.append([_event(3)])
    assert _ns(storage.events) == [1, 3]


def test_filters_and_limit_apply_to_an_account_read(storage: Storage) -> None:
    storage.events.append([_event(1), _event(2, stream="t"), _event(3), _event(4, account_id="acct_2")])
    first = storage.events.read(account_id="acct_1")[0].id
    assert _ns(storage.events, stream="t") == [2]
    assert _ns(storage.events, after_id=first) == [2, 3]
    assert _ns(storage.events, limit=2) == [1, 2]
    assert [e.payload["n"] for e in storage.events.read(account_id="acct_2")] == [4]


def test_a_draft_sees_its_own_appends_and_the_store_does_not(storage: Storage) -> None:
    storage.events.append([_event(1)])
    assert _ns(storage.events) == [1]
    draft = storage.events.draft()
    draft.append([_event(2)])
    assert _ns(draft) == [1, 2]
    assert _ns(storage.events) == [1]


def test_stores_of_one_database_share_what_was_read_and_still_see_each_others_appends(
    storage: Storage, database_url: str
) -> None:
    with psycopg.connect(database_url, autocommit=True) as b_conn:
        a, b = storage.events, EventStore(b_conn, FixedClock(FIXED_NOW))
        a.append([_event(1, stream="breaker")])
        assert _ns(a) == [1] and [e.payload["n"] for e in a.read_stream("breaker")] == [1]
        b.append([_event(2, stream="breaker")])
        assert _ns(a) == [1, 2] and _ns(b) == [1, 2]
        assert [e.version for e in a.read_stream("breaker")] == [1, 2]
        assert [e.version for e in b.read_stream("breaker")] == [1, 2]


def test_a_database_made_again_under_the_same_name_is_not_read_from_the_old_copy(pg_admin_url: str) -> None:
    name = f"t_again_{uuid.uuid4().hex[:8]}"
    head, _, query = pg_admin_url.partition("?")
    url = f"{head.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")
    for kept in ([1, 2, 3], [4]):
        with psycopg.connect(pg_admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
            admin.execute(f'CREATE DATABASE "{name}"')
        with psycopg.connect(url, autocommit=True) as conn:
            migrate(conn)
            store = EventStore(conn, FixedClock(FIXED_NOW))
            store.append([_event(n, stream="again") for n in kept])
            assert _ns(store) == kept
            assert [e.payload["n"] for e in store.read_stream("again")] == kept


def test_a_payload_is_parsed_once_per_event_and_never_served_for_another_event(storage: Storage) -> None:
    storage.events.append([NewEvent.of(StageStarted(stage="first"), stream="s", account_id="acct_1")])
    held = storage.events.read(account_id="acct_1")[0]
    assert storage.events.payload(StageStarted, held) is storage.events.payload(StageStarted, held)
    # A draft's event may carry the id a stored event has; it gets its own payload, not the stored one's.
    draft = storage.events.draft()
    mine = draft.append([NewEvent.of(StageStarted(stage="second"), stream="t", account_id="acct_1")])[0]
    twin = mine.model_copy(update={"id": held.id})
    assert draft.payload(StageStarted, twin).stage == "second"
    assert draft.payload(StageStarted, held).stage == "first"
    with pytest.raises(ValueError, match="not a StageCompleted"):
        storage.events.payload(StageCompleted, held)


def test_an_account_read_of_more_types_than_held_reads_them_all(storage: Storage, database_url: str) -> None:
    storage.events.append([_event(1), _event(2, type="OrderSubmitted")])
    assert _ns(storage.events, type="OrderSubmitted") == [2]
    assert _ns(storage.events, type=["PitchReceived", "OrderSubmitted"]) == [1, 2]
    with psycopg.connect(database_url, autocommit=True) as slow:
        slow.execute("BEGIN")
        slow.execute(
            """INSERT INTO events (type, stream, version, account_id, occurred_at, payload, schema_version)
               VALUES ('OrderSubmitted', 'slow', 1, 'acct_1', now(), '{"n": 3}', 1)"""
        )
        storage.events.append([_event(4, type="LLMCalled")])  # a type no read held: still counted
        assert _ns(storage.events, type="OrderSubmitted") == [2]
        slow.execute("COMMIT")
    assert _ns(storage.events, type="OrderSubmitted") == [2, 3]
    assert _ns(storage.events) == [1, 2, 3, 4]
