"""A backtest stopped by Ctrl-C between two weeks, or after its last week and before its finish is recorded, says
where it stopped; and one stopped after its last week is finished by the same command, no week run again, its books
never said to miss a week meanwhile (found by a new user's trial: "unfinished: 1 of its 1 week done")."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from llmtrade.app.backtest_inputs import Progress
from llmtrade.cli import app as cli
from llmtrade.exits import INTERRUPTED, classify, with_notes
from llmtrade.storage.database import backtest_database
from tests.test_backtest import FIRST, LAST, _run, _unique, _url

runner = CliRunner()


def _stopped_after_week(n: int, url: str, home: Path, name: str) -> KeyboardInterrupt:
    """The backtest `name` (FIRST..LAST, two weeks) stopped by a Ctrl-C right after its `n`th week is done."""

    def ctrl_c_after(step: Progress) -> None:
        if step.week_id is not None and step.weeks_done == n:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt) as stopped:
        _run(url, home, name, audit=0, progress=ctrl_c_after)
    return stopped.value


def _finishes(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM events WHERE type = 'BacktestFinished'").fetchone()
    assert row is not None
    return int(row[0])


def test_a_ctrl_c_between_two_weeks_says_between_which(database_url: str, tmp_path: Path) -> None:
    name = _unique()
    stop = _stopped_after_week(1, database_url, tmp_path, name)
    # Before: the CLI's line ended at "run the same command again to go on", no week named.
    assert with_notes(INTERRUPTED, stop).message == (
        f"{INTERRUPTED.message}. backtest {name!r} stopped between week {FIRST} and week {LAST} (weeks done: 1 of 2)."
    )
    resumed = _run(database_url, tmp_path, name, audit=0)
    assert (resumed.weeks_done_before, resumed.weeks_run) == (1, 1)


def test_a_ctrl_c_after_the_last_week_is_said_and_the_same_command_records_the_finish_without_a_week(
    database_url: str, pg_admin_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = _unique()
    books = _url(pg_admin_url, backtest_database(name))
    stop = _stopped_after_week(2, database_url, tmp_path, name)
    assert with_notes(INTERRUPTED, stop).message == (
        f"{INTERRUPTED.message}. backtest {name!r} stopped after its last week ({LAST}), before recording its finish "
        "(weeks done: 2 of 2): no week is left to run."
    )
    assert _finishes(books) == 0

    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("LLMTRADE_HOME", str(tmp_path))
    board = runner.invoke(cli, ["leaderboard", "--backtest", name, "--json"])
    assert board.exit_code == 0, board.output
    note = json.loads(board.stdout)["unfinished"]
    # Before: "2 of its 2 weeks ... done, and these figures cover only those", as if weeks were missing.
    assert note == (
        f"backtest {name} is unfinished in its record only: every week of its range (2 weeks, {FIRST} to {LAST}) is "
        "done, but it stopped before recording its finish; these figures cover every week; run the same `llmtrade "
        "backtest` command again to record its finish"
    )

    again = _run(database_url, tmp_path, name, audit=0)
    # Before: nothing to run, so no BacktestFinished either: unfinished for good.
    assert (again.weeks_done_before, again.weeks_run) == (2, 0)
    assert _finishes(books) == 1
    board = runner.invoke(cli, ["leaderboard", "--backtest", name, "--json"])
    assert json.loads(board.stdout)["unfinished"] is None
    assert _run(database_url, tmp_path, name, audit=0).weeks_run == 0
    assert _finishes(books) == 1  # recorded once


def test_a_database_lost_outside_a_stage_says_where_the_backtest_stopped(database_url: str, tmp_path: Path) -> None:
    # The server killed (kill -9 of a DATABASE_URL's postmaster) while a backtest wrote between its stages: psycopg's
    # own error, not wrapped in a stage's, was said with no week (the stages' failures were); now as they are.
    name = _unique()

    def lost_after_week_one(step: Progress) -> None:
        if step.week_id is not None and step.weeks_done == 1:
            raise psycopg.OperationalError("consuming input failed: server closed the connection unexpectedly")

    with pytest.raises(psycopg.OperationalError) as lost:
        _run(database_url, tmp_path, name, audit=0, progress=lost_after_week_one)
    found = classify(lost.value)
    assert found is not None and found.code == 75
    assert found.message.endswith(
        f"backtest {name!r} stopped between week {FIRST} and week {LAST} (weeks done: 1 of 2)."
    ), found.message


def test_a_week_whose_flush_failed_behind_is_not_counted_done(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A trial on a full disk: the first week's COPY failed behind, the next week's flush raised it, and the stop said
    # "weeks done: 1 of 2" where the rerun found none.
    from llmtrade.storage import sole_writer

    write = sole_writer.write

    def full_disk(conn: psycopg.Connection, held: list) -> None:  # type: ignore[type-arg]
        if any(event.type == "BacktestWeekDone" for event, _ in held):
            raise psycopg.errors.DiskFull('could not extend file "base/16384/16401": No space left on device')
        write(conn, held)

    monkeypatch.setattr(sole_writer, "write", full_disk)
    name = _unique()
    with pytest.raises(psycopg.errors.DiskFull) as failed:
        _run(database_url, tmp_path, name, audit=0)
    assert failed.value.__notes__ == [
        f"backtest {name!r} stopped after week {LAST}: the database did not store the last 2 weeks run "
        "(weeks done: 0 of 2), run again by a rerun."
    ]
    monkeypatch.setattr(sole_writer, "write", write)
    resumed = _run(database_url, tmp_path, name, audit=0)
    assert (resumed.weeks_done_before, resumed.weeks_run) == (0, 2)
