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
    """Every split recorded, by ex-day, each once: one memoised fold of the splits stream, so the paper broker's every
    look and each breaker evaluation cost what is new (nothing, nearly always), not a read. Two runs that read the
    restated answer at once (a checkpoint and a `market` look) may each record the same split: it is applied once,
    as first recorded, not twice (16 shares for each one held across a 4-for-1)."""
    return events.fold_stream(("splits", 1), stream=SPLITS, types=_TYPES, start=(), step=_step(events))


def _step(events: EventStore) -> Callable[[tuple[Split, ...], list[StoredEvent]], tuple[Split, ...]]:
    def step(held: tuple[Split, ...], new: list[StoredEvent]) -> tuple[Split, ...]:
        first = {(s.symbol, s.at, s.ratio): s for s in held}
        for event in new:  # in the stream's order: the first record of a split stands
            split = Split.of(events.payload(SplitDetected, event), event.occurred_at)
            first.setdefault((split.symbol, split.at, split.ratio), split)
        return tuple(sorted(first.values(), key=lambda s: (s.at, s.symbol)))

    return step
