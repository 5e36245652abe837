"""A paper fill is never stamped before its order. On the machine's clock the paper broker stamped an order filled at
once in session when its quote was in hand, then recorded the order (PaperOrderAccepted, stamped by the store at its
own read of the clock): the fill came out microseconds before the record of the order it filled, and the broker's
own `submitted_at` for it. Through the real alpaca-py client against the fake Alpaca, on a moving clock and a real
PostgreSQL whose records are stamped by that clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from llmtrade.domain.market import Quote
from llmtrade.domain.trading import Side
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import Storage, open_storage
from tests.fakes.alpaca_server import FakeAlpacaServer
from tests.fakes.running_clock import RunningClock
from tests.test_paper_broker import _order
from tests.test_paper_fill_after_quote import CALENDAR, NOON, _paper


@pytest.fixture
def server() -> Iterator[FakeAlpacaServer]:
    with FakeAlpacaServer(key_id="k", secret_key="s") as fake:
        yield fake


@pytest.fixture
def clock() -> RunningClock:
    return RunningClock(NOON)


@pytest.fixture
def moving(database_url: str, clock: RunningClock) -> Iterator[Storage]:
    """The test's database, its records stamped by the moving clock (a live command's store reads Clock.real)."""
    with open_storage(Settings(DATABASE_URL=database_url), clock) as opened:
        yield opened


def _stamps(storage: Storage) -> tuple[datetime, datetime]:
    """When the order was recorded (its PaperOrderAccepted), and the fill the broker pinned for it."""
    [accepted] = storage.events.read(type="PaperOrderAccepted")
    [filled] = storage.events.read(type="OrderFilled")
    return accepted.occurred_at, datetime.fromisoformat(filled.payload["fill"]["filled_at"])


@pytest.mark.parametrize("_", range(3))  # a few tries: the two clock reads are microseconds apart
def test_a_paper_order_filled_at_once_in_session_is_filled_no_earlier_than_it_was_recorded(
    moving: Storage, server: FakeAlpacaServer, clock: RunningClock, _: int
) -> None:
    broker = _paper(moving, server, clock)
    broker.submit(_order("SPY", Side.BUY, 10))
    recorded, pinned = _stamps(moving)
    [fill] = broker.fills()
    assert pinned >= recorded, (pinned, recorded)  # before: the fill microseconds before its order's record
    assert fill.filled_at == pinned
    assert broker.open_orders() == []
    assert fill.filled_at <= CALENDAR.session_close(NOON.date())


def test_a_settled_order_is_filled_no_earlier_than_it_was_recorded(
    moving: Storage, server: FakeAlpacaServer, clock: RunningClock
) -> None:
    # `settle` (a position whose prices ended, closed at its last price) stamped its fill at the clock read before the
    # order was recorded, as an order filled at once in session was.
    broker = _paper(moving, server, clock)
    quote = Quote(symbol="SPY", price=600.0, as_of=NOON - timedelta(days=1), provider="csv", kind="close")
    broker.settle(_order("SPY", Side.BUY, 10), quote)
    recorded, pinned = _stamps(moving)
    assert pinned >= recorded, (pinned, recorded)


def test_an_order_whose_price_came_back_after_the_close_is_queued_for_the_next_open(
    moving: Storage, server: FakeAlpacaServer, clock: RunningClock
) -> None:
    # Asked half a second before the close, the quote came back a second later (the fake Alpaca's answer takes one):
    # the order was taken, and recorded, after the close. Filled at the print of before the close, its fill was either
    # stamped at the close, before its order (0.5 s), or at its order, past the close. A market order taken after the
    # close fills at the next open, as any order sent then.
    clock.advance(timedelta(hours=3, minutes=59, seconds=59, microseconds=500_000))  # 15:59:59.5
    broker = _paper(moving, server, clock)
    broker.submit(_order("SPY", Side.BUY, 10))
    [accepted] = moving.events.read(type="PaperOrderAccepted")
    closes = CALENDAR.session_close(NOON.date())
    assert accepted.occurred_at > closes  # the premise: taken after the close
    assert datetime.fromisoformat(accepted.payload["fill_after"]) == CALENDAR.next_open(closes)
    assert moving.events.read(type="OrderFilled") == []  # before: filled at 16:00:00, before its order
    assert [o.client_order_id for o in broker.open_orders()] == [_order("SPY", Side.BUY, 10).client_order_id]
