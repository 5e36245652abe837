"""A backtest killed between committing a job's memory rows and writing the week's events (storage/sole_writer.py)
leaves rows whose events were never written; the rerun rebuilds the memory from the events written, and says so in
words a user can act on. A trial read "memory: rows of events a killed run never wrote were found" as a fault."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

from llmtrade.app.backtest import BacktestSpec, backtest
from llmtrade.config.loader import load_config
from llmtrade.settings import Settings
from tests.test_backtest import _unique
from tests.test_backtest_bad_start import WEEK


def _books(database_url: str, name: str) -> str:
    return urlunsplit(urlsplit(database_url)._replace(path=f"/llmtrade_bt_{name}"))


def test_memory_rows_a_killed_run_left_ahead_of_its_events_are_rebuilt_and_said(
    database_url: str, tmp_path: Path
) -> None:
    name, said = _unique(), []
    settings = Settings(DATABASE_URL=database_url, LLMTRADE_HOME=str(tmp_path / "home"))

    def run(last: object) -> None:
        spec = BacktestSpec(name=name, first=WEEK, last=last, offline=True, replay=False)  # type: ignore[arg-type]
        backtest(settings, load_config(None), None, spec, say=said.append)

    run(WEEK)
    with psycopg.connect(_books(database_url, name), autocommit=True) as conn:
        [(last_event,)] = conn.execute("SELECT max(id) FROM events").fetchall()
        # What the kill leaves: a row committed for an event id no event was written under.
        conn.execute("INSERT INTO memory_items VALUES ('ghost', 'setup', %s)", (last_event + 1000,))
    said.clear()
    run(WEEK + timedelta(days=7))
    assert any(
        line.startswith("memory: it held rows for events a stopped run never wrote (killed between the two writes)")
        and "rebuilt from the events on record" in line
        for line in said
    ), said
    with psycopg.connect(_books(database_url, name), autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM memory_items WHERE memory_id = 'ghost'").fetchone() == (0,)
