"""A rerun of the week asks the broker about an order an earlier run recorded as refused before judging it again: a
retry of it that the broker took (and filled) in a run killed before it recorded the answer is recorded from the
broker's answer, as a checkpoint's resume does (legs.py `_not_at_broker`), never given up as "no longer valid" for the
very position it closed, taking its side change's opening leg down with it."""

from __future__ import annotations

from llmtrade.brokers.order_plan import plan_orders
from llmtrade.domain.streams import ORDERS, week_stream
from llmtrade.domain.trading import OrderRejected, OrdersPlanned, OrderStatus, OrderSubmitted, PlanAbandoned
from llmtrade.storage.bootstrap import Storage
from llmtrade.workflows.execution import ABANDONED, UNFINISHED
from tests.fakes.alpaca_server import FakeAlpacaServer
from tests.test_alpaca_broker import KEY_ID, SECRET
from tests.test_refused_resend_checked import HELD, WEEK, _alpaca, _execute

STREAM = week_stream(WEEK, ORDERS)


def test_a_weeks_rerun_records_a_refused_close_the_broker_took_since_not_gives_it_up(storage: Storage) -> None:
    with FakeAlpacaServer(key_id=KEY_ID, secret_key=SECRET) as server:
        desk = _alpaca(server, storage)
        by_hand = plan_orders(WEEK, "acct_1", HELD, "SPY", 0, tag="by-hand")[0]
        desk.broker.submit(by_hand)  # the user's own sell of the 10 SPY, queued: llmtrade's close is refused
        orders = plan_orders(WEEK, "acct_1", HELD, "TLT", 5)  # close SPY, then open TLT
        plan = OrdersPlanned(account_id="acct_1", broker="alpaca", orders=orders, positions_before=HELD)
        first = _execute(storage, desk, plan, "r1")
        assert "insufficient qty available" in first.get(UNFINISHED)[0]

        server.end_order(by_hand.client_order_id, "canceled")  # the user took the hand sell back
        server.fill_immediately = True
        # A rerun sent the close again, Alpaca took and filled it, and the run was killed before recording that.
        assert desk.broker.submit(orders[0]).status is OrderStatus.FILLED
        again = _execute(storage, desk, plan, "r3")

        assert again.get(ABANDONED) == []  # before: the close given up as no longer valid, its TLT leg with it
        history = storage.events.read_stream(STREAM)
        sent = {
            s.order.client_order_id: s.result.status
            for s in (OrderSubmitted.from_event(e) for e in history if e.type == OrderSubmitted.event_type())
        }
        assert sorted(sent) == sorted(o.client_order_id for o in orders)  # the close recorded from its answer
        assert sent[orders[0].client_order_id] is OrderStatus.FILLED
        types = [e.type for e in history]
        assert types.count(PlanAbandoned.event_type()) == 0 and types.count(OrderRejected.event_type()) == 1
