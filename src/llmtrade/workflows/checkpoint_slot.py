"""Which checkpoint (`Slot`: its day, time and streams) and where one account's checkpoint stands (`Outcome`, read
back from its write-once stream by `outcome_from`): what the checkpoint's stages and the jobs that run them share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from llmtrade.brokers.protocol import Broker
from llmtrade.domain.checkpoints import Checkpoint, CheckpointCompleted, CheckpointSkipped, CheckpointTaken
from llmtrade.domain.events import InputsMissing, NewEvent, StageDeferred, StoredEvent
from llmtrade.domain.streams import ORDERS, checkpoint_stream, held_stream, week_stream
from llmtrade.domain.trading import OrdersPlanned, OrderSubmitted, RiskChecked, RiskVerdict
from llmtrade.market.calendar import NEW_YORK
from llmtrade.storage.event_store import EventStore
from llmtrade.workflows.execution import recorded_orders, recover_orders


@dataclass(frozen=True)
class Outcome:
    """One account's checkpoint as it stands: judged (checkpoint) or skipped, then decided (verdict, orders)."""

    account_id: str
    checkpoint: Checkpoint | None
    skipped: str | None
    orders: OrdersPlanned | None
    verdict: RiskVerdict | None


@dataclass(frozen=True)
class Slot:
    """Which checkpoint: the New York day and the time (HH:MM); `event_for`: the account of an event
    checkpoint (fired by a price move at `time`), which gets its own streams, label and order ids."""

    day: date
    time: str
    event_for: str | None = None

    @property
    def label(self) -> str:
        """`time`, or `time:event:ACCOUNT` for an event checkpoint: what its key and streams are named by."""
        return self.time if self.event_for is None else f"{self.time}:event:{self.event_for}"

    @property
    def tag(self) -> str:
        """What tells this checkpoint's orders apart from the week's other orders of the same intent."""
        return f"{self.day:%m%d}T{self.time.replace(':', '')}" + ("E" if self.event_for else "")

    def stream(self, week_id: date, account_id: str | None = None) -> str:
        return checkpoint_stream(week_id, self.day, self.label, account_id)


def outcome_from(account_id: str, stored: list[StoredEvent]) -> Outcome:
    """An account's checkpoint as far as its stream holds it (the decision may be missing after a crash)."""
    checkpoint = next(
        (CheckpointTaken.from_event(e).checkpoint for e in stored if e.type == CheckpointTaken.event_type()), None
    )
    skipped = next(
        (CheckpointSkipped.from_event(e).reason for e in stored if e.type == CheckpointSkipped.event_type()), None
    )
    verdict = next((RiskChecked.from_event(e).verdict for e in stored if e.type == RiskChecked.event_type()), None)
    orders = next((OrdersPlanned.from_event(e) for e in stored if e.type == OrdersPlanned.event_type()), None)
    return Outcome(account_id, checkpoint, skipped, orders, verdict)


def close_unjudged(
    events: EventStore,
    slot: Slot,
    week_id: date,
    deadline: datetime,
    accounts: list[str],
    broker_of: Callable[[str], Broker | None],
) -> str:
    """Close the checkpoint `slot`, found not complete past its `deadline`, and say how (one line): each of
    `accounts` (judged by no run, or judged and not traded) is recorded as not judged (CheckpointSkipped, unless it
    was judged) with InputsMissing and why (the last run's StageDeferred), then the marker. A checkpoint waits for a
    price or an owner until its deadline (exit 75); past it the wait would fail every cron wake-up till a price
    comes, which a halted, delisted or crashed-at-a-split's-factor symbol may not give that day.

    An account judged and decided whose plan's orders are not all recorded may have them at its broker (`broker_of`
    its id): a run that died, or timed out, after the broker took an order. The broker is asked first, each order it
    holds recorded from its answer (workflows/execution.py `recover_orders`) and named, not closed as not traded."""
    marker = slot.stream(week_id)
    deferrals = events.read_stream(held_stream(marker))
    last = StageDeferred.from_event(deferrals[-1]) if deferrals else None
    run_id = (deferrals[-1].run_id if deferrals else None) or f"closed {deadline.isoformat()}"
    until = deadline.astimezone(NEW_YORK).isoformat()
    batch: list[NewEvent] = []
    said: list[str] = []
    for account_id in accounts:
        errors = [e for e in (last.errors if last else []) if e.startswith(f"{account_id}:")] or ["no run finished it"]
        stream = slot.stream(week_id, account_id)
        stored = events.read_stream(stream)
        judged = bool(stored)
        sent = _sent(events, stored, week_id, run_id, broker_of) if judged else []
        how = f"judged, orders at the broker ({', '.join(sent)})" if sent else "judged, not traded" if judged else ""
        reason = f"{how or 'not judged'} by the deadline {until}: {'; '.join(errors)}"
        skipped = [] if judged else [CheckpointSkipped(account_id=account_id, reason=reason)]
        missing = InputsMissing(
            stage=last.stage if last else "prepare", missing=[account_id], errors=[reason], deadline=deadline
        )
        batch += [
            NewEvent.of(p, stream=stream, week_id=week_id, run_id=run_id, account_id=account_id)
            for p in [*skipped, missing]
        ]
        said.append(f"{account_id} {reason}")
    completed = CheckpointCompleted(week_id=week_id, day=slot.day, time=slot.label, run_id=run_id)
    batch.append(NewEvent.of(completed, stream=marker, week_id=week_id, run_id=run_id))
    events.append(batch, expected_versions={marker: 0})
    return f"checkpoint:{slot.day}T{slot.label} closed: {'; '.join(said)}; the next scheduled checkpoint judges them"


def _sent(
    events: EventStore,
    stored: list[StoredEvent],
    week_id: date,
    run_id: str,
    broker_of: Callable[[str], Broker | None],
) -> list[str]:
    """The orders of the account's checkpoint plan (in `stored`) that are at its broker, each "side qty SYMBOL
    status"; those the week's orders stream lacks are looked up at the broker and recorded from its answer."""
    plan = next((OrdersPlanned.from_event(e) for e in stored if e.type == OrdersPlanned.event_type()), None)
    if plan is None or not plan.orders:
        return []
    stream = week_stream(week_id, ORDERS)
    ours = {o.client_order_id for o in plan.orders}
    recorded = [r for r in recorded_orders(events, stream) if r.order.client_order_id in ours]
    if len({r.order.client_order_id for r in recorded}) < len(ours):
        broker = broker_of(plan.account_id)
        if broker is None:  # nobody to ask: not assumed unsent
            return [f"{o.side.value} {o.qty} {o.symbol} not looked up (no broker configured)" for o in plan.orders]
        recorded += recover_orders(events, broker, plan, stream=stream, week_id=week_id, run_id=run_id)
    return [
        f"{r.order.side.value} {r.order.qty} {r.order.symbol} {r.result.status.value}"
        for r in recorded
        if isinstance(r, OrderSubmitted)
    ]


def waiting_accounts(events: EventStore, slot: Slot, week_id: date) -> list[str]:
    """The accounts the last run of `slot` left waiting (its StageDeferred), none when no run deferred."""
    deferrals = events.read_stream(held_stream(slot.stream(week_id)))
    return StageDeferred.from_event(deferrals[-1]).waiting if deferrals else []
