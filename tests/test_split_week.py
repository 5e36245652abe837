"""A split in a live week, end to end: run-weekly, a checkpoint, the provider's history restated by a 4-for-1 split
on Thursday, Friday's checkpoint. The CLI, the committee on the fake LLM server, the lifecycle's market read as the
CSV provider (a file rewritten in place answers as a provider that restated its history)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.clock import FixedClock
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import open_storage
from tests.conftest import FIXED_NOW
from tests.support import going_live
from tests.test_week_lifecycle import CHECKPOINT_ANSWERS, scripted, write_market

runner = CliRunner()
THURSDAY = date(2026, 1, 8)


def _restate(path: Path, ratio: float) -> None:
    """The file's every price divided by `ratio`: a history restated after a split."""
    lines = path.read_text().splitlines()
    out = [lines[0]]
    for line in lines[1:]:
        day, *prices, volume = line.split(",")
        out.append(",".join([day, *(str(float(p) / ratio) for p in prices), volume]))
    path.write_text("\n".join(out) + "\n")


def live_csv_week(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[Path, dict[str, float]]:
    """A live week from Wednesday 08:00 whose prices are CSV files (a file rewritten in place answers as a provider that
    restated its history; going_live(market=folder) reads them), the owners staying at every checkpoint: the folder,
    and write_market's closes."""
    folder = tmp_path / "csv"
    closes = write_market(folder)
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T08:00:00-05:00")
    stay = {"action": "STAY", "conviction_after": 2, "reason_delta": "nothing changed"}
    monkeypatch.setitem(CHECKPOINT_ANSWERS, "openai/gpt-5.1", stay)
    return folder, closes


def test_a_split_during_a_live_week_keeps_the_paper_accounts_whole(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    folder, closes = live_csv_week(monkeypatch, tmp_path)
    stop_at_half = scripted({"SPY": closes["SPY"] * 0.5 / 0.97})
    with going_live(monkeypatch, stop_at_half, market=folder):
        assert runner.invoke(app, ["run-weekly"]).exit_code == 0
        monkeypatch.setenv("LLMTRADE_NOW", "2026-01-08T09:00:00-05:00")
        before = runner.invoke(app, ["checkpoint", "09:00", "--json"])
        assert before.exit_code == 0, before.output
        _restate(folder / "SPY.csv", 0.25**-1)  # SPY split 4-for-1 on Thursday: its history restated
        monkeypatch.setenv("LLMTRADE_NOW", "2026-01-09T09:00:00-05:00")
        after = runner.invoke(app, ["-q", "checkpoint", "09:00", "--json"])
        assert after.exit_code == 0, after.output
        monkeypatch.setenv("LLMTRADE_NOW", "2026-01-13T16:31:00-05:00")
        postmortem = runner.invoke(app, ["postmortem", "--week", "2026-01-07", "--json"])
        assert postmortem.exit_code == 0, postmortem.output
    assert "SPY split 4-for-1 on 2026-01-08" in after.stderr  # a warning: said under -q
    with open_storage(Settings(DATABASE_URL=cli_env["DATABASE_URL"]), FixedClock(FIXED_NOW)) as storage:
        [split] = [e.payload for e in storage.events.read(type="SplitDetected")]
        valued = [e.payload for e in storage.events.read(type="AccountValued")]
        halts = storage.events.read(type="AccountHalted")
    assert (split["ex_day"], split["looks_like"]) == (str(THURSDAY), "4-for-1")
    assert halts == []
    accounts = json.loads(before.stdout)["accounts"]
    owners = [a["account_id"] for a in accounts if (a["checkpoint"] or {}).get("instrument") == "SPY"]
    assert owners, "an account holds SPY over the split"
    for account_id in owners:
        marks = [v for v in valued if v["account_id"] == account_id]
        thursday, friday = marks[-2], marks[-1]
        assert (thursday["occasion"], friday["occasion"]) == (
            "checkpoint 2026-01-08 09:00",
            "checkpoint 2026-01-09 09:00",
        )
        # SPY is flat after Wednesday: the equity is where it was, not 75% down.
        assert abs(friday["equity"] / thursday["equity"] - 1) < 0.01, (account_id, thursday, friday)
    # SPY's stop (close < half of Tuesday's close, frozen in the shares before the split) is a quarter of that after
    # it: the first price after the split held the stop as frozen, and the rule sold every owner's position at
    # Friday's checkpoint on an invalidation that never happened. The owners are asked, as on Thursday.
    decided = {a["account_id"]: (a["checkpoint"] or {}) for a in json.loads(after.stdout)["accounts"]}
    assert [decided[o]["decided_by"] for o in owners] == ["owner"] * len(owners)
    # The postmortem judges the week in the same shares: SPY's move from the week's opening close (before the split)
    # to Tuesday's close (after it) is the move traded, not -75%, and the stop did not fire.
    last_close = float((folder / "SPY.csv").read_text().splitlines()[-1].split(",")[4])
    rows = {a["account_id"]: a for a in json.loads(postmortem.stdout)["accounts"]}
    for account_id in owners:
        assert rows[account_id]["instrument_return"] == pytest.approx(last_close * 4 / closes["SPY"] - 1, abs=1e-6)
        stop = next(i for i in rows[account_id]["indicators"] if i["role"] == "invalidation")
        assert stop["indicator"] == "close" and stop["held"] is True
