"""EventStore.fold: a memoised fold that reads only what is new, and never a state gone stale."""

from __future__ import annotations

from dataclasses import replace

import psycopg
import pytest

from llmtrade.clock import FixedClock
from llmtrade.domain.events import NewEvent, StoredEvent
from llmtrade.errors import ConcurrencyError
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.event_store import EventStore
from tests.support import FIXED_NOW

TYPES = ("PitchReceived", "OrderSubmitted")


def _event(n: int, *, stream: str = "s", type: str = "PitchReceived", account_id: str = "acct_1") -> NewEvent:
    return NewEvent(type=type, stream=stream, payload={"n": n}, account_id=account_id)


class Counting:
    """A fold of the events' n, in the order given, that remembers every batch it was handed."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    def step(self, state: tuple[int, ...], new: list[StoredEvent]) -> tuple[int, ...]:
        self.batches.append([e.payload["n"] for e in new])
        return (*state, *(e.payload["n"] for e in new))

    def of(self, store: EventStore, key: str = "ns") -> tuple[int, ...]:
        return store.fold(key, account_id="acct_1", types=TYPES, start=(), step=self.step)


def _insert(conn: psycopg.Connection, n: int, stream: str, version: int) -> None:
    """An append by another process: straight into the table, nothing of this process told."""
    conn.execute(
        """INSERT INTO events (type, stream, version, account_id, occurred_at, payload, schema_version)
           VALUES ('PitchReceived', %s, %s, 'acct_1', now(), %s, 1)""",
        (stream, version, f'{{"n": {n}}}'),
    )


def test_a_fold_is_handed_only_the_events_newer_than_its_last_call(storage: Storage, database_url: str) -> None:
    fold = Counting()
    storage.events.append([_event(1), _event(2, type="OrderSubmitted"), _event(9, type="Other")])
    assert fold.of(storage.events) == (1, 2)
    assert fold.of(storage.events) == (1, 2)
    with psycopg.connect(database_url, autocommit=True) as other:
        _insert(other, 3, "s", 4)
    storage.events.append([_event(4, type="OrderSubmitted")])
    assert fold.of(storage.events) == (1, 2, 3, 4)
    assert fold.batches == [[1, 2], [3, 4]]  # the second call was handed what was new, not the history


def test_a_fold_starts_again_when_an_id_below_its_last_commits_late(storage: Storage, database_url: str) -> None:
    fold = Counting()
    with psycopg.connect(database_url, autocommit=True) as slow:
        slow.execute("BEGIN")
        _insert(slow, 1, "slow", 1)  # takes an id, commits after a higher one was read
        storage.events.append([_event(2)])
        assert fold.of(storage.events) == (2,)
        slow.execute("COMMIT")
    assert fold.of(storage.events) == (1, 2)


def test_a_drafts_appends_are_folded_in_the_draft_and_go_with_it(storage: Storage) -> None:
    fold = Counting()
    storage.events.append([_event(1)])
    assert fold.of(storage.events) == (1,)
    draft = storage.events.draft()
    draft.append([_event(2)])
    assert fold.of(draft) == (1, 2)
    assert fold.of(storage.events) == (1,)
    storage.events.append([_event(3)])
    assert fold.of(draft) == (1, 3, 2)  # the stored events as they are now, then the draft's own
    assert fold.of(storage.events.draft()) == (1, 3)


def test_a_fold_inside_a_rolled_back_transaction_keeps_nothing(storage: Storage) -> None:
    fold = Counting()
    storage.events.append([_event(1)])

    class Abandoned(Exception):
        pass

    with pytest.raises(Abandoned), storage.conn.transaction():
        storage.events.append([_event(2)])
        assert fold.of(storage.events) == (1, 2)
        raise Abandoned
    assert fold.of(storage.events) == (1,)
    storage.events.append([_event(3)])
    assert fold.of(storage.events) == (1, 3)


def test_folds_under_different_keys_are_kept_apart(storage: Storage) -> None:
    ones, twos = Counting(), Counting()
    storage.events.append([_event(1)])
    assert ones.of(storage.events, "a") == (1,)
    storage.events.append([_event(2)])
    assert twos.of(storage.events, "b") == (1, 2)
    assert ones.of(storage.events, "a") == (1, 2)
    assert ones.batches == [[1], [2]] and twos.batches == [[1, 2]]


def test_an_exclusive_store_that_loses_its_flush_folds_what_was_written(
    storage: Storage, database_url: str, clock: FixedClock
) -> None:
    sole = replace(storage, events=EventStore(storage.conn, clock, exclusive=True)).events
    fold = Counting()
    sole.append([_event(1, stream="race")])
    assert fold.of(sole) == (1,)  # a read the copies cannot vouch for writes what is held first
    sole.append([_event(2, stream="race")])  # held (version 2 of "race"), and fed to the copies
    assert fold.of(sole) == (1, 2)
    with psycopg.connect(database_url, autocommit=True) as other:
        other_store = EventStore(other, FixedClock(FIXED_NOW))
        other_store.append([_event(7, stream="race")])  # takes version 2 first
        assert other_store.stream_version("race") == 2
    with pytest.raises(ConcurrencyError):
        sole.flush()
    assert fold.of(sole) == (1, 7)


def test_a_fold_whose_copy_gains_only_other_types_stands_and_then_takes_its_own(
    storage: Storage, clock: FixedClock
) -> None:
    for store in (storage.events, EventStore(storage.conn, clock, exclusive=True)):
        fold = Counting()
        account = f"acct_{len(store.read(type='PitchReceived'))}"
        assert store.fold("ns", account_id=account, types=TYPES, start=(), step=fold.step) == ()
        assert store.read(account_id=account, type="Other") == []  # the account's copy holds Other from now on
        store.append([_event(1, type="Other", account_id=account)])
        assert store.fold("ns", account_id=account, types=TYPES, start=(), step=fold.step) == ()
        store.append([_event(2, account_id=account)])
        assert store.fold("ns", account_id=account, types=TYPES, start=(), step=fold.step) == (2,)
        store.append(
            [_event(3, type="Other", account_id=account), _event(4, type="OrderSubmitted", account_id=account)]
        )
        assert store.fold("ns", account_id=account, types=TYPES, start=(), step=fold.step) == (2, 4)
        assert store.fold("ns", account_id=account, types=TYPES, start=(), step=fold.step) == (2, 4)
        assert fold.batches == [[2], [4]]  # stepped once per event of its types, never for an Other


class StreamCounting(Counting):
    def of(self, store: EventStore, key: str = "ns") -> tuple[int, ...]:  # type: ignore[override]
        return store.fold_stream(key, stream="s", types=TYPES, start=(), step=self.step)


@pytest.mark.parametrize("exclusive", [False, True])
def test_a_stream_fold_is_handed_only_the_streams_new_events_of_its_types(
    storage: Storage, database_url: str, clock: FixedClock, exclusive: bool
) -> None:
    store = EventStore(storage.conn, clock, exclusive=True) if exclusive else storage.events
    fold = StreamCounting()
    store.append([_event(1), _event(2, type="OrderSubmitted"), _event(9, type="Other"), _event(8, stream="t")])
    assert fold.of(store) == (1, 2)
    assert fold.of(store) == (1, 2)
    store.append([_event(3, type="OrderSubmitted", account_id="acct_2"), _event(7, stream="t")])
    assert fold.of(store) == (1, 2, 3)  # any account's, the stream's only
    if not exclusive:
        with psycopg.connect(database_url, autocommit=True) as other:
            _insert(other, 4, "s", 5)  # another process's append is seen too
        assert fold.of(store) == (1, 2, 3, 4)
    store.flush()
    assert [n for batch in fold.batches for n in batch] == list(fold.of(store))  # each event handed once
    assert fold.of(store) == tuple(e.payload["n"] for e in store.read_stream("s") if e.type in TYPES)


def test_a_drafts_appends_are_folded_into_a_stream_fold_and_go_with_it(storage: Storage) -> None:
    fold = StreamCounting()
    storage.events.append([_event(1)])
    draft = storage.events.draft()
    draft.append([_event(2), _event(5, stream="t")])
    assert fold.of(draft) == (1, 2)
    assert fold.of(storage.events) == (1,)


def test_an_exclusive_stores_stream_fold_with_its_head_unmoved_is_the_state_kept(
    storage: Storage, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llmtrade.storage.event_copies import Copies

    store = EventStore(storage.conn, clock, exclusive=True)
    fold = StreamCounting()
    store.append([_event(1), _event(2, stream="t")])
    assert fold.of(store) == (1,)
    looks = 0
    stream = Copies.stream

    def counted(self: Copies, *a: object, **kw: object) -> object:
        nonlocal looks
        looks += 1
        return stream(self, *a, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(Copies, "stream", counted)
    store.append([_event(3, stream="t")])  # another stream's append: this one's head stands
    assert fold.of(store) == (1,) and fold.of(store) == (1,)
    assert looks == 0  # the kept state, without a look at the copy
    store.append([_event(4, type="Other"), _event(5, type="OrderSubmitted")])  # the head moves: folded again
    assert fold.of(store) == (1, 5) and looks == 1
    store.flush()
    store._writer.state.forget()  # type: ignore[union-attr]  # e.g. a lost flush: the heads are read again
    assert fold.of(store) == (1, 5) and looks == 2
    assert fold.batches == [[1], [5]]
