"""A value made once per object, remembered by the object's identity: `IdentityMemo`.

A backtest asks the same frozen objects the same questions thousands of times (the day's indicator set, a
recollection's line, a config's shortable symbols, a system prompt's JSON). Those objects are frozen pydantic
models, tuples or strings: equal-by-value hashing would cost as much as the answer, so they are remembered by
`id()`. An id is reused once its object is freed, so every entry holds its object: while the entry lives the id
cannot be reused, and a hit is checked with `is`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class IdentityMemo(Generic[K, V]):
    """`of(obj, make)` is `make(obj)`, made once per object while its entry is kept.

    Only for objects never changed after they are first asked about (frozen models, str, tuple): a changed
    object keeps its id and would get the old value. At most `kept` entries; when full it starts afresh (a
    backtest's working set is a week's or a day's objects, and the next ones replace them). Safe across
    threads: a read is one dict lookup, a write is locked; two threads may both make a missing value, and
    either one is kept (`make` must give equal values for the same object)."""

    def __init__(self, kept: int) -> None:
        if kept < 1:
            raise ValueError(f"an IdentityMemo keeps at least one entry, not {kept}")
        self._kept = kept
        self._entries: dict[int, tuple[K, V]] = {}
        self._lock = threading.Lock()

    def of(self, obj: K, make: Callable[[K], V]) -> V:
        entry = self._entries.get(id(obj))
        if entry is not None and entry[0] is obj:
            return entry[1]
        value = make(obj)
        with self._lock:
            if len(self._entries) >= self._kept:
                self._entries.clear()
            self._entries[id(obj)] = (obj, value)
        return value

    def __len__(self) -> int:
        return len(self._entries)
