"""Discovery's forward returns, recorded as they mature, must fail the look-ahead audit of a sampled week when they
read a session after the instant they are recorded at.

Found in a trial of the audit (planted leaks of each kind): the returns are recorded after each week's jobs
(BacktestDiscovery.matured) from the bars held for the whole range, and later weeks' pickers read them (the ensemble
weights re-fitted from what matured). Nothing reran that write cut off: the discovery's own rerun reads the same
stored returns as the real one, so returns measured a session too far (a horizon counted one short) passed every
audit."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from llmtrade.discovery import outcomes
from llmtrade.domain.market import Bar
from llmtrade.errors import OperationalError
from llmtrade.market.daily_bars import DailyBars
from tests.test_backtest import _unique
from tests.test_backtest_bad_start import WEEK, _write, history
from tests.test_checkpoint_audit import _audited, _backtest_stream


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Daily files of the universe and SPY well past the range (the leak reads a session ahead)."""
    prices = tmp_path / "prices"
    _write(prices, history(WEEK + timedelta(days=35)))
    return prices


def _backtest(database_url: str, home: Path, folder: Path, name: str) -> None:
    _audited(database_url, home, folder, name, last=WEEK + timedelta(days=7), audit=2)


def test_forward_returns_measured_a_session_past_their_maturity_fail_the_audit(
    folder: Path, database_url: str, pg_admin_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    honest = outcomes.priced

    def a_session_ahead(
        market: DailyBars, symbols: Any, start: date, end: date
    ) -> tuple[dict[str, list[Bar]], dict[str, str]]:
        """The close of the session after `end` labelled as `end`'s: a horizon counted one short."""
        ahead = market.calendar.next_session(end)
        bars, unmeasured = honest(market, symbols, start, ahead)
        moved = {
            s: [*rows[:-1], rows[-1].model_copy(update={"day": end})] if rows and rows[-1].day == ahead else rows
            for s, rows in bars.items()
        }
        return moved, unmeasured

    monkeypatch.setattr(outcomes, "priced", a_session_ahead)
    name = _unique()
    with pytest.raises(OperationalError, match=f"look-ahead audit failed for week {WEEK}: discovery:forward returns"):
        _backtest(database_url, tmp_path, folder, name)
    [leak] = [p for kind, p in _backtest_stream(pg_admin_url, name) if kind == "LookaheadAuditFailed"]
    assert leak["role"].startswith("discovery:forward returns ") and leak["real"] != leak["audited"], leak


def test_forward_returns_recorded_honestly_pass(
    folder: Path, database_url: str, pg_admin_url: str, tmp_path: Path
) -> None:
    name = _unique()
    _backtest(database_url, tmp_path, folder, name)
    kinds = [kind for kind, _ in _backtest_stream(pg_admin_url, name)]
    assert "LookaheadAuditFailed" not in kinds and kinds.count("LookaheadAuditPassed") == 2, kinds
