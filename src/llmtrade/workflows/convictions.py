"""The conviction an account's owner holds now in the week: its latest checkpoint's that stands, else Wednesday's."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date

from llmtrade.domain.checkpoints import CheckpointTaken
from llmtrade.domain.events import StoredEvent
from llmtrade.domain.trading import OrdersPlanned, PlanAbandoned
from llmtrade.storage.event_store import EventStore
from llmtrade.workflows.frozen_trade import FrozenTrade


def conviction_now(events: EventStore, week_id: date, account_id: str, frozen: FrozenTrade) -> int:
    """The latest checkpoint's conviction for the account this week that stands, else Wednesday's.

    A checkpoint whose decided orders were all given up (PlanAbandoned: no price in this session for them on a CSV
    folder of daily files only, checkpoint_unpriced.py `not_sent`) does not stand: the account holds what it held
    before it, so the conviction before it does. Read as its conviction_after, a given-up REDUCE (+2 to +1) had the
    next checkpoint ask of a full position at half conviction, a given-up FLIP (+2 to -1) at +1 (the position's side,
    `_prepare`'s fallback), a given-up EXIT at +1."""
    latest = latest_convictions(events, account_id)
    if week_id not in latest:
        return frozen.conviction
    given_up = _given_up(events, account_id).get(week_id)
    if not given_up:  # the common week: nothing given up, the checkpoints' streams not read
        return latest[week_id]
    standing = frozen.conviction
    for taken in events.read(week_id=week_id, account_id=account_id, type=_TAKEN):
        if _all_given_up(events, taken, given_up):
            continue  # never traded: the account kept what the conviction before it held
        standing = int(CheckpointTaken.upcast(taken.payload, taken.schema_version)["checkpoint"]["conviction_after"])
    return standing


def never_traded(events: EventStore, taken: StoredEvent) -> bool:
    """Whether the checkpoint `taken` (its CheckpointTaken, as stored) decided orders that were all given up: the
    account holds what it held before it, whatever it judged (an EXIT given up leaves the position held). The stored
    record keeps what was judged; a reader of it as what the account holds now asks this, as `conviction_now` does."""
    if taken.week_id is None or taken.account_id is None:
        return False
    given_up = _given_up(events, taken.account_id).get(taken.week_id)
    return bool(given_up) and _all_given_up(events, taken, given_up)


def _all_given_up(events: EventStore, taken: StoredEvent, given_up: frozenset[str]) -> bool:
    plans = [OrdersPlanned.from_event(e) for e in events.read_stream(taken.stream) if e.type == _PLANNED]
    return any(p.orders and {o.client_order_id for o in p.orders} <= given_up for p in plans)


def _given_up(events: EventStore, account_id: str) -> Mapping[date, frozenset[str]]:
    """week -> the client order ids of the account's orders given up that week (PlanAbandoned). A memoised fold, as
    `latest_convictions`: every checkpoint asks it of every account it judges."""

    def step(given: Mapping[date, frozenset[str]], new: list[StoredEvent]) -> Mapping[date, frozenset[str]]:
        grown = dict(given)  # a new state: the fold's is shared
        for e in new:
            if e.week_id is not None:
                ids = PlanAbandoned.from_event(e).client_order_ids
                grown[e.week_id] = grown.get(e.week_id, frozenset()) | frozenset(ids)
        return grown

    return events.fold("given-up-orders", account_id=account_id, types=[_ABANDONED], start={}, step=step)


def latest_convictions(events: EventStore, account_id: str) -> Mapping[date, int]:
    """week -> the conviction_after of the account's latest checkpoint that week (by id). A memoised fold
    (EventStore.fold): a call reads only the checkpoints taken since the last one, where a read of the week's
    events by type looked through all of the account's events of the week at every checkpoint. Not to be changed."""

    def step(latest: _Convictions, new: list[StoredEvent]) -> _Convictions:
        # Of each checkpoint only its conviction: read from its payload as upcast (validated when it was written),
        # not the whole checkpoint parsed again.
        for e in new:
            if e.week_id is not None:
                conviction = int(CheckpointTaken.upcast(e.payload, e.schema_version)["checkpoint"]["conviction_after"])
                latest = latest.with_latest(e.week_id, conviction)
        return latest

    return events.fold("latest-convictions", account_id=account_id, types=[_TAKEN], start=_NONE_YET, step=step)


class _Convictions(Mapping[date, int]):
    """week -> conviction, as the weeks before the latest one checkpointed (`older`, shared) and that one apart: a
    checkpoint of the same week as the one before replaces one value, where a copy of the whole mapping cost every
    week of the history at every checkpoint. Never changed (a fold's state is shared): `with_latest` makes anew."""

    __slots__ = ("_older", "_value", "_week")

    def __init__(self, older: Mapping[date, int], week: date | None, value: int) -> None:
        self._older, self._week, self._value = older, week, value

    def with_latest(self, week: date, value: int) -> _Convictions:
        if week == self._week or self._week is None:
            return _Convictions(self._older, week, value)
        return _Convictions({**self._older, self._week: self._value}, week, value)

    def __getitem__(self, week: date) -> int:
        if self._week is not None and week == self._week:
            return self._value
        return self._older[week]

    def __iter__(self) -> Iterator[date]:
        yield from (w for w in self._older if w != self._week)
        if self._week is not None:
            yield self._week

    def __len__(self) -> int:
        return len(self._older) + (self._week is not None and self._week not in self._older)


_NONE_YET = _Convictions({}, None, 0)
_TAKEN = CheckpointTaken.event_type()
_PLANNED = OrdersPlanned.event_type()
_ABANDONED = PlanAbandoned.event_type()
