"""A backtest whose books an earlier llmtrade wrote with the daily bridge (checkpoints on daily CSV prices quoted a
path drawn through the session's own high, low and close) is not gone on with: the rest of its range would be priced
by this version's rule (the open, fills at the close) into the same books. A trial's resume mixed the two silently;
the leaderboard only counted the bridged fills afterwards."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from llmtrade.app.backtest import BacktestSpec, backtest
from llmtrade.app.evaluation_results import BacktestResult
from llmtrade.config.loader import load_config
from llmtrade.errors import UsageError
from llmtrade.settings import Settings
from llmtrade.storage.database import backtest_database
from tests.test_backtest import _unique, _url
from tests.test_backtest_bad_start import WEEK, _write, history

SECOND = WEEK + timedelta(days=7)


def _run(database_url: str, home: Path, name: str, folder: Path, *, last: object) -> BacktestResult:
    settings = Settings(DATABASE_URL=database_url, LLMTRADE_HOME=str(home))
    spec = BacktestSpec(name=name, first=WEEK, last=last, offline=True, replay=False, csv=folder)  # type: ignore[arg-type]
    return backtest(settings, load_config(None), None, spec, say=lambda _t: None)


def test_books_an_earlier_version_priced_by_the_daily_bridge_are_not_gone_on_with(
    database_url: str, pg_admin_url: str, tmp_path: Path
) -> None:
    folder, name = tmp_path / "prices", _unique()
    _write(folder, history(SECOND + timedelta(days=10)))
    assert _run(database_url, tmp_path, name, folder, last=WEEK).weeks_run == 1
    url = _url(pg_admin_url, backtest_database(name))
    with psycopg.connect(url) as conn:  # the first week's in-session quotes as the earlier version recorded them
        conn.execute("ALTER TABLE events DISABLE TRIGGER events_append_only")
        bridged = conn.execute(
            "UPDATE events SET payload = jsonb_set(payload, '{quotes,0,kind}', '\"daily-bridge\"') "
            'WHERE type = \'QuoteFetched\' AND payload @> \'{"quotes": [{"kind": "daily-open"}]}\''
        ).rowcount
        conn.execute("ALTER TABLE events ENABLE TRIGGER events_append_only")
        before = conn.execute("SELECT count(*) FROM events").fetchone()
    assert bridged > 0
    with pytest.raises(UsageError) as caught:
        _run(database_url, tmp_path, name, folder, last=SECOND)
    message = str(caught.value)
    assert f"backtest {name!r} was begun by an earlier llmtrade" in message, message
    assert f"({bridged} of its quote answers, through week {WEEK})" in message, message
    assert "Run the range afresh under another --name" in message
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM events").fetchone() == before  # refused before anything was written
    # Its finished range shown again runs nothing and is not refused: its leaderboard says what priced its fills.
    again = _run(database_url, tmp_path, name, folder, last=WEEK)
    assert again.weeks_run == 0
