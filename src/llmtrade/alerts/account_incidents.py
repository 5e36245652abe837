"""The incidents told once per recorded event about an account or its orders: a circuit breaker's halt or resume, a
reconciliation difference, an order its broker does not show, an order filled past its size, an account whose week the
weekly run held back. Each event is recorded once, so each is one incident, keyed by the event, the order or the hold.
find_incidents (incidents.py) reads the events."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from llmtrade.alerts.incident import Incident
from llmtrade.brokers.overfills import overfill_part
from llmtrade.domain.account_events import AccountHalted, AccountResumed, AccountWeekHeld
from llmtrade.domain.events import StoredEvent
from llmtrade.domain.reconciliation import ReconciliationDifferenceFound
from llmtrade.domain.trading import OrderNotShown, OrderOverfilled


def breakers(found: Iterable[StoredEvent]) -> list[Incident]:
    incidents = []
    for event in found:
        halted = event.type == AccountHalted.event_type()
        payload = AccountHalted.from_event(event) if halted else AccountResumed.from_event(event)
        verb = "halted" if halted else "resumed"
        incidents.append(
            Incident(
                f"breaker:{payload.account_id}:{event.id}",
                "breaker",
                f"llmtrade: circuit breaker {verb} {payload.account_id}",
                f"The circuit breaker {verb} account {payload.account_id}: {payload.reason}",
                [event.id],
            )
        )
    return incidents


def reconciliation(found: Iterable[StoredEvent]) -> list[Incident]:
    incidents = []
    for event in found:
        seen = ReconciliationDifferenceFound.from_event(event)
        d = seen.difference
        detail = f" ({d.detail})" if d.detail else ""
        incidents.append(
            Incident(
                f"reconciliation:{seen.account_id}:{event.id}",
                "reconciliation",
                f"llmtrade: {seen.account_id} broker differs from the records ({d.kind} {d.symbol})",
                f"At {seen.occasion}, account {seen.account_id}: {d.kind} {d.symbol}, broker {d.broker_qty} "
                f"vs records {d.ledger_qty}{detail}. `llmtrade positions` shows both sides.",
                [event.id],
            )
        )
    return incidents


def not_shown(found: Iterable[StoredEvent]) -> list[Incident]:
    """An order its broker takes as working but shows nowhere working (brokers/order_ends.py): recorded once per
    order, so one incident each, whichever job's look found it (one that says nothing of it, a postmortem's, too)."""
    incidents = []
    for event in found:
        seen = OrderNotShown.from_event(event)
        title = f"llmtrade: {seen.account_id} order {seen.client_order_id} is not shown at {seen.broker}"
        incidents.append(_order("order-not-shown", event, seen.account_id, seen.client_order_id, title, seen.note))
    return incidents


def overfilled(found: Iterable[StoredEvent]) -> list[Incident]:
    """An order that filled more shares than llmtrade sent it for (brokers/overfills.py): recorded once per order,
    with its fill, so one incident each, whichever job booked the fill."""
    incidents = []
    for event in found:
        over = OrderOverfilled.from_event(event)
        # In the shares the run said it in: "56 of 40 filled, 10 sent before the 4-for-1 split", not "filled 56 of 10".
        title = f"llmtrade: {over.account_id} order {over.client_order_id} at {over.broker}: {overfill_part(over)}"
        incidents.append(_order("order-overfilled", event, over.account_id, over.client_order_id, title, over.note))
    return incidents


def week_held(stored: Iterable[StoredEvent], since: datetime) -> list[Incident]:
    """An account the weekly run held back (AccountWeekHeld: orders of llmtrade's still open at its broker, a cancel
    stuck in pending_cancel for hours, or its broker not answering), nothing planned or sent for it: a cron user heard
    of it only in a degraded run's alert that said nothing of the account. Recorded once per hold, and anew only when it
    changed (other orders, a cancel now under way, its broker not answering), so keyed by the week, the account and the
    hold's orders: one alert per hold, not one at every wake-up while it lasts; one more when it changes. A hold that
    comes back to what an earlier one of the week was (its broker not answering again after an orders hold) is a change
    too: its key says how many times it came back (`stored`: every hold recorded, oldest first, to count them; those
    recorded at or after `since` are the incidents), where it took the first one's key and was never sent."""
    incidents = []
    seen: dict[str, int] = {}
    for event in stored:
        held = AccountWeekHeld.from_event(event)
        orders = ",".join(f"{o}~" if o in held.canceling else o for o in held.orders) or "unanswered"
        first = f"week-held:{event.week_id}:{held.account_id}:{orders}"
        times = seen[first] = seen.get(first, 0) + 1
        if event.occurred_at < since:
            continue
        # The title is cut at 120 characters (alerts/send.py): the orders, by name, are in the body.
        count = f"{len(held.orders)} order(s)" + (f", {len(held.canceling)} canceling" if held.canceling else "")
        what = f"{count} still open at {held.broker}" if held.orders else f"{held.broker} did not answer"
        incidents.append(
            Incident(
                first if times == 1 else f"{first}:again-{times - 1}",
                "week-held",
                f"llmtrade: {held.account_id}'s week {event.week_id} held back ({what})",
                f"The weekly run of week {event.week_id} said: {held.reason}. `llmtrade status` shows the hold until "
                "the week is planned.",
                [event.id],
            )
        )
    return incidents


def _order(kind: str, event: StoredEvent, account_id: str, client_order_id: str, title: str, note: str) -> Incident:
    """One order's incident of `kind`, keyed by the order (its event is recorded once per order), its body the
    event's note."""
    return Incident(f"{kind}:{account_id}:{client_order_id}", kind, title, f"Account {account_id}: {note}.", [event.id])
