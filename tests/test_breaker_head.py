"""The breaker stream's head carried from one read to the next (risk/breaker_head.py): the state and the
version a breaker write is appended at must be what a read of the whole stream gives, whatever happened to
the stream in between (issue 13: every valuation reads it, and the stream grows every week)."""

from __future__ import annotations

import pytest

from llmtrade.clock import FixedClock
from llmtrade.config.models import CircuitBreaker
from llmtrade.domain.account_events import AccountHalted
from llmtrade.domain.breaker import BreakerUpdated
from llmtrade.domain.events import EventPayload, NewEvent
from llmtrade.domain.streams import breaker_stream
from llmtrade.risk import breaker
from llmtrade.risk.breaker_head import appended
from llmtrade.risk.controls import evaluate_breaker, halted, read_breaker
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.event_store import EventStore

ACCOUNT = "acct_1"
START = 100_000.0


def _state(peak: float, *, halt: bool = False) -> BreakerUpdated:
    state = breaker.initial_state(ACCOUNT, START).model_copy(update={"peak_equity": peak})
    if halt:
        state = state.model_copy(update={"halted": True, "halted_for": breaker.DRAWDOWN, "reason": f"at {peak}"})
    return BreakerUpdated(state=state, trades_seen=int(peak) % 7)


def _append(events: EventStore, *payloads: EventPayload) -> None:
    stream = breaker_stream(ACCOUNT)
    events.append([NewEvent.of(p, stream=stream, account_id=ACCOUNT) for p in payloads])


class Abandoned(Exception):
    """Raised inside a transaction to roll it back."""


def _whole(events: EventStore) -> tuple[object, int, int]:
    """What read_breaker must say: from every event of the stream."""
    found = events.read_stream(breaker_stream(ACCOUNT))
    updates = [e for e in found if e.type == BreakerUpdated.event_type()]
    version = found[-1].version if found else 0
    if not updates:
        return breaker.initial_state(ACCOUNT, START), 0, version
    last = BreakerUpdated.from_event(updates[-1])
    return last.state, last.trades_seen, version


def test_the_carried_head_is_what_the_whole_stream_says_after_each_write(storage: Storage) -> None:
    events = storage.events
    assert read_breaker(events, ACCOUNT, START) == _whole(events) == (breaker.initial_state(ACCOUNT, START), 0, 0)
    for n in range(1, 8):
        if n % 3 == 0:
            _append(events, AccountHalted(account_id=ACCOUNT, reason=f"halt {n}"))  # no new state: the old one holds
        else:
            _append(events, _state(START + n, halt=n == 4), AccountHalted(account_id=ACCOUNT, reason="x"))
        assert read_breaker(events, ACCOUNT, START) == _whole(events)
        assert halted(events, ACCOUNT) == (n == 4, "at 100004.0" if n == 4 else "")


def test_a_rolled_back_write_is_not_taken_for_the_head(storage: Storage) -> None:
    events = storage.events
    _append(events, _state(START + 1))
    before = read_breaker(events, ACCOUNT, START)

    with pytest.raises(Abandoned), storage.conn.transaction():
        _append(events, _state(START + 2, halt=True))
        assert read_breaker(events, ACCOUNT, START)[2] == 2 and halted(events, ACCOUNT)[0]
        raise Abandoned
    # Version 2 again, under a new id, before any read: the kept head (the rolled-back halt) must not pass for it.
    _append(events, _state(START + 3))
    assert read_breaker(events, ACCOUNT, START) == _whole(events)
    assert read_breaker(events, ACCOUNT, START)[2] == 2 and halted(events, ACCOUNT) == (False, "")
    assert read_breaker(events, ACCOUNT, START)[0].peak_equity == START + 3 != before[0].peak_equity


def test_a_rolled_back_write_alone_leaves_the_head_as_it_was(storage: Storage) -> None:
    events = storage.events
    _append(events, _state(START + 1))
    before = read_breaker(events, ACCOUNT, START)

    with pytest.raises(Abandoned), storage.conn.transaction():
        _append(events, _state(START + 2, halt=True))
        assert halted(events, ACCOUNT)[0]
        raise Abandoned
    assert read_breaker(events, ACCOUNT, START) == before == _whole(events)
    assert halted(events, ACCOUNT) == (False, "")


def test_a_drafts_head_stays_in_the_draft(storage: Storage) -> None:
    events = storage.events
    _append(events, _state(START + 1))
    assert read_breaker(events, ACCOUNT, START)[2] == 1
    draft = events.draft()
    _append(draft, _state(START + 2, halt=True))
    assert read_breaker(draft, ACCOUNT, START) == _whole(draft) and halted(draft, ACCOUNT)[0]
    assert read_breaker(events, ACCOUNT, START) == _whole(events)
    assert read_breaker(events, ACCOUNT, START)[2] == 1 and not halted(events, ACCOUNT)[0]


def test_a_read_after_the_first_costs_the_new_events_not_the_stream(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = storage.events
    for n in range(30):
        _append(events, _state(START + n))
    read_breaker(events, ACCOUNT, START)
    _append(events, _state(START + 99, halt=True), AccountHalted(account_id=ACCOUNT, reason="x"))
    seen: list[int] = []
    read = EventStore.read

    def counted(self: EventStore, **kw: object) -> list:
        found = read(self, **kw)  # type: ignore[arg-type]
        seen.append(len(found))
        return found

    monkeypatch.setattr(EventStore, "read", counted)
    state, _, version = read_breaker(events, ACCOUNT, START)
    assert state.halted and version == 32
    assert seen == [3]  # the last event read before and the two new ones; never the 32 of the stream


def test_a_store_holding_its_appends_sees_each_write_and_reads_nothing_when_none_came(
    storage: Storage, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = EventStore(storage.conn, clock, exclusive=True)
    assert read_breaker(held, ACCOUNT, START) == _whole(held)
    for n in range(1, 5):
        _append(held, _state(START + n, halt=n == 2))
        assert read_breaker(held, ACCOUNT, START) == _whole(held)
        assert halted(held, ACCOUNT) == (n == 2, "at 100002.0" if n == 2 else "")
    draft = held.draft()
    _append(draft, _state(START + 9, halt=True))  # the draft's own write: its head, not the store's
    assert read_breaker(draft, ACCOUNT, START) == _whole(draft) != _whole(held)
    assert read_breaker(held, ACCOUNT, START) == _whole(held)
    reads: list[object] = []
    monkeypatch.setattr(held, "read", lambda **kw: reads.append(kw) or [])
    assert read_breaker(held, ACCOUNT, START)[0].peak_equity == START + 4  # the kept head: nothing read
    assert reads == []
    held.flush()


def test_a_breaker_write_of_this_process_is_not_read_back_by_a_store_holding_its_appends(
    storage: Storage, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A backtest's valuation that moves the breaker (a new equity peak) appends its BreakerUpdated; the next read of
    the head (the next valuation's) takes it from that append, not from a read of the stream: for a stream copy gone
    idle that read wrote everything held and read the stream whole again from PostgreSQL."""
    held = EventStore(storage.conn, clock, exclusive=True)
    _append(held, _state(START + 1))
    read_breaker(held, ACCOUNT, START)
    reads: list[object] = []
    for equity in (START + 500.0, START + 900.0):
        evaluate_breaker(
            held,
            ACCOUNT,
            starting_equity=START,
            equity=equity,
            fills=[],
            config=CircuitBreaker(),
            week_id=None,
            run_id=None,
        )
        with monkeypatch.context() as patched:
            patched.setattr(held, "read", lambda **kw: reads.append(kw) or [])
            found = read_breaker(held, ACCOUNT, START)
        assert reads == []
        assert found == _whole(held) and found[0].peak_equity == equity
    held.flush()


def test_an_append_that_does_not_continue_the_kept_head_is_not_taken_for_it(
    storage: Storage, clock: FixedClock
) -> None:
    """`appended` takes the events appended as the head only where they follow the kept one version by version: after
    a write it was not told of (version 2, a halt), a later one (version 3, no new state) must not pass for the head
    with the state kept before it."""
    held = EventStore(storage.conn, clock, exclusive=True)
    _append(held, _state(START + 1))
    read_breaker(held, ACCOUNT, START)
    _append(held, _state(START + 2, halt=True))  # not told: the kept head is at version 1
    stream = breaker_stream(ACCOUNT)
    stored = held.append(
        [NewEvent.of(AccountHalted(account_id=ACCOUNT, reason="y"), stream=stream, account_id=ACCOUNT)]
    )
    appended(held, ACCOUNT, stored)
    assert read_breaker(held, ACCOUNT, START) == _whole(held)
    assert halted(held, ACCOUNT) == (True, "at 100002.0")
    held.flush()
