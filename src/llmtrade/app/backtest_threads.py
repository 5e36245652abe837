"""The threads of a backtest's jobs: none. Work a job hands to a thread (`asyncio.to_thread`: the accounts' broker
calls, workflows/execution.py) runs at once, on the job's own thread, in the order it is handed over
(`one_thread_at_a_time`).

Live overlaps the accounts' broker calls on threads, so which account's order reaches the books first depends on the
scheduler; a replay must not (app/backtest_container.py: the backtest's one Container). With the paper broker there is
no network wait to overlap, so nothing is lost, and a thread cost more than the call: a worker thread (one, for the
order) woken for each call, the loop waiting in epoll for its answer, and the GIL handed back and forth (about 0.2 s
of a 156-week synthetic backtest's 17, for some 1,300 calls).

A stop keeps what a worker thread gave it: a Ctrl-C or SIGTERM landing in the main thread while a thread ran a call
was answered once the call had ended (threads.py: a call that began runs to its end), so a call run here holds them
until it ends (stops.py `signals_held`) and the stop is raised then, where the job awaited the call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

from llmtrade.stops import signals_held

T = TypeVar("T")


class _HereAndNow(ThreadPoolExecutor):
    """An executor that starts no thread: `submit` runs the call before it returns, on the caller's thread, with
    Ctrl-C and SIGTERM held until it ends. A ThreadPoolExecutor only because asyncio's default executor must be one."""

    def __init__(self) -> None:
        super().__init__(max_workers=1, thread_name_prefix="backtest")

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()
        with signals_held():
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:  # the call's failure is its future's, as a worker thread's would be
                future.set_exception(exc)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        return None  # nothing runs behind: every call ended before its submit returned


class _HereAndNowLoop(asyncio.SelectorEventLoop):
    """An event loop whose default executor is never shut down on a thread of its own: it has nothing to wait for."""

    async def shutdown_default_executor(self, timeout: float | None = None) -> None:
        # asyncio ends each loop by shutting its default executor down on a thread started for it: a thread per job.
        # Python 3.12 on passes the join's `timeout` (asyncio.Runner.close); 3.11 passes nothing.
        return None


class _HereAndNowPolicy(asyncio.DefaultEventLoopPolicy):
    """Event loops whose `to_thread` work runs at once on the loop's own thread (`_HereAndNow`)."""

    _loop_factory = _HereAndNowLoop

    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        loop = super().new_event_loop()
        loop.set_default_executor(_HereAndNow())
        return loop


@contextmanager
def one_thread_at_a_time() -> Iterator[None]:
    """Within this block every job's loop runs the work it hands to threads at once, on its own thread, in the order
    handed over (see the module docstring)."""
    previous = asyncio.get_event_loop_policy()
    asyncio.set_event_loop_policy(_HereAndNowPolicy())
    try:
        yield
    finally:
        asyncio.set_event_loop_policy(previous)
