"""The market data service: providers in order, the cache first, every fallback on record.

Reads are point-in-time: `bars_asof(symbols, T)` ends at the last session whose close is at or
before T, so nothing the committee sees could not have been known at T.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, timedelta

from llmtrade.domain.events import EventPayload, EventSink, NewEvent
from llmtrade.domain.market import (
    Bar,
    MarketDataFetched,
    MarketDataRejected,
    MarketProviderFailed,
    SessionsUntraded,
)
from llmtrade.domain.streams import SPLITS, market_stream
from llmtrade.errors import BarNotComplete, MarketDataError, MarketDataMissing
from llmtrade.market.bar_sources import sources_of
from llmtrade.market.begun_late import begun_late
from llmtrade.market.calendar import TradingCalendar
from llmtrade.market.failures import FALLBACK, few, nobody_could, none_for, none_left, not_complete
from llmtrade.market.jumps import flagged, jump_warning, price_jump
from llmtrade.market.provider import BarProvider
from llmtrade.market.revisions import revision_warning, revisions
from llmtrade.market.rewritten import rewritten
from llmtrade.market.series import BarSeries, Recording, Shortfall, bar_count, joined, mixing, untraded_recorded
from llmtrade.market.session_bars import SessionBars
from llmtrade.market.splits import known, restatements, split_event, split_warning
from llmtrade.market.untraded import Untraded, ended_untraded, taken, untraded_warning
from llmtrade.market.validation import BarProblem, SeriesRejected, validate_bars
from llmtrade.storage.bar_cache import BarCache


class MarketData(SessionBars):
    def __init__(
        self,
        providers: Sequence[BarProvider],
        cache: BarCache,
        calendar: TradingCalendar,
        recording: Recording | None = None,
    ):
        if not providers:
            raise MarketDataError("no market data provider is configured")
        super().__init__()  # SessionBars' own state (market/session_bars.py)
        self.providers = list(providers)
        self._cache = cache
        self.calendar = calendar
        self._recording = recording
        # Symbols that stopped trading before the ranges asked end (a backtest's delisted: app/backtest_delisting.py)
        # -> their last session: their series end there, and are valid so.
        self.ends: Mapping[str, date] = {}
        # The jumps said and recorded (symbol, day, looks_like), by this service (a run reads a symbol over more than
        # one range) or before it (Recording.flagged_before, read at the first jump); an unconfirmed last bar is said
        # again once its next session tells what it was.
        self._flagged: set[tuple[str, date, str]] | None = None
        # Where a rejected answer is recorded when nothing else is (a backtest's prefetch, unrecorded but for this):
        # the books of a backtest that stopped on its prices say why, as a live run's do.
        self.refusals: EventSink | None = None
        # Where a read that mixes synthetic and real prices is said (series.py `mixing`), recorded or not (`status`).
        self.mixed: Callable[[str], None] | None = None
        self._said: set[str] = set()  # the unfinished rows said (`_unfinished_said`)
        # Whether a symbol no provider had whole may be read without the sessions its feed saw no trade in
        # (market/untraded.py): not by a backtest's --fetch-history, whose snapshot is the backtest's whole record.
        self.untraded_read = True
        self._untraded_days: set[tuple[str, date]] | None = None  # (symbol, session) recorded untraded: `_untraded`

    @property
    def recording(self) -> Recording | None:
        """Where this service records (the quote service built over it records there too)."""
        return self._recording

    def bars_asof(self, symbols: Sequence[str], asof: datetime, *, sessions: int = 300) -> BarSeries:
        """About `sessions` sessions of history ending at the last session complete at `asof`."""
        end = self.calendar.last_completed_session(asof)
        if end is None:
            raise MarketDataError(f"no completed trading session before {asof.isoformat()}")
        # Calendar days per session is about 1.45 (weekends, holidays); pad for safety.
        start = end - timedelta(days=int(sessions * 1.5) + 10)
        series = self.bars(symbols, start, end)
        return series

    def bars(self, symbols: Sequence[str], start: date, end: date) -> BarSeries:
        """Bars of every symbol for start..end from the first provider whose answer is valid.

        Every answer, the cache's included, goes through `validation.validate_bars` against the NYSE
        sessions of the range. A rejected answer is recorded (one MarketDataRejected per problem) and
        the next provider is asked; only a valid answer is stored, so only complete ranges are ever
        recorded as covered. A provider that has no bar at all for some symbols (one listed after the
        range, or delisted) while the others came back supplies those others; only the empty ones are
        asked of the next provider. When no provider is left the error names every failure (a few symbols of
        many), and it is temporary (exit 75) only when a provider could not be reached and none answered
        wrongly (market/failures.py): a provider that answered with a hole, a duplicate, a bad value or no
        bars at all answers the same on the next wake-up, and a stale feed at run time (the weekly run is
        hours after the close) is a feed to look at, not a delay to wait out. A provider that refuses the
        request itself (a bad key) stops the read at once, on record. A provider whose bar of the range's last session
        is not complete yet (failures.py `not_complete`) is not asked: temporary, as one not reached. A symbol a feed
        answered without sessions it saw no trade of it in, which no provider had whole, is read without them, said
        and recorded, never cached (market/untraded.py).
        """
        wanted = list(dict.fromkeys(symbols))
        sessions = self.calendar.sessions_between(start, end)
        tally = Shortfall()
        parts: list[BarSeries] = []  # what each provider supplied, the symbols it lacked asked of the next
        asked = wanted
        for provider in self.providers:
            part = self._cached(provider, asked, start, end, sessions)
            if part is None and (early := not_complete(provider, self.calendar, sessions)) is not None:
                self._lacked(provider, early, asked, start, end, tally)  # its last bar partial: not taken, not cached
                continue
            part = part or self._answer(provider, asked, start, end, sessions, tally)
            if part is None:
                continue
            parts.append(part)
            asked = [s for s in asked if s not in part.bars]
            if not asked:
                return self._whole(parts, wanted, tally)
        # Symbols a feed saw no trade of in some sessions, which no provider had whole: read without them, said.
        if self.untraded_read and (found := taken(tally.errors, asked, sessions, self.ends)):
            parts.append(self._untraded(found, wanted, start, end))
            asked = [s for s in asked if s not in found]
            if not asked:
                return self._whole(parts, wanted, tally)
        # The symbols that were short, not all asked (a trial: "could not supply 7 symbols" when one file was bad).
        named = [s for s in asked if s in tally.short] or asked
        of = f" (of the {len(wanted)} asked)" if len(named) < len(wanted) else ""
        failure = none_left(
            nobody_could(f"no market data provider could supply {few(named)}{of} for {start}..{end}", tally.failures),
            tally.errors,
        )
        if isinstance(failure, MarketDataError):
            failure.short = tuple(named)
        raise failure

    def _whole(self, parts: list[BarSeries], wanted: list[str], tally: Shortfall) -> BarSeries:
        """The read of `wanted` made of `parts`, every symbol supplied, with what is said of it."""
        if self.mixed is not None and (said := mixing(parts)) is not None:
            self.mixed(said)
        self._unfinished_said(tally.errors)
        return joined(parts, wanted)

    def _untraded(self, found: Mapping[str, Untraded], wanted: list[str], start: date, end: date) -> BarSeries:
        """The bars of symbols read without sessions their feed saw no trade in (market/untraded.py `taken`): each
        recorded (SessionsUntraded) once a session, said once a run, its jumps flagged as any answer's, never cached."""
        providers = {provider.name: provider for provider in self.providers}
        say = self._recording.say if self._recording is not None else None
        if (books := self._untraded_days) is None:  # once a service, past a provider's answer: no cached read is here
            books = self._untraded_days = untraded_recorded(self._recording)
        for symbol, (exc, bars, days) in found.items():
            last = bars[-1].day if symbol in exc.tail else None
            warning = untraded_warning(symbol, days, exc.why, last=last)
            common = self._common(exc.provider, wanted, start, end)
            if new := [day for day in days if (symbol, day) not in books]:  # once per (symbol, session) in the books
                books.update((symbol, day) for day in new)
                self._record(SessionsUntraded(**common, symbol=symbol, days=new, reason=warning))
            if say is not None and warning not in self._said:
                self._said.add(warning)
                say(warning)
            if (provider := providers.get(exc.provider)) is not None:
                self._flag(provider, {symbol: bars})
        names = ",".join(dict.fromkeys(exc.provider for exc, _, _ in found.values()))
        bars = {symbol: series for symbol, (_, series, _) in found.items()}
        return BarSeries(bars, names, False, False, start, end, validated=True)

    def _answer(
        self, provider: BarProvider, asked: list[str], start: date, end: date, sessions: list[date], tally: Shortfall
    ) -> BarSeries | None:
        """`provider`'s valid bars of `asked` (some of them when it has none for the others), stored and on record;
        None when it supplied none. What it lacked or got refused is on record and in `tally`."""
        try:
            try:
                fetched: Mapping[str, Sequence[Bar]] = provider.daily_bars(asked, start, end)
            except FALLBACK as exc:
                # The others' bars, when `exc` is about some symbols only; a known end's too (`ended_untraded`)
                answered = {**(getattr(exc, "answered", None) or {}), **ended_untraded(exc, self.ends)}
                if not answered:
                    raise
                fetched = answered
                if lacking := [s for s in asked if not fetched.get(s)]:
                    self._lacked(provider, exc, lacking, start, end, tally)
            else:
                empty = [s for s in asked if not fetched.get(s)]
                if empty:
                    lacked = MarketDataMissing(
                        none_for(provider.name, provider.origin, empty, start, end), symbols=empty
                    )
                    self._lacked(provider, lacked, empty, start, end, tally)
            supplied = [s for s in asked if fetched.get(s)]
            if not supplied:
                return None
            bars = {s: [b for b in fetched[s] if start <= b.day <= end] for s in supplied}
            problems = validate_bars(bars, sessions, where=provider.origin, ends=self.ends)
            if problems:
                raise SeriesRejected(problems)
        except SeriesRejected as rejected:
            if rejected.lacking is not None:  # symbols it had nothing for besides (CSV files missing): said first
                self._lacked(provider, rejected.lacking, rejected.lacking.symbols, start, end, tally)
            exc = rejected.with_series_checks(sessions, start, end, where=provider.origin, ends=self.ends)
            tally.short.update(p.symbol for p in exc.problems)
            # Unrecorded (`status`, the leaderboard), the message is the only place its problems are told.
            tally.failures.append(f"{provider.name}: {exc if self._records_refusals else exc.every()}")
            tally.errors.append(exc)
            self._reject(provider.name, exc.problems, asked, start, end)
            return None
        except FALLBACK as exc:
            self._lacked(provider, exc, getattr(exc, "symbols", ()) or asked, start, end, tally)
            return None
        except MarketDataError as exc:
            self._failed(provider.name, exc, asked, start, end)
            raise
        if (late := begun_late(self._cache, provider.name, bars, sessions, synthetic=provider.synthetic)) is not None:
            # The range's first sessions left out of symbols that traded before: not cached as late listings.
            self._lacked(provider, late, late.symbols, start, end, tally)
            bars = {s: b for s, b in bars.items() if s not in late.untraded}
            supplied = [s for s in supplied if s in bars]
            if not supplied:
                return None
        self._flag(provider, bars)
        unplaced = self._find_splits(provider, bars, start, end)
        kept = {s: b for s, b in bars.items() if s not in unplaced}
        self._cache.store(kept, start, end, provider=provider.name, synthetic=provider.synthetic)
        # The range now holds the bars just validated, upserted; when it holds nothing else (no row left from
        # an earlier answer on a day this one lacks) it reads back as exactly them, so it is vouched now and
        # the next read (the weekly run after `market snapshot`) is not validated a second time.
        if not unplaced and self._cache.count(supplied, start, end, synthetic=provider.synthetic) == bar_count(bars):
            self._cache.vouch(supplied, start, end, synthetic=provider.synthetic)
        self._record(
            MarketDataFetched(
                **self._common(provider.name, supplied, start, end),
                bars=bar_count(bars),
                synthetic=provider.synthetic,
                from_cache=False,
            )
        )
        return BarSeries(bars, provider.name, False, provider.synthetic, start, end, validated=True)

    def _unfinished_said(self, errors: Sequence[Exception]) -> None:
        """Say, once a run, a file's row left out as written before its session closed (market/csv_unfinished.py) when
        a later provider supplied the session: on record as the file's provider failure, and unsaid otherwise, since
        the read went on (a read that fails says it in its error)."""
        say = self._recording.say if self._recording is not None else None
        for exc in errors:
            if say is not None and isinstance(exc, BarNotComplete) and exc.unfinished and str(exc) not in self._said:
                self._said.add(str(exc))
                say(f"{exc}; the next provider's bar of {exc.session} is taken instead")

    def _lacked(
        self, provider: BarProvider, exc: Exception, symbols: Sequence[str], start: date, end: date, tally: Shortfall
    ) -> None:
        """`provider` had nothing for `symbols` (`exc` says why): on record, and in `tally` for the summary."""
        tally.short.update(symbols)
        tally.failures.append(f"{provider.name}: {exc}")
        tally.errors.append(exc)
        self._failed(provider.name, exc, list(symbols), start, end)

    def _failed(self, provider: str, exc: Exception, wanted: list[str], start: date, end: date) -> None:
        self._record(
            MarketProviderFailed(
                **self._common(provider, wanted, start, end), error_type=type(exc).__name__, error=str(exc)
            )
        )

    def _cached(
        self, provider: BarProvider, wanted: list[str], start: date, end: date, sessions: list[date]
    ) -> BarSeries | None:
        """The cached series when the cache covers the range and what it holds is still valid."""
        key = (provider.name, tuple(wanted), start, end, provider.synthetic)
        kept = self._cache.kept(key)
        if kept is not None:
            # This very read passed below before and the cache vouches nothing was written since: the same bars
            # (each caller its own lists), recorded as every read from the cache is.
            bars, source = kept
            self._record(self._fetched(provider, wanted, start, end, bar_count(bars)))
            bars = {symbol: list(series) for symbol, series in bars.items()}
            return BarSeries(bars, source or provider.name, True, provider.synthetic, start, end, validated=True)
        # Both asked at once: one statement less for each of a run's many cached reads.
        covered, vouched = self._cache.coverage(wanted, start, end, synthetic=provider.synthetic)
        if not covered:
            return None
        # A range recorded as covered before validation existed may hide a hole; check it like any
        # answer, and forget the coverage so the provider is asked afresh (and the event is written once).
        # A range the cache has already seen pass (market_vouched; a backtest's, in memory) is not checked twice.
        cached = self._cache.read(wanted, start, end, synthetic=provider.synthetic, trusted=vouched)
        problems = [] if vouched else validate_bars(cached, sessions, ends=self.ends)
        if not problems and not vouched:
            self._cache.vouch(wanted, start, end, synthetic=provider.synthetic)
        if problems:
            self._reject("cache", problems, wanted, start, end)
            self._cache.forget(wanted, start, end, synthetic=provider.synthetic)
            return None
        if self._cache.outlives_process and rewritten(provider, wanted, start, end, cached):
            return None  # a file rewritten since its bars were cached (market/rewritten.py): asked afresh
        if self._cache.outlives_process and self._unsettled_end(wanted, sessions, provider.synthetic):
            return None  # its last session's bar cached before it settled (session_bars.py): asked afresh
        self._record(self._fetched(provider, wanted, start, end, bar_count(cached)))
        source = sources_of(cached, "")
        self._cache.keep(key, ({symbol: list(series) for symbol, series in cached.items()}, source))
        return BarSeries(cached, source or provider.name, True, provider.synthetic, start, end, validated=True)

    def _fetched(self, provider: BarProvider, wanted: list[str], start: date, end: date, bars: int) -> EventPayload:
        """The record of a read from the cache."""
        return MarketDataFetched(
            **self._common(provider.name, wanted, start, end), bars=bars, synthetic=provider.synthetic, from_cache=True
        )

    def _flag(self, provider: BarProvider, bars: dict[str, list[Bar]]) -> None:
        """Record and say every split-like jump and spike of a provider's answer as it enters (market/jumps.py): the
        one check a backtest's prices get at its start, here for whatever a run fetches (its universe, discovery's
        candidates), since a live feed can deliver a split unadjusted or a bad print too. Unrecorded (a backtest's
        prefetch, which says them itself), nothing is checked."""
        if self._recording is None:
            return
        jumps = [jump for symbol, series in bars.items() for jump in flagged(symbol, series)]
        if not jumps:
            return
        if self._flagged is None:
            before = self._recording.flagged_before
            self._flagged = set(before()) if before is not None else set()
        said = self._flagged
        for jump in jumps:
            if (key := (jump.symbol, jump.day, jump.looks_like())) in said:
                continue
            said.add(key)
            where = provider.origin(jump.symbol)
            self._record(price_jump(jump, where))
            if self._recording.say is not None:
                self._recording.say(jump_warning(jump, where or provider.name))

    def _find_splits(self, provider: BarProvider, bars: dict[str, list[Bar]], start: date, end: date) -> set[str]:
        """Record and say, once, each split the answer shows against the cached bars it replaces (market/splits.py);
        return the symbols not to be cached (`restatements`: a split not placed yet, or one the answer leaves out).
        Unrecorded (`status`, the leaderboard, a backtest's prefetch), a restated symbol is not cached either: the
        cache would hold the new prices with no record of the split, and the next run, finding nothing restated,
        would never record it (its paper accounts' old shares valued at the new price for good)."""
        rec, after = self._recording, self.calendar.next_session(end)
        cached = self._cache.read(list(bars), start, end, synthetic=provider.synthetic)
        traded = rec and rec.traded
        found, unplaced = restatements(self._cache, bars, start, end, after, provider.synthetic, traded, cached)
        if rec is None:
            return unplaced | {r.symbol for r in found}
        for revised in revisions(provider.name, cached, bars, unplaced | {r.symbol for r in found}):
            self._record(revised)  # a correction replacing cached prices: on record, never silently (revisions.py)
            if rec.say is not None:
                rec.say(revision_warning(revised))
        if not found:
            return unplaced
        recorded = list(rec.splits_before()) if rec.splits_before is not None else []
        for restatement in found:
            # The symbol's bars cached before this answer are at the old prices too: a read spanning them and the
            # answer would get both (a jump of the split's factor where it begins), so they are asked afresh.
            self._cache.forget([restatement.symbol], date.min, start - timedelta(days=1), synthetic=provider.synthetic)
            if known(restatement, recorded):
                continue
            split = split_event(restatement, provider.name)
            recorded.append(split)
            self._record(split, stream=SPLITS)
            if rec.say is not None:
                rec.say(split_warning(split))
        return unplaced

    @property
    def _records_refusals(self) -> bool:
        return self._recording is not None or self.refusals is not None

    def _reject(self, provider: str, problems: Sequence[BarProblem], wanted: list[str], start: date, end: date) -> None:
        refused = [
            MarketDataRejected(
                **self._common(provider, wanted, start, end),
                symbol=problem.symbol,
                kind=problem.kind.value,
                days=problem.days,
                reason=problem.reason,
                where=problem.where,
            )
            for problem in problems
        ]
        if self._recording is None and self.refusals is not None:
            self.refusals.append([NewEvent.of(payload, stream=market_stream(None)) for payload in refused])
            return
        for payload in refused:
            self._record(payload)

    def last_closes(self, symbols: Sequence[str], asof: datetime) -> dict[str, float]:
        """Each symbol's close at the last session complete at `asof` (for valuing positions)."""
        series = self.bars_asof(symbols, asof, sessions=10)
        return {s: bars[-1].close for s, bars in series.bars.items() if bars}

    @staticmethod
    def _common(provider: str, symbols: list[str], start: date, end: date) -> dict:
        return {"provider": provider, "symbols": symbols, "start": start, "end": end}

    def _record(self, payload: EventPayload, *, stream: str | None = None) -> None:
        if self._recording is None:
            return
        rec = self._recording
        stream = stream or market_stream(rec.run_id)
        self._recording.events.append([NewEvent.of(payload, stream=stream, run_id=rec.run_id, week_id=rec.week_id)])
