"""`llmtrade backtest delete`: what a trial of it as an operator found (stops between a drop and its record, ...).

The fixtures are test_backtest_books.py's: one finished backtest run once for the module, copied for each delete.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from llmtrade.cli import app as cli
from llmtrade.storage.database import backtest_database
from tests.crash_points import url_of as _url
from tests.test_backtest_books import Pair, _copy, _exists, _sweep, _sweep_exists, _unique, env, pair

runner = CliRunner()
__all__ = ["env", "pair"]  # the fixtures, used by name


def test_a_sigterm_between_the_drop_and_its_record_still_records_what_was_dropped(
    pair: Pair, env: dict[str, str], clean_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trial's SIGTERM landing while the folder was removed, after the drop: exit 143, the database gone and nothing
    recorded; the rerun found the folder and recorded it as "gone" (no status, events or size), or without a folder
    said there was no such backtest, the deletion on record nowhere."""
    import signal

    from llmtrade.app import backtest_books

    name = _unique()
    _copy(pair, name)
    (clean_environment / "backtests" / name / "prices").mkdir(parents=True)
    removing = backtest_books._remove

    def stopped_while_removing(folders: list[Path]) -> tuple[list[Path], str]:
        signal.raise_signal(signal.SIGTERM)  # as `kill -TERM` lands: the drop is done
        return removing(folders)

    monkeypatch.setattr(backtest_books, "_remove", stopped_while_removing)
    result = runner.invoke(cli, ["backtest", "delete", name, "--yes"], env=env)
    assert result.exit_code == 143, result.output
    assert not _exists(pair, name) and not (clean_environment / "backtests" / name).exists()
    with psycopg.connect(env["DATABASE_URL"]) as conn:
        [(payload,)] = conn.execute("SELECT payload FROM events WHERE type = 'BacktestDeleted'").fetchall()
    assert (payload["name"], payload["status"], payload["dropped"]) == (name, "finished", True)
    assert payload["events"] > 100 and payload["folders"] == [str(clean_environment / "backtests" / name)]


def test_a_sigterm_as_a_sweeps_run_is_dropped_still_records_that_run(
    pair: Pair, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The runs dropped before a stop were recorded, but not the one whose drop the SIGTERM landed just after."""
    import signal

    from llmtrade.app import backtest_books

    sweep, runs = _sweep(pair)
    dropping = backtest_books.drop_database
    drops: list[str] = []

    def stopped_after_the_second(location: Any, database: str) -> None:
        dropping(location, database)
        drops.append(database)
        if len(drops) == 2:
            signal.raise_signal(signal.SIGTERM)

    monkeypatch.setattr(backtest_books, "drop_database", stopped_after_the_second)
    result = runner.invoke(cli, ["backtest", "delete", sweep, "--sweep", "--yes"], env=env)
    assert result.exit_code == 143, result.output
    assert not any(_exists(pair, r) for r in runs) and _sweep_exists(pair, sweep)
    with psycopg.connect(env["DATABASE_URL"]) as conn:
        recorded = conn.execute("SELECT payload->>'database' FROM events WHERE type = 'BacktestDeleted'").fetchall()
    assert sorted(r[0] for r in recorded) == sorted(backtest_database(r) for r in runs)
    finished = runner.invoke(cli, ["backtest", "delete", sweep, "--sweep", "--yes"], env=env)
    assert finished.exit_code == 0, finished.output
    assert not _sweep_exists(pair, sweep)


def test_a_database_refusing_connections_is_listed_unreadable_and_the_rest_are_listed(
    pair: Pair, env: dict[str, str]
) -> None:
    """`ALTER DATABASE ... ALLOW_CONNECTIONS false` on one backtest's database made the whole list exit 75 ("cannot
    connect to the database: ... is not currently accepting connections"), every other backtest unlisted."""
    name = _unique()
    _copy(pair, name)
    with psycopg.connect(pair.admin_url, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{backtest_database(name)}" ALLOW_CONNECTIONS false')
    result = runner.invoke(cli, ["backtest", "list", "--json"], env=env)
    assert result.exit_code == 0, result.output
    listed = {row["name"]: row for row in json.loads(result.stdout)["backtests"]}
    assert listed[name]["status"] == "unreadable" and "not currently accepting connections" in listed[name]["note"]
    assert listed[pair.finished]["status"] == "finished"
    deleted = runner.invoke(cli, ["backtest", "delete", name, "--yes"], env=env)  # and it can be deleted
    assert deleted.exit_code == 0, deleted.output
    assert not _exists(pair, name)


def test_a_record_this_version_cannot_read_is_listed_unreadable_not_a_traceback(
    pair: Pair, env: dict[str, str]
) -> None:
    """A BacktestStarted without a field this version needs (an older or later version's books) was read by
    standing_of outside the list's handler: `backtest list` ended in pydantic's ValidationError traceback, exit 1."""
    name = _unique()
    _copy(pair, name)
    with psycopg.connect(_url(pair.admin_url, backtest_database(name)), autocommit=True) as conn:
        conn.execute("ALTER TABLE events DISABLE TRIGGER USER")  # the books refuse a change, as they should
        conn.execute("UPDATE events SET payload = payload - 'start' WHERE type = 'BacktestStarted'")
    result = runner.invoke(cli, ["backtest", "list", "--json"], env=env)
    assert result.exit_code == 0, result.output
    row = {r["name"]: r for r in json.loads(result.stdout)["backtests"]}[name]
    assert row["status"] == "unreadable" and "BacktestStarted" in row["note"] and "start" in row["note"]
    deleted = runner.invoke(cli, ["backtest", "delete", name, "--yes"], env=env)
    assert deleted.exit_code == 0, deleted.output
    assert not _exists(pair, name)


def test_an_unfinished_sweep_run_deleted_is_not_said_to_stay_in_the_sweep(pair: Pair, env: dict[str, str]) -> None:
    """Deleting a run a sweep stopped in said "the sweep's record keeps its leaderboard ... and a rerun of the sweep
    file does not run it again": the record had no leaderboard of it, and the rerun ran it again from its first week
    (a trial: "finished 1" in the rerun's table)."""
    sweep, _ = _sweep(pair, runs=1)
    run = f"{sweep}-{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pair.admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{backtest_database(run)}" TEMPLATE "{backtest_database(pair.stopped)}"')
    result = runner.invoke(cli, ["backtest", "delete", run, "--yes"], env=env)
    assert result.exit_code == 0, result.output
    assert "does not run it again" not in result.stdout and "keeps its leaderboard" not in result.stdout
    assert f"unfinished run of sweep {sweep}" in result.stdout and "runs it again" in result.stdout


@pytest.mark.parametrize("args", [["nosuch-at-all"], ["bad name"], ["nosuch-at-all", "--sweep"]])
def test_off_a_terminal_a_name_that_names_none_is_told_so_not_to_add_yes(env: dict[str, str], args: list[str]) -> None:
    """Off a terminal, without --yes, any name (an invalid one, one no backtest has) was told "nothing can confirm it;
    give --yes to delete it", as if there were something to delete: cron's --yes then met the real refusal."""
    result = runner.invoke(cli, ["backtest", "delete", *args], env=env)
    assert result.exit_code == 2
    assert "--yes" not in result.stderr and "not at a terminal" not in result.stderr
    assert "no backtest named" in result.stderr or "no sweep named" in result.stderr or "use 1-40" in result.stderr


def test_a_folder_that_cannot_be_removed_names_its_file_and_a_rerun_records_no_deletion_of_nothing(
    env: dict[str, str], clean_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder left without its database, with a file in it that cannot go (`chattr +i`, a read-only mount): each
    rerun recorded another BacktestDeleted of nothing (dropped false, no folder), and the error named the folder, not
    the file that stopped it."""
    import os

    name = _unique()
    stuck = clean_environment / "backtests" / name / "prices" / "SPY.csv"
    stuck.parent.mkdir(parents=True)
    stuck.write_text("Date,Open,High,Low,Close,Volume\n")

    unlink = os.unlink

    def refused(path: Any, *args: Any, **kwargs: Any) -> None:
        # As the kernel refuses an immutable file (tests run as root, whom chmod does not stop): rmtree unlinks by
        # the entry's name relative to its folder's descriptor, so the error names "SPY.csv" alone.
        if str(path) == stuck.name:
            raise PermissionError(1, "Operation not permitted", path)
        unlink(path, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", refused)
    for _ in range(2):
        result = runner.invoke(cli, ["backtest", "delete", name, "--yes"], env=env)
        assert result.exit_code == 1, result.output
        assert f"{stuck} (Operation not permitted)" in result.stderr and "remove it by hand" in result.stderr
    with psycopg.connect(env["DATABASE_URL"]) as conn:
        assert conn.execute("SELECT count(*) FROM events WHERE type = 'BacktestDeleted'").fetchone()[0] == 0


def test_a_backtest_database_dropped_under_a_reader_is_said_so_not_blamed_on_database_url(pair: Pair) -> None:
    """A `report --backtest X` whose database a `backtest delete` dropped between two of its connections (a trial,
    the delete 1 s after the report began) ended: "the database server refused the login of DATABASE_URL
    'postgresql://...llmtrade_bt_x': ... database does not exist; fix its user, password or database name", on the
    embedded server, where no DATABASE_URL was set."""
    from llmtrade.errors import UsageError
    from llmtrade.storage.connection import connect

    database = backtest_database(_unique())
    with pytest.raises(UsageError) as refused:
        connect(_url(pair.admin_url, database))
    said = str(refused.value)
    assert f"the database {database} does not exist" in said and "dropped" in said and "backtest delete" in said
    assert "DATABASE_URL" not in said and "password" not in said


def test_a_home_whose_path_holds_a_comma_gets_its_folder_back_whole_in_json(
    env: dict[str, str], tmp_path: Path
) -> None:
    """`folders` in --json was the event's ", "-joined string split again: a home at "/srv/books, 2026" gave two
    folders, neither of them the one removed."""
    home = tmp_path / "books, 2026"
    name = _unique()
    (home / "backtests" / name / "prices").mkdir(parents=True)
    result = runner.invoke(
        cli, ["backtest", "delete", name, "--yes", "--json"], env={**env, "LLMTRADE_HOME": str(home)}
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["folders"] == [str(home / "backtests" / name)]


def test_a_backtests_name_given_with_sweep_says_to_leave_it_out(pair: Pair, env: dict[str, str]) -> None:
    """`backtest delete NAME --sweep` of a plain backtest said only "no sweep named ...; the sweeps held: ...", where a
    sweep's name without --sweep is told to add it."""
    result = runner.invoke(cli, ["backtest", "delete", pair.finished.upper(), "--sweep", "--yes"], env=env)
    assert result.exit_code == 2
    assert f"it is a backtest's name: `llmtrade backtest delete {pair.finished.upper()}` (without --sweep)" in (
        result.stderr
    )
    assert _exists(pair, pair.finished)
