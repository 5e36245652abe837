"""SPY crashes to exactly a quarter of Tuesday's close at Wednesday's open and stays there all day, with one provider
and no split: a price at a 4-for-1 split's factor is no price until a split is recorded (market/quote_checks.py), and
none ever is. Driven by `run-due` with the clock set, on a real PostgreSQL (the scripted week of
tests/test_week_lifecycle.py: acct_1 and acct_5 hold SPY, whose frozen stop is 3% under Tuesday's close).

What the checkpoints and the stops do then: every checkpoint of the day judges the other accounts and leaves these
two waiting (exit 75: their stop is not checked, nothing of theirs is traded) until its deadline, the next
checkpoint. Past it the checkpoint was never due again and never closed: no marker, the two accounts recorded
nowhere as not judged. Now the first wake-up past each deadline closes it, saying who was not judged and why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from tests.support import stored_events
from tests.test_event_checkpoint import _intraday
from tests.test_week_lifecycle import week  # noqa: F401 (the fixture)

runner = CliRunner()
SLOTS = ("12:00", "14:00", "15:50")


def _markers(url: str) -> list[str]:
    return [e.payload["time"] for e in stored_events(url, type="CheckpointCompleted")]


def test_an_account_holding_a_symbol_crashed_to_a_splits_factor_waits_each_checkpoints_deadline_not_past_it(
    week: Any,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    _, url, closes = week
    assert runner.invoke(app, ["run-weekly"]).exit_code == 0
    _intraday(tmp_path / "csv", "SPY", closes["SPY"], [("09:30", 0.25)])
    for instant, slot in (("12:01", "12:00"), ("12:30", "12:00"), ("14:01", "14:00"), ("15:51", "15:50")):
        monkeypatch.setenv("LLMTRADE_NOW", f"2026-01-07T{instant}:00-05:00")
        waiting = runner.invoke(app, ["run-due"])
        assert waiting.exit_code == 75, waiting.output
        assert f"checkpoint 2026-01-07 {slot}: not judged yet" in waiting.output
        assert "acct_1: SPY" in waiting.output and "4-for-1 split's factor" in waiting.output
    # At 14:01 and 15:51 the checkpoint before had passed its deadline: closed, naming the accounts not judged.
    assert _markers(url) == ["12:00", "14:00"]
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T16:05:00-05:00")
    after = runner.invoke(app, ["run-due"])
    assert after.exit_code == 0, after.output
    [line] = [s for s in after.output.splitlines() if "checkpoint:2026-01-07T15:50 closed" in s]
    assert "acct_1 not judged by the deadline 2026-01-07T16:00:00-05:00" in line and "split's factor" in line
    assert _markers(url) == list(SLOTS)
    for slot in SLOTS:
        stream = f"week:2026-01-07:checkpoint:2026-01-07T{slot}"
        for account in ("acct_1", "acct_5"):
            [skipped] = stored_events(url, type="CheckpointSkipped", stream=f"{stream}:{account}")
            assert skipped.payload["reason"].startswith("not judged by the deadline")
            assert "SPY" in skipped.payload["reason"] and "split's factor" in skipped.payload["reason"]
            [missing] = stored_events(url, type="InputsMissing", stream=f"{stream}:{account}")
            assert missing.payload["missing"] == [account]
        # The others were judged by the run itself, once.
        assert len(stored_events(url, type="CheckpointTaken", stream=f"{stream}:acct_3")) == 1
    # The stop was never checked at a price that may be a split's: no SPY order all day.
    orders = [e.payload["order"] for e in stored_events(url, type="OrderSubmitted")]
    assert not [o for o in orders if o["symbol"] == "SPY" and "0107T" in o["client_order_id"]]
    count = len(stored_events(url))
    assert runner.invoke(app, ["run-due"]).exit_code == 0  # nothing left to close
    assert len(stored_events(url)) == count
