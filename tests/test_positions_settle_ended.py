"""`positions settle ACCOUNT SYMBOL [--price P]` closes, on the paper broker, a held symbol whose prices ended at its
last close (or the price given): before it nothing ever closed such a position (the roll sends no close that could
never fill), its cost stayed tied up for good, and `positions release` only took it out of llmtrade's books.

The scripted week of tests/test_week_lifecycle.py on its CSV market: acct_3 holds GLD from Wednesday's open; GLD.csv
stops after that Wednesday, every other file goes on.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from tests.support import stored_events
from tests.test_held_ended_last_close import _close
from tests.test_paper_order_prices_ended import _a_week_more_but_gld
from tests.test_week_lifecycle import week

__all__ = ["week"]

runner = CliRunner()


def _gld_ended(week: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    _, url, _ = week
    assert runner.invoke(app, ["-q", "run-weekly"]).exit_code == 0
    _a_week_more_but_gld(tmp_path / "csv")
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-13T17:00:00-05:00")
    assert runner.invoke(app, ["-q", "postmortem"]).exit_code == 0
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-14T18:00:00-05:00")  # after the close: no open will fill it either
    return url


def _gld(status: dict[str, Any], account: str) -> list[dict[str, Any]]:
    [acct] = [a for a in status["accounts"] if a["account_id"] == account]
    return [p for p in acct["positions"] if p["symbol"] == "GLD"]


def test_settle_closes_a_held_symbol_whose_prices_ended_at_its_last_close_once(
    week: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url = _gld_ended(week, monkeypatch, tmp_path)
    last = _close(tmp_path / "csv", "GLD", "2026-01-07")
    before = json.loads(runner.invoke(app, ["status", "--json"]).stdout)
    [held] = _gld(before, "acct_3")
    assert held["qty"] > 0

    done = runner.invoke(app, ["positions", "settle", "acct_3", "gld", "--json"])
    assert done.exit_code == 0, done.output
    settled = json.loads(done.stdout)
    assert settled["qty"] == held["qty"] and settled["last_day"] == "2026-01-07" and not settled["earlier"]
    assert settled["price"] == pytest.approx(last * (1 - 5 / 10_000), abs=1e-4)  # the paper broker's slippage

    [filled] = [e for e in stored_events(url, type="OrderFilled") if e.payload["fill"]["symbol"] == "GLD"][-1:]
    assert filled.payload["fill"]["client_order_id"] == settled["client_order_id"]
    assert filled.payload["fill"]["price_source"] == "last close"
    assert [e for e in stored_events(url, type="OrderSubmitted") if e.payload["order"]["intent"] == "close"]

    shown = runner.invoke(app, ["status", "--json"])
    assert shown.exit_code == 0, shown.output
    after = json.loads(shown.stdout)
    assert _gld(after, "acct_3") == [] and after["at_last_close"] in (None, {})
    [acct] = [a for a in after["accounts"] if a["account_id"] == "acct_3"]
    [was] = [a for a in before["accounts"] if a["account_id"] == "acct_3"]
    assert acct["cash"] == pytest.approx(was["cash"] + held["qty"] * settled["price"], abs=0.01)

    gld_fills = len([e for e in stored_events(url, type="OrderFilled") if e.payload["fill"]["symbol"] == "GLD"])
    again = runner.invoke(app, ["positions", "settle", "acct_3", "GLD", "--json"])
    assert again.exit_code == 0, again.output
    rerun = json.loads(again.stdout)
    assert rerun["earlier"] and rerun | {"earlier": False} == settled
    assert gld_fills == len([e for e in stored_events(url, type="OrderFilled") if e.payload["fill"]["symbol"] == "GLD"])
    cid = settled["client_order_id"]
    assert (
        len([e for e in stored_events(url, type="OrderSubmitted") if e.payload["order"]["client_order_id"] == cid]) == 1
    )


def test_settle_at_a_price_given(week: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    url = _gld_ended(week, monkeypatch, tmp_path)
    done = runner.invoke(app, ["positions", "settle", "acct_3", "GLD", "--price", "100", "--json"])
    assert done.exit_code == 0, done.output
    settled = json.loads(done.stdout)
    assert settled["given"] and settled["price"] == pytest.approx(100 * (1 - 5 / 10_000))
    [fill] = [
        e.payload["fill"] for e in stored_events(url, type="OrderFilled") if e.payload["fill"]["symbol"] == "GLD"
    ][-1:]
    assert fill["price_source"] == "given close"


def test_a_price_given_far_from_the_last_close_is_refused_unless_confirmed(
    week: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A settlement cannot be undone: a slipped decimal point (ten times the last close, or a tenth of it) would book
    a gain or a loss that never was. Refused (exit 2) naming the ratio and the close, nothing sent; --confirm-price
    settles at it."""
    url = _gld_ended(week, monkeypatch, tmp_path)
    last = _close(tmp_path / "csv", "GLD", "2026-01-07")
    for typo in (10.0, 0.1):
        price = f"{last * typo:.2f}"
        refused = runner.invoke(app, ["positions", "settle", "acct_3", "GLD", "--price", price])
        assert refused.exit_code == 2, refused.output
        assert f"--price {float(price):g} is" in refused.stderr and f"times GLD's last close {last:g}" in refused.stderr
        assert "--confirm-price" in refused.stderr
    assert not [
        e for e in stored_events(url, type="OrderSubmitted") if "-settle" in e.payload["order"]["client_order_id"]
    ]
    # Each attempt is on the books, not only on the terminal it was typed in (app/command_refusals.py).
    refusals = [e.payload for e in stored_events(url, type="CommandRefused")]
    assert [r["arguments"] for r in refusals] == [
        {"account": "acct_3", "symbol": "GLD", "price": str(float(f"{last * typo:.2f}"))} for typo in (10.0, 0.1)
    ]
    assert all(r["command"] == "positions settle" and "--confirm-price" in r["error"] for r in refusals)
    near = runner.invoke(app, ["positions", "settle", "acct_3", "GLD", "--price", f"{last * 1.5:.2f}", "--json"])
    assert near.exit_code == 0, near.output  # a cash-out at a premium: no confirmation asked
    assert json.loads(near.stdout)["given"]


def test_a_far_price_confirmed_is_settled_at(week: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _gld_ended(week, monkeypatch, tmp_path)
    price = _close(tmp_path / "csv", "GLD", "2026-01-07") / 10
    args = ["positions", "settle", "acct_3", "GLD", "--price", f"{price:.4f}", "--confirm-price", "--json"]
    done = runner.invoke(app, args)
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["price"] == pytest.approx(round(price, 4) * (1 - 5 / 10_000), abs=1e-4)


def test_settle_refuses_a_symbol_with_prices_an_account_not_holding_it_and_a_disabled_kill_switch(
    week: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url = _gld_ended(week, monkeypatch, tmp_path)
    # acct_1 holds SPY, whose prices go on: trade it instead.
    trading = runner.invoke(app, ["positions", "settle", "acct_1", "SPY"])
    assert trading.exit_code == 2
    assert "prices have not ended" in trading.stderr and "trade it instead" in trading.stderr
    # What was typed is checked before the market: an account not holding the symbol is told so, not that its prices
    # go on ("trade it instead" of a symbol it does not hold read as if it did).
    for account in ("acct_3", "acct_6"):
        typo = runner.invoke(app, ["positions", "settle", account, "SPY"])
        assert typo.exit_code == 2 and f"manages no SPY in {account}" in typo.stderr, typo.output
        assert "prices have not ended" not in typo.stderr
    nobody = runner.invoke(app, ["positions", "settle", "acct_1", "GLD"])
    assert nobody.exit_code == 2 and "manages no GLD in acct_1" in nobody.stderr
    bad = runner.invoke(app, ["positions", "settle", "acct_3", "GLD", "--price", "0"])
    assert bad.exit_code == 2
    assert runner.invoke(app, ["trading", "disable", "--reason", "drill"]).exit_code == 0
    held = runner.invoke(app, ["positions", "settle", "acct_3", "GLD"])
    assert held.exit_code == 2 and "trading is disabled (drill)" in held.stderr
    assert not [
        e for e in stored_events(url, type="OrderSubmitted") if "-settle" in e.payload["order"]["client_order_id"]
    ]


def test_a_settlement_killed_before_its_order_is_recorded_is_recorded_by_the_rerun_once(
    week: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from llmtrade.app import settle_ended

    url = _gld_ended(week, monkeypatch, tmp_path)
    killed = monkeypatch.context()
    with killed as patch:

        def dies(*_: object) -> None:
            raise KeyboardInterrupt  # the process killed between the broker's fill and its record

        patch.setattr(settle_ended, "_record", dies)
        assert runner.invoke(app, ["positions", "settle", "acct_3", "GLD"]).exit_code != 0
    assert [e for e in stored_events(url, type="OrderFilled") if e.payload["fill"]["symbol"] == "GLD"][-1:]
    done = runner.invoke(app, ["positions", "settle", "acct_3", "GLD", "--json"])
    assert done.exit_code == 0, done.output
    settled = json.loads(done.stdout)
    assert settled["earlier"]
    cid = settled["client_order_id"]
    assert (
        len([e for e in stored_events(url, type="OrderSubmitted") if e.payload["order"]["client_order_id"] == cid]) == 1
    )
    again = runner.invoke(app, ["positions", "settle", "acct_3", "GLD"])
    assert again.exit_code == 0 and "settled earlier" in again.stdout
    assert (
        len([e for e in stored_events(url, type="OrderSubmitted") if e.payload["order"]["client_order_id"] == cid]) == 1
    )
