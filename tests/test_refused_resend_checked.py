"""An order Alpaca refused is sent again (by a rerun of the week, by a checkpoint) only while it still does what its
plan meant for what the account holds: Alpaca takes a sell of shares the account does not hold as a short sale.

Found by an audit with the real alpaca-py client: the user's own sell of the 10 SPY queued at Alpaca had a close
refused ("insufficient qty available"); once the hand order filled, the week's rerun sent the close again, unchecked
(a refusal counted as the plan part-sent), and opened a short of 10. A checkpoint let a refused resize through after
the account went flat: a short of 4. The loopback fake books such a sell as Alpaca does (sell_to_open)."""

from __future__ import annotations

import asyncio
from datetime import date

from llmtrade.brokers.alpaca import AlpacaBroker
from llmtrade.brokers.order_plan import plan_orders
from llmtrade.domain.events import NewEvent
from llmtrade.domain.reconciliation import PositionAdopted
from llmtrade.domain.streams import ORDERS, managed_stream, week_stream
from llmtrade.domain.trading import Order, OrderRejected, OrdersPlanned, OrderSubmitted, PlanAbandoned, Position
from llmtrade.pipeline.context import PipelineContext
from llmtrade.storage.bootstrap import Storage
from llmtrade.workflows.desk import Desk
from llmtrade.workflows.execution import ABANDONED, UNFINISHED
from llmtrade.workflows.execution_stage import ExecutionStage
from llmtrade.workflows.legs import resume_unfinished
from llmtrade.workflows.resend_checks import NOT_VALID, still_valid
from llmtrade.workflows.trading_stages import LAST_CLOSES, PLANS, PRICES
from tests.fakes.alpaca_server import FakeAlpacaServer
from tests.test_alpaca_broker import KEY_ID, SECRET
from tests.test_reconciliation import ACCOUNT, CONFIG

WEEK = date(2026, 1, 7)
STREAM = week_stream(WEEK, ORDERS)
QUOTES = {"SPY": 100.0, "TLT": 90.0}
HELD = {"SPY": Position(symbol="SPY", qty=10, avg_price=100)}


def _alpaca(server: FakeAlpacaServer, storage: Storage) -> Desk:
    for symbol, price in QUOTES.items():
        server.set_price(symbol, price)
    server.add_asset("SPY", shortable=True)
    server.set_position("SPY", 10, 100)
    adopted = PositionAdopted(account_id="acct_1", symbol="SPY", qty=10, avg_price=100, price=100)
    storage.events.append([NewEvent.of(adopted, stream=managed_stream("acct_1"), account_id="acct_1")])
    return Desk(ACCOUNT, AlpacaBroker("acct_1", KEY_ID, SECRET, url_override=server.base_url, timeout_seconds=2.0))


def _execute(storage: Storage, desk: Desk, plan: OrdersPlanned, run_id: str) -> PipelineContext:
    context = PipelineContext(run_id=run_id, week_id=WEEK).with_values(
        (PLANS, [plan]), (PRICES, QUOTES), (LAST_CLOSES, {})
    )
    return asyncio.run(ExecutionStage([desk], storage.events, WEEK, CONFIG, dry_run=False).run(context))


def _short(server: FakeAlpacaServer) -> list[str]:
    return [o["client_order_id"] for o in server.orders.values() if o.get("position_intent") == "sell_to_open"]


def test_a_weeks_rerun_sends_a_refused_close_again_only_while_the_position_is_there(storage: Storage) -> None:
    with FakeAlpacaServer(key_id=KEY_ID, secret_key=SECRET) as server:
        desk = _alpaca(server, storage)
        by_hand = plan_orders(WEEK, "acct_1", HELD, "SPY", 0, tag="by-hand")[0]
        desk.broker.submit(by_hand)  # the user's own sell of the 10 SPY, queued for the open
        orders = plan_orders(WEEK, "acct_1", HELD, "TLT", 5)  # close SPY, then open TLT
        plan = OrdersPlanned(account_id="acct_1", broker="alpaca", orders=orders, positions_before=HELD)
        first = _execute(storage, desk, plan, "r1")
        assert "insufficient qty available" in first.get(UNFINISHED)[0]  # the close refused; TLT queued

        server.fill_open_orders()  # the open: the hand sell fills, the account holds no SPY
        server.fill_immediately = True
        again = _execute(storage, desk, plan, "r2")

        assert _short(server) == []  # before: the close went again and sold 10 SPY short
        [gone] = again.get(ABANDONED)
        assert (gone.reason, gone.client_order_ids, gone.whole_plan) == (NOT_VALID, [orders[0].client_order_id], False)
        assert gone.actual_positions == {"TLT": 5}
        stored = [e.type for e in storage.events.read_stream(STREAM)]
        assert stored.count(PlanAbandoned.event_type()) == 1 and stored.count(OrderRejected.event_type()) == 1


def test_a_weeks_rerun_still_sends_a_refused_close_the_position_is_there_for(storage: Storage) -> None:
    with FakeAlpacaServer(key_id=KEY_ID, secret_key=SECRET) as server:
        desk = _alpaca(server, storage)
        by_hand = plan_orders(WEEK, "acct_1", HELD, "SPY", 0, tag="by-hand")[0]
        desk.broker.submit(by_hand)
        orders = plan_orders(WEEK, "acct_1", HELD, "TLT", 5)
        plan = OrdersPlanned(account_id="acct_1", broker="alpaca", orders=orders, positions_before=HELD)
        _execute(storage, desk, plan, "r1")

        server.end_order(by_hand.client_order_id, "canceled")  # the user took the hand sell back
        server.fill_immediately = True
        again = _execute(storage, desk, plan, "r2")

        assert again.get(ABANDONED) == [] and again.get(UNFINISHED) == []
        sent = [OrderSubmitted.from_event(e) for e in storage.events.read_stream(STREAM) if e.type == "OrderSubmitted"]
        assert orders[0].client_order_id in {s.order.client_order_id for s in sent}
        assert _short(server) == []


def _refused_resize(storage: Storage) -> Order:
    """A resize (sell 4 of the 10 SPY) planned at Wednesday's checkpoint and refused by Alpaca."""
    [resize] = plan_orders(WEEK, "acct_1", HELD, "SPY", 6)
    plan = OrdersPlanned(account_id="acct_1", broker="alpaca", orders=[resize], positions_before=HELD)
    refused = OrderRejected(order=resize, broker="alpaca", reason="pattern day trading protection (HTTP 403)")
    storage.events.append(
        [
            NewEvent.of(plan, stream="run:c0", week_id=WEEK, run_id="c0", account_id="acct_1"),
            NewEvent.of(refused, stream=STREAM, week_id=WEEK, run_id="c0", account_id="acct_1"),
        ]
    )
    return resize


def _resume(storage: Storage, desk: Desk) -> list[str]:
    resumed = resume_unfinished(
        storage.events, {"acct_1": desk}, CONFIG, QUOTES, stream=STREAM, week_id=WEEK, run_id="c1"
    )
    return asyncio.run(resumed).notes


def test_a_checkpoint_gives_up_a_refused_resize_once_the_account_is_flat(storage: Storage) -> None:
    with FakeAlpacaServer(key_id=KEY_ID, secret_key=SECRET, fill_immediately=True) as server:
        desk = _alpaca(server, storage)
        resize = _refused_resize(storage)
        server.set_position("SPY", 0, 100)  # the user sold the 10 SPY by hand

        [note] = _resume(storage, desk)

        assert _short(server) == [] and server.orders == {}  # before: sent, a short of 4
        assert resize.client_order_id in note and NOT_VALID in note


def test_a_checkpoint_sends_a_refused_resize_again_while_its_position_is_there(storage: Storage) -> None:
    with FakeAlpacaServer(key_id=KEY_ID, secret_key=SECRET, fill_immediately=True) as server:
        desk = _alpaca(server, storage)
        resize = _refused_resize(storage)

        assert _resume(storage, desk) == []

        sent = server.orders[resize.client_order_id]
        assert (sent["side"], sent["qty"], sent["status"], sent["position_intent"]) == (
            "sell",
            "4",
            "filled",
            "sell_to_close",
        )


def test_a_resize_is_valid_only_on_its_plans_side_and_never_to_or_past_zero() -> None:
    [down] = plan_orders(WEEK, "acct_1", HELD, "SPY", 6)  # sell 4 of a long
    [up] = plan_orders(WEEK, "acct_1", HELD, "SPY", 14)  # buy 4 more
    short = {"SPY": Position(symbol="SPY", qty=-10, avg_price=100)}
    [cover] = plan_orders(WEEK, "acct_1", short, "SPY", -6)  # buy 4 back
    [more] = plan_orders(WEEK, "acct_1", short, "SPY", -14)  # sell 4 more short
    at = {n: {"SPY": Position(symbol="SPY", qty=n, avg_price=100)} if n else {} for n in (10, 5, 4, 3, 0, -4, -10)}
    assert [still_valid(down, at[n], 1) for n in (10, 5, 4, 3, 0, -10)] == [True, True, False, False, False, False]
    assert [still_valid(up, at[n], 1) for n in (10, 3, 0, -10)] == [True, True, False, False]
    assert [still_valid(cover, at[n], -1) for n in (-10, -4, 0, 10)] == [True, False, False, False]
    assert [still_valid(more, at[n], -1) for n in (-10, -4, 0, 10)] == [True, True, False, False]
    assert not still_valid(down, at[10], None)  # its plan's side not known: not sent again
