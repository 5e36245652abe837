"""The embedded servers the command running in this process has used, so that one stopped meanwhile is not started
again by it (storage/database.py `start_embedded`).

An operator's trial ran `llmtrade db stop --force` during a weekly run: the dying run opened the database again to
record its failure and so started the server again, 3 times out of 3. A module of its own, importing nothing heavy:
the CLI begins and ends every command here (`begin`, `end`), before it knows whether the command touches the
database at all. Outside a command (a library call, a test starting and stopping servers itself) nothing is refused.
"""

from __future__ import annotations

from pathlib import Path

_used: set[Path] | None = None


def begin() -> None:
    """A command begins: it has used no embedded server yet."""
    global _used
    _used = set()


def end() -> None:
    """The command ended: nothing is refused until the next begins."""
    global _used
    _used = None


def used(pgdata: Path) -> None:
    """The command has the server of `pgdata` running (started or found)."""
    if _used is not None:
        _used.add(pgdata)


def stopped_under(pgdata: Path) -> bool:
    """The command used the server of `pgdata` before: found stopped now, it was stopped while the command ran."""
    return _used is not None and pgdata in _used
