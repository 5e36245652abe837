"""A checkpoint's plan given up for a price no provider gives in this session (checkpoint_unpriced.py
`unsent_given_up`) gave up only the orders with no record on the week's orders stream: one the broker had refused
(OrderRejected, a refusal that may pass) was left out, so the next checkpoint sent it again (legs.py
`resume_unfinished` retries refusals), at a price its decision was not made at, the plan given up in every record. A
given-up plan's orders are never sent again: the refused ones are given up with it, once the broker is asked (one a
killed retry got to it is recorded from its answer, not given up). Alpaca through the real alpaca-py client against
the loopback fake, which refuses as Alpaca does."""

from __future__ import annotations

import asyncio
from datetime import date

from llmtrade.brokers.alpaca import AlpacaBroker
from llmtrade.brokers.order_plan import plan_orders
from llmtrade.domain.streams import ORDERS, week_stream
from llmtrade.domain.trading import OrderRejected, OrdersPlanned, OrderSubmitted, PlanAbandoned
from llmtrade.storage.bootstrap import Storage
from llmtrade.workflows.checkpoint_unpriced import unsent, unsent_given_up
from llmtrade.workflows.desk import Desk
from llmtrade.workflows.execution import execute_plans
from llmtrade.workflows.legs import resume_unfinished
from tests.fakes.alpaca_server import FakeAlpacaServer
from tests.test_alpaca_broker import KEY_ID, SECRET
from tests.test_reconciliation import ACCOUNT, CONFIG

WEEK = date(2026, 1, 7)
STREAM = week_stream(WEEK, ORDERS)
QUOTES = {"XYZ": 50.0}
WHY = "no price in session: XYZ: daily files only"


def _desk(server: FakeAlpacaServer) -> Desk:
    server.set_price("XYZ", QUOTES["XYZ"])
    server.add_asset("XYZ", shortable=True)
    return Desk(ACCOUNT, AlpacaBroker("acct_1", KEY_ID, SECRET, url_override=server.base_url, timeout_seconds=2.0))


def _refused_plan(storage: Storage, server: FakeAlpacaServer, desk: Desk) -> OrdersPlanned:
    """A checkpoint's plan for acct_1 (flat: buy 20 XYZ), refused by Alpaca for buying power (a refusal that may pass,
    so sent again by the next checkpoint, as any refusal)."""
    [order] = plan_orders(WEEK, "acct_1", {}, "XYZ", 20)
    plan = OrdersPlanned(account_id="acct_1", broker="alpaca", orders=[order], positions_before={})
    server.refuse_next_order(403, 40310000, "insufficient buying power")
    run = execute_plans(
        storage.events, {"acct_1": desk}, [plan], CONFIG, QUOTES, stream=STREAM, week_id=WEEK, run_id="c1"
    )
    assert asyncio.run(run).unfinished  # the premise: refused, to be sent again
    return plan


def _types(storage: Storage) -> list[str]:
    return [e.type for e in storage.events.read_stream(STREAM)]


def test_a_refused_order_of_a_plan_given_up_is_given_up_with_it_and_never_sent_again(storage: Storage) -> None:
    with FakeAlpacaServer(key_id=KEY_ID, secret_key=SECRET, fill_immediately=True) as server:
        desk = _desk(server)
        plan = _refused_plan(storage, server, desk)
        [order] = plan.orders
        assert unsent(storage.events, plan, STREAM) == [order.client_order_id]  # not at the broker: not sent

        unsent_given_up(storage.events, desk.broker, plan, WHY, stream=STREAM, week_id=WEEK, run_id="c1-rerun")

        [gone] = [PlanAbandoned.from_event(e) for e in storage.events.read_stream(STREAM) if e.type == "PlanAbandoned"]
        assert gone.client_order_ids == [order.client_order_id] and gone.whole_plan and gone.reason == WHY
        resumed = resume_unfinished(
            storage.events, {"acct_1": desk}, CONFIG, QUOTES, stream=STREAM, week_id=WEEK, run_id="c2"
        )
        assert asyncio.run(resumed).notes == []  # the next checkpoint: nothing to send again
        assert server.count("POST", "/v2/orders") == 1  # before: sent again by the next checkpoint
        assert server.orders == {}
        assert _types(storage).count(OrderSubmitted.event_type()) == 0
        assert unsent(storage.events, plan, STREAM) == []


def test_a_refused_order_a_killed_retry_got_to_the_broker_is_recorded_from_its_answer_not_given_up(
    storage: Storage,
) -> None:
    with FakeAlpacaServer(key_id=KEY_ID, secret_key=SECRET, fill_immediately=True) as server:
        desk = _desk(server)
        plan = _refused_plan(storage, server, desk)
        [order] = plan.orders
        desk.broker.submit(order)  # a retry killed between Alpaca's answer and its record

        unsent_given_up(storage.events, desk.broker, plan, WHY, stream=STREAM, week_id=WEEK, run_id="c1-rerun")

        assert PlanAbandoned.event_type() not in _types(storage)
        assert _types(storage) == [OrderRejected.event_type(), OrderSubmitted.event_type()]
        assert server.count("POST", "/v2/orders") == 2  # the refusal and the killed retry: nothing more
