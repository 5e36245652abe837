"""A halted account's opening order canceled by the breaker is recorded once, whoever else notices it ended.

cancel_opening_orders canceled at the broker and then appended its QueuedOrderCanceled on the breaker stream, a
write of its own: another process's record_order_ends in between found the order CANCELED at Alpaca and recorded an
"ended at alpaca" end too (two records of one cancel, a degraded note saying the trade silently did not happen). Both
now take the order's own write-once stream at the same version: the second writer's append is refused and skipped.
The real alpaca-py client against the loopback fake."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import pytest

from llmtrade.app.report_weeks import week_report
from llmtrade.brokers.alpaca import AlpacaBroker
from llmtrade.brokers.fills import observe, record_new_fills
from llmtrade.brokers.order_ends import ended_notes, record_order_ends
from llmtrade.brokers.protocol import CancelAnswer
from llmtrade.config.loader import load_config
from llmtrade.domain.streams import fill_stream
from llmtrade.domain.trading import OrderStatus, Position, QueuedOrderCanceled
from llmtrade.errors import BrokerUnavailable
from llmtrade.risk.controls import evaluate_breaker, halted, reset_breaker
from llmtrade.risk.halt_cancels import cancel_opening_orders
from llmtrade.storage.bootstrap import Storage
from tests.fakes.alpaca_server import FakeAlpacaServer
from tests.test_alpaca_order_ends import CID, KEY, SECRET, WEEK, _ends, _queued


class _OtherProcessBetween(AlpacaBroker):
    """Alpaca, where another process records the account's order ends right after our cancel is answered."""

    events: object = None

    def cancel(self, client_order_id: str) -> CancelAnswer | None:
        done = super().cancel(client_order_id)
        record_order_ends(self.events, self, observe(self), run_id="other")  # type: ignore[arg-type]
        return done


def test_the_breakers_cancel_and_an_end_noticed_in_between_are_one_record(storage: Storage) -> None:
    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as server:
        _queued(storage, server)  # an opening buy queued for the open
        broker = _OtherProcessBetween("acct_1", KEY, SECRET, url_override=server.base_url, timeout_seconds=2.0)
        broker.events = storage.events
        flat: Mapping[str, Position] = {}

        canceled = cancel_opening_orders(storage.events, broker, flat, "drawdown 30%", week_id=WEEK, run_id="halt")

        assert [c.client_order_id for c in canceled] == [CID] and server.orders[CID]["status"] == "canceled"
        [ended] = _ends(storage)  # one record of the one cancel: the other process's, which came first
        assert (ended.client_order_id, ended.status) == (CID, OrderStatus.CANCELED)
        [event] = storage.events.read(type=QueuedOrderCanceled.event_type())
        assert (event.stream, event.run_id) == (fill_stream("acct_1", CID), "other")


def test_the_breakers_cancel_taken_first_leaves_order_ends_nothing_to_record(storage: Storage) -> None:
    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as server:
        broker = _queued(storage, server)

        cancel_opening_orders(storage.events, broker, {}, "drawdown 30%", week_id=WEEK, run_id="halt")
        assert record_order_ends(storage.events, broker, observe(broker), run_id="later") == []

        [ended] = _ends(storage)
        assert ended.reason.startswith("circuit breaker: drawdown 30%") and ended.status is OrderStatus.CANCELED
        [event] = storage.events.read(type=QueuedOrderCanceled.event_type())
        assert (event.stream, event.run_id) == (fill_stream("acct_1", CID), "halt")


def test_the_breakers_cancel_of_a_part_filled_order_is_its_own_record_and_no_end_is_said_after_it(
    storage: Storage,
) -> None:
    """A working order's part fill is recorded only when the order ends (brokers/fills.py), so at the halt the slot
    after it on the order's stream is not there to take: the breaker's record was dropped, and the next look's
    order_ends said the breaker's own cancel was an end at Alpaca, "the trade did not happen" (review E2), though 4
    shares had."""
    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as server:
        broker = _queued(storage, server)
        server.set_time(datetime(2026, 1, 6, 14, 31, tzinfo=UTC))
        server.partially_fill(CID, 4, 500.0)
        record_new_fills(storage.events, broker, week_id=WEEK, run_id="look")  # still working: nothing recorded
        held = broker.account({}).positions

        cancel_opening_orders(storage.events, broker, held, "drawdown 30%", week_id=WEEK, run_id="halt")
        [ended] = _ends(storage)
        assert ended.reason.startswith("circuit breaker: drawdown 30%")
        fills = record_new_fills(storage.events, broker, week_id=WEEK, run_id="next")

        assert [(f.client_order_id, f.qty) for f in fills] == [(CID, 4)]  # the 4 shares are in the books
        assert [e.reason for e in _ends(storage)] == [ended.reason]  # no second record of the one cancel
        assert ended_notes(storage.events, "next") == []  # nothing says the trade did not happen


def test_the_one_record_of_a_breakers_cancel_noticed_by_another_process_gives_the_breakers_reason(
    storage: Storage,
) -> None:
    """The other process's record of the cancel (it found the order canceled before the breaker recorded it) said
    "ended at alpaca, unfilled: alpaca status canceled": the halt that canceled it was named nowhere, the report listed
    it as Alpaca's end and that run called it a trade that silently did not happen. The breaker now says what it is
    about to cancel, and why, before the cancel reaches Alpaca, so whoever records the end records the breaker's
    reason."""
    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as server:
        _queued(storage, server)
        broker = _OtherProcessBetween("acct_1", KEY, SECRET, url_override=server.base_url, timeout_seconds=2.0)
        broker.events = storage.events

        cancel_opening_orders(storage.events, broker, {}, "drawdown 30%", week_id=WEEK, run_id="halt")

        [ended] = _ends(storage)  # still one record, the other process's
        [event] = storage.events.read(type=QueuedOrderCanceled.event_type())
        assert (event.stream, event.run_id) == (fill_stream("acct_1", CID), "other")
        assert ended.reason == "circuit breaker: drawdown 30%; a halted account may not open or add"
        assert ended.status is OrderStatus.CANCELED
        assert ended_notes(storage.events, "other") == []  # not said as an end at Alpaca
        lines = week_report(WEEK, storage.events.read(week_id=WEEK)).orders
        assert [(o.client_order_id, o.status) for o in lines] == [(CID, "accepted")]  # nor listed as one


def test_a_cancel_the_breaker_asked_for_and_never_made_is_not_the_breakers_once_the_account_has_resumed(
    storage: Storage,
) -> None:
    """The breaker says what it cancels before its DELETE; when the DELETE fails (Alpaca answered 500, the order still
    working) nothing takes the request back. After the account resumed (reset by hand, or its drawdown recovered), an
    end Alpaca made later (canceled by hand, or by Alpaca: a corporate action) was recorded with the old halt's reason:
    the report left it "accepted" and no run said the trade did not happen."""
    breaker = load_config(None).config.risk.circuit_breaker
    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as server:
        broker = _queued(storage, server)
        evaluate_breaker(
            storage.events,
            "acct_1",
            starting_equity=100_000,
            equity=70_000,
            fills=[],
            config=breaker,
            week_id=WEEK,
            run_id="halt",
        )
        assert halted(storage.events, "acct_1")[0]
        server.fail_route("DELETE", r"/v2/orders/[^/]+", 500)
        with pytest.raises(BrokerUnavailable):
            cancel_opening_orders(storage.events, broker, {}, "drawdown 30%", week_id=WEEK, run_id="halt")
        assert server.orders[CID]["status"] == "accepted"  # the cancel never reached the order
        reset_breaker(storage.events, "acct_1", starting_equity=100_000, equity=70_000)
        assert not halted(storage.events, "acct_1")[0]
        server.end_order(CID, "canceled")  # canceled later, not by the breaker

        assert record_order_ends(storage.events, broker, observe(broker), run_id="later") == [CID]

        [ended] = _ends(storage)
        assert ended.reason.startswith("ended at alpaca, unfilled: alpaca status canceled"), ended.reason
        [note] = ended_notes(storage.events, "later")
        assert CID in note and "the trade did not happen" in note


def test_a_cancel_by_hand_after_the_breakers_cancel_failed_is_not_the_breakers_while_the_account_is_still_halted(
    storage: Storage,
) -> None:
    """The breaker's DELETE failed (Alpaca answered 500: the order still working) and the error told the operator so;
    they canceled the order by hand at Alpaca, the account still halted. The breaker's request, never made, still
    stood for the halt: the end was recorded with the breaker's reason, listed nowhere as Alpaca's and said by no run.
    A cancel the breaker could not make is now withdrawn when it fails (BreakerCancelFailed): the end is Alpaca's."""
    breaker = load_config(None).config.risk.circuit_breaker
    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as server:
        broker = _queued(storage, server)
        evaluate_breaker(
            storage.events,
            "acct_1",
            starting_equity=100_000,
            equity=70_000,
            fills=[],
            config=breaker,
            week_id=WEEK,
            run_id="halt",
        )
        server.fail_route("DELETE", r"/v2/orders/[^/]+", 500)
        with pytest.raises(BrokerUnavailable):
            cancel_opening_orders(storage.events, broker, {}, "drawdown 30%", week_id=WEEK, run_id="halt")
        assert server.orders[CID]["status"] == "accepted"  # the cancel never reached the order
        server.end_order(CID, "canceled")  # canceled by hand, the account still halted
        assert halted(storage.events, "acct_1")[0]

        assert record_order_ends(storage.events, broker, observe(broker), run_id="later") == [CID]

        [ended] = _ends(storage)
        assert ended.reason.startswith("ended at alpaca, unfilled: alpaca status canceled"), ended.reason
        [note] = ended_notes(storage.events, "later")
        assert CID in note and "the trade did not happen" in note
        lines = week_report(WEEK, storage.events.read(week_id=WEEK)).orders
        assert [(o.client_order_id, o.status) for o in lines] == [(CID, "accepted"), (CID, "canceled")]


def test_the_breakers_cancel_answered_and_then_unread_stays_the_breakers(storage: Storage) -> None:
    """Alpaca took the DELETE (204) and the look-up of the order's state afterwards failed: the cancel was made, so
    it is not withdrawn, and the end, when found, is the breaker's."""
    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as server:
        broker = _queued(storage, server)
        lookups = r"/v2/orders:by_client_order_id"
        server.after_next("DELETE", r"/v2/orders/[^/]+", lambda: server.fail_route("GET", lookups, 500))

        cancel_opening_orders(storage.events, broker, {}, "drawdown 30%", week_id=WEEK, run_id="halt")
        assert (
            server.orders[CID]["status"] == "canceled"
            and server.count("DELETE", f"/v2/orders/{server.orders[CID]['id']}") == 1
        )
        record_order_ends(storage.events, broker, observe(broker), run_id="later")

        [ended] = _ends(storage)
        assert ended.reason.startswith("circuit breaker: drawdown 30%"), ended.reason
        assert ended_notes(storage.events, "later") == []


@pytest.mark.parametrize("pending", [False, True], ids=["canceled", "pending_cancel"])
def test_the_breakers_cancel_carried_out_without_an_answer_stays_the_breakers(storage: Storage, pending: bool) -> None:
    """Alpaca carried out the DELETE and its answer was lost (a gateway's 500 after it, a read timeout): the breaker
    took its request back as a cancel never made (BreakerCancelFailed) and the end, found canceled by the next look,
    was recorded as Alpaca's own: listed in the report and said as "the trade did not happen", the halt named nowhere.
    The order's state after the failure says the cancel was made: it is the breaker's, and no error."""
    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as server:
        broker = _queued(storage, server)
        server.hold_cancels = pending  # outside market hours Alpaca's venue takes the cancel at the next open
        server.fail_route("DELETE", r"/v2/orders/[^/]+", 500, after_processing=True)

        cancel_opening_orders(storage.events, broker, {}, "drawdown 30%", week_id=WEEK, run_id="halt")
        assert server.orders[CID]["status"] == ("pending_cancel" if pending else "canceled")
        server.settle_cancels()
        record_order_ends(storage.events, broker, observe(broker), run_id="later")

        [ended] = _ends(storage)
        assert ended.reason.startswith("circuit breaker: drawdown 30%"), ended.reason
        assert ended_notes(storage.events, "later") == []
        lines = week_report(WEEK, storage.events.read(week_id=WEEK)).orders
        assert [(o.client_order_id, o.status) for o in lines] == [(CID, "accepted")]
        assert server.count("DELETE", f"/v2/orders/{server.orders[CID]['id']}") == 1
