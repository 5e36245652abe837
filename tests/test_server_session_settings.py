"""A DATABASE_URL server set up as real servers are: a database (or role) whose defaults are another TimeZone,
DateStyle, IntervalStyle or extra_float_digits than the embedded server's. llmtrade's sessions read and write exactly
as on the embedded server: the same week, the same equity, the same instants."""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import UTC
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from llmtrade.cli import app as cli
from llmtrade.clock import FixedClock
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import open_storage
from llmtrade.storage.connection import connect
from tests.support import FIXED_NOW, WEDNESDAY_8AM

runner = CliRunner()

_FOREIGN = {
    "TimeZone": "Asia/Tokyo",
    "DateStyle": "SQL, DMY",
    "IntervalStyle": "sql_standard",
    "extra_float_digits": "0",
}


def _set_up_as_a_real_server(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        name = conn.info.dbname
        for setting, value in _FOREIGN.items():
            conn.execute(f"ALTER DATABASE \"{name}\" SET {setting} = '{value}'")


def _ran(url: str, *args: str) -> str:
    result = runner.invoke(cli, list(args), env={"DATABASE_URL": url, "LLMTRADE_NOW": WEDNESDAY_8AM})
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return result.output


def test_a_session_reads_and_writes_as_on_the_embedded_server(database_url: str) -> None:
    _set_up_as_a_real_server(database_url)
    with connect(database_url) as conn:
        # The database's defaults apply to any other client, not to llmtrade's sessions.
        assert conn.execute("SHOW TimeZone").fetchone() == ("UTC",)
        tenth = 0.1 + 0.2  # 0.30000000000000004: 15 digits (extra_float_digits 0) read back 0.3
        assert conn.execute("SELECT %s::float8", (tenth,)).fetchone() == (tenth,)
    with open_storage(Settings(DATABASE_URL=database_url), FixedClock(FIXED_NOW)) as storage:
        at = storage.conn.execute("SELECT %s::timestamptz", (FIXED_NOW,)).fetchone()
        assert at is not None and at[0] == FIXED_NOW and at[0].utcoffset() == UTC.utcoffset(None)


@pytest.mark.parametrize("command", [["status", "--json"], ["leaderboard", "--live", "--json"]])
def test_a_weekly_run_reads_the_same_on_a_server_of_other_settings(
    database_url: str, pg_admin_url: str, command: list[str]
) -> None:
    plain = database_url
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        template = psycopg.conninfo.conninfo_to_dict(plain)["dbname"]
        conn.execute(f'CREATE DATABASE "{template}_b" TEMPLATE "{template}"')
    foreign = plain.replace(f"/{template}?", f"/{template}_b?")
    try:
        _set_up_as_a_real_server(foreign)
        # Failed before with a traceback: psycopg parses no timestamp in DateStyle 'SQL, DMY'.
        outputs = []
        for url in (plain, foreign):
            _ran(url, "run-weekly")
            # A run's id ends in a random part; all else is the same to the character.
            outputs.append(json.loads(re.sub(r"(\d{8}T\d{6}Z)-[0-9a-f]+", r"\1", _ran(url, *command))))
        assert outputs[0] == outputs[1]
    finally:
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{template}_b" WITH (FORCE)')


def test_a_roles_timeouts_do_not_cut_llmtrades_sessions(database_url: str) -> None:
    role = f"r_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN SUPERUSER")
    try:
        with psycopg.connect(database_url, autocommit=True) as conn:
            for setting, value in {
                "statement_timeout": "1ms",  # cancelled every statement: exit 75 at every retry, for ever
                "idle_session_timeout": "100ms",  # ended the session while a step (a model's answer) took longer
                "idle_in_transaction_session_timeout": "100ms",
                "lock_timeout": "1ms",
            }.items():
                conn.execute(f"ALTER ROLE {role} SET {setting} = '{value}'")
        url = database_url.replace("postgres:@", f"{role}:@", 1)
        with connect(url) as conn:
            conn.execute("SELECT pg_sleep(0.2)")
            time.sleep(0.3)  # idle longer than the role's idle_session_timeout
            assert conn.execute("SELECT 1").fetchone() == (1,)
        _ran(url, "run-weekly")
        _ran(url, "status")
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(f"DROP OWNED BY {role}")
            conn.execute(f"DROP ROLE {role}")


def test_session_settings_cancelled_by_a_roles_tiny_timeout_are_asked_again(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A role's 1 ms statement_timeout applies to llmtrade's own SETs until the first takes effect; on a busy CI worker
    # one was cancelled and the command exited 75. The server's cancel is injected once, as PostgreSQL words it.
    real = psycopg.Connection.execute
    cancelled: list[bytes] = []

    def once(self: psycopg.Connection, query: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(query, bytes) and query.startswith(b"SET ") and not cancelled:
            cancelled.append(query)
            raise psycopg.errors.QueryCanceled("canceling statement due to user request")
        return real(self, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.Connection, "execute", once)
    with connect(database_url) as conn:
        assert cancelled  # the first try was cancelled
        assert conn.execute("SHOW statement_timeout").fetchone() == ("0",)
        assert conn.execute("SHOW DateStyle").fetchone() == ("ISO, MDY",)
