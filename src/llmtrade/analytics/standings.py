"""The leaderboard's rows: every statistic of `metrics.py` for each track over the same sessions (pure).

A row compares its curve with FLAT and SPY over the same sessions, so every track given to `standings`
must share its sessions. The deflated Sharpe ratio is given to the accounts that are trials (the
accounts compared, whose best one a reader would pick): its N is `trials`, and the variance of the
trials' Sharpe ratios is estimated from the trials present (at least two with a Sharpe ratio, else
None). Baselines are not selected from trials, so they get none.

PSR, DSR and the weeks needed (the minimum track record length) rest on the estimated Sharpe ratio being about
normal (Bailey & Lopez de Prado 2012, after Mertens 2002), which a handful of sessions does not give: five rising
sessions had a PSR of 0.99999 and "0 weeks needed", a certainty a week of data cannot give. Under
`metrics.MIN_RETURNS_FOR_INTERVAL` daily returns they are None (n/a), as the bootstrap intervals are.

So is every annualised figure (CAGR, volatility, Sharpe, Sortino, Calmar, turnover, the excess over FLAT and SPY a
year) under `metrics.MIN_RETURNS_FOR_RATIO`: a week's Sharpe of 4.2 has a standard error of some 7 (Lo 2002), and
shown without its interval it read as a result; one daily return made SPY's CAGR +1198.9% and a turnover of 250 a
year (an audit). One rule for them all: None in --json, "n/a" in the tables and the report. The total return, the
drawdown, the trades and costs are what happened, and stay. `short_note` says why, and how many returns each short
row has.

The weeks needed answer "when could it be told from FLAT?", in either direction, so they are the minimum track
record length of a two-sided test at 95% (`TELL_APART`: Phi^-1(0.975), not the paper's one-sided Phi^-1(0.95)),
the test the rows' two-sided 95% intervals make. One-sided, an account whose interval still held zero was shown
as needing no more weeks. They are never fewer than the 4 weeks (`metrics.MIN_RETURNS_FOR_INTERVAL` returns) under
which no ratio is shown.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Collection, Mapping, Sequence
from datetime import date

from llmtrade.analytics import metrics, sharpe_odds
from llmtrade.analytics.curves import FLAT, SPY, Track
from llmtrade.analytics.records import Curve, Interval, Standing
from llmtrade.domain.wording import named_first

SESSIONS_PER_WEEK = 5
# The one-sided level of a two-sided test at metrics.LEVEL (0.95 -> 0.975): the weeks needed to tell from FLAT.
TELL_APART = 1.0 - (1.0 - metrics.LEVEL) / 2.0


def standings(
    tracks: Sequence[Track], *, trials: int, trial_names: Collection[str], starts: Mapping[str, int] | None = None
) -> tuple[Standing, ...]:
    """One Standing per track, in the order given. FLAT and SPY are looked up among the baselines (a
    missing one leaves its excess interval empty). `starts`: the curve point each account that entered the books
    late entered at (app/account_spans.py), whose Sharpe ratio in the trials' spread is over its own sessions (before
    them its curve is its starting cash, returns of 0 of a trial it never ran). Raises ValueError when the tracks'
    sessions differ."""
    if len({t.curve.sessions for t in tracks}) > 1:
        raise ValueError("every track of a leaderboard must cover the same sessions")
    returns = {t.curve.name: _returns(t) for t in tracks}
    baselines = {t.curve.name: returns[t.curve.name] for t in tracks if t.curve.kind == "baseline"}
    flat = baselines.get(FLAT)
    spy = baselines.get(SPY)
    begun = starts or {}
    per_session = [
        trial_sharpe(t.curve.equity[begun.get(t.curve.name, 0) :])
        for t in tracks
        if t.curve.kind == "account" and t.curve.name in trial_names
    ]
    known = [s for s in per_session if s is not None]
    variance = statistics.variance(known) if len(known) >= 2 else None
    return tuple(
        standing(
            t,
            returns[t.curve.name],
            flat=flat,
            spy=spy,
            trials=trials,
            sharpe_variance=variance if t.curve.kind == "account" and t.curve.name in trial_names else None,
            trial=t.curve.kind == "account" and t.curve.name in trial_names,
        )
        for t in tracks
    )


def standing(
    track: Track,
    returns: Sequence[float],
    *,
    flat: Sequence[float] | None,
    spy: Sequence[float] | None,
    trials: int,
    sharpe_variance: float | None,
    trial: bool = True,
) -> Standing:
    """The row of one track; `returns` are its daily returns (`_returns`). A DSR only for a `trial` (a baseline or the
    FLAT account is picked from no trials), and with N > 1 only with a `sharpe_variance`."""
    curve = track.curve
    equity = curve.equity
    n = len(returns)
    growth = metrics.cagr(equity) if n else None
    depth, length = metrics.max_drawdown(equity)
    # Too few returns for the asymptotics PSR, DSR and MinTRL rest on: n/a (see the module docstring).
    evidence = n >= metrics.MIN_RETURNS_FOR_INTERVAL
    min_trl = sharpe_odds.min_track_record(returns, level=TELL_APART) if evidence else None
    # Never under the 20 daily returns any ratio here needs: a steady riser's formula asked for 1.5 sessions, and "min
    # weeks 0.3" stood beside a Sharpe ratio this leaderboard would not show on so few.
    needed = None if min_trl is None else max(min_trl, metrics.MIN_RETURNS_FOR_INTERVAL) / SESSIONS_PER_WEEK
    ratios = n >= metrics.MIN_RETURNS_FOR_RATIO  # every annualised figure: see the module docstring
    hidden = Interval(estimate=None, low=None, high=None, level=metrics.LEVEL)
    return Standing(
        name=curve.name,
        kind=curve.kind,
        sessions=n,
        weeks=n / SESSIONS_PER_WEEK,
        total_return=metrics.total_return(equity),
        cagr=growth if ratios else None,
        volatility=metrics.volatility(returns) if ratios else None,
        sharpe=metrics.sharpe_interval(returns) if ratios else hidden,
        sortino=metrics.sortino(returns) if ratios else None,
        max_drawdown=depth,
        max_drawdown_sessions=length,
        calmar=metrics.calmar(growth, depth) if ratios else None,
        trades=track.trade_count,
        hit_rate=track.hit_rate,
        turnover=turnover(track.bought, track.sold, equity) if ratios else None,
        avg_gross_exposure=_average_exposure(curve.gross_exposure[1:]),
        costs_usd=track.costs,
        excess_vs_flat=_excess(returns, flat) if ratios else hidden,
        excess_vs_spy=_excess(returns, spy) if ratios else hidden,
        psr=sharpe_odds.probabilistic_sharpe(returns) if evidence else None,
        dsr=deflated(returns, trials, sharpe_variance) if trial else None,
        weeks_needed=needed,
        weeks_more=None if needed is None else more_weeks(needed, n / SESSIONS_PER_WEEK),
        slippage_usd=track.slippage,
    )


_LISTED = 5  # short stretches named one by one at most; more, all of the same length, are counted (a sweep's rows)


def short_note(spans: Sequence[tuple[str, int]]) -> str | None:
    """The note for rows of too few daily returns for a ratio: `spans` are (what, daily returns), e.g. ("the whole
    range", 4), ("acct_3's row", 2); None when every one has `metrics.MIN_RETURNS_FOR_RATIO`."""
    # A row of no return shows nothing to mistake for a figure; its own note says why (no valuation yet, say).
    short = list(dict.fromkeys((what, n) for what, n in spans if 0 < n < metrics.MIN_RETURNS_FOR_RATIO))
    if not short:
        return None
    minimum = metrics.MIN_RETURNS_FOR_RATIO
    listed = "; ".join(f"{what}: {n} daily return{'' if n == 1 else 's'}" for what, n in short)
    if len(short) > _LISTED and len({n for _, n in short}) == 1:  # a sweep's rows alike: counted, not each named
        rows = len(dict.fromkeys((what, n) for what, n in spans if n > 0))  # "all" only when no row has enough
        which = f"all {len(short)}" if len(short) == rows else f"{len(short)} of the {rows}"
        listed = f"{which} rows: {short[0][1]} daily return{'' if short[0][1] == 1 else 's'} each"
    fewest = min(n for _, n in short)
    error = metrics.sharpe_error(fewest)
    example = f", {error:.1f} on {fewest}" if error is not None else ""
    return (
        f"Sharpe, Sortino and Calmar are n/a under {minimum} daily returns ({listed}), as are their intervals, PSR, "
        f"DSR and the weeks needed: an annualised Sharpe ratio on n daily returns has a standard error of about "
        f"sqrt(252/n) (Lo 2002){example}, so a ratio of so few is noise. So is every other annualised figure (CAGR, "
        "volatility, turnover a year, the excess over FLAT and SPY a year): a few days raised to a year's power or "
        "times 252 (null in --json); the total return, drawdown, trades and costs are what happened"
    )


def holding(curves: Sequence[Curve]) -> list[str]:
    """The accounts (not the baselines) among `curves` whose last close holds a position (gross exposure over 0)."""
    return [c.name for c in curves if c.kind == "account" and c.gross_exposure and _holds(c.gross_exposure[-1])]


def _holds(exposure: float | None) -> bool:
    """Whether a close's gross exposure is of a position: over 0, or None (held on equity at or below 0)."""
    return exposure is None or exposure > 0


def open_trades_note(holding: Sequence[str], end: date | None = None, *, of: int | None = None) -> str | None:
    """What the trades column counts, when rows of `holding` (accounts, or a sweep's "run account") end the books
    (at the close of `end`; None: each at its run's last) still holding a position, named, or counted among `of` rows
    (a sweep's, whose names are long): a round trip is counted once it is closed, while what opening it
    cost is in the commissions and slippage already. A trial read "0 trades" beside 20.30 USD of slippage and a hit
    rate of n/a for an account that had bought and held TLT for three weeks, as if it had paid to do nothing."""
    if not holding:
        return None
    at = f" at the close of {end}" if end else " at their run's last close"
    names = named_first(holding, _LISTED)
    if of is not None:
        names = f"{len(holding)} of the {of} rows"
    return (
        "trades (and the hit rate) count round trips closed, open to flat or to a side change, not orders: "
        f"{names} still {'holds' if len(holding) == 1 else 'hold'} a position{at}, no trade until it is closed, "
        "though what opening it cost is in the commissions and slippage already"
    )


def within_sessions(board: Sequence[Standing]) -> list[str]:
    """The accounts of `board` that traded (a trade closed, or a cost paid) and yet held nothing at any daily close."""
    return [
        s.name
        for s in board
        if s.kind == "account"
        and s.avg_gross_exposure is not None
        and s.avg_gross_exposure < 1e-12
        and (s.trades > 0 or s.costs_usd > 0 or (s.slippage_usd or 0.0) > 0)
    ]


def intraday_note(traded: Sequence[str], *, of: int | None = None) -> str | None:
    """Why rows of `traded` (`within_sessions`; counted among `of` rows, a sweep's) read an average gross exposure of
    0.0% beside their trades and costs: the exposure is read at each daily close, and they held positions only within
    sessions (an open filled at the open, closed by a checkpoint the same day). A sweep's ten rows read "3 trades,
    0.0% avg gross, 49.64 slippage" and a loss, as if the account had lost money holding nothing."""
    if not traded:
        return None
    names = f"{len(traded)} of the {of} rows" if of is not None else ", ".join(traded)
    return (
        f"avg gross is the gross exposure at each daily close, averaged: {names} held positions only within "
        "sessions (opened and closed the same day), flat at every close, so it reads 0.0% though they traded; the "
        "returns, trades and costs are what happened"
    )


def bare_sharpe_note(board: Sequence[Standing], *, of: int | None = None) -> str | None:
    """Why rows with the returns for an interval and a Sharpe ratio have no interval for it: more than a tenth of the
    resamples held no move at all (returns of 0 on most sessions: cash held most of the time), and a resample that
    never moves has no Sharpe ratio; None when no row is so. Rows named, or counted among `of` rows (a sweep's). A PM
    that held a position one week of twelve read "1.56 [n/a]" with nothing said, a bare ratio shown nowhere else."""
    rows = [
        s.name
        for s in board
        if s.sessions >= metrics.MIN_RETURNS_FOR_INTERVAL and s.sharpe.estimate is not None and s.sharpe.low is None
    ]
    if not rows:
        return None
    names = f"{len(rows)} of the {of} rows" if of is not None else ", ".join(rows)
    return (
        f"the Sharpe ratio's interval is n/a for {names}: their daily returns were 0 on most sessions (cash held most "
        "of the time), so more than a tenth of the bootstrap's resamples hold no move at all and have no Sharpe ratio; "
        "the ratio rests on the few sessions that moved, and the excess over FLAT and its interval say how little that "
        "is"
    )


def undeflated_note(board: Sequence[Standing], *, of: int | None = None) -> str | None:
    """Why rows with a PSR have no DSR: with N > 1 trials the DSR deflates by the spread of the trials' Sharpe ratios,
    and fewer than two trials had one (the others' returns did not move, or they have no result); None when no row is
    so. Rows named, or counted among `of` rows (a sweep's, whose names are long). A trial's leaderboard of two PMs,
    one of which never traded, read "DSR n/a" beside the other's PSR with nothing said."""
    rows = [s.name for s in board if s.kind == "account" and s.psr is not None and s.dsr is None]
    if not rows:
        return None
    names = f"{len(rows)} of the {of} rows" if of is not None else ", ".join(rows)
    return (
        f"DSR is n/a for {names}: it deflates by the spread of the trials' Sharpe ratios, and fewer than two trials "
        "have a Sharpe ratio here (a trial whose returns did not move, or with no result, has none), so the best that "
        "luck alone would show cannot be estimated; the PSR is not deflated"
    )


def trial_sharpe(equity: Sequence[float]) -> float | None:
    """The per-session Sharpe ratio a trial adds to the spread the DSR deflates by: of its daily returns or, for a curve
    that reached 0 (no return is defined after it, so its row has none), of those to that close, the loss of all it
    had included. Left out, the worst trial narrowed the spread and raised the others' DSR (0.93 for 0.51 in a test).
    None under `metrics.MIN_RETURNS_FOR_RATIO` returns: a Sharpe ratio of so few is noise (no row shows one), and a PM
    added five sessions ago swamped the spread and took every DSR to 0.0; it still counts in N."""
    end = next((i for i, value in enumerate(equity) if value <= 0), None)
    if end is None:
        returns = metrics.daily_returns(equity)
    elif end == 0:
        return None
    else:
        returns = [*metrics.daily_returns(equity[:end]), equity[end] / equity[end - 1] - 1.0]
    return metrics.session_sharpe(returns) if len(returns) >= metrics.MIN_RETURNS_FOR_RATIO else None


def wiped_note(curves: Sequence[Curve]) -> str | None:
    """Why the rows of accounts whose equity reached 0 read n/a over 0 daily returns: no return is defined after a
    wipe-out (a return on nothing), so over the leaderboard's sessions they have none; None when no account did."""
    wiped = []
    for curve in curves:
        at = next((day for day, value in zip(curve.sessions, curve.equity, strict=True) if value <= 0), None)
        if curve.kind == "account" and at is not None:
            wiped.append(f"{curve.name} at the close of {at}")
    if not wiped:
        return None
    return (
        f"equity reached 0 ({'; '.join(wiped)}): no daily return is defined after a loss of everything, so over these "
        "sessions the row has no daily return, ratio, interval, PSR or DSR (its total return and drawdown are what "
        "happened); its Sharpe ratio to that close still counts in the spread of the trials' the DSR deflates by; a "
        "position held on equity at or below 0 is no fraction of it, so its average gross exposure is over the closes "
        "before it and those it came back above 0 at (null in --json where it is defined at none)"
    )


def more_weeks(needed: float, weeks: float) -> float:
    """The weeks still needed (issue 13: "the weeks still needed to tell each account from FLAT"): the minimum
    track record length `needed` less the `weeks` of data there are, never below 0.0."""
    return max(0.0, needed - weeks)


def deflated(returns: Sequence[float], trials: int, sharpe_variance: float | None) -> float | None:
    """`sharpe_odds.deflated_sharpe` of a row's daily returns, None (n/a) under `metrics.MIN_RETURNS_FOR_INTERVAL` of
    them (see the module docstring): the one DSR of a leaderboard's and a sweep's rows."""
    if len(returns) < metrics.MIN_RETURNS_FOR_INTERVAL:
        return None
    return sharpe_odds.deflated_sharpe(returns, trials, sharpe_variance)


def turnover(bought_usd: float, sold_usd: float, equity: Sequence[float]) -> float | None:
    """Annualised one-way portfolio turnover: the lesser of the notional bought and the notional sold (USD) over the
    average equity at the daily closes, x 252 / n for n daily returns; None when n < 1 or the average is not above 0.

    The lesser of purchases and sales is the SEC's portfolio turnover rate (Form N-1A, Item 13, Instruction 4(d):
    "the lesser of amounts of purchases or sales of portfolio securities ... divided by the monthly average of the
    value of the portfolio securities owned"), so the money first put to work (or a buy-and-hold's one purchase) is
    no turnover, and buying the whole account and selling it back once is 1. Its denominator here is the average
    equity (the fund's net assets, as most fund data report it), not the securities held: these books are mostly
    cash, and flat for whole weeks, where the value held would be near 0. An earlier build summed buys and sells
    (two-way): SPY's buy-and-hold read 5.07 a year over 49 sessions for its first purchase alone."""
    n = len(equity) - 1
    if n < 1:
        return None
    average = math.fsum(equity) / len(equity)
    return min(bought_usd, sold_usd) / average * metrics.SESSIONS_PER_YEAR / n if average > 0 else None


def _average_exposure(exposure: Sequence[float | None]) -> float | None:
    """The mean of `exposure` where it is defined (a position held on equity at or below 0 has none: wiped_note says
    so); 0.0 for no close, None when it is defined at none."""
    defined = [g for g in exposure if g is not None]
    if not exposure:
        return 0.0
    return math.fsum(defined) / len(defined) if defined else None


def _excess(returns: Sequence[float], other: Sequence[float] | None) -> Interval:
    if other is None or len(other) != len(returns):  # no such baseline, or one side was wiped out
        return Interval(estimate=None, low=None, high=None, level=metrics.LEVEL)
    return metrics.excess_interval(returns, other)


def _returns(track: Track) -> list[float]:
    """Daily returns; none at all for a curve that reached zero (no return is defined after a wipe-out)."""
    try:
        return metrics.daily_returns(track.curve.equity)
    except ValueError:
        return []
