"""A backtest's candidates' features worked out ahead, in a process of their own, while the weeks run.

A backtest judges some hundred candidates before each of its weekly runs, and each candidate's features are a
pure function of its held bars and the window the week's as-of session gives (app/backtest_discovery.py): the
same numbers wherever they are computed. `FeaturesAhead` hands a spawned process every held symbol's bars as
columns (once, when it starts) and then the windows of the backtest's weeks, a few weeks a task, in the order the
weeks run; the backtest asks for a window's numbers when its week comes, and the process has usually made them by
then, on the machine's other core.

Point in time: the process only answers for windows the backtest names, and the backtest names (and reads) a
window only at the week its as-of session allows, computing its bounds from its own clock then; an answer is
looked up by symbol and bounds, so it is the very window the week would compute itself. A window not asked for
ahead, a process that cannot start, dies or fails: `values` answers None and the caller computes the window in
its own process, as without it. Nothing else is shared with the process (spawned, not forked).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor

from llmtrade.discovery.features import Columns, PairHistory, Values

Window = tuple[str, int, int]  # symbol, and the bounds [lo, hi) of its bars

# Weeks a task: the first task small so the first week does not wait long for the process to start.
_FIRST_TASK, _TASK = 1, 13


class FeaturesAhead:
    """One spawned process computing `PairHistory(bars).values(lo, hi)` for the windows asked, in order."""

    def __init__(self, columns: dict[str, Columns], weeks: Sequence[Sequence[Window]]) -> None:
        """`columns`: each held symbol's bars; `weeks`: each week's windows, in the order the weeks run."""
        import multiprocessing

        self._pool: ProcessPoolExecutor | None = None
        self._tasks: list[tuple[Future[list[Values | None]], list[Window]]] = []  # in the order they run
        self._pending: set[Window] = set()  # the windows of the tasks not yet read
        self._known: dict[Window, Values | None] = {}
        with contextlib.suppress(Exception):  # no process (a sandbox without semaphores): computed in-process
            self._pool = ProcessPoolExecutor(
                1, mp_context=multiprocessing.get_context("spawn"), initializer=_start, initargs=(columns,)
            )
            at = 0
            while at < len(weeks):
                size = _FIRST_TASK if at == 0 else _TASK
                windows = [w for week in weeks[at : at + size] for w in week]
                self._tasks.append((self._pool.submit(_values, windows), windows))
                self._pending.update(windows)
                at += size

    def values(self, window: Window) -> tuple[bool, Values | None]:
        """(True, the window's numbers, or None when it has too few bars) when the process made them, waiting for
        the tasks up to the one that holds the window if they are still at work; (False, None) when the window
        was not asked for ahead or the process failed (the caller then computes it)."""
        if window in self._known:
            return True, self._known.pop(window)  # each week's windows are read once: not kept after
        if window not in self._pending:
            return False, None
        while self._tasks:
            future, order = self._tasks.pop(0)
            try:
                made = future.result()
            except Exception:  # a dead or broken process (BrokenProcessPool, a pickling error): computed here
                self.close()
                return False, None
            self._pending.difference_update(order)
            self._known.update(zip(order, made, strict=True))
            if window in self._known:
                return True, self._known.pop(window)
        return False, None

    def close(self) -> None:
        """Stop the process (the tasks not yet started are dropped); idempotent."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._tasks.clear()
        self._pending.clear()


# ---------------------------------------------------------------- in the process

_HISTORIES: dict[str, PairHistory] = {}
_COLUMNS: dict[str, Columns] = {}


def _start(columns: dict[str, Columns]) -> None:
    # Ctrl-C reaches the whole process group: the backtest handles it and shuts the process down; this process must
    # not die printing a traceback of its own.
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _COLUMNS.clear()
    _COLUMNS.update(columns)
    _HISTORIES.clear()


def _values(windows: Sequence[Window]) -> list[Values | None]:
    out: list[Values | None] = []
    for symbol, lo, hi in windows:
        history = _HISTORIES.get(symbol)
        if history is None or history.first > lo:
            history = _HISTORIES[symbol] = PairHistory.of_columns(_COLUMNS[symbol], lo)
        out.append(history.values(lo, hi))
    return out
