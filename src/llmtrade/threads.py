"""Blocking calls run on threads side by side (`asyncio.to_thread`), none of them left running behind a stop.

A job's loop waits for its executor's threads when it closes (asyncio.Runner.close), so a call still running when a
stop (SIGTERM, Ctrl-C: a KeyboardInterrupt in the main thread) ends the job is waited for before the command records
its end and closes its connection -- but only a call on a thread the executor counts. ThreadPoolExecutor.submit queues
the call, then starts a thread and counts it once started; a stop landing in between (Thread.start waits for the new
thread, and the stop is raised in that wait) leaves the thread uncounted and the call queued with nobody awaiting it.
It then ran after the command had ended: an account's plan sent after the stop, its order accepted by the broker and
its OrderSubmitted failing on the closed connection (test_live_stops' cron run-due test, once in a full run under
load). So each call passes a gate: `on_threads` neither returns nor raises while a call that began is running, and a
call that reaches its thread after that does nothing. The same held for every job's work handed to a thread (risk_prep's
records, the memory stages' side connection, the model calls' records): none uses `asyncio.to_thread` alone. Work that
must be done even when stopped (a paid model call's record) goes through `on_thread_or_here`: the caller does it itself
when no thread began it.

The one exception, `within`, is for a send over the network after the job's records are written (an alert, the
traces, the metrics' push): a send past its bound is left running on a daemon thread, as nothing of the books waits
on it, and the process must still end."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar, cast

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


class _Handover(Generic[T]):
    """One call for a thread, run by whichever side takes it first: the thread, or its caller on the way out."""

    def __init__(self, call: Callable[[], T]) -> None:
        self._call = call
        self._taken = threading.Lock()  # held by whichever side took the call, for good
        self._ended = threading.Event()

    def on_thread(self) -> T | None:
        if not self._taken.acquire(blocking=False):
            return None  # the caller ran it itself on its way out
        return self._run()

    def settle(self) -> None:
        """On the caller's way out: run the call here unless a thread took it, else wait for that thread's end."""
        if self._taken.acquire(blocking=False):
            with contextlib.suppress(Exception):  # what is raised is what ended the caller (a stop), not this
                self._run()
        self._ended.wait()

    def _run(self) -> T:
        try:
            return self._call()
        finally:
            self._ended.set()


async def on_thread_or_here(call: Callable[[], T]) -> T:
    """`call`'s answer, the call run on a thread, for work that must be done even when the caller is stopped (a model
    call's record: the call was made and paid for). Stopped before a thread began it (the stop raised in the thread's
    start, see the module doc), the caller runs it itself on its way out, its failure not raised over the stop;
    stopped while a thread runs it, the caller leaves once it has ended. Either way it is done once, before the
    caller has left, and a thread that reaches it later does nothing."""
    handover: _Handover[T] = _Handover(call)
    try:
        return cast(T, await asyncio.to_thread(handover.on_thread))  # the thread took it: its answer
    finally:
        # Blocks the loop while the call runs (here or on its thread), which is only on the way out of a stop.
        handover.settle()


def within(call: Callable[[], T], seconds: float) -> T:
    """`call`'s answer (or what it raised), the call given `seconds` on a daemon thread of its own; TimeoutError when
    it has not ended by then, the call left running. For a send to a service on the network after a command (an
    alert, the traces, the metrics' push), whose client bounds each read but not the whole: a server that trickles
    its answer a byte at a time held the cron job for hours. Not a pool's thread (apprise's own executor, or
    asyncio.to_thread): Python joins those at exit, so the command, its result printed, did not end, not even on
    SIGTERM; a daemon thread is dropped when the process ends. The caller's context variables go with the call."""
    answer: list[tuple[bool, object]] = []

    def run() -> None:
        try:
            answer.append((True, call()))
        except BaseException as exc:  # handed to the caller, which decides
            answer.append((False, exc))

    thread = threading.Thread(target=contextvars.copy_context().run, args=(run,), daemon=True, name="within")
    thread.start()
    thread.join(seconds)
    if not answer:
        raise TimeoutError(f"no answer within {seconds:g} s")
    ended, value = answer[0]
    if not ended:
        raise cast(BaseException, value)
    return cast(T, value)
