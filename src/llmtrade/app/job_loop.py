"""How a job's coroutine is run: `run_job` for a live command (a loop of its own, as `asyncio.run` gives it), and
`JobLoop`, one event loop for every job of a backtest. Both are the one place a coroutine of llmtrade's is run to
its end, so a stop behaves the same in every command: a Ctrl-C or SIGTERM (a KeyboardInterrupt, stops.py) raised in
a background task (the recorder's writer, a gathered model call) is the stop the CLI says in one line, never also
"Task exception was never retrieved" and a traceback when the task is collected (`_quiet_stops`).

`asyncio.run` makes a loop per job and closes it after: about a tenth of a millisecond each, over the ~10,600
jobs of a 520-week backtest (issue 13). A backtest's jobs run one after another on one thread, so one
`asyncio.Runner` serves them all (the BacktestContainer holds it for its `held()` block). What `asyncio.run`
gives a job is kept: its own copy of the caller's context (the run's log binding, made just before it), and
no task of its left running when it ends (cancelled and waited for, as `asyncio.run` does when closing its
loop; a Runner would do that only at its close). One thing differs, not used by a backtest's jobs: async
generators a job left open are closed when the Runner closes, not when the job ends. Ctrl-C is as
`asyncio.run` has it: a backtest keeps asyncio's SIGINT handler out (app/backtest_process.py `plain_sigint`), so
KeyboardInterrupt is raised where the job is and its tasks are cancelled on the way out."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_job(work: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(work)`, with a stop raised in a background task kept quiet: a live command's job (app/session.py
    `Session.runner`, and every other coroutine a command runs), on a loop of its own closed after it."""
    with asyncio.Runner() as runner:
        runner.get_loop().set_exception_handler(_quiet_stops)
        return runner.run(work)


class JobLoop:
    """Runs jobs' coroutines on one `asyncio.Runner`, whose loop is made on the first job (by the event loop
    policy then in place) and ended by `close` (tasks cancelled, async generators and the default executor
    shut down, as `asyncio.run` ends its loop)."""

    def __init__(self) -> None:
        self._runner = asyncio.Runner()

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        """`work` run to its end (its result or its exception), then whatever tasks it left are cancelled."""
        loop = self._runner.get_loop()  # made on the first job
        if loop.get_exception_handler() is None:
            loop.set_exception_handler(_quiet_stops)
        try:
            return self._runner.run(work, context=contextvars.copy_context())
        finally:
            _cancel_left(loop)

    def close(self) -> None:
        self._runner.close()


def _cancel_left(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel every task a job left pending on `loop` and wait for them, reporting their failures to the
    loop's exception handler as `asyncio.run` does at its end."""
    left = [task for task in asyncio.all_tasks(loop) if not task.done()]
    if not left:
        return
    for task in left:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))
    for task in left:
        if not task.cancelled() and task.exception() is not None:
            loop.call_exception_handler(
                {"message": "unhandled exception during a job's end", "exception": task.exception(), "task": task}
            )


def _quiet_stops(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """The loop's exception handler: a stop (Ctrl-C, SIGTERM: a KeyboardInterrupt) raised in a background task (the
    recorder's writer, say) is the stop the command already says in one line, not "Task exception was never
    retrieved" with its traceback on stderr when the task is collected (found by the SIGTERM test in CI); anything
    else goes to asyncio's default handler, as before."""
    if isinstance(context.get("exception"), KeyboardInterrupt):
        return
    loop.default_exception_handler(context)
