"""When each configured account entered the books, for the leaderboard's rows of accounts added after the start.

A cron user adds a PM to accounts.yaml after some weeks. Valued from the books' first session, its row counted the
weeks before it existed as weeks of cash: a 0% return, an excess over SPY with an interval, and weeks of data it
never had. An account enters the books at its first valuation (AccountValued: every weekly run values every
account at the week's start) or fill, whichever is first; its row covers the sessions from the last close before
that, against FLAT and SPY over the same sessions.

Books without any valuation (written before valuations were recorded, or by hand) say nothing of when an account
began: every account is taken from the start, as before.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date

from llmtrade.analytics import curves
from llmtrade.analytics.curves import FLAT
from llmtrade.analytics.records import Period, Standing
from llmtrade.analytics.standings import standings
from llmtrade.domain.checkpoints import AccountValued
from llmtrade.domain.committee import DecisionMade, PitchSubmitted
from llmtrade.domain.trading import Fill
from llmtrade.domain.wording import counted
from llmtrade.market.calendar import TradingCalendar
from llmtrade.storage.event_store import EventStore

_VALUED = AccountValued.event_type()


def late_starts(
    events: EventStore,
    calendar: TradingCalendar,
    accounts: Iterable[str],
    fills: Sequence[Fill],
    sessions: Sequence[date],
) -> dict[str, int]:
    """The index in `sessions` each account's row starts at, for the accounts that entered the books after the first
    session (an account the books have not seen yet: the last session, so its row holds no return). Empty for books
    without valuations."""
    if not events.read(type=_VALUED, limit=1):
        return {}
    starts: dict[str, int] = {}
    last = len(sessions) - 1
    for account in accounts:
        first = events.read(type=_VALUED, account_id=account, limit=1)
        seen = [e.occurred_at for e in first] + [f.filled_at for f in fills if f.account_id == account]
        if not seen:
            starts[account] = last
            continue
        entered = calendar.last_completed_session(min(seen))
        index = sum(1 for day in sessions if entered is not None and day <= entered) - 1
        if index > 0:
            starts[account] = min(index, last)
    return starts


def span_note(account: str, sessions: Sequence[date], start: int, *, periods: bool = False) -> str:
    """What a late account's row covers, said where the reader sees the whole range's dates; `periods`: the range is
    split at a knowledge cutoff, whose periods' rows of it are cut the same way."""
    split = ", and so is its row in each knowledge-cutoff period (none before it entered)" if periods else ""
    if start >= len(sessions) - 1:
        return (
            f"{account} is in accounts.yaml but no run has valued it yet: its row has no returns until a weekly run "
            "does"
        )
    returns = len(sessions) - 1 - start
    return (
        f"{account} entered the books after they began: its row runs from the close of {sessions[start]} "
        f"({counted(returns, 'daily return')}), against FLAT and SPY over the same sessions{split}; its curve is its "
        "starting cash before that"
    )


def removed_note(traded: set[str], accounts: set[str]) -> str | None:
    """A note for the accounts that traded in these books (`traded`) but are no longer in accounts.yaml (`accounts`):
    not ranked, still trials (app/leaderboard.py counts them)."""
    gone = sorted(traded - accounts)
    if not gone:
        return None
    return (
        f"{', '.join(gone)} traded in these books but {'is' if len(gone) == 1 else 'are'} not in accounts.yaml: "
        "left out of the rows (put it back to rank it), still counted in the trials"
    )


def models_notes(events: EventStore) -> list[str]:
    """A note for each account whose trades more than one model decided, week by week: a cron user swaps a PM's model
    in models.yaml for a newer one and keeps its account, so the account's row ranks both models' weeks together
    under one name, and nothing said so (a trial swapped acct_1's openai/gpt-5.1 after two weeks)."""
    weeks: dict[str, dict[str, list[date]]] = {}  # account -> model -> the weeks it pitched or decided for it
    for event in events.read(type=[PitchSubmitted.event_type(), DecisionMade.event_type()]):
        if event.week_id is None:
            continue
        if event.type == PitchSubmitted.event_type():
            chosen = events.payload(PitchSubmitted, event).pitch
        else:
            chosen = events.payload(DecisionMade, event).decision
        weeks.setdefault(chosen.account_id, {}).setdefault(chosen.model, []).append(event.week_id)
    notes = []
    for account, models in sorted(weeks.items()):
        if len(models) < 2:
            continue
        spans = sorted((min(days), max(days), model) for model, days in models.items())
        said = ", ".join(
            f"{model} (week {first})" if first == last else f"{model} (weeks {first} to {last})"
            for first, last, model in spans
        )
        notes.append(
            f"{account} traded for {len(models)} models: {said}; its row ranks them together (a model given an "
            "account of its own in accounts.yaml is ranked alone)"
        )
    return notes


def late_rows(
    board: tuple[Standing, ...],
    tracks: Sequence[curves.Track],
    late: Mapping[str, int],
    trials: int,
    trial_names: set[str],
    *,
    first: int = 0,
    last: int | None = None,
    by_opening: bool = False,
) -> tuple[Standing, ...]:
    """`board`, the rows over the tracks' points `first` to `last` (the whole curve by default; a knowledge-cutoff
    period's part), with the row of each account that entered the books after `first` (`late`: its first point)
    taken over its own part of them: every track cut there, so FLAT, SPY and the other trials (the deflated Sharpe's
    variance) are compared over the same sessions as it. An account that entered at or after `last` has a row of no
    return: the window is from before it existed. `by_opening`: trades counted in the span they opened in (a
    knowledge-cutoff period's, curves.Track.between)."""
    end = len(tracks[0].curve.sessions) - 1 if last is None else last
    rows = {s.name: s for s in board}
    for start in sorted({s for s in late.values() if s > first}):
        at = min(start, end)
        cut = standings(
            [t.between(at, end, by_opening=by_opening) for t in tracks],
            trials=trials,
            trial_names=trial_names,
            starts=later(late, at),
        )
        rows |= {s.name: s for s in cut if late.get(s.name) == start}
    return tuple(rows[s.name] for s in board)


def later(late: Mapping[str, int], first: int) -> dict[str, int]:
    """`late`'s starts within a span of the curves from point `first`: those after it, counted from it."""
    return {name: start - first for name, start in late.items() if start > first}


def short_spans(
    returns: int, board: Sequence[Standing], late: Mapping[str, int], periods: Sequence[Period]
) -> list[tuple[str, int]]:
    """(what, daily returns) of every stretch a row is computed over: the whole range, each late account's own row,
    each knowledge-cutoff period (its FLAT row's) and the late rows in it, for `short_note`."""
    spans = [("the whole range", returns)]
    spans += [(f"{s.name}'s row", s.sessions) for s in board if s.name in late]
    for period in periods:
        label = period.label.split(" (")[0]  # "before knowledge cutoff 2024-06-01", without the models named
        whole = next((s.sessions for s in period.standings if s.name == FLAT), None)
        spans += [(label, whole)] if whole is not None else []
        own = [s for s in period.standings if s.name in late and s.sessions != whole]
        spans += [(f"{s.name}'s row {label}", s.sessions) for s in own]
    return spans
