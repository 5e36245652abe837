"""The replay cache of model answers, keyed by a hash of everything that shaped the answer."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psycopg


@dataclass(frozen=True)
class CachedAnswer:
    content: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None


class AnswerCache:
    def __init__(self, conn: psycopg.Connection):
        self._conn = conn

    def get(self, key: str) -> CachedAnswer | None:
        row = self._conn.execute(
            "SELECT content, prompt_tokens, completion_tokens, cost_usd FROM llm_cache WHERE key = %s", (key,)
        ).fetchone()
        return CachedAnswer(*row) if row else None

    def put(self, key: str, model: str, answer: CachedAnswer) -> None:
        # The newest answer wins: a live rerun refreshes what a later replay will see.
        self._conn.execute(
            _PUT, (key, model, answer.content, answer.prompt_tokens, answer.completion_tokens, answer.cost_usd)
        )

    def transaction(self) -> AbstractContextManager[object]:
        """A transaction on the cache's connection: what else is written on it inside commits with the puts."""
        return self._conn.transaction()

    def put_many(self, entries: Sequence[tuple[str, str, CachedAnswer]]) -> None:
        """(key, model, answer) entries stored as `put` stores each, in one transaction (one commit)."""
        if not entries:
            return
        with self._conn.transaction(), self._conn.cursor() as cur:
            cur.executemany(
                _PUT,
                [(k, m, a.content, a.prompt_tokens, a.completion_tokens, a.cost_usd) for k, m, a in entries],
            )

    def entries(self) -> list[tuple[str, str, CachedAnswer]]:
        """Every (key, model, answer), in key order."""
        return self._entries("", ())

    def keys(self) -> set[str]:
        """Every key held (the answers themselves not read: a cache of years of weeks is tens of MB)."""
        return {key for (key,) in self._conn.execute("SELECT key FROM llm_cache").fetchall()}

    def entries_of(self, keys: set[str]) -> list[tuple[str, str, CachedAnswer]]:
        """`entries` of `keys` alone (those held), in key order."""
        return self._entries(" WHERE key = ANY(%s)", (sorted(keys),))

    def _entries(self, where: str, params: tuple[object, ...]) -> list[tuple[str, str, CachedAnswer]]:
        rows = self._conn.execute(
            "SELECT key, model, content, prompt_tokens, completion_tokens, cost_usd FROM llm_cache"
            f"{where} ORDER BY key",
            params,
        ).fetchall()
        return [(key, model, CachedAnswer(*rest)) for key, model, *rest in rows]

    def stamped(self) -> list[tuple[str, str, CachedAnswer, datetime]]:
        """Every (key, model, answer, when it was written here), in key order."""
        rows = self._conn.execute(
            "SELECT key, model, content, prompt_tokens, completion_tokens, cost_usd, created_at FROM llm_cache"
            " ORDER BY key"
        ).fetchall()
        return [(key, model, CachedAnswer(*rest[:4]), rest[4]) for key, model, *rest in rows]

    def replace_older(self, entries: Sequence[tuple[str, str, CachedAnswer, datetime]]) -> int:
        """Of the entries (`stamped`'s), store each whose key this cache holds with another answer written before it,
        in one transaction; returns how many. A backtest's answer asked anew under --live-misses, in place of invalid
        ones it replayed (llm/invalid_cached.py), is newer than the live cache's copy of those: given back with
        `add_missing` alone, the invalid answers stayed, and every later backtest of the week met them again."""
        if not entries:
            return 0
        with self._conn.transaction(), self._conn.cursor() as cur:
            cur.executemany(
                _RENEW,
                [
                    (a.content, a.prompt_tokens, a.completion_tokens, a.cost_usd, at, k, at, a.content)
                    for k, _, a, at in entries
                ],
            )
            return cur.rowcount

    def add_missing(self, entries: Sequence[tuple[str, str, CachedAnswer]]) -> int:
        """Store the entries whose key this cache does not hold yet, in one transaction; returns how many.
        Unlike `put`, an answer already held is kept: a backtest resumed replays the answers it used."""
        if not entries:
            return 0
        with self._conn.transaction(), self._conn.cursor() as cur:
            cur.executemany(
                _ADD,
                [(k, m, a.content, a.prompt_tokens, a.completion_tokens, a.cost_usd) for k, m, a in entries],
            )
            # psycopg (3.1+) sums executemany's row counts; a key already held counts 0 (DO NOTHING).
            return cur.rowcount


_ADD = """INSERT INTO llm_cache (key, model, content, prompt_tokens, completion_tokens, cost_usd)
          VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (key) DO NOTHING"""

_RENEW = """UPDATE llm_cache
            SET content = %s, prompt_tokens = %s, completion_tokens = %s, cost_usd = %s, created_at = %s
            WHERE key = %s AND created_at < %s AND content IS DISTINCT FROM %s"""

_PUT = """INSERT INTO llm_cache (key, model, content, prompt_tokens, completion_tokens, cost_usd)
          VALUES (%s, %s, %s, %s, %s, %s)
          ON CONFLICT (key) DO UPDATE SET content = excluded.content,
              prompt_tokens = excluded.prompt_tokens, completion_tokens = excluded.completion_tokens,
              cost_usd = excluded.cost_usd, created_at = now()"""
