"""An order of llmtrade's that Alpaca ended "replaced" by an order it does not show (replaced_by answered 404, no
listed order `replaces` it) is taken as working (brokers/alpaca_chains.py): safe, but it was never said. It is now
recorded once (OrderNotShown) and said once by the run that recorded it. The real alpaca-py client against the
loopback fake."""

from __future__ import annotations

from llmtrade.alerts.incidents import find_incidents
from llmtrade.brokers.fills import record_new_fills
from llmtrade.config.loader import load_config
from llmtrade.storage.bootstrap import Storage
from tests.fakes.alpaca_server import FakeAlpacaServer
from tests.test_alpaca_order_ends import CID, KEY, ORDER, SECRET, WEEK
from tests.test_alpaca_replaced_orders import _ends, _fills, _replaced


def _said(storage: Storage) -> list[dict[str, object]]:
    return [dict(e.payload) for e in storage.events.read(type="OrderNotShown")]


def test_an_order_replaced_by_one_alpaca_does_not_show_is_said_once_with_what_to_do(storage: Storage) -> None:
    """Two looks at the account while the replacement is unseen record one OrderNotShown naming the order, its
    client_order_id, that Alpaca ended it replaced and shows no replacement, what llmtrade does meanwhile and what to
    do; the first run says it, the second does not, and an alert tells it once. Once Alpaca shows the replacement and
    it fills, the fill is the order's and nothing more is said."""
    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as server:
        broker, replacement = _replaced(storage, server, [ORDER], CID)
        old_id, new_id = server.orders[CID]["id"], server.orders[replacement]["id"]
        server.orders[replacement]["replaces"] = None  # unseen: no order of the account shows it replacing ours
        server.fail_route("GET", f"/v2/orders/{new_id}", 404, times=100)

        record_new_fills(storage.events, broker, week_id=WEEK, run_id="r2")
        record_new_fills(storage.events, broker, week_id=WEEK, run_id="r3")

        [said] = _said(storage)
        assert (said["account_id"], said["client_order_id"], said["broker"]) == ("acct_1", CID, "alpaca")
        note = str(said["note"])
        assert f"order {CID} (alpaca id {old_id})" in note
        assert "'replaced'" in note and f"names order {new_id}, which it does not find" in note
        assert "nothing is sent again, no fill or end of it is booked" in note
        assert "alpaca's dashboard" in note and "the next look follows its replacement" in note
        assert _ends(storage) == [] and _fills(storage) == []
        from llmtrade.brokers.order_ends import unlisted_notes  # here: before the fix the events fail the test first

        [line] = unlisted_notes(storage.events, "r2")
        assert line.startswith(f"account acct_1's order open buy 10 SPY ({CID}): alpaca ended")
        assert unlisted_notes(storage.events, "r3") == []
        # An alert tells it too (once: one incident per order), whichever job's look recorded it.
        now = max(e.occurred_at for e in storage.events.read(type="OrderNotShown"))
        incidents = find_incidents(storage.events, load_config(None).config, now, silence=False)
        [alert] = [i for i in incidents if i.kind == "order-not-shown"]
        assert CID in alert.title and "alpaca's dashboard" in alert.body

        # Alpaca shows the replacement; it fills: the order's fill, and nothing said again.
        server.reset()
        server.orders[replacement]["replaces"] = old_id
        server.set_price("SPY", 505.0)
        server.fill_open_orders()
        record_new_fills(storage.events, broker, week_id=WEEK, run_id="r4")

        [filled] = _fills(storage)
        assert (filled.fill.client_order_id, filled.fill.qty) == (CID, ORDER.qty)
        assert len(_said(storage)) == 1 and unlisted_notes(storage.events, "r4") == []
