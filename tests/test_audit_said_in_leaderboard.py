"""The look-ahead audit a backtest ran (`--audit N`) is said beside its figures: the leaderboard (so its --json and
the report) names the weeks audited and that each passed, and says so when none was audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from llmtrade.app.backtest import BacktestSpec, backtest
from llmtrade.app.container import Container
from llmtrade.app.leaderboard import books, leaderboard
from llmtrade.clock import FixedClock
from llmtrade.config.loader import load_config
from llmtrade.domain import streams
from llmtrade.domain.audit_notes import audit_note
from llmtrade.domain.backtests import CheckpointsAuditPassed, LookaheadAuditPassed
from llmtrade.settings import Settings
from tests.test_backtest import _unique
from tests.test_backtest_bad_start import WEEK, _write, history

SECOND = WEEK + timedelta(days=7)


def test_the_weeks_audited_and_their_verdicts_are_said_beside_the_figures(database_url: str, tmp_path: Path) -> None:
    """Found in a trial: `backtest --audit 2` printed its audit table once, at the end of the run; `leaderboard
    --backtest NAME`, its --json and the report said nothing of it, so a reader of the report could not tell an
    audited backtest from one never audited (nor whether the audit covered the checkpoints)."""
    folder, name = tmp_path / "prices", _unique()
    _write(folder, history(SECOND + timedelta(days=10)))
    settings = Settings(DATABASE_URL=database_url, LLMTRADE_HOME=str(tmp_path))
    spec = BacktestSpec(name=name, first=WEEK, last=SECOND, offline=True, replay=False, csv=folder, audit=1)
    backtest(settings, load_config(None), None, spec, say=lambda _t: None)
    live = Container(settings, load_config(None), FixedClock(datetime(2026, 2, 20, tzinfo=UTC)), None, print)
    board = leaderboard(live, backtest=name)
    [note] = [n for n in board.notes if n.startswith("look-ahead audit")]
    assert note.startswith(f"look-ahead audit: 1 of the 2 weeks done audited ({WEEK}), and it passed"), note
    # Its checkpoints too, each cut at its own instant (tests/test_checkpoint_audit.py).
    assert "; so did 20 checkpoints of 1 week, each rerun in a market holding nothing after its instant" in note, note
    # And its postmortem, which writes the lessons later weeks recall (tests/test_postmortem_audit.py).
    assert "; its postmortem, rerun in a market holding nothing after its instant, passed too" in note, note
    # The same books with no audit on record: said too, with how to run one.
    reader, _ = books(live, name)
    with reader.storage(persist=False) as storage:
        stream = storage.events.read_stream(streams.BACKTEST)
    # Books audited before the checkpoints or the postmortems were.
    weekly_only = [e for e in stream if e.type not in (CheckpointsAuditPassed.event_type(), "PostmortemAuditPassed")]
    said = audit_note(weekly_only)
    assert said is not None, said
    assert said.endswith("same decisions; the checkpoints are not audited; the postmortems are not audited"), said
    unaudited = [e for e in weekly_only if e.type != LookaheadAuditPassed.event_type()]
    said = audit_note(unaudited)
    assert said is not None and said.startswith("look-ahead audit: none of the 2 weeks done was audited"), said
    assert "--audit N" in said
    assert audit_note([]) is None  # the live books: no backtest, nothing to say


def test_the_note_says_why_the_synthetic_markets_checkpoints_are_not_audited(database_url: str, tmp_path: Path) -> None:
    """Found in a trial: a backtest on the synthetic market with --audit said at its start why its checkpoints are
    not audited, but its leaderboard (and so the report a reader is handed) said only "the checkpoints are not
    audited", as it would of books whose checkpoints were never asked about."""
    from tests.test_backtest import _run

    name = _unique()
    _run(database_url, tmp_path, name, last=WEEK, audit=1)  # no --csv, no csv_dir: the synthetic market
    settings = Settings(DATABASE_URL=database_url, LLMTRADE_HOME=str(tmp_path))
    live = Container(settings, load_config(None), FixedClock(datetime(2026, 2, 20, tzinfo=UTC)), None, print)
    [note] = [n for n in leaderboard(live, backtest=name).notes if n.startswith("look-ahead audit")]
    assert (
        "; the checkpoints are not audited: the synthetic market's quotes cannot be cut inside a session (its "
        "intraday path is drawn through the session's own bar); its postmortem, rerun in a market holding nothing "
        "after its instant, passed too"
    ) in note, note


def test_a_finished_synthetic_backtest_run_again_does_not_say_its_weekly_runs_are_audited(
    database_url: str, tmp_path: Path
) -> None:
    """Found in a trial: the same `backtest --offline --audit 2` run again on the synthetic market said "--audit: the
    weekly runs are audited, not the checkpoints", then that both weeks "ran before this invocation, so they are not
    audited now": no weekly run was audited."""
    settings = Settings(DATABASE_URL=database_url, LLMTRADE_HOME=str(tmp_path))
    spec = BacktestSpec(name=_unique(), first=WEEK, last=WEEK, offline=True, replay=False, audit=1)
    said: list[str] = []
    backtest(settings, load_config(None), None, spec, say=said.append)
    assert any(
        s.startswith("--audit: the weekly runs and postmortems are audited, not the checkpoints") for s in said
    ), said
    said.clear()
    backtest(settings, load_config(None), None, spec, say=said.append)
    assert not any(s.startswith("--audit: the weekly runs") for s in said), said
    assert any(s.startswith(f"--audit 1: week {WEEK} ran before this invocation") for s in said), said
