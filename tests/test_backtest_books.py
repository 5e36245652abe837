"""`llmtrade backtest list` and `backtest delete NAME`: the backtest databases on the server, and removing one.

One finished and one interrupted backtest are run once for the module (real 1- and 2-week offline backtests); each
delete test removes a copy of the finished one's database (CREATE DATABASE ... TEMPLATE: the same books, its own
name), so the module's pair stay for the others.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from llmtrade.app import backtest_steps
from llmtrade.app.backtest_lock import take
from llmtrade.cli import app as cli
from llmtrade.commands import backtest_books as command
from llmtrade.errors import TemporaryError
from llmtrade.storage.database import backtest_database
from tests.crash_points import url_of

runner = CliRunner()


def _unique() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


@dataclass(frozen=True)
class Pair:
    admin_url: str
    finished: str  # its name
    stopped: str


@pytest.fixture(scope="module")
def pair(pg_admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Pair:
    home = tmp_path_factory.mktemp("books-home")
    finished, stopped = _unique(), _unique()
    live = _unique()
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{live}"')
    env = {"DATABASE_URL": url_of(pg_admin_url, live), "LLMTRADE_HOME": str(home)}
    done = runner.invoke(
        cli, ["backtest", "--from", "2026-01-07", "--to", "2026-01-07", "--offline", "--name", finished], env=env
    )
    assert done.exit_code == 0, done.output

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise TemporaryError("the feed is down")

    with pytest.MonkeyPatch.context() as m:
        m.setattr(backtest_steps, "checkpoint", interrupted)
        cut = runner.invoke(
            cli, ["backtest", "--from", "2026-01-07", "--to", "2026-01-14", "--offline", "--name", stopped], env=env
        )
    assert cut.exit_code == 75, cut.output
    return Pair(pg_admin_url, finished, stopped)


def _copy(pair: Pair, name: str) -> str:
    """A copy of the finished backtest's database as backtest `name`'s: its URL."""
    database = backtest_database(name)
    with psycopg.connect(pair.admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}" TEMPLATE "{backtest_database(pair.finished)}"')
    return url_of(pair.admin_url, database)


def _exists(pair: Pair, name: str) -> bool:
    with psycopg.connect(pair.admin_url, autocommit=True) as conn:
        return (
            conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (backtest_database(name),)).fetchone()
            is not None
        )


def _listed(env: dict[str, str]) -> dict[str, dict[str, Any]]:
    result = runner.invoke(cli, ["backtest", "list", "--json"], env=env)
    assert result.exit_code == 0, result.output
    return {row["name"]: row for row in json.loads(result.stdout)["backtests"]}


@pytest.fixture
def env(pair: Pair, cli_env: dict[str, str]) -> dict[str, str]:
    return {"DATABASE_URL": cli_env["DATABASE_URL"]}


def test_the_list_shows_each_backtest_with_its_status_range_events_and_size(pair: Pair, env: dict[str, str]) -> None:
    listed = _listed(env)
    finished, stopped = listed[pair.finished], listed[pair.stopped]
    with psycopg.connect(url_of(pair.admin_url, backtest_database(pair.finished))) as conn:
        events = conn.execute("SELECT count(*) FROM events").fetchone()[0]
        size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
    assert finished["status"] == "finished" and finished["events"] == events and events > 100
    assert (finished["first_week"], finished["last_week"], finished["weeks"], finished["weeks_done"]) == (
        "2026-01-07",
        "2026-01-07",
        1,
        1,
    )
    assert finished["mode"] == "offline" and finished["prices"] == "synthetic" and finished["note"] is None
    assert abs(finished["size_bytes"] - size) < size // 10
    # Stopped in its first week's first checkpoint: unfinished, 0 of its 2 weeks, and why it stopped.
    assert stopped["status"] == "unfinished" and (stopped["weeks"], stopped["weeks_done"]) == (2, 0)
    assert (
        stopped["note"] is not None
        and stopped["note"].startswith("the feed is down")
        and "(exit 75)" in stopped["note"]
    )
    text = runner.invoke(cli, ["backtest", "list"], env=env)
    assert text.exit_code == 0
    row = next(line for line in text.stdout.splitlines() if line.startswith(pair.stopped))
    assert "unfinished" in row and "0 of 2, 2026-01-07..2026-01-14" in row


def test_a_database_that_is_no_readable_books_is_listed_with_why_not_left_out(pair: Pair, env: dict[str, str]) -> None:
    empty, foreign = _unique(), _unique()
    sweep, run = _unique(), uuid.uuid4().hex[:12]
    with psycopg.connect(pair.admin_url, autocommit=True) as conn:
        for database in (backtest_database(empty), backtest_database(foreign), f"llmtrade_sw_{sweep}"):
            conn.execute(f'CREATE DATABASE "{database}"')
        conn.execute(f'CREATE DATABASE "{backtest_database(f"{sweep}-{run}")}"')
    with psycopg.connect(url_of(pair.admin_url, backtest_database(foreign)), autocommit=True) as conn:
        conn.execute("CREATE TABLE events (id int)")  # named as llmtrade's, made by someone else
    listed = _listed(env)
    assert listed[empty]["status"] == "empty" and listed[empty]["events"] is None
    assert listed[foreign]["status"] == "unreadable" and "column" in listed[foreign]["note"]
    # A sweep's run, listed under its database's name, with the sweep whose record is on the server.
    assert listed[f"{sweep}_{run}"]["sweep"] == sweep


def test_a_running_backtest_is_listed_running_and_is_not_deleted(pair: Pair, env: dict[str, str]) -> None:
    name = _unique()
    with psycopg.connect(_copy(pair, name), autocommit=True) as holder:
        assert take(holder)  # as a backtest running in another process holds it
        assert _listed(env)[name]["status"] == "running"
        refused = runner.invoke(cli, ["backtest", "delete", name, "--yes"], env=env)
        assert refused.exit_code == 75, refused.output
        assert f"backtest {name} is running" in refused.stderr and "nothing was deleted" in refused.stderr
    assert _exists(pair, name)


def test_a_backtest_another_session_reads_is_not_deleted_until_it_ends(pair: Pair, env: dict[str, str]) -> None:
    name = _unique()
    with psycopg.connect(_copy(pair, name)):  # a leaderboard reading it, say
        refused = runner.invoke(cli, ["backtest", "delete", name, "--yes"], env=env)
        assert refused.exit_code == 75, refused.output
        assert "in use by 1 other session" in refused.stderr and "nothing was deleted" in refused.stderr
        assert _exists(pair, name)
    deleted = runner.invoke(cli, ["backtest", "delete", name, "--yes"], env=env)
    assert deleted.exit_code == 0, deleted.output
    assert not _exists(pair, name)


def test_delete_drops_the_database_removes_its_folder_and_records_what_it_was(
    pair: Pair, env: dict[str, str], clean_environment: Path
) -> None:
    name = _unique()
    _copy(pair, name)
    was = _listed(env)[name]
    prices = clean_environment / "backtests" / name.upper() / "prices"  # --fetch-history's, under another spelling
    prices.mkdir(parents=True)
    (prices / "SPY.csv").write_text("Date,Open,High,Low,Close,Volume\n")
    result = runner.invoke(cli, ["backtest", "delete", name.upper(), "--yes", "--json"], env=env)
    assert result.exit_code == 0, result.output
    deleted = json.loads(result.stdout)
    # What it was, as the list had it (its size read again, which moves as the server touches its files).
    assert deleted["dropped"] and deleted["folders"] == [str(prices.parent)]
    assert {**deleted["was"], "size_bytes": 0} == {**was, "size_bytes": 0} and deleted["was"]["size_bytes"] > 0
    assert not _exists(pair, name) and not prices.parent.exists()
    with psycopg.connect(env["DATABASE_URL"]) as conn:
        [(event_id, payload)] = conn.execute(
            "SELECT id, payload FROM events WHERE type = 'BacktestDeleted' AND stream = 'backtests-deleted'"
        ).fetchall()
    assert event_id == deleted["event_id"]
    assert (payload["name"], payload["status"], payload["events"], payload["size_bytes"]) == (
        name,
        "finished",
        was["events"],
        deleted["was"]["size_bytes"],
    )
    gone = runner.invoke(cli, ["leaderboard", "--backtest", name], env=env)
    assert gone.exit_code == 2 and f"no backtest named {name!r}" in gone.stderr
    again = runner.invoke(cli, ["backtest", "delete", name, "--yes"], env=env)
    assert again.exit_code == 2 and f"no backtest named {name!r}" in again.stderr


def test_a_folder_left_without_its_database_is_removed_and_recorded(
    env: dict[str, str], clean_environment: Path
) -> None:
    name = _unique()
    left = clean_environment / "backtests" / name / "prices"
    left.mkdir(parents=True)
    result = runner.invoke(cli, ["backtest", "delete", name, "--yes", "--json"], env=env)
    assert result.exit_code == 0, result.output
    deleted = json.loads(result.stdout)
    assert not deleted["dropped"] and deleted["was"] is None and not left.parent.exists()


def test_delete_off_a_terminal_without_yes_deletes_nothing(pair: Pair, env: dict[str, str]) -> None:
    result = runner.invoke(cli, ["backtest", "delete", pair.finished], env=env)
    assert result.exit_code == 2
    assert "not at a terminal" in result.stderr and "--yes" in result.stderr
    assert _exists(pair, pair.finished)


# End of input (Ctrl-D) printed click's "Aborted." and exited 1: not confirmed, it keeps the books (exit 2).
@pytest.mark.parametrize(
    ("answer", "kept"), [("n\n", True), ("\n", True), ("", True), ("no\n", True), ("y\n", False), ("Yes\n", False)]
)
def test_delete_at_a_terminal_asks_first_and_keeps_it_unless_told_yes(
    pair: Pair, env: dict[str, str], monkeypatch: pytest.MonkeyPatch, answer: str, kept: bool
) -> None:
    name = _unique()
    _copy(pair, name)
    monkeypatch.setattr(command, "_at_terminal", lambda: True)
    result = runner.invoke(cli, ["backtest", "delete", name], env=env, input=answer)
    assert f"delete backtest {name} (finished, weeks 1 of 1, 2026-01-07..2026-01-07;" in result.stderr
    assert (result.exit_code, _exists(pair, name)) == ((2, True) if kept else (0, False)), result.output


def test_delete_of_a_name_no_backtest_has_says_which_there_are(pair: Pair, env: dict[str, str]) -> None:
    result = runner.invoke(cli, ["backtest", "delete", pair.finished + "x", "--yes"], env=env)
    assert result.exit_code == 2
    assert f"no backtest named '{pair.finished}x'" in result.stderr and pair.finished in result.stderr


def test_a_folder_that_is_a_link_goes_and_what_it_points_at_stays(
    env: dict[str, str], clean_environment: Path, tmp_path: Path
) -> None:
    name = _unique()
    elsewhere = tmp_path / "my-prices"
    elsewhere.mkdir()
    (elsewhere / "SPY.csv").write_text("Date,Open,High,Low,Close,Volume\n")
    (clean_environment / "backtests").mkdir(parents=True)
    (clean_environment / "backtests" / name).symlink_to(elsewhere, target_is_directory=True)
    result = runner.invoke(cli, ["backtest", "delete", name, "--yes"], env=env)
    assert result.exit_code == 0, result.output
    assert not (clean_environment / "backtests" / name).exists() and (elsewhere / "SPY.csv").is_file()


def _sweep(pair: Pair, runs: int = 2) -> tuple[str, list[str]]:
    """A sweep's record (empty) and `runs` runs (copies of the finished backtest), named as a sweep names them; and a
    run of another sweep whose name begins with this one's, which is not this sweep's."""
    sweep = _unique()
    names = [f"{sweep}-{uuid.uuid4().hex[:12]}" for _ in range(runs)]
    with psycopg.connect(pair.admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "llmtrade_sw_{sweep}"')
    for name in [*names, f"{sweep}_b-{uuid.uuid4().hex[:12]}"]:
        _copy(pair, name)
    return sweep, names


def _sweep_exists(pair: Pair, sweep: str) -> bool:
    with psycopg.connect(pair.admin_url, autocommit=True) as conn:
        return (
            conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (f"llmtrade_sw_{sweep}",)).fetchone()
            is not None
        )


def test_delete_sweep_drops_its_runs_then_its_record_and_records_each(pair: Pair, env: dict[str, str]) -> None:
    sweep, runs = _sweep(pair)
    listed = _listed(env)
    assert [listed[r.replace("-", "_")]["sweep"] for r in runs] == [sweep, sweep]
    result = runner.invoke(cli, ["backtest", "delete", sweep, "--sweep", "--yes", "--json"], env=env)
    assert result.exit_code == 0, result.output
    deleted = json.loads(result.stdout)
    assert deleted["record_dropped"] and sorted(r["database"] for r in deleted["runs"]) == sorted(
        backtest_database(r) for r in runs
    )
    assert not any(_exists(pair, r) for r in runs) and not _sweep_exists(pair, sweep)
    other = next(name for name in _listed(env) if name.startswith(f"{sweep}_b_"))  # another sweep's run: kept
    assert other
    with psycopg.connect(env["DATABASE_URL"]) as conn:
        rows = conn.execute(
            "SELECT id, type, payload FROM events WHERE stream = 'backtests-deleted' ORDER BY id"
        ).fetchall()
    # Each drop's intent recorded before it, its outcome after, naming it.
    assert [r[1] for r in rows] == ["BacktestDeleting", "BacktestDeleted"] * 2 + ["SweepDeleting", "SweepDeleted"]
    assert [r[0] for r in rows[1::2]] == deleted["event_ids"]
    assert [r[2]["intent"] for r in rows[1::2]] == [r[0] for r in rows[::2]]
    assert rows[5][2]["name"] == sweep and len(rows[5][2]["runs"]) == 2


def test_a_running_sweep_is_not_deleted(pair: Pair, env: dict[str, str]) -> None:
    from llmtrade.sweep.lock import SWEEP_DRIVER

    sweep, runs = _sweep(pair, runs=1)
    with psycopg.connect(url_of(pair.admin_url, f"llmtrade_sw_{sweep}"), autocommit=True) as driver:
        driver.execute("SELECT pg_advisory_lock(%s)", (SWEEP_DRIVER,))  # as its driver holds it
        refused = runner.invoke(cli, ["backtest", "delete", sweep, "--sweep", "--yes"], env=env)
    assert refused.exit_code == 75, refused.output
    assert f"sweep {sweep} is running" in refused.stderr and "nothing was deleted" in refused.stderr
    assert _exists(pair, runs[0]) and _sweep_exists(pair, sweep)


def test_a_sweep_delete_stopped_by_a_run_in_use_keeps_the_record_and_the_rerun_finishes_it(
    pair: Pair, env: dict[str, str]
) -> None:
    sweep, runs = _sweep(pair)
    with psycopg.connect(url_of(pair.admin_url, backtest_database(sorted(runs)[1]))):  # a reader of the second run
        stopped = runner.invoke(cli, ["backtest", "delete", sweep, "--sweep", "--yes"], env=env)
    assert stopped.exit_code == 75, stopped.output
    assert "in use by 1 other session" in stopped.stderr
    assert not _exists(pair, sorted(runs)[0]) and _exists(pair, sorted(runs)[1]) and _sweep_exists(pair, sweep)
    with psycopg.connect(env["DATABASE_URL"]) as conn:  # the run dropped before it is recorded
        [(payload,)] = conn.execute("SELECT payload FROM events WHERE type = 'BacktestDeleted'").fetchall()
    assert payload["database"] == backtest_database(sorted(runs)[0])
    finished = runner.invoke(cli, ["backtest", "delete", sweep, "--sweep", "--yes"], env=env)
    assert finished.exit_code == 0, finished.output
    assert not _exists(pair, sorted(runs)[1]) and not _sweep_exists(pair, sweep)


def test_a_sweeps_name_given_as_a_backtests_says_to_add_sweep(pair: Pair, env: dict[str, str]) -> None:
    sweep, runs = _sweep(pair, runs=1)
    result = runner.invoke(cli, ["backtest", "delete", sweep, "--yes"], env=env)
    assert result.exit_code == 2
    assert f"`llmtrade backtest delete {sweep} --sweep` deletes its record and runs" in result.stderr
    assert _sweep_exists(pair, sweep) and _exists(pair, runs[0])


def test_a_folder_it_cannot_remove_is_named_after_the_drop_is_recorded(
    pair: Pair, env: dict[str, str], clean_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llmtrade.app import backtest_books

    name = _unique()
    _copy(pair, name)
    kept = clean_environment / "backtests" / name / "prices"
    kept.mkdir(parents=True)

    def refused(path: Path, *args: Any, **kwargs: Any) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(backtest_books.shutil, "rmtree", refused)
    result = runner.invoke(cli, ["backtest", "delete", name, "--yes"], env=env)
    assert result.exit_code == 1, result.output
    assert f"backtest {name}'s database was dropped (event " in result.stderr
    assert f"{kept.parent} (Permission denied); remove it by hand" in result.stderr
    assert not _exists(pair, name) and kept.is_dir()
    with psycopg.connect(env["DATABASE_URL"]) as conn:
        [(payload,)] = conn.execute("SELECT payload FROM events WHERE type = 'BacktestDeleted'").fetchall()
    assert payload["dropped"] and payload["folders"] == []
