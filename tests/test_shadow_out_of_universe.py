"""A halted account's shadow book (risk/shadow.py) on a symbol that left the universe: the week's roll closes the
whole shadow book at the week's prices, so each week's shadow bet is one trade whose round trip counts toward lifting a
loss-streak halt. A symbol no longer in the universe and held by no account was priced by nothing at the roll, so the
shadow kept it for good, its bet never closed nor counted."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.clock import FixedClock
from llmtrade.config.loader import packaged_defaults
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import open_storage
from tests.support import FIXED_NOW
from tests.test_breaker_week import _halt
from tests.test_week_lifecycle import PITCHES, week  # noqa: F401  (the scripted week)

runner = CliRunner()


def _without(tmp_path: Path, symbol: str) -> Path:
    folder = tmp_path / "config"
    shutil.copytree(Path(str(packaged_defaults())), folder)
    assets = folder / "assets.yaml"
    lines = assets.read_text().splitlines(keepends=True)
    kept = [line for line in lines if f"symbol: {symbol}," not in line]
    assert len(kept) == len(lines) - 1
    assets.write_text("".join(kept))
    return folder


def _shadow(url: str, account_id: str) -> list[tuple[str, str, str]]:
    with open_storage(Settings(DATABASE_URL=url), FixedClock(FIXED_NOW)) as storage:
        found = storage.events.read(type="ShadowTraded", account_id=account_id)
        return [(e.payload["source"], e.payload["fill"]["symbol"], e.payload["fill"]["side"]) for e in found]


def test_the_weeks_roll_closes_a_shadow_position_on_a_symbol_that_left_the_universe(
    week: Any,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    _, url, _ = week
    _halt(url, "acct_3")  # its PM picks GLD: the halted account stays flat, its shadow buys
    assert runner.invoke(app, ["run-weekly"]).exit_code == 0
    assert _shadow(url, "acct_3") == [("week 2026-01-07", "GLD", "buy")]
    # GLD taken out of assets.yaml: no account holds it, so nothing keeps it priced; the PM picks QQQ next week.
    monkeypatch.setenv("LLMTRADE_CONFIG_DIR", str(_without(tmp_path, "GLD")))
    monkeypatch.setitem(PITCHES, "anthropic/claude-sonnet-4.5", ("QQQ", 2))
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-14T08:00:00-05:00")
    weekly = runner.invoke(app, ["run-weekly"])
    assert weekly.exit_code == 0, weekly.output
    assert _shadow(url, "acct_3") == [
        ("week 2026-01-07", "GLD", "buy"),
        ("week 2026-01-14", "GLD", "sell"),  # the roll closed last week's bet, at this week's price
        ("week 2026-01-14", "QQQ", "buy"),
    ]
