"""An opening order Alpaca refuses because it would carry a holding llmtrade does not manage past zero (half a share of
XYZ bought by hand, or left by a split; or whole shares bought by hand: 403 "insufficient qty available for order
(requested: 20, available: 0.5)", no open order holding them) was sent again, and refused again, at every rerun and
checkpoint of the week: another degraded run and alert each time, though nothing llmtrade does removes that holding
(only the user can: close it in Alpaca's dashboard). It lasts the week now, as the other refusals sending again does
not change (not shortable, not tradable): given up once, said with what to do, never sent again that week; the next
week's plan is sent afresh. A close refused so (the books hold more than Alpaca, shares sold by hand) is still sent
again, as a close refused for a halt is: giving it up would leave the position held."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from llmtrade.brokers.alpaca_refusals import is_lasting
from llmtrade.domain.trading import OrderRejected, PlanAbandoned
from llmtrade.storage.bootstrap import Storage
from llmtrade.workflows.execution import ABANDONED, UNFINISHED, abandonment_note
from tests.fakes.alpaca_server import FakeAlpacaServer
from tests.fakes.by_hand import trade_by_hand
from tests.test_alpaca_broker import KEY_ID, SECRET
from tests.test_lasting_refusals import STREAM, _checkpoint, _desk, _short_plan, _types, _weekly


def _half_a_share(server: FakeAlpacaServer) -> None:
    trade_by_hand(server, "XYZ", 0.5)


def _five_shares(server: FakeAlpacaServer) -> None:
    trade_by_hand(server, "XYZ", 5)


@pytest.mark.parametrize(
    ("hold", "words"),
    [
        (_half_a_share, "it is a fraction of a share, which llmtrade's whole-share orders cannot trade"),
        (_five_shares, "shares bought by hand are not among them"),
    ],
    ids=["a fraction", "whole shares"],
)
def test_an_opening_order_refused_for_crossing_a_holding_by_hand_is_given_up_once(
    storage: Storage, hold: Callable[[FakeAlpacaServer], None], words: str
) -> None:
    with FakeAlpacaServer(key_id=KEY_ID, secret_key=SECRET, fill_immediately=True) as server:
        desk = _desk(server)
        hold(server)
        plan, order = _short_plan()  # sell 20 XYZ short, from flat as llmtrade sees it

        first = _weekly(storage, desk, plan, "r1")

        [gone] = first.get(ABANDONED)
        assert first.get(UNFINISHED) == []
        said = abandonment_note(gone)
        for part in ("insufficient qty available", "would carry the position past zero", words, "not sent again"):
            assert part in said, said
        assert "a rerun or the next checkpoint sends this one" not in said  # it does not, now
        [refused] = [
            OrderRejected.from_event(e) for e in storage.events.read_stream(STREAM) if e.type == "OrderRejected"
        ]
        assert refused.lasting and refused.order == order

        assert _checkpoint(storage, desk, "c1") == [] and _checkpoint(storage, desk, "c2") == []
        again = _weekly(storage, desk, plan, "r2")

        ours = [r for r in server.requests if r.method == "POST" and r.path == "/v2/orders"]
        assert len(ours) == 2  # the hand trade and the one refused POST: before, once more at each checkpoint and rerun
        assert again.get(ABANDONED) == [] and again.get(UNFINISHED) == []
        assert _types(storage).count(PlanAbandoned.event_type()) == 1


@pytest.mark.parametrize(
    ("opens", "crossing", "lasting"), [(True, True, True), (False, True, False), (True, False, False)]
)
def test_only_an_opening_order_crossing_a_holding_no_open_order_holds_lasts(
    opens: bool, crossing: bool, lasting: bool
) -> None:
    """A close refused for crossing (the books hold more than Alpaca: shares sold by hand) is sent again, as a close
    refused for a halt is: giving it up would leave the position held. Shares held for an open order (no crossing: the
    order in the way ends) pass later."""
    body = json.dumps(
        {"code": 40310000, "message": "insufficient qty available for order (requested: 20, available: 0.5)"}
    )
    assert is_lasting(403, body, opens=opens, crossing=crossing) is lasting


@pytest.mark.parametrize(
    ("books", "at_alpaca", "served", "words"),
    [
        (10, 6, None, "4 sold by hand"),
        (-10, -6, None, "bought back by hand"),
        (10, 2, "2.5", "the position changed outside llmtrade"),  # a 1-for-4 split not recorded yet: 2.5 left
    ],
    ids=["a long sold by hand", "a short bought back by hand", "a split leaving a fraction"],
)
def test_a_close_refused_for_crossing_says_alpaca_holds_fewer_than_the_books(
    books: int, at_alpaca: int, served: str | None, words: str
) -> None:
    """A close is sized from llmtrade's books; refused for want of shares with no order in the way, Alpaca holds fewer
    than the books (shares sold, or bought back, by hand; a split not recorded yet). Before, the note said the other
    way round, "shares bought by hand are not among them", and told the user to adopt shares that were not there."""
    from datetime import date

    from llmtrade.brokers.alpaca import AlpacaBroker
    from llmtrade.brokers.order_plan import plan_orders
    from llmtrade.domain.trading import Position
    from llmtrade.errors import BrokerRejected

    with FakeAlpacaServer(key_id=KEY_ID, secret_key=SECRET) as server:
        server.set_price("SPY", 600.0)
        server.set_position("SPY", at_alpaca, 590, served_qty=served)
        broker = AlpacaBroker("pm-alpha", KEY_ID, SECRET, url_override=server.base_url, timeout_seconds=2)
        held = {"SPY": Position(symbol="SPY", qty=books, avg_price=590)}
        [close] = plan_orders(date(2026, 1, 7), "pm-alpha", held, "SPY", 0)

        with pytest.raises(BrokerRejected) as refused:
            broker.submit(close)

    said = str(refused.value)
    assert close.intent == "close" and "would carry the position past zero" in said
    assert f"fewer SPY at Alpaca than llmtrade's books, which this close of {abs(books)} was sized from" in said, said
    assert words in said, said
    for wrong in ("bought by hand are not among them", "positions adopt", "whole-share orders cannot trade"):
        assert wrong not in said, said
    assert "llmtrade positions list" in said and "llmtrade positions release pm-alpha SPY" in said
