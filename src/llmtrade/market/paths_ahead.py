"""A backtest's intraday paths planned ahead, in a process of its own, while the weeks run.

A synthetic market's quote prices a session on a seeded path through
its daily bar (market/intraday_path.py); planning a day's path (its seeded draws) is most of what a checkpoint's
quotes cost: some 2.5 of a 520-week synthetic backtest's 60 CPU seconds. Every session's plan depends on its bar and
seed alone, and a backtest knows its range and its bars before its first week: `PathsAhead` has a spawned process
(market/intraday_path.py `made_plans`, the very function this process would run: the same plans, to the bit) plan
the universe's sessions a few weeks ahead of the weeks, on the machine's other core, and hands them to
intraday_path (`planned_elsewhere`) as its sessions come.

It never waits and never decides anything: a plan not ready (the worker behind, a symbol it was not given, a worker
that failed to start, died or raised) is made in this process as without it. A failed worker is said nowhere and
costs only its time; nothing else is shared with it (spawned, not forked: no connection, lock or thread of this
process reaches it). It holds a handful of weeks' plans at a time (about 200 kB a week for seven symbols).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor

from llmtrade.market.intraday_path import Plan, PlanKey, made_plans, planned_elsewhere
from llmtrade.worker_process import STARTING, spawning, started_as_helper, stop_helper

# How many chunks (a backtest gives one per week) the worker may be asked for beyond the one last drawn from.
_WINDOW = 6


class PathsAhead:
    """Plans of `chunks` (keys, in the order their sessions come) made by a spawned worker, `_WINDOW` chunks ahead."""

    def __init__(self, chunks: Sequence[Sequence[PlanKey]]):
        self._chunks = [list(chunk) for chunk in chunks]
        self._chunk_of = {key: i for i, chunk in enumerate(self._chunks) for key in chunk}
        self._asked: dict[int, Future[list[Plan]]] = {}
        self._ready: dict[int, dict[PlanKey, Plan]] = {}
        self._next = 0  # the first chunk not asked for yet
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._process: multiprocessing.process.BaseProcess | None = None  # known for the tests: its death is handled
        if not any(self._chunks):  # nothing to plan (every symbol priced by an intraday file): no process
            return
        try:
            # No process (a sandbox without semaphores): all made here. A stop waits for the spawn (worker_process.py).
            with contextlib.suppress(Exception), STARTING, spawning() as spawned:
                self._pool = ProcessPoolExecutor(
                    1, mp_context=multiprocessing.get_context("spawn"), initializer=started_as_helper
                )
                self._ask_up_to(_WINDOW)
                self._process = next(iter(spawned()), None)
        except BaseException:  # the stop held back, raised once the worker is known: stopped with it
            self.close()
            raise

    def given(self, keys: Sequence[PlanKey]) -> dict[PlanKey, Plan]:
        """The plans of `keys` the worker has made already (none waited for); the chunks before the furthest one
        drawn from are let go, and the worker asked for the chunks `_WINDOW` beyond it."""
        wanted: dict[int, list[PlanKey]] = {}
        for key in keys:
            chunk = self._chunk_of.get(key)
            if chunk is not None:
                wanted.setdefault(chunk, []).append(key)
        if not wanted or self._pool is None:
            return {}
        found: dict[PlanKey, Plan] = {}
        with self._lock:
            for chunk, chunk_keys in wanted.items():
                plans = self._plans_of(chunk)
                found.update((key, plans[key]) for key in chunk_keys if key in plans)
            furthest = max(wanted)
            for chunk in [c for c in (*self._asked, *self._ready) if c < furthest]:
                self._asked.pop(chunk, None)
                self._ready.pop(chunk, None)
            self._ask_up_to(furthest + 1 + _WINDOW)
        return found

    def _plans_of(self, chunk: int) -> dict[PlanKey, Plan]:
        ready = self._ready.get(chunk)
        if ready is not None:
            return ready
        asked = self._asked.get(chunk)
        if asked is None or not asked.done():
            return {}
        del self._asked[chunk]
        try:
            plans = asked.result()
        except Exception:  # a broken worker (died, a pickling error): everything from here made in this process
            self.close()
            return {}
        self._ready[chunk] = ready = dict(zip(self._chunks[chunk], plans, strict=True))
        return ready

    def _ask_up_to(self, end: int) -> None:
        while self._pool is not None and self._next < min(end, len(self._chunks)):
            try:
                self._asked[self._next] = self._pool.submit(made_plans, self._chunks[self._next])
            except Exception:  # a broken pool: nothing more is asked of it
                self.close()
                return
            self._next += 1

    def close(self) -> None:
        """Stop the worker: killed, whatever it is doing (it holds nothing but plans), so a stopped backtest never
        waits for one still starting (a spawn and numpy's import: seconds on a loaded machine), nor for its orderly
        exit; one killed while it writes a chunk's plans is not waited on for good (worker_process.stop_helper)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            stop_helper(pool, self._process)


@contextlib.contextmanager
def paths_ahead(chunks: Sequence[Sequence[PlanKey]]) -> Iterator[PathsAhead]:
    """Inside the block, the plans of `chunks` come from a worker process as far as it has made them (see the module
    doc); the worker is stopped when the block ends, whatever way it ends."""
    ahead = PathsAhead(chunks)
    try:
        with planned_elsewhere(ahead.given):
            yield ahead
    finally:
        ahead.close()
