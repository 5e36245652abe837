"""A week's new instrument is sized off the account as it will be once its roll has sold what else is held at those
symbols' last closes (workflows/roll_sizing.py `after_roll`). A quiet symbol's close (no trade of it on its feed: a thin
name on Alpaca's iex feed, a halt) may be up to market/untraded.py QUIET_TAIL sessions old: the sale fills at whatever
the next trade is, and the new position was sized off money it may not bring. More than risk/stale.py STALE_AFTER
sessions old, the open is refused as stale_price, in RiskChecked; the roll still sells. The week lifecycle's market,
read from CSV by the CLI (tests/test_week_lifecycle.py), its second week's snapshot with TLT's close of a Wednesday
before, as a quiet feed gives it (a CSV folder refuses a file that stops as stale instead: no quiet tail there)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.clock import FixedClock
from llmtrade.domain.trading import OrdersPlanned, RiskChecked, RiskVerdict
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import open_storage
from llmtrade.workflows import research_stages
from tests.support import going_live
from tests.test_week_lifecycle import PITCHES, WEDNESDAY, scripted, write_market

runner = CliRunner()


def _quiet_tlt(monkeypatch: pytest.MonkeyPatch) -> None:
    """The week's snapshot has TLT's close of WEDNESDAY (the week before): no trade of it on the feed since."""
    taken = research_stages.week_snapshot

    def quiet(*args: object, **kwargs: object) -> object:
        snapshot = taken(*args, **kwargs)  # type: ignore[arg-type]
        indicators = dict(snapshot.indicators)
        indicators["TLT"] = indicators["TLT"].model_copy(update={"asof_day": WEDNESDAY})
        return snapshot.model_copy(update={"indicators": indicators})

    monkeypatch.setattr(research_stages, "week_snapshot", quiet)


def _second_week(cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, folder: Path) -> tuple:
    """acct_2 buys TLT in the first week and moves to GLD in the second; acct_2's last verdict and plan."""
    write_market(folder)
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T08:00:00-05:00")
    with going_live(monkeypatch, scripted({s: 1.0 for s in ("SPY", "TLT", "GLD", "QQQ")}), market=folder):
        assert runner.invoke(app, ["run-weekly"]).exit_code == 0
        monkeypatch.setenv("LLMTRADE_NOW", "2026-01-14T08:00:00-05:00")
        monkeypatch.setitem(PITCHES, "google/gemini-3-pro-preview", ("GLD", 2))  # acct_2's PM moves to GLD
        _quiet_tlt(monkeypatch)
        result = runner.invoke(app, ["run-weekly"])
    assert result.exit_code == 0, result.output
    with open_storage(Settings(), FixedClock(datetime(2026, 1, 14, 13, tzinfo=UTC))) as storage:
        checked = [RiskChecked.from_event(e).verdict for e in storage.events.read(type=RiskChecked.event_type())]
        planned = [OrdersPlanned.from_event(e) for e in storage.events.read(type=OrdersPlanned.event_type())]
    verdicts: list[RiskVerdict] = [v for v in checked if v.account_id == "acct_2"]
    return verdicts, [p for p in planned if p.account_id == "acct_2"][-1], checked


def test_a_new_instrument_is_not_sized_off_the_sale_of_a_held_one_at_a_close_four_sessions_old(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    verdicts, plan, checked = _second_week(cli_env, monkeypatch, tmp_path / "csv")
    acct_2 = verdicts[-1]
    assert (acct_2.instrument, acct_2.approved, acct_2.target_qty) == ("GLD", False, 0), acct_2
    assert acct_2.reason.startswith("stale_price") and "TLT's last close" in acct_2.reason, acct_2.reason
    assert f"of {WEDNESDAY}, 4 sessions before the last one (2026-01-13)" in acct_2.reason, acct_2.reason
    assert [(o.symbol, o.intent) for o in plan.orders] == [("TLT", "close")]  # the roll still sells TLT
    acct_3 = [v for v in checked if v.account_id == "acct_3"][-1]
    assert (acct_3.instrument, acct_3.approved) == ("GLD", True) and acct_3.target_qty > 0  # holds no TLT: sized
