"""A live (paper) week on a CSV folder of daily files only: no `intraday/SYMBOL.csv`, and each day's row written after
its close, as a download script run in the evening leaves it. A new user's cron trial: every in-session checkpoint
waited all day for a price that could not come (exit 75 at every wake-up), then closed not judged past its deadline,
and `config validate` and `status` had said nothing of it.

The scripted week of tests/test_week_lifecycle.py, its intraday files taken away.
"""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.workflows.checkpoint_trade import DecideStage, ExecuteStage
from tests.support import stored_events
from tests.test_checkpoint_stages import _killed
from tests.test_week_lifecycle import week, write_intraday

__all__ = ["week"]

runner = CliRunner()


def daily_only(folder: Path, through: str) -> None:
    """`folder` as an evening download leaves it on the day after `through` (YYYY-MM-DD): its daily files' rows
    through that day, and no intraday file."""
    shutil.rmtree(folder / "intraday")
    for path in folder.glob("*.csv"):
        lines = path.read_text().splitlines()
        path.write_text("\n".join([lines[0], *(line for line in lines[1:] if line[:10] <= through)]) + "\n")


def test_config_validate_and_status_say_in_session_checkpoints_cannot_be_judged_on_daily_files_only(
    week: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    week  # noqa: B018
    assert runner.invoke(app, ["-q", "run-weekly"]).exit_code == 0
    folder = tmp_path / "csv"
    checked = runner.invoke(app, ["config", "validate"])
    assert checked.exit_code == 0, checked.output
    assert "in-session checkpoints" not in checked.output  # intraday files: priced in session
    daily_only(folder, "2026-01-07")
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-08T08:00:00-05:00")
    checked = runner.invoke(app, ["config", "validate"])
    assert checked.exit_code == 0, checked.output  # said, not refused
    assert "configuration OK" in checked.stdout
    [said] = [line for line in checked.stderr.splitlines() if "in-session checkpoints" in line]
    assert "in-session checkpoints (12:00, 14:00, 15:50) cannot be judged on the prices set" in said  # not 09:00
    assert f"the CSV folder {folder} has daily files only" in said
    assert "no provider prices a symbol of the universe in session" in said
    assert "intraday/SYMBOL.csv: Timestamp,Price" in said and "(alpaca, yfinance)" in said  # what mends it
    assert "skips an account holding one at its first wake-up" in said
    status = runner.invoke(app, ["status"])
    assert status.exit_code == 0, status.output
    assert said in status.stderr


def test_an_in_session_checkpoint_on_daily_files_only_says_why_at_once_and_skips_its_holders_not_judged(
    week: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Thursday: every account holds a symbol of the folder, whose rows stop at Wednesday's. Before, the checkpoint
    deferred them all (exit 75: "not judged yet, holding a symbol without a price now", a generic wait) at every
    wake-up to its deadline, then closed them not judged; now its first wake-up says why in one line, records each
    skip, and is done. Nothing is judged on Wednesday's close as if it were a price of Thursday's session."""
    _, url, closes = week
    assert runner.invoke(app, ["-q", "run-weekly"]).exit_code == 0
    folder = tmp_path / "csv"
    daily_only(folder, "2026-01-07")
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-08T12:00:00-05:00")
    result = runner.invoke(app, ["checkpoint", "12:00", "--json"])
    assert result.exit_code == 0, result.output
    said = [line for line in result.stderr.splitlines() if "not judged" in line]
    assert len(said) == 1, result.stderr
    assert said[0].startswith("checkpoint 2026-01-08 12:00: acct_1, acct_2, acct_3, acct_4, acct_5 not judged: ")
    assert f"the CSV folder {folder} has daily files only" in said[0] and "none of 2026-01-08 there yet" in said[0]
    assert "intraday/SYMBOL.csv: Timestamp,Price" in said[0] and "(alpaca, yfinance)" in said[0]
    report = json.loads(result.stdout)
    by_account = {a["account_id"]: a for a in report["accounts"]}
    skips = {e.account_id: e.payload["reason"] for e in stored_events(url, type="CheckpointSkipped")}
    for account in ("acct_1", "acct_2", "acct_3", "acct_4", "acct_5"):
        assert skips[account].startswith("no price in session: "), skips[account]
        assert by_account[account]["skipped"] == skips[account]
    assert "acct_3" in skips and "GLD" in skips["acct_3"] and "SPY" not in skips["acct_3"]  # its own symbol
    assert len(report["degraded"]) == 5
    assert not stored_events(url, type="StageDeferred") and not stored_events(url, type="CheckpointTaken")
    assert len(stored_events(url, type="CheckpointCompleted")) == 1
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-08T12:05:00-05:00")
    again = runner.invoke(app, ["-q", "run-due"])  # cron's next wake-up: done, said no more
    assert again.exit_code == 0 and "not judged" not in again.output, again.output

    # A process of the user's writes intraday rows later: the next checkpoint reads them and judges.
    write_intraday(folder, "SPY", {date(2026, 1, 8): closes["SPY"] * 0.90})
    for symbol in ("TLT", "GLD", "QQQ"):
        write_intraday(folder, symbol, {date(2026, 1, 8): closes[symbol]})
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-08T14:00:00-05:00")
    judged = runner.invoke(app, ["checkpoint", "14:00", "--json"])
    assert judged.exit_code == 0, judged.output
    assert "no price in session" not in judged.output
    assert {e.account_id for e in stored_events(url, type="CheckpointTaken")} >= {"acct_2", "acct_3", "acct_4"}


def _noon_orders(url: str) -> list[str]:
    """The client order id of every noon order submitted, repeats kept."""
    ids = [e.payload["order"]["client_order_id"] for e in stored_events(url, type="OrderSubmitted")]
    return [i for i in ids if "T1200" in i]


def test_an_account_decided_before_a_crash_on_daily_files_only_is_not_traded_and_said_at_once(
    week: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Noon, Wednesday: every account judged and decided (acct_1 and acct_5 exit SPY, acct_2 flips TLT), then the run
    killed before sending; the folder is then an evening download's, daily files only. Before, the rerun waited for
    each decided account's price (exit 75, "TLT (no price now)") at every wake-up to the checkpoint's deadline, though
    no provider could price it in the session; the accounts not judged yet were skipped at once (commit 3ca0fb59).
    Now the decided accounts are said at once too, in one line, the run degraded: their orders not sent (never at a
    stale daily price), given up (PlanAbandoned, after asking the broker), and never sent later by a repeat that finds
    a price (which says the abandonment again, as a repeat does)."""
    _, url, closes = week
    assert runner.invoke(app, ["-q", "run-weekly"]).exit_code == 0
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T12:00:00-05:00")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ExecuteStage, "run", _killed)
        assert runner.invoke(app, ["checkpoint", "12:00"]).exit_code != 0
    decided = {e.account_id for e in stored_events(url, type="OrdersPlanned") if ":checkpoint:" in e.stream}
    planned = {e.account_id: e.payload["orders"] for e in stored_events(url, type="OrdersPlanned")}
    traded = {a for a in decided if planned[a]}
    assert traded >= {"acct_1", "acct_2", "acct_5"} and not _noon_orders(url)
    folder = tmp_path / "csv"
    daily_only(folder, "2026-01-06")
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T12:05:00-05:00")
    result = runner.invoke(app, ["checkpoint", "12:00", "--json"])
    assert result.exit_code == 0, result.output
    said = [line for line in result.stderr.splitlines() if "no price in session" in line]
    assert len(said) == 1, result.stderr
    assert said[0].startswith(f"checkpoint 2026-01-07 12:00: {', '.join(sorted(traded))} judged, not traded: ")
    assert f"the CSV folder {folder} has daily files only" in said[0]
    report = json.loads(result.stdout)
    by_account = {a["account_id"]: a for a in report["accounts"]}
    for account in traded:
        assert by_account[account]["skipped"].startswith("no price in session: "), by_account[account]
    assert len(report["degraded"]) == len(traded)
    assert not stored_events(url, type="StageDeferred") and not _noon_orders(url)
    given_up = {e.account_id: e.payload for e in stored_events(url, type="PlanAbandoned")}
    assert set(given_up) == traded
    for account, gone in given_up.items():
        assert gone["reason"].startswith("no price in session: ") and gone["whole_plan"]  # none of it went
        assert sorted(gone["client_order_ids"]) == sorted(o["client_order_id"] for o in planned[account])
    assert len(stored_events(url, type="CheckpointCompleted")) == 1

    # Intraday rows written later: a repeat of the noon checkpoint sends none of them at the later price.
    for symbol in ("SPY", "TLT", "GLD", "QQQ"):
        write_intraday(folder, symbol, {date(2026, 1, 7): closes[symbol]})
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T12:20:00-05:00")
    again = runner.invoke(app, ["checkpoint", "12:00"])
    assert again.exit_code == 0, again.output
    assert not _noon_orders(url)
    assert len(stored_events(url, type="PlanAbandoned")) == len(traded)  # given up once


def _verdicts(url: str) -> dict[str, Any]:
    """Each account's noon checkpoint verdict stored."""
    return {
        e.account_id: e.payload["verdict"] for e in stored_events(url, type="RiskChecked") if ":checkpoint:" in e.stream
    }


def test_an_account_judged_before_a_crash_on_daily_files_only_is_decided_not_traded_and_said_at_once(
    week: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Noon, Wednesday: every account judged, then the run killed before deciding; the folder is then an evening
    download's, daily files only. Before, the rerun waited for each judged account's price ("TLT (no price now)",
    exit 75) at every wake-up to the checkpoint's deadline. Now they are said at once in one line, the run degraded,
    and each judgement is decided not traded (a refused verdict, an empty plan, stored): nothing sized at a stale daily
    price, and a repeat that finds a price later decides nothing again."""
    _, url, closes = week
    assert runner.invoke(app, ["-q", "run-weekly"]).exit_code == 0
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T12:00:00-05:00")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DecideStage, "run", _killed)
        assert runner.invoke(app, ["checkpoint", "12:00"]).exit_code != 0
    judged = {
        e.account_id for e in stored_events(url, type="CheckpointTaken") if e.payload["checkpoint"]["action"] != "STAY"
    }
    assert judged >= {"acct_1", "acct_2", "acct_5"} and not _verdicts(url)
    folder = tmp_path / "csv"
    daily_only(folder, "2026-01-06")
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T12:05:00-05:00")
    result = runner.invoke(app, ["checkpoint", "12:00", "--json"])
    assert result.exit_code == 0, result.output
    said = [line for line in result.stderr.splitlines() if "no price in session" in line]
    assert len(said) == 1, result.stderr
    assert said[0].startswith(f"checkpoint 2026-01-07 12:00: {', '.join(sorted(judged))} judged, not traded: ")
    report = json.loads(result.stdout)
    by_account = {a["account_id"]: a for a in report["accounts"]}
    for account in judged:
        assert by_account[account]["skipped"].startswith("no price in session: "), by_account[account]
    assert len(report["degraded"]) == len(judged)
    verdicts = _verdicts(url)
    assert set(verdicts) == judged
    for verdict in verdicts.values():
        assert not verdict["approved"] and verdict["reason"].startswith("no price in session: ")
    plans = [e.payload for e in stored_events(url, type="OrdersPlanned") if ":checkpoint:" in e.stream]
    assert len(plans) == len(judged) and not any(p["orders"] for p in plans)
    assert not stored_events(url, type="StageDeferred") and not _noon_orders(url)
    assert len(stored_events(url, type="CheckpointCompleted")) == 1

    for symbol in ("SPY", "TLT", "GLD", "QQQ"):
        write_intraday(folder, symbol, {date(2026, 1, 7): closes[symbol]})
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T12:20:00-05:00")
    again = runner.invoke(app, ["checkpoint", "12:00"])
    assert again.exit_code == 0, again.output
    assert not _noon_orders(url) and _verdicts(url) == verdicts
