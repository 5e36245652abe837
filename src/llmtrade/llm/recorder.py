"""Writing the gateway's records off the event loop, several calls' records in one transaction.

A stage asks its models concurrently (twelve reviews at once), so their replies arrive together.
Written one by one on the event loop, each record (an LLMCallCompleted or LLMCallFailed event,
and the replay-cache entry of a live answer) held up the replies behind it by a transaction
each. Here a reply's record joins a queue; one writer at a time takes everything queued and
writes it on a worker thread, the cache entries and every event (one EventSink.append) in one
transaction, while the loop goes on reading the other replies.

The guarantee is unchanged: `write` returns only once its record is stored (a store that holds its
appends in memory, a backtest's, is flushed with a live answer), so a caller never uses an answer whose
call is not on file, no answer is cached without its call, and a write that fails raises in every
caller whose record it carried. A caller cancelled while waiting does not cancel the write, and a stop does not
lose a batch handed to its thread (threads.py `on_thread_or_here`): it is stored before the job ends.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from functools import partial

from llmtrade.domain.events import EventSink, NewEvent
from llmtrade.storage.llm_cache import AnswerCache, CachedAnswer
from llmtrade.threads import on_thread_or_here


@dataclass(frozen=True)
class CacheEntry:
    """A live answer for the replay cache, under its request's content address."""

    key: str
    model: str
    answer: CachedAnswer


@dataclass
class _Pending:
    event: NewEvent
    entries: tuple[CacheEntry, ...]
    done: asyncio.Future[None] = field(repr=False)


class Recorder:
    """Stores call records in batches: `await write(...)` returns once its own record is stored."""

    def __init__(self, events: EventSink, cache: AnswerCache | None, *, inline: bool = False):
        """`inline`: the batch is stored on the event loop, in the writer's turn, instead of on a worker thread:
        for a store whose appends cost no I/O (a backtest's sole writer holds them in memory), where the
        thread's hand-over and the loop's wake-up cost more than the append itself. The batches and their order
        are the same: the writer still takes everything queued when its turn comes."""
        self._events = events
        self._cache = cache
        self._inline = inline
        self._queue: list[_Pending] = []
        self._writer: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def write(self, event: NewEvent, *entries: CacheEntry | None) -> None:
        """Store `event` (and `entries` in the replay cache, those given); raises what the store raised."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # A gateway used by several asyncio.run calls (a backtest's jobs): a writer of an earlier loop is gone
            # (cancelled when its run ended); what it left queued is written by this loop's writer.
            self._loop, self._writer = loop, None
        pending = _Pending(event, tuple(entry for entry in entries if entry is not None), loop.create_future())
        self._queue.append(pending)
        if self._writer is None or self._writer.done():
            self._writer = loop.create_task(self._drain())
        # A caller cancelled now cancels only its wait: the record is in the queue, which the writer (its own task)
        # stores whole, its own future done or not; no shield (and its second future) is needed for that.
        await pending.done

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                if self._inline:
                    self._store(batch)
                else:
                    # Stored before the job ends even when a stop lands as the batch is handed to its thread.
                    await on_thread_or_here(partial(self._store, batch))
            except Exception as exc:
                for item in batch:
                    if item.done.get_loop() is loop and not item.done.done():
                        item.done.set_exception(exc)
            else:
                for item in batch:
                    # A record left by an earlier loop's cancelled caller is stored; nobody waits for it.
                    if item.done.get_loop() is loop and not item.done.done():
                        item.done.set_result(None)

    def _store(self, batch: list[_Pending]) -> None:
        events = [item.event for item in batch]
        entries = [(entry.key, entry.model, entry.answer) for item in batch for entry in item.entries]
        if self._cache is None or not entries:
            self._events.append(events)
            if any(_spent(event) for event in events):
                # A failed call whose replies were billed (cut off after its 200, truncated twice) caches nothing, yet
                # its record holds what the budget counts: held to the week's end, a SIGKILL lost it and the resumed
                # backtest's --live-misses budget started as if it were never paid. Such calls are few.
                self._events.flush()
            return
        # The event store's connection lock (the cache shares its connection) for the whole transaction: another
        # thread's transaction on it (risk_prep's, alongside the chairman's call) must not nest inside this one.
        with self._events.writing(), self._cache.transaction():  # the answers and their calls' records: one commit
            self._cache.put_many(entries)
            self._events.append(events)
            # A backtest's sole writer holds its appends until the week's end, while the cache writes now: a process
            # killed in between kept answers it paid for with no call on file, and the budget, which counts the calls,
            # started the resume as if they were free. Live answers are few and slow. (A store that writes at append
            # has nothing to flush.)
            self._events.flush()


def _spent(event: NewEvent) -> bool:
    """Whether a call record counts dollars in a budget (llm/budget.py `events_spent`): a replayed or offline answer's
    costs nothing."""
    payload = event.payload
    return bool(payload.get("billed") or payload.get("cost_usd") or payload.get("cost_counted_usd"))
