"""A split the broker applied before llmtrade recorded it, as a run's stages meet it (brokers/split_positions.py).

Alpaca splits a position before the ex-day's open, while a run's prices are still the last close: the weekly run and
a checkpoint read the split from the position at their look and record it before the differences (`SeenSplits`); a
price read before the split is put in its new shares (the weekly run's sizing) or not judged at all (a checkpoint,
`before_a_split`: its stop moved by the split would fire on the old price). A dry run records nothing and reads the
splits it saw as the real run reads their record.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime

from llmtrade.brokers.reconcile import Reconciliation
from llmtrade.brokers.reconcile_records import record_splits, split_records
from llmtrade.brokers.split_positions import in_new_shares
from llmtrade.domain.ledger import Split
from llmtrade.domain.research import MarketSnapshot
from llmtrade.market.calendar import TradingCalendar, new_york_date
from llmtrade.storage.event_store import EventStore
from llmtrade.storage.splits import recorded_splits


class SeenSplits:
    """The splits a run's looks saw at the brokers, by account: recorded before the differences (so the next look
    reads them from the record and finds no difference), or, by a dry run that records nothing, kept as they would be
    recorded, so its plan and judgement read them as the real run reads the record (not 40 shares at the old 600)."""

    def __init__(self, events: EventStore, week_id: date, *, dry_run: bool):
        self._events = events
        self._week_id = week_id
        self._dry_run = dry_run
        self._kept: dict[str, tuple[Split, ...]] = {}

    def record(
        self, seen: Reconciliation, broker: str, now: datetime, prices: Mapping[str, float], run_id: str | None
    ) -> None:
        """Record (or keep) the splits `seen` at `broker` at `now` and not recorded yet."""
        account = seen.account.account_id
        if self._dry_run:
            found = split_records(self._events, seen, broker, now, prices)
            self._kept[account] = tuple(Split.of(record) for record in found)
        else:
            self._kept[account] = ()
            if seen.splits:
                record_splits(self._events, seen, broker, now, prices, week_id=self._week_id, run_id=run_id)

    def looked(self, account_id: str) -> bool:
        """Whether this run has looked at the account (`record`)."""
        return account_id in self._kept

    def splits(self, account_id: str) -> tuple[Split, ...]:
        """Every split recorded, and the account's kept by a dry run."""
        return (*recorded_splits(self._events), *self._kept.get(account_id, ()))

    def in_new_shares(
        self, account_id: str, prices: Mapping[str, float], session: date, asof: datetime
    ) -> dict[str, float]:
        """`prices` (session `session`'s closes) put in the new shares of each split since (`splits`), come by `asof`:
        40 shares the broker split before the open, valued or sized at the old close of 600, are four times what they
        are (a paper account holding the symbol too is multiplied from the ex-day's midnight on)."""
        splits = self.splits(account_id)
        return in_new_shares(prices, splits, session, asof) if splits else dict(prices)

    def read_at(
        self, account_id: str, prices: Mapping[str, float], calendar: TradingCalendar, now: datetime
    ) -> dict[str, float]:
        """A checkpoint's prices read at `now` (quotes, or the last close before the open), put in the new shares of a
        split of today recorded (`in_new_shares`): before the open they are the old shares' last close."""
        return self.in_new_shares(account_id, prices, calendar.previous_session(new_york_date(now)), now)

    def closes(self, snapshot: MarketSnapshot, account_id: str = "") -> dict[str, float]:
        """The weekly run's prices: the snapshot's closes, put in the new shares (`in_new_shares`)."""
        closes = {s: ind.close for s, ind in snapshot.indicators.items()}
        return self.in_new_shares(account_id, closes, snapshot.session, snapshot.asof)


def before_a_split(
    calendar: TradingCalendar, now: datetime, symbol: str, price: float, splits: Sequence[Split]
) -> bool:
    """Whether `price` (read at a checkpoint's start, `now`) is in the shares before a split whose ex-day is today."""
    yesterday = calendar.previous_session(new_york_date(now))
    return in_new_shares({symbol: price}, splits, yesterday, now)[symbol] != price
