"""The look-ahead audit of a sampled week's discovery (app/backtest_audit_discovery.py). In watchlist mode the
committee's universe is the week's watchlist, set by the discovery run before the weekly run; the audit's cut-off
rerun of the weekly run read that watchlist from the books, so discovery features taken from the week to come changed
what the committee was offered and every audit passed. The discovery is now rerun, just before the real one, in a
market holding no bar after the week's as-of session, and its picks must be the same."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from llmtrade.app import backtest_discovery
from llmtrade.app.backtest import BacktestSpec, backtest
from llmtrade.app.container import Container
from llmtrade.app.leaderboard import leaderboard
from llmtrade.clock import FixedClock
from llmtrade.config.candidates import CandidateInstrument
from llmtrade.config.loader import load_config
from llmtrade.domain.backtests import BacktestWeekDone, LookaheadAuditFailed, unfinished
from llmtrade.errors import OperationalError
from llmtrade.settings import Settings
from llmtrade.storage.database import backtest_database
from tests.test_backtest import _unique, _url
from tests.test_backtest_discovery import _config
from tests.test_backtest_unfinished import W1, W2, W3, _started, _stream

WEEK = date(2026, 1, 7)


def _run(database_url: str, home: Path, config: Path, name: str) -> None:
    settings = Settings(DATABASE_URL=database_url, LLMTRADE_HOME=str(home))
    spec = BacktestSpec(name=name, first=WEEK, last=WEEK, offline=True, replay=False, audit=1)
    backtest(settings, load_config(config), config, spec, say=lambda _t: None)


def test_a_discovery_reading_the_week_to_come_fails_the_audit(
    database_url: str, pg_admin_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(tmp_path / "config", universe_mode="watchlist")
    read = backtest_discovery.HeldBars.candidate_features

    def a_week_ahead(self: backtest_discovery.HeldBars, candidates: list[CandidateInstrument], asof: datetime):  # type: ignore[no-untyped-def]
        return read(self, candidates, asof + timedelta(days=7))

    monkeypatch.setattr(backtest_discovery.HeldBars, "candidate_features", a_week_ahead)
    name = _unique()
    with pytest.raises(OperationalError) as caught:
        _run(database_url, tmp_path, config, name)
    message = str(caught.value)
    assert message.startswith(f"look-ahead audit failed for week {WEEK}: discovery:"), message
    with psycopg.connect(_url(pg_admin_url, backtest_database(name))) as conn:
        [(role,)] = conn.execute("SELECT payload->>'role' FROM events WHERE type = 'LookaheadAuditFailed'").fetchall()
    assert role.startswith("discovery:")


def test_an_honest_discovery_passes_and_the_note_says_it_was_audited(
    database_url: str, pg_admin_url: str, tmp_path: Path
) -> None:
    config = _config(tmp_path / "config", universe_mode="watchlist")
    name = _unique()
    _run(database_url, tmp_path, config, name)
    with psycopg.connect(_url(pg_admin_url, backtest_database(name))) as conn:
        [(compared,)] = conn.execute(
            "SELECT payload->'compared' FROM events WHERE type = 'LookaheadAuditPassed'"
        ).fetchall()
        kinds = [k for (k,) in conn.execute("SELECT type FROM events WHERE stream = 'backtest' ORDER BY id")]
    assert "discovery:watchlist" in compared and any(k.startswith("discovery:llm:picker") for k in compared), compared
    assert "LookaheadAuditFailed" not in kinds
    settings = Settings(DATABASE_URL=database_url, LLMTRADE_HOME=str(tmp_path))
    live = Container(settings, load_config(None), FixedClock(datetime(2026, 2, 20, tzinfo=UTC)), None, print)
    [note] = [n for n in leaderboard(live, backtest=name).notes if n.startswith("look-ahead audit")]
    assert (
        "and each passed: the weekly run and the discovery before it" in note
        or (
            "and it passed: the weekly run and the discovery before it (which sets the week's watchlist), rerun in a "
            "market holding no bar after its as-of session, asked the same prompts and reached the same decisions"
        )
        in note
    ), note


def test_the_books_of_a_backtest_whose_discovery_failed_the_audit_say_so() -> None:
    leak = LookaheadAuditFailed(week_id=W2, role="discovery:watchlist", line=4, real="a", audited="b")
    note = unfinished(_stream(_started(W3), BacktestWeekDone(week_id=W1, jobs=1), leak))
    assert note is not None and note.endswith(
        f"it failed its look-ahead audit at week {W2}, at its discovery before the weekly run (discovery:watchlist, "
        "line 4): its results are not evidence"
    ), note


def test_a_replay_miss_of_the_real_discovery_after_its_cut_off_rerun_says_the_prompts_differ(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As a checkpoint's (tests/test_checkpoint_audit.py): the picker's cut-off rerun found every answer it asked in
    the cache, so the real discovery's miss is a prompt that rerun did not ask, not a cache merely short."""
    from llmtrade.errors import LlmtradeError, ReplayMiss
    from llmtrade.exits import classify

    config = _config(tmp_path / "config", universe_mode="watchlist")

    def missed(self: backtest_discovery.BacktestDiscovery, week_id: date) -> None:
        raise ReplayMiss("--replay: no cached answer for the picker call to m (key 0123456789ab)")

    monkeypatch.setattr(backtest_discovery.BacktestDiscovery, "before_weekly", missed)
    with pytest.raises(LlmtradeError) as caught:
        _run(database_url, tmp_path, config, _unique())
    failure = classify(caught.value)
    assert failure is not None and "the real run asked a prompt that rerun did not" in failure.message, failure
