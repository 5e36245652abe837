"""A held symbol whose prices stop (its CSV file no longer written, a ticker delisted, renamed or halted for days) is
no wait: the checkpoint skips its holders saying why and what to do, judges every other account, and is degraded.

Before, every checkpoint deferred such an account with exit 75 (a wait, not mailed after the first wake-up) until its
deadline, then closed it "not judged" and began again at the next one, for as long as the feed stayed dead; and before
the open one such symbol failed the whole checkpoint (exit 1 at every wake-up), no account judged. A price missing for
a moment (today's row not written yet, while the file has every session before) is still a wait.

The scripted week of tests/test_week_lifecycle.py on its CSV market: acct_3 holds GLD from Wednesday's open.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from tests.support import stored_events
from tests.test_held_priced_outside_universe import _without
from tests.test_week_lifecycle import sync_intraday, week

__all__ = ["week"]

runner = CliRunner()


def _gld_ends_wednesday(folder: Path) -> None:
    """GLD.csv (and its intraday file) as a download script that stopped getting its rows after Wednesday leaves it."""
    _cut(folder / "GLD.csv")
    sync_intraday(folder)


def _cut(path: Path) -> None:
    """`path` without its rows after Wednesday 2026-01-07."""
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], *(line for line in lines[1:] if line[:10] <= "2026-01-07")]) + "\n")


def _checkpoint(monkeypatch: pytest.MonkeyPatch, at: str, hhmm: str) -> Any:
    monkeypatch.setenv("LLMTRADE_NOW", at)
    return runner.invoke(app, ["checkpoint", hhmm, "--json"])


@pytest.mark.parametrize("at,hhmm", [("2026-01-09T12:00:00-05:00", "12:00"), ("2026-01-09T09:00:00-05:00", "09:00")])
def test_a_held_symbol_whose_prices_stopped_skips_its_account_saying_why_and_judges_the_others(
    week: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, at: str, hhmm: str
) -> None:
    _, url, _ = week
    assert runner.invoke(app, ["-q", "run-weekly"]).exit_code == 0
    _gld_ends_wednesday(tmp_path / "csv")
    result = _checkpoint(monkeypatch, at, hhmm)  # Friday: Thursday's GLD row never came
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    by_account = {a["account_id"]: a for a in report["accounts"]}
    skipped = by_account["acct_3"]["skipped"]
    assert skipped.startswith("no price to wait for: GLD has none, and waiting will not bring one: ")
    assert "GLD.csv" in skipped and "the last bar is 2026-01-07" in skipped
    assert "close the position at the broker" in skipped  # what to do
    # The other accounts were judged: before the open one stale file failed them all.
    assert all(by_account[a]["skipped"] is None for a in ("acct_1", "acct_2", "acct_4", "acct_5")), by_account
    assert any("acct_3" in line and "no price to wait for" in line for line in report["degraded"])
    assert "acct_3 not judged: no price to wait for: GLD" in result.stderr
    [finished] = stored_events(url, type="RunFinished")[-1:]
    assert finished.payload["degraded"] is True
    [skip] = [e for e in stored_events(url, type="CheckpointSkipped") if e.account_id == "acct_3"]
    assert skip.payload["reason"] == skipped
    assert not stored_events(url, type="StageDeferred")  # no wait to the deadline


def test_a_held_symbol_whose_row_of_today_is_not_written_yet_is_still_a_wait(
    week: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    week  # noqa: B018
    assert runner.invoke(app, ["-q", "run-weekly"]).exit_code == 0
    _gld_ends_wednesday(tmp_path / "csv")
    # Thursday noon: every session closed before is in the file; only today's rows are not there yet.
    result = _checkpoint(monkeypatch, "2026-01-08T12:00:00-05:00", "12:00")
    assert result.exit_code == 75, result.output
    assert "acct_3: GLD" in result.output and "A rerun judges these until" in result.output


def test_a_postmortem_valuing_a_held_symbol_whose_prices_ended_at_its_last_close_says_so_and_is_degraded(
    week: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """GLD's file stopped after Wednesday and the user took GLD out of the universe (as the stale file's message says):
    the postmortem stored acct_3's end equity with GLD at its cost, a week P/L the account never made, remembered as the
    week's outcome, and exited 0 saying nothing. It is valued at its last close (Wednesday's), as the leaderboard
    values it, and the postmortem says which account and symbol, why, and is degraded."""
    _, url, _ = week
    assert runner.invoke(app, ["-q", "run-weekly"]).exit_code == 0
    _gld_ends_wednesday(tmp_path / "csv")
    no_gld = _without("GLD", tmp_path / "config")
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-13T16:45:00-05:00")
    done = runner.invoke(app, ["--config", str(no_gld), "-q", "postmortem", "--week", "2026-01-07", "--json"])
    assert done.exit_code == 0, done.output
    [said] = [line for line in done.stderr.splitlines() if "acct_3" in line]
    assert said.startswith("postmortem 2026-01-07: acct_3's end equity has GLD valued at its last close (2026-01-07: ")
    assert "the last bar is 2026-01-07" in said
    assert any("acct_3's end equity has GLD valued at its last close" in d for d in json.loads(done.stdout)["degraded"])
    [end] = stored_events(url, type="RunFinished")[-1:]  # the postmortem's
    assert end.payload["degraded"] is True


def test_a_csv_folder_behind_as_a_whole_is_a_wait_not_prices_ended(
    week: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Every file short of Thursday's row on Friday (the download script has not run yet): before, every holder was
    skipped as "waiting will not bring one" and told to take its symbol out of the universe; SPY's file stopping at the
    same day says the feed is late, not the symbol's prices ended."""
    _, url, _ = week
    assert runner.invoke(app, ["-q", "run-weekly"]).exit_code == 0
    for path in (tmp_path / "csv").glob("*.csv"):
        _cut(path)
    sync_intraday(tmp_path / "csv")
    result = _checkpoint(monkeypatch, "2026-01-09T12:00:00-05:00", "12:00")
    assert result.exit_code == 75, result.output
    assert "no price to wait for" not in result.output and "acct_3: GLD" in result.output  # waited for
    skipped = [e.payload["reason"] for e in stored_events(url, type="CheckpointSkipped")]
    assert not [why for why in skipped if "no price to wait for" in why], skipped


def test_a_held_symbol_whose_prices_ended_lets_the_postmortem_close_the_week_and_status_value_the_rest(
    week: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Before, the postmortem's read of the universe failed on GLD's stale file at every wake-up (exit 1), holding back
    the next weekly run, and `status` valued every account's positions at cost. Now acct_3's end equity has GLD at its
    last close, said and degraded (tests/test_held_ended_last_close.py), and the rest are valued."""
    _, url, _ = week
    assert runner.invoke(app, ["-q", "run-weekly"]).exit_code == 0
    _gld_ends_wednesday(tmp_path / "csv")
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-13T17:00:00-05:00")
    done = runner.invoke(app, ["postmortem", "--json"])
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    [at_close] = report["degraded"]
    assert at_close.startswith("acct_3's end equity has GLD valued at its last close") and "GLD.csv" in at_close
    assert stored_events(url, type="PostmortemCompleted")
    shown = runner.invoke(app, ["status", "--json"])
    assert shown.exit_code == 0, shown.output  # GLD at its last close, said: no longer a price failed (exit 1)
    status = json.loads(shown.stdout)
    assert status["at_last_close"] == {"GLD": "2026-01-07"} and status["prices_failed"] is None
    assert status["valued_at"] == "2026-01-13"  # the others at the last close, not every position at cost
    assert not [w for w in status["warnings"] if w.startswith("prices unavailable")]
