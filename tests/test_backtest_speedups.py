"""What the backtest's speed-ups must keep: one priced minute is the whole path's, to the bit; a job's
thread work runs at once on its own thread, a stop answered when it ends; trades counted a batch of
fills at a time are the trades counted at once."""

from __future__ import annotations

import asyncio
import math
import random
import signal
import threading
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise

import pytest

from llmtrade.app.backtest_threads import one_thread_at_a_time
from llmtrade.domain.ledger import TripCounting, closed_trade_pnls, round_trips
from llmtrade.domain.market import Bar
from llmtrade.domain.trading import Fill, Side
from llmtrade.market import intraday_path
from llmtrade.market.intraday_path import bridge_path, bridge_price
from llmtrade.risk import controls


def _bars() -> list[Bar]:
    rng = random.Random(5)
    bars = []
    for n in range(30):
        open_ = round(rng.uniform(20, 600), 4)
        high = round(open_ * rng.uniform(1.0, 1.04), 4)
        low = round(open_ * rng.uniform(0.96, 1.0), 4)
        close = rng.choice([high, low, round(rng.uniform(low, high), 4)])
        if n % 10 == 0:
            high = low = open_ = close  # a day with no range: the flat path
        day = date(2024, 1, 1 + n % 28)
        bars.append(Bar(symbol=f"S{n}", day=day, open=open_, high=high, low=low, close=close, volume=1, source="csv"))
    return bars


@pytest.mark.parametrize("minutes", [1, 2, 210, 390])
def test_a_minute_priced_alone_is_the_paths_price_at_that_minute(minutes: int) -> None:
    for bar in _bars():
        path = bridge_path(bar, minutes, "csv")
        assert len(path) == minutes + 1
        assert [bridge_price(bar, minutes, "csv", k) for k in range(minutes + 1)] == list(path)


def _reference_walks(bar: Bar, minutes: int, seed: str) -> tuple[tuple[float, ...], ...]:
    """The walks as the path first drew them: random.gauss per minute, stretch after stretch."""
    plan = intraday_path._plan(bar.open, bar.high, bar.low, bar.close, minutes, f"{seed}:{bar.symbol}:{bar.day}")
    rng = random.Random(f"{seed}:{bar.symbol}:{bar.day}")
    taken = intraday_path._touch(rng, bar.high, bar.open, bar.close, minutes, taken=set())
    intraday_path._touch(rng, bar.low, bar.open, bar.close, minutes, taken={taken})
    sigma = intraday_path._NOISE * math.log(bar.high / bar.low) / math.sqrt(minutes)
    walks = []
    for start, end in pairwise([*plan.starts, minutes]):
        walk = [0.0]
        for _ in range(end - start):
            walk.append(walk[-1] + rng.gauss(0.0, sigma))
        walks.append(tuple(walk))
    return tuple(walks)


@pytest.mark.parametrize("minutes", [2, 3, 210, 389, 390])
def test_the_paths_draws_are_random_gauss_per_minute_to_the_bit(minutes: int) -> None:
    # The draws are written out (no gauss call per minute): every quote the backtests priced must stay the same.
    bars = [b for b in _bars() if b.high > b.low]
    for bar in bars:
        plan = intraday_path._plan(bar.open, bar.high, bar.low, bar.close, minutes, f"csv:{bar.symbol}:{bar.day}")
        assert plan.walk_values == _reference_walks(bar, minutes, "csv")
    assert len(bars) > 20


def test_a_minute_outside_the_session_is_refused() -> None:
    bar = _bars()[1]
    with pytest.raises(IndexError):
        bridge_price(bar, 390, "csv", 391)
    with pytest.raises(IndexError):
        bridge_price(bar, 390, "csv", -1)


def test_a_jobs_thread_work_runs_at_once_on_its_own_thread_in_order_and_starts_no_thread() -> None:
    before, policy = threading.active_count(), asyncio.get_event_loop_policy()
    ran: list[tuple[str, int]] = []

    async def job(n: int) -> list[str]:
        def call(k: int) -> str:
            ran.append((threading.current_thread().name, k))
            return threading.current_thread().name

        return list(await asyncio.gather(*(asyncio.to_thread(call, k) for k in range(n))))

    with one_thread_at_a_time():
        names = {name for n in range(1, 5) for name in asyncio.run(job(n))}
        assert names == {threading.main_thread().name}
        assert threading.active_count() == before  # no worker, and no shutdown thread left by the jobs' loops
    assert [k for _, k in ran] == [0, 0, 1, 0, 1, 2, 0, 1, 2, 3]  # each job's calls in the order handed over
    assert asyncio.get_event_loop_policy() is policy


def test_a_jobs_loop_is_ended_as_python_3_12_and_later_end_it() -> None:
    """asyncio.Runner.close (asyncio.run) on Python 3.12 and later passes the executor's join timeout to
    shutdown_default_executor; the backtest's loop took none, so every backtest failed there on its first job
    ("takes 1 positional argument but 2 were given"), where the README says Python 3.11 or newer."""
    with one_thread_at_a_time():
        loop = asyncio.new_event_loop()
        try:
            assert loop.run_until_complete(loop.shutdown_default_executor(300.0)) is None  # as 3.12+ Runner.close
            assert loop.run_until_complete(loop.shutdown_default_executor()) is None  # as 3.11 calls it
        finally:
            loop.close()


def test_a_stop_landing_in_a_jobs_thread_work_is_answered_when_the_call_has_ended() -> None:
    # A worker thread's call ran to its end past a Ctrl-C (threads.py); a call run at once must too, the stop then.
    ended: list[str] = []

    def call() -> None:
        signal.raise_signal(signal.SIGINT)
        ended.append("after the signal")

    async def job() -> None:
        await asyncio.to_thread(call)
        ended.append("the job went on")

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with one_thread_at_a_time(), pytest.raises(KeyboardInterrupt):
            asyncio.run(job())
    finally:
        signal.signal(signal.SIGINT, previous)
    assert ended == ["after the signal"]


def _random_fills(seed: int, n: int) -> list[Fill]:
    """Fills of two accounts over three symbols: opens, adds, trims, closes and crossings through zero."""
    rng = random.Random(seed)
    start = datetime(2024, 1, 2, 15, tzinfo=UTC)
    return [
        Fill(
            client_order_id=f"o{seed}-{i}",
            account_id=rng.choice(("acct_1", "acct_2")),
            symbol=rng.choice(("SPY", "TLT", "GLD")),
            side=rng.choice((Side.BUY, Side.SELL)),
            qty=rng.randint(1, 30),
            price=round(rng.uniform(90, 110), 4),
            commission=rng.choice((0.0, 1.0)),
            filled_at=start + timedelta(hours=i),
        )
        for i in range(n)
    ]


def test_round_trips_counted_a_batch_at_a_time_are_those_counted_at_once() -> None:
    fills = _random_fills(1, 200)
    whole = round_trips(fills)
    assert len(whole) > 10
    rng = random.Random(2)
    counting, at = TripCounting(), 0
    while at < len(fills):
        step = rng.randint(0, 9)
        counting.add(fills[at : at + step])
        at += step
        assert counting.done == round_trips(fills[:at])
    assert counting.done == whole


def test_the_breakers_closed_trades_follow_the_fills_they_are_given_grown_or_reordered() -> None:
    fills = [f.model_copy(update={"account_id": "acct_memo"}) for f in _random_fills(3, 120)]
    for n in (10, 40, 41, 120):  # the fills grow at their end, as a book's do
        assert controls._CLOSED_TRADES.pnls("acct_memo", fills[:n]) == tuple(closed_trade_pnls(fills[:n]))
    # A fill recorded late sorts in earlier: the prefix changed, the count starts again.
    reordered = [fills[5], *fills[:5], *fills[6:]]
    assert controls._CLOSED_TRADES.pnls("acct_memo", reordered) == tuple(closed_trade_pnls(reordered))
    other = [f.model_copy(update={"price": f.price + 1}) for f in fills[:60]]  # another book, same account id
    assert controls._CLOSED_TRADES.pnls("acct_memo", other) == tuple(closed_trade_pnls(other))
    assert controls._CLOSED_TRADES.pnls("acct_memo", []) == ()


def test_the_breakers_closed_trades_carried_on_are_not_changed_by_what_a_caller_does_with_them() -> None:
    # The P/Ls of the trades closed before are kept and only new trips looked at; what is handed out is shared (a
    # tuple: no caller can change it), and neither a later answer nor the caller's own list changes it.
    fills = [f.model_copy(update={"account_id": "acct_kept"}) for f in _random_fills(4, 80)]
    given = fills[:50]
    first = controls._CLOSED_TRADES.pnls("acct_kept", given)
    assert type(first) is tuple and first == tuple(closed_trade_pnls(fills[:50])) and first
    given.clear()  # the caller's list, changed after: the kept count is of the fills as they were
    assert controls._CLOSED_TRADES.pnls("acct_kept", fills) == tuple(closed_trade_pnls(fills))
    assert first == tuple(closed_trade_pnls(fills[:50]))
    assert controls._CLOSED_TRADES.pnls("acct_kept", fills[:50]) == tuple(closed_trade_pnls(fills[:50]))


def test_each_settled_week_is_frozen_without_a_collection_and_all_unfrozen_at_the_end(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import gc
    import weakref

    from llmtrade.app.backtest_process import STARTUP_FROZEN, THRESHOLDS, weekly_heap

    class Node:
        pass

    assert gc.get_freeze_count() <= STARTUP_FROZEN  # the interpreter's own (Python 3.12: ~375)
    thresholds = gc.get_threshold()
    collections: list[int] = []
    monkeypatch.setattr(gc, "collect", lambda generation=2: collections.append(generation) or 0)
    with weekly_heap() as settle:
        assert gc.get_threshold() == THRESHOLDS  # the collector runs less often for the backtest's length
        kept = [Node() for _ in range(50)]
        cycle = Node()
        cycle.me = cycle  # type: ignore[attr-defined]
        gone = weakref.ref(cycle)
        del cycle
        settle()
        assert collections == []  # a week's survivors are not walked to find its few cycles
        # Frozen: in the permanent generation, which gc.get_objects() does not list. (Not counted with
        # gc.get_freeze_count(): frozen objects other threads free meanwhile lower it; see the next test.)
        assert _frozen(kept)
        assert gone() is not None and _frozen([gone()])  # the week's cycle is frozen with the rest, for now
        more = [Node() for _ in range(50)]
        assert not _frozen(more)
        settle()
        assert _frozen(more)
    monkeypatch.undo()
    assert gc.get_freeze_count() <= STARTUP_FROZEN  # the interpreter's own (Python 3.12: ~375)
    assert not _frozen(kept)  # all unfrozen at the end
    assert gc.get_threshold() == thresholds
    gc.collect()
    assert gone() is None  # the cycle a freeze kept is freed by the first full collection after the backtest


def test_the_collector_is_settled_before_the_backtest_builds_anything(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settled only once the providers were built, a full collection walked the whole heap of imports in every
    backtest's start (34 ms of a 52-week run's 0.5 s start; issue 13's short-run criterion)."""
    import gc

    from llmtrade.app import backtest as module
    from llmtrade.app.backtest_process import STARTUP_FROZEN, THRESHOLDS

    assert gc.get_freeze_count() <= STARTUP_FROZEN  # the interpreter's own (Python 3.12: ~375)
    seen: list[tuple[tuple[int, ...], bool]] = []

    def run(*args: object) -> str:  # the backtest's whole work, from its first step
        seen.append((gc.get_threshold(), gc.get_freeze_count() > 0))
        return "ran"

    monkeypatch.setattr(module, "_backtest", run)
    spec = module.BacktestSpec(name="heap", first=date(2024, 1, 3), last=date(2024, 1, 10), offline=True, replay=False)
    assert module.backtest(None, None, None, spec, say=print) == "ran"  # type: ignore[arg-type]
    assert seen == [(THRESHOLDS, True)]  # the thresholds raised and the start's heap frozen before its first step
    assert gc.get_freeze_count() <= STARTUP_FROZEN and gc.get_threshold() != THRESHOLDS  # and both undone after


def _frozen(objects: list[object]) -> bool:
    """Every one of `objects` is in gc's permanent generation (frozen)."""
    import gc

    tracked = {id(o) for o in gc.get_objects()}
    return not any(id(o) in tracked for o in objects)


def test_the_interpreters_own_frozen_objects_are_not_taken_for_the_processs_freeze(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Python 3.12 starts with some 375 of its own objects in the permanent generation (gc.get_freeze_count() > 0
    before any code runs), which the backtest took for a process that froze its heap itself: it left the collector as
    it was, and every backtest there paid the full collections the freezes exist to spare (three tests failed on
    3.12.1). The count the process starts with is the baseline: here a freeze made before the import stands for it."""
    import gc

    from llmtrade.app import backtest_process

    gc.freeze()
    try:
        monkeypatch.setattr(backtest_process, "STARTUP_FROZEN", gc.get_freeze_count())
        called: list[str] = []
        for name in ("freeze", "set_threshold"):
            monkeypatch.setattr(gc, name, lambda *a, _name=name: called.append(_name))
        with backtest_process.weekly_heap() as settle:
            settle()
        monkeypatch.undo()
        assert called[:2] == ["set_threshold", "freeze"] and called.count("freeze") == 2  # settled, and each week
    finally:
        gc.unfreeze()


def test_a_heap_frozen_by_the_process_itself_is_left_as_it_was(monkeypatch: pytest.MonkeyPatch) -> None:
    import gc

    from llmtrade.app.backtest_process import weekly_heap

    gc.freeze()
    try:
        # Counted by the calls, not by gc.get_freeze_count(): frozen objects freed by their reference counts
        # (a daemon thread of an earlier test finishing an import) lower the count meanwhile.
        called: list[str] = []
        for name in ("collect", "freeze", "unfreeze", "set_threshold"):
            monkeypatch.setattr(gc, name, lambda *a, _name=name: called.append(_name))
        with weekly_heap() as settle:
            settle()
        monkeypatch.undo()
        assert called == []
        assert gc.get_freeze_count() > 0  # still frozen
    finally:
        gc.unfreeze()


def test_the_bootstrap_is_imported_ahead_on_a_daemon_thread() -> None:
    import sys

    from llmtrade.analytics.draws import import_ahead
    from llmtrade.analytics.metrics import sharpe_interval

    thread = import_ahead()
    assert thread.daemon  # never keeps a finished process alive
    thread.join(timeout=60)
    assert not thread.is_alive() and "arch.bootstrap" in sys.modules
    assert sharpe_interval([0.01, -0.02, 0.015, 0.003] * 20).low is not None  # the interval uses what was imported
