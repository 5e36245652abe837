"""A connection to a PostgreSQL URL, and what is said when there is none: which failure is the user's to fix, which
is worth waiting out.

`connect` sets the session (storage/session_settings.py) on every connection it returns, and has it send any text
as PostgreSQL can store it (storage/storable_text.py). A server that does not answer, is starting, recovering or full
is DatabaseUnavailable (exit 75); a URL libpq cannot use or a login the server refuses for good (password, role,
database, pg_hba.conf) is a UsageError (exit 2) naming DATABASE_URL: waiting does not mend it. `check_url` refuses a
URL that cannot work before any connection. No message ever shows the URL's password (`redact`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit, urlunsplit

from llmtrade.errors import DatabaseUnavailable, UsageError
from llmtrade.storage.server_starting import cannot_connect_now
from llmtrade.storage.session_settings import set_session
from llmtrade.storage.storable_text import use_storable_text

if TYPE_CHECKING:
    import psycopg


# libpq's words for a value it cannot use (port, sslmode, a timeout...): a setting to fix, not an outage.
_BAD_SETTING = re.compile(r"invalid (port number|integer value|[\w ]+ value)|could not match \d+ (port numbers|host)")


# The server's words for a login it refuses for good (no sqlstate comes with a failed connection): a password, a role
# or a database that is wrong, or no pg_hba.conf line for it. A cron job exiting 75 on it was retried for ever.
_LOGIN_REFUSED = re.compile(
    r'password authentication failed|(role|database) "[^"]*" does not exist|no pg_hba\.conf entry|'
    r"(Ident|peer) authentication failed"
)


def connect(url: str, *, autocommit: bool = True) -> psycopg.Connection:
    """A connection to `url`. Raises DatabaseUnavailable (exit 75) when the server does not answer, and
    UsageError (exit 2) naming DATABASE_URL when the URL itself cannot work or the server refuses its login."""
    import psycopg  # lazy: psycopg costs ~0.1 s to import, --help must not pay it

    try:
        conn = psycopg.connect(url, autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as exc:
        if _BAD_SETTING.search(str(exc)):
            raise _bad_url(url, exc) from exc
        said = " ".join(str(exc).split())
        gone = _MISSING.search(said)
        if gone is not None and gone["database"].startswith(_BOOKS_MADE):
            # A backtest's or sweep's database, whose name llmtrade made and found before connecting: gone meanwhile
            # (a delete between a report's connections), not a URL to fix. It said "refused the login of DATABASE_URL"
            # on the embedded server, where none is set.
            raise UsageError(
                f"the database {gone['database']} does not exist: dropped since this command found it "
                "(`llmtrade backtest delete`, or by hand); nothing of it is left to read"
            ) from exc
        if _LOGIN_REFUSED.search(said):
            raise UsageError(
                f"the database server refused the login of DATABASE_URL {redact(url)!r}: "
                f"{_redacted_reason(url, exc)}; fix its user, password or database name (or the server's "
                "pg_hba.conf): waiting does not mend it"
            ) from exc
        hint = _connections_needed(said) + cannot_connect_now(said)
        raise DatabaseUnavailable(f"cannot connect to the database: {said}{hint}") from exc
    except psycopg.ProgrammingError as exc:
        # libpq could not even parse it: a setting to fix, not an outage to wait out.
        raise _bad_url(url, exc) from exc
    try:
        set_session(conn)
        use_storable_text(conn)
    except BaseException:
        conn.close()
        raise
    conn.autocommit = autocommit
    return conn


# PostgreSQL's words for a connection refused for the number open: the server's max_connections (less the slots it
# keeps for superusers), or a role's or database's CONNECTION LIMIT.
_TOO_MANY = re.compile(r"too many (clients|connections for (role|database))|remaining connection slots are reserved")


# The server's words for a database that is not there (or was dropped as the login looked it up: "It seems to have
# just been dropped or renamed"), and the prefixes of the databases llmtrade makes beside the live books.
_MISSING = re.compile(r'database "(?P<database>[^"]*)" does not exist')
_BOOKS_MADE = ("llmtrade_bt_", "llmtrade_sw_")


def _connections_needed(said: str) -> str:
    """What to add to a refusal for the connections open: how many llmtrade holds at once. A CONNECTION LIMIT below
    that refuses a run at every retry (exit 75 for ever, said only as the server's 'too many connections for role');
    a full server lets it in once others close theirs. Counted on a trial: a run or a read 2, a backtest 3 (its
    helpers' included), a sweep about 3 per worker more."""
    if not _TOO_MANY.search(said):
        return ""
    return (
        ". llmtrade holds up to 2 connections at once for a command, 3 for a backtest and 3 more for each sweep "
        "worker: a role's or database's CONNECTION LIMIT (or max_connections) below that refuses it at every retry "
        "(ALTER ROLE ... CONNECTION LIMIT to raise it); a server full of other sessions lets it in once they close"
    )


def check_url(url: str) -> None:
    """Refuse (UsageError, exit 2, naming DATABASE_URL) a URL that cannot work whatever the server does:
    one libpq cannot parse, one that names nothing, a port that is not a number from 1 to 65535."""
    from psycopg.conninfo import conninfo_to_dict  # lazy, as in connect()

    try:
        parts = conninfo_to_dict(url)
    except Exception as exc:  # psycopg.ProgrammingError; anything else libpq says is as unusable
        raise _bad_url(url, exc) from exc
    if not parts:
        raise _bad_url(url, ValueError("it names no host, database or user"))
    for port in str(parts.get("port") or "").split(","):
        if port and not (port.isdigit() and 0 < int(port) < 65536):
            raise _bad_url(url, ValueError(f"port {port!r} is not a number from 1 to 65535"))


def _bad_url(url: str, exc: Exception) -> UsageError:
    return UsageError(
        f"DATABASE_URL {redact(url)!r} is not a PostgreSQL connection URL ({_redacted_reason(url, exc)}); "
        "use postgresql://USER:PASSWORD@HOST:PORT/DBNAME, or unset it for the embedded server"
    )


def _redacted_reason(url: str, exc: Exception) -> str:
    """libpq's or the server's reason, `url`'s password never in it."""
    try:
        password = urlsplit(url).password if "://" in url else None
    except ValueError:  # e.g. an unclosed "[" of an IPv6 host
        password = None
    # libpq quotes the whole URL in some messages, and some a part of it alone ('unexpected spaces found in "s3cret
    # pw"'): show the URL redacted, and never a password, as written or percent-decoded, quoted or bare.
    reason = " ".join(str(exc).replace(url, redact(url)).split())
    for secret in {password, unquote(password)} if password else ():
        reason = reason.replace(f":{secret}@", ":***@")
        for quote in ('"', "'"):
            reason = reason.replace(f"{quote}{secret}{quote}", f"{quote}***{quote}")
        if len(secret) >= 4:  # a shorter one would blank out letters of the message, not a secret
            reason = reason.replace(secret, "***")
    return reason


def redact(url: str) -> str:
    """Drop the password from a URL before it is shown."""
    try:
        parts = urlsplit(url)
    except ValueError:  # not even splittable: hide anything that looks like user:password@
        return re.sub(r"://[^@/]*@", "://***@", url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        parts = parts._replace(netloc=netloc)
    return urlunsplit(parts)
