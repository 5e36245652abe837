"""A data directory's lock file (postmaster.pid) that names no PostgreSQL process any more, removed before a start;
and its socket's lock file (`.s.PGSQL.5432.lock`) likewise.

pgserver takes the server for running when any process has the pid the file names, and then only connects. After a
crash or a reboot the file stays, and its pid may be another program's by then (pids start low again after a boot):
every command connected to a socket nothing served and exited 75, for good while that program ran (a cron trial: the
postmaster killed, its pid taken by a daemon), and `db stop` had pg_ctl send SIGTERM to that program. PostgreSQL
itself refuses to start over a lock file whose pid is alive, so the file is removed here, under pgserver's lock, when
the process it names is plainly none of PostgreSQL's: gone (a zombie) or a program of another name. A process named
postgres is left alone, whatever it serves: removing a live server's lock file would let a second server onto the
same files. A standalone backend's file (initdb's, its pid written negative) is removed once that process is gone.

The postmaster also locks its socket with a file beside it, which it leaves when killed outright. PostgreSQL removes
it at the next start when its pid is gone, but asks the kernel, for which a killed process its parent has not reaped
yet (a zombie: the postmaster's parent is init, which may take a moment) still exists: a command run just after
`kill -9` removed the postmaster.pid naming that zombie, then PostgreSQL refused the start over the socket's lock
("lock file .s.PGSQL.5432.lock already exists"), exit 1, while a second later the same command worked. Once no
postmaster.pid stands, a socket lock file of this data directory naming a zombie or another program is removed by
the same rule; one naming a live postgres process is kept (its refusal is said as temporary: server_starting.py).
"""

from __future__ import annotations

import shlex
from pathlib import Path

_SOCKET_LOCKS = ".s.PGSQL.*.lock"


def drop_stale(pgdata: Path) -> bool:
    """Remove `pgdata`'s postmaster.pid when it names no PostgreSQL process, then, with none left, its socket's lock
    file when that names none (see the module docstring); True when postmaster.pid was removed."""
    lock = pgdata / "postmaster.pid"
    try:
        pid = int(lock.read_text().split("\n", 1)[0])
    except FileNotFoundError:
        _drop_socket_locks(pgdata)
        return False
    except (OSError, ValueError):  # half written: PostgreSQL judges it
        return False
    stale = _stale(pid)
    if stale is None:  # no such process
        stale = pid < 0  # a postmaster's file with no process: pgserver and PostgreSQL replace it themselves
    if stale:
        lock.unlink(missing_ok=True)
        _drop_socket_locks(pgdata)
    return stale


def names_no_server(pgdata: Path) -> bool:
    """Whether `pgdata`'s postmaster.pid is missing or names no PostgreSQL process (by `drop_stale`'s rule), with
    nothing removed: what a status that must not touch the files reads."""
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
    except FileNotFoundError:
        return True
    except (OSError, ValueError):  # half written: a server starting or stopping, not judged here
        return False
    stale = _stale(pid)
    return pid < 0 or stale is None or stale


def _stale(pid: int) -> bool | None:
    """Whether process `pid` is plainly no PostgreSQL process (a zombie, or a program of another name); None when
    there is no such process; False when it is not ours to look at."""
    import psutil  # pgserver's own dependency, already imported by the caller

    try:
        process = psutil.Process(abs(pid))
        # A killed process that its parent's death left unreaped (a container's init may never reap it) is gone too.
        return process.status() == psutil.STATUS_ZOMBIE or "postgres" not in process.name()
    except psutil.NoSuchProcess:
        return None
    except psutil.Error:  # not ours to look at: left as it is
        return False


def _drop_socket_locks(pgdata: Path) -> None:
    """The socket lock files of `pgdata`'s last postmaster (in the data directory, or the folder its `-k` named) that
    name a zombie or another program, removed; only one whose data directory line is `pgdata`."""
    for folder in {pgdata, *_socket_dirs(pgdata)}:
        for lock in folder.glob(_SOCKET_LOCKS):
            try:
                lines = lock.read_text().split("\n")
                pid, serves = int(lines[0]), Path(lines[1].strip())
                ours = serves.resolve() == pgdata.resolve()
            except (OSError, ValueError, IndexError):  # half written, or not a lock file: PostgreSQL judges it
                continue
            if ours and _stale(pid):  # a pid gone for good PostgreSQL removes itself
                lock.unlink(missing_ok=True)


def _socket_dirs(pgdata: Path) -> list[Path]:
    """The socket folders (`-k`) the last postmaster of `pgdata` was started with, from its postmaster.opts."""
    try:
        words = shlex.split((pgdata / "postmaster.opts").read_text())
    except (OSError, ValueError):
        return []
    return [Path(words[n + 1]) for n, word in enumerate(words[:-1]) if word == "-k" and words[n + 1]]
