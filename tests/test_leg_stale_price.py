"""An opening order sent later than it was sized is checked for its price's age again when it is sent
(workflows/send_checks.py `stale_order`): a side change's opening leg held back until its close fills, or an open the
broker refused, goes at the size the risk gate gave it when it was planned. By the checkpoint that sends it, its
symbol's price may be a close more than risk/stale.py STALE_AFTER sessions old (a quiet symbol: no trade of it on the
feed since); it was sent as sized all the same, to fill at whatever the next trade is. It is given up alone now
(PlanAbandoned, whole_plan False, stale_price, naming the close's day and age); within 2 sessions it goes as before.
Through the real alpaca-py client against the loopback fake, on the real embedded PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import date

from llmtrade.domain.market import PriceAge
from llmtrade.domain.trading import PlanAbandoned
from llmtrade.risk.stale import STALE_AFTER, STALE_PRICE
from llmtrade.storage.bootstrap import Storage
from llmtrade.workflows.legs import ResumedOrders, held_back_notes, resume_unfinished, unfinished_orders
from tests.fakes.alpaca_server import FakeAlpacaServer
from tests.test_side_changes import (
    ACCOUNT,
    CONFIG,
    STREAM,
    WEEK,
    flipping,
    run,
    sent_to_broker,
    server,  # noqa: F401 - a fixture
)


def _age(sessions: int) -> dict[str, PriceAge]:
    """SPY's price now is its close of Wednesday 2026-01-07, `sessions` sessions before the last one."""
    last = {2: date(2026, 1, 9), 3: date(2026, 1, 12)}[sessions]
    return {"SPY": PriceAge(symbol="SPY", day=date(2026, 1, 7), session=last, sessions=sessions)}


def _resume(storage: Storage, desk: object, ages: dict[str, PriceAge]) -> ResumedOrders:
    return asyncio.run(
        resume_unfinished(
            storage.events,
            {ACCOUNT.id: desk},  # type: ignore[dict-item]
            CONFIG,
            {"SPY": 600.0},
            stream=STREAM,
            week_id=WEEK,
            run_id="c",
            ages=ages,
        )
    )


def _abandoned(storage: Storage) -> list[PlanAbandoned]:
    return [PlanAbandoned.from_event(e) for e in storage.events.read(type=PlanAbandoned.event_type())]


def test_a_held_back_leg_whose_price_is_a_close_three_sessions_old_when_its_close_fills_is_given_up(
    storage: Storage,
    server: FakeAlpacaServer,  # noqa: F811
) -> None:
    _, desk, plan = flipping(storage, server)
    close, leg = plan.orders
    run(storage, desk, plan)  # the close waits for the open; the leg is held back for it
    assert sent_to_broker(server) == [close.client_order_id]
    server.fill_open_orders()  # the close fills: the account is flat

    notes = _resume(storage, desk, _age(STALE_AFTER + 1)).notes

    assert sent_to_broker(server) == [close.client_order_id]  # the short was not sent
    [gone] = _abandoned(storage)
    assert gone.client_order_ids == [leg.client_order_id] and not gone.whole_plan
    assert gone.reason.startswith(f"{STALE_PRICE}: SPY's price now is its last close, of 2026-01-07, 3 sessions"), gone
    assert f"sell 16 SPY ({leg.client_order_id}), sized when it was planned, was not sent" in gone.reason
    assert any(leg.client_order_id in n and "abandoned" in n for n in notes), notes
    assert held_back_notes(storage.events, STREAM) == [] and unfinished_orders(storage.events, STREAM) == []


def test_a_held_back_leg_whose_price_is_two_sessions_old_goes_as_before(
    storage: Storage,
    server: FakeAlpacaServer,  # noqa: F811
) -> None:
    _, desk, plan = flipping(storage, server)
    close, leg = plan.orders
    run(storage, desk, plan)
    server.fill_open_orders()
    assert _resume(storage, desk, _age(STALE_AFTER)).notes == []
    assert sent_to_broker(server) == [close.client_order_id, leg.client_order_id]
    assert _abandoned(storage) == []


def test_an_open_the_broker_refused_is_not_sent_again_off_a_stale_close(
    storage: Storage,
    server: FakeAlpacaServer,  # noqa: F811
) -> None:
    """The same of an opening order refused by the broker and retried at the next checkpoint (the whole kind: any
    order that opens or adds sent later than it was sized)."""
    _, desk, plan = flipping(storage, server)
    close, leg = plan.orders
    server.fill_immediately = True  # the market is open: the close fills at once
    server.after_next(
        "POST", r"/v2/orders", lambda: server.refuse_next_order(403, 40310000, "insufficient buying power")
    )
    run(storage, desk, plan)  # the close fills, the short is refused (a refusal that may pass)
    assert [o.client_order_id for o in unfinished_orders(storage.events, STREAM)] == [leg.client_order_id]

    _resume(storage, desk, _age(STALE_AFTER + 1))

    assert sent_to_broker(server) == [close.client_order_id]
    [gone] = _abandoned(storage)
    assert gone.client_order_ids == [leg.client_order_id] and gone.reason.startswith(STALE_PRICE)
    assert unfinished_orders(storage.events, STREAM) == []
