"""An account's instrument without a price now, at each run-due wake-up's look for a move (app/event_checkpoints.py),
is said once, under -q, not at every wake-up: a symbol halted at 12:30 (its quotes stale from then) mailed cron a line
every five minutes to the close, each naming its own time, so no two alike. Said once while the account's instrument
has none, said again for another instrument, and its end (the next price had) said once too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from tests.support import stored_events
from tests.test_event_checkpoint import _intraday, _through_noon, market  # noqa: F401  (a fixture)

runner = CliRunner()


def _wake(monkeypatch: pytest.MonkeyPatch, at: str, *options: str) -> tuple[int, str]:
    monkeypatch.setenv("LLMTRADE_NOW", f"2026-01-07T{at}:00-05:00")
    woke = runner.invoke(app, [*options, "run-due"])
    return woke.exit_code, woke.stderr


def _halted_at(path: Path, hhmm: str) -> None:
    """The intraday file at `path` cut after `hhmm`: no price after it, as for a symbol halted then."""
    rows = path.read_text().splitlines()
    path.write_text("\n".join([rows[0], *(r for r in rows[1:] if r[11:16] <= hhmm)]) + "\n")


def test_an_instrument_without_a_price_now_is_said_once_and_its_price_back_once(
    market: Any,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, url, closes, tmp_path = market
    _through_noon(monkeypatch)
    intraday = tmp_path / "csv" / "intraday" / "QQQ.csv"
    _halted_at(intraday, "12:30")
    code, said = _wake(monkeypatch, "13:05", "-q")
    assert code == 0, said
    [line] = said.splitlines()
    assert line.startswith("acct_4: no price for QQQ now, no event checkpoint (") and "35 min old" in line, said
    # The next wake-ups meet the same: nothing under -q, though each one's text differs (40, 45 min old).
    assert _wake(monkeypatch, "13:10", "-q") == (0, "")
    assert _wake(monkeypatch, "13:15", "-q") == (0, "")
    code, said = _wake(monkeypatch, "13:20")  # without -q: that it lasts
    assert code == 0 and "acct_4: still no price for QQQ now" in said and "50 min old" in said, said
    # Trading again (flat, so no move fires a checkpoint): said once that it is priced again.
    _intraday(tmp_path / "csv", "QQQ", closes["QQQ"], [])
    code, said = _wake(monkeypatch, "13:25", "-q")
    assert code == 0, said
    [line] = said.splitlines()
    assert line.startswith("acct_4: QQQ has a price again"), said
    assert _wake(monkeypatch, "13:30", "-q") == (0, "")
    recorded = stored_events(url, stream="event-quotes-failed:acct_4")
    assert [(e.payload["symbol"], e.payload["error"] is None) for e in recorded] == [("QQQ", False), ("QQQ", True)]
    # Halted again: said again.
    _halted_at(intraday, "13:30")
    code, said = _wake(monkeypatch, "14:00", "-q")
    assert code == 0 and said.startswith("acct_4: no price for QQQ now, no event checkpoint ("), said
