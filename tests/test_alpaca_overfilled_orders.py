"""An order of llmtrade's whose chain (the order and its replacements outside llmtrade) filled more shares than the
order was sent for: Alpaca gives a replacement of a partly filled order a quantity of its own, not what was left to
fill (alpacahq/Alpaca-API #165: a sell of 10 that filled 4, replaced with the same 10, sells 14 in all). llmtrade
booked the 14 (what happened, rightly) and said only that the order was replaced outside llmtrade: nothing recorded,
warned or alerted that the account was now short of (or over) its plan. It is now recorded once (OrderOverfilled),
said by the run that recorded it and alerted once; nothing is sent to "fix" it. The real alpaca-py client against
the loopback fake."""

from __future__ import annotations

from typer.testing import CliRunner

from llmtrade.alerts.incidents import find_incidents
from llmtrade.brokers.fills import record_new_fills
from llmtrade.brokers.reconcile import managed_positions
from llmtrade.cli import app
from llmtrade.config.loader import load_config
from llmtrade.domain.trading import OrderStatus
from llmtrade.storage.bootstrap import Storage
from llmtrade.workflows.execution import send_orders
from tests.fakes.alpaca_server import FakeAlpacaServer
from tests.test_alpaca_order_ends import CID, KEY, ORDER, SECRET, STREAM, WEEK
from tests.test_alpaca_replaced_orders import CLOSE, CLOSE_ID, NIGHT, OPEN, _broker, _ends, _fills, _posts
from tests.test_crash_points import (  # noqa: F401  (fixtures)
    MIDDAY,
    WEEKLY,
    CountingAlpaca,
    Runs,
    alpaca,
    runs,
    world,
)


def _said(storage: Storage) -> list[dict[str, object]]:
    return [dict(e.payload) for e in storage.events.read(type="OrderOverfilled")]


def test_a_part_filled_sell_replaced_with_its_whole_quantity_is_said_overfilled_once(storage: Storage) -> None:
    """The plan's close sells 10 SPY; 4 fill; a person replaces it (Alpaca's replacement is for 10 again, #165) and
    the replacement fills: 14 sold. The fill is booked as it happened (14, the account short 4), and one
    OrderOverfilled names the order, the account, the 10 meant and the 14 filled, that the position differs from the
    plan, that nothing was sent to correct it and what to do; the run that recorded it says it, a later one does not,
    one alert tells it, and no order is sent."""
    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as server:
        server.set_price("SPY", 500.0)
        server.set_position("SPY", 10, 480.0)
        server.set_time(NIGHT)
        broker = _broker(server)
        send_orders(storage.events, broker, [CLOSE], stream=STREAM, week_id=WEEK, run_id="r1")
        server.set_time(OPEN)
        server.mark_routed(CLOSE_ID)
        server.partially_fill(CLOSE_ID, 4, 500.0)
        replacement = server.replace_order(CLOSE_ID)  # a new limit price, say: the quantity not given
        new = server.orders[replacement]
        assert (float(new["qty"]), float(new["filled_qty"])) == (10.0, 0.0)  # the whole 10 again, not the 6 left
        server.fill_open_orders()
        posts = _posts(server)

        record_new_fills(storage.events, broker, week_id=WEEK, run_id="r2")
        record_new_fills(storage.events, broker, week_id=WEEK, run_id="r3")

        [filled] = _fills(storage)  # booked as it happened: the account's 14 shares sold
        assert (filled.fill.client_order_id, filled.fill.qty) == (CLOSE_ID, 14)
        assert managed_positions(storage.events, broker) == {"SPY": -4}
        assert _ends(storage) == []
        [said] = _said(storage)
        assert (said["account_id"], said["client_order_id"], said["broker"]) == ("acct_1", CLOSE_ID, "alpaca")
        assert (said["symbol"], said["side"], said["meant"], said["filled"]) == ("SPY", "sell", 10, "14")
        note = str(said["note"])
        assert f"order close sell 10 SPY ({CLOSE_ID})" in note and "filled 14" in note
        assert new["id"] in note and "#165" in note
        assert "4 more shares sold than the plan meant" in note
        assert "the account's SPY position now differs from its plan" in note
        assert "Nothing is sent to correct it" in note and "alpaca's dashboard" in note
        from llmtrade.brokers.overfills import overfilled_notes  # here: before the fix the test fails on its asserts

        [line] = overfilled_notes(storage.events, "r2")
        assert line.startswith("account acct_1's order") and "filled 14" in line
        assert overfilled_notes(storage.events, "r3") == []
        now = max(e.occurred_at for e in storage.events.read(type="OrderOverfilled"))
        incidents = find_incidents(storage.events, load_config(None).config, now, silence=False)
        [alert] = [i for i in incidents if i.kind == "order-overfilled"]
        assert CLOSE_ID in alert.title and "acct_1" in alert.title and "14 of 10" in alert.title
        assert "Nothing is sent to correct it" in alert.body
        assert _posts(server) == posts  # nothing sent to "fix" it
        found = broker.find(CLOSE_ID)
        assert found is not None and (found.status, found.filled_qty) == (OrderStatus.FILLED, 14)


def test_a_checkpoint_that_books_an_overfilled_chain_warns_of_it(
    runs: Runs,  # noqa: F811
    alpaca: CountingAlpaca,  # noqa: F811
) -> None:
    """The week's order part filled at the open and replaced whole by a person; the replacement filled. The
    checkpoint that books the fill (its valuation's write) records OrderOverfilled with it and warns of it."""
    state = alpaca.snapshot()
    primed = runs.primed()
    alpaca.restore(state)
    name = runs.fresh(primed)
    runs.invoke(["run-weekly"], WEEKLY)  # before the open: the Alpaca account's orders wait for it
    server = alpaca.server
    cid = next(c for c, o in server.orders.items() if o["status"] == "accepted" and float(o["qty"]) >= 2)
    order = server.orders[cid]
    meant, symbol = int(float(order["qty"])), order["symbol"]
    server.mark_routed(cid)
    server.partially_fill(cid, 1, server._prices[symbol])
    server.replace_order(cid)  # the replacement is for the whole quantity again (alpacahq/Alpaca-API #165)
    server.fill_open_orders()

    runs.monkeypatch.setenv("LLMTRADE_NOW", MIDDAY)
    result = CliRunner().invoke(app, ["checkpoint", "12:00", "--json"])
    assert result.exit_code == 0, result.output

    assert f"({cid}) filled {meant + 1} shares at alpaca, more than the {meant} llmtrade sent it for" in result.output
    events = runs.events(name)
    [said] = [e for _, t, e in events if t == "OrderOverfilled"]
    assert (said["client_order_id"], said["meant"], said["filled"]) == (cid, meant, str(meant + 1))
    [filled] = [e["fill"] for _, t, e in events if t == "OrderFilled" and e["fill"]["client_order_id"] == cid]
    assert filled["qty"] == meant + 1


def test_a_single_order_alpaca_reports_filled_beyond_its_quantity_is_said_overfilled_once(storage: Storage) -> None:
    """A malformed answer: the plan's buy of 10, never replaced, reported filled 12. It was booked as 12 with no word;
    it is booked as reported (what the account holds) and said as the chain's excess is, as a broker answer beyond
    the order, not a replacement."""
    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as server:
        server.set_price("SPY", 500.0)
        server.set_time(NIGHT)
        broker = _broker(server)
        send_orders(storage.events, broker, [ORDER], stream=STREAM, week_id=WEEK, run_id="r1")
        server.set_time(OPEN)
        server.fill_open_orders()
        server.orders[CID]["filled_qty"] = "12"  # more than the order's 10, as no answer should be
        posts = _posts(server)

        record_new_fills(storage.events, broker, week_id=WEEK, run_id="r2")
        record_new_fills(storage.events, broker, week_id=WEEK, run_id="r3")

        [filled] = _fills(storage)
        assert (filled.fill.client_order_id, filled.fill.qty, filled.fill.replaced_by) == (CID, 12, "")
        [said] = _said(storage)
        assert (said["client_order_id"], said["meant"], said["filled"], said["side"]) == (CID, 10, "12", "buy")
        note = str(said["note"])
        assert f"order open buy 10 SPY ({CID}) filled 12 shares at alpaca" in note
        assert "replaced" not in note and "reported more shares filled than the order was for" in note
        assert "2 more shares bought than the plan meant" in note and "Nothing is sent to correct it" in note
        from llmtrade.brokers.overfills import overfilled_notes

        [line] = overfilled_notes(storage.events, "r2")
        assert "filled 12" in line and overfilled_notes(storage.events, "r3") == []
        now = max(e.occurred_at for e in storage.events.read(type="OrderOverfilled"))
        incidents = find_incidents(storage.events, load_config(None).config, now, silence=False)
        [alert] = [i for i in incidents if i.kind == "order-overfilled"]
        assert "12 of 10" in alert.title
        assert _posts(server) == posts
