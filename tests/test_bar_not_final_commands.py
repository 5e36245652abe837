"""`positions`, `breaker reset` and `market` between a session's close and the minute its bar is final at a provider
(Alpaca's SIP feed: 16:16). The market service takes no bar of the day then, and they stopped on it (exit 75) with the
market's message only. `positions list` and `release` now look at the session before's closes, as `status` values, and
say why, and `market bars` and `market snapshot` show up to that session; `adopt` and `breaker reset`, which record
from the day's close, refuse until it is final and say so."""

from __future__ import annotations

import json
from datetime import datetime
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.clock import FixedClock
from llmtrade.config.models import CircuitBreaker
from llmtrade.domain.trading import Fill, Side
from llmtrade.market.alpaca_data import AlpacaBarProvider
from llmtrade.market.synthetic import SyntheticMarket
from llmtrade.risk.controls import evaluate_breaker
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import open_storage
from tests.support import FIXED_NOW, stored_events
from tests.test_reconciliation_cli import _trade_by_hand

runner = CliRunner()

_NOT_FINAL = (
    "2026-01-07's close is not final yet (synthetic has no complete bar of 2026-01-07 yet: the sip feed is asked up to "
    "16 minutes before now (the free plan refuses the latest 15): to 2026-01-07 15:49 New York, before the 16:00 "
    "close; complete from 16:16)"
)


def _at(monkeypatch: pytest.MonkeyPatch, hhmm: str) -> None:
    """The command's clock at `hhmm` on Wednesday 2026-01-07, the offline market's bar of a session final when SIP's
    is (as in test_status_marks)."""
    now = datetime.fromisoformat(f"2026-01-07T{hhmm}:00-05:00")
    monkeypatch.setenv("LLMTRADE_NOW", now.isoformat())
    sip = SimpleNamespace(feed="sip", clock=FixedClock(now), waits=SimpleNamespace(wall=now.timestamp))
    monkeypatch.setattr(SyntheticMarket, "incomplete", lambda self, close: AlpacaBarProvider.incomplete(sip, close))


def _one_line(text: str) -> str:
    return " ".join(text.split())


def test_positions_list_and_release_look_at_the_closes_before_and_say_why(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert runner.invoke(app, ["run-weekly"]).exit_code == 0  # orders queued for the open: filled by 16:05
    _at(monkeypatch, "16:05")
    listed = runner.invoke(app, ["positions", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    held = {row["account_id"]: row["managed"] for row in rows}
    assert any(held.values())
    assert _one_line(listed.stderr) == f"valued at the close of 2026-01-06: {_NOT_FINAL}"
    account = next(a for a, managed in held.items() if managed)
    symbol = held[account][0]["symbol"]
    released = runner.invoke(app, ["positions", "release", account, symbol])
    assert released.exit_code == 0, released.output
    assert [e.payload["symbol"] for e in stored_events(wednesday_week, type="PositionReleased")] == [symbol]
    _at(monkeypatch, "16:20")
    final = runner.invoke(app, ["positions", "list"])
    assert final.exit_code == 0 and "valued at the close" not in final.output, final.output


def test_adopt_waits_for_the_days_close_to_be_final(wednesday_week: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert runner.invoke(app, ["run-weekly"]).exit_code == 0
    _trade_by_hand(wednesday_week, "GLD", 100)
    _at(monkeypatch, "16:05")
    refused = runner.invoke(app, ["positions", "adopt", "acct_1", "GLD"])
    assert refused.exit_code == 75, refused.output
    assert _one_line(refused.stderr) == (
        "error: acct_1: adopting GLD records its last close as where llmtrade's gains and losses on it start, and "
        f"{_NOT_FINAL}: nothing was adopted; run it again once the close is final"
    )
    assert stored_events(wednesday_week, type="PositionAdopted") == []
    _at(monkeypatch, "16:20")
    adopted = runner.invoke(app, ["positions", "adopt", "acct_1", "GLD"])
    assert adopted.exit_code == 0, adopted.output
    assert len(stored_events(wednesday_week, type="PositionAdopted")) == 1


def test_breaker_reset_waits_for_the_days_close_to_be_final(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert runner.invoke(app, ["run-weekly"]).exit_code == 0
    config = CircuitBreaker()
    losses = [
        Fill(
            client_order_id=f"t{n}{side}",
            account_id="acct_3",
            symbol="GLD",
            side=side,
            qty=1,
            price=price,
            filled_at=FIXED_NOW,
        )
        for n in range(config.halt_consecutive_losses)
        for side, price in ((Side.BUY, 100.0), (Side.SELL, 99.0))
    ]
    with open_storage(Settings(DATABASE_URL=wednesday_week), FixedClock(FIXED_NOW)) as storage:
        evaluate_breaker(
            storage.events,
            "acct_3",
            starting_equity=100_000,
            equity=100_000,
            fills=losses,
            config=config,
            week_id=None,
            run_id=None,
        )
    _at(monkeypatch, "16:05")
    refused = runner.invoke(app, ["breaker", "reset", "acct_3"])
    assert refused.exit_code == 75, refused.output
    assert _one_line(refused.stderr) == (
        "error: acct_3: a breaker reset restarts its peak at the account's equity at the last close, and "
        f"{_NOT_FINAL}: the breaker was not reset; run it again once the close is final"
    )
    assert stored_events(wednesday_week, type="AccountResumed") == []
    _at(monkeypatch, "16:20")
    reset = runner.invoke(app, ["breaker", "reset", "acct_3"])
    assert reset.exit_code == 0, reset.output
    assert len(stored_events(wednesday_week, type="AccountResumed")) == 1


def test_market_bars_and_snapshot_show_the_sessions_before_and_say_the_newest_is_not_final(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """They stopped on it (exit 75) with the market's message, where `status` and `positions list` value at the
    session before's closes: now they show up to that session, and say why the newest is not there yet."""
    _at(monkeypatch, "16:05")
    bars = runner.invoke(app, ["market", "bars", "SPY", "--days", "3", "--json"])
    assert bars.exit_code == 0, bars.output
    days = [json.loads(line)["day"] for line in bars.stdout.splitlines()]
    assert days == ["2026-01-02", "2026-01-05", "2026-01-06"]
    assert _one_line(bars.stderr).endswith(f"bars to the close of 2026-01-06: {_NOT_FINAL}"), bars.stderr
    snapshot = runner.invoke(app, ["market", "snapshot", "--json"])
    assert snapshot.exit_code == 0, snapshot.output
    assert json.loads(snapshot.stdout)["session"] == "2026-01-06"
    assert _one_line(snapshot.stderr).endswith(f"snapshot at the close of 2026-01-06: {_NOT_FINAL}")
    _at(monkeypatch, "16:20")
    final = runner.invoke(app, ["market", "bars", "SPY", "--days", "1", "--json"])
    assert final.exit_code == 0 and "not final" not in final.stderr, final.output
    assert json.loads(final.stdout)["day"] == "2026-01-07"
