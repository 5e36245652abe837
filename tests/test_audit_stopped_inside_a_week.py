"""A backtest stopped inside an audited week (Ctrl-C, SIGTERM, a kill) and resumed: what the leaderboard and the
resumed start say of the audit. The weekly run's verdict is recorded when it runs, the week's checkpoints' once the
week's jobs are done by the invocation that audited its weekly run: a stop inside the week leaves the week with the
first and never the second."""

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
from llmtrade.settings import Settings
from llmtrade.workflows.schedule import Job, JobKind
from tests.test_backtest import _unique
from tests.test_backtest_bad_start import WEEK, _write, history

SECOND = WEEK + timedelta(days=7)


def _note(settings: Settings, name: str) -> str:
    live = Container(settings, load_config(None), FixedClock(datetime(2026, 2, 20, tzinfo=UTC)), None, print)
    [note] = [n for n in leaderboard(live, backtest=name).notes if n.startswith("look-ahead audit")]
    return note


def test_a_backtest_stopped_inside_an_audited_week_counts_no_week_not_done_and_claims_no_checkpoint_unaudited(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found in a trial: SIGTERM at an audited week's 15:50 checkpoint, then `leaderboard --backtest NAME` said "7 of
    the 6 weeks done audited"; the resumed start said of that week "audited then (passed)", and the finished
    backtest's note "so did 484 checkpoints of 25 weeks" beside 26 weeks audited, naming none: the week's checkpoints
    run after the resume were never audited, and nothing said which week's."""
    folder, name = tmp_path / "prices", _unique()
    _write(folder, history(SECOND + timedelta(days=10)))
    settings = Settings(DATABASE_URL=database_url, LLMTRADE_HOME=str(tmp_path))
    spec = BacktestSpec(name=name, first=WEEK, last=SECOND, offline=True, replay=False, csv=folder, audit=2)
    real = backtest_loop._step

    def stopped_at_noon(app: BacktestContainer, job: Job, **kw: Any) -> None:
        if (job.week_id, job.kind, job.time, app.clock.now().date()) == (SECOND, JobKind.CHECKPOINT, "12:00", SECOND):
            raise KeyboardInterrupt  # Ctrl-C: the week's weekly run and 09:00 checkpoint are stored
        real(app, job, **kw)

    monkeypatch.setattr(backtest_loop, "_step", stopped_at_noon)
    with pytest.raises(KeyboardInterrupt):
        backtest(settings, load_config(None), None, spec, say=lambda _t: None)
    monkeypatch.setattr(backtest_loop, "_step", real)

    note = _note(settings, name)
    # One week done, and audited; the second's weekly run passed too, and is said apart: the week is not done.
    assert note.startswith(f"look-ahead audit: 1 of the 1 week done audited ({WEEK}), and it passed"), note
    assert "so did 20 checkpoints of 1 week" in note, note
    assert f"the weekly run of week {SECOND}, not done (the backtest stopped inside it), passed its audit too" in note

    said: list[str] = []
    result = backtest(settings, load_config(None), None, spec, say=said.append)
    assert (result.weeks_done_before, result.weeks_run, result.audit) == (1, 1, [])
    [start] = [s for s in said if s.startswith("--audit 2:")]
    # The first week was wholly audited; of the second, its weekly run only, and its checkpoints are not audited now.
    assert f"{WEEK} audited then (passed)" in start, start
    assert f"{SECOND} audited then (its weekly run passed; its checkpoints were not audited)" in start, start
    assert start.endswith(f"; to audit week {SECOND}, run the range under a new --name with --audit"), start

    note = _note(settings, name)
    assert note.startswith(f"look-ahead audit: 2 of the 2 weeks done audited ({WEEK}, {SECOND}), and each passed"), note
    assert f"so did 20 checkpoints of 1 of them ({WEEK})" in note, note
    assert f"the checkpoints of week {SECOND} were not audited" in note, note
