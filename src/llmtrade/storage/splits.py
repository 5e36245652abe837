"""The splits recorded (SplitDetected on the splits stream), as the folds of fills apply them (domain/ledger.py)."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from datetime import timedelta

from llmtrade.domain.events import StoredEvent
from llmtrade.domain.ledger import Split
from llmtrade.domain.market import SplitDetected
from llmtrade.domain.streams import SPLITS
from llmtrade.storage.event_store import EventStore

_TYPES = [SplitDetected.event_type()]
_SAME_WITHIN = timedelta(days=7)


def recorded_splits(events: EventStore) -> tuple[Split, ...]:
    """Every split recorded, by ex-day, each once: one memoised fold of the splits stream, so the paper broker's every
    look and each breaker evaluation cost what is new (nothing, nearly always), not a read. Two runs that read the
    restated answer at once (a checkpoint and a `market` look), or a broker's position and a restatement, may each
    record the same split, even on two days: it is applied once, as first recorded, not twice (16 shares for each one
    held across a 4-for-1; see `_same`).

    A store holding its appends (a backtest's, its database's only writer, or a draft over one) knows the stream's
    head without a query, and its every append of a split moves it: while the head stands, the splits are the ones
    folded at that head, handed back without the fold's machinery (asked some forty times a checkpoint). The head is
    read before the fold, so a split appended meanwhile is folded again at the next call, never missed."""
    if not events.holds_appends:
        return _folded(events)
    head = events.stream_version(SPLITS)
    with _LOCK:
        kept = _AT_HEAD.get(events)
    if kept is not None and kept[0] == head:
        return kept[1]
    splits = _folded(events)
    with _LOCK:
        _AT_HEAD[events] = (head, splits)
    return splits


def _folded(events: EventStore) -> tuple[Split, ...]:
    return events.fold_stream(("splits", 1), stream=SPLITS, types=_TYPES, start=(), step=_step(events))


# Per store holding its appends: the splits stream's head at the last fold, and what the fold gave.
_AT_HEAD: weakref.WeakKeyDictionary[EventStore, tuple[int, tuple[Split, ...]]] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def _step(events: EventStore) -> Callable[[tuple[Split, ...], list[StoredEvent]], tuple[Split, ...]]:
    def step(held: tuple[Split, ...], new: list[StoredEvent]) -> tuple[Split, ...]:
        kept = list(held)
        for event in new:  # in the stream's order: the first record of a split stands
            split = Split.of(events.payload(SplitDetected, event), event.occurred_at)
            if not any(_same(split, other) for other in kept):
                kept.append(split)
        return tuple(sorted(kept, key=lambda s: (s.at, s.symbol)))

    return step


def _same(one: Split, other: Split) -> bool:
    """Whether two records are one split: the same symbol and ratio, their ex-day windows (ex-day to `latest`) within
    `_SAME_WITHIN` of each other. A broker's position and a provider's restatement can place one split on two days
    (a look after Thursday's close of a split made that evening, the restatement's Friday), and two recorders can race
    past each other's record; a company never splits twice by the same ratio within days."""
    if (one.symbol, one.ratio) != (other.symbol, other.ratio):
        return False
    first, last = one.at.date(), one.latest or one.at.date()
    other_first, other_last = other.at.date(), other.latest or other.at.date()
    return first <= other_last + _SAME_WITHIN and other_first <= last + _SAME_WITHIN
