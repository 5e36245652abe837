"""A weekly run reading the bar cache directly, past its as-of session, must fail the look-ahead audit.

Found in a trial of the audit (planted leaks of each kind): the cut-off market (app/backtest_market.py) clamped the
ranges its `bars` was asked for and cut its providers, but its bar cache read any range it was given. In a backtest the
cache holds the whole range's prefetched bars, so a stage that read it directly (a MarketData's `_cache`, past the
as-of session) saw the same later bars in the real run and in the cut-off rerun, and every audit passed."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from llmtrade.errors import OperationalError
from llmtrade.market.service import BarSeries, MarketData
from llmtrade.workflows import research_stages
from tests.test_backtest import _unique
from tests.test_backtest_bad_start import WEEK
from tests.test_checkpoint_audit import _audited, _backtest_stream, folder  # noqa: F401 (the fixture)


class _ReadsTheCache:
    """The weekly snapshot's market, whose `bars_asof` takes each symbol's last close from the bar cache's next
    session: the leak, through the cache rather than the market's own clamped `bars`."""

    def __init__(self, market: MarketData):
        self._market = market
        self.calendar = market.calendar

    def __getattr__(self, name: str) -> Any:
        return getattr(self._market, name)

    def bars_asof(self, symbols: Any, asof: datetime, *, sessions: int = 300) -> BarSeries:
        series = self._market.bars_asof(symbols, asof, sessions=sessions)
        later = self._market._cache.read(
            list(symbols), series.end + timedelta(days=1), series.end + timedelta(days=7), synthetic=False
        )
        bars = {
            s: [*rows[:-1], rows[-1].model_copy(update={"close": later[s][0].close})] if rows and later.get(s) else rows
            for s, rows in series.bars.items()
        }
        return replace(series, bars=bars)


def test_a_weekly_run_reading_the_bar_cache_past_its_asof_session_fails_the_audit(
    folder: Path,  # noqa: F811
    database_url: str,
    pg_admin_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    honest = research_stages.week_snapshot
    monkeypatch.setattr(
        research_stages, "week_snapshot", lambda market, symbols, asof: honest(_ReadsTheCache(market), symbols, asof)
    )
    name = _unique()
    with pytest.raises(OperationalError, match=f"look-ahead audit failed for week {WEEK}: "):
        _audited(database_url, tmp_path, folder, name)
    [leak] = [p for kind, p in _backtest_stream(pg_admin_url, name) if kind == "LookaheadAuditFailed"]
    assert leak["role"].startswith(("llm:", "stream:")) and leak["real"] != leak["audited"], leak
