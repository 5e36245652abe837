"""One validator for every provider's daily bars, run before a bar is cached or used.

A provider's answer for a range is either wholly valid or rejected for that range: a series with
a hole in it would quietly shift every return and average computed from it (a 4-week return
reaching back 21 sessions instead of 20), and a cached hole would outlive the fix. So the checks
are all-or-nothing per request:

- every NYSE session from the series' first bar through the end of the range is present (history
  may start later than asked: an instrument listed recently, or a file that starts later, is
  short, not broken); the latest session missing is reported as a stale series;
- no bar on a day that is not a session (a timezone shift lands bars on Sundays);
- dates strictly ascending, none twice (yfinance's well-known duplicated last row);
- prices finite and positive, low <= open, close <= high; volume finite and not negative.

Bars normally cannot carry NaN or a high below the low (the Bar model refuses them), but a
provider building bars with `model_construct`, or a row that slipped through another path, is
checked all the same: this module is the single gate, not a second opinion.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from enum import StrEnum
from itertools import pairwise

from pydantic import BaseModel, ConfigDict

from llmtrade.config_errors import ConfigError
from llmtrade.domain.market import Bar
from llmtrade.domain.wording import counted, named_first
from llmtrade.errors import MarketDataError, PartAnswered

# How many dates one problem lists in its message; the event keeps them all.
_SHOWN = 5
# How many problems one rejection's message spells out, one a line: a user fixing files fixes them all from one
# message, not one per run (a rejection said three, then "and 9 more", recorded where a backtest's user never looked).
SHOWN_PROBLEMS = 20


class ProblemKind(StrEnum):
    MISSING_SESSION = "missing_session"
    STALE = "stale"  # the latest session(s) of the range missing
    NOT_A_SESSION = "not_a_session"
    DUPLICATE = "duplicate"
    UNORDERED = "unordered"
    BAD_PRICE = "bad_price"
    BAD_VOLUME = "bad_volume"
    INCONSISTENT = "inconsistent"
    UNREADABLE = "unreadable"  # a file that cannot be decoded or parsed at all
    WRONG_SYMBOL = "wrong_symbol"  # a row naming another symbol than the series it was read for
    WRONG_CURRENCY = "wrong_currency"  # a row priced in another currency than USD
    AHEAD = "ahead"  # a row dated after today: a day that has not happened (a typo, the wrong year, a template)


ADVICE = {
    ProblemKind.MISSING_SESSION: "add the missing session(s) or re-export the data",
    ProblemKind.STALE: (
        "update the data through the latest session (a symbol that stopped trading, delisted or closed, cannot be "
        "held past its last bar: take it out of the universe, or end the range there; a backtest takes a universe "
        "symbol's file that ends early as its delisting)"
    ),
    ProblemKind.NOT_A_SESSION: (
        "remove the row(s) or fix their dates (a timezone shift moves bars onto closed days; a file on another "
        "exchange's calendar, a London or Frankfurt listing, needs the US listing's prices instead)"
    ),
    ProblemKind.DUPLICATE: "keep one row per date",
    ProblemKind.UNORDERED: "sort the rows by date",
    ProblemKind.BAD_PRICE: "fill in a finite, positive price or re-export the data",
    ProblemKind.BAD_VOLUME: "fill in a finite, non-negative volume or re-export the data",
    ProblemKind.INCONSISTENT: "fix the prices so that low <= open, close <= high",
    ProblemKind.UNREADABLE: "fix the file and run again",
    ProblemKind.WRONG_SYMBOL: "keep one symbol's bars in each file, named after it (SPY.csv holds SPY's)",
    ProblemKind.WRONG_CURRENCY: (
        "give the US listing's prices in US dollars: accounts, costs and the SPY benchmark are in dollars"
    ),
    ProblemKind.AHEAD: (
        "fix the row's date (a typo, the wrong year) or remove the row; a backtest's range reads only closed "
        "sessions: end it (--to, a sweep's to:) a week earlier"
    ),
}


class BarProblem(BaseModel):
    """One reason a provider's series was rejected: which symbol, which dates, where, and why."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    symbol: str
    kind: ProblemKind
    days: list[date]
    reason: str
    where: str | None = None  # a file (and line) when the data came from one
    # How many problems this one says: more than 1 for a count of a file's problems not listed (csv_problems.PER_FILE),
    # so a refusal's "N problems" counts them all. Not recorded: the event's reason says the count.
    stands_for: int = 1
    # What to do, when the kind's ADVICE does not fit: a feed's gap has no file to re-export (market/yfinance_data.py).
    advice: str | None = None

    def message(self) -> str:
        place = f"{self.where}: " if self.where else ""
        return f"{place}{self.symbol}: {self.reason}; {self.advice or ADVICE[self.kind]}"


class SeriesRejected(MarketDataError):
    """A provider's answer failed validation; the service records it and asks the next provider."""

    def __init__(
        self,
        problems: Sequence[BarProblem],
        *,
        read: Mapping[str, Sequence[Bar]] | None = None,
        lacking: PartAnswered | None = None,
        files: bool = False,
    ):
        """`read`: the bars of the symbols the provider could read (a CSV folder's good files), so the checks made on
        whole series (missing sessions) are said with these problems, not in the run after they are fixed. `lacking`:
        the symbols the provider had nothing for besides (a CSV folder without their files), which the market service
        says and records with these problems; this message is the problems alone. `files`: some problems are a price
        file's own (its header or rows cannot be read as prices: market/csv_folder.py `read_csv`), the configured
        folder's to mend: exit 2, as failures.py PriceFilesMisconfigured; a series' gaps and staleness are the data's
        (1)."""
        if not problems:
            raise ValueError("SeriesRejected needs at least one problem")
        self.problems = list(problems)
        self.read = dict(read or {})
        self.lacking = lacking
        self.files = files
        if files:
            self.exit_code = ConfigError.exit_code
        super().__init__(self.told(recorded=True))

    def told(self, *, recorded: bool) -> str:
        """The problems, one a line after a count when more than one, the first SHOWN_PROBLEMS of them; `recorded`:
        the rest are in the events, so the message may say where to find them. The counts include the problems a
        file's count stands for (`BarProblem.stands_for`): "22 problems" for 27 misled."""
        total = sum(p.stands_for for p in self.problems)
        if total == 1:
            return self.problems[0].message()
        lines = [f"{counted(total, 'problem')} with the prices:"]
        lines += [f"  - {p.message()}" for p in self.problems[:SHOWN_PROBLEMS]]
        rest = self.problems[SHOWN_PROBLEMS:]
        more = sum(p.stands_for for p in rest)
        if more > 0:
            each = all(p.stands_for == 1 for p in rest)
            where = (
                (", each recorded as MarketDataRejected" if each else ", in MarketDataRejected events")
                if recorded
                else ""
            )
            lines.append(f"  - and {counted(more, 'more problem')}{where}")
        return "\n".join(lines)

    def with_series_checks(
        self, sessions: Sequence[date], start: date, end: date, *, where: Locate, ends: Mapping[str, date] | None
    ) -> SeriesRejected:
        """This refusal with the whole-series checks (`validate_bars`: missing sessions) of the symbols the provider
        did `read` in start..end: said with the files' own problems, not in the run after they are fixed (a trial:
        QQQ's missing session came second)."""
        if not self.read:
            return self
        read = {s: [b for b in bars if start <= b.day <= end] for s, bars in self.read.items()}
        more = validate_bars(read, sessions, where=where, ends=ends)
        return SeriesRejected([*self.problems, *more], lacking=self.lacking, files=self.files) if more else self

    def every(self) -> str:
        """The message for a caller that records none of the problems: it does not send the user to the events."""
        return self.told(recorded=False)


Locate = Callable[[str], str | None]


def validate_bars(
    bars: Mapping[str, Sequence[Bar]],
    sessions: Sequence[date],
    *,
    where: Locate | None = None,
    ends: Mapping[str, date] | None = None,
) -> list[BarProblem]:
    """Every problem in `bars` (per symbol) against `sessions`, the NYSE sessions of the range asked for.

    `where(symbol)` names the file a symbol's bars came from, so messages can point at it. `ends`: the last
    session of symbols known to have stopped trading (a backtest's delisted symbols): theirs are checked against
    the sessions through it, so the sessions after it are not a stale tail.
    An empty list means the whole answer may be cached and used.
    """
    problems: list[BarProblem] = []
    for symbol, series in bars.items():
        end = ends.get(symbol) if ends else None
        until = sessions if end is None else [day for day in sessions if day <= end]
        problems += validate_series(symbol, series, until, where=where(symbol) if where else None)
    return problems


def validate_series(
    symbol: str, bars: Sequence[Bar], sessions: Sequence[date], *, where: str | None = None
) -> list[BarProblem]:
    if _clean(bars, sessions):
        return []
    return _problems(symbol, bars, sessions, where=where)


def _problems(symbol: str, bars: Sequence[Bar], sessions: Sequence[date], *, where: str | None) -> list[BarProblem]:
    """Every problem of the series, each check made in full (`validate_series` without its clean-series shortcut)."""

    def problem(kind: ProblemKind, days: Sequence[date], reason: str) -> BarProblem:
        return BarProblem(symbol=symbol, kind=kind, days=sorted(set(days)), reason=reason, where=where)

    found: list[BarProblem] = []
    for bar in bars:
        found += [problem(kind, [bar.day], reason) for kind, reason in _bar_problems(bar)]
    days = [bar.day for bar in bars]
    duplicates = sorted(d for d, n in Counter(days).items() if n > 1)
    if duplicates:
        found.append(problem(ProblemKind.DUPLICATE, duplicates, f"more than one bar for {_dates(duplicates)}"))
    backwards = [after for before, after in pairwise(days) if after < before]
    if backwards:
        found.append(problem(ProblemKind.UNORDERED, backwards, f"bars out of date order at {_dates(backwards)}"))
    known = set(sessions)
    closed = sorted({d for d in days if d not in known and sessions and sessions[0] <= d <= sessions[-1]})
    if closed:
        found.append(
            problem(ProblemKind.NOT_A_SESSION, closed, f"bars on {_dates(closed)}, which are not NYSE sessions")
        )
    found += _gaps(problem, set(days), sessions)
    return found


def _clean(bars: Sequence[Bar], sessions: Sequence[date]) -> bool:
    """True when `bars` are certainly without a problem: their days exactly the range's last len(bars) sessions
    (so none twice, none out of order, none off a session, no hole and no stale tail) and every bar passing
    `_ordinary`. False says nothing: the detailed checks then run and name what is wrong.

    The same verdict for a clean series at a fraction of the detailed checks' cost (a Counter, a set of the
    sessions, sorted copies): a backtest's discovery validates some hundred candidates' whole histories, 290,000
    bars over a decade, where this common case was most of its start."""
    count = len(bars)
    if not count or count > len(sessions):
        return False
    return all(
        bar.day == day and _ordinary(bar) for bar, day in zip(bars, sessions[len(sessions) - count :], strict=True)
    )


def _ordinary(bar: Bar) -> bool:
    """The common case of a bar without a problem, in one chain of comparisons: finite positive prices, low <= open
    and close <= high, a finite non-negative volume. NaN fails every comparison (min/max would hide it), so a bar
    with any NaN is not ordinary and goes on to `_bar_problems`' detailed checks."""
    lo, h = bar.low, bar.high
    return 0 < lo <= bar.open <= h < math.inf and lo <= bar.close <= h and 0 <= bar.volume < math.inf


def _bar_problems(bar: Bar) -> list[tuple[ProblemKind, str]]:
    # The common case first: 300 sessions x 13 symbols are checked twice per snapshot.
    if _ordinary(bar):
        return []
    out: list[tuple[ProblemKind, str]] = []
    prices = {"open": bar.open, "high": bar.high, "low": bar.low, "close": bar.close}
    bad = {name: value for name, value in prices.items() if not (math.isfinite(value) and value > 0)}
    if bad:
        named = ", ".join(f"{name} {value}" for name, value in bad.items())
        out.append((ProblemKind.BAD_PRICE, f"{bar.day}: {named} not a finite positive price"))
    if not (math.isfinite(bar.volume) and bar.volume >= 0):
        out.append((ProblemKind.BAD_VOLUME, f"{bar.day}: volume {bar.volume} is not a finite non-negative number"))
    if not bad and (
        bar.high < bar.low or not bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high
    ):
        out.append(
            (
                ProblemKind.INCONSISTENT,
                f"{bar.day}: inconsistent bar (open {bar.open}, high {bar.high}, low {bar.low}, close {bar.close})",
            )
        )
    return out


def _gaps(problem: Callable[..., BarProblem], have: set[date], sessions: Sequence[date]) -> list[BarProblem]:
    """Missing sessions from the first bar in range through the range's end."""
    inside = sorted(d for d in have if sessions and sessions[0] <= d <= sessions[-1])
    if not sessions:
        return []
    if not inside:
        return [problem(ProblemKind.STALE, [sessions[-1]], f"no bar between {sessions[0]} and {sessions[-1]}")]
    expected = [d for d in sessions if d >= inside[0]]
    missing = [d for d in expected if d not in have]
    # Sessions after the last bar are a stale tail (the feed has not caught up); the rest are holes.
    tail = [d for d in missing if d > inside[-1]]
    holes = [d for d in missing if d < inside[-1]]
    found = []
    if holes:
        found.append(
            problem(
                ProblemKind.MISSING_SESSION,
                holes,
                f"missing {len(holes)} NYSE session(s) between {inside[0]} and {inside[-1]}: {_dates(holes)}",
            )
        )
    if tail:
        found.append(
            problem(
                ProblemKind.STALE,
                tail,
                f"stale: the last bar is {inside[-1]} but the range ends at session {sessions[-1]} "
                f"({len(tail)} session(s) missing: {_dates(tail)})",
            )
        )
    return found


def _dates(days: Sequence[date]) -> str:
    return named_first([d.isoformat() for d in days], _SHOWN)
