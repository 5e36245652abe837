"""One event loop for every job of a backtest, each job run as `asyncio.run` would run it.

`asyncio.run` makes a loop per job and closes it after: about a tenth of a millisecond each, over the ~10,600
jobs of a 520-week backtest (issue 13). A backtest's jobs run one after another on one thread, so one loop
serves them all (the BacktestContainer holds it for its `held()` block). What `asyncio.run` gives a job is
kept: its own copy of the caller's context (the run's log binding, made just before it), and no task of its
left running when it ends (cancelled and waited for, as `asyncio.run` does when closing its loop). Two things
differ, neither used by a backtest's jobs: Ctrl-C is not turned into the job's cancellation (a backtest keeps
asyncio's SIGINT handler out anyway: app/backtest.py `_plain_sigint`; KeyboardInterrupt is raised where the
job is, and the job's tasks are cancelled on the way out), and async generators a job left open are closed
when the loop closes, not when the job ends. Live commands keep `asyncio.run` (app/session.py)."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class JobLoop:
    """Runs jobs' coroutines on one loop, made on the first job (by the event loop policy then in place: a
    backtest's one worker thread, app/backtest_container.py) and ended by `close`."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        """`work` run to its end (its result or its exception), then whatever tasks it left are cancelled."""
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)  # as asyncio.run: the job's loop is the thread's current one
        task = loop.create_task(work, context=contextvars.copy_context())
        try:
            return loop.run_until_complete(task)
        finally:
            _cancel_left(loop, "a job's end")

    def close(self) -> None:
        """End the loop as `asyncio.run` ends its own: tasks cancelled, async generators and the default
        executor shut down."""
        loop, self._loop = self._loop, None
        if loop is None:
            return
        try:
            _cancel_left(loop, "the job loop's close")
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def _cancel_left(loop: asyncio.AbstractEventLoop, when: str) -> None:
    """Cancel every task still pending on `loop` and wait for them (asyncio.run's own end)."""
    left = [task for task in asyncio.all_tasks(loop) if not task.done()]
    if not left:
        return
    for task in left:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))
    for task in left:
        if not task.cancelled() and task.exception() is not None:
            loop.call_exception_handler(
                {"message": f"unhandled exception during {when}", "exception": task.exception(), "task": task}
            )
