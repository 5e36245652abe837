"""Reconciliation through the command line: status shows differences and credits no hand-made gain,
a checkpoint records them once and trades only what llmtrade manages, `positions` adopts and releases."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from typer.testing import CliRunner

from llmtrade.brokers.paper import PaperBroker
from llmtrade.cli import app
from llmtrade.clock import FixedClock
from llmtrade.domain.trading import Order, Side
from llmtrade.market.calendar import TradingCalendar
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import open_storage
from tests.support import stored_events
from tests.test_checkpoint_stages import week  # noqa: F401 - `week` is a fixture

runner = CliRunner()
NOON = datetime(2026, 1, 7, 12, 0, tzinfo=ZoneInfo("America/New_York"))
HAND_PRICE = 1.0  # a price far below any market's: the hand-made position shows a large gain


class _HandPrice:
    def opening_price(self, symbol: str, day: date) -> float | None:
        return HAND_PRICE


def _trade_by_hand(url: str, symbol: str, qty: int) -> float:
    """An order at the paper broker that llmtrade never planned (as if typed in by a person); its cost."""
    clock = FixedClock(NOON)
    with open_storage(Settings(DATABASE_URL=url), clock) as storage:
        broker = PaperBroker(
            "acct_1",
            starting_cash=100_000.0,
            events=storage.events,
            clock=clock,
            calendar=TradingCalendar(),
            prices=_HandPrice(),
            slippage_bps=0.0,
        )
        order = Order(
            client_order_id="typed-by-hand-1",
            account_id="acct_1",
            week_id=date(2026, 1, 5),
            symbol=symbol,
            side=Side.BUY,
            qty=qty,
            intent="open",
        )
        result = broker.submit(order)
        assert result.fill_price is not None
        return result.fill_price * qty


def _status() -> dict[str, Any]:
    shown = runner.invoke(app, ["status", "--json"])
    assert shown.exit_code == 0, shown.output
    return {a["account_id"]: a for a in json.loads(shown.output)["accounts"]}


def test_status_credits_no_hand_made_gain_and_a_checkpoint_records_the_difference_once(
    week: Any,  # noqa: F811 - the fixture imported above
) -> None:
    _fake, url = week
    before = _status()["acct_1"]
    assert before["differences"] == []
    _trade_by_hand(url, "GLD", 100)
    count = len(stored_events(url))

    after = _status()["acct_1"]

    assert len(stored_events(url)) == count  # status writes nothing
    assert after["equity"] == before["equity"]  # the hand-made GLD's gain is not the PM's
    assert after["total_return"] == before["total_return"]
    assert "GLD" not in {p["symbol"] for p in after["positions"]}
    shown = {(d["difference"]["kind"], d["difference"]["symbol"], d["recorded_at"]) for d in after["differences"]}
    assert shown == {("unmanaged_position", "GLD", None), ("unknown_fill", "GLD", None)}

    first = runner.invoke(app, ["checkpoint", "12:00"])
    assert first.exit_code == 0, first.output
    found = stored_events(url, type="ReconciliationDifferenceFound")
    assert sorted(e.payload["difference"]["kind"] for e in found) == ["unknown_fill", "unmanaged_position"]
    mine = [e.payload["order"] for e in stored_events(url, type="OrderSubmitted", account_id="acct_1")]
    assert not [o for o in mine if o["symbol"] == "GLD"]  # the hand-made GLD is not traded
    runner.invoke(app, ["checkpoint", "12:00"])  # a rerun records nothing twice
    assert len(stored_events(url, type="ReconciliationDifferenceFound")) == 2
    assert all(d["recorded_at"] for d in _status()["acct_1"]["differences"])
    plain = runner.invoke(app, ["status"])
    assert "unmanaged_position" in plain.output and "GLD" in plain.output


def test_a_hand_made_position_is_adopted_then_released(week: Any) -> None:  # noqa: F811
    _fake, url = week
    _trade_by_hand(url, "GLD", 100)
    equity = _status()["acct_1"]["equity"]
    listed = runner.invoke(app, ["positions", "list", "acct_1", "--json"])
    assert listed.exit_code == 0, listed.output
    [row] = json.loads(listed.output)
    assert "GLD" not in {p["symbol"] for p in row["managed"]}
    assert "GLD" in {p["symbol"] for p in row["broker"]}

    adopted = runner.invoke(app, ["positions", "adopt", "acct_1", "GLD", "--json"])

    assert adopted.exit_code == 0, adopted.output
    assert json.loads(adopted.output) | {} == {
        "action": "adopted",
        "account_id": "acct_1",
        "symbol": "GLD",
        "qty": 100,
        "managed_qty": 100,
    }
    now = _status()["acct_1"]
    assert {p["symbol"]: p["qty"] for p in now["positions"]}["GLD"] == 100  # managed from now on
    assert now["equity"] == equity  # what it made before adoption is still not the PM's
    assert {d["difference"]["kind"] for d in now["differences"]} == {"unknown_fill"}
    again = runner.invoke(app, ["positions", "adopt", "acct_1", "GLD"])
    assert again.exit_code == 2 and "does not manage already" in again.output

    released = runner.invoke(app, ["positions", "release", "acct_1", "GLD", "--json"])

    assert released.exit_code == 0, released.output
    assert json.loads(released.output)["qty"] == 100
    assert "GLD" not in {p["symbol"] for p in _status()["acct_1"]["positions"]}
    nothing = runner.invoke(app, ["positions", "release", "acct_1", "GLD"])
    assert nothing.exit_code == 2 and "nothing to release" in nothing.output
    unknown = runner.invoke(app, ["positions", "adopt", "acct_99", "GLD"])
    assert unknown.exit_code == 2 and "no account 'acct_99'" in unknown.output
    # Each refused change of the books by hand is on record, in its command's words.
    refused = [(e.payload["command"], e.payload["arguments"], e.payload["error"]) for e in _refusals(url)]
    assert [(c, a) for c, a, _ in refused] == [
        ("positions adopt", {"account": "acct_1", "symbol": "GLD"}),
        ("positions release", {"account": "acct_1", "symbol": "GLD"}),
        ("positions adopt", {"account": "acct_99", "symbol": "GLD"}),
    ]
    assert "does not manage already" in refused[0][2] and "nothing to release" in refused[1][2]


def _refusals(url: str) -> list[Any]:
    return stored_events(url, type="CommandRefused")
