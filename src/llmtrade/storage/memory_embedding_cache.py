"""The cache of text vectors from embedding models (table embedding_cache, migrations 0005 and 0020)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psycopg


class EmbeddingCache:
    def __init__(self, conn: psycopg.Connection):
        self._conn = conn

    def get_many(self, keys: Sequence[str]) -> dict[str, list[float]]:
        """The vectors held for `keys` (float32 values as Python floats); keys not held are absent."""
        if not keys:
            return {}
        rows = self._conn.execute("SELECT key, vec FROM embedding_cache WHERE key = ANY(%s)", (list(keys),)).fetchall()
        return {key: [float(x) for x in vec] for key, vec in rows}

    def served(self, model: str) -> set[str]:
        """The models the servers said made the vectors cached under the configured name `model` (the `model` of
        their replies), those that said one."""
        rows = self._conn.execute(
            "SELECT DISTINCT served FROM embedding_cache WHERE model = %s AND served IS NOT NULL", (model,)
        ).fetchall()
        return {served for (served,) in rows}

    def put_many(self, model: str, dims: int, vectors: dict[str, list[float]], *, served: str | None = None) -> None:
        # The first vector stays: a model is deterministic enough that a second answer is not news.
        with self._conn.transaction():
            for key, vec in vectors.items():
                self._conn.execute(
                    """INSERT INTO embedding_cache (key, model, dims, vec, served)
                       VALUES (%s, %s, %s, %s::float4[], %s) ON CONFLICT (key) DO NOTHING""",
                    (key, model, dims, vec, served),
                )
