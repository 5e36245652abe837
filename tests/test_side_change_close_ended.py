"""A side change whose close the broker ended before it filled whole (a DAY order partly filled, expired at the
close): the opening leg waited for a FILLED that never comes, its note promising a rerun would send it, for good
(trial A, p3). Now it is abandoned (the account is not flat), said, and never sent. And a side change in market
hours against an Alpaca that fills a moment after the POST, as the real one does. Through the real alpaca-py client."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from llmtrade.brokers.fills import record_new_fills
from llmtrade.domain.checkpoints import AccountValued
from llmtrade.domain.trading import OrderFilled, OrderStatus, PlanAbandoned
from llmtrade.storage.bootstrap import Storage
from llmtrade.workflows.legs import held_back_notes, resume_unfinished
from tests.fakes.alpaca_server import FakeAlpacaServer
from tests.test_side_changes import ACCOUNT, CONFIG, STREAM, WEEK, flipping, run, sent_to_broker, server  # noqa: F401


def test_a_close_that_expires_part_filled_abandons_its_opening_leg(storage: Storage, server: FakeAlpacaServer) -> None:  # noqa: F811
    broker, desk, plan = flipping(storage, server)
    close, opening = plan.orders
    server.set_time(datetime(2026, 1, 7, 12, 0, tzinfo=UTC))
    run(storage, desk, plan)  # the market is closed: the close is queued, the leg held back
    assert sent_to_broker(server) == [close.client_order_id]
    server.set_time(datetime(2026, 1, 7, 14, 31, tzinfo=UTC))
    server.partially_fill(close.client_order_id, 4, 600.0)
    server.set_time(datetime(2026, 1, 7, 21, 0, tzinfo=UTC))
    server.end_order(close.client_order_id, "expired")  # a DAY order: the rest unfilled at the close

    notes = asyncio.run(  # the next checkpoint resumes what was left undone
        resume_unfinished(
            storage.events, {ACCOUNT.id: desk}, CONFIG, {"SPY": 600.0}, stream=STREAM, week_id=WEEK, run_id="c"
        )
    ).notes

    assert sent_to_broker(server) == [close.client_order_id]  # the leg never went: 6 SPY are still held
    [gone] = [PlanAbandoned.from_event(e) for e in storage.events.read_stream(STREAM) if e.type == "PlanAbandoned"]
    assert gone.client_order_ids == [opening.client_order_id]
    assert "ended at alpaca before filling whole (4 shares filled" in gone.reason and "expired" in gone.reason
    assert gone.actual_positions == {"SPY": 6}
    assert any("abandoned" in n and opening.client_order_id in n for n in notes), notes
    assert held_back_notes(storage.events, STREAM) == []  # no longer promised to a rerun

    again = run(storage, desk, plan)  # a rerun of the week says it again and sends nothing
    assert [a.client_order_ids for a in again.abandoned] == [[opening.client_order_id]]
    assert sent_to_broker(server) == [close.client_order_id]

    record_new_fills(storage.events, broker, week_id=WEEK, run_id="c2")  # what did fill is the books'
    [fill] = [OrderFilled.from_event(e).fill for e in storage.events.read(type=OrderFilled.event_type())]
    assert (fill.client_order_id, fill.qty) == (close.client_order_id, 4)


def test_a_side_change_in_market_hours_when_alpaca_fills_a_moment_after_the_post(
    storage: Storage,
    server: FakeAlpacaServer,  # noqa: F811
) -> None:
    """Alpaca answers a market order "pending_new" and fills it a moment later, here after two more reads (an audit:
    the one lookup right after the POST found the close unfilled and held the leg back to the next checkpoint, hours
    later). The broker looks a routed order up again for a few seconds (alpaca_client `routed`), so the leg goes in the
    same run, and the account is valued after the close's fill before the leg is sent, so the breaker sees the close:
    that valuation was made only when the POST's answer said FILLED, which Alpaca's never does."""
    broker, desk, plan = flipping(storage, server)
    close, opening = plan.orders
    server.fill_after_post = True
    server.routed_reads = 2

    done = run(storage, desk, plan)

    assert done.unfinished == [] and done.abandoned == []
    assert sent_to_broker(server) == [close.client_order_id, opening.client_order_id]
    recorded = storage.events.read_stream(STREAM)
    submitted = [e.payload["result"]["status"] for e in recorded if e.type == "OrderSubmitted"]
    assert submitted == [OrderStatus.FILLED.value, OrderStatus.FILLED.value]  # as Alpaca had them once filled
    assert broker.account({}).positions["SPY"].qty == -16
    valued = [e for e in storage.events.read(type=AccountValued.event_type()) if e.payload["occasion"] == "after fill"]
    leg = next(e for e in recorded if e.type == "OrderSubmitted" and e.payload["order"]["intent"] == "open")
    # After the close filled and before the leg went; then after the leg's fill, which its answer now holds too.
    assert [e.id < leg.id for e in valued] == [True, False]
    filled = [OrderFilled.from_event(e).fill.client_order_id for e in storage.events.read(type="OrderFilled")]
    assert filled == [close.client_order_id, opening.client_order_id]
    close_filled = next(e for e in storage.events.read(type="OrderFilled"))
    assert close_filled.id < leg.id  # the close's fill reached the audit log before the leg was sent
