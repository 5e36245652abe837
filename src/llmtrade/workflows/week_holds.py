"""What the weekly run says of an account it holds back (workflows/week_gate.py `WeekGate.held`): its orders of
llmtrade's still open at its broker (queued, or a cancel under way), or its broker not answering. The other accounts
are independent (a paper account each) and trade their week meanwhile; the week's next run looks at it again."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from llmtrade.config.models import Account, AccountRole
from llmtrade.domain.account_events import AccountWeekHeld
from llmtrade.domain.events import StoredEvent
from llmtrade.domain.streams import ORDERS, RISK, week_stream
from llmtrade.domain.trading import LegHeldBack, OrdersPlanned
from llmtrade.errors import BrokerUnavailable
from llmtrade.storage.event_store import EventStore
from llmtrade.workflows.ended_close import given_up_orders
from llmtrade.workflows.plan_recovery import breaker_blocked, recorded_orders

# When a queued paper order fills (brokers/paper.py): the next open, or, sent in session on a symbol with daily prices
# only, that session's close; a broker's own order, when the broker fills it.
WHEN = "the open (one sent in session on daily prices only: at the session's close)"
CANCELING = "pending_cancel"
# What every hold ends with: who looks again, and until when.
_AGAIN = (
    "The next run of the week (run-due at its next wake-up, or `llmtrade run-weekly`) asks the broker again and trades "
    "the account once {what}, until the week's last session closes"
)


def labelled(held: AccountWeekHeld) -> list[str]:
    return _label(held.orders, held.canceling)


def _label(orders: list[str], canceling: list[str]) -> list[str]:
    return [f"{i} (its cancel under way: {CANCELING})" if i in canceling else i for i in orders]


def held_note(account_id: str, orders: list[str], canceling: list[str]) -> str:
    """What the weekly run says of an account it holds back, its `orders` of llmtrade's still open at the broker
    (`canceling`: those whose cancel is under way): which account, which orders, why, and what to do. The other
    accounts are independent (a paper account each) and trade their week meanwhile."""
    named = _label(orders, canceling)
    queued = [i for i in orders if i not in canceling]
    ends = []
    if canceling:
        # Alpaca can leave a cancel pending for hours (alpacahq/Alpaca-API #111, #199): it ends when Alpaca carries it
        # out, never at the open, and only Alpaca (its dashboard, its support) can clear one that stays.
        ends.append(
            f"a cancel under way ({CANCELING}) ends when the broker carries it out, which Alpaca can leave undone "
            "for hours: if it stays so, cancel the order in Alpaca's dashboard or ask Alpaca's support to clear it"
        )
    if queued:
        ends.append(f"a queued order fills at {WHEN}")
    said = "; ".join(ends)
    return (
        f"account {account_id} is held back this week: order(s) {', '.join(named)} of llmtrade's are still open at "
        "its broker and may fill, so nothing is planned or sent for it (no second order beside one that may fill); "
        f"the other accounts trade their week. {said[:1].upper()}{said[1:]}. {_AGAIN.format(what='they have ended')}"
    )


def unanswered_note(
    account_id: str, broker: str, error: BrokerUnavailable, *, short: str = "", flat: bool = False
) -> str:
    """What the weekly run says of an account whose broker did not answer its look (`error`, in its own words: when to
    try again, a rate limit's reset): nothing is known of its orders now, so nothing is planned or sent for it. `short`:
    the symbol of the week's short whose question (may it be shorted) the broker did not answer, after its look.
    `flat`: the FLAT baseline, which trades nothing: what is missing is its week-start valuation, not a plan."""
    if flat:
        return (
            f"account {account_id} (the FLAT baseline) is held back this week: its broker did not answer ({broker}: "
            f"{error}), so it is not valued at the week's start (no value is made up for a look that did not happen); "
            "it trades nothing, and the other accounts trade their week. The next run of the week (run-due at its "
            "next wake-up, or `llmtrade run-weekly`) asks the broker again and values the account once it answers, "
            "until the week's last session closes"
        )
    unknown = (
        f"whether it may short {short} is not known"
        if short
        else "what it holds and whether an order of llmtrade's is still open there are not known"
    )
    return (
        f"account {account_id} is held back this week: its broker did not answer ({broker}: {error}), so {unknown}, "
        "and nothing is planned or sent for it; "
        f"the other accounts trade their week. {_AGAIN.format(what='it answers')}"
    )


def accounts_held(stored: Sequence[StoredEvent]) -> dict[str, AccountWeekHeld]:
    """The accounts the week's risk stream (`stored`) holds back and has not planned since, by account id: each waits
    for a run of the week that finds its orders ended (RiskStage plans it then, on the same stream)."""
    held = [AccountWeekHeld.from_event(e) for e in stored if e.type == AccountWeekHeld.event_type()]
    if not held:  # the common week: every checkpoint asks, and its plans are not read for it
        return {}
    planned = {OrdersPlanned.from_event(e).account_id for e in stored if e.type == OrdersPlanned.event_type()}
    return {h.account_id: h for h in held if h.account_id not in planned}


def trading_accounts(accounts: Sequence[Account]) -> list[str]:
    """The accounts that trade: all but the FLAT baseline. A run whose every one of them is held stops (week_gate.py
    `wait_for_queued`); the FLAT baseline held (its broker not answering) holds nobody else: it trades nothing."""
    return [a.id for a in accounts if a.role is not AccountRole.FLAT]


def held_this_week(events: EventStore, week_id: date) -> dict[str, AccountWeekHeld]:
    """`accounts_held` of the week's risk stream as stored."""
    return accounts_held(events.read_stream(week_stream(week_id, RISK)))


def held_plans_unsent(events: EventStore, week_id: date, stored: Sequence[StoredEvent]) -> list[str]:
    """The accounts of the week's risk stream (`stored`) planned after a hold (`accounts_held` no longer names them)
    with an order the week's orders stream has no record of: the run that planned it was killed before it sent it. The
    week is done (WeekCompleted, by the run that held it), so nothing else would send it: the weekly run is run again
    for these (`held_week_due`), whose execution asks the broker first (recover_orders) and sends each order once. An
    order recorded in any way (sent, refused, a leg held back, given up, blocked by the breaker) is the checkpoints' or
    nobody's to send; one the kill switch blocked is sent by that rerun once trading is enabled."""
    held = {AccountWeekHeld.from_event(e).account_id for e in stored if e.type == AccountWeekHeld.event_type()}
    if not held:
        return []
    plans = [OrdersPlanned.from_event(e) for e in stored if e.type == OrdersPlanned.event_type()]
    plans = [p for p in plans if p.account_id in held and p.orders]
    if not plans:
        return []
    stream = week_stream(week_id, ORDERS)
    history = events.read_stream(stream)
    recorded = {r.order.client_order_id for r in recorded_orders(events, stream)}  # sent or refused
    recorded |= given_up_orders(events, history).keys()
    # The breaker's block is final for the plan (`breaker_blocked`); the kill switch's is lifted by `trading enable`,
    # after which the rerun sends it, as the week's first run's.
    recorded |= breaker_blocked(events, history)
    for event in history:
        if event.type == LegHeldBack.event_type():
            recorded.add(LegHeldBack.from_event(event).order.client_order_id)
    return [p.account_id for p in plans if any(o.client_order_id not in recorded for o in p.orders)]


def held_week_due(events: EventStore, week_id: date) -> bool:
    """Whether the week's weekly run is to run again for an account it held back: still held (`accounts_held`), or
    planned by a run killed before it sent the plan (`held_plans_unsent`)."""
    stored = events.read_stream(week_stream(week_id, RISK))
    return bool(accounts_held(stored)) or bool(held_plans_unsent(events, week_id, stored))


def planned_late_note(account_id: str, session: date, last: date) -> str:
    """What the run that plans a held account says when sessions closed after the week's snapshot (`session`, the
    closes every account of the week was sized at) up to `last`: its orders are sized at those older closes."""
    return (
        f"account {account_id}'s week is planned now that its held orders have ended, sized at the week's prices (the "
        f"closes of {session}, as the other accounts' were), not at those of {last}, the last session closed: a move "
        "since is not in its sizing (the risk gate's limits were checked at those closes); its checkpoints judge it at "
        "the prices of their time"
    )


def never_planned_note(held: AccountWeekHeld) -> str:
    """Why the week's postmortem has no row for an account the weekly run held back and never planned (`held`): no
    run of the week found its orders ended (or its broker answering) before the week's last session closed, so its week
    was never sized nor traded (the chairman's account may have been valued, before the decision it was held after);
    what it held was last week's."""
    why = (
        f"order(s) {', '.join(labelled(held))} of llmtrade's stayed open at its broker"
        if held.orders
        else "its broker did not answer"
    )
    return (
        f"{held.account_id} has no row: its week was held back and never planned ({why} until the week's last session "
        "closed), so nothing of the week was sized or sent for it and it is not scored; it kept what it held "
        "before (status shows what it holds)"
    )


def week_held_skip(held: AccountWeekHeld) -> str:
    """Why a checkpoint does not judge an account whose week the weekly run held back and has not planned since: the
    week's trade is not its position yet (what it holds is last week's), and the weekly run that plans it sends its
    week from what it holds then; a checkpoint's trade before it would be undone by it."""
    return (
        "its week is held back, not planned yet (the weekly run's words: "
        f"{held.reason}); the weekly run plans it first, then the checkpoints judge it"
    )


def status_note(held: AccountWeekHeld) -> str:
    """What `status` says of an account whose week the weekly run held back and has not planned since (`held`): its
    equity and positions are last week's, not the week's trade, and why (its reason shortened: the run said it all)."""
    why = (
        f"order(s) {', '.join(labelled(held))} of llmtrade's still open at its broker"
        if held.orders
        else "its broker did not answer the weekly run"
    )
    return (
        f"its week is held back, not planned yet ({why}): what it holds is last week's; the next run of the week "
        "(run-due, or `llmtrade run-weekly`) plans it once "
        + ("they have ended" if held.orders else "its broker answers")
    )
