"""Two books of the same accounts over the same weeks, compared week by week (pure).

`leaderboard --backtest ON --versus OFF`: each account's weekly returns in ON minus its weekly returns in OFF.
A week's return runs from the close of the previous week's last session (the range's first close for the first
week) to the close of its own last session; weeks are New York weeks (domain/weeks.py). The differences are
paired by week, so what both books share (the market, the schedule) cancels and what differs (e.g. memory on or
off) is left. An account wiped out (equity 0) in either book has no return in the weeks after: a return on
nothing is undefined, not 0 (counting it 0 paired a dead account's "flat" weeks against the other book's gains
and losses as if it had chosen to stand aside). Those weeks are left out of its pairing, and a note names the
book, the account, the day and the weeks left. Intervals: metrics.py's stationary bootstrap over the paired weeks
(`paired_mean_interval`) and, for the daily returns, `excess_interval` (none when either curve reached zero).
Beside them, each book's trades, costs and average gross exposure (DESIGN.md: every comparison of accounts carries
its uncertainty, trade count and costs).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from llmtrade.analytics import metrics
from llmtrade.analytics.paired_cutoff import after_split, evidence_weeks, paired_weeks, read_weeks_note
from llmtrade.analytics.records import Curve, Leaderboard, PairedDifference, Pairing, Standing
from llmtrade.domain.weeks import week_id_for
from llmtrade.domain.wording import counted, named_first
from llmtrade.errors import UsageError

# A percentile interval from fewer paired weeks than this says more about the resampling than the books.
MIN_WEEKS_FOR_INTERVAL = 8


def week_ends(sessions: Sequence[date]) -> list[int]:
    """The index of each week's last session among `sessions[1:]`, oldest first (sessions[0] is the start)."""
    ends: dict[date, int] = {}
    for i in range(1, len(sessions)):
        ends[week_id_for(sessions[i])] = i
    return list(ends.values())


def weekly_returns(equity: Sequence[float], ends: Sequence[int]) -> list[float | None]:
    """Each week's return (a fraction) from the previous week's end (index 0 for the first) to its own end (`ends`:
    indices into `equity`, `week_ends`). None for every week after the first close at or below 0 (a wipe-out: no
    return is defined after it, even where a short on a price that fell back brings the equity above 0 again, as a
    leaderboard row has no daily return after it) and for a first week that starts there. The week of the wipe-out
    itself is its loss to that close: -100%, or beyond through a short."""
    wiped = next((i for i, value in enumerate(equity) if value <= 0), None)
    returns: list[float | None] = []
    start = 0
    for end in ends:
        if wiped is not None and wiped <= start:
            returns.append(None)
        else:
            to = end if wiped is None or wiped > end else wiped  # the wipe-out's week: to its close, not the week's
            returns.append(equity[to] / equity[start] - 1)
        start = end
    return returns


def _wiped(curve: Sequence[float], sessions: Sequence[date]) -> date | None:
    """The first session at which `curve` (equity on `sessions`) is at or below zero, or None."""
    return next((day for day, value in zip(sessions, curve, strict=True) if value <= 0), None)


def _from_nothing(account: str, books: str, first: date, equity: float) -> str:
    """Why `account`'s return in `books` is n/a: the pairing's first close (`first`, two books of other ranges) found it
    at `equity`, at or below 0 (wiped out before it, or below through a short); its return read 0.0% before."""
    return (
        f"{account} in {books} begins the paired sessions ({first}) at {equity:,.2f}: a return over nothing is "
        "undefined, so its return over them is n/a (null in --json)"
    )


def _on(curve: Curve, sessions: Sequence[date]) -> list[float]:
    by_day = dict(zip(curve.sessions, curve.equity, strict=True))
    return [by_day[day] for day in sessions]


def _gross(curve: Curve, sessions: Sequence[date]) -> float | None:
    """The curve's average gross exposure over `sessions` after the first (the start's close is the base, as a
    leaderboard row's `avg_gross_exposure`)."""
    by_day = dict(zip(curve.sessions, curve.gross_exposure, strict=True))
    # None at a close where positions are held on no equity (a fraction of nothing): left out, as a row's average.
    after = [g for g in (by_day[day] for day in sessions[1:]) if g is not None]
    return sum(after) / len(after) if after else None


def _activity(row: Standing | None, curve: Curve, sessions: Sequence[date], side: str) -> dict[str, float | int | None]:
    """One book's trades, costs (its leaderboard row) and exposure (over the paired sessions), `side` "on" or "off"."""
    return {
        f"trades_{side}": None if row is None else row.trades,
        f"commissions_usd_{side}": None if row is None else row.costs_usd,
        f"slippage_usd_{side}": None if row is None else row.slippage_usd,
        f"avg_gross_exposure_{side}": _gross(curve, sessions),
    }


def _daily(equity: Sequence[float]) -> list[float]:
    """Daily returns; none for a curve that reached zero (the daily interval is then left empty)."""
    try:
        return metrics.daily_returns(equity)
    except ValueError:
        return []


# SPY's baseline holds whole shares and the cash left over, so the same closes give it daily returns a little apart
# in two books whose cash bought another count (r x the shares' weight, over 0.9 of the equity): apart is past a
# tenth of the return (and the cents the curves are rounded to).
_SAME_SHARE = 0.1
_SAME = 1e-6
SYNTHETIC = "synthetic"  # PriceBasis's source of the seeded synthetic market


def _prices_note(board: Leaderboard, versus: Leaderboard, common: Sequence[date]) -> str | None:
    """A note when the two books were valued on different prices, so a pairing meant to cancel the market does not: by
    their price sources when one is the synthetic market and the other is not, else by SPY's daily returns over the
    paired sessions (two CSV folders; a provider's prices beside a folder's are told apart only where they differ);
    first of the notes, as it says what every difference is worth."""
    said = ""
    kinds = [set(b.prices.sources) if b.prices is not None else None for b in (board, versus)]
    if kinds[0] is not None and kinds[1] is not None and kinds[0] != kinds[1] and SYNTHETIC in kinds[0] ^ kinds[1]:
        said = f"{board.source}: {', '.join(sorted(kinds[0]))}; {versus.source}: {', '.join(sorted(kinds[1]))}"
    else:
        spy = [next((c for c in b.curves if c.kind == "baseline" and c.name == "SPY"), None) for b in (board, versus)]
        if spy[0] is not None and spy[1] is not None and len(common) > 2:
            # From the second paired close: the later book bought its SPY at the first (its slippage is in that
            # session's return), where the earlier one held it already.
            mine, theirs = _daily(_on(spy[0], common[1:])), _daily(_on(spy[1], common[1:]))
            apart = [
                common[i + 2]
                for i, (a, b) in enumerate(zip(mine, theirs, strict=False))
                if abs(a - b) > _SAME + _SAME_SHARE * max(abs(a), abs(b))
            ]
            if apart and len(mine) == len(theirs):
                said = (
                    f"SPY's close-to-close return differs on {len(apart)} of {len(mine)} paired sessions, "
                    f"first {apart[0]}"
                )
    if (closes := _closes_said(board, versus, common, kinds)) is not None:
        said = f"{said}; {closes}" if said else closes
    if not said:
        return None
    return (
        f"the two books were valued on different prices ({said}): each difference below is as much the two markets' "
        "as what changed between the runs; compare backtests run on the same prices (the same --csv folder, or both "
        "on the synthetic market)"
    )


# How far apart two closes of one session may be and still be the same price: half a cent (a file rounded to the cent
# beside one with more digits is no other market).
_SAME_CLOSE = 0.005


def _closes_said(
    board: Leaderboard, versus: Leaderboard, common: Sequence[date], kinds: Sequence[set[str] | None]
) -> str | None:
    """Which symbols (SPY aside: its returns are judged above) the two books valued at other closes on the paired
    sessions both priced them on (`Leaderboard.closes`): two CSV folders whose SPY.csv is the same and whose other
    files are not (another vendor's GLD.csv, a re-export) said nothing, and each difference was partly the two files'.
    With both books on CSV folders alone, the files are named. None when every shared symbol's closes are alike."""
    apart: dict[str, list[date]] = {}
    priced: dict[str, int] = {}
    for symbol in sorted(set(board.closes) & set(versus.closes) - {"SPY"}):
        mine, theirs = board.closes[symbol], versus.closes[symbol]
        both = [day for day in common if day in mine and day in theirs]
        priced[symbol] = len(both)
        if differ := [day for day in both if abs(mine[day] - theirs[day]) > _SAME_CLOSE]:
            apart[symbol] = differ
    if not apart:
        return None
    first = min(apart, key=lambda s: (apart[s][0], s))
    names = list(apart)
    listed = named_first(names, 5)
    whose = f"{first}'s closes" if len(names) == 1 else f"the closes of {listed}"
    said = (
        f"{whose} differ on {len(apart[first])} of {priced[first]} paired sessions"
        + (f" ({first}'s)" if len(apart) > 1 else "")
        + f", first {apart[first][0]}"
    )
    if all(k == {"csv"} for k in kinds):
        said += f": the price files differ, {named_first([f'{s}.csv' for s in names], 5)}"
    return said


def pairing(board: Leaderboard, versus: Leaderboard) -> Pairing:
    """Every account curve of `board` that `versus` also has, over the sessions both cover. Raises UsageError (exit 2)
    when the two books have no week in common."""
    other = {c.name: c for c in versus.curves if c.kind == "account"}
    mine = [c for c in board.curves if c.kind == "account" and c.name in other]
    notes: list[str] = []
    common = sorted(
        set(board.curves[0].sessions if board.curves else ()) & set(versus.curves[0].sessions if versus.curves else ())
    )
    if board.start != versus.start or board.end != versus.end:
        notes.append(
            f"the two books cover different sessions ({board.start}..{board.end} and {versus.start}..{versus.end}); "
            "only the sessions both cover are paired (and the average exposure is over them), while the trades and "
            "costs are each book's over its own range"
        )
    rows_on = {s.name: s for s in board.standings}
    rows_off = {s.name: s for s in versus.standings}
    missing = sorted({c.name for c in board.curves if c.kind == "account"} ^ set(other))
    if missing:
        notes.append(f"accounts in only one of the books are left out: {', '.join(missing)}")
    ends = week_ends(common)
    if not ends:
        # No week to pair (no session in common, or only the close one ends on and the other starts from): every row
        # read "return 0.0% / 0.0%" under a heading of "0 weeks paired", as if both books had earned nothing.
        # Two books of consecutive ranges share the close one ends on and the other starts from: the ranges named
        # then overlap on that day (2024-01-02..2024-04-02 and 2024-04-02..2024-07-02), said beside "no week in
        # common" as if it were wrong, unless the message says why one close pairs nothing.
        touch = (
            f" (they share only the close of {common[0]}, on which one ends and the other starts: a week's return "
            "needs two closes)"
            if len(common) == 1
            else ""
        )
        raise UsageError(
            f"--versus: {board.source} ({board.start}..{board.end}) and {versus.source} ({versus.start}..{versus.end}) "
            f"have no week in common{touch}, so there is nothing to pair: compare two backtests of the same weeks (run "
            "the other over this one's range under a new --name)"
        )
    differences = []
    same: list[str] = []  # accounts whose every paired week returned the same in both books
    # The weeks after the later of the two books' knowledge-cutoff splits: the evidence (analytics/paired_cutoff.py).
    split, start = after_split(board, versus)
    kept = evidence_weeks(common, ends, start) if split else set(range(len(ends)))
    # Where the evidence begins in the pairing: the split close, or the pairing's own start when the split is before it
    # (the headline read "from the close of" a day before the paired weeks began).
    begins = common[ends[min(kept) - 1] if min(kept) else 0] if split and kept else None
    for curve in mine:
        on, off = _on(curve, common), _on(other[curve.name], common)
        weekly = list(zip(weekly_returns(on, ends), weekly_returns(off, ends), strict=True))
        both = [(a, b) for a, b in weekly if a is not None and b is not None]
        weekly_on, weekly_off = [a for a, _ in both], [b for _, b in both]
        for books, values in ((board.source, on), (versus.source, off)):
            day = _wiped(values, common)
            if day is not None:
                notes.append(
                    f"{curve.name} was wiped out (equity 0) in {books} on {day}: its weekly returns after are "
                    f"undefined, so {len(both)} of {counted(len(ends), 'week')} are paired"
                )
        for books, values in ((board.source, on), (versus.source, off)):
            if values and values[0] <= 0:
                notes.append(_from_nothing(curve.name, books, common[0], values[0]))
        if both and all(a == b for a, b in both):
            same.append(curve.name)
        daily_on, daily_off = _daily(on), _daily(off)
        differences.append(
            PairedDifference(
                name=curve.name,
                weeks=len(both),
                return_on=metrics.total_return(on),  # None from a first close at or below 0: `_from_nothing`
                return_off=metrics.total_return(off),
                weekly=metrics.paired_mean_interval(weekly_on, weekly_off, minimum=MIN_WEEKS_FOR_INTERVAL),
                # Annualised: none under MIN_RETURNS_FOR_RATIO daily returns, as a leaderboard row's (standings.py).
                daily=(
                    metrics.excess_interval(daily_on, daily_off)
                    if len(daily_on) == len(daily_off) and len(daily_on) >= metrics.MIN_RETURNS_FOR_RATIO
                    else metrics.Interval(estimate=None, low=None, high=None)
                ),
                weeks_better=sum(1 for a, b in both if a > b),
                weeks_worse=sum(1 for a, b in both if a < b),
                weeks_tied=sum(1 for a, b in both if a == b),
                **_activity(rows_on.get(curve.name), curve, common, "on"),
                **_activity(rows_off.get(curve.name), other[curve.name], common, "off"),
                after_cutoff=paired_weeks(weekly, kept, MIN_WEEKS_FOR_INTERVAL) if split else None,
            )
        )
    other_prices = _prices_note(board, versus, common)
    if other_prices:
        notes.insert(0, other_prices)
    if same:
        # Else each reads "0.00 [n/a]" and "tied N of N" weeks with nothing said of why (README's memory on/off
        # offline: the rules' answers read no memory, and the two books are the same).
        notes.append(
            f"{', '.join(same)}: the same return in both books every paired week (a difference of 0, with no spread "
            "for an interval): what differs between the books changed nothing these accounts earned"
        )
    if differences and max(len(common) - 1, 0) < metrics.MIN_RETURNS_FOR_RATIO:
        notes.append(
            f"{counted(max(len(common) - 1, 0), 'paired daily return')}: no daily difference a year under "
            f"{metrics.MIN_RETURNS_FOR_RATIO}, as no annualised figure of a leaderboard row (a few days times 252 is "
            "noise)"
        )
    read = read_weeks_note(common, ends, kept, begins)
    if read:
        notes.append(read)
    if len(ends) < MIN_WEEKS_FOR_INTERVAL:
        notes.append(f"{counted(len(ends), 'paired week')}: no weekly interval under {MIN_WEEKS_FOR_INTERVAL}")
    elif split and 0 < len(kept) < MIN_WEEKS_FOR_INTERVAL:
        # The headline (the evidence) is n/a where the whole range below it has an interval: said why, as above.
        notes.append(
            f"{counted(len(kept), 'paired week')} after the models' knowledge cutoff: no weekly interval under "
            f"{MIN_WEEKS_FOR_INTERVAL} for them (the whole range's is over all {len(ends)})"
        )
    return Pairing(
        versus=versus.source,
        start=common[0] if common else board.start,
        end=common[-1] if common else board.end,
        weeks=len(ends),
        differences=tuple(differences),
        notes=tuple(notes),
        after_cutoff_from=begins,
        after_cutoff_weeks=len(kept) if split else None,
    )
