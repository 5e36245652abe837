"""Event checkpoints: when a held instrument moved far from its last checkpoint's price, check it again.

`run-due` asks, for each account, whether its instrument moved more than schedule.yaml
`event_checkpoint.threshold` from the price its last checkpoint recorded; if so (and the account had
no event checkpoint within `min_interval_minutes`) it records EventCheckpointTriggered and runs an
ordinary checkpoint for that account alone under its own key (checkpoint:DAYTHH:MM:event:ACCOUNT).
Pure decisions over stored events and a quote: no clock, no broker.

The reference is the latest checkpoint of the account this week (scheduled or event) that judged a
held position: an account whose latest checkpoint was skipped (flat, nothing frozen) or exited has
nothing to re-judge (an exit whose orders were all given up did not exit: still watched), and an
account with no checkpoint yet this week has no reference.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from math import prod

from llmtrade.config.models import EventCheckpoint
from llmtrade.domain.checkpoints import CheckpointSkipped, CheckpointTaken, EventCheckpointTriggered, checkpoint_key
from llmtrade.domain.ledger import Split
from llmtrade.domain.market import Quote
from llmtrade.domain.streams import event_checkpoint_stream
from llmtrade.market.calendar import NEW_YORK
from llmtrade.storage.event_store import EventStore
from llmtrade.workflows.checkpoint_slot import Slot
from llmtrade.workflows.convictions import never_traded


@dataclass(frozen=True)
class Reference:
    """The price `symbol` was judged at by checkpoint `checkpoint_id`, at `at` (timezone-aware)."""

    checkpoint_id: str
    symbol: str
    price: float
    at: datetime


def reference_price(events: EventStore, week_id: date, account_id: str) -> Reference | None:
    """The account's last checkpoint price this week; None when there is nothing held to re-judge.

    The one place that reads a checkpoint's recorded price. A scheduled checkpoint keeps it as its
    indicators' "close" (the price it judged), stamped here at the checkpoint's own time; an event
    checkpoint's reference is the quote its firing recorded (price and quote time), the price the
    account was re-judged at."""
    found = events.read(
        week_id=week_id, account_id=account_id, type=[CheckpointTaken.event_type(), CheckpointSkipped.event_type()]
    )
    if not found or found[-1].type != CheckpointTaken.event_type():
        return None
    checkpoint = CheckpointTaken.from_event(found[-1]).checkpoint
    # An EXIT whose orders were all given up (no price in session for them) left the position held: still watched, from
    # the price it was judged at, where it was taken for exited and watched no more.
    if checkpoint.action == "EXIT" and not never_traded(events, found[-1]):
        return None
    for trigger in reversed(fired(events, week_id, account_id)):
        made = Slot(trigger.day, trigger.time, event_for=account_id).checkpoint_id(week_id, account_id)
        # Or as an earlier build recorded it, the account named twice: its events keep that id.
        if checkpoint.checkpoint_id in (made, f"{made}:{account_id}"):
            return Reference(checkpoint.checkpoint_id, trigger.symbol, trigger.price, trigger.price_at)
    price = checkpoint.indicators_snapshot.get("close")
    if not price:
        return None
    hour, minute = (int(part) for part in checkpoint.time.split(":"))
    at = datetime.combine(checkpoint.day, time(hour, minute), NEW_YORK)
    return Reference(checkpoint.checkpoint_id, checkpoint.instrument, price, at)


def fired(events: EventStore, week_id: date, account_id: str | None = None) -> list[EventCheckpointTriggered]:
    """The event checkpoints fired this week (of one account, or all), in order."""
    return [
        EventCheckpointTriggered.from_event(e)
        for e in events.read(week_id=week_id, account_id=account_id, type=EventCheckpointTriggered.event_type())
    ]


def last_fired(events: EventStore, account_id: str) -> EventCheckpointTriggered | None:
    """The account's latest event checkpoint in any week (the interval runs across a week's end)."""
    found = events.read(account_id=account_id, type=EventCheckpointTriggered.event_type())
    return EventCheckpointTriggered.from_event(found[-1]) if found else None


def fires_at(trigger: EventCheckpointTriggered) -> datetime:
    hour, minute = (int(part) for part in trigger.time.split(":"))
    return datetime.combine(trigger.day, time(hour, minute), NEW_YORK)


def decide(
    setting: EventCheckpoint,
    account_id: str,
    reference: Reference,
    quote: Quote,
    now: datetime,
    last: EventCheckpointTriggered | None,
    splits: Sequence[Split] = (),
) -> EventCheckpointTriggered | None:
    """The trigger to record when `quote` moved beyond the threshold from `reference`, else None. The reference is
    put in the shares of the quote first: divided by each recorded split of its symbol come between them (a 4-for-1
    is no -75% move to re-judge).

    None too when event checkpoints are off, when the account fired within the minimum interval,
    or when the quote is not newer than the reference (a closed market's last close)."""
    if not setting.enabled or setting.threshold is None:
        return None
    if last is not None and now - fires_at(last) < timedelta(minutes=setting.min_interval_minutes):
        return None
    if quote.closed or quote.as_of <= reference.at:
        return None
    # Rounded before the comparison: 105 / 100 - 1 is 0.05000000000000004, and a move of exactly the
    # threshold must not fire.
    ratio = prod(float(s.ratio) for s in splits if s.symbol == reference.symbol and reference.at < s.at <= quote.as_of)
    reference = replace(reference, price=reference.price / ratio)
    move = round(quote.price / reference.price - 1, 9)
    if abs(move) <= setting.threshold:
        return None
    local = now.astimezone(NEW_YORK)
    hhmm = f"{local:%H:%M}"
    return EventCheckpointTriggered(
        key=checkpoint_key(local.date(), f"{hhmm}:event:{account_id}"),
        account_id=account_id,
        day=local.date(),
        time=hhmm,
        symbol=reference.symbol,
        reference_checkpoint=reference.checkpoint_id,
        reference_price=reference.price,
        reference_at=reference.at,
        price=quote.price,
        price_at=quote.as_of,
        price_source=quote.source,
        move=round(move, 6),
        threshold=setting.threshold,
    )


def stream_of(week_id: date, account_id: str) -> str:
    return event_checkpoint_stream(week_id, account_id)
