"""The splits recorded (SplitDetected on the splits stream), as the folds of fills apply them (domain/ledger.py)."""

from __future__ import annotations

from collections.abc import Callable

from llmtrade.domain.events import StoredEvent
from llmtrade.domain.ledger import Split
from llmtrade.domain.market import SplitDetected
from llmtrade.domain.streams import SPLITS
from llmtrade.storage.event_store import EventStore

_TYPES = [SplitDetected.event_type()]


def recorded_splits(events: EventStore) -> tuple[Split, ...]:
    """Every split recorded, by ex-day: one memoised fold of the splits stream, so the paper broker's every look and
    each breaker evaluation cost what is new (nothing, nearly always), not a read."""
    return events.fold_stream(("splits", 1), stream=SPLITS, types=_TYPES, start=(), step=_step(events))


def _step(events: EventStore) -> Callable[[tuple[Split, ...], list[StoredEvent]], tuple[Split, ...]]:
    def step(held: tuple[Split, ...], new: list[StoredEvent]) -> tuple[Split, ...]:
        found = [Split.of(events.payload(SplitDetected, e), e.occurred_at) for e in new]
        return tuple(sorted({*held, *found}, key=lambda s: (s.at, s.symbol)))

    return step
