"""What a store that is its database's only writer (a backtest's) knows without asking PostgreSQL: `Sole`.

Kept by the event copies (storage/event_copies.py, which feed it each append) and the sole writer
(storage/sole_writer.py, which flushes what it holds before any query reads the table)."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from llmtrade.domain.events import StoredEvent

if TYPE_CHECKING:
    import psycopg

S = TypeVar("S")


@dataclass
class Sole:
    """What a store that is its database's only writer (a backtest's) knows without asking PostgreSQL:
    each stream's head, and which copies are current (`("stream", name)` or a counted copy's key).

    Its own appends keep both up to date (Copies.feed); anything it cannot vouch for (an append inside a
    caller's transaction, a lost race that proves another writer) empties it, and reads ask again."""

    heads: dict[str, int] = field(default_factory=dict)
    current: set[tuple[str, object]] = field(default_factory=set)
    # Every stream's head is in `heads` (read once, all at once): a stream not there has no events.
    complete: bool = False
    # Writes what the sole writer holds, before any query reads the table (storage/sole_writer.py).
    flush: Callable[[], None] = lambda: None
    # What the sole writer holds and has not written, ids ascending (all above every id written).
    held: Callable[[], list[StoredEvent]] = list
    # A stream fold's key -> ((`forgotten`, the stream's head then), its state): every append of the sole writer
    # moves its stream's head (`Copies.feed`), so while the head stands the state is the fold's answer.
    stream_folds: dict[Hashable, tuple[tuple[int, int], Any]] = field(default_factory=dict)
    forgotten: int = 0  # how many times everything was forgotten: a head read again after is another mark

    def forget(self) -> None:
        self.heads.clear()
        self.current.clear()
        self.complete = False
        self.stream_folds.clear()
        self.forgotten += 1

    def stream_fold(self, memo: Hashable, stream: str, fold: Callable[[], S]) -> S:
        """`fold()`, or the state it gave while the stream's head stood where it is now: the same events (the splits
        are folded some thirty times a checkpoint, nearly always with nothing new). Under the writer's lock."""
        mark = (self.forgotten, self.heads.get(stream, 0)) if self.complete else None
        kept = self.stream_folds.get(memo)
        if mark is not None and kept is not None and kept[0] == mark:
            return kept[1]  # type: ignore[no-any-return]  # kept under this key by this fold
        state = fold()
        if mark is not None and self.complete and mark == (self.forgotten, self.heads.get(stream, 0)):
            self.stream_folds[memo] = (mark, state)
        return state

    def head(self, conn: psycopg.Connection, stream: str) -> int:
        """The stream's head, from memory once every head has been read (one query per `forget`)."""
        if not self.complete:
            self.flush()
            rows = conn.execute("SELECT stream, max(version) FROM events GROUP BY stream").fetchall()
            self.heads = {name: int(version) for name, version in rows}
            self.complete = True
        return self.heads.get(stream, 0)
