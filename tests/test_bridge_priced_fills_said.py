"""A backtest on daily CSV files prices every checkpoint inside a session by the daily bridge, a path drawn through
that session's own open, high, low and close: the leaderboard (and so its --json and the report) says how many of
the accounts' fills were priced so, since each such order and fill saw a price shaped by a close still to come."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from llmtrade.app.backtest import BacktestSpec, backtest
from llmtrade.app.container import Container
from llmtrade.app.leaderboard import leaderboard
from llmtrade.clock import FixedClock
from llmtrade.config.loader import load_config
from llmtrade.settings import Settings
from llmtrade.storage.database import backtest_database
from tests.test_backtest import _unique, _url
from tests.test_backtest_bad_start import WEEK, _write, history

SECOND = WEEK + timedelta(days=7)


def test_fills_priced_by_the_daily_bridge_are_counted_in_a_note(
    database_url: str, pg_admin_url: str, tmp_path: Path
) -> None:
    """Found in a trial on the seven ETF files: 201 of 897 fills of a two-year backtest were at 'csv daily-bridge'
    prices (12:00, 14:00 and 15:50 checkpoints), and neither the leaderboard, its --json nor the report said so: a
    reader took every figure for one no later bar had shaped."""
    folder, name = tmp_path / "prices", _unique()
    _write(folder, history(SECOND + timedelta(days=10)))
    settings = Settings(DATABASE_URL=database_url, LLMTRADE_HOME=str(tmp_path))
    spec = BacktestSpec(name=name, first=WEEK, last=SECOND, offline=True, replay=False, csv=folder)
    backtest(settings, load_config(None), None, spec, say=lambda _t: None)
    with psycopg.connect(_url(pg_admin_url, backtest_database(name))) as conn:
        sources = [
            row[0]
            for row in conn.execute("SELECT payload->'fill'->>'price_source' FROM events WHERE type = 'OrderFilled'")
        ]
    bridged = sum(1 for s in sources if s.endswith("daily-bridge"))
    assert bridged > 0 and bridged < len(sources)  # the premise: some fills at the open, some inside a session
    live = Container(settings, load_config(None), FixedClock(datetime(2026, 2, 20, tzinfo=UTC)), None, print)
    board = leaderboard(live, backtest=name)
    [note] = [n for n in board.notes if n.startswith("intraday prices modelled")]
    assert f"{bridged} of the accounts' {len(sources)} fills" in note
    assert "open, high, low and close" in note and "intraday/SYMBOL.csv" in note
