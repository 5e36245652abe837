"""A backtest stopped inside an audited week (Ctrl-C, SIGTERM, a kill, a replay miss) and resumed: what is audited
and what the leaderboard and the resumed start say of it. The weekly run's verdict is recorded when it runs, the week's
checkpoints' once the week's jobs are done; a resume goes on auditing the checkpoints left of a week whose weekly run
passed (it audited none of them: a leak whose first checkpoint stopped the run, a replay miss, then ran unaudited)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import llmtrade.app.backtest as backtest_loop
from llmtrade.app.backtest import BacktestSpec, backtest
from llmtrade.app.backtest_container import BacktestContainer
from llmtrade.app.container import Container
from llmtrade.app.leaderboard import leaderboard
from llmtrade.clock import FixedClock
from llmtrade.config.loader import load_config
from llmtrade.errors import OperationalError, TemporaryError
from llmtrade.settings import Settings
from llmtrade.workflows.schedule import Job, JobKind
from tests.test_backtest import _unique
from tests.test_backtest_bad_start import WEEK, _write, history
from tests.test_checkpoint_audit import _backtest_stream, price_at_the_close
from tests.test_postmortem_audit import postmortem_priced_a_day_ahead

SECOND = WEEK + timedelta(days=7)


def _note(settings: Settings, name: str) -> str:
    live = Container(settings, load_config(None), FixedClock(datetime(2026, 2, 20, tzinfo=UTC)), None, print)
    [note] = [n for n in leaderboard(live, backtest=name).notes if n.startswith("look-ahead audit")]
    return note


def test_a_backtest_stopped_inside_an_audited_week_counts_no_week_not_done_and_claims_no_checkpoint_unaudited(
    database_url: str, pg_admin_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found in a trial: SIGTERM at an audited week's 15:50 checkpoint, then `leaderboard --backtest NAME` said "7 of
    the 6 weeks done audited"; the resumed start said of that week "audited then (passed)", and the finished
    backtest's note "so did 484 checkpoints of 25 weeks" beside 26 weeks audited, naming none: the week's checkpoints
    run after the resume were never audited, and nothing said which week's. Now they are, and said so."""
    folder, name = tmp_path / "prices", _unique()
    _write(folder, history(SECOND + timedelta(days=10)))
    settings = Settings(DATABASE_URL=database_url, LLMTRADE_HOME=str(tmp_path))
    spec = BacktestSpec(name=name, first=WEEK, last=SECOND, offline=True, replay=False, csv=folder, audit=2)
    real = backtest_loop.step

    def stopped_at_noon(app: BacktestContainer, job: Job, **kw: Any) -> None:
        if (job.week_id, job.kind, job.time, app.clock.now().date()) == (SECOND, JobKind.CHECKPOINT, "12:00", SECOND):
            raise KeyboardInterrupt  # Ctrl-C: the week's weekly run and 09:00 checkpoint are stored
        real(app, job, **kw)

    monkeypatch.setattr(backtest_loop, "step", stopped_at_noon)
    with pytest.raises(KeyboardInterrupt):
        backtest(settings, load_config(None), None, spec, say=lambda _t: None)
    monkeypatch.setattr(backtest_loop, "step", real)

    note = _note(settings, name)
    # One week done, and audited; the second's weekly run passed too, and is said apart: the week is not done.
    assert note.startswith(f"look-ahead audit: 1 of the 1 week done audited ({WEEK}), and it passed"), note
    assert "so did 20 checkpoints of 1 week" in note, note
    assert f"the weekly run of week {SECOND}, not done (the backtest stopped inside it), passed its audit too" in note

    said: list[str] = []
    result = backtest(settings, load_config(None), None, spec, say=said.append)
    assert (result.weeks_done_before, result.weeks_run) == (1, 1)
    # The run's own table (and --json) lists the week whose checkpoints it audited: its weekly run's answers were
    # audited by the invocation stopped inside it (calls 0 here), its 15 checkpoints left by this one.
    assert [(a.week_id, a.passed, a.calls, a.checkpoints, a.postmortem) for a in result.audit] == [
        (SECOND, True, 0, 15, True)
    ]
    # The first week was wholly audited before; the second's checkpoints left (all but its 09:00) are audited now.
    assert (
        f"--audit 2: week {WEEK} ran before this invocation, so it is not audited now (an audit runs just before a "
        f"week's weekly run): {WEEK} audited then (passed)"
    ) in said, said
    assert (
        f"--audit 2: week {SECOND} was stopped inside after its weekly run passed its audit: its 15 checkpoints left "
        "and its postmortem are audited now; the 1 run before the stop is not counted as audited (a week's checkpoints "
        "are recorded once its jobs are done)"
    ) in said, said
    checked = [p for kind, p in _backtest_stream(pg_admin_url, name) if kind == "CheckpointsAuditPassed"]
    assert [(p["week_id"], p["checkpoints"]) for p in checked] == [(str(WEEK), 20), (str(SECOND), 15)]

    note = _note(settings, name)
    assert note.startswith(f"look-ahead audit: 2 of the 2 weeks done audited ({WEEK}, {SECOND}), and each passed"), note
    assert "so did 35 checkpoints of 2 weeks" in note, note
    assert note.endswith(f"; of week {SECOND}, stopped inside, only the checkpoints run after the resume are counted")


def test_a_leak_at_a_checkpoint_the_audited_week_was_stopped_at_is_caught_by_the_resume(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found in a trial: with --replay, a checkpoint that read its session's close asked a prompt the cache lacked, so
    the backtest stopped on the miss just after the cut-off rerun (which hit the cache) and before the comparison; the
    resume with --live-misses bought the leaked answer, audited no checkpoint of that week and, --audit 1, finished."""
    folder, name = tmp_path / "prices", _unique()
    _write(folder, history(WEEK + timedelta(days=14)))
    settings = Settings(DATABASE_URL=database_url, LLMTRADE_HOME=str(tmp_path))
    spec = BacktestSpec(name=name, first=WEEK, last=WEEK, offline=True, replay=False, csv=folder, audit=1)
    price_at_the_close(monkeypatch)
    real = backtest_loop.step

    def missed_at_noon(app: BacktestContainer, job: Job, **kw: Any) -> None:
        if (job.kind, job.time, app.clock.now().date()) == (JobKind.CHECKPOINT, "12:00", WEEK):
            raise TemporaryError("the replay cache lacks that answer")  # the real checkpoint's miss, in its place
        real(app, job, **kw)

    monkeypatch.setattr(backtest_loop, "step", missed_at_noon)
    with pytest.raises(TemporaryError):
        backtest(settings, load_config(None), None, spec, say=lambda _t: None)
    monkeypatch.setattr(backtest_loop, "step", real)

    with pytest.raises(OperationalError) as caught:
        backtest(settings, load_config(None), None, spec, say=lambda _t: None)
    assert str(caught.value).startswith(f"look-ahead audit failed for week {WEEK}: checkpoint {WEEK} 12:00: ")


def test_a_week_stopped_after_its_last_checkpoint_is_not_said_to_have_checkpoints_left_to_audit(
    database_url: str, pg_admin_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopped at its postmortem, every checkpoint run: the resume has none to audit, and said "its 0 checkpoints left
    are audited now" before it was told so. Its postmortem is audited (tests/test_postmortem_audit.py), and said so."""
    folder, name = tmp_path / "prices", _unique()
    _write(folder, history(WEEK + timedelta(days=14)))
    settings = Settings(DATABASE_URL=database_url, LLMTRADE_HOME=str(tmp_path))
    spec = BacktestSpec(name=name, first=WEEK, last=WEEK, offline=True, replay=False, csv=folder, audit=1)
    real = backtest_loop.step

    def stopped_at_the_postmortem(app: BacktestContainer, job: Job, **kw: Any) -> None:
        if job.kind is JobKind.POSTMORTEM:
            raise KeyboardInterrupt
        real(app, job, **kw)

    monkeypatch.setattr(backtest_loop, "step", stopped_at_the_postmortem)
    with pytest.raises(KeyboardInterrupt):
        backtest(settings, load_config(None), None, spec, say=lambda _t: None)
    monkeypatch.setattr(backtest_loop, "step", real)
    said: list[str] = []
    backtest(settings, load_config(None), None, spec, say=said.append)
    assert not [s for s in said if "left are audited now" in s or "left is audited now" in s], said
    assert (
        f"--audit 1: week {WEEK} was stopped inside after its weekly run passed its audit: its postmortem is audited "
        "now; its 20 checkpoints, run before the stop, are not counted as audited (a week's checkpoints are recorded "
        "once its jobs are done)"
    ) in said, said
    kinds = [kind for kind, _ in _backtest_stream(pg_admin_url, name)]
    assert "PostmortemAuditPassed" in kinds and "CheckpointsAuditPassed" not in kinds, kinds


def test_a_leak_in_the_postmortem_of_a_week_stopped_before_it_is_caught_by_the_resume(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopped after the audited week's last checkpoint, before its postmortem: the resume audits the postmortem (it
    ran unaudited, so a leak there went into every later week's lessons)."""
    folder, name = tmp_path / "prices", _unique()
    _write(folder, history(WEEK + timedelta(days=14)))
    settings = Settings(DATABASE_URL=database_url, LLMTRADE_HOME=str(tmp_path))
    spec = BacktestSpec(name=name, first=WEEK, last=WEEK, offline=True, replay=False, csv=folder, audit=1)
    real = backtest_loop.step

    def stopped_at_the_postmortem(app: BacktestContainer, job: Job, **kw: Any) -> None:
        if job.kind is JobKind.POSTMORTEM:
            raise KeyboardInterrupt
        real(app, job, **kw)

    monkeypatch.setattr(backtest_loop, "step", stopped_at_the_postmortem)
    with pytest.raises(KeyboardInterrupt):
        backtest(settings, load_config(None), None, spec, say=lambda _t: None)
    monkeypatch.setattr(backtest_loop, "step", real)
    postmortem_priced_a_day_ahead(monkeypatch)
    with pytest.raises(OperationalError) as caught:
        backtest(settings, load_config(None), None, spec, say=lambda _t: None)
    assert str(caught.value).startswith(f"look-ahead audit failed for week {WEEK}: postmortem "), str(caught.value)
