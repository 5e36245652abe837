"""The quote service: the price of a symbol now, with its source and timestamp, providers in order.

Point-in-time rules, the same for every provider:

- the market is open at now: each provider in the configured order is asked for the symbols still
  without a price; an answer stamped after now, before the session's open (yesterday's trade, a
  pre-market print) or older than the staleness limit is refused (QuoteRefused) and the next
  provider is asked; so is a price far from the symbol's last close that no split recorded explains and no
  other quote of the day confirms, taken for a bad print (market/quote_checks.py: never a fill, a stop or a
  size); the first valid answer is recorded (QuoteFetched);
- the market is closed at now (before the open, after the close, a weekend or holiday): the price is
  the last completed session's close from the daily bars (MarketData: cached, validated), kind
  "close", stamped at that session's close; nobody can trade at another price until the next open.

A live clock moves while a provider answers: the service reads the clock before asking (is the market open?), as it
asks each provider (the instant it asks "as of", never past the session's close) and again when the answers are in,
and that last reading is the "now" no quote may be stamped after, give or take the seconds two machines' clocks differ
by (`LIVE_SLACK`). An explicit `now` is the instant a run started at (a live checkpoint reads it first, and asks for
prices seconds later, after its database, its lock and the broker): on the machine's real clock a print stamped
between the two is no look into the future, and Alpaca's latest trade of a liquid symbol is stamped at about the
moment it answers; refused, every live checkpoint in session lost its prices to the next provider, and the last one to
a wait (exit 75). A clock somebody chose (LLMTRADE_NOW, a backtest's step) is the moment the run pretends to be: asked
as of it, nothing stamped after it is taken, to the microsecond.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from llmtrade.clock import Clock
from llmtrade.domain.events import EventPayload, NewEvent
from llmtrade.domain.market import Quote, QuoteFetched, QuoteRefused
from llmtrade.domain.streams import market_stream
from llmtrade.errors import LlmtradeError, MarketDataError, MarketDataMissing, MarketDataUnavailable, TemporaryError
from llmtrade.market.calendar import NEW_YORK, new_york_date
from llmtrade.market.failures import FALLBACK, few, nobody_could, none_left
from llmtrade.market.held_prices import held_bars
from llmtrade.market.quote_checks import suspect
from llmtrade.market.quote_provider import QuoteProvider, quote_of
from llmtrade.market.service import MarketData, Recording
from llmtrade.market.session_prices import never_in_session

# How far after this machine's clock a live print may be stamped: the provider's clock a little ahead (a machine whose
# NTP drifted, the answer's own travel time). Beyond it no skew explains the stamp.
LIVE_SLACK = timedelta(seconds=5)


@dataclass(frozen=True)
class Sightings:
    """The day's prints of other processes for a caller that records no fetch (run-due's event check, every few
    minutes): `earlier` reads them, `record` keeps a print refused as a bad one, so that the same price at the next
    wake-up's own time confirms the move (market/quote_checks.py) instead of being refused again all day."""

    earlier: Callable[[], Iterable[Quote]]
    record: Callable[[QuoteRefused], None]


class QuoteService:
    """Prices now. `staleness` is how old an in-session price may be (e.g. 15 minutes) before it is refused;
    `check_prints` whether a price is looked at for a bad print (not in a backtest, whose files are the record)."""

    def __init__(
        self,
        providers: Sequence[QuoteProvider],
        market: MarketData,
        clock: Clock,
        *,
        staleness: timedelta,
        recording: Recording | None = None,
        check_prints: bool = True,
        sightings: Sightings | None = None,
    ):
        if not providers:
            raise MarketDataError("no quote provider is configured")
        if staleness <= timedelta(0):
            raise ValueError("staleness must be positive")
        self.providers = list(providers)
        self.market = market
        self._clock = clock
        self.staleness = staleness
        self._recording = recording
        self._sightings = sightings
        # False: prices replayed from the record (a backtest's files), not looked at for a bad print.
        self.check_prints = check_prints
        # Each symbol's quotes seen today (accepted or suspect), by this service: a far price another agrees with.
        self._seen: tuple[date | None, dict[str, list[Quote]]] = (None, {})

    def quote(self, symbol: str, now: datetime | None = None) -> Quote:
        """`symbol`'s price at `now` (default: the clock's now). Errors as `quotes`."""
        return self.quotes([symbol], now)[symbol]

    def quotes(self, symbols: Sequence[str], now: datetime | None = None) -> dict[str, Quote]:
        """Every symbol's price at `now` (timezone-aware; default: the clock's now), keyed by symbol.

        Raises MarketDataUnavailable (temporary: exit 75) when the market is open and no provider has a
        valid price for some symbol, naming every provider's refusal; MarketDataError instead when each
        provider that was asked answered that it has nothing for it (market/failures.py: an unknown symbol
        is not a delay to wait out), or when the market is closed and the daily bars cannot give the last
        close. A price refused by the rules (stale, after now, before the open, a bad print) is temporary: in session
        the next minute may bring a valid one.
        """
        return self._priced(symbols, now, everything=True)[0]

    def priced(self, symbols: Sequence[str], now: datetime | None = None) -> tuple[dict[str, Quote], dict[str, str]]:
        """What `quotes` can price, keyed by symbol, and for each other symbol why it has no price (every
        provider's refusal, or no daily close), instead of raising for all: one refused print of a symbol
        nobody holds must not keep a checkpoint from judging the accounts whose symbols are priced. Each
        refusal is recorded (QuoteRefused) as by `quotes`."""
        return self._priced(symbols, now, everything=False)

    def never_in_session(self, symbols: Sequence[str], now: datetime | None = None) -> dict[str, str]:
        """Each symbol of `symbols` no provider can price in `now`'s session however long one waits, and why (a CSV
        folder of daily files only: market/session_prices.py); {} while the market is closed at `now`."""
        asked = now or self._clock.now()
        if not self.market.calendar.is_open(asked):
            return {}
        return never_in_session(self.providers, list(dict.fromkeys(symbols)), asked)

    def _priced(
        self, symbols: Sequence[str], now: datetime | None, *, everything: bool
    ) -> tuple[dict[str, Quote], dict[str, str]]:
        """`everything`: raise as `quotes` does when some symbol is left without a price."""
        wanted = list(dict.fromkeys(symbols))
        if not wanted:
            return {}, {}
        asked = now or self._clock.now()
        calendar = self.market.calendar
        if not calendar.is_open(asked):
            return self._closes(wanted, asked, everything=everything)
        opens = calendar.session_open(new_york_date(asked))
        closes = calendar.session_close(new_york_date(asked))
        found: dict[str, Quote] = {}
        failures: list[str] = []
        errors: list[Exception] = []
        refused: dict[str, list[str]] = {}  # by symbol, each provider's refusal
        for provider in self.providers:
            missing = [s for s in wanted if s not in found]
            if not missing:
                break
            try:
                answer = provider.latest(missing, self._asking(asked, closes))
            except FALLBACK as exc:
                failures.append(f"{provider.name}: {exc}")
                errors.append(exc)
                for symbol in missing:
                    refused.setdefault(symbol, []).append(f"{provider.name}: {exc}")
                reason = "missing" if type(exc) is MarketDataMissing else "unavailable"
                # At the clock it failed at, as a refused answer is (`cutoff`): a provider that timed out after a
                # minute was recorded as refusing at the run's start, before the prices fetched ahead of it.
                failed = self._cutoff(now)
                self._record(
                    QuoteRefused(provider=provider.name, symbols=missing, now=failed, reason=reason, error=str(exc))
                )
                continue
            cutoff = self._cutoff(now)
            accepted: list[Quote] = []
            for symbol in missing:
                quote = answer.get(symbol)
                problem = self._problem(symbol, quote, cutoff, (opens, closes))
                if problem is None and quote is not None and self.check_prints:
                    problem = self._suspect(quote, new_york_date(asked))
                if problem is None and quote is not None:
                    accepted.append(quote)
                    continue
                reason, error = problem or ("missing", "")
                failures.append(f"{provider.name}: {error}")
                errors.append(MarketDataUnavailable(error))
                refused.setdefault(symbol, []).append(f"{provider.name}: {error}")
                kept = quote if reason == "suspect" else None  # a later checkpoint's print may confirm it
                refusal = QuoteRefused(
                    provider=provider.name, symbols=[symbol], now=cutoff, reason=reason, error=error, quote=kept
                )
                self._record(refusal)
                if kept is not None and self._recording is None and self._sightings is not None:
                    self._sightings.record(refusal)
            if accepted:
                found.update({q.symbol: q for q in accepted})
                self._record(
                    QuoteFetched(
                        provider=provider.name, symbols=[q.symbol for q in accepted], now=cutoff, quotes=accepted
                    )
                )
        left = [s for s in wanted if s not in found]
        if left and everything:
            raise none_left(
                nobody_could(f"no quote provider has a current price for {few(left)} at {_ny(asked)}", failures),
                errors,
            )
        # A price at a split's factor from the last close: the ex-day of a split not recorded yet, asked of now.
        self.market.confirm_splits({s: q.price for s, q in found.items()}, new_york_date(asked))
        problems = {s: f"no current price at {_ny(asked)}: " + "; ".join(refused.get(s, [])) for s in left}
        return {s: found[s] for s in wanted if s in found}, problems

    def _asking(self, asked: datetime, closes: datetime) -> datetime:
        """The instant a provider is asked for its latest price at: on the machine's real clock, the clock read as it is
        asked (never before `asked`, never past the session's close); `asked` itself on a clock somebody chose. A live
        run asks minutes after it began (behind a lock, after its models): asked as of its start, an intraday file gave
        its row of then, Yahoo its bar ended by then, which the later cut-off refused as stale."""
        return min(max(asked, self._clock.now()), closes) if self._clock.real else asked

    def _cutoff(self, now: datetime | None) -> datetime:
        """The instant no print may be stamped after: the clock read now the answers are in, the later of it and `now`
        on the machine's real clock; `now` itself on a clock somebody chose (module docstring)."""
        if now is None:
            return self._clock.now()
        return max(now, self._clock.now()) if self._clock.real else now

    def _problem(
        self, symbol: str, quote: Quote | None, cutoff: datetime, session: tuple[datetime, datetime]
    ) -> tuple[str, str] | None:
        """Why `quote` may not be `symbol`'s price at `cutoff` in the session `session` (its open, its close); None if
        it may."""
        opens, closes = session
        if quote is None:
            return "missing", f"no price for {symbol}"
        if quote.symbol != symbol:
            return "invalid", f"asked for {symbol}, answered {quote.symbol}"
        if quote.as_of > cutoff + (LIVE_SLACK if self._clock.real else timedelta(0)):
            return "after-now", f"{symbol} priced at {_ny(quote.as_of)}, after now ({_ny(cutoff)})"
        if quote.as_of > closes:
            # The live cut-off moves with the clock and its slack; the session does not: a checkpoint begun in session
            # and priced after 16:00 was sized off a post-market print (Alpaca's latest trade and quote include them).
            return "after-now", f"{symbol} priced at {_ny(quote.as_of)}, after the session's close ({_ny(closes)})"
        if quote.as_of < opens:
            return "before-open", (
                f"{symbol}'s latest price is from {_ny(quote.as_of)}, before today's open ({_ny(opens)})"
            )
        age = cutoff - quote.as_of
        if age > self.staleness and quote.tradable:  # a session's open given all day is old by design, never filled at
            return "stale", (
                f"{symbol}'s latest price is {_minutes(age)} old (at {_ny(quote.as_of)}), "
                f"over the {_minutes(self.staleness)} staleness limit"
            )
        return None

    def _suspect(self, quote: Quote, day: date) -> tuple[str, str] | None:
        """("suspect", why) when `quote` is taken for a bad print (market/quote_checks.py), else None."""
        if self._seen[0] != day:
            self._seen = (day, {})
        seen = self._seen[1].setdefault(quote.symbol, [])
        before = self.market.closes_before(quote.symbol, day)
        problem = suspect(quote, before, [], seen)
        rec = self.market.recording
        if problem is not None:
            # The day's earlier checkpoints ran in processes of their own: their prints are on record.
            seen = [*seen, *(q for q in self._earlier() if q.symbol == quote.symbol and new_york_date(q.as_of) == day)]
            problem = suspect(quote, before, [], seen)
        if problem is not None and (rec is None or rec.splits_before is None):
            problem = suspect(quote, before, None, seen)
        elif problem is not None and rec is not None and rec.splits_before is not None:
            # The ex-day of a split not recorded yet is asked of the providers now, as for any price at its factor.
            self.market.confirm_splits({quote.symbol: quote.price}, day)
            problem = suspect(quote, before, rec.splits_before(), seen)
        self._seen[1][quote.symbol].append(quote)
        return None if problem is None else ("suspect", problem)

    def _earlier(self) -> Iterable[Quote]:
        """The week's prints other processes recorded (this run's market records them, or the caller's sightings)."""
        rec = self.market.recording
        if rec is not None and rec.quotes_before is not None and rec.week_id is not None:
            return rec.quotes_before(rec.week_id)
        return self._sightings.earlier() if self._sightings is not None else []

    def _closes(
        self, symbols: list[str], now: datetime, *, everything: bool
    ) -> tuple[dict[str, Quote], dict[str, str]]:
        """The last completed session's close of each symbol, from the validated daily bars, and why any symbol
        has none (`everything`: raise MarketDataError for it instead, before anything is recorded)."""
        problems: dict[str, str] = {}
        try:
            found = dict(self.market.bars_asof(symbols, now, sessions=10).bars)
        except LlmtradeError as exc:
            if everything or isinstance(exc, TemporaryError) or len(symbols) == 1:
                raise
            # One symbol whose prices stop (a file no longer written, a ticker delisted) failed the lot: every account
            # of a checkpoint before the open went unjudged, exit 1 at each wake-up. Each is asked alone, as held ones.
            found, problems = held_bars(self.market, symbols, now, sessions=10)
        quotes: dict[str, Quote] = {}
        for symbol in symbols:
            bars = found.get(symbol) or []
            if symbol in problems:
                continue
            if not bars:
                problems[symbol] = f"no daily close of {symbol} before {now.isoformat()}"
                if everything:
                    raise MarketDataError(problems[symbol])
                continue
            last = bars[-1]
            close = self.market.calendar.session_close(last.day)
            quotes[symbol] = quote_of(symbol, last.close, close, last.source, "close", synthetic=last.synthetic)
        by_provider: dict[str, list[Quote]] = {}
        for quote in quotes.values():
            by_provider.setdefault(quote.provider, []).append(quote)
        for provider, batch in by_provider.items():
            self._record(QuoteFetched(provider=provider, symbols=[q.symbol for q in batch], now=now, quotes=batch))
        return quotes, problems

    def _record(self, payload: EventPayload) -> None:
        if self._recording is None:
            return
        rec = self._recording
        rec.events.append(
            [NewEvent.of(payload, stream=market_stream(rec.run_id), run_id=rec.run_id, week_id=rec.week_id)]
        )


def _minutes(span: timedelta) -> str:
    minutes = span.total_seconds() / 60
    return f"{minutes:.0f} min" if minutes < 120 else f"{minutes / 60:.1f} h"


def _ny(instant: datetime) -> str:
    """An instant as New York reads it, for messages (the exchange's clock, whatever the feed's zone)."""
    return instant.astimezone(NEW_YORK).isoformat()
