"""A backtest's fixed cost after its weeks (issue 13): the leaderboard reads the books from memory (its event reads
followed from the start, the bars the prefetch stored kept), its bootstrap draws made ahead by the draws worker, and
the deferred indexes built on connections of their own meanwhile; the same leaderboard and the same indexes."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest

import llmtrade.app.backtest as backtest_module
from llmtrade.analytics import draws, metrics, resampled
from llmtrade.analytics.records import Leaderboard
from llmtrade.app.cutoff_periods import RULES_ONLY
from llmtrade.app.evaluation_results import BacktestResult
from llmtrade.cli import app as cli
from llmtrade.domain.discovery import SuggestionsMade
from llmtrade.domain.market import Bar
from llmtrade.domain.streams import DISCOVERY
from llmtrade.domain.weeks import week_id_for
from llmtrade.storage import bulk_load
from llmtrade.storage.bar_cache import BarCache
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.database import backtest_database
from llmtrade.storage.event_copies import _COPIES
from llmtrade.storage.held_bar_cache import HeldBarCache
from tests.test_backtest import _run, _unique, _url, runner
from tests.test_bulk_load import _indexes

# Across the latest knowledge cutoff of the packaged models (2025-07-31), with more than 20 daily returns on each
# side (26 sessions to it, 27 after it); offline, so no model answered and the weeks are not split there
# (app/cutoff_periods.py). Eleven weeks: the fifteen run before had some 35 sessions each side, more than needed.
FIRST, LAST = date(2025, 6, 25), date(2025, 9, 3)


@dataclass
class Seen:
    """What the backtest of the module's fixture did at its end."""

    result: BacktestResult
    url: str
    live_url: str
    home: Path
    asked_ahead: list[int] = field(default_factory=list)
    drawn: list[int] = field(default_factory=list)  # the series lengths whose draws the intervals asked for
    taken_ahead: list[bool] = field(default_factory=list)  # per worker request: were the draws asked for ahead?
    event_reads: list[str] = field(default_factory=list)  # statements on `events` while the leaderboard was made
    beside: list[tuple[str, bool, str]] = field(default_factory=list)  # (index, on the held connection?, thread)


@pytest.fixture(scope="module")
def seen(pg_admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seen]:
    live = _unique()
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{live}"')
    live_url, name = _url(pg_admin_url, live), _unique()
    home = tmp_path_factory.mktemp("tail")
    found = Seen(result=None, url=_url(pg_admin_url, backtest_database(name)), live_url=live_url, home=home)  # type: ignore[arg-type]
    in_standings = threading.Event()
    held: list[object] = []
    with pytest.MonkeyPatch.context() as patch:
        ahead, indices, worker_indices = metrics.draw_ahead, metrics._indices, draws.DrawWorker.indices
        standings, beside, execute = backtest_module.standings, bulk_load.beside, psycopg.Cursor.execute

        def asked_ahead(counts: list[int], **kw: Any) -> None:
            found.asked_ahead.extend(counts)
            ahead(counts, **kw)

        def drawn(n: int, block: int, reps: int, seed: int) -> np.ndarray:
            found.drawn.append(n)
            return indices(n, block, reps, seed)

        def from_worker(self: draws.DrawWorker, n: int, block: int, reps: int, seed: int) -> np.ndarray | None:
            found.taken_ahead.append((n, block, reps, seed) in self._ahead)
            return worker_indices(self, n, block, reps, seed)

        def watched_standings(app: Any, name: str) -> Leaderboard:
            held.append(app._held.conn)
            in_standings.set()
            try:
                return standings(app, name)
            finally:
                in_standings.clear()

        def watched_beside(conn: psycopg.Connection, index: str) -> None:
            found.beside.append((index, any(conn is h for h in held), threading.current_thread().name))
            beside(conn, index)

        def watched_execute(self: psycopg.Cursor, query: Any, *a: Any, **kw: Any) -> Any:
            text = str(query)
            if in_standings.is_set() and threading.current_thread() is threading.main_thread() and "events" in text:
                found.event_reads.append(text)
            return execute(self, query, *a, **kw)

        patch.setattr(metrics, "draw_ahead", asked_ahead)
        patch.setattr(metrics, "_indices", drawn)
        patch.setattr(draws.DrawWorker, "indices", from_worker)
        patch.setattr(backtest_module, "standings", watched_standings)
        patch.setattr(bulk_load, "beside", watched_beside)
        patch.setattr(psycopg.Cursor, "execute", watched_execute)
        indices.cache_clear()
        try:
            found.result = _run(live_url, home, name, first=FIRST, last=LAST, audit=0, draws_apart=True)
        finally:
            indices.cache_clear()
    yield found


def test_the_leaderboard_is_the_one_read_afresh_from_the_database(seen: Seen, monkeypatch: pytest.MonkeyPatch) -> None:
    # `llmtrade leaderboard --backtest NAME`: a new container, every read from PostgreSQL, every bar validated.
    monkeypatch.setenv("DATABASE_URL", seen.live_url)
    monkeypatch.setenv("LLMTRADE_HOME", str(seen.home))
    shown = runner.invoke(cli, ["leaderboard", "--backtest", seen.result.name, "--json"])
    assert shown.exit_code == 0, shown.output
    mine = seen.result.leaderboard
    assert any(s.sharpe.low is not None for s in mine.standings if s.kind == "account")
    assert mine.periods == () and RULES_ONLY in mine.notes
    assert json.loads(shown.stdout) == json.loads(mine.model_dump_json())


def test_the_leaderboard_reads_no_event_from_postgresql(seen: Seen) -> None:
    # Its fills, runs and price fetches come from the copies the backtest followed from its start.
    assert seen.event_reads == []


def test_the_leaderboards_draws_were_asked_for_ahead_and_made_by_then(seen: Seen) -> None:
    lengths = sorted(set(seen.drawn))
    assert len(lengths) == 1  # the whole range's: offline books have no knowledge-cutoff periods
    assert sorted(set(seen.asked_ahead)) == lengths
    assert seen.taken_ahead == [True]


def test_the_backtest_holds_the_last_weeks_streams_only_and_not_the_discovery_suggestions(seen: Seen) -> None:
    # 11 weeks run: a closed week's stream copies left memory two weeks on (storage/event_copies.py `drop_idle`).
    (copies,) = [c for key, c in _COPIES.items() if backtest_database(seen.result.name) in key]
    weeks = {date.fromisoformat(n.split(":")[1]) for n in copies.streams if n.startswith("week:")}
    assert weeks and min(weeks) >= week_id_for(LAST) - timedelta(weeks=2), sorted(weeks)
    # Nor the discovery stream: the watchlist is read by type (discovery/watchlist.py `current`).
    assert DISCOVERY not in copies.streams
    assert not any(e.type == SuggestionsMade.event_type() for h in copies.streams.values() for e in h.events)


def test_each_deferred_index_is_built_on_a_connection_of_its_own_while_the_leaderboard_is_made(
    seen: Seen, database_url: str
) -> None:
    assert sorted(index for index, _, _ in seen.beside) == sorted(bulk_load.DEFERRED)
    assert not any(on_held for _, on_held, _ in seen.beside)
    assert len({thread for _, _, thread in seen.beside}) == len(bulk_load.DEFERRED)
    assert _indexes(seen.url) == _indexes(database_url)  # every index, as the migrations made it


def test_an_index_that_failed_beside_is_built_on_the_held_connection(
    database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, pg_admin_url: str
) -> None:
    def fails(conn: psycopg.Connection, index: str) -> None:
        raise psycopg.errors.LockNotAvailable("canceling statement due to lock timeout")

    monkeypatch.setattr(bulk_load, "beside", fails)
    name = _unique()
    _run(database_url, tmp_path, name, audit=0)
    assert _indexes(_url(pg_admin_url, backtest_database(name))) == _indexes(database_url)


def _bars(symbol: str, first: date, days: int, source: str = "t") -> list[Bar]:
    out = []
    for n in range(days):
        price = 100.0 + n / 3
        day = first + timedelta(days=n)
        out.append(
            Bar(
                symbol=symbol, day=day, open=price, high=price + 1, low=price - 1, close=price, volume=10, source=source
            )
        )
    return out


def test_the_held_bar_cache_keeps_what_it_stores_for_a_symbol_it_held_none_of(storage: Storage) -> None:
    plain, held = BarCache(storage.conn), HeldBarCache(storage.conn)
    start, end = date(2026, 1, 5), date(2026, 1, 20)
    held.store({"QQQ": _bars("QQQ", start, 3)}, start, start + timedelta(days=2), provider="t", synthetic=False)
    held.read(["QQQ"], date.min, date.max, synthetic=False)  # QQQ's series read: a later store drops it
    stored = {"SPY": _bars("SPY", start, 16), "QQQ": _bars("QQQ", start + timedelta(days=3), 13, source="u")}
    held.store(stored, start, end, provider="t", synthetic=False)
    from_database = plain.read(["SPY", "QQQ"], date.min, date.max, synthetic=False)
    # Behind the held cache's back: SPY, which the database held none of before, is answered from the bars stored;
    # QQQ, which it held some of, was read back whole (its earlier bars and the new ones).
    storage.conn.execute("DELETE FROM market_bars")
    assert held.read(["SPY"], date.min, date.max, synthetic=False) == {"SPY": from_database["SPY"]}
    assert held.read(["QQQ"], date.min, date.max, synthetic=False) == {"QQQ": []}


def test_the_held_bar_cache_keeps_the_days_last_bar_in_day_order_as_the_upsert_does(storage: Storage) -> None:
    plain, held = BarCache(storage.conn), HeldBarCache(storage.conn)
    start = date(2026, 1, 5)
    bars = _bars("SPY", start, 4)
    again = _bars("SPY", start + timedelta(days=1), 1, source="later")
    held.store(
        {"SPY": [bars[2], bars[0], *again, bars[3], bars[1]]},
        start,
        start + timedelta(days=3),
        provider="t",
        synthetic=False,
    )
    kept = held.read(["SPY"], date.min, date.max, synthetic=False)
    assert kept == plain.read(["SPY"], date.min, date.max, synthetic=False)
    assert [b.source for b in kept["SPY"]] == ["t", "t", "t", "t"]  # bars[1] came after `again`: it won


@pytest.mark.parametrize(("n", "reps"), [(150, 130), (2600, 64), (25, 1)])
def test_resamples_are_reduced_to_the_bit_as_numpy_reduces_the_whole_array(n: int, reps: int) -> None:
    rng = np.random.default_rng(n)
    series = rng.normal(0.0004, 0.01, size=n)
    indices = rng.integers(0, n, size=(reps, n))
    samples = series[indices]
    mean, sd = resampled.reduced(series, lambda: indices, ("test", n, reps), deviation=True)
    assert mean.tobytes() == samples.mean(axis=1).tobytes()
    assert sd.tobytes() == samples.std(axis=1, ddof=1).tobytes()
    again, _ = resampled.reduced(
        series, lambda: pytest.fail("kept: not drawn again"), ("test", n, reps), deviation=False
    )
    assert again is mean


def test_an_excess_over_flat_is_the_series_own_resampled_mean() -> None:
    rng = np.random.default_rng(5)
    returns = (0.0004 + 0.01 * rng.standard_normal(200)).tolist()
    n = len(returns)
    samples = np.asarray(returns)[metrics._indices(n, metrics.block_length(n), metrics.RESAMPLES, metrics.SEED)]
    excess = metrics.mean_excess(returns, [0.0] * n) or 0.0
    expected = metrics._interval(excess, samples.mean(axis=1) * 252, n, metrics.RESAMPLES, metrics.SEED)
    metrics.sharpe_interval(returns)  # its means kept
    assert metrics.excess_interval(returns, [0.0] * n) == expected


def test_the_worker_sends_its_draws_narrow_and_they_arrive_as_archs() -> None:
    expected = metrics.arch_indices(300, 7, 50, 7)
    sent = draws._draw(300, 7, 50, 7)
    assert sent.dtype == np.int16 and np.array_equal(sent, expected)
    with draws.drawn_apart():
        worker = draws.current()
        assert worker is not None
        worker.ahead(300, 7, 50, 7)
        assert (300, 7, 50, 7) in worker._ahead
        made = worker.indices(300, 7, 50, 7)
        assert made is not None and made.dtype == expected.dtype and np.array_equal(made, expected)
        assert (300, 7, 50, 7) not in worker._ahead  # taken once
