"""The conviction an account's owner holds now in the week: its latest checkpoint's, else Wednesday's."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date

from llmtrade.domain.checkpoints import CheckpointTaken
from llmtrade.domain.events import StoredEvent
from llmtrade.storage.event_store import EventStore
from llmtrade.workflows.frozen_trade import FrozenTrade


def conviction_now(events: EventStore, week_id: date, account_id: str, frozen: FrozenTrade) -> int:
    """The latest checkpoint's conviction for the account this week, else Wednesday's."""
    return latest_convictions(events, account_id).get(week_id, frozen.conviction)


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
