"""Market records: daily bars and the errors-free values computed from them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from llmtrade.domain.events import EventPayload


class Bar(BaseModel):
    """One daily bar of one symbol. `day` is the trading session's date in New York."""

    # An infinite price passes gt=0; refusing inf and NaN here keeps them out of every path at once.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    symbol: str
    day: date
    open: float = Field(gt=0)
    high: float = Field(gt=0)
    low: float = Field(gt=0)
    close: float = Field(gt=0)
    volume: float = Field(ge=0)
    source: str  # provider name: alpaca, yfinance, csv, synthetic
    synthetic: bool = False  # True for generated prices; shown and stored wherever the bar goes

    @model_validator(mode="after")
    def _consistent(self) -> Bar:
        if self.low > min(self.open, self.close) or self.high < max(self.open, self.close) or self.low > self.high:
            raise ValueError(
                f"{self.symbol} {self.day}: inconsistent bar (open {self.open}, high {self.high}, "
                f"low {self.low}, close {self.close})"
            )
        return self


_BAR_FIELDS = tuple(Bar.model_fields)


def trusted_bar(
    symbol: str,
    day: date,
    open_: float,
    high: float,
    low: float,
    close: float,
    volume: float,
    source: str,
    synthetic: bool,
) -> Bar:
    """The Bar `Bar.model_construct` would build from these fields (all set, no extra, no private state), at a
    quarter of its cost, unvalidated: only for fields whose validation is done elsewhere (a vouched range read
    back from the bar cache; a synthetic range, which MarketData validates as every provider's answer). The
    weekly snapshot reads some 4,000 vouched bars on the path to the first model call, and model_construct's
    per-field alias and default handling was most of that read's time."""
    bar = _new(Bar)
    _set_dict(
        bar,
        {
            "symbol": symbol,
            "day": day,
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": volume,
            "source": source,
            "synthetic": synthetic,
        },
    )
    _set_fields(bar, _ALL_SET)
    _set_extra(bar, None)
    _set_private(bar, None)
    return bar


# `records.assembled`'s four slots set through their descriptors, not object.__setattr__ by name: a decade's backtest
# builds some 290,000 Bars for discovery's candidates up front, and each lookup by name showed (3.7 -> 2.5 us a Bar).
# tests/test_bar_cache_trusted.py holds the result equal to a validated Bar's.
# Every trusted Bar shares one set of its fields set: all of them, so nothing pydantic does to a model's set changes
# it (a frozen model refuses assignment before its set is touched; adding a field's name to a set holding every name
# is no change; model_copy and copy give the copy a set of its own). A set apiece was 728 of a Bar's 1,192 bytes,
# some 210 MB over a decade's candidates, and one more object for the collector to walk per Bar.
_ALL_SET = set(_BAR_FIELDS)
_new = object.__new__
_set_dict = BaseModel.__dict__["__dict__"].__set__
_set_fields = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__


class IndicatorSet(BaseModel):
    """Indicators of `symbol` as of the close of `asof_day`; None wherever the history is too short."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    symbol: str
    asof_day: date
    close: float
    return_1w: float | None  # 5 sessions
    return_4w: float | None  # 20 sessions
    return_12w: float | None  # 60 sessions
    sma_20: float | None
    sma_50: float | None
    sma_200: float | None
    price_vs_sma_20: float | None  # close / sma - 1
    price_vs_sma_50: float | None
    price_vs_sma_200: float | None
    rsi_14: float | None
    atr_14: float | None
    realized_vol_20: float | None  # annualised
    drawdown_from_52w_high: float | None  # <= 0
    corr_spy_60: float | None
    bars_used: int
    synthetic: bool


class PriceAge(BaseModel):
    """How old `symbol`'s last close is: the session it is of (`day`), the last session complete when it was read
    (`session`), and how many sessions after `day` through `session` have no bar of it (`sessions`). A quiet symbol
    (no trade of it on its feed: a thin name on IEX, a halt) is priced at a close up to market/untraded.py QUIET_TAIL
    sessions old; the risk gate sizes no open or add off one older than risk/stale.py STALE_AFTER."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    symbol: str
    day: date
    session: date
    sessions: int = Field(ge=1)


class MarketDataFetched(EventPayload):
    provider: str
    symbols: list[str]
    start: date
    end: date
    bars: int
    synthetic: bool
    from_cache: bool


class MarketProviderFailed(EventPayload):
    provider: str
    symbols: list[str]
    start: date
    end: date
    error_type: str
    error: str


class MarketDataRejected(EventPayload):
    """A provider's (or the cache's) bars for a range failed validation and were neither cached nor used.

    One event per problem: `symbol` and `days` say which bars, `kind` and `reason` why, `where` the
    file (and line) when the data came from one. `symbols`, `start` and `end` are the request.
    """

    provider: str
    symbols: list[str]
    start: date
    end: date
    symbol: str
    kind: str
    days: list[date]
    reason: str
    where: str | None = None


class BarsRevised(EventPayload):
    """A provider's answer priced days the bar cache held bars of from that same source otherwise (a correction: a trade
    busted or reported late, a vendor's fix; no split, which SplitDetected records): the new bars replace the old in the
    cache, and what was computed from the old ones before (a valuation, a fill at the close) stands as recorded.
    `changes`: each day's prices before and after, one a line."""

    provider: str
    symbol: str
    days: list[date]
    changes: list[str]


class SessionsUntraded(EventPayload):
    """A symbol read without a bar of some NYSE sessions between its bars, because no provider had one: the feed that
    answered saw no trade of it then (Alpaca's iex feed, a small share of US volume, misses a thinly traded symbol's
    quiet days; on every venue, a halt through the whole session) and no other provider had the session either. Not
    filled from the day before, not cached (each read asks again): said as a warning, and recorded once per (symbol,
    session) whatever the reads and runs that meet it. `symbols`, `start` and `end` are the request; `symbol` and `days`
    the sessions without a bar the books did not hold yet; `reason` what the read said (all its sessions)."""

    provider: str
    symbols: list[str]
    start: date
    end: date
    symbol: str
    days: list[date]
    reason: str


# What a price jump looks like (market/jumps.py), besides a split's name ("4-for-1"): a one-day jump back the next
# session, and a series' last bar at twice or half the close before that is no split's fraction.
SPIKE = "spike"
UNCONFIRMED = "unconfirmed"


def jump_named(looks_like: str, *, last_bar: bool = False) -> str:
    """A price jump said for what it is, from what it looks like (`PriceJumpFlagged.looks_like`). `last_bar`: the
    series' last bar, whose next session is not known yet, so a split-like jump there may still be a bad row the
    next session brings back (every jump the risk gate holds a size for is one)."""
    if looks_like == SPIKE:
        return "a one-day spike, back the next session (a bad row?)"
    if looks_like == UNCONFIRMED:
        return "a last bar at twice or half the close before: a bad row or a real move, the next session will tell"
    if last_bar:
        return f"a last bar like an unadjusted {looks_like} split, or a bad row: the next session will tell"
    return f"like an unadjusted {looks_like} split"


class PriceJumpFlagged(EventPayload):
    """A session whose close jumps from the previous close (market/jumps.py), found in a backtest's prices at its start
    (on the backtest stream) or in prices a run fetched (on its market stream): its open gapped by about a split's
    fraction too (most likely a split left unadjusted), or it is back the next session (a spike: a bad row), or it is
    the series' last bar; every return across that day books a gain or loss that may never have happened. Flagged,
    not refused: a real collapse can look the same. `looks_like`: the split, as announced ("4-for-1"), SPIKE, or
    UNCONFIRMED for a last bar at twice or half the close before that is no split's fraction (`jump_named` says
    each); `where`: the file."""

    symbol: str
    day: date
    before: date  # the session the ratios are taken against
    ratio: float  # close / the previous close
    open_ratio: float  # open / the previous close
    looks_like: str
    where: str | None = None


class SplitDetected(EventPayload):
    """A provider restated a symbol's history by one split's factor (market/splits.py): every cached close before
    `ex_day` differs from its new answer by `ratio` (shares after / shares before: 4.0 for a 4-for-1, 0.1 for a
    1-for-10) on every overlapping day, and the closes from `ex_day` on agree. Providers restate the whole history
    after a split (Alpaca's adjustment=split, Yahoo's Close), so the restated history has no jump for market/jumps.py
    to see; this is the one record of it. The paper books apply it (domain/ledger.py `Split`): a position held at
    the ex-day's open is multiplied by `ratio`, a fraction left over paid in cash at `price` (the ex-day's open, as
    restated; the last restated close when the answer ends before the ex-day). Recorded once per split, on the
    `splits` stream, with the run that found it. `evidence`: the days compared."""

    symbol: str
    ex_day: date
    ratio: float
    looks_like: str  # as announced: "4-for-1", "3-for-2", "1-for-10"
    price: float  # what a fraction of a share is paid at (post-split): see above
    provider: str
    evidence: str
    # When the ex-day is not certain: the cache held no day from the split on, so it is the first session after the
    # last cached one that disagreed, and the split may have come on any session up to `latest`.
    latest: date | None = None


class PricesBeginLate(EventPayload):
    """A universe symbol whose prices begin after a backtest's first as-of session (an ETF launched during the
    range, a file cut short at its head): the weeks before `first_day` do not offer it to the committee and the
    EQUAL_WEIGHT baseline leaves it out until it has a close. Recorded at the backtest's start; `where`: the file."""

    symbol: str
    first_day: date
    where: str | None = None


class PricesEndEarly(EventPayload):
    """A universe symbol whose prices end before a backtest's range does (delisted, merged, an ETF closed): offered
    to the committee while it has bars, every position in it closed at `last_day`'s close once that session has
    closed (DelistingSettled), never valued from a later price. Recorded at the backtest's start; `where`: the file."""

    symbol: str
    last_day: date
    where: str | None = None


class DelistingSettled(EventPayload):
    """A backtest symbol's last session has closed (PricesEndEarly): every position in it was closed at `close`, that
    session's close, as holders of a delisted share are paid out. `closed`: account -> the signed shares closed."""

    symbol: str
    last_day: date
    close: float
    closed: dict[str, int]


# ---------------------------------------------------------------- intraday quotes (issue 12)

# What kind of observation a quote is: a real trade, a quote midpoint, the close of an intraday bar, a row of
# an intraday file, a point of the synthetic market's intraday path, the last session's close (the market
# is closed), the session's opening price of a symbol with daily prices only (market/csv_quotes.py), or (events of
# earlier versions) a modelled price between a daily bar's open and close.
QuoteKind = Literal[
    "trade", "quote-mid", "bar-close", "intraday-file", "synthetic-path", "close", "daily-open", "daily-bridge"
]


class Quote(BaseModel):
    """The price of `symbol` at the clock's now, and where and when it was observed.

    `as_of` is the instant of the trade, bar end or path point it came from, never after the now it
    answers; `provider` + `kind` is its source (`source` joins them, e.g. "alpaca trade"); `approximation`
    is True for a price modelled from daily bars, never a price anybody traded at; kind "close" says the
    market was closed at now and the price is the last session's close (as_of: that session's close); kind
    "daily-open" is the session's opening price of a symbol with daily prices only, the last price known of it until
    the close (as_of: the open), which no order sent later may fill at (`tradable`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    symbol: str
    price: float = Field(gt=0)
    as_of: AwareDatetime
    provider: str
    kind: QuoteKind
    approximation: bool = False
    synthetic: bool = False

    @property
    def source(self) -> str:
        return f"{self.provider} {self.kind}"

    @property
    def tradable(self) -> bool:
        """Whether an order sent now may fill at this price. Not a "daily-open" one: hours old by design, a fill at it
        would be priced before its order (a paper broker fills such an order at the session's close instead)."""
        return self.kind != "daily-open"

    @property
    def closed(self) -> bool:
        """The market was closed at now: the price is the last session's close."""
        return self.kind == "close"


class QuoteFetched(EventPayload):
    """A quote provider answered for `symbols` at `now` (one event per answer; `quotes` are the prices)."""

    provider: str
    symbols: list[str]
    now: datetime
    quotes: list[Quote]


class QuoteRefused(EventPayload):
    """A quote provider failed or its answer broke a rule (stale, after now, before the open, a bad print); the next
    was tried."""

    provider: str
    symbols: list[str]
    now: datetime
    reason: str  # unavailable | stale | after-now | before-open | missing | invalid | suspect (a bad print)
    error: str
    # The price refused as suspect: a later print that agrees with it (another checkpoint's) confirms a move.
    quote: Quote | None = None
