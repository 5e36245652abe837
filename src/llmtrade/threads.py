"""Blocking calls run on threads side by side (`asyncio.to_thread`), none of them left running behind a stop.

A job's loop waits for its executor's threads when it closes (asyncio.Runner.close), so a call still running when a
stop (SIGTERM, Ctrl-C: a KeyboardInterrupt in the main thread) ends the job is waited for before the command records
its end and closes its connection -- but only a call on a thread the executor counts. ThreadPoolExecutor.submit queues
the call, then starts a thread and counts it once started; a stop landing in between (Thread.start waits for the new
thread, and the stop is raised in that wait) leaves the thread uncounted and the call queued with nobody awaiting it.
It then ran after the command had ended: an account's plan sent after the stop, its order accepted by the broker and
its OrderSubmitted failing on the closed connection (test_live_stops' cron run-due test, once in a full run under
load). So each call passes a gate: `on_threads` neither returns nor raises while a call that began is running, and a
call that reaches its thread after that does nothing."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from typing import TypeVar, cast

T = TypeVar("T")


class _Gate:
    """Lets calls in until it is closed; closing waits for every call let in to end."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._open = True
        self._inside = 0

    def run(self, call: Callable[[], T]) -> T | None:
        with self._changed:
            if not self._open:
                return None  # the caller has left (stopped): nobody takes an answer, and nothing must be done
            self._inside += 1
        try:
            return call()
        finally:
            with self._changed:
                self._inside -= 1
                self._changed.notify_all()

    def close(self) -> None:
        with self._changed:
            self._open = False
            self._changed.wait_for(lambda: self._inside == 0)


async def on_threads(calls: Sequence[Callable[[], T]]) -> list[T]:
    """Each call's answer, in order, the calls run on threads side by side; the first failure (in call order) is
    raised once every call has ended, as the calls are independent (one account's failure does not hold another's
    orders back). Stopped (cancelled, or a stop raised here), it leaves only once the calls that began have ended,
    and those that had not are never run."""
    gate = _Gate()
    try:
        answers = await asyncio.gather(*(asyncio.to_thread(gate.run, call) for call in calls), return_exceptions=True)
    finally:
        # Blocks the loop while a call runs on, which is only on the way out of a stop: the calls need no loop.
        gate.close()
    for answer in answers:
        if isinstance(answer, BaseException):
            raise answer
    return cast(list[T], answers)
