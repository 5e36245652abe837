"""Daily bars from Yahoo Finance through yfinance, a fallback for live runs.

yfinance does not raise when it cannot reach its server: `download` returns an empty frame and logs why.
An empty answer is therefore a failure here, so the service falls back or stops instead of running the
committee on no data, and market/yfinance_wire.py tells which failure it was: Yahoo not heard (no network,
a timeout, a 429 or 5xx: temporary) or Yahoo with nothing for the symbols (operational). A batch some symbols of
which came back is a failure for the others only, carrying the bars that came (`answered`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from llmtrade.clock import Clock, SystemClock
from llmtrade.domain.market import Bar
from llmtrade.domain.wording import named_first
from llmtrade.errors import MarketDataUnavailable
from llmtrade.market.calendar import TradingCalendar
from llmtrade.market.failures import few
from llmtrade.market.provider import SETTLED, data_cut, real_now
from llmtrade.market.untraded import untraded_in
from llmtrade.market.validation import BarProblem, ProblemKind, SeriesRejected
from llmtrade.market.yfinance_wire import download

# How long after a session's close Yahoo may still send a session it left out of its daily answer altogether, no row
# between the rows it sent (ranaroussi/yfinance#2925, #2930: 2026-07-24 and -28 missing for SPY, QQQ, the indices,
# backfilled days later; #2964: 2026-08-28 still missing five days on; #624, #809). Within it the gap is a wait; past it
# Yahoo is not going to fill it: a session without a trade (a halt all session) or one Yahoo lost, asked of the next
# provider and read without it when none has it (market/untraded.py).
FILLS_WITHIN = timedelta(days=7)
# What a session Yahoo left out and has not sent in FILLS_WITHIN most likely is.
_NOT_SENT = (
    f"Yahoo has no row of it and has not sent one in {FILLS_WITHIN.days} days, as it sends a session it left out: no "
    "trade of it that session, a halt all session, or a day Yahoo lost"
)
# What the range's last sessions Yahoo has no row of a symbol in, while it has them of others, most likely are.
_QUIET = "Yahoo sends no row of a session without a trade of it (a thinly traded name), nor of a halt"
_NEW_YORK = ZoneInfo("America/New_York")
_CALENDAR = TradingCalendar()


class YFinanceProvider:
    name = "yfinance"
    synthetic = False

    def __init__(
        self,
        timeout_seconds: float = 15.0,
        session: Any = None,
        clock: Clock | None = None,
        wall: Callable[[], float] = time.time,
    ):
        self._timeout = timeout_seconds
        # A requests/curl_cffi session for yfinance to use; None lets yfinance make its own (tests pass one
        # whose transport answers, or fails, as Yahoo's does).
        self._session = session
        # The command's clock (LLMTRADE_NOW's instant when set) and the real one (epoch seconds; a test's fake): whether
        # a session's bar has settled (`incomplete`).
        self.clock = clock or SystemClock()
        self.wall = wall

    def origin(self, symbol: str) -> None:
        return None

    def incomplete(self, close: datetime) -> str | None:
        """Why Yahoo's bar of the session closing at `close` is not complete yet: within SETTLED after the close in
        real time, or the session not closed at the command's now (provider.py `data_cut`)."""
        if close <= (cut := data_cut(self.clock, self.wall, SETTLED)):
            return None
        if cut == self.clock.now():  # LLMTRADE_NOW before the close: the session is not over at the command's now
            return f"the command's clock is {cut.astimezone(_NEW_YORK):%Y-%m-%d %H:%M} New York, before the close"
        settled = (close + SETTLED).astimezone(_NEW_YORK)
        return f"Yahoo's daily bar is live until a while after the close; taken from {settled:%Y-%m-%d %H:%M} New York"

    def daily_bars(self, symbols: list[str], start: date, end: date) -> dict[str, list[Bar]]:
        frame, wire = download(
            symbols,
            session=self._session,
            start=start.isoformat(),
            end=(end + timedelta(days=1)).isoformat(),  # yfinance's end is exclusive
            interval="1d",
            timeout=self._timeout,
        )
        answer = frame is not None and not frame.empty
        bars = {symbol: _bars(frame, symbol) for symbol in symbols} if answer else {}
        unpriced = {symbol: days for symbol in symbols if answer and (days := _unpriced(frame, symbol))}
        empty = [symbol for symbol in symbols if not bars.get(symbol) and symbol not in unpriced]
        if len(empty) == len(symbols):
            raise wire.failure("yfinance returned no bars")  # the caller names what it asked for
        left_out = {
            symbol: days
            for symbol, series in bars.items()
            if (days := _left_out(series, start, end, unpriced.get(symbol, [])))
        }
        old = self._old_gaps(left_out)
        waited = {**{symbol: [] for symbol in left_out}, **unpriced}
        answered = {symbol: series for symbol, series in bars.items() if series and symbol not in waited}
        if empty:
            # A batch one symbol of which has no bar (listed after the range, delisted, not traded yet: its column all
            # NaN, or missing) is no failure of the others: their bars go with the error, which names only the empty
            # ones, in yfinance's words about them, so the service keeps the rest and asks the next provider for these.
            lacking = [*empty, *waited]
            failure = wire.failure(
                f"yfinance returned no bars for {few(empty)}{_unpriced_said(unpriced, '; ')}"
                f"{_left_out_said(left_out, '; ')}",
                symbols=lacking,
                answered=answered,
            )
            if old:
                raise SeriesRejected(old, lacking=failure)  # both said: the empty ones first, as a CSV folder's
            raise failure
        if old and not left_out and not unpriced:
            # Not sent in FILLS_WITHIN, Yahoo will not send it: most likely a halt all session (no trade anywhere, no
            # row), else a day Yahoo lost. Refused, every run stopped (exit 1) for as long as the session was in the
            # range read: a halted symbol for a year. A session without a trade (market/untraded.py): asked of the next
            # provider, read without it when none has it, said.
            raise untraded_in(self.name, "yfinance", _NOT_SENT, bars, start, end) or SeriesRejected(old)
        if old:
            raise SeriesRejected(old)
        if left_out:
            # A session Yahoo left out between rows it sent, recently enough that it may yet send it: validated, it
            # was refused as a hole in the data (exit 1, "re-export the data") at every wake-up until Yahoo filled it;
            # cached, the symbol would have been read without that session for good. A wait, as an unpriced row is.
            said = "; ".join(part for part in (_unpriced_said(unpriced), _left_out_said(left_out)) if part)
            raise MarketDataUnavailable(said, symbols=list(waited), answered=answered)
        if unpriced:
            # Yahoo lists the session, its volume too, and has no price of it yet: it fills them in hours or days later
            # (ranaroussi/yfinance#2895, #2930). The row was dropped as padding and the symbol read as stale or holed
            # (exit 1, "take it out of the universe"; the weekly snapshot left it out of the week as ended), where
            # waiting is what helps: temporary, nothing of the symbol cached, the next provider asked for it alone.
            raise MarketDataUnavailable(_unpriced_said(unpriced), symbols=list(unpriced), answered=answered)
        # The range's last sessions, up to QUIET_TAIL, a symbol has no row of while the answer has each of them of
        # other symbols: Yahoo sends no row of a day without a trade of a thin name, and a halt of a few days looks
        # the same. Read as Alpaca's feed is (market/untraded.py `quiet_tail`): asked of the next provider, read
        # without them when none has them, never cached, so a row Yahoo sends later is read; refused as a stale series
        # ("take it out of the universe") before, and the weekly snapshot took the symbol as ended.
        if (quiet := untraded_in(self.name, "yfinance", _QUIET, bars, start, end, tail=True)) is not None:
            raise quiet
        return bars

    def _old_gaps(self, left_out: dict[str, list[date]]) -> list[BarProblem]:
        """The sessions of `left_out` (`_left_out`'s) that closed longer than FILLS_WITHIN ago in real time, Yahoo not
        filling them, as problems refusing the answer (the data's error, naming each symbol and day); their symbols are
        taken out of `left_out`, whose recent sessions are waited for."""
        now, problems = real_now(self.wall), []
        for symbol, days in list(left_out.items()):
            old = [day for day in days if _CALENDAR.session_close(day) + FILLS_WITHIN <= now]
            if not old:
                continue
            del left_out[symbol]
            problems.append(
                BarProblem(
                    symbol=symbol,
                    kind=ProblemKind.MISSING_SESSION,
                    days=old,
                    reason=f"yfinance has no row on {_days_said(old)}, NYSE session(s) between rows it sent",
                    advice=(
                        f"Yahoo leaves a session out at times and sends it within days; this one it has not sent in "
                        f"{FILLS_WITHIN.days} days, so waiting will not bring it: put another provider (alpaca, a csv "
                        "folder) before yfinance in assets.yaml market_data.providers, or take the symbol out of the "
                        "universe"
                    ),
                )
            )
        return problems


def _left_out(series: list[Bar], start: date, end: date, unpriced: list[date]) -> list[date]:
    """The NYSE sessions of start..end between the first and the last of `series` (one symbol's bars) it has no bar of,
    but for the sessions Yahoo listed for it without prices (`unpriced`, waited for apart)."""
    inside = [bar.day for bar in series if start <= bar.day <= end]
    if len(inside) < 2 or not all(map(_CALENDAR.is_session, inside)):
        return []  # rows on closed days too: misdated (a time zone's shift), the validator's to refuse as it reads
    have = {*inside, *unpriced}
    return [day for day in _CALENDAR.sessions_between(inside[0], inside[-1]) if day not in have]


def _left_out_said(left_out: dict[str, list[date]], lead: str = "") -> str:
    """What a failure says of the sessions Yahoo left out and may yet send (`left_out`, by symbol); nothing if none."""
    if not left_out:
        return ""
    listed = "; ".join(f"{symbol} on {_days_said(days)}" for symbol, days in left_out.items())
    return (
        f"{lead}yfinance has no row for {listed}, a NYSE session between rows it sent: Yahoo leaves a session out at "
        f"times and sends it within days (waited for up to {FILLS_WITHIN.days} days after it, then read without it: "
        "a halt all session has no row anywhere, which alpaca set after yfinance tells at once); asked again at the "
        "next read"
    )


def _days_said(days: list[date]) -> str:
    return named_first([str(day) for day in days], 3)


def _table(frame: Any, symbol: str) -> Any:
    """`symbol`'s columns of a download (None when it has none): group_by="ticker" gives (ticker, field) columns; older
    yfinance gives flat ones for one symbol."""
    if frame.columns.nlevels > 1:
        return frame[symbol] if symbol in frame.columns.get_level_values(0) else None
    return frame


def _unpriced(frame: Any, symbol: str) -> list[date]:
    """The sessions Yahoo lists for `symbol` with a volume and no open, high, low or close: prices it has not filled in
    yet. yfinance keeps such a row (its clean-up drops only a row with nothing at all, its volume 0 or missing); the
    rows a batch pads a symbol with on another's dates have no volume either, and are not these."""
    table = _table(frame, symbol)
    if table is None or "Volume" not in table.columns:
        return []
    none = table[["Open", "High", "Low", "Close"]].isna().all(axis=1)
    priced = {_session_day(stamp) for stamp in table.index[~none]}  # a twin of a priced row is that row's, not these
    days = [_session_day(stamp) for stamp in table.index[none & (table["Volume"].fillna(0) > 0)]]
    # Only an NYSE session's prices are waited for: such a row on a day the exchange was closed is nothing to wait for
    # (it would be asked again at every wake-up, for ever), and no bar, as any row without prices.
    return [day for day in days if day not in priced and _CALENDAR.is_session(day)]


def _unpriced_said(unpriced: dict[str, list[date]], lead: str = "") -> str:
    """What a failure says of `unpriced` (`_unpriced`'s days by symbol), or nothing when it is empty."""
    if not unpriced:
        return ""
    listed = "; ".join(f"{symbol} on {', '.join(map(str, days[:3]))}" for symbol, days in unpriced.items())
    return (
        f"{lead}yfinance has no prices yet for {listed}: Yahoo lists the session with its volume but no open, high, "
        "low or close, which it fills in later; asked again at the next read"
    )


def _bars(frame: Any, symbol: str) -> list[Bar]:
    table = _table(frame, symbol)
    if table is None:
        return []
    # A multi-symbol download pads each symbol with all-NaN rows on the dates only another symbol has
    # (and Yahoo sometimes sends an all-NaN twin of the latest row): those rows are "no bar", and a
    # session left without one is then reported by the validator as missing. A row with only some
    # prices NaN is a broken bar, and rejects the series.
    table = table.dropna(how="all", subset=["Open", "High", "Low", "Close"])
    bars = []
    for stamp, row in table.iterrows():
        day = _session_day(stamp)
        volume = row.get("Volume", 0)
        try:
            bars.append(
                Bar(
                    symbol=symbol,
                    day=day,
                    open=float(row["Open"]),
                    high=float(row["High"]),
                    low=float(row["Low"]),
                    close=float(row["Close"]),
                    volume=float(0 if volume is None else volume),
                    source="yfinance",
                )
            )
        except ValidationError as exc:
            problem = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}".lstrip(": ") for e in exc.errors())
            kind = (
                ProblemKind.BAD_VOLUME if all(e["loc"] == ("volume",) for e in exc.errors()) else ProblemKind.BAD_PRICE
            )
            raise SeriesRejected(
                [BarProblem(symbol=symbol, kind=kind, days=[day], reason=f"{day}: unusable yfinance bar: {problem}")]
            ) from None
    return _one_last_row(bars)


# How far apart two rows of the same last session may price it and still be Yahoo's duplicate (a fraction of the
# later close): Yahoo's twin differs in volume and, at most, in the sixth significant digit of its prices.
_TWIN = 0.005


def _one_last_row(bars: list[Bar]) -> list[Bar]:
    """`bars` with Yahoo's duplicated last row dropped: the same session twice at the end, both rows pricing it alike
    (the later one, which has the day's final volume and matches Yahoo's page, is kept), as yfinance's own repair
    does when it catches it (ranaroussi/yfinance#573, #765, pull 1070; seen again in 2026). Left whole, the validator
    refused the symbol's series as "more than one bar" for a quirk no user can mend, and with Yahoo the only provider
    the run stopped with exit 1 at every wake-up until Yahoo stopped sending it. Two rows that price the day apart are
    no such twin: the validator refuses them, as any duplicate."""
    if len(bars) < 2 or bars[-1].day != bars[-2].day:
        return bars
    first, last = bars[-2], bars[-1]
    fields = ("open", "high", "low", "close")
    if all(abs(getattr(first, f) - getattr(last, f)) <= _TWIN * last.close for f in fields):
        return [*bars[:-2], last]
    return bars


def _session_day(stamp: Any) -> date:
    """The New York session date of a yfinance index stamp.

    Daily stamps are usually midnight in the exchange's zone, but some yfinance versions and Yahoo
    answers carry UTC stamps; the UTC date of an evening instant is the next day, so read it in New York.
    """
    if getattr(stamp, "tzinfo", None) is not None:
        return stamp.tz_convert("America/New_York").date()
    return stamp.date()
