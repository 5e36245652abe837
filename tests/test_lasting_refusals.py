"""An order Alpaca refuses for a reason that sending it again this week does not change (the asset not tradable, not to
be sold short, an account not allowed to short) is given up once, in Alpaca's words, and never sent again that week; a
refusal that may pass (buying power) or whose words are not known is still sent again, as before.

Found by an audit: such an order was resent at every later checkpoint and at the week's rerun until the week ended,
each time another refusal, another degraded run and another alert. Alpaca through the real alpaca-py client against the
loopback fake, which refuses as Alpaca does (status, and a body {"code": ..., "message": ...})."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import date

import pytest

from llmtrade.brokers.alpaca import AlpacaBroker
from llmtrade.brokers.order_plan import plan_orders
from llmtrade.domain.streams import ORDERS, week_stream
from llmtrade.domain.trading import (
    LegHeldBack,
    Order,
    OrderRejected,
    OrdersPlanned,
    OrderSubmitted,
    PlanAbandoned,
    Position,
)
from llmtrade.pipeline.context import PipelineContext
from llmtrade.storage.bootstrap import Storage
from llmtrade.workflows.desk import Desk
from llmtrade.workflows.execution import ABANDONED, UNFINISHED, abandonment_note, execute_plans
from llmtrade.workflows.execution_stage import ExecutionStage
from llmtrade.workflows.legs import resume_unfinished
from llmtrade.workflows.trading_stages import LAST_CLOSES, PLANS, PRICES
from tests.fakes.alpaca_server import FakeAlpacaServer
from tests.test_alpaca_broker import KEY_ID, SECRET
from tests.test_reconciliation import ACCOUNT, CONFIG
from tests.test_side_changes import flip, held_by_llmtrade
from tests.test_side_changes import run as flip_run

WEEK = date(2026, 1, 7)
STREAM = week_stream(WEEK, ORDERS)
QUOTES = {"XYZ": 50.0}


def _desk(server: FakeAlpacaServer) -> Desk:
    server.set_price("XYZ", QUOTES["XYZ"])
    server.add_asset("XYZ", shortable=True)
    return Desk(ACCOUNT, AlpacaBroker("acct_1", KEY_ID, SECRET, url_override=server.base_url, timeout_seconds=2.0))


def _short_plan() -> tuple[OrdersPlanned, Order]:
    """The week's plan for acct_1, flat: sell 20 XYZ short."""
    [order] = plan_orders(WEEK, "acct_1", {}, "XYZ", -20)
    return OrdersPlanned(account_id="acct_1", broker="alpaca", orders=[order], positions_before={}), order


def _weekly(storage: Storage, desk: Desk, plan: OrdersPlanned, run_id: str) -> PipelineContext:
    """The week's execution stage (run-weekly, or its rerun)."""
    context = PipelineContext(run_id=run_id, week_id=WEEK).with_values(
        (PLANS, [plan]), (PRICES, QUOTES), (LAST_CLOSES, {})
    )
    return asyncio.run(ExecutionStage([desk], storage.events, WEEK, CONFIG, dry_run=False).run(context))


def _checkpoint(storage: Storage, desk: Desk, run_id: str) -> list[str]:
    """A later checkpoint sending the week's orders left undone again: what it says (a degraded run when any)."""
    resumed = resume_unfinished(
        storage.events, {"acct_1": desk}, CONFIG, QUOTES, stream=STREAM, week_id=WEEK, run_id=run_id
    )
    return asyncio.run(resumed).notes


def _types(storage: Storage) -> list[str]:
    return [e.type for e in storage.events.read_stream(STREAM)]


def _not_shortable(server: FakeAlpacaServer) -> None:
    server.add_asset("XYZ", shortable=False)  # 422 {"code": 42210000, "message": "asset \"XYZ\" cannot be sold short"}


def _not_tradable(server: FakeAlpacaServer) -> None:
    server.add_asset("XYZ", shortable=True, tradable=False)  # 422 42210000 "asset XYZ is not tradable"


def _shorting_disabled(server: FakeAlpacaServer) -> None:
    server.set_account_flags(shorting_enabled=False)  # 403 {"code": 40310000, "message": "account is not allowed ..."}


@pytest.mark.parametrize(
    ("refuse", "words"),
    [
        (_not_shortable, "cannot be sold short"),
        (_not_tradable, "is not tradable"),
        (_shorting_disabled, "account is not allowed to short"),
    ],
)
def test_a_refusal_for_good_is_said_once_and_never_sent_again_that_week(
    storage: Storage, refuse: Callable[[FakeAlpacaServer], None], words: str
) -> None:
    with FakeAlpacaServer(key_id=KEY_ID, secret_key=SECRET, fill_immediately=True) as server:
        desk = _desk(server)
        refuse(server)
        plan, order = _short_plan()

        first = _weekly(storage, desk, plan, "r1")

        [gone] = first.get(ABANDONED)
        assert first.get(UNFINISHED) == []  # not "a rerun or the next checkpoint retries it"
        assert (gone.client_order_ids, gone.whole_plan, gone.account_id) == ([order.client_order_id], False, "acct_1")
        said = abandonment_note(gone)
        for part in ("acct_1", order.client_order_id, "XYZ", words, "not sent again this week"):
            assert part in said
        [refused] = [
            OrderRejected.from_event(e) for e in storage.events.read_stream(STREAM) if e.type == "OrderRejected"
        ]
        assert refused.lasting and words in refused.reason

        # Two later checkpoints and the week's rerun: nothing sent, nothing said, nothing more recorded.
        assert _checkpoint(storage, desk, "c1") == [] and _checkpoint(storage, desk, "c2") == []
        again = _weekly(storage, desk, plan, "r2")

        assert server.count("POST", "/v2/orders") == 1  # before: once more at each checkpoint and at the rerun
        assert again.get(ABANDONED) == [] and again.get(UNFINISHED) == []
        assert _types(storage).count(OrderRejected.event_type()) == 1
        assert _types(storage).count(PlanAbandoned.event_type()) == 1
        assert server.orders == {}


def test_a_refusal_for_good_at_a_checkpoint_is_not_sent_at_the_next(storage: Storage) -> None:
    """A checkpoint's own plan (execute_plans, as checkpoint_trade.py sends it) refused for good: the next checkpoint
    does not send it."""
    with FakeAlpacaServer(key_id=KEY_ID, secret_key=SECRET, fill_immediately=True) as server:
        desk = _desk(server)
        _not_shortable(server)
        plan, order = _short_plan()
        sent = asyncio.run(
            execute_plans(
                storage.events, {"acct_1": desk}, [plan], CONFIG, QUOTES, stream=STREAM, week_id=WEEK, run_id="c1"
            )
        )
        [gone] = sent.abandoned
        assert sent.unfinished == [] and gone.client_order_ids == [order.client_order_id]

        assert _checkpoint(storage, desk, "c2") == []
        assert server.count("POST", "/v2/orders") == 1
        assert _types(storage).count(PlanAbandoned.event_type()) == 1


def test_a_refusal_that_may_pass_is_still_sent_again(storage: Storage) -> None:
    with FakeAlpacaServer(key_id=KEY_ID, secret_key=SECRET, fill_immediately=True) as server:
        desk = _desk(server)
        server.refuse_next_order(403, 40310000, "insufficient buying power")
        plan, order = _short_plan()

        first = _weekly(storage, desk, plan, "r1")
        assert first.get(ABANDONED) == [] and "insufficient buying power" in first.get(UNFINISHED)[0]

        assert _checkpoint(storage, desk, "c1") == []  # sent again, and taken now
        assert server.count("POST", "/v2/orders") == 2
        assert order.client_order_id in server.orders
        assert PlanAbandoned.event_type() not in _types(storage)


def test_a_refusal_in_words_not_known_is_still_sent_again(storage: Storage) -> None:
    with FakeAlpacaServer(key_id=KEY_ID, secret_key=SECRET, fill_immediately=True) as server:
        desk = _desk(server)
        server.refuse_next_order(422, 42210000, "order rejected by a rule llmtrade does not know", times=2)
        plan, order = _short_plan()

        first = _weekly(storage, desk, plan, "r1")
        assert first.get(ABANDONED) == [] and "does not know" in first.get(UNFINISHED)[0]
        [note] = _checkpoint(storage, desk, "c1")  # refused again: said again, still to be sent
        assert "retries it" in note
        assert _checkpoint(storage, desk, "c2") == []  # taken at last
        again = _weekly(storage, desk, plan, "r2")

        assert server.count("POST", "/v2/orders") == 3
        assert again.get(UNFINISHED) == [] and again.get(ABANDONED) == []
        sent = [OrderSubmitted.from_event(e) for e in storage.events.read_stream(STREAM) if e.type == "OrderSubmitted"]
        assert [s.order.client_order_id for s in sent] == [order.client_order_id]
        assert PlanAbandoned.event_type() not in _types(storage)


def test_a_side_changes_leg_is_given_up_with_its_close_refused_for_good(storage: Storage) -> None:
    """The close of a flip refused for good (Alpaca reads the sell as a short of an asset that cannot be): its opening
    leg, which would wait for a fill that never comes, is given up with it in the same run, never held back for a later
    one to give up."""
    with FakeAlpacaServer(key_id=KEY_ID, secret_key=SECRET, fill_immediately=True) as server:
        server.set_price("SPY", 600)
        server.add_asset("SPY", shortable=True)
        server.set_position("SPY", 10, 590)
        server.refuse_next_order(422, 42210000, 'asset "SPY" cannot be sold short')
        broker = AlpacaBroker(ACCOUNT.id, KEY_ID, SECRET, url_override=server.base_url, timeout_seconds=2)
        held_by_llmtrade(storage, ACCOUNT.id)
        plan = flip(broker)
        close, opening = plan.orders

        first = flip_run(storage, Desk(ACCOUNT, broker), plan)

        assert [a.client_order_ids for a in first.abandoned] == [[close.client_order_id], [opening.client_order_id]]
        assert "cannot be sold short" in abandonment_note(first.abandoned[0]) and first.unfinished == []
        assert LegHeldBack.event_type() not in _types(storage)
        assert _checkpoint(storage, Desk(ACCOUNT, broker), "c1") == []
        assert server.count("POST", "/v2/orders") == 1 and server.orders == {}


def test_a_close_refused_as_not_tradable_is_sent_again(storage: Storage) -> None:
    """A refusal as not tradable lasts only for an opening order: a close refused so (a halted asset, which may trade
    again later in the week) is sent again at the next checkpoint, never given up with the position left held."""
    with FakeAlpacaServer(key_id=KEY_ID, secret_key=SECRET, fill_immediately=True) as server:
        server.set_price("SPY", 600)
        server.add_asset("SPY", shortable=True, tradable=False)
        server.set_position("SPY", 10, 590)
        broker = AlpacaBroker(ACCOUNT.id, KEY_ID, SECRET, url_override=server.base_url, timeout_seconds=2)
        held_by_llmtrade(storage, ACCOUNT.id)
        held = {"SPY": Position(symbol="SPY", qty=10, avg_price=590)}
        [close] = plan_orders(WEEK, ACCOUNT.id, held, "SPY", 0)
        plan = OrdersPlanned(account_id=ACCOUNT.id, broker=broker.name, orders=[close], positions_before=held)

        first = flip_run(storage, Desk(ACCOUNT, broker), plan)
        assert first.abandoned == [] and "is not tradable" in first.unfinished[0]
        [refused] = [
            OrderRejected.from_event(e) for e in storage.events.read_stream(STREAM) if e.type == "OrderRejected"
        ]
        assert not refused.lasting

        server.add_asset("SPY", shortable=True, tradable=True)  # the halt lifted
        assert _checkpoint(storage, Desk(ACCOUNT, broker), "c1") == []
        assert server.count("POST", "/v2/orders") == 2
        assert close.client_order_id in server.orders
        assert PlanAbandoned.event_type() not in _types(storage)
