"""The circuit breaker sees every fill of a plan so far before each of its orders that may open or add.

After a fill the account is valued (execution.py `revaluer`), so its breaker counts the trade before the next order.
A POST's answer is not the fill, though: Alpaca answers a market order "pending_new" and fills it a moment later, and
a queued order fills at the open, which may come while a plan is being sent. Valued only on a FILLED answer (and
before a side change's opening leg), a plan [close QQQ at a loss, buy TLT] sent the buy though the close's fill had
already halted the account. So the plan's orders that may still fill (answered working, or recorded by an earlier run)
are watched: before each order that is not a close, each is looked up at the broker, and when any has filled more
than the breaker last saw, the account is valued first (a fresh look at it). A breach halts the account there, and
send_orders blocks the plan's remaining opening orders with the breaker's reason; closes still go, unlooked (a halt
never stops them). A plan with nothing working costs no look.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from llmtrade.brokers.protocol import Broker
from llmtrade.domain.trading import Order, OrderResult, OrderStatus


class FillWatch:
    """The fills of one plan's orders the account's breaker has seen, and those it may not have yet."""

    def __init__(self, broker: Broker, after_fill: Callable[[], None] | None, earlier: Iterable[str]) -> None:
        """`after_fill`: the valuation (None: nothing is valued, nothing watched); `earlier`: the plan's orders an
        earlier run sent, which may have filled since (the breaker is shown them once if so)."""
        self._broker = broker
        self._after_fill = after_fill
        self._seen: dict[str, int] = {}  # client_order_id -> shares filled when the breaker last saw the order
        # client_order_id -> the order as the caller just found it (None: look it up), for orders that may fill
        self._watching: dict[str, OrderResult | None] = {cid: None for cid in earlier} if after_fill else {}

    def sent(self, result: OrderResult) -> None:
        """An order's answer: a fill is shown to the breaker now; an order that may still fill is watched."""
        if self._after_fill is None:
            return
        if result.status is OrderStatus.FILLED:
            self._after_fill()  # lets the breaker see the fill before the next order
            self._seen[result.client_order_id] = result.filled_qty
            self._watching.pop(result.client_order_id, None)
        else:
            self._watching[result.client_order_id] = None

    def found(self, result: OrderResult) -> None:
        """An order of the plan the caller just looked up (a leg's close): the next `before` takes it as it is."""
        if self._after_fill is not None and result.filled_qty > self._seen.get(result.client_order_id, 0):
            self._watching[result.client_order_id] = result

    def before(self, order: Order) -> None:
        """Before sending `order`: unless it is a close, the breaker sees every fill of the watched orders so far."""
        if self._after_fill is None or order.intent == "close" or not self._watching:
            return
        moved = False
        for cid, known in list(self._watching.items()):
            now = known if known is not None else self._broker.find(cid)
            if now is not None and now.filled_qty > self._seen.get(cid, 0):
                moved = True
                self._seen[cid] = now.filled_qty
            if now is None or now.status is not OrderStatus.ACCEPTED:
                del self._watching[cid]  # filled whole or ended: nothing more of it to come
            else:
                self._watching[cid] = None  # working: looked up again before the next opening order
        if moved:
            self._after_fill()
