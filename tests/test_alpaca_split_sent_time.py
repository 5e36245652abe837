"""An order's size read against the splits recorded since it was sent (brokers/overfills.py `scales`), where the time
it was sent is not the time read: a checkpoint's closing, which reads the week's recorded orders, and an order a rerun
recorded late (workflows/plan_recovery.py `recover_orders`), found at Alpaca after a crash before its record. Alpaca
scales only an order open at a split (alpacahq/alpaca-py #469). The real alpaca-py client against the loopback fake,
a store on a stepping clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest

from llmtrade.brokers.alpaca import AlpacaBroker
from llmtrade.brokers.fills import record_new_fills
from llmtrade.clock import SteppingClock
from llmtrade.domain.events import NewEvent
from llmtrade.domain.trading import OrderFilled, OrderOverfilled, OrdersPlanned
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import Storage, open_storage
from llmtrade.workflows.checkpoint_close import Left, close_unjudged
from llmtrade.workflows.checkpoint_slot import Slot
from llmtrade.workflows.plan_recovery import recover_orders
from tests.fakes.alpaca_server import FakeAlpacaServer
from tests.test_alpaca_order_ends import CID, KEY, ORDER, SECRET, STREAM, WEEK
from tests.test_alpaca_split_side_change import _split

# Tuesday 2026-01-06, the ex-day of `_split`'s split: before the open, then in the session, then the deadline.
TUESDAY_8AM, TUESDAY_10AM = datetime(2026, 1, 6, 13, 0, tzinfo=UTC), datetime(2026, 1, 6, 15, 0, tzinfo=UTC)
TUESDAY_11AM = datetime(2026, 1, 6, 16, 0, tzinfo=UTC)
MONDAY_NIGHT, TUESDAY_OPEN = datetime(2026, 1, 6, 1, 0, tzinfo=UTC), datetime(2026, 1, 6, 14, 35, tzinfo=UTC)
SLOT = Slot(day=date(2026, 1, 6), time="12:00")
DEADLINE = datetime(2026, 1, 6, 19, 0, tzinfo=UTC)  # 14:00 New York
LEFT = Left(["acct_1"], "interrupted: its run r1 (started 12:00) ended without a word (killed?)", "r1")


@pytest.fixture
def stepped(database_url: str) -> Iterator[tuple[Storage, SteppingClock]]:
    """A store whose events are stamped at the instant the test sets: a split recorded before an order was sent."""
    clock = SteppingClock(TUESDAY_8AM)
    with open_storage(Settings(DATABASE_URL=database_url), clock) as opened:
        yield opened, clock


def _broker(server: FakeAlpacaServer) -> AlpacaBroker:
    return AlpacaBroker("acct_1", KEY, SECRET, url_override=server.base_url, timeout_seconds=2.0)


def _plan() -> OrdersPlanned:
    return OrdersPlanned(account_id="acct_1", broker="alpaca", orders=[ORDER], positions_before={})


def _planned(storage: Storage) -> None:
    plan = _plan()
    stream = SLOT.stream(WEEK, "acct_1")
    storage.events.append([NewEvent.of(plan, stream=stream, week_id=WEEK, run_id="r1", account_id="acct_1")])


def test_a_checkpoints_closing_reads_an_order_sent_after_a_split_was_recorded_in_the_shares_it_was_sent_in(
    stepped: tuple[Storage, SteppingClock],
) -> None:
    """A 1-for-5 of Tuesday recorded at 08:00; the checkpoint's buy of 10, sent at 10:00 in the new shares (Alpaca
    never scaled it), was recorded by a rerun at 11:00 (its run died before its record), 2 filled by then. The
    closing read the 2 against the 10 times the split's 1/5 (every split recorded in the order's week, sent before it
    or not) and said the order as if filled whole: nothing of the 8 never bought."""
    storage, clock = stepped
    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as server:
        server.set_price("SPY", 2500.0)
        _split(storage, 0.2, "1-for-5")  # recorded at 08:00
        _planned(storage)
        clock.set(TUESDAY_10AM)
        server.set_time(TUESDAY_10AM)
        broker = _broker(server)
        broker.submit(ORDER)  # accepted by Alpaca; the run died before its OrderSubmitted
        server.mark_routed(CID)
        server.partially_fill(CID, 2, 2500.0)
        clock.set(TUESDAY_11AM)
        recover_orders(storage.events, broker, _plan(), stream=STREAM, week_id=WEEK, run_id="r2")
        clock.set(DEADLINE)

        line = close_unjudged(storage.events, SLOT, WEEK, DEADLINE, LEFT, lambda _account: broker)

    assert "orders at the broker (buy 10 SPY accepted (2 filled))" in line, line


def test_an_order_a_rerun_recorded_after_a_split_is_read_as_sent_when_alpaca_took_it(
    stepped: tuple[Storage, SteppingClock],
) -> None:
    """A buy of 10 Alpaca took on Monday evening; the run died before its OrderSubmitted. Alpaca scaled it to 40 at
    Tuesday's 4-for-1 (recorded at 08:00) and filled the 40 at the open. The rerun at 10:00 recorded the order from
    Alpaca's answer, stamped 10:00: read as sent after the split was recorded (sized in the new shares), its 40 were
    booked as 30 more shares than the plan meant, an overfill alerted and the user told to trade 30 back."""
    storage, clock = stepped
    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as server:
        server.set_price("SPY", 500.0)
        server.set_time(MONDAY_NIGHT)
        broker = _broker(server)
        broker.submit(ORDER)  # accepted by Alpaca; the run died before its OrderSubmitted
        server.split("SPY", 4.0)
        _split(storage, 4.0, "4-for-1")  # recorded at 08:00
        server.set_time(TUESDAY_OPEN)
        assert server.fill_open_orders() == [CID]
        assert server.orders[CID]["filled_qty"] == "40"
        clock.set(TUESDAY_10AM)

        recover_orders(storage.events, broker, _plan(), stream=STREAM, week_id=WEEK, run_id="r2")
        record_new_fills(storage.events, broker, week_id=WEEK, run_id="r2")

    assert storage.events.read(type=OrderOverfilled.event_type()) == []
    [filled] = storage.events.read(type=OrderFilled.event_type())
    assert OrderFilled.from_event(filled).fill.qty == 40


def test_a_checkpoints_closing_reads_an_order_it_recorded_late_as_sent_when_alpaca_took_it(
    stepped: tuple[Storage, SteppingClock],
) -> None:
    """The checkpoint's buy of 10, taken by Alpaca on Monday evening (its run died before the record), was scaled to 2
    at Tuesday's 1-for-5 (recorded at 08:00) and filled 1. The closing recorded it from Alpaca's answer at its own
    time, after the split, and said "(1 filled)" of the 10, not the 1 of the 2 it was at Alpaca."""
    storage, clock = stepped
    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as server:
        server.set_price("SPY", 500.0)
        server.set_time(MONDAY_NIGHT)
        broker = _broker(server)
        broker.submit(ORDER)  # accepted by Alpaca; the run died before its OrderSubmitted
        _planned(storage)
        server.split("SPY", 0.2)
        _split(storage, 0.2, "1-for-5")  # recorded at 08:00
        server.set_time(TUESDAY_OPEN)
        server.mark_routed(CID)
        server.partially_fill(CID, 1, 2500.0)
        clock.set(DEADLINE)

        line = close_unjudged(storage.events, SLOT, WEEK, DEADLINE, LEFT, lambda _account: broker)

    assert "orders at the broker (buy 10 SPY accepted (1 of 2 filled, 10 sent before the 1-for-5 split))" in line, line
