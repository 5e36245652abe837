"""One session's bar as the market data service reads it for a price of that day: its open (a paper order's fill at
the open), its close (one filled at the close), and the split its gap from the closes before it may be.

A mixin of MarketData (market/service.py), kept apart for its one role: the service's range reads validate, cache and
record whole ranges; these read a single day, of a provider directly when the cache has no bar of it yet (a session
still open is never cached), and ask the providers afresh about a gap that looks like a split not recorded yet.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta

from llmtrade.domain.market import Bar
from llmtrade.errors import BarNotComplete, MarketDataError, MarketDataUnavailable
from llmtrade.market.calendar import TradingCalendar
from llmtrade.market.failures import FALLBACK
from llmtrade.market.provider import SETTLED, SETTLING, BarProvider
from llmtrade.market.series import Recording
from llmtrade.market.splits import gap_factor
from llmtrade.market.validation import SeriesRejected, validate_bars
from llmtrade.storage.bar_cache import BarCache


class SessionBars:
    """What MarketData reads of one session's bar (see the module docstring)."""

    providers: list[BarProvider]
    calendar: TradingCalendar
    _cache: BarCache
    _recording: Recording | None

    def __init__(self) -> None:
        # The (symbol, day) whose gap `confirm_splits` asked the providers about: once per process.
        self._confirmed: set[tuple[str, date]] = set()
        # The day `closes_before` last looked from, and the closes it found then, by symbol.
        self._before: tuple[date | None, dict[str, list[Bar]]] = (None, {})

    def _find_splits(self, provider: BarProvider, bars: dict[str, list[Bar]], start: date, end: date) -> set[str]:
        raise NotImplementedError  # MarketData's: the splits an answer shows, recorded

    def opening_price(self, symbol: str, day: date) -> float | None:
        """The opening price of `day`'s session, asked of the providers directly.

        A cached bar is used when there is one (the cache only holds complete sessions). Otherwise
        the providers are asked directly and the answer is not cached: during the session a daily
        bar is still incomplete, and caching it would leak a partial close into later reads.
        """
        bar, synthetic = self._session_bar(symbol, day, opening=True)
        if bar is None or (synthetic is not None and self._gapped_like_a_split(bar, synthetic)):
            return None
        return bar.open

    def closing_price(self, symbol: str, day: date) -> float | None:
        """The closing price of `day`'s session, as `opening_price` finds its bar: for a paper order filled at the
        close (brokers/paper.py), asked once the session has closed. None while no provider has the day's bar."""
        bar = self._session_bar(symbol, day)[0]
        return None if bar is None else bar.close

    def _session_bar(self, symbol: str, day: date, *, opening: bool = False) -> tuple[Bar | None, bool | None]:
        """`day`'s bar of `symbol`: (cached bar, None), or (a provider's bar, whether that provider is synthetic), or
        (None, None). `opening`: for its open alone, which a file's row written while the session traded has final
        (market/csv_unfinished.py); its close, high and low are not, so no other read takes it."""
        # A close to judge a bar's being final by: none for the open, nor for a day that is no session (no bar either).
        close = self.calendar.session_close(day) if not opening and self.calendar.is_session(day) else None
        for provider in self.providers:
            cached = self._cache.read([symbol], day, day, synthetic=provider.synthetic)[symbol]
            if cached and (close is None or self._settled(cached[0], close, provider.synthetic)):
                return cached[0], None
            if cached:
                break  # stored before the session settled: asked afresh
        for provider in self.providers:
            if close is not None and provider.incomplete(close) is not None:
                # Its bar of the day is not final yet (Yahoo's live after the close, Alpaca's taking in late prints):
                # no close to fill at from it, the order waits for the next look.
                continue
            try:
                bars = provider.daily_bars([symbol], day, day).get(symbol) or []
            except BarNotComplete as exc:
                bars = list(exc.unfinished.get(symbol) or []) if opening else []
            except (*FALLBACK, SeriesRejected):
                continue
            for bar in bars:
                if bar.day == day:
                    return bar, provider.synthetic
        return None, None

    def _settled(self, bar: Bar, close: datetime, synthetic: bool) -> bool:
        """Whether cached `bar` of the session closing at `close` was stored once its session had settled: a feed's
        bar (provider.py SETTLING) stored before SETTLED after the close, by older code (Yahoo's at 16:05, Alpaca's
        iex bar at 16:00), is not the session's final one, and priced a fill at the close for good. Such a bar is
        forgotten, its range fetched afresh at the next read. One look at the database, for a feed's bar only (a
        backtest's files and synthetic bars are never looked at)."""
        if bar.source not in SETTLING:
            return True
        stored = self._cache.stored_at(bar.symbol, bar.day, synthetic=synthetic)
        if stored is None or stored >= close + SETTLED:
            return True
        self._cache.forget([bar.symbol], bar.day, bar.day, synthetic=synthetic)
        return False

    def _unsettled_end(self, symbols: Sequence[str], sessions: Sequence[date], synthetic: bool) -> bool:
        """Whether the cached bars of a range's last session (of `sessions`) include a feed's stored before that session
        had settled (`_settled`'s rule, for a range read: one look at the database for all `symbols`); those bars are
        forgotten, their range asked afresh. The postmortem of older code cached the range ending on the session at
        16:05, and the next morning's run, reading the same range, valued the books at the unsettled close."""
        if not sessions or synthetic:  # the synthetic market's bars are what they are
            return False
        last = sessions[-1]
        settled = self.calendar.session_close(last) + SETTLED
        early = self._cache.stored_before(symbols, last, settled, sources=SETTLING, synthetic=synthetic)
        if early:
            self._cache.forget(early, last, last, synthetic=synthetic)
        return bool(early)

    def confirm_splits(self, prices: Mapping[str, float], day: date) -> None:
        """Ask the providers afresh about each symbol priced on `day` at a split's factor from its last cached close
        (the ex-day, the split not recorded yet): its sessions before `day`, restated, record the split now (ex-day
        `day`), not after the day's close. A paper account is then valued and traded in its split shares from the
        first price of the ex-day. Nothing is asked otherwise, nor when unrecorded (a backtest's files never
        restate), and the cache is left as it is (the next fetch restates it)."""
        if self._recording is None:
            return
        for symbol, price in prices.items():
            before = self.closes_before(symbol, day)
            self._confirm(symbol, price, day, before[-1] if before else None)

    def closes_before(self, symbol: str, day: date) -> list[Bar]:
        """`symbol`'s cached bars of the ten days before `day` (of whichever kind the first provider is), oldest first:
        what a price on `day` is looked at against (a split's gap here, a bad print in market/quote_checks.py)."""
        if self._before[0] != day:
            self._before = (day, {})  # a run's, or a backtest day's, every quote looks against the same closes
        if not self._before[1].get(symbol):  # none cached yet is asked again: the run's fetch may come later
            self._before[1][symbol] = self._cached_before(symbol, day, self.providers[0].synthetic)
        return self._before[1][symbol]

    def _confirm(self, symbol: str, price: float, day: date, last: Bar | None) -> None:
        """`confirm_splits` of one symbol priced `price` on `day`, `last` its last cached bar before `day`."""
        if self._recording is None or last is None or (symbol, day) in self._confirmed:
            return
        if gap_factor(last.close / price) is None:
            return
        self._confirmed.add((symbol, day))
        start, end = last.day - timedelta(days=20), self.calendar.previous_session(day)
        for provider in self.providers:
            try:
                fetched = provider.daily_bars([symbol], start, end).get(symbol) or []
            except (MarketDataUnavailable, MarketDataError):  # a second look only: the run's own fetch decides
                continue
            bars = {symbol: [b for b in fetched if start <= b.day <= end]}
            if bars[symbol] and not validate_bars(bars, self.calendar.sessions_between(start, end)):
                # Cached as a fetch is: a split recorded now has its sessions before it restated in the cache, as
                # every read after the record (an open before the ex-day, the leaderboard's closes) takes them.
                if symbol not in self._find_splits(provider, bars, start, end):
                    self._cache.store(bars, start, end, provider=provider.name, synthetic=provider.synthetic)
                break

    def _cached_before(self, symbol: str, day: date, synthetic: bool) -> list[Bar]:
        """`symbol`'s cached bars of the ten days before `day`, of the kind `synthetic` says, oldest first."""
        first, last = day - timedelta(days=10), day - timedelta(days=1)
        return self._cache.read([symbol], first, last, synthetic=synthetic)[symbol]

    def _gapped_like_a_split(self, bar: Bar, synthetic: bool) -> bool:
        """Whether `bar` opens at a split's factor from the last cached close before it: most likely the split's ex-day,
        not recorded yet. An order queued before it for this open (sized in the old shares) waits, no opening price
        yet, until the split is recorded and cancels it (paper_book.py `crossing`) or the day's bar fills it."""
        before = self._cached_before(bar.symbol, bar.day, synthetic)
        last = before[-1] if before else None
        if last is None or gap_factor(last.close / bar.open) is None:
            return False
        self._confirm(bar.symbol, bar.open, bar.day, last)  # that bar, not read again
        return True
