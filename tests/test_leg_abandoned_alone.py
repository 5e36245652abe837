"""A side change's opening leg abandoned because its close ended part filled is given up alone: the plan's other
orders are still sent. execute_plans skipped any plan sharing an id with an earlier abandonment, so a plan [close SPY,
open SPY short, buy TLT] whose run died after the leg's abandonment and before TLT was sent never sent TLT, and the
rerun said "plan abandoned ... Its orders will not be sent" though the close had gone. Through the real alpaca-py
client against the loopback fake."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from llmtrade.brokers.alpaca import AlpacaBroker
from llmtrade.brokers.order_plan import plan_orders
from llmtrade.domain.trading import Order, OrdersPlanned, PlanAbandoned
from llmtrade.storage.bootstrap import Storage
from llmtrade.workflows.desk import Desk
from llmtrade.workflows.execution import abandonment_note
from tests.fakes.alpaca_server import FakeAlpacaServer
from tests.test_side_changes import ACCOUNT, KEY_ID, SECRET, WEEK, flipping, run, sent_to_broker, server  # noqa: F401


class _Died(Exception):
    """The process dies before the broker hears of the order."""


class _DiesBeforeTLT(AlpacaBroker):
    def submit(self, order: Order):  # type: ignore[no-untyped-def]
        if order.symbol == "TLT":
            raise _Died(order.client_order_id)
        return super().submit(order)


def test_a_rerun_sends_the_plans_other_orders_after_a_leg_was_abandoned(
    storage: Storage,
    server: FakeAlpacaServer,  # noqa: F811
) -> None:
    _, desk, flip = flipping(storage, server)
    close, opening = flip.orders
    [tlt] = plan_orders(WEEK, ACCOUNT.id, {}, "TLT", 5)
    plan = OrdersPlanned(
        account_id=ACCOUNT.id, broker=flip.broker, orders=[close, opening, tlt], positions_before=flip.positions_before
    )
    server.set_price("TLT", 90.0)
    dying = Desk(ACCOUNT, _DiesBeforeTLT(ACCOUNT.id, KEY_ID, SECRET, url_override=server.base_url, timeout_seconds=2))
    server.set_time(datetime(2026, 1, 7, 12, 0, tzinfo=UTC))
    with pytest.raises(_Died):
        run(storage, dying, plan)  # the close queued, the leg held back, then the process died
    server.set_time(datetime(2026, 1, 7, 14, 31, tzinfo=UTC))
    server.partially_fill(close.client_order_id, 4, 600.0)
    server.set_time(datetime(2026, 1, 7, 21, 0, tzinfo=UTC))
    server.end_order(close.client_order_id, "expired")
    with pytest.raises(_Died):
        run(storage, dying, plan)  # the leg abandoned (its close expired), then the process died again
    [gone] = [PlanAbandoned.from_event(e) for e in storage.events.read(type=PlanAbandoned.event_type())]
    assert gone.client_order_ids == [opening.client_order_id]

    done = run(storage, desk, plan)  # the rerun

    assert sent_to_broker(server) == [close.client_order_id, tlt.client_order_id]  # TLT once; the leg never
    assert [a.client_order_ids for a in done.abandoned] == [[opening.client_order_id]]
    [note] = [abandonment_note(a) for a in done.abandoned]
    assert opening.client_order_id in note and "other orders are sent" in note and "will not be sent" not in note
    run(storage, desk, plan)  # and again: nothing sent twice
    assert sent_to_broker(server) == [close.client_order_id, tlt.client_order_id]
