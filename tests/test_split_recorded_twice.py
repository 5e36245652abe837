"""A split recorded twice (two runs reading the restated answer at once, each before the other's record) is applied
once: the paper account held 16 shares for each one held across a 4-for-1 (found reviewing the change)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from llmtrade.domain.events import NewEvent
from llmtrade.domain.market import SplitDetected
from llmtrade.domain.streams import SPLITS
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.splits import recorded_splits
from tests.test_split_books import AFTER_SPLIT, Clock, _at, _bar, _held_before_the_split
from tests.test_split_books import clock as clock  # the fixture
from tests.test_split_detection import SPLIT


def test_a_split_recorded_by_two_runs_at_once_is_applied_once(
    storage: Storage, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    broker, _, _ = _held_before_the_split(storage, clock, monkeypatch, 4.0, 50, [])
    clock.set(_at(AFTER_SPLIT, 23))
    split = _spy_split("yfinance")
    storage.events.append([NewEvent.of(split, stream=SPLITS, run_id="checkpoint")])
    assert broker.account({}).positions["SPY"].qty == 200  # read once, so the fold carries on from here
    clock.set(_at(AFTER_SPLIT, 23).replace(minute=1))
    storage.events.append([NewEvent.of(split.model_copy(update={"provider": "alpaca"}), stream=SPLITS, run_id="look")])
    assert broker.account({}).positions["SPY"].qty == 200
    [once] = recorded_splits(storage.events)
    assert once.known_at == storage.events.read(stream=SPLITS)[0].occurred_at  # as first recorded


def test_one_split_recorded_on_two_days_is_applied_once_and_a_later_one_apart(
    storage: Storage, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A broker's position read after the close of a split made that evening, recorded for that day with no window (a
    store from before windows), then the provider's restatement of the next day: one split, as first recorded, not
    16 shares for each one held. A split by the same ratio weeks later is another split."""
    broker, _, _ = _held_before_the_split(storage, clock, monkeypatch, 4.0, 50, [])
    clock.set(_at(AFTER_SPLIT, 23))
    seen = _spy_split("alpaca positions")
    storage.events.append([NewEvent.of(seen, stream=SPLITS, run_id="look")])
    restated = seen.model_copy(update={"ex_day": SPLIT + timedelta(days=1), "provider": "yfinance"})
    storage.events.append([NewEvent.of(restated, stream=SPLITS, run_id="checkpoint")])
    assert broker.account({}).positions["SPY"].qty == 200
    [once] = recorded_splits(storage.events)
    assert (once.at.date(), once.known_at) == (SPLIT, storage.events.read(stream=SPLITS)[0].occurred_at)
    later = seen.model_copy(update={"ex_day": SPLIT + timedelta(days=30), "provider": "yfinance"})
    storage.events.append([NewEvent.of(later, stream=SPLITS, run_id="month-later")])
    assert [s.at.date() for s in recorded_splits(storage.events)] == [SPLIT, SPLIT + timedelta(days=30)]


def _spy_split(provider: str) -> SplitDetected:
    """SPY's 4-for-1 of SPLIT as `provider` records it."""
    return SplitDetected(
        symbol="SPY",
        ex_day=SPLIT,
        ratio=4.0,
        looks_like="4-for-1",
        price=_bar(SPLIT).open,
        provider=provider,
        evidence="test",
    )


def test_a_store_holding_its_appends_folds_the_splits_again_only_when_one_is_recorded(
    storage: Storage, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A backtest's store answers the splits recorded from what it folded while the stream's head stands (no fold),
    and a split recorded since, by it or by a draft over it, is in the next answer."""
    from llmtrade.storage.event_store import EventStore

    held = EventStore(storage.conn, clock, exclusive=True)
    assert recorded_splits(held) == ()
    held.append([NewEvent.of(_spy_split("yfinance"), stream=SPLITS, run_id="checkpoint")])
    [first] = recorded_splits(held)
    folds: list[object] = []
    fold = EventStore.fold_stream

    def counted(self: EventStore, *a: object, **k: object) -> object:
        folds.append(k.get("stream"))
        return fold(self, *a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(EventStore, "fold_stream", counted)
    assert recorded_splits(held) == (first,) and folds == []  # the head stands: nothing folded
    later = _spy_split("yfinance").model_copy(update={"ex_day": SPLIT + timedelta(days=30)})
    draft = held.draft()
    draft.append([NewEvent.of(later, stream=SPLITS, run_id="draft")])
    assert [s.at.date() for s in recorded_splits(draft)] == [SPLIT, SPLIT + timedelta(days=30)]
    assert recorded_splits(held) == (first,)  # the draft's split is the draft's
    held.append([NewEvent.of(later, stream=SPLITS, run_id="month-later")])
    assert [s.at.date() for s in recorded_splits(held)] == [SPLIT, SPLIT + timedelta(days=30)]
    held.flush()
