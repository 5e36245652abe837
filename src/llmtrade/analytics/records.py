"""The records a leaderboard and a report are made of. Frozen; built by `analytics/` and `app/`,
rendered by `commands/render/` (terminal, --json) and the HTML report.

Units: money in USD; returns as fractions (0.012 = +1.2%); annualised figures use 252 sessions a
year; dates are New York session dates.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date, datetime
from typing import Literal

from pydantic import Field

from llmtrade.domain.records import Record

# What a `max_drawdown` field holds, in `--json` and `llmtrade schema` (the terminal and the report show it negative).
DRAWDOWN = (
    "the largest fall from a peak, as a positive fraction of that peak (0.12: 12% below it); "
    "tables and the report show it as the negative percentage it is (-12.0%)"
)

# Weeks needed past this (100 years of weekly runs) are no information: the minimum track record length grows as
# 1 / Sharpe^2 as the Sharpe ratio nears 0 (a new user's leaderboard said "min weeks 10601018"). `--json` keeps the
# computed number; texts and the report show it as "> 5200" (`weeks_shown`).
WEEKS_BEYOND = 5200

WEEKS_NEEDED = (
    "the minimum track record length (Bailey & Lopez de Prado 2012) to tell this row from FLAT, two-sided at 95%, at "
    "its Sharpe ratio so far, in weeks of 5 sessions (those already there included); null when its Sharpe ratio is "
    "undefined or 0, or under 20 daily returns; never under 4 (the 20 daily returns any ratio here needs). It "
    "grows as 1 / Sharpe^2 as the Sharpe ratio nears 0, so a row no "
    f"better than FLAT may need millions of weeks: any value over {WEEKS_BEYOND} (100 years) means not in any useful "
    f'time, and tables and the report show it as "> {WEEKS_BEYOND}". The Sharpe ratio is against a risk-free rate '
    "of 0 (cash earns nothing in these books). It assumes the daily returns independent of one another and the "
    "Sharpe ratio, skewness and kurtosis so far the true ones: an estimate that moves as they do, shorter than the "
    "truth when gains come in runs of days (the bootstrap intervals beside it allow for such runs, so a row may "
    "have its weeks and still an interval that holds 0)"
)
WEEKS_MORE = (
    "the weeks still needed: weeks_needed less `weeks`, 0.0 once it has them; null when weeks_needed is, and in a "
    "closed period (`Period.closed`: the one before the knowledge cutoff, to which no week can be added) when it has "
    'fewer weeks than needed: no wait will bring them (shown as "closed"). Of a backtest\'s books, weeks of a longer '
    "range (the same command with a later --to, or another backtest): a backtest does not grow by waiting. Over "
    f'{WEEKS_BEYOND}: not in any useful time (shown as "> {WEEKS_BEYOND}"), as weeks_needed'
)

# Said wherever the ratios are read (a leaderboard note, so its text, --json and the report; the schema; the README):
# an audit found the zero risk-free rate said only in code comments.
RISK_FREE = (
    "a risk-free rate of 0: Sharpe is the mean over the standard deviation of daily returns (rf = 0), and Sortino, "
    "PSR, DSR and the weeks needed are against 0 too, not against a T-bill rate; the comparison with FLAT is like "
    "for like, as cash earns nothing in these books (FLAT's, and every account's idle cash)"
)
RATIOS_AGAINST_ZERO = "against a risk-free rate of 0 (rf = 0: cash earns nothing in these books)"

# What "vs FLAT/yr" and "vs SPY/yr" are (an audit: said nowhere but the report's column titles).
EXCESS = (
    "the excess return a year over {baseline}: the arithmetic mean of the daily differences of returns, x 252 (not "
    "compounded, so not the total return less the baseline's), with its stationary-bootstrap 95% interval; all null "
    "under 20 daily returns, the interval alone when the differences do not vary"
)
# What "turnover/yr" is: a buy-and-hold's one purchase read as 5 turns a year under the two-way sum it replaced.
TURNOVER = (
    "annualised one-way turnover: the lesser of the notional bought and the notional sold over the average equity, "
    "x 252 a year (the SEC's portfolio turnover rate, Form N-1A Item 13), so the money first put to work, a "
    "buy-and-hold's purchase, is no turnover and a round trip of the whole account is 1"
)
TURNOVER_NOTE = f"turnover/yr (turnover) is the {TURNOVER}"
EXCESS_NOTE = (
    "vs FLAT/yr and vs SPY/yr (excess_vs_flat, excess_vs_spy) are the arithmetic mean of the daily differences of "
    "returns x 252: a rate a year, not compounded, so not the total return less the baseline's"
)

# Why a growth figure is null over a span that begins (or ends) at or below 0 equity.
NOTHING = "a span beginning after a wipe-out, or a short carried below 0: a return over nothing is undefined"

CurveKind = Literal["account", "baseline"]


def weeks_shown(weeks: float | None) -> str:
    """A count of weeks needed for a table or the report: "n/a" when unknown, "> WEEKS_BEYOND" past it, else whole
    weeks rounded up (19.2 weeks more is 20). Up for the minimum too: a minimum of 5.4 weeks rounded to "5" beside
    "1" more on a row of 5.0 weeks read as both met and not; only the sixth week meets it."""
    if weeks is None:
        return "n/a"
    if weeks > WEEKS_BEYOND:
        return f"> {WEEKS_BEYOND}"
    return str(math.ceil(weeks))


def more_shown(row: Standing, closed: bool = False) -> str:
    """A row's weeks more for a table or the report: "closed" in a closed period (`Period.closed`) where it has fewer
    weeks than needed, or returns too few for any ratio (no week can be added to it, so no wait brings them), else
    `weeks_shown`."""
    if closed and row.weeks_more is None and (row.weeks_needed is not None or too_short(row)):
        return "closed"
    return weeks_shown(row.weeks_more)


def too_short(row: Standing) -> bool:
    """Whether `row` has daily returns, but fewer than any ratio, PSR or weeks needed is shown on (20)."""
    from llmtrade.analytics.metrics import MIN_RETURNS_FOR_RATIO  # here: metrics imports this module

    return 0 < row.sessions < MIN_RETURNS_FOR_RATIO


class Curve(Record):
    """One account's (or baseline's) value at each session's close, oldest first.

    `equity[i]` is the marked-to-market value at the close of `sessions[i]`; `gross_exposure[i]` is
    the sum of |position value| over equity then (0 for cash; None where positions are held on equity at or below 0,
    a fraction of nothing). The first entry is the starting value."""

    name: str  # an account id, or a baseline: FLAT, SPY, EQUAL_WEIGHT
    kind: CurveKind
    sessions: tuple[date, ...]
    equity: tuple[float, ...]
    gross_exposure: tuple[float | None, ...] = Field(
        description="the sum of |position value| over equity at each close (0 for cash); null at a close where "
        "positions are held on equity at or below 0 (a short on a rising price): a fraction of nothing is undefined"
    )


class Interval(Record):
    """A point estimate with its two-sided confidence interval (None when there is too little data)."""

    estimate: float | None
    low: float | None
    high: float | None
    level: float = 0.95


class Standing(Record):
    """One row of the leaderboard: an account or a baseline over the leaderboard's sessions."""

    name: str
    kind: CurveKind
    sessions: int  # daily returns used
    weeks: float  # sessions / 5
    total_return: float | None = Field(
        description="last / first - 1 over the row's closes (a fraction: 0.012 = +1.2%); null when its first close is "
        f"at or below 0 ({NOTHING})"
    )
    cagr: float | None = Field(
        description="the compound annual growth rate, (last / first) ^ (252 / n) - 1 over n daily returns; null under "
        f"20 daily returns, and when the first or last close is at or below 0 ({NOTHING})"
    )
    volatility: float | None  # annualised standard deviation of daily returns
    sharpe: Interval = Field(
        description="the annualised Sharpe ratio: the mean over the standard deviation of daily returns, x sqrt(252), "
        f"{RATIOS_AGAINST_ZERO}; with its stationary-bootstrap 95% interval"
    )
    sortino: float | None = Field(
        description="the annualised Sortino ratio: the mean daily return over its downside deviation below 0 (the root "
        "mean square of min(r, 0) over every session, Sortino & Price 1994; not the deviation of the losing sessions "
        f"alone), x sqrt(252), {RATIOS_AGAINST_ZERO}"
    )
    max_drawdown: float = Field(description=DRAWDOWN)
    # The deepest drawdown's length in sessions: its peak to the first close back at the peak, or to the last close
    # when it never recovered (metrics.max_drawdown); not the longest drawdown, which may be a shallower one.
    max_drawdown_sessions: int
    calmar: float | None = Field(
        description="CAGR over max_drawdown; null without a CAGR (under 20 daily returns, or a first or last close at "
        f"or below 0: {NOTHING}) or without a drawdown"
    )
    trades: int  # round trips closed (domain/ledger.py round_trips)
    hit_rate: float | None  # winning round trips / trades
    turnover: float | None = Field(description=f"the {TURNOVER}; null under 20 daily returns")
    avg_gross_exposure: float | None = Field(
        description="the average of the gross exposure (a fraction of equity) at the closes after the first where it "
        "is defined; null when it is at none (positions held on equity at or below 0 throughout)"
    )
    # Named before slippage was estimated; a trial's program summed "costs" and got 0.0 beside $95 of slippage.
    costs_usd: float = Field(description="commissions and fees paid (USD); slippage is apart, in slippage_usd")
    excess_vs_flat: Interval = Field(description=EXCESS.format(baseline="FLAT's (0: cash earns nothing here)"))
    excess_vs_spy: Interval = Field(description=EXCESS.format(baseline="the SPY baseline's (bought and held)"))
    psr: float | None = Field(
        description="the probabilistic Sharpe ratio (Bailey & Lopez de Prado 2012): P(true Sharpe > 0), the Sharpe "
        f"ratio {RATIOS_AGAINST_ZERO}"
    )
    dsr: float | None = Field(
        description="the deflated Sharpe ratio (Bailey & Lopez de Prado 2014) for `trials`, the Sharpe ratio "
        f"{RATIOS_AGAINST_ZERO}"
    )
    weeks_needed: float | None = Field(description=WEEKS_NEEDED)
    weeks_more: float | None = Field(description=WEEKS_MORE)
    # Slippage paid, estimated: traded notional x the paper broker's slippage_bps (None for another broker's fills).
    slippage_usd: float | None = None


class Period(Record):
    """The standings over part of the range, e.g. weeks before or after a model's knowledge cutoff."""

    label: str  # e.g. "before knowledge cutoff 2024-06-01 (gpt-x)"
    start: date
    end: date
    standings: tuple[Standing, ...]
    # Its rows read "weeks more 5" as if waiting could settle them, where every week to come is after the cutoff.
    closed: bool = Field(
        default=False,
        description="no week can be added to it: the period before the knowledge cutoff, every later week being after "
        'the cutoff; its rows\' weeks_more are null where they had too few weeks (shown as "closed")',
    )


# How the leaderboard's note on books wholly on or before the models' knowledge cutoff begins (app/cutoff_periods.py):
# a sweep and --versus read it in a stored leaderboard.
ALL_BEFORE = "every week is on or before the latest knowledge cutoff"


# What --versus's trades and costs are over (its leaderboard row holds no per-session counts to cut to the pairing).
OWN_RANGE = (
    "over that book's whole range (its leaderboard row), not only the paired sessions the returns, differences and "
    "average exposure are over"
)


PAIRED_RETURN = (
    "last / first - 1 (a fraction: 0.012 = +1.2%); null when the first paired close is at or below 0 (the account "
    "wiped out before the pairing began): a return over nothing is undefined"
)


class PairedWeeks(Record):
    """One account's paired weeks after the later of the two books' knowledge-cutoff splits (`leaderboard --versus`):
    the weeks each book's leaderboard calls evidence, as `PairedDifference`'s whole-range figures are over all."""

    weeks: int = Field(description="paired weeks after the split (both books' returns defined)")
    weekly: Interval = Field(
        description="the mean weekly return difference (first books minus second, a fraction per week, not annualised) "
        "over those weeks, with its stationary-bootstrap 95% interval (none under 8 weeks)"
    )
    weeks_better: int = Field(description="of those weeks, the ones whose return was higher in the first books")
    weeks_worse: int = Field(description="... lower in the first books")
    weeks_tied: int = Field(description="... the same in both")


class PairedDifference(Record):
    """One account in two books over the same weeks (e.g. a backtest with memory on and one with it off):
    the week-by-week difference of its returns, `on` minus `off`."""

    name: str  # the account id, in both books
    weeks: int  # weekly returns paired
    # A pairing of books over other ranges can begin where one book's account is wiped out (0.00, or below through a
    # short): its return read 0.0%, a figure nothing earned.
    return_on: float | None = Field(
        description=f"the total return over the paired sessions in the first books, {PAIRED_RETURN}"
    )
    return_off: float | None = Field(
        description=f"the total return over the paired sessions in the second books, {PAIRED_RETURN}"
    )
    weekly: Interval  # mean weekly return difference on - off, a fraction per week (not annualised)
    # Annualised mean daily return difference on - off (as `excess_vs_flat` is computed); none under 20 daily returns.
    daily: Interval
    # Each paired week is one of the three: a week of the same return in both books is a tie, not a week not better
    # (two books the same every week read "weeks better 0 of 8", as if the first had lost every week).
    weeks_better: int  # weeks whose return was higher in the first books
    weeks_worse: int  # ... lower in the first books
    weeks_tied: int  # ... the same in both
    # DESIGN.md: every comparison of accounts carries its trades and costs (an audit found --versus without them).
    # Each book's own row (its whole range: the same weeks but where the books differ, as a note then says); None
    # when that book has no row for the account.
    trades_on: int | None = Field(None, description=f"round trips closed in the first books {OWN_RANGE}")
    trades_off: int | None = Field(None, description=f"round trips closed in the second books {OWN_RANGE}")
    commissions_usd_on: float | None = Field(
        None, description=f"commissions and fees paid in the first books (USD) {OWN_RANGE}"
    )
    commissions_usd_off: float | None = Field(
        None, description=f"commissions and fees paid in the second books (USD) {OWN_RANGE}"
    )
    slippage_usd_on: float | None = Field(
        None,
        description="slippage paid in the first books, estimated as traded notional x the paper broker's "
        f"slippage_bps (USD; None when unknown) {OWN_RANGE}",
    )
    slippage_usd_off: float | None = Field(
        None, description=f"slippage paid in the second books, as slippage_usd_on {OWN_RANGE}"
    )
    avg_gross_exposure_on: float | None = Field(
        None, description="the average gross exposure (a fraction of equity) over the paired sessions, first books"
    )
    avg_gross_exposure_off: float | None = Field(
        None, description="the average gross exposure over the paired sessions, second books"
    )
    # The headline when a book is split at its models' knowledge cutoff; the figures above stay the whole range's.
    after_cutoff: PairedWeeks | None = Field(
        None,
        description="the weeks, weekly difference and weeks better, worse and tied over the paired weeks after the "
        "later of the two books' knowledge-cutoff splits (Pairing.after_cutoff_from), the evidence; null when no "
        "book is split or wholly before its cutoff (every paired week is then evidence as far as the books know, and "
        "the whole-range fields are it), or when no paired week is after the split (Pairing.after_cutoff_weeks 0). "
        "weeks, weekly and weeks_better/worse/tied beside it are over every paired week, those the models may have "
        "read about in training included",
    )


class Pairing(Record):
    """How a leaderboard's accounts compare with the same accounts in other books (`leaderboard --versus`)."""

    versus: str  # the other books' label, e.g. "backtest OFF"
    start: date
    end: date
    weeks: int
    differences: tuple[PairedDifference, ...]
    notes: tuple[str, ...] = ()
    after_cutoff_from: date | None = Field(
        None,
        description="the close the paired weeks after the models' knowledge cutoff start from: the later of the two "
        "books' splits (a leaderboard's periods[0].end), or the pairing's start when that is later; null when neither "
        "book is split, or no paired week is after the split (a book wholly on or before its cutoff among them)",
    )
    after_cutoff_weeks: int | None = Field(
        None,
        description="paired weeks after the later of the two books' knowledge-cutoff splits, the evidence (0 when a "
        "book is wholly on or before its cutoff, or no paired week is after the split); null when no book is split "
        "or wholly before its cutoff",
    )


class PriceBasis(Record):
    """What the closes a leaderboard valued the books at are (app/price_basis.py)."""

    sources: tuple[str, ...]  # the providers that gave them: alpaca, yfinance, csv, synthetic
    # excluded: known to leave dividends out (an ex-dividend drop is booked as a loss); unknown: a CSV folder's, which
    # may or may not fold them in; none: synthetic prices, which pay no dividend
    dividends: Literal["excluded", "unknown", "none"]


class Leaderboard(Record):
    """Every account and baseline over one source's sessions, with how the intervals were made."""

    source: str  # "live" or "backtest NAME"
    start: date
    end: date
    sessions: int  # daily returns: one fewer than the sessions from start to end (the start's close is the base)
    trials: int  # accounts and configurations compared (the deflated Sharpe's N)
    bootstrap: str  # e.g. "stationary bootstrap (arch), mean block 5 sessions, 2000 resamples, seed 7"
    standings: tuple[Standing, ...]
    periods: tuple[Period, ...] = ()
    curves: tuple[Curve, ...] = ()
    notes: tuple[str, ...] = ()
    paired: Pairing | None = None  # `--versus`: these books' accounts minus the other books', week by week
    prices: PriceBasis | None = None  # the kind of closes it was valued at (None: books read before it was said)
    # The closes it valued each symbol at, by session: what `--versus` compares (analytics/paired.py `_prices_note`).
    # Not in its JSON (a symbol's every close) nor its repr; {} for books built without them.
    closes: Mapping[str, Mapping[date, float]] = Field(default_factory=dict, exclude=True, repr=False)
    # A backtest stopped before its range's end: what its figures cover (also the first of `notes`); shown first.
    unfinished: str | None = Field(
        None,
        description="a backtest stopped before its range's end: what its figures cover; None for the live books, "
        "whose week still open (no postmortem yet) is said in `notes`",
    )
    unfinished_week: date | None = Field(
        None,
        description="a backtest stopped before its range's end: the week of its range it has not done (the one it "
        "stopped or still runs inside, named by `unfinished` and marked in the report's week list); None for the live "
        "books, a finished backtest, and one with every week done",
    )
    verdict: str | None = Field(
        None,
        description="one line, shown first: which accounts are told better or worse than FLAT (a 95% interval of "
        "their Sharpe ratio or excess return over FLAT excluding 0), over the weeks that are evidence (after the "
        "models' knowledge cutoff when the books are split at it), with the deflated Sharpe where the best of several "
        "compared may be luck; or that none is, and why (app/board_verdict.py). None: books with no figures, or a "
        "leaderboard stored before it was said",
    )
    # Books with no trading yet (app/books_empty.py): no standings, `start` and `end` the day asked, and `notes` what
    # to do. Left out of the document when None, so the leaderboards a backtest or a sweep records keep their bytes.
    nothing_yet: str | None = Field(
        default=None,
        exclude_if=lambda value: value is None,
        description="books with no trading yet (a fresh install before its first weekly run): what they hold and "
        "lack; `notes` say when there will be figures and what to do; absent when there are figures",
    )
    next_weekly_run: datetime | None = Field(
        default=None,
        exclude_if=lambda value: value is None,
        description="books with no trading yet: the weekly run schedule.yaml has due next (New York time), or due "
        "now; absent otherwise, and for a backtest's books",
    )
