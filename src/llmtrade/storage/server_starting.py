"""What the embedded server is doing when a command's start found it running but not ready: still starting, and why.

A server killed outright (kill -9, the OOM killer, a power loss) is recovered by PostgreSQL at its next start: it
replays its write-ahead log before it accepts a connection, and says "the database system is starting up" (SQLSTATE
57P03, cannot_connect_now) to any client meanwhile. pgserver waits 10 s for pg_ctl's start, then finds the server
running but not ready and fails its bare `assert status == 'ready'`: the command exited 75 saying the server "stopped
while starting (another process stopping it, `llmtrade db stop`?)", while it was recovering and would be ready in a
moment. `starting_note` says which it is, from the server's own lock file and log.
"""

from __future__ import annotations

import re
from pathlib import Path

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
    try:
        with log.open("rb") as file:
            size = file.seek(0, 2)
            file.seek(max(0, size - _TAIL))
            tail = file.read().decode("utf-8", "replace")
    except OSError:
        return False
    last = tail.rsplit(_START, 1)[-1]
    return any(line in last for line in _CRASHED)


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
