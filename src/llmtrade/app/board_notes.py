"""The leaderboard's note when no account can yet be told from FLAT: how much data there is, and which account the
data would first tell from FLAT, which way, and about when."""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence

from llmtrade.analytics import metrics
from llmtrade.analytics.records import WEEKS_BEYOND, Curve, Standing
from llmtrade.analytics.standings import bare_sharpe_note, undeflated_note
from llmtrade.domain.ledger import BooksReset
from llmtrade.domain.trading import Fill
from llmtrade.domain.wording import counted, named_first
from llmtrade.market.calendar import new_york_date


def undecided_note(board: Sequence[Standing], *, backtest: bool = False) -> str | None:
    """The note when no account's interval excludes zero (None when one does): how much data there is and about how
    much more the nearest accounts need (their minimum track record length vs FLAT, `Standing.weeks_more`); of a
    `backtest`'s books, as weeks of a longer backtest (its weeks are its range's: no wait adds one)."""
    accounts = [s for s in board if s.kind == "account"]
    if not accounts or any(told_apart(s) for s in accounts):
        return None
    # Weeks of 5 sessions, as the minimum track record lengths are: 26 weekly runs with a holiday among them read
    # 25.2, which a new user took for a week lost; the daily returns are said beside them.
    most = max(accounts, key=lambda s: s.sessions)
    timed = [s for s in accounts if s.weeks_more is not None and s.sharpe.estimate is not None]
    if not timed and max(s.sessions for s in accounts) < metrics.MIN_RETURNS_FOR_INTERVAL:
        minimum = metrics.MIN_RETURNS_FOR_INTERVAL
        needed = f"too few to estimate how many more are needed (under {minimum} daily returns)"
    elif not timed:
        needed = "no account has a Sharpe ratio to estimate how many more are needed"
    else:
        needed = _nearest(timed, backtest=backtest)
    data = f"{counted(most.sessions, 'daily return')} ({most.weeks:.1f} weeks of 5 sessions)"
    return f"no account is distinguishable from FLAT yet: {data}, {needed}"


def _nearest(timed: Sequence[Standing], *, backtest: bool = False) -> str:
    """Which account the data would first tell from FLAT, and which way: the nearest may be losing, and then it
    would be told worse than FLAT, which says nothing of when a model might be told better (a new user read "about
    39 more needed", a losing account's, as the wait for the question the leaderboard asks). Each estimate is the
    minimum track record length at the Sharpe ratio so far: it moves as that Sharpe does."""

    def wait(s: Standing) -> str:
        # In whole weeks, as the table's "weeks more" shows it (0.12 is 1 there, and here).
        more = math.ceil(s.weeks_more or 0.0)
        # A backtest's weeks are its range's: "needs about 12 more" read as a wait, which adds none (`range_note`).
        when = f"needs about {more} more weeks of a longer backtest" if backtest else f"needs about {more} more"
        if more > WEEKS_BEYOND:  # a Sharpe ratio near 0: millions of weeks is no estimate to say
            when = f"needs more than {WEEKS_BEYOND} more (100 years: its Sharpe ratio is too near 0 to tell)"
        elif more <= 0:
            when = "has its minimum track record length, yet its intervals contain zero"
        return f"{s.name} (Sharpe {s.sharpe.estimate:.2f}) {when}"

    def distance(s: Standing) -> tuple[float, float]:
        # weeks_more stops at 0: of accounts already past their minimum track record length, the nearest is the one
        # that needs the fewest weeks, not the first listed.
        return (s.weeks_more or 0.0, s.weeks_needed if s.weeks_needed is not None else math.inf)

    nearest = min(timed, key=distance)
    if (nearest.sharpe.estimate or 0.0) > 0:
        return f"the nearest, {wait(nearest)} (estimates at the Sharpe ratio so far)"
    winning = [s for s in timed if (s.sharpe.estimate or 0.0) > 0]
    better = (
        f"; the nearest to be told better, {wait(min(winning, key=distance))}"
        if winning
        else "; no account has a positive Sharpe ratio to be told better"
    )
    return f"the nearest, {wait(nearest)} to be told worse than FLAT{better} (estimates at the Sharpe ratio so far)"


def range_note(board: Sequence[Standing], *, unfinished: bool) -> str | None:
    """A backtest's note on its weeks more (None when no row needs more): its weeks are its range's, so waiting adds
    none, and only a longer range can tell those rows from FLAT (an `unfinished` one's resume adds the weeks of its
    range not done). Its leaderboard read "weeks more 928" as the live books do, where weekly runs add the weeks."""
    rows = [s.name for s in board if s.weeks_more and s.weeks_more > 0]
    if not rows:
        return None
    resume = " (resuming this unfinished one adds only the weeks of its range not done)" if unfinished else ""
    return (
        f"weeks more (a backtest's): {named_first(rows, 5)} need more weeks than this backtest holds to be told from "
        "FLAT, and a backtest's weeks are its range's: waiting adds none. Only a longer range can, the same `llmtrade "
        "backtest` command with a later --to (it resumes and extends when its prices reach the later weeks) or a "
        f"backtest over a longer range{resume}; the weeks more are how many more weeks of range, at the Sharpe ratio "
        "so far"
    )


def told_apart(s: Standing) -> bool:
    """Whether `s` is told apart from FLAT: the 95% interval of its Sharpe ratio or of its excess return over FLAT
    excludes 0 (the test of `undecided_note` and of the leaderboard's verdict, app/board_verdict.py)."""
    return any(
        i.low is not None and i.high is not None and (i.low > 0 or i.high < 0) for i in (s.sharpe, s.excess_vs_flat)
    )


def levels_note(board: Sequence[Standing]) -> str | None:
    """A note when a row's PSR passes 95% while it still needs weeks to be told from FLAT: the two answer at other
    levels (PSR: the probability that the true Sharpe ratio is above 0, one-sided; the minimum track record length and
    the intervals: two-sided at 95%), which a trial read as a contradiction (SPY: PSR 95.6%, 16 weeks more). And its
    mirror, a PSR under 5% (95% sure the Sharpe ratio is below 0, one-sided) beside weeks still needed, which it
    said nothing of."""
    waiting = [s for s in board if s.psr is not None and (s.weeks_more or 0.0) > 0]
    high = [s.name for s in waiting if s.psr is not None and s.psr >= 0.95]
    low = [s.name for s in waiting if s.psr is not None and s.psr <= 0.05]
    said = [f"{', '.join(names)}: PSR {side}" for names, side in ((high, "over 95%"), (low, "under 5%")) if names]
    if not said:
        return None
    return (
        f"{'; '.join(said)} with weeks still needed is no contradiction: PSR is one-sided (the "
        "probability that the true Sharpe ratio is above 0), the weeks needed and the intervals two-sided at 95%"
    )


# A quote's source is "<provider> <kind>" (brokers/paper.py keeps it as the fill's price_source): kind daily-bridge is
# the path market/csv_quotes.py drew, before it priced such a symbol at the open, through a session's own daily row
# where no intraday file had a traded price; books run then keep such fills. "daily close" is the paper broker's fill
# at the session's close of an order sent in session on a symbol with daily prices only.
BRIDGE_KIND = "daily-bridge"
AT_CLOSE = "daily close"


def fill_price_notes(fills: Sequence[Fill]) -> list[str]:
    """What priced the accounts' fills where it was no price at the order's time: orders sent inside a session on a
    symbol priced then at its open (daily prices only, or an intraday file with no fresh row then), filled at the
    session's close (hours after the checkpoint that sent them, at a price it could not know); and, in books run by an
    earlier version, fills priced by the daily bridge, drawn through the session's high, low and close: the order's
    checkpoint and its fill saw a price shaped by a close still to come (DESIGN.md: a model that has read the future
    is not evidence; a trial's two-year backtest had 201 of its 897 fills so, said nowhere beside the figures)."""
    bridged: dict[str, int] = {}
    closed: dict[str, int] = {}
    for fill in fills:
        if fill.price_source.endswith(BRIDGE_KIND):
            bridged[fill.account_id] = bridged.get(fill.account_id, 0) + 1
        elif fill.price_source == AT_CLOSE:
            closed[fill.account_id] = closed.get(fill.account_id, 0) + 1
    notes = []
    if closed:
        each = ", ".join(f"{account} {n}" for account, n in sorted(closed.items()))
        notes.append(
            f"filled at the close: {sum(closed.values())} of the accounts' {counted(len(fills), 'fill')} ({each}) were "
            "orders sent during a session on a symbol priced then at its open, the one price known before the close "
            "(no intraday file, or no row of it in the session within the staleness limit), so each filled at that "
            "session's close, the first price after it (intraday/SYMBOL.csv files with rows through the session give "
            "traded prices inside it; the backtest's start names those whose rows priced none of some jobs)"
        )
    if bridged:
        each = ", ".join(f"{account} {n}" for account, n in sorted(bridged.items()))
        notes.append(
            f"intraday prices modelled: {sum(bridged.values())} of the accounts' {counted(len(fills), 'fill')} "
            f"({each}) were priced by the daily bridge of an earlier version, a path drawn through the session's "
            "own open, high, low and close where no intraday file gives a traded price; each such order was placed, "
            "and filled, at a price shaped by a close still to come, so these figures are not free of look-ahead "
            "inside a session (run the backtest afresh under another --name: this version prices such a session at "
            "its open)"
        )
    return notes


def flat_account_note(flat_accounts: Sequence[str]) -> str | None:
    """Why the FLAT account and the FLAT baseline are two rows with the same figures: the account is the books' (it
    holds its cash and never trades), the baseline is cash with no account at all. A user read them as two results."""
    if not flat_accounts:
        return None
    if len(flat_accounts) == 1:
        return (
            f"{flat_accounts[0]} is the FLAT account: it holds its cash and never trades, so its row is FLAT as the "
            "books have it, beside the FLAT baseline (cash, no account); the two agree unless the books do not"
        )
    return (
        f"{', '.join(flat_accounts)} are FLAT accounts: each holds its cash and never trades, so each row is FLAT as "
        "the books have it, beside the FLAT baseline (cash, no account); they agree unless the books do not"
    )


def same_books_notes(curves: Sequence[Curve], trials: Collection[str]) -> list[str]:
    """A note for each group of trial accounts whose books are the same, close for close: rows a reader takes for two
    results are one. Offline, the rules provider answers whatever the model, so two PMs can trade alike week after week
    (acct_2 and acct_3 did, every week of a year's offline backtest, with nothing said). Each still counts in the
    trials the DSR deflates by, as a sweep's runs of the same books do (sweep/board.py `_same_books_note`)."""
    groups: dict[tuple[tuple[object, ...], tuple[float, ...]], list[str]] = {}
    for curve in curves:
        # Books that never moved are cash alike, FLAT's too (the first week's, before a close marked a fill): the notes
        # of rows that returned what FLAT returned say so, and "one result" of five accounts a week old misled.
        if curve.name in trials and len(set(curve.equity)) > 1:
            groups.setdefault((curve.sessions, curve.equity), []).append(curve.name)
    return [
        f"{', '.join(names[:-1])} and {names[-1]} hold the same books, close for close: the same value at every "
        "close, so their rows are one result shown more than once (offline, the rules provider answers alike whatever "
        "the model); each still counts in the trials"
        for names in groups.values()
        if len(names) > 1
    ]


def reset_notes(resets: Mapping[str, Sequence[BooksReset]], accounts: Collection[str]) -> list[str]:
    """One note per configured account whose broker books began again (a paper account reset): its curve is chained
    across each reset (analytics/curves.py `account_track`), which the reader of its daily returns must know."""
    notes = []
    for account in sorted(set(resets) & set(accounts)):
        said = ", ".join(
            (
                f"on {new_york_date(r.at)} at {r.balance:,.2f}"
                if r.missing or r.renamed
                else f"began at {r.balance:,.2f} there"
            )
            + ("" if r.last_equity is None else f" (last valued at {r.last_equity:,.2f} before it)")
            for r in resets[account]
        )
        notes.append(
            f"{account}: its broker account was reset ({said}): a balance set by hand is neither a loss nor a gain, so "
            "its curve is chained across each reset, the positions the reset wiped dropped at their last close (what "
            "they did between that close and the reset is not known and not counted) and what it traded after measured "
            "against the new balance"
        )
    return notes


def no_spread_note(board: Sequence[Standing]) -> str | None:
    """Why a row's excess over FLAT or SPY has an estimate but no interval though it has the returns for one: its daily
    returns were the baseline's every session (an account that held cash throughout, beside FLAT; a baseline beside
    itself), so the difference is 0 with no spread to resample. The tables read "0.0% [n/a]" with nothing saying why,
    where an interval missing for too few returns is said (standings.short_note)."""
    said = []
    for field, baseline in (("excess_vs_flat", "FLAT"), ("excess_vs_spy", "SPY")):
        same = [
            s.name
            for s in board
            if s.sessions >= metrics.MIN_RETURNS_FOR_INTERVAL
            and getattr(s, field).estimate is not None
            and getattr(s, field).low is None
        ]
        if same:
            said.append(f"vs {baseline} of {', '.join(same)}")
    if not said:
        return None
    return (
        f"no interval for the excess {'; '.join(said)}: each returned what that baseline returned every session "
        "(cash held throughout beside FLAT, or the baseline itself), a difference of 0 with no spread to draw an "
        "interval from"
    )


def no_ratio_note(board: Sequence[Standing]) -> str | None:
    """Why a row with enough returns has no Sharpe ratio (nor PSR, DSR or weeks needed), no Sortino ratio or no Calmar
    ratio: its daily returns never varied (cash throughout: a ratio over a standard deviation of 0 is undefined), never
    fell below 0 (no downside deviation), or its equity never fell below its peak (no drawdown). FLAT and the accounts
    that never traded read "n/a" over 74 returns with no word, while the same "n/a" under 20 returns is explained
    (standings.short_note)."""
    enough = [s for s in board if s.sessions >= metrics.MIN_RETURNS_FOR_RATIO]
    still = [s.name for s in enough if s.sharpe.estimate is None and (s.volatility or 0.0) < 1e-12]
    rising = [s.name for s in enough if s.sharpe.estimate is not None and s.sortino is None]
    said = []
    if still:
        said.append(
            f"Sharpe (and its interval, PSR, DSR and the weeks needed) and Sortino are n/a for {', '.join(still)}: "
            "their daily returns never varied (cash throughout), and a ratio over a standard deviation of 0 is "
            "undefined"
        )
    if rising:
        said.append(f"Sortino is n/a for {', '.join(rising)}: no daily return below 0, so no downside deviation")
    # Calmar is CAGR over the max drawdown: a row whose equity never fell below its peak (FLAT, an account that never
    # traded or only rose) has a CAGR but no Calmar, and its "n/a" said nothing without this.
    peaked = [s.name for s in enough if s.cagr is not None and s.calmar is None and s.max_drawdown < 1e-12]
    if peaked:
        said.append(
            f"Calmar is n/a for {', '.join(peaked)}: their equity never fell below its peak, and CAGR over a "
            "drawdown of 0 is undefined"
        )
    return "; ".join(said) or None


def baseline_dsr_note(board: Sequence[Standing]) -> str | None:
    """Why a baseline with a PSR has no DSR: the DSR deflates for the best of N trials picked, and a baseline (SPY,
    EQUAL_WEIGHT) is no trial. Their rows read "PSR 77.2%  DSR n/a" with nothing said (undeflated_note names accounts
    only, whose missing DSR has another cause)."""
    rows = [s.name for s in board if s.kind == "baseline" and s.psr is not None and s.dsr is None]
    if not rows:
        return None
    return (
        f"DSR is n/a for the baselines {', '.join(rows)}: the deflated Sharpe discounts the best of the trials picked, "
        "and a baseline is no trial (nothing was picked among them); their PSR is not deflated"
    )


def no_start_note(board: Sequence[Standing]) -> str | None:
    """Why rows read n/a for their total return, CAGR and Calmar: their span (a knowledge-cutoff period, or a late
    account's) begins at a close at or below 0 (the account wiped out before it, or below 0 through a short on a price
    that rose), and a return over nothing is undefined; None when no row is so. Such a row read "+0.0%" before its
    total return was made None, and then "n/a" with nothing said."""
    rows = [s.name for s in board if s.total_return is None]
    if not rows:
        return None
    return (
        f"total return, CAGR and Calmar are n/a for {', '.join(rows)}: its span begins at a close at or below 0 (wiped "
        "out before it, or below 0 through a short), and a return over nothing is undefined (null in --json); so is "
        "every daily return, ratio and interval after a loss of everything"
    )


def missing_figure_notes(board: Sequence[Standing]) -> list[str]:
    """Why rows show "n/a" for a figure: a span that begins at no equity (`no_start_note`), and rows with enough returns
    for a ratio, an interval or the DSR (`no_ratio_note`, `no_spread_note`, standings.bare_sharpe_note and
    undeflated_note, `baseline_dsr_note`)."""
    notes = (
        no_start_note(board),
        no_ratio_note(board),
        no_spread_note(board),
        bare_sharpe_note(board),
        undeflated_note(board),
        baseline_dsr_note(board),
    )
    return [note for note in notes if note]
