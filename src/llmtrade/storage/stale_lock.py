"""A data directory's lock file (postmaster.pid) that names no PostgreSQL process any more, removed before a start.

pgserver takes the server for running when any process has the pid the file names, and then only connects. After a
crash or a reboot the file stays, and its pid may be another program's by then (pids start low again after a boot):
every command connected to a socket nothing served and exited 75, for good while that program ran (a cron trial: the
postmaster killed, its pid taken by a daemon), and `db stop` had pg_ctl send SIGTERM to that program. PostgreSQL
itself refuses to start over a lock file whose pid is alive, so the file is removed here, under pgserver's lock, when
the process it names is plainly none of PostgreSQL's: gone (a zombie) or a program of another name. A process named
postgres is left alone, whatever it serves: removing a live server's lock file would let a second server onto the
same files. A standalone backend's file (initdb's, its pid written negative) is removed once that process is gone."""

from __future__ import annotations

from pathlib import Path


def drop_stale(pgdata: Path) -> bool:
    """Remove `pgdata`'s postmaster.pid when it names no PostgreSQL process (see the module docstring); True when it
    was removed."""
    import psutil  # pgserver's own dependency, already imported by the caller

    lock = pgdata / "postmaster.pid"
    try:
        pid = int(lock.read_text().split("\n", 1)[0])
    except (OSError, ValueError):  # none, or half written: PostgreSQL judges it
        return False
    try:
        process = psutil.Process(abs(pid))
        # A killed process that its parent's death left unreaped (a container's init may never reap it) is gone too.
        stale = process.status() == psutil.STATUS_ZOMBIE or "postgres" not in process.name()
    except psutil.NoSuchProcess:
        stale = pid < 0  # a postmaster's file with no process: pgserver and PostgreSQL replace it themselves
    except psutil.Error:  # not ours to look at: left as it is
        return False
    if stale:
        lock.unlink(missing_ok=True)
    return stale
