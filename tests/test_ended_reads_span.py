"""What a checkpoint and `status` ask the feed for a held symbol whose prices ended (its CSV file no longer written):
its last days, never a year of bars at every call. Before, market/ended_prices.ended_last_bars read the 366 days to
the last session for its last bar, and status's drawdown the books' whole range to it again, from the provider at
every wake-up (an HTTP provider asked a year of bars each time). Counted, not timed: the spans asked of the provider.

The scripted week of tests/test_week_lifecycle.py on its CSV market: acct_3 holds GLD from Wednesday's open; GLD.csv
stops after that Wednesday.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.market.csv_folder import CsvFolderProvider
from tests.test_checkpoint_prices_ended import _gld_ends_wednesday
from tests.test_week_lifecycle import week

__all__ = ["week"]

runner = CliRunner()

# The longest range a read of the ended symbol alone may span: the judgement's look-back windows read 10 sessions
# (about 25 calendar days) each, the last bar's read from the nearest window's end, a week here.
_SPAN_DAYS = 40


def test_a_held_symbol_whose_prices_ended_is_read_for_its_last_days_not_a_year(
    week: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    week  # noqa: B018
    assert runner.invoke(app, ["-q", "run-weekly"]).exit_code == 0
    _gld_ends_wednesday(tmp_path / "csv")
    spans: list[tuple[date, date]] = []
    read = CsvFolderProvider.daily_bars

    def counted(self: CsvFolderProvider, symbols: list[str], start: date, end: date) -> Any:
        if list(symbols) == ["GLD"]:
            spans.append((start, end))
        return read(self, symbols, start, end)

    monkeypatch.setattr(CsvFolderProvider, "daily_bars", counted)
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-09T12:00:00-05:00")
    checkpoint = runner.invoke(app, ["checkpoint", "12:00", "--json"])
    assert checkpoint.exit_code == 0, checkpoint.output
    assert spans, "the checkpoint read nothing of GLD"
    assert max((end - start).days for start, end in spans) <= _SPAN_DAYS, spans
    spans.clear()
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-09T17:00:00-05:00")
    shown = runner.invoke(app, ["status", "--json"])
    assert shown.exit_code == 0, shown.output
    status = json.loads(shown.stdout)
    assert status["at_last_close"] == {"GLD": "2026-01-07"}  # still valued at its last close
    assert spans, "status read nothing of GLD"
    assert max((end - start).days for start, end in spans) <= _SPAN_DAYS, spans


def test_status_reads_the_closes_to_the_last_bar_once_then_the_bar_cache_holds_them(
    week: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    week  # noqa: B018
    assert runner.invoke(app, ["-q", "run-weekly"]).exit_code == 0
    _gld_ends_wednesday(tmp_path / "csv")
    ends: list[date] = []
    read = CsvFolderProvider.daily_bars

    def counted(self: CsvFolderProvider, symbols: list[str], start: date, end: date) -> Any:
        if list(symbols) == ["GLD"]:
            ends.append(end)
        return read(self, symbols, start, end)

    monkeypatch.setattr(CsvFolderProvider, "daily_bars", counted)
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-09T17:00:00-05:00")
    shown = []
    for _ in range(2):
        ends.clear()
        result = runner.invoke(app, ["status", "--json"])
        assert result.exit_code == 0, result.output
        shown.append(json.loads(result.stdout))
        # The drawdown's closes to GLD's last bar (Wednesday's) are the only reads that end on that day.
        if not shown[1:]:
            assert date(2026, 1, 7) in ends, ends
    assert ends.count(date(2026, 1, 7)) == 0, ends  # the second status: the bar cache held them
    first, second = ({a["account_id"]: a["max_drawdown"] for a in s["accounts"]} for s in shown)
    assert first == second and first["acct_3"] is not None
