"""A checkpoint's risk gate reads how old the price it sizes off is: before the open a checkpoint prices a symbol at
its last close (a quote of kind "close", stamped at that session's close), and a quiet symbol's (no trade of it on its
feed: a thin name on Alpaca's iex feed, a halt) is up to market/untraded.py QUIET_TAIL sessions old. A FLIP's opening
leg sized off a close more than risk/stale.py STALE_AFTER sessions old is refused as the weekly run's is
(stale_price, in RiskChecked); the close of what is held still goes. The week lifecycle's market read from CSV by the
CLI (tests/test_week_lifecycle.py); TLT's close before the open is the one Alpaca's iex feed gives of a quiet symbol:
its last bar's, of Wednesday (a CSV folder refuses a file that stops as stale instead: no quiet tail there)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.market.calendar import TradingCalendar
from llmtrade.market.quote_provider import quote_of
from llmtrade.market.quotes import QuoteService
from tests.support import going_live, stored_events
from tests.test_week_lifecycle import CHECKPOINT_ANSWERS, WEDNESDAY, scripted, write_market

runner = CliRunner()
CALENDAR = TradingCalendar()


def _quiet_tlt(monkeypatch: pytest.MonkeyPatch) -> None:
    """TLT's last close, read while the market is closed, is Wednesday's: no trade of it on the feed since (the quote
    service reads a quiet symbol's bars without the sessions its feed saw no trade of it in: market/untraded.py)."""
    closes = QuoteService._closes

    def quiet(self: QuoteService, symbols: list[str], now: object, *, everything: bool) -> tuple[dict, dict]:
        quotes, problems = closes(self, symbols, now, everything=everything)  # type: ignore[arg-type]
        if (tlt := quotes.get("TLT")) is not None:
            stamp = CALENDAR.session_close(WEDNESDAY)
            quotes["TLT"] = quote_of("TLT", tlt.price, stamp, tlt.provider, "close", synthetic=tlt.synthetic)
        return quotes, problems

    monkeypatch.setattr(QuoteService, "_closes", quiet)


def _checkpoint(monkeypatch: pytest.MonkeyPatch, folder: Path, now: str) -> tuple[dict, str]:
    """The week's run on Wednesday 08:00 (acct_2 buys TLT at the open), then a checkpoint at `now` (before the open)
    with TLT quiet since Wednesday; acct_2's owner answers FLIP (tests/test_week_lifecycle.py). acct_2's outcome, and
    the checkpoint prompt its owner was sent."""
    write_market(folder)
    stay = {"action": "STAY", "conviction_after": 2, "reason_delta": "nothing changed"}
    monkeypatch.setitem(CHECKPOINT_ANSWERS, "openai/gpt-5.1", stay)
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T08:00:00-05:00")
    with going_live(monkeypatch, scripted({s: 1.0 for s in ("SPY", "TLT", "GLD", "QQQ")}), market=folder) as fake:
        assert runner.invoke(app, ["run-weekly"]).exit_code == 0
        monkeypatch.setenv("LLMTRADE_NOW", now)
        _quiet_tlt(monkeypatch)
        since = len(fake.requests)
        result = runner.invoke(app, ["checkpoint", "09:00", "--json"])
    assert result.exit_code == 0, result.output
    texts = ["\n".join(str(m["content"]) for m in r["messages"]) for r in fake.requests[since:]]
    [prompt] = [t for t in texts if "Position: LONG TLT" in t]  # acct_2's owner's (acct_3 holds GLD)
    return next(a for a in json.loads(result.stdout)["accounts"] if a["account_id"] == "acct_2"), prompt


def test_a_checkpoint_does_not_size_a_flip_off_a_close_three_sessions_old(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Tuesday 09:00: TLT's last close is Wednesday's, 3 sessions before Monday's. The short of acct_2's FLIP would be
    sized off it: the gate closes the long and opens nothing, saying the close's day and age."""
    acct_2, prompt = _checkpoint(monkeypatch, tmp_path / "csv", "2026-01-13T09:00:00-05:00")
    assert acct_2["checkpoint"]["action"] == "FLIP"
    verdict = acct_2["verdict"]
    assert verdict["target_qty"] == 0 and verdict["reason"].startswith("stale_price"), verdict
    assert f"is of {WEDNESDAY}, 3 sessions before the last one ({date(2026, 1, 12)})" in verdict["reason"]
    assert [o["intent"] for o in acct_2["orders"]] == ["close"]
    # The owner was told: its price is a close of days ago, not one to argue from as current.
    assert f"TLT's price now is its last close, of {WEDNESDAY}, 3 sessions before the last complete session" in prompt


def test_a_checkpoint_sizes_a_flip_off_a_close_two_sessions_old_as_before(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Monday 09:00: TLT's last close is Wednesday's, 2 sessions before Friday's: the FLIP is sized as ever."""
    acct_2, prompt = _checkpoint(monkeypatch, tmp_path / "csv", "2026-01-12T09:00:00-05:00")
    assert acct_2["checkpoint"]["action"] == "FLIP"
    assert "last close" not in prompt, prompt  # nothing said of a close two sessions old
    assert acct_2["verdict"]["approved"] and acct_2["verdict"]["target_qty"] < 0, acct_2["verdict"]


def test_a_checkpoints_gate_is_told_the_age_of_each_mark_it_values_the_account_at(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The portfolio-level limits value the account's other positions at the run's prices (risk/stale.py
    `StaleMarks`): the gate is given the age of each that is a close more than a session old (PRICE_AGES, read from the
    quotes already read), TLT's of Wednesday here, and none of a fresh one. It was given none: a quiet symbol's stale
    mark counted in equity and its class as a price of the last session."""
    from llmtrade.risk import gate

    real, given = gate.check, []

    def spy(*args: object, **kwargs: object) -> object:
        given.append(kwargs.get("mark_ages"))
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(gate, "check", spy)
    acct_2, _ = _checkpoint(monkeypatch, tmp_path / "csv", "2026-01-13T09:00:00-05:00")
    assert acct_2["checkpoint"]["action"] == "FLIP"
    ages = next((a for a in given if a is not None), {})  # the weekly run's gate (before) is given none
    assert set(ages) == {"TLT"} and ages["TLT"].day == WEDNESDAY and ages["TLT"].sessions == 3, given


def test_a_leg_held_back_at_one_checkpoint_is_not_sent_at_the_next_off_a_close_gone_stale(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Monday 09:00: TLT's close is Wednesday's, 2 sessions old: acct_2's FLIP is sized, its close queued for the open
    and its short held back for the close's fill. Tuesday 09:00 the close has filled, and TLT's close is still
    Wednesday's, 3 sessions old now: the short, sized Monday, was sent all the same. It is given up alone, stale_price,
    and the checkpoint says so (PRICE_AGES reaches the execute stage: workflows/send_checks.py)."""
    folder = tmp_path / "csv"
    write_market(folder)
    stay = {"action": "STAY", "conviction_after": 2, "reason_delta": "nothing changed"}
    monkeypatch.setitem(CHECKPOINT_ANSWERS, "openai/gpt-5.1", stay)
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T08:00:00-05:00")
    with going_live(monkeypatch, scripted({s: 1.0 for s in ("SPY", "TLT", "GLD", "QQQ")}), market=folder):
        assert runner.invoke(app, ["run-weekly"]).exit_code == 0
        _quiet_tlt(monkeypatch)
        monkeypatch.setenv("LLMTRADE_NOW", "2026-01-12T09:00:00-05:00")
        monday = runner.invoke(app, ["checkpoint", "09:00", "--json"])
        assert monday.exit_code == 0, monday.output
        [acct_2] = [a for a in json.loads(monday.stdout)["accounts"] if a["account_id"] == "acct_2"]
        assert [o["intent"] for o in acct_2["orders"]] == ["close", "open"], acct_2
        leg = acct_2["orders"][1]["client_order_id"]
        monkeypatch.setenv("LLMTRADE_NOW", "2026-01-13T09:00:00-05:00")
        tuesday = runner.invoke(app, ["checkpoint", "09:00", "--json"])
    assert leg in tuesday.output and "stale_price: TLT's price now is its last close, of 2026-01-07, 3" in (
        tuesday.output
    ), tuesday.output
    sent = [e for e in stored_events(cli_env["DATABASE_URL"], type="OrderSubmitted")]
    assert leg not in [e.payload["order"]["client_order_id"] for e in sent]
