"""Orders a run left undone (refused by the broker, or an opening leg held back for its close), and
sending them again: on a rerun of the week and at every checkpoint, while they are still valid.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import partial

from llmtrade.config.models import Config
from llmtrade.domain.events import NewEvent
from llmtrade.domain.market import Bar, PriceAge
from llmtrade.domain.trading import (
    LegHeldBack,
    Order,
    OrderStatus,
    OrderSubmitted,
    Position,
)
from llmtrade.pipeline.context import ContextKey
from llmtrade.storage.event_store import EventStore
from llmtrade.threads import on_threads
from llmtrade.workflows.desk import Desk
from llmtrade.workflows.execution import (
    abandonment_note,
    revaluer,
    send_orders,
    unfinished_note,
)
from llmtrade.workflows.resend_checks import (
    NOT_VALID,
    SPLIT_SINCE,
    give_up_alone,
    planned_sides,
    split_since,
    still_valid,
    undone,
    week_plans,
)
from llmtrade.workflows.send_checks import stop_if_blocked

# A line per account whose earlier orders of the week a checkpoint's newer plan superseded (resume_unfinished): said by
# the checkpoint, not degraded.
SUPERSEDED = ContextKey("superseded_orders", list[str])


@dataclass(frozen=True)
class ResumedOrders:
    """What `resume_unfinished` has to say: `notes`, one line per order refused again or given up alone (a degraded
    run); `superseded`, one line per account whose orders left undone a newer plan replaced now (said, not degraded)."""

    notes: list[str]
    superseded: list[str]


def superseded_note(account_id: str, orders: Sequence[Order]) -> str:
    """The line a person reads of an account's undone orders a newer plan (this checkpoint's) gave up whole: they
    were refused or held back, and would otherwise have been sent by the next rerun or checkpoint."""
    what = "; ".join(f"{o.intent} {o.side.value} {o.qty} {o.symbol} ({o.client_order_id})" for o in orders)
    return (
        f"account {account_id}'s orders left undone from an earlier plan of the week ({what}) superseded by its newer "
        "plan: not sent, the newer plan starts from what the account holds"
    )


def unfinished_orders(events: EventStore, stream: str, account_id: str | None = None) -> list[Order]:
    """Orders on `stream` whose latest record is a refusal or a held-back leg, and whose plan was not
    abandoned: what a rerun or the next checkpoint sends (if still valid). Oldest first."""
    return [r.order for r in undone(events, stream).values() if account_id is None or r.order.account_id == account_id]


def held_back_notes(events: EventStore, stream: str, account_id: str | None = None) -> list[str]:
    """One line (`unfinished_note`) per opening leg on `stream` still held back for its close: not sent
    yet, not abandoned. Reported, but not a degraded run: a rerun or the next checkpoint sends it; one
    whose close never fills stays listed here on every later run of the week."""
    return [
        unfinished_note(r)
        for r in undone(events, stream).values()
        if isinstance(r, LegHeldBack) and (account_id is None or r.order.account_id == account_id)
    ]


async def resume_unfinished(
    events: EventStore,
    desks: Mapping[str, Desk],
    config: Config,
    prices: Mapping[str, float],
    *,
    stream: str,
    week_id: date,
    run_id: str,
    superseded: frozenset[str] = frozenset(),
    own: frozenset[str] = frozenset(),
    last_closes: Mapping[str, Bar] | None = None,
    ages: Mapping[str, PriceAge] | None = None,
) -> ResumedOrders:
    """Send again the orders on `stream` refused earlier or held back for their close, while still valid.

    Accounts in `superseded` have a newer plan (this checkpoint's): their unfinished orders are
    abandoned (PlanAbandoned, once, whole_plan) instead. After a fill an account is valued at `prices` and
    `last_closes` (execution.py `revaluer`); one that opens or adds off a price `ages` says is stale now is given up
    by send_orders (send_checks.py). An order no longer valid for what the account holds
    (`still_valid`), or sized before a split, is abandoned alone (whole_plan False). Orders in `own` (the caller's own
    plans) are left to the caller.
    Returns the notes of the orders refused again and of those given up alone, now or by send_orders (legs still held
    back: `held_back_notes`), and a line per account whose orders a newer plan superseded now."""
    notes: list[str] = []
    replaced: list[str] = []

    def resume(desk: Desk) -> tuple[list[str], list[str]]:
        account_id = desk.account.id
        undone = [o for o in unfinished_orders(events, stream, account_id) if o.client_order_id not in own]
        if not undone:
            return [], []
        after_fill = revaluer(events, desk, config, prices, week_id=week_id, run_id=run_id, last_closes=last_closes)
        left = _not_at_broker(
            events, desk, undone, stream=stream, week_id=week_id, run_id=run_id, after_fill=after_fill
        )
        positions = desk.broker.account(prices).positions
        crossed = split_since(events, stream, left)
        valid = [o for o in left if o.client_order_id not in crossed]
        sides = planned_sides(week_plans(events, week_id, valid), valid)
        sendable = [] if account_id in superseded else [o for o in valid if _resumable(o, valid, positions, sides)]
        dropped = [o for o in valid if o not in sendable]
        # A newer plan replaces what is left of the older ones whole; the others give up only the orders named, as
        # the first run gives up a leg whose close ended (ended_close.py): a rerun of the week still sends the plan's
        # other orders (each once), and the run and the report say an order was abandoned, not the plan. A held-back
        # leg whose close is given up here stays in `sendable`: send_orders reads the close's abandonment written
        # below and gives the leg up by the one rule and reason of ended_close.py `leg_after_given_up_close` (the
        # same as when an earlier run gave the close up), before anything of it is sent.
        reasons = {
            ("superseded by a newer plan for the account", True) if account_id in superseded else (NOT_VALID, False): (
                dropped
            ),
            (SPLIT_SINCE, False): [o for o in left if o not in valid],
        }
        said: list[str] = []  # an order given up alone is a trade that will not happen: said, and a degraded run
        newer: list[str] = []  # a newer plan replacing the older: said, not degraded (the new plan is the account's)
        for (reason, whole), orders in ((r, o) for r, o in reasons.items() if o):
            gone = give_up_alone(
                events,
                orders,
                broker=desk.broker.name,
                reason=reason,
                positions=positions,
                stream=stream,
                week_id=week_id,
                run_id=run_id,
                whole_plan=whole,
            )
            if whole:
                newer.append(superseded_note(account_id, orders))
            else:
                said.append(abandonment_note(gone))
        sent = send_orders(
            events,
            desk.broker,
            sendable,
            stream=stream,
            week_id=week_id,
            run_id=run_id,
            after_fill=after_fill,
            ages=ages,
        )
        stop_if_blocked(events, sent.blocked)
        refused = [unfinished_note(item) for item in sent.refused]
        return [*said, *refused, *map(abandonment_note, sent.abandoned)], newer

    # Most checkpoints find nothing undone: only the accounts that have something get a thread (a thread per
    # account per checkpoint was most of this step's cost); each still reads its own orders on its thread.
    waiting = {o.account_id for o in unfinished_orders(events, stream) if o.client_order_id not in own}
    busy = [desk for desk in desks.values() if desk.account.id in waiting]
    for found, newer in await on_threads([partial(resume, desk) for desk in busy]):
        notes += found
        replaced += newer
    return ResumedOrders(notes=notes, superseded=replaced)


def _not_at_broker(
    events: EventStore,
    desk: Desk,
    orders: list[Order],
    *,
    stream: str,
    week_id: date,
    run_id: str,
    after_fill: Callable[[], None],
) -> list[Order]:
    """`orders` (refused or held back, as the stream has them) the broker does not hold. One it holds was sent again by
    a run killed before it recorded the broker's answer: it is recorded from the broker's answer now, as a rerun of the
    week records its plan's (execution.py `recover_orders`), and its fill shown to the breaker. Judged as still refused,
    a close the broker had filled was found no longer valid (its position gone: it had closed it) and given up with
    its held-back leg, and the side change's opening leg was never sent."""
    broker, filled = desk.broker, False
    missing: list[Order] = []
    for order in orders:
        found = broker.find(order.client_order_id)
        if found is None:
            missing.append(order)
            continue
        held = OrderSubmitted(order=order, broker=broker.name, result=found)
        events.append([NewEvent.of(held, stream=stream, week_id=week_id, run_id=run_id, account_id=order.account_id)])
        filled = filled or found.status is OrderStatus.FILLED
    if filled:
        after_fill()
    return missing


def _resumable(order: Order, left: list[Order], positions: Mapping[str, Position], sides: Mapping[str, int]) -> bool:
    """A held-back leg whose close is still to come is valid while the close is (given up with it by send_orders when
    the close is not); others by `still_valid`."""
    if order.intent == "open" and any(o.symbol == order.symbol and o.intent == "close" for o in left):
        return True
    if order.intent == "open" and order.symbol in positions and positions[order.symbol].qty:
        # Its close was sent and is waiting at the broker: send_orders keeps holding the leg back.
        return True
    return still_valid(order, positions, sides.get(order.client_order_id))
