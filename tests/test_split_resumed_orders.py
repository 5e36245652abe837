"""An order left undone (an opening leg held back for its close, or one the broker refused) is sent again by the next
run or checkpoint in the shares it was sized in: across a split recorded since, a 1-for-4 reverse split made a short
sized at $9,600 one of $38,400, past the risk gate's approval (found reviewing the change). Such an order is abandoned
on record instead; the next plan sizes it again. Through the real alpaca-py client against the loopback fake."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import pytest

from llmtrade.domain.events import NewEvent
from llmtrade.domain.market import SplitDetected
from llmtrade.domain.streams import SPLITS
from llmtrade.domain.trading import PlanAbandoned
from llmtrade.storage.bootstrap import Storage
from llmtrade.workflows.execution import abandonment_note
from llmtrade.workflows.legs import held_back_notes, resume_unfinished
from tests.fakes.alpaca_server import FakeAlpacaServer
from tests.support import FIXED_NOW
from tests.test_paper_broker import Clock
from tests.test_side_changes import ACCOUNT, CONFIG, STREAM, WEEK, flipping, run, sent_to_broker
from tests.test_side_changes import server as server  # the fixture


@pytest.fixture
def clock() -> Clock:
    """The storage's clock, moved by hand: the split is recorded a day after the leg was held back."""
    return Clock(FIXED_NOW)


def test_a_held_back_leg_sized_before_a_split_is_abandoned_not_sent_after_it(
    storage: Storage, server: FakeAlpacaServer, clock: Clock
) -> None:
    _, desk, plan = flipping(storage, server)
    close, opening = plan.orders
    run(storage, desk, plan)  # the close waits for the open; the short (16 at 600) is held back for it
    assert sent_to_broker(server) == [close.client_order_id]
    server.fill_open_orders()  # the close fills: flat
    split = SplitDetected(
        symbol="SPY",
        ex_day=date(2026, 1, 8),
        ratio=0.25,
        looks_like="1-for-4",
        price=2400.0,
        provider="alpaca",
        evidence="test",
    )
    clock.set(FIXED_NOW + timedelta(days=1))
    storage.events.append([NewEvent.of(split, stream=SPLITS, run_id="c")])  # recorded after the leg was sized
    server.set_price("SPY", 2400)
    notes = asyncio.run(
        resume_unfinished(
            storage.events, {ACCOUNT.id: desk}, CONFIG, {"SPY": 2400.0}, stream=STREAM, week_id=WEEK, run_id="c"
        )
    ).notes
    assert sent_to_broker(server) == [close.client_order_id]  # the short is not sent
    [gone] = [PlanAbandoned.from_event(e) for e in storage.events.read_stream(STREAM) if e.type == "PlanAbandoned"]
    assert notes == [abandonment_note(gone)]  # and said
    assert gone.client_order_ids == [opening.client_order_id] and "split" in gone.reason
    assert held_back_notes(storage.events, STREAM) == []
