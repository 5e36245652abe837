"""The write path of reconciling an account (brokers/reconcile.py `look` is the read): each difference recorded once, on
a write-once stream of its own (`reconciliation:{account}:{key}`), however many runs see it, and each split the broker's
positions show before any record of it recorded first (`record_splits`). `reconcile_account` is what the weekly run and
every checkpoint call where they value an account: it records, and returns the managed view sizing may use.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta

from llmtrade.brokers.fills import Observed
from llmtrade.brokers.protocol import Broker
from llmtrade.brokers.reconcile import Reconciliation, look
from llmtrade.brokers.split_positions import split_record
from llmtrade.domain.events import NewEvent
from llmtrade.domain.market import SplitDetected
from llmtrade.domain.reconciliation import Difference, ReconciliationDifferenceFound
from llmtrade.domain.streams import SPLITS, reconciliation_stream
from llmtrade.domain.trading import AccountSnapshot
from llmtrade.errors import ConcurrencyError
from llmtrade.market.calendar import new_york_date
from llmtrade.market.splits import traded
from llmtrade.storage.event_store import EventStore
from llmtrade.storage.splits import recorded_splits


def recorded_keys(events: EventStore, account_id: str) -> set[str]:
    """Keys of the account's differences already recorded."""
    found = events.read(account_id=account_id, type=ReconciliationDifferenceFound.event_type())
    return {events.payload(ReconciliationDifferenceFound, e).difference.key() for e in found}


def record_differences(
    events: EventStore,
    account_id: str,
    differences: list[Difference],
    *,
    occasion: str,
    week_id: date | None,
    run_id: str | None,
) -> list[Difference]:
    """Append a ReconciliationDifferenceFound for each difference not yet recorded; return those appended."""
    if not differences:
        return []  # the usual case: no read of what was recorded before
    known = recorded_keys(events, account_id)
    appended: list[Difference] = []
    for difference in differences:
        key = difference.key()
        if key in known:
            continue
        stream = reconciliation_stream(account_id, key)
        payload = ReconciliationDifferenceFound(account_id=account_id, difference=difference, occasion=occasion)
        event = NewEvent.of(payload, stream=stream, account_id=account_id, week_id=week_id, run_id=run_id)
        try:
            events.append([event], expected_versions={stream: 0})
        except ConcurrencyError:
            continue  # another process recorded the same difference first: once is enough
        appended.append(difference)
    return appended


def record_splits(
    events: EventStore,
    seen: Reconciliation,
    broker: str,
    now: datetime,
    prices: Mapping[str, float],
    *,
    week_id: date | None,
    run_id: str | None,
) -> list[SplitDetected]:
    """Record each split `seen` read at the broker (a SplitDetected on the splits stream, as the market records one it
    finds in prices: every fold applies it from then on); return those appended. Before the differences: a look after
    this one reads the split from the record, and finds no difference to record."""
    appended = split_records(events, seen, broker, now, prices)
    for record in appended:
        events.append([NewEvent.of(record, stream=SPLITS, week_id=week_id, run_id=run_id)])
    return appended


def split_records(
    events: EventStore, seen: Reconciliation, broker: str, now: datetime, prices: Mapping[str, float]
) -> list[SplitDetected]:
    """The SplitDetected of each split `seen` (`split_record`), its ex-day after the last fill of the symbol in any
    account and after its last split recorded (the split is one record for every account's books: a paper account
    that traded the symbol since the Alpaca account did puts the split after that fill). A read."""
    if not seen.splits:
        return []
    today = new_york_date(now)
    recorded = recorded_splits(events)
    records: list[SplitDetected] = []
    for split in seen.splits:
        # Fills in the new shares (`mixed_in`) came after the split: the last fill before it bounds it.
        last = today if split.before is None else new_york_date(split.before) - timedelta(days=1)
        days = [d for d, _ in traded(events, split.symbol, date.min, last)]
        days += [s.at.date() for s in recorded if s.symbol == split.symbol and s.at <= now]
        since = max(days, default=None)
        records.append(split_record(split, broker, seen.account.account_id, now, prices.get(split.symbol), since))
    return records


def reconcile_account(
    events: EventStore,
    broker: Broker,
    account: AccountSnapshot,
    prices: Mapping[str, float],
    *,
    occasion: str,
    week_id: date | None,
    run_id: str | None,
    now: datetime,
    record: bool = True,
    observed: Observed | None = None,
) -> AccountSnapshot:
    """Record the account's new differences (unless `record` is false: a dry run) and return its managed view.
    `observed`: as `look`'s."""
    seen = look(events, broker, account, prices, observed=observed)
    if record:
        record_splits(events, seen, broker.name, now, prices, week_id=week_id, run_id=run_id)
        record_differences(
            events, account.account_id, seen.differences, occasion=occasion, week_id=week_id, run_id=run_id
        )
    return seen.managed
