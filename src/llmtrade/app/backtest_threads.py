"""The threads of a backtest's jobs: one worker, in the order work is handed to it (`one_thread_at_a_time`).

Live overlaps the accounts' broker calls on threads (workflows/execution.py), so which account's order reaches the
books first depends on the scheduler; a replay must not (app/backtest_container.py: the backtest's one Container). With
the paper broker there is no network wait to overlap, so little is lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager


class _Worker(ThreadPoolExecutor):
    """One worker thread for every job of the backtest: a loop closing (which shuts its default executor
    down) leaves it running; `stop` ends it."""

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        return None

    def stop(self) -> None:
        super().shutdown(wait=True)


class _SharedWorkerLoop(asyncio.SelectorEventLoop):
    """An event loop whose default executor outlives it: the policy's one worker, shut down by the policy."""

    async def shutdown_default_executor(self) -> None:
        # asyncio.run ends each job by shutting the default executor down (on a thread started for it); the
        # worker is the backtest's, kept for the next job instead of a new thread per job.
        return None


class _OneWorkerPolicy(asyncio.DefaultEventLoopPolicy):
    """Event loops whose `to_thread` work runs on a single worker, in the order it was handed over: one
    worker for every loop the policy makes (`close` shuts it down)."""

    _loop_factory = _SharedWorkerLoop

    def __init__(self) -> None:
        super().__init__()
        self._worker = _Worker(max_workers=1, thread_name_prefix="backtest")

    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        loop = super().new_event_loop()
        loop.set_default_executor(self._worker)
        return loop

    def close(self) -> None:
        self._worker.stop()


@contextmanager
def one_thread_at_a_time() -> Iterator[None]:
    """Within this block every job's `asyncio.run` runs its threads one at a time (see the module docstring)."""
    previous = asyncio.get_event_loop_policy()
    policy = _OneWorkerPolicy()
    asyncio.set_event_loop_policy(policy)
    try:
        yield
    finally:
        asyncio.set_event_loop_policy(previous)
        policy.close()
