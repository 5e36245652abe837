"""Checks made as orders are sent (execution.py `send_orders`): the kill switch's blocks said (`stop_if_blocked`), a
symbol's pending position (`pending_at`), and an opening order sent later than it was sized whose price has gone stale
since (`stale_order`).

A side change's opening leg waits for its close to fill (execution.py `send_orders`, LegHeldBack), and an order the
broker refused is sent again by a rerun or the next checkpoint: each goes at the size the risk gate gave it when it was
planned. Its symbol's price may be a close more than risk/stale.py STALE_AFTER sessions old by then (a quiet symbol: no
trade of it on its feed since, a thin name on iex, a halt), which the gate sizes no open or add off: sent as sized, it
would fill at whatever the next trade is. So the age is checked again when it is sent, from what the run read already
(PRICE_AGES: no read of its own); one that opens or adds is given up alone (PlanAbandoned, `whole_plan` False), saying
why, as a leg whose close ended is (ended_close.py). A close, or an order that only reduces, still goes.
"""

from __future__ import annotations

from llmtrade.brokers.protocol import Broker
from llmtrade.domain.market import PriceAge
from llmtrade.domain.trading import Order, PlanAbandoned
from llmtrade.errors import KillSwitchOn
from llmtrade.risk.controls import trading_enabled
from llmtrade.risk.halt import PendingPosition, may_send, pending_position
from llmtrade.risk.stale import STALE_AFTER, STALE_PRICE, stale
from llmtrade.storage.event_store import EventStore


def stop_if_blocked(events: EventStore, blocked: int) -> None:
    """Raises KillSwitchOn when the kill switch held `blocked` orders back: the command is run again once enabled."""
    if blocked:
        _, why = trading_enabled(events)
        raise KillSwitchOn(
            f"trading is disabled ({why}): {blocked} order(s) not sent. "
            "`llmtrade trading enable`, then run the same command again to send them"
        )


def pending_at(broker: Broker, symbol: str) -> PendingPosition:
    """Where the account's signed position in `symbol` may end once the orders it has at the broker are done (an order
    whose cancel is under way may fill or not: risk/halt.py `PendingPosition`, the rule for pending exposure)."""
    account = broker.account({})
    return pending_position(account.positions, broker.open_orders(), symbol, account.fractions)


def stale_order(broker: Broker, order: Order, age: PriceAge | None) -> PlanAbandoned | None:
    """`order`'s abandonment when its symbol's price now is a close more than STALE_AFTER sessions old (`age`) and it
    opens or adds (judged as a halted account's are: `may_send`); None otherwise. The broker is asked only then."""
    if order.intent == "close" or age is None or not stale(age) or may_send(order, pending_at(broker, order.symbol)):
        return None
    held = {s: p.qty for s, p in broker.account({}).positions.items() if p.qty}
    return PlanAbandoned(
        account_id=order.account_id,
        broker=broker.name,
        reason=(
            f"{STALE_PRICE}: {order.symbol}'s price now is its last close, of {age.day}, {age.sessions} sessions "
            f"before the last one ({age.session}), with no trade of it on the feed since (a thin name, a halt): the "
            f"{order.intent} {order.side.value} {order.qty} {order.symbol} ({order.client_order_id}), sized when it "
            f"was planned, was not sent (it would fill at whatever the next trade is; no open or add goes off a close "
            f"more than {STALE_AFTER} sessions old); the account holds {held.get(order.symbol, 0)} shares of "
            f"{order.symbol}, and the next plan starts from them"
        ),
        client_order_ids=[order.client_order_id],
        planned_positions={},
        actual_positions=held,
        whole_plan=False,  # the order only: the plan's other orders still go
    )
