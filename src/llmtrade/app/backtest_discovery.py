"""Discovery inside a backtest (issue 15): the pickers judge the candidates before each weekly run, as
`run-due` has them do live, and their forward returns are recorded as the backtest's clock passes them.

Everything lands in the backtest's own database (its container's held storage), never in the live books:
SuggestionsMade and WatchlistSet in a `discover` run before the week's weekly run, ForwardReturns once
the session `horizon` sessions after a judged one has closed by the stepped clock (checked after each
week's jobs), so `discover performance --backtest NAME` reads what a live run would have known by then.
Point-in-time as live: the candidates' features come from `bars_asof` at the weekly run's instant.

Cost: every candidate's bars are fetched once into the backtest's in-memory bar cache up front (as the
universe's are), and the sessions still maturing are kept here, so a week's filling reads neither every
past suggestion back nor any bar it did not need. `discovery.in_backtest: false` turns it off in static
mode; watchlist and both modes always run it, because the committee's universe comes from it.
"""

from __future__ import annotations

import time
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

from llmtrade.app.backtest_prices import flag_jumps
from llmtrade.app.container import Container
from llmtrade.app.discovery import current_watchlist, priceable, record_discovery
from llmtrade.app.results import Usage
from llmtrade.config.candidates import CandidateInstrument, packaged_candidates
from llmtrade.config.models import BENCHMARK
from llmtrade.discovery import outcomes
from llmtrade.discovery.features import PairHistory
from llmtrade.discovery.run import FEATURE_SESSIONS, Featured, candidate_features, sort_out
from llmtrade.domain.discovery import HORIZONS, CandidateFeatures, ForwardReturns
from llmtrade.domain.market import Bar
from llmtrade.domain.streams import DISCOVERY, UNIVERSE, forward_returns_stream, week_stream
from llmtrade.errors import LlmtradeError, MarketDataError, RunStopped, TemporaryError
from llmtrade.exits import causes
from llmtrade.market.calendar import TradingCalendar
from llmtrade.market.csv_quotes import off_range_rows
from llmtrade.market.failures import few, own_words
from llmtrade.market.providers import csv_dir
from llmtrade.market.service import BarSeries, MarketData
from llmtrade.storage.bootstrap import Storage

KIND = "discovery"  # its seconds in the backtest's timing, beside the jobs'


@dataclass
class BacktestDiscovery:
    """The backtest's discovery: `before_weekly` runs the pickers, `matured` records forward returns.

    `pending`: each judged session whose forward returns are not all recorded -> the symbols judged then.
    `spent`: the backtest's seconds per kind, to which this adds its own under KIND; `count`: what takes each
    discovery run's model calls and rules answers, with the jobs' (the backtest's tally)."""

    app: Container
    candidates: list[CandidateInstrument]
    spent: Counter[str]
    held: HeldBars | None  # the candidates' bars for the whole backtest; None when they could not be had ahead
    pending: dict[date, set[str]] = field(default_factory=dict)
    count: Callable[[Usage], None] = lambda _usage: None
    # The failure said last and the weeks it has failed so far: the same failure is said when it starts and when it
    # ends, not week after week (a range that starts with too little history failed 13 weeks in a row, 13 lines).
    failing: tuple[str, list[date]] | None = None

    def before_weekly(self, week_id: date) -> None:
        """Run every picker as of the clock's now and set the watchlist, unless the week's universe is
        already fixed or a run already judged the last complete session (a resume). A failure of the candidates'
        data (no history yet) is said and the week goes on with the last watchlist, as live; one that a rerun
        would not meet (a provider down, the budget spent, a replay miss) stops the backtest, as any job's."""
        tick = time.perf_counter()
        try:
            with self.app.storage() as storage:
                fixed = storage.events.stream_version(week_stream(week_id, UNIVERSE)) > 0
                last = self.app.calendar.last_completed_session(self.app.clock.now())
                current = current_watchlist(storage)
                latest = current.latest
                if fixed or (latest is not None and latest.session == last):
                    return
                try:
                    _, found, usage = record_discovery(
                        self.app,
                        storage,
                        self.candidates,
                        bars=self.held,
                        current=current,
                        features_of=self.held.candidate_features if self.held is not None else None,
                        week_id=week_id,
                    )
                except LlmtradeError as exc:
                    if any(isinstance(link, (TemporaryError, RunStopped)) for link in causes(exc)):
                        # A provider down, the budget spent, a replay miss: gone on from, the week was done without
                        # its discovery for good (a resume starts after it); a backtest has no weekly run to be on
                        # time for, so it stops, and the same command later runs the discovery again.
                        raise
                    self._failed(week_id, str(exc))
                    return
                self.count(usage)
                self._ended(week_id, "judged again")
                judged = {s.symbol for rows in found.scores.values() for s in rows}
                self.pending.setdefault(found.session, set()).update(judged)
        finally:
            self.spent[KIND] += time.perf_counter() - tick

    def _failed(self, week_id: date, reason: str) -> None:
        if self.failing is not None and self.failing[0] == reason:
            self.failing[1].append(week_id)  # recorded all the same: each week's discover run has its RunFailed
            return
        self._ended(week_id, "failed otherwise")
        self.app.warning(
            f"backtest discovery before the weekly run of {week_id} failed ({reason}); "
            "the weeks after it that fail the same way are said when they end"
        )
        self.failing = (reason, [week_id])

    def _ended(self, week_id: date, how: str) -> None:
        if self.failing is None:
            return
        weeks = self.failing[1]
        if len(weeks) > 1:
            self.app.warning(
                f"backtest discovery {how} before the weekly run of {week_id}, after failing the same way before "
                f"{len(weeks)} weekly runs ({weeks[0]} to {weeks[-1]})"
            )
        self.failing = None

    def finish(self) -> None:
        """Say a run of the same failure that lasted to the last week run (`_failed` said its start only)."""
        if self.failing is not None and len(weeks := self.failing[1]) > 1:
            self.app.warning(
                f"backtest discovery failed the same way before {len(weeks)} weekly runs ({weeks[0]} to {weeks[-1]}), "
                "the last this backtest ran"
            )
        self.failing = None

    def matured(self) -> list[ForwardReturns]:
        """Record the forward returns matured by the clock's last complete session; those recorded now."""
        if not self.pending:
            return []
        tick = time.perf_counter()
        try:
            last = self.app.calendar.last_completed_session(self.app.clock.now())
            if last is None:
                return []
            with self.app.storage() as storage:
                market = self.held or self.app.market(storage, record=False)
                due = {s: symbols for s, symbols in self.pending.items() if s < last}
                written = outcomes.record_matured(storage.events, market, last, due)
                for session in due:
                    if all(storage.events.stream_version(forward_returns_stream(session, h)) for h in HORIZONS):
                        del self.pending[session]
            return written
        finally:
            self.spent[KIND] += time.perf_counter() - tick


def start(
    app: Container,
    storage: Storage,
    *,
    first: date,
    last: datetime,
    spent: Counter[str],
    count: Callable[[Usage], None],
    unlisted: Collection[str] = (),
    first_weekly: datetime | None = None,
) -> BacktestDiscovery | None:
    """The backtest's discovery over `storage`, its candidates' bars fetched from `first` (history
    included) to the last session complete at `last`; None when it is off (static mode, `in_backtest`
    false). Sessions an earlier, interrupted invocation judged without all their returns are picked up. `unlisted`:
    the universe's symbols listed after the range (app/backtest_prices.py `listed_after`), which have no bar to hold.
    `first_weekly`: the range's first weekly run, whose discovery reads the earliest bars: in static mode the
    candidates outside the universe are fetched from its features' window on (`features_from`), not from `first`."""
    settings = app.loaded.config.assets.discovery
    if settings.universe_mode == "static" and not settings.in_backtest:
        return None
    # Static mode never trades a candidate, so nothing reads one's bars before its first features' window: the
    # history before it (some 380 days of a 52-week run's 850) was fetched, validated and stored for nothing. A
    # watchlist is traded: its symbols' weekly snapshots read a universe symbol's whole history.
    since = first
    if settings.universe_mode == "static" and first_weekly is not None:
        since = max(first, features_from(app.calendar, first_weekly) or first)
    # A universe symbol listed after the range was said at the prefetch: not left out again as a candidate.
    candidates = [c for c in priceable(app, packaged_candidates()) if c.symbol not in unlisted]
    end = app.calendar.last_completed_session(last) or last.date()
    market = app.market(storage, record=False)
    held = None
    try:
        if candidates:
            # The universe too: the picker's memory takes a snapshot of it (app/discovery_memory.py).
            universe = sorted({*app.loaded.config.assets.symbols, BENCHMARK} - set(unlisted))
            symbols = sorted({c.symbol for c in candidates} | set(universe))
            # Only the candidates outside the universe are fetched: the prefetch holds the universe's bars already
            # (a fetch of all would build, validate and store them again, and drop the cache's copy).
            others = [s for s in symbols if s not in universe]
            fetched, dropped = _usable(market, others, since, end)
            if settings.universe_mode != "static" and fetched is not None:  # a watchlist is traded: quoted in session
                dropped |= _off_range(app, fetched.bars, first, end)
            if dropped:  # said once; each week's discovery then judges the others
                reasons = "; ".join(dropped.values())
                app.warning(
                    f"backtest discovery leaves out {few(sorted(dropped))} (the other candidates are judged): {reasons}"
                )
                candidates = [c for c in candidates if c.symbol not in dropped]
                symbols = [s for s in symbols if s not in dropped]
            if fetched is not None:  # bars enter here, unrecorded: said as the universe's are at the prefetch
                flag_jumps(app, storage, market, fetched.bars)
            # The universe's bars as the bar cache holds them: the very Bars the weekly run reads, so the snapshot
            # taken for the picker's memory and the run's own snapshot of the same sessions compute each symbol's
            # indicators once (market/indicators.py).
            shared = market.bars(universe, first, end)
            if not shared.from_cache:  # fetched just now (no prefetch before): storing it dropped the cache's copy
                shared = market.bars(universe, first, end)
            both = {**(fetched.bars if fetched else {}), **shared.bars}
            # Held from the universe's first day (the candidates' each from `since`), labelled as before.
            starts = {s: shared.start if s in shared.bars else since for s in symbols}
            series = replace(fetched or shared, bars={s: both[s] for s in symbols}, start=shared.start)
            held = HeldBars.of(market, series, starts)
    except LlmtradeError as exc:  # each week's run asks the market again, and says so if it fails then
        app.warning(f"backtest discovery: the candidates' bars could not be fetched ahead ({exc})")
    pending = {
        session: {s.symbol for m in made for s in m.suggestions}
        for session, made in outcomes.judged(storage.events.read(stream=DISCOVERY)).items()
        if not all(storage.events.stream_version(forward_returns_stream(session, h)) for h in HORIZONS)
    }
    return BacktestDiscovery(app, candidates, spent, held, pending, count=count)


def _off_range(app: Container, bars: Mapping[str, Sequence[Bar]], first: date, end: date) -> dict[str, str]:
    """Each candidate of `bars` whose intraday file prices it in session, from `first` to `end`, far off its day's
    bar, or cannot be read, with why (market/csv_quotes.py `off_range_rows`): a checkpoint would trade a held one at
    it, or stop on it, so it is left out, as a candidate whose daily file cannot be used is; a universe symbol's
    refuses the start (backtest_prices)."""
    folder = csv_dir(app.loaded.config.assets, app.settings)
    if folder is None:
        return {}
    days = app.calendar.sessions_between(first, end)
    found = {symbol: off_range_rows(folder, {symbol: series}, days, app.calendar) for symbol, series in bars.items()}
    return {symbol: str(off) for symbol, off in found.items() if off is not None}


def _usable(market: MarketData, symbols: list[str], first: date, end: date) -> tuple[BarSeries | None, dict[str, str]]:
    """The bars of the candidates `symbols` whose prices can be used, and why each other cannot (its file's problem).
    One request for all, as a rule; when it is refused (a CSV folder refuses a whole request for one bad file, and
    the candidates outside the universe are files the user may not know are read: an old XLK.csv newest first), each
    is asked alone and the refused are left out, as a candidate with no file is, rather than failing every week's
    discovery. A provider out of reach (temporary) is raised: it says nothing of a file."""
    if not symbols:
        return None, {}
    try:
        return market.bars(symbols, first, end), {}
    except MarketDataError:
        pass
    dropped: dict[str, str] = {}
    for symbol in symbols:
        try:
            market.bars([symbol], first, end)
        except MarketDataError as exc:
            dropped[symbol] = own_words(exc)
    usable = [s for s in symbols if s not in dropped]
    return (market.bars(usable, first, end) if usable else None), dropped


@dataclass(frozen=True)
class HeldBars:
    """Bars fetched and validated once (`held`), served by slicing: the answers MarketData gives for any
    range inside the held one, without reading back and validating a hundred series every week. A range
    or a symbol outside it is asked of `market`. Satisfies market/daily_bars.py's DailyBars."""

    market: MarketData
    held: BarSeries
    days: dict[str, list[date]]
    starts: dict[str, date]  # by symbol: the first day its bars are held for (a range asked from then on, not a bar)
    pairs: dict[str, PairHistory] = field(default_factory=dict)  # by symbol, each made when first asked for

    @classmethod
    def of(cls, market: MarketData, held: BarSeries, starts: dict[str, date] | None = None) -> HeldBars:
        """`starts`: a symbol's held from a day after `held.start` (each defaults to it)."""
        starts = {s: max(held.start, (starts or {}).get(s, held.start)) for s in held.bars}
        return cls(market, held, {s: [b.day for b in rows] for s, rows in held.bars.items()}, starts)

    @property
    def calendar(self) -> TradingCalendar:
        return self.market.calendar

    def bars(self, symbols: Sequence[str], start: date, end: date) -> BarSeries:
        wanted = list(dict.fromkeys(symbols))
        if end > self.held.end or any(s not in self.starts or start < self.starts[s] for s in wanted):
            return self.market.bars(wanted, start, end)
        sliced = {
            s: self.held.bars[s][bisect_left(self.days[s], start) : bisect_right(self.days[s], end)] for s in wanted
        }
        return replace(self.held, bars=sliced, start=start, end=end)

    def bars_asof(self, symbols: Sequence[str], asof: datetime, *, sessions: int = 300) -> BarSeries:
        """MarketData.bars_asof's window (tests/test_backtest_discovery.py holds them equal), sliced."""
        end = self.calendar.last_completed_session(asof)
        if end is None:
            raise MarketDataError(f"no completed trading session before {asof.isoformat()}")
        return self.bars(symbols, _window_start(end, sessions), end)

    def candidate_features(self, candidates: Sequence[CandidateInstrument], asof: datetime) -> Featured:
        """`discovery.run.candidate_features(self, candidates, asof)`, the same rows, from each held symbol's
        PairHistory (its session pairs' values computed once for the whole backtest) and the positions of the
        window `bars_asof` would slice, rather than from a slice of its bars every week."""
        session = self.calendar.last_completed_session(asof)
        symbols = [c.symbol for c in candidates]
        if session is None or session > self.held.end:
            return candidate_features(self, candidates, asof)
        start = _window_start(session)
        if any(s not in self.starts or start < self.starts[s] for s in symbols):
            return candidate_features(self, candidates, asof)

        def row_of(c: CandidateInstrument) -> CandidateFeatures | None:
            days = self.days[c.symbol]
            lo, hi = bisect_left(days, start), bisect_right(days, session)
            pairs = self.pairs.get(c.symbol)
            if pairs is None or pairs.first > lo:  # from the first window asked for: earlier bars are not read
                pairs = self.pairs[c.symbol] = PairHistory(self.held.bars[c.symbol], lo)
            return pairs.features(
                lo,
                hi,
                c.symbol,
                asset_class=c.asset_class.value,
                name=c.name,
                sector=c.sector,
            )

        found, skipped = sort_out(candidates, row_of)
        return session, found, skipped


def features_from(calendar: TradingCalendar, asof: datetime) -> date | None:
    """The first day the candidates' features as of `asof` read (`bars_asof`'s window of FEATURE_SESSIONS sessions
    before the last session complete then); None when no session is complete by then."""
    session = calendar.last_completed_session(asof)
    return None if session is None else _window_start(session)


def _window_start(session: date, sessions: int = FEATURE_SESSIONS) -> date:
    return session - timedelta(days=int(sessions * 1.5) + 10)  # MarketData.bars_asof's window
