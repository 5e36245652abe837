"""A split the broker applied before llmtrade recorded it, as a run's stages meet it (brokers/split_positions.py).

Alpaca splits a position before the ex-day's open, while a run's prices are still the last close: the weekly run and
a checkpoint read the split from the position at their look and record it before the differences (`record_seen`), and
a price read before the split is put in its new shares (the weekly run's sizing, `in_new_share_prices`) or not judged
at all (a checkpoint, `before_a_split`: its stop moved by the split would fire on the old price).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime

from llmtrade.brokers.reconcile import Reconciliation, record_splits
from llmtrade.brokers.split_positions import in_new_shares
from llmtrade.domain.ledger import Split
from llmtrade.market.calendar import TradingCalendar, new_york_date
from llmtrade.storage.event_store import EventStore
from llmtrade.storage.splits import recorded_splits


def record_seen(
    events: EventStore,
    seen: Reconciliation,
    broker: str,
    now: datetime,
    prices: Mapping[str, float],
    *,
    week_id: date | None,
    run_id: str | None,
) -> None:
    """Record the splits `seen` at the broker and not recorded yet: before the differences, so the next look reads the
    split from the record and finds no difference."""
    if seen.splits:
        record_splits(events, seen, broker, now, prices, week_id=week_id, run_id=run_id)


def in_new_share_prices(
    events: EventStore, prices: Mapping[str, float], session: date, asof: datetime
) -> dict[str, float]:
    """`prices` (session `session`'s closes) put in the new shares of each split recorded since, come by `asof`: 40
    shares the broker split before the open, sized at the old close of 600, would be sold down to the 10 it buys."""
    splits = recorded_splits(events)
    return in_new_shares(prices, splits, session, asof) if splits else dict(prices)


def before_a_split(
    calendar: TradingCalendar, now: datetime, symbol: str, price: float, splits: Sequence[Split]
) -> bool:
    """Whether `price` (read at a checkpoint's start, `now`) is in the shares before a split whose ex-day is today."""
    yesterday = calendar.previous_session(new_york_date(now))
    return in_new_shares({symbol: price}, splits, yesterday, now)[symbol] != price
