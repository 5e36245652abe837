"""What a backtest says at its start about the prices it was given, before any week runs on them.

Validation (market/validation.py) has already refused what cannot be priced at all: a hole, a duplicate, a
bar off the NYSE calendar, a price that is not positive. What is left passes as prices but would mislead:
- history too short for the indicators (the first weeks then see the 200-day average as n/a): said;
- a symbol whose prices begin after the first week's as-of session (an ETF launched during the range): said and
  recorded (PricesBeginLate); the weeks before its first bar do not offer it (BacktestContainer.offered), no
  look-ahead: the committee of a week sees only what had a price by its as-of time. One whose prices begin after the
  range's last session (`listed_after`) is the same case with no week after its first bar: said and recorded alike,
  never offered, its file not fetched (it was refused as "no bars between", unlike one listed a day earlier);
- a split-like jump or a one-day spike (market/jumps.py), most likely a split the file left unadjusted or a bad
  row, which every return across it books as a loss or a gain that never happened: said, naming the file, the
  day, the ratio and what to do, and recorded (PriceJumpFlagged on the backtest stream), so the leaderboard and
  report say it again beside the figures it touches (domain/backtests.jumps_note).

A jump is flagged, not refused: a real collapse can look exactly like a split (an ETF halving overnight and
staying there), and refusing real prices would leave the user no way to run them. The warning is what makes
the choice theirs: adjusted prices, or the move stands.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path

from llmtrade.app.backtest_benchmark import (
    before_synthetic,
    benchmark_begins_late,
    benchmark_ends_early,
    refuse_synthetic_ahead,
)
from llmtrade.app.backtest_container import BacktestContainer
from llmtrade.app.backtest_delisting import find_delisted, record_delisted, refuse_ended_inside_weeks_run
from llmtrade.app.backtest_inputs import HISTORY, range_weeks
from llmtrade.app.container import Container
from llmtrade.clock import SystemClock
from llmtrade.config.loader import LoadedConfig
from llmtrade.config.models import BENCHMARK
from llmtrade.domain import streams
from llmtrade.domain.backtests import flagged_jumps, listed_late
from llmtrade.domain.events import NewEvent
from llmtrade.domain.market import Bar, PricesBeginLate
from llmtrade.errors import LlmtradeError, UsageError
from llmtrade.market.calendar import TradingCalendar, new_york_date
from llmtrade.market.csv_quotes import off_range_rows
from llmtrade.market.indicators import LONGEST_WINDOW
from llmtrade.market.jumps import SPIKE, Jump, price_jump, suspect_moves
from llmtrade.market.providers import csv_dir, provider_names
from llmtrade.market.service import MarketData
from llmtrade.market.synthetic import ORIGIN as SYNTHETIC_ORIGIN
from llmtrade.settings import Settings
from llmtrade.storage.bar_cache import ScratchBarCache
from llmtrade.storage.bootstrap import Storage
from llmtrade.workflows.schedule import Job, week_jobs


def listed_after(app: Container, market: MarketData, first: date, last: date, first_at: datetime) -> dict[str, date]:
    """Each universe symbol whose bars (the first provider's: a backtest reads one) have none in first..last and begin
    after `last`, with its first bar's day: listed after the range. A file with no bar after `last` either (empty, or
    ended before the range) is not one: the fetch refuses it, naming the file. A synthetic market lists every symbol;
    a provider that fails here says so at the fetch that follows. UsageError for the benchmark (every week reads it;
    the first job at `first_at`)."""
    provider = market.providers[0]
    if provider.synthetic:
        return {}
    symbols = app.loaded.config.assets.symbols
    try:
        inside = provider.daily_bars(list(symbols), first, last)
        empty = [s for s in symbols if not inside.get(s)]
        later = provider.daily_bars(empty, last + timedelta(days=1), date.max) if empty else {}
    except LlmtradeError:
        return {}
    after = {s: min(b.day for b in rows) for s, rows in later.items() if rows}
    if BENCHMARK in after:  # the range's to change, or the file's (exit 2)
        asof = app.calendar.last_completed_session(first_at)
        raise UsageError(after_message(BENCHMARK, after[BENCHMARK], asof, origin(market)(BENCHMARK)))
    return after


def refuse_outside(
    app: Container,
    given: tuple[date, date],
    first: date,
    last: date,
    *,
    plan: Mapping[date, Sequence[Job]] | None = None,
) -> None:
    """UsageError (exit 2) when none of the price files (the universe's and the benchmark's) has a bar from the range's
    first week (`first`, its Wednesday) to its last session (`last`): a range given (`given`, --from and --to as the
    user wrote them) that the prices do not cover at all, named with their first and last day. Asked of the files
    before anything is written: it was refused as prices that end early (or begin after the range), exit 1, "give its
    later history", though the history the user has ends there. A synthetic market covers any range; files that cannot
    be read are left to the fetch, which says what is wrong with them, and so are prices that cover part of the range
    (a symbol that ends inside it is a delisting; the benchmark, every week's, is refused there). With `plan` (each
    week's Wednesday -> its jobs), a synthetic market's range that reads a session not closed now is refused too
    (backtest_benchmark.py `refuse_synthetic_ahead`): files end at today's close at the latest, it does not."""
    provider = app.bar_providers(provider_names(app.loaded.config.assets, app.settings, live=False))[0]
    if provider.synthetic:
        if last < SYNTHETIC_ORIGIN:
            # A trial's --from 2010-01-06: exit 1, "synthetic returned no bars ... between 2008-09-03 and 2010-01-19".
            # A range that ends before the synthetic market begins is the user's to change; one that begins before it
            # and ends after is refused as prices that begin late (backtest_benchmark.py), naming its first week.
            raise before_synthetic(given, SYNTHETIC_ORIGIN)
        if plan is not None:
            refuse_synthetic_ahead(app.calendar, plan, SystemClock().now())
        return
    symbols = sorted({*app.loaded.config.assets.symbols, BENCHMARK})
    try:
        days = [bar.day for rows in provider.daily_bars(symbols, date.min, date.max).values() for bar in rows]
    except LlmtradeError:
        return
    if not days or any(first <= day <= last for day in days):
        return
    where = provider.origin(BENCHMARK)
    place = f" in {Path(where).parent}" if where else ""
    raise UsageError(
        f"the prices do not cover the range {given[0]} to {given[1]}: the files{place} run from {min(days)} to "
        f"{max(days)}; give a range inside those days"
    )


def refuse_uncovered(
    settings: Settings, loaded: LoadedConfig, folder: Path, given: tuple[date, date], *, named_by: str = "--csv"
) -> None:
    """`refuse_outside` for a backtest of `given` (its --from and --to) over the CSV folder `folder`, asked before the
    backtest is built: a sweep asks it of each of its runs before any starts (each failed on it alone, after the
    sweep's database, its workers and the run's own database were made). The range's first week and the last session
    its jobs read are found as `backtest` finds them; a range with no job is left to the backtest, which says so.
    `named_by`: where the folder was named, as a message about it says (a sweep's may be the config's csv_dir)."""
    calendar = TradingCalendar()
    weeks = range_weeks(given[0], given[1], calendar)
    jobs = [job for week in weeks for job in week_jobs(loaded.config.schedule, calendar, week)]
    if not jobs:
        return
    # The prices as the backtest reads them: the folder given, never a live provider list (app/backtest.py).
    reading = settings.model_copy(update={"market_providers": None}).with_csv_dir(folder, named_by)
    app = Container(reading, loaded, SystemClock(), None, say=_silent)
    refuse_outside(app, given, weeks[0], span(jobs, calendar)[1])


def refuse_unread(
    settings: Settings, loaded: LoadedConfig, folder: Path, given: tuple[date, date], *, named_by: str = "--csv"
) -> None:
    """What the start of a backtest of `given` (its --from and --to) over the CSV folder `folder` refuses of its prices
    (`read_prices`: a file missing or unusable, a bad row, the benchmark ending or beginning inside the range ...),
    raised as that start raises it, asked before the backtest is built: the files are read, nothing is cached or
    recorded. A sweep asks it of each of its runs before any starts (each failed on it alone, after the sweep's
    database, its workers and the run's own database were made). A range with no job is left to the backtest, which
    says so. `named_by`: as `refuse_uncovered`'s."""
    calendar = TradingCalendar()
    weeks = range_weeks(given[0], given[1], calendar)
    plan = {week: week_jobs(loaded.config.schedule, calendar, week) for week in weeks}
    if not any(plan.values()):
        return
    reading = settings.model_copy(update={"market_providers": None}).with_csv_dir(folder, named_by)
    app = Container(reading, loaded, SystemClock(), None, say=_silent)
    providers = app.bar_providers(provider_names(loaded.config.assets, reading, live=False))
    read_prices(app, MarketData(providers, ScratchBarCache(), calendar), plan, weeks)


def _silent(_text: str) -> None:
    """Nothing is said while the prices are only looked at."""


def check_prices(
    app: BacktestContainer,
    storage: Storage,
    market: MarketData,
    bars: Mapping[str, Sequence[Bar]],
    first_at: datetime,
    after: Mapping[str, date] | None = None,
) -> None:
    """Say what misleads in `bars` (the backtest's prefetched history; its first job at `first_at`), record each
    split-like jump and each late listing once per backtest, and tell `app` which symbols begin late (the weeks
    before their first bar do not offer them: BacktestContainer.offered). `after`: the symbols listed after the range
    (`listed_after`, not in `bars`), with their first bar's day: late listings no week offers."""
    where = origin(market)
    stream = storage.events.read_stream(streams.BACKTEST)
    asof = app.calendar.last_completed_session(first_at)
    app.listed_later = {
        s: series[0].day for s, series in bars.items() if series and asof is not None and series[0].day > asof
    }
    short = short_history({s: b for s, b in bars.items() if s not in app.listed_later}, first_at.date())
    if short:
        app.warning(short)
    app.listed_later |= dict(after or {})
    fresh: list[NewEvent] = []
    known = set(listed_late(stream))  # as they stand: a start that read the prices afresh records them again
    for symbol, first in sorted(app.listed_later.items()):
        said = after_message if symbol in (after or {}) else late_message
        app.warning(said(symbol, first, asof, where(symbol)))
        if symbol not in known:
            late = PricesBeginLate(symbol=symbol, first_day=first, where=where(symbol))
            fresh.append(NewEvent.of(late, stream=streams.BACKTEST))
    if fresh:
        storage.events.append(fresh)
    flag_jumps(app, storage, market, bars)


def flag_jumps(
    app: BacktestContainer | Container, storage: Storage, market: MarketData, bars: Mapping[str, Sequence[Bar]]
) -> None:
    """Say every split-like jump and spike of `bars` (a backtest's prefetched history: its universe's, or discovery's
    candidates') and record each once per backtest (PriceJumpFlagged on the backtest stream), so the leaderboard and
    report repeat it."""
    where = origin(market)
    jumps = [jump for symbol, series in bars.items() for jump in suspect_moves(symbol, series)]
    recorded = {(j.symbol, j.day) for j in flagged_jumps(storage.events.read_stream(streams.BACKTEST))}
    fresh = [
        NewEvent.of(price_jump(jump, where(jump.symbol)), stream=streams.BACKTEST)
        for jump in jumps
        if (jump.symbol, jump.day) not in recorded
    ]
    if fresh:
        storage.events.append(fresh)
    for jump in jumps:
        app.warning(jump_message(jump, where(jump.symbol)))


def benchmark_late(
    app: Container, market: MarketData, bars: Mapping[str, Sequence[Bar]], plan: Mapping[date, Sequence[Job]]
) -> UsageError | None:
    """The refusal when the benchmark's prices (`bars`, the prefetched history) begin after the first week's as-of
    session (of `plan`, each week's Wednesday -> its jobs): every week reads it, so those weeks cannot run; None
    when they do not."""
    series = bars.get(BENCHMARK)
    first_at = min(job.at for jobs in plan.values() for job in jobs)
    asof = app.calendar.last_completed_session(first_at)
    if not series or asof is None or series[0].day <= asof:
        return None
    return benchmark_begins_late(app.calendar, plan, series[0].day, origin(market)(BENCHMARK))


def late_message(symbol: str, first: date, asof: date | None, where: str | None) -> str:
    """What a universe symbol whose prices begin after the first week's as-of session means for the backtest (the
    benchmark's is refused: backtest_benchmark.py)."""
    place = f" ({where})" if where else ""
    return (
        f"prices begin late: {symbol}'s{place} first bar is {first}, after the first week's as-of session {asof}: the "
        f"weeks before it do not offer {symbol} to the committee (it had no price yet), and EQUAL_WEIGHT leaves it "
        "out until its first close. If it traded before, give the file its earlier history"
    )


def after_message(symbol: str, first: date, asof: date | None, where: str | None) -> str:
    """What a symbol whose prices begin after the backtest's range means for it (`asof`: the first week's)."""
    place = f" ({where})" if where else ""
    if symbol == BENCHMARK:
        return (
            f"prices begin after the range: {symbol}'s{place} first bar is {first}, after the range's last session; "
            f"every week reads {BENCHMARK}, the benchmark, so none can run: give its history from before the first "
            "week"
        )
    return (
        f"prices begin after the range: {symbol}'s{place} first bar is {first}, after the range's last session: "
        f"{symbol} has no price in the range, so no week offers it to the committee and EQUAL_WEIGHT leaves it out "
        f"(a late listing, as one listed after the first week's as-of session {asof}). If it traded before, give the "
        "file its earlier history"
    )


def jump_message(jump: Jump, where: str | None) -> str:
    """The warning for one split-like jump or spike: the file, the day, the ratios, what it is and what to do."""
    place = f"{where}: " if where else ""
    move = f"{jump.ratio - 1:+.0%}"
    if jump.looks_like() == SPIKE:
        return (
            f"price spike: {place}{jump.symbol} closes on {jump.day} at {jump.ratio:.3f}x its close of {jump.before} "
            f"and is back the next session, as a bad row leaves (a misplaced decimal, a day of another symbol's "
            f"prices): the returns into and out of that day count a {move} move and its reverse. Fix or re-export "
            "that row and run again under a new --name; if the move was real, go on (the leaderboard repeats this note)"
        )
    return (
        f"split-like jump: {place}{jump.symbol} closes on {jump.day} at {jump.ratio:.3f}x its close of {jump.before} "
        f"(opening at {jump.open_ratio:.3f}x), {jump.named()}. Every return across that "
        f"day counts it as a {move} move (the paper broker splits no position): if it is a split, give split-adjusted "
        "prices (a provider's adjusted series, or every bar before the split divided by its ratio) and run again "
        "under a new --name; if the move was real, go on (the leaderboard repeats this note)"
    )


def short_history(bars: Mapping[str, Sequence[Bar]], day: date) -> str | None:
    """What to tell the user when prices begin too late for the indicators: the symbols with fewer sessions before
    the first job's `day` than the longest indicator needs (its first weeks see those indicators as n/a, as a
    live run on so short a history would), or None."""
    before = {symbol: sum(1 for bar in rows if bar.day < day) for symbol, rows in bars.items()}
    short = sorted((n, symbol) for symbol, n in before.items() if n < LONGEST_WINDOW)
    if not short:
        return None
    counts = ", ".join(f"{symbol} {n}" for n, symbol in short)
    return (
        f"short price history: sessions before the first week ({day}): {counts}; the longest indicator (the "
        f"{LONGEST_WINDOW}-day average) needs {LONGEST_WINDOW}, so the first weeks see some indicators as n/a. "
        "Start the backtest later, or give the files more history, for every week to see them all"
    )


def origin(market: MarketData) -> Callable[[str], str | None]:
    """Where a symbol's bars were read from (a CSV file), by the first provider that can say; None otherwise."""

    def where(symbol: str) -> str | None:
        return next((found for p in market.providers if (found := p.origin(symbol)) is not None), None)

    return where


def span(jobs: list[Job], calendar: TradingCalendar) -> tuple[date, date]:
    """The sessions `jobs` read: the first one's history (`HISTORY` before it) to the last session complete
    at the last one's instant."""
    last_at = max(job.at for job in jobs)
    return min(job.at for job in jobs).date() - HISTORY, calendar.last_completed_session(last_at) or last_at.date()


def prefetch(app: BacktestContainer, storage: Storage, plan: dict[date, list[Job]], todo: list[date]) -> None:
    """Every bar the weeks to run will read, fetched once into the bar cache (reads stay point-in-time), over the days a
    backtest run afresh reads (the whole range's), so a resume takes the same symbols as delisted."""
    jobs = [job for w in todo for job in plan[w]]
    market = app.market(storage, record=False)
    # Its fetches, jumps and splits are not recorded (check_prices says and records what misleads), but a refusal is,
    # as live records it: the books of a backtest stopped by its prices say why (`llmtrade events --backtest NAME`).
    market.refusals = storage.events
    where = origin(market)

    def found(delisted: dict[str, date]) -> None:
        app.delisted = delisted
        refuse_ended_inside_weeks_run(app, storage, delisted, (j for js in plan.values() for j in js), where)

    held, after = read_prices(app, market, plan, todo, found=found)
    check_prices(app, storage, market, held, min(job.at for job in jobs), after)
    record_delisted(app, storage, app.delisted, {s: where(s) for s in app.delisted})


def read_prices(
    app: Container,
    market: MarketData,
    plan: Mapping[date, Sequence[Job]],
    todo: Sequence[date],
    *,
    found: Callable[[dict[str, date]], None] | None = None,
) -> tuple[Mapping[str, Sequence[Bar]], dict[str, date]]:
    """The universe's bars the weeks `todo` of `plan` read, as `prefetch` reads them through `market`, and the symbols
    listed after the range (`listed_after`); raised, what the start refuses of them: the benchmark ending or beginning
    inside the range, a file missing or unusable, a bad row, an intraday row off its daily bar. `found`: told the
    symbols delisted inside the range (the benchmark's refused first), before the universe's bars are read."""
    jobs = [job for w in todo for job in plan[w]]
    first, last = span([job for week in plan.values() for job in week], app.calendar)
    # Found before the fetch, so a file that simply ends early is a delisting, not a stale tail that refuses it all.
    delisted = find_delisted(market, app.loaded.config.assets.symbols, first, last)
    market.ends = delisted
    if BENCHMARK in delisted:  # nothing cached yet: the start binds nothing; the range's to change (exit 2)
        raise benchmark_ends_early(app.calendar, plan, delisted[BENCHMARK], origin(market)(BENCHMARK))
    if found is not None:
        found(delisted)
    after = listed_after(app, market, first, last, min(job.at for job in jobs))  # no bar to fetch: never offered
    symbols = [s for s in app.loaded.config.assets.symbols if s not in after]
    market.bars(symbols, first, last)
    # Read back once from the cache, validated there and vouched for: every later read inside the range
    # (a week's, a checkpoint's) is then vouched for too and not validated again (storage/bar_cache.py).
    held = market.bars(symbols, first, last)
    late = benchmark_late(app, market, held.bars, plan)
    if late is not None:  # no week can run on these prices (what they cached is forgotten: the start binds nothing)
        raise late
    folder = csv_dir(app.loaded.config.assets, app.settings)
    quoting = {new_york_date(job.at) for job in jobs if app.calendar.is_open(job.at)}
    if folder is not None and (off := off_range_rows(folder, held.bars, quoting, app.calendar)) is not None:
        raise off  # a checkpoint would trade at it, unsaid (csv_quotes.py); refused as a daily bar's own bad close
    return held.bars, after
