"""The session settings every connection llmtrade opens sets first (storage/connection.py `connect`)."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psycopg

# The session settings llmtrade's reads and writes assume, as the embedded server has them, whatever a DATABASE_URL's
# server, database or role sets as defaults (ALTER DATABASE/ROLE ... SET, PGOPTIONS): psycopg parses timestamps only
# in DateStyle ISO (a server on 'SQL, DMY' failed every command with a traceback), floats are read back exactly only
# with extra_float_digits >= 1, texts are sent and read as UTF-8, and instants come back in UTC. No timeouts either: a
# role's statement_timeout cancelled the same statement at every retry (exit 75 for ever), and an idle_session_timeout
# ended a session waiting on a model's answer; llmtrade's own limits are its own (ask's queries carry one). Nor a
# stricter isolation than the embedded server's READ COMMITTED. default_transaction_read_only is left as set: a
# read-only role or server refuses writes, and says so (exits.py).
_SESSION = {
    "DateStyle": "ISO",
    "IntervalStyle": "postgres",
    "TimeZone": "UTC",
    "extra_float_digits": "1",
    "client_encoding": "UTF8",
    "default_transaction_isolation": "read committed",
    "statement_timeout": "0",
    "lock_timeout": "0",
    "idle_in_transaction_session_timeout": "0",
}
# Settings newer servers have: SET of a name an older one does not know is an error.
_SESSION_SINCE = {"idle_session_timeout": (140000, "0"), "transaction_timeout": (170000, "0")}


@functools.cache
def session_settings(server_version: int) -> bytes:
    """The SET statements giving a session of a server of `server_version` (libpq's number) llmtrade's settings."""
    named = {**_SESSION, **{name: value for name, (since, value) in _SESSION_SINCE.items() if server_version >= since}}
    return "".join(f"SET {name} TO '{value}';" for name, value in named.items()).encode()


def set_session(conn: psycopg.Connection, attempts: int = 5) -> None:
    """llmtrade's session settings on `conn` (`session_settings`). A role's or database's statement_timeout
    of a few milliseconds applies to these SETs themselves until the first one takes effect: on a busy server one was
    cancelled ("canceling statement due to user request", a CI run of test_server_session_settings), the command exit
    75. Asked again, a few times; a timeout too short for a SET at all is still said as the cancel it is."""
    import psycopg

    for attempt in range(attempts):
        try:
            conn.execute(session_settings(conn.info.server_version))
            return
        except psycopg.errors.QueryCanceled:
            if attempt == attempts - 1:
                raise
