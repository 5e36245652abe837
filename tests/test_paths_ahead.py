"""A backtest's intraday paths planned ahead by a worker process (market/paths_ahead.py): the worker's plans are the
very plans this process makes, the providers name exactly the days their quotes plan, and a worker that cannot help
changes nothing but the time."""

from __future__ import annotations

import contextlib
import os
import signal
import struct
import threading
import time
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path

import numpy as np
import pytest

from llmtrade.app import backtest_paths
from llmtrade.app.backtest import BacktestSpec, backtest
from llmtrade.config.loader import load_config
from llmtrade.market import intraday_path, paths_ahead
from llmtrade.market.calendar import NEW_YORK, TradingCalendar
from llmtrade.market.intraday_path import Plan, PlanKey, made_plans, plan_keys, planned_elsewhere
from llmtrade.market.paths_ahead import PathsAhead
from llmtrade.market.synthetic import SyntheticMarket
from llmtrade.market.synthetic_quotes import SyntheticQuotes
from llmtrade.settings import Settings
from tests.test_backtest import FIRST, LAST, _unique
from tests.test_backtest_bad_start import _write, history
from tests.test_backtest_grown_prices import SECOND, _run
from tests.test_backtest_intraday_resume import _intraday
from tests.test_backtest_speedups import _bars


def _same(a: Plan, b: Plan) -> bool:
    """Two plans equal to the bit: their fields, and every walk's doubles."""
    fields = (a.n, a.open_, a.high, a.low, a.close, a.flat, a.anchors, a.starts)
    if fields != (b.n, b.open_, b.high, b.low, b.close, b.flat, b.anchors, b.starts) or len(a.walks) != len(b.walks):
        return False
    return all(np.array_equal(x, y) for x, y in zip(a.walks, b.walks, strict=True))


def _given(ahead: PathsAhead, keys: Sequence[PlanKey], seconds: float = 60) -> dict[PlanKey, Plan]:
    """What the worker gives for `keys`, once it has made them (it never makes the caller wait: asked again)."""
    end = time.monotonic() + seconds
    while True:
        found = ahead.given(keys)
        if len(found) == len(keys) or time.monotonic() > end:
            return found
        time.sleep(0.05)


def test_the_workers_plans_are_this_processs_plans_to_the_bit() -> None:
    bars = _bars()
    chunks = [plan_keys(bars[:4], 390, "7"), plan_keys(bars[4:], 210, "csv")]
    with paths_ahead.paths_ahead(chunks) as ahead:
        for chunk in chunks:
            given = _given(ahead, chunk)
            assert set(given) == set(chunk)  # every key of the chunk, made by the worker
            for key in chunk:
                assert _same(given[key], made_plans([key])[0])
        # A key of no chunk (a symbol discovery added, say) is not the worker's: made here, as without it.
        assert ahead.given(plan_keys(bars[:1], 389, "7")) == {}


def test_a_quote_takes_the_plan_a_source_gives_and_makes_only_the_rest() -> None:
    bars = _bars()[:3]
    keys = plan_keys(bars, 390, "csv")
    given = {keys[0]: made_plans([keys[0]])[0]}
    asked: list[list[PlanKey]] = []
    made: list[list[PlanKey]] = []
    real_made = intraday_path._made

    def source(wanted: Sequence[PlanKey]) -> dict[PlanKey, Plan]:
        asked.append(list(wanted))
        return {k: v for k, v in given.items() if k in wanted}

    intraday_path._PLANS.clear()
    alone = intraday_path.bridge_prices(bars, 390, "csv", 120)
    intraday_path._PLANS.clear()
    try:
        intraday_path._made = lambda wanted: (made.append(list(wanted)), real_made(wanted))[1]  # type: ignore[assignment]
        with planned_elsewhere(source):
            assert intraday_path.bridge_prices(bars, 390, "csv", 120) == alone
            assert intraday_path.bridge_prices(bars, 390, "csv", 200) == intraday_path.bridge_prices(
                bars, 390, "csv", 200
            )
    finally:
        intraday_path._made = real_made  # type: ignore[assignment]
    assert asked == [keys]  # asked once, for every day not kept; its plans and those made here are then kept
    assert made == [keys[1:]]  # only what the source did not give was made here


def test_the_synthetic_markets_keys_are_the_days_its_quotes_plan() -> None:
    calendar = TradingCalendar()
    quotes = SyntheticQuotes(SyntheticMarket({"SPY": "equity", "TLT": "rates"}), calendar)
    days = [date(2026, 1, 8), date(2026, 11, 27)]  # a full session and an early close
    planned: list[PlanKey] = []
    real_plans = intraday_path._plans

    def recording(keys: Sequence[PlanKey]) -> list[Plan]:
        planned.extend(keys)
        return real_plans(keys)

    try:
        intraday_path._plans = recording  # type: ignore[assignment]
        for day in days:
            quotes.latest(["SPY", "TLT"], datetime.combine(day, clock_time(12, 0), tzinfo=NEW_YORK))
    finally:
        intraday_path._plans = real_plans  # type: ignore[assignment]
    assert [key for day_keys in quotes.path_keys(["SPY", "TLT"], days) for key in day_keys] == planned


def test_a_worker_that_cannot_start_or_dies_changes_nothing_but_the_time(monkeypatch: pytest.MonkeyPatch) -> None:
    bars = _bars()
    chunks = [plan_keys(bars, 390, "7")]

    def no_pool(*args: object, **kwargs: object) -> None:
        raise OSError("no semaphores here")

    with monkeypatch.context() as m:
        m.setattr(paths_ahead, "ProcessPoolExecutor", no_pool)
        with paths_ahead.paths_ahead(chunks) as ahead:
            assert ahead.given(chunks[0]) == {}
            intraday_path._PLANS.clear()
            assert intraday_path.bridge_prices(bars, 390, "7", 60) == [
                made_plans([k])[0] and intraday_path._price(made_plans([k])[0], 60) for k in chunks[0]
            ]

    monkeypatch.setattr(paths_ahead, "started_as_helper", _slow_start)
    with paths_ahead.paths_ahead(chunks) as ahead:
        assert ahead._process is not None
        ahead._process.kill()  # the worker gone before it answered (it was still starting)
        ahead._process.join(10)
        time.sleep(0.5)
        assert _given(ahead, chunks[0], seconds=2) == {}  # a broken pool: nothing given, nothing waited for
        assert ahead._pool is None  # and nothing asked of it again


def _slow_start() -> None:
    time.sleep(30)  # a worker still starting when it is killed (run in the spawned process)


def test_a_csv_backtest_with_every_symbol_priced_by_intraday_files_runs(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing is bridged, so nothing is planned: the provider has no key on any day (it gave no list at all, and the
    # backtest stopped on a ValueError from zip(strict=True) before its first week).
    bars = history(SECOND + timedelta(days=10))
    folder = tmp_path / "prices"
    _write(folder, bars)
    for symbol in load_config(None).config.assets.symbols:
        _intraday(folder, symbol, bars[symbol])
    monkeypatch.setattr(backtest_paths, "AHEAD_FROM", 1)  # its one week's sessions asked of the provider
    assert _run(database_url, tmp_path, _unique(), folder).weeks_run == 1


def test_a_short_backtest_starts_no_worker(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A week or two (most of a test suite's backtests): the worker's start would cost more than it saves.
    started: list[int] = []
    real = PathsAhead.__init__

    def counted(self: PathsAhead, chunks: Sequence[Sequence[PlanKey]]) -> None:
        started.append(len(chunks))
        real(self, chunks)

    monkeypatch.setattr(PathsAhead, "__init__", counted)
    settings = Settings(DATABASE_URL=database_url, LLMTRADE_HOME=str(tmp_path))
    spec = BacktestSpec(name=_unique(), first=FIRST, last=LAST, offline=True, replay=False, audit=0)
    assert backtest(settings, load_config(None), None, spec, say=lambda _t: None).weeks_run == 2
    assert started == []


def test_a_sigterm_to_the_process_group_leaves_the_worker_to_the_backtest() -> None:
    # `timeout`, systemd and a CI runner signal the whole process group: the worker must not die on the spot, which
    # could be midway through writing a week's plans to its pipe, leaving the pool's reader (and the stopping
    # backtest's way out, which waits for it) waiting for the rest for good. The backtest stops it itself.
    bars = _bars()
    chunks = [plan_keys(bars, 390, f"s{n}") for n in range(2 + paths_ahead._WINDOW)]
    with paths_ahead.paths_ahead(chunks) as ahead:
        assert len(_given(ahead, chunks[0])) == len(chunks[0])  # started: its first steps are done
        assert ahead._process is not None
        os.kill(ahead._process.pid, signal.SIGTERM)
        time.sleep(0.5)
        assert ahead._process.is_alive()
        last = chunks[-1]  # asked of the worker only now
        assert len(_given(ahead, last)) == len(last)
    assert not ahead._process.is_alive()  # stopped on the way out


def test_a_worker_still_starting_is_not_waited_for(monkeypatch: pytest.MonkeyPatch) -> None:
    # A stop in a backtest's first moments (or a short backtest's end) waited for the worker's start: a spawn and
    # numpy's import, seconds on a loaded machine (here 30).
    monkeypatch.setattr(paths_ahead, "started_as_helper", _slow_start)
    started = time.monotonic()
    with paths_ahead.paths_ahead([plan_keys(_bars(), 390, "7")]) as ahead:
        assert ahead._process is not None
    assert time.monotonic() - started < 15
    assert not ahead._process.is_alive()


def test_a_worker_killed_midway_through_an_answer_is_not_waited_on_for_good() -> None:
    bars = _bars()
    chunks = [plan_keys(bars, 390, "7")]
    with paths_ahead.paths_ahead(chunks) as ahead:
        assert len(_given(ahead, chunks[0])) == len(chunks[0])
        pool = ahead._pool
        assert pool is not None
        # What the pool's reader holds when its worker dies midway through an answer: a length, part of the bytes.
        writer = pool._result_queue._writer  # type: ignore[attr-defined]
        os.write(writer.fileno(), struct.pack("!i", 1_000_000) + b"\0" * 100)
        time.sleep(0.3)  # the pool's thread is reading it
        closing = threading.Thread(target=ahead.close, daemon=True)
        closing.start()
        closing.join(20)
        waiting = closing.is_alive()
        if waiting:  # before: waited for the rest for good (given here, so this test's process can end)
            with contextlib.suppress(OSError):
                os.write(writer.fileno(), b"\0" * (1_000_000 - 100))
    assert not waiting
