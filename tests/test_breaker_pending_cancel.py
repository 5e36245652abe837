"""A halted account's queued opening order the breaker asked Alpaca to cancel may sit in "pending_cancel" for a while
(outside market hours until the next open; some orders until they fill): the order is still open at Alpaca. Every
valuation of the halt (each checkpoint, a rerun's) listed it again as an opening order to cancel: another cancel
request, another DELETE and another "canceled" record of an order not canceled yet (one that then filled kept a
record saying it was canceled). The real alpaca-py client against the loopback fake, which holds its cancels."""

from __future__ import annotations

from collections.abc import Callable

from llmtrade.app.report_weeks import week_report
from llmtrade.brokers.order_ends import ended_notes
from llmtrade.config.loader import load_config
from llmtrade.domain.breaker import BreakerCancelRequested
from llmtrade.domain.streams import fill_stream
from llmtrade.domain.trading import OrderFilled, OrderStatus, QueuedOrderCanceled
from llmtrade.risk.controls import halted, reset_breaker
from llmtrade.storage.bootstrap import Storage
from llmtrade.workflows.desk import Desk
from llmtrade.workflows.valuation import value_account
from tests.fakes.alpaca_server import FakeAlpacaServer
from tests.test_alpaca_order_ends import CID, KEY, SECRET, WEEK, _ends, _queued

CONFIG = load_config(None).config


def _halted_with_a_queued_buy(storage: Storage, server: FakeAlpacaServer) -> Callable[[str], None]:
    """The account down 30% with a buy queued for the open; returns a valuation of it (a checkpoint's, a rerun's)."""
    server.hold_cancels = True
    broker = _queued(storage, server)
    desk = Desk(CONFIG.accounts.accounts[0], broker)

    def look(run_id: str) -> None:
        value_account(
            storage.events,
            desk,
            broker.account({}),
            CONFIG,
            occasion=f"checkpoint {run_id}",
            week_id=WEEK,
            run_id=run_id,
        )

    look("c0")  # valued at its 100,000 first: a first valuation at 70,000 would be where its books begin
    server.set_account(equity=70_000)
    return look


def _deletes(server: FakeAlpacaServer) -> int:
    return server.count("DELETE", f"/v2/orders/{server.orders[CID]['id']}")


def _requests(storage: Storage) -> int:
    return len(storage.events.read(type=BreakerCancelRequested.event_type()))


def test_an_order_pending_cancel_is_not_canceled_again_and_its_end_is_recorded_once(storage: Storage) -> None:
    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as server:
        look = _halted_with_a_queued_buy(storage, server)
        look("c1")  # halts, and asks Alpaca to cancel the buy
        assert halted(storage.events, "acct_1")[0]
        assert server.orders[CID]["status"] == "pending_cancel" and _deletes(server) == 1

        look("c2")  # the next checkpoint, the cancel still pending
        look("c2-rerun")

        assert _deletes(server) == 1 and _requests(storage) == 1  # one cancel asked, once
        assert _ends(storage) == []  # nothing ended yet: nothing recorded as canceled
        server.settle_cancels()  # Alpaca's venue takes the cancel
        look("c3")
        look("c4")

        [ended] = _ends(storage)
        assert (ended.client_order_id, ended.status) == (CID, OrderStatus.CANCELED)
        assert ended.reason.startswith("circuit breaker: "), ended.reason  # the halt's cancel, said by the halt
        [event] = storage.events.read(type=QueuedOrderCanceled.event_type())
        assert (event.stream, event.run_id) == (fill_stream("acct_1", CID), "c3")
        assert ended_notes(storage.events, "c3") == [] and _deletes(server) == 1 and _requests(storage) == 1


def test_an_order_pending_cancel_that_fills_instead_is_recorded_filled_and_never_canceled(storage: Storage) -> None:
    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as server:
        look = _halted_with_a_queued_buy(storage, server)
        look("c1")
        look("c2")
        server.settle_cancels(filled=True)  # the cancel came too late: the buy filled at the open
        look("c3")

        assert _ends(storage) == []  # no record says it was canceled
        [fill] = [OrderFilled.from_event(e).fill for e in storage.events.read(type=OrderFilled.event_type())]
        assert (fill.client_order_id, fill.qty) == (CID, 10)
        assert _deletes(server) == 1


def test_an_order_canceled_by_hand_and_pending_is_not_claimed_by_the_breaker(storage: Storage) -> None:
    """An order the operator canceled by hand, its cancel still pending at Alpaca when the halt came: the breaker asked
    to cancel it again and its end was recorded as the halt's. It is left alone: its end is Alpaca's, and said."""
    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as server:
        look = _halted_with_a_queued_buy(storage, server)
        server.orders[CID]["status"] = "pending_cancel"  # canceled by hand at Alpaca's dashboard, not done yet
        look("c1")  # halts
        assert halted(storage.events, "acct_1")[0]
        assert _deletes(server) == 0 and _requests(storage) == 0
        server.settle_cancels()
        look("c2")

        [ended] = _ends(storage)
        assert ended.reason.startswith("ended at alpaca, unfilled: alpaca status canceled"), ended.reason
        [note] = ended_notes(storage.events, "c2")
        assert CID in note


def test_an_order_pending_cancel_when_the_account_resumes_ends_as_the_breakers_cancel(storage: Storage) -> None:
    """The breaker's cancel was taken (Alpaca answered it pending_cancel: outside market hours, until the open) and the
    account resumed before Alpaca carried it out (reset by hand over the weekend, or its drawdown recovered). The
    resume took the request back as one never made, so the end, when Alpaca made it, was recorded as Alpaca's own
    ("ended at alpaca ...", listed and said as a trade that did not happen), the halt that canceled it named nowhere.
    A cancel the broker took is the halt's, whenever it ends."""
    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as server:
        look = _halted_with_a_queued_buy(storage, server)
        look("c1")  # halts, and asks Alpaca to cancel the buy: pending_cancel until the open
        assert server.orders[CID]["status"] == "pending_cancel"
        reset_breaker(storage.events, "acct_1", starting_equity=100_000, equity=70_000)
        assert not halted(storage.events, "acct_1")[0]
        server.settle_cancels()  # the open: the venue takes the cancel
        look("c2")

        [ended] = _ends(storage)
        assert (ended.client_order_id, ended.status) == (CID, OrderStatus.CANCELED)
        assert ended.reason.startswith("circuit breaker: "), ended.reason
        assert ended_notes(storage.events, "c2") == []
        lines = week_report(WEEK, storage.events.read(week_id=WEEK)).orders
        assert [(o.client_order_id, o.status) for o in lines] == [(CID, "accepted")]
