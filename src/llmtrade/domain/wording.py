"""Words shared by every text llmtrade prints: the terminal, the HTML report, notes and messages."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

# Every time shown to a reader is in the market's zone, the zone the schedule is written in: the report mixed -04:00
# (its runs) with +00:00 (a killed run's note, Alpaca's fills), and status, trace and events showed +00:00 beside the
# schedule's New York times (a trial).
MARKET_ZONE = ZoneInfo("America/New_York")


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """`n` and `noun`, plural but for one: "1 week", "0 weeks", "52 weeks"; `plural` for a noun not made so by an
    s ("1 daily return", "2 daily returns" need none)."""
    return f"{n} {noun}" if n == 1 else f"{n} {plural or noun + 's'}"


def named_first(items: Sequence[str], most: int, *, sep: str = ", ", more: str = " and {n} more") -> str:
    """`items` joined by `sep`: the first `most` of them, then how many more (`more`, its `{n}` the count), when there
    are over `most` + 1. One over is named, never counted: "a, b, c, d, e and 1 more" hid a name that took no longer
    to read than the count (a trial's leaderboard note, "... acct_5 and 1 more", in the text, the JSON and the page)."""
    if len(items) <= most + 1:
        return sep.join(items)
    return sep.join(items[:most]) + more.format(n=len(items) - most)


def signed_percent(value: float, digits: int) -> str:
    """A change (a return, an excess) as a percentage to `digits` decimals, with its sign: "+1.2%", "-0.4%". One
    that rounds to zero has none ("0.0%", never "-0.0%" nor "+0.0%"): a sign on a zero says nothing, and shown at
    two precisions it could contradict (the terminal's "+0.0%" beside the page's "-0.04%" for the same -0.0004).
    The terminal (1 decimal), the HTML report and the sweep's page (2) all print returns through this."""
    text = f"{value:+.{digits}%}"
    return text[1:] if float(text[1:-1]) == 0 else text


def market_time(at: datetime | str, timespec: str = "seconds") -> str:
    """`at` as a reader is shown a time: in New York (MARKET_ZONE), ISO 8601 with its offset (-05:00, or -04:00 in
    summer), to `timespec`. A string is read as ISO 8601 first; one that is none, or a time without a zone, is left
    as it is (what it means is not known)."""
    if isinstance(at, str):
        try:
            parsed = datetime.fromisoformat(at)
        except ValueError:
            return at
        if parsed.tzinfo is None:
            return at
        at = parsed
    return at.astimezone(MARKET_ZONE).isoformat(timespec=timespec)


def in_short(reason: str, limit: int = 200) -> str:
    """A failure's reason on one line, cut at `limit` characters: what a degraded note carries of it."""
    line = " ".join(reason.split())
    return line if len(line) <= limit else line[: limit - 3].rstrip() + "..."


def bounds(low: float | None, high: float | None, show: Callable[[float], str], sep: str = "..") -> str:
    """An interval's `low` and `high` as `show` prints each, joined by `sep`; one "n/a" when either is missing (too few
    returns to draw it: the notes say why). A blank interval read "n/a..n/a" in the sweep's table and page, as if two
    bounds had been drawn and were each unknown."""
    if low is None or high is None:
        return "n/a"
    return f"{show(low)}{sep}{show(high)}"


def fall(value: float, digits: int) -> str:
    """A drawdown (`value`: a positive fraction of the peak) as the fall it is, to `digits` decimals of a percent:
    "-12.3%", and "0.0%" for none (never "-0.0%"). A fall too small for `digits` is given the decimals that show it, up
    to two more ("-0.04%", "-0.003%"): shown "0.0%" beside "DD sessions 1", a fall of the slippage paid read as none
    and contradicted the count of sessions spent under the peak. One under those too (a hundred-thousandth of the peak,
    a valuation's rounding) reads as none."""
    for shown in range(digits, digits + 3):
        text = f"{round(-100 * value, shown) + 0.0:.{shown}f}%"
        if float(text[:-1]) != 0:
            return text
    return f"{0.0:.{digits}f}%"
