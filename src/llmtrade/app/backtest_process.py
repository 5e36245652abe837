"""The process around a backtest's weeks: Ctrl-C as plain KeyboardInterrupt, and the garbage collector settled
after each week (app/backtest.py holds both for the backtest's length)."""

from __future__ import annotations

import gc
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from llmtrade.stops import handling

# The collector's thresholds during a backtest (gc.set_threshold; Python's default is 700, 10, 10): see `weekly_heap`.
THRESHOLDS = (20_000, 20, 100)
# What gc.get_freeze_count() gives before this process froze anything: 0 on Python 3.11, some 375 of the interpreter's
# own objects on 3.12 (read here, at the import, before any backtest). Above it, the process froze its heap itself.
STARTUP_FROZEN = gc.get_freeze_count()


@contextmanager
def plain_sigint() -> Iterator[None]:
    """Ctrl-C raises KeyboardInterrupt as ever, from a handler of our own for the backtest's length.

    Every job's coroutine runs on the backtest's one asyncio.Runner (app/job_loop.py), which, like
    asyncio.run, installs its own SIGINT handler when it finds Python's default one, and on the way out asks
    `signal.getsignal`, whose lookup of that handler in an enum fails with a message holding repr(handler):
    the finished task and its whole result (a pipeline's context), some 2-5 ms a job. With a handler of ours
    in place the Runner installs none. A killed
    backtest resumes after its last whole week (see the module doc), so nothing depends on the task's
    cancellation that asyncio.run's handler would have given."""
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield  # another handler already keeps asyncio.run's out
        return
    with handling(signal.SIGINT, _interrupt):
        yield


@contextmanager
def weekly_heap() -> Iterator[Callable[[], None]]:
    """A function to call after each week: everything alive frozen (gc.freeze), so the collector's later passes never
    walk it again, as everything alive on entry is; the collector's thresholds raised for the backtest's length; all
    unfrozen and the thresholds restored on the way out, where the next full collection frees whatever cyclic garbage
    the freezes kept.

    A backtest keeps what it has stored in memory (the event copies, the memory's history), hundreds of
    thousands of objects by the 500th week, and each of Python's full collections walks them all: the longer
    the backtest, the more each week paid (issue 13). Frozen objects are still freed when their last reference
    goes; only a cycle among them waits for the unfreeze. A week makes few cycles (26 synthetic weeks: about 540
    objects a week, nearly all the closures of json.dumps(indent=...)'s pure-Python encoder, which the prompts' JSON
    filter uses), so they are frozen with the rest rather than collected first: a young collection before each
    freeze walked every survivor of the week to find them, 2.7 of a 520-week run's 62 CPU seconds for some 260,000
    small objects (the run's peak RSS: 956 MB with it, 954 without; benchmarks/backtest_memory.py). The default
    thresholds (700 allocations) had the collector run ~3,000 times in 52 weeks, walking objects a moment from being
    freed by their reference counts: at `THRESHOLDS` it runs a tenth as often. The stored events are the same bytes
    (the collector decides when cycles are freed, never what is computed).
    A process that froze its own heap already is left alone (unfreezing would undo its choice)."""
    if gc.get_freeze_count() > STARTUP_FROZEN or not gc.isenabled():
        yield lambda: None
        return

    thresholds = gc.get_threshold()
    gc.set_threshold(*THRESHOLDS)
    gc.freeze()  # what the start finds alive too (the imports, the config): never walked again
    try:
        yield gc.freeze
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def _interrupt(signum: int, frame: object) -> None:
    signal.default_int_handler(signum, frame)  # type: ignore[arg-type]
