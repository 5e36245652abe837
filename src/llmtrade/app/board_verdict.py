"""The leaderboard's verdict: one line, shown first, answering the question llmtrade exists for -- does any account
beat doing nothing (FLAT)? -- from the intervals of the weeks that are evidence.

The answer was there, as the last of a dozen notes ("no account is distinguishable from FLAT yet: ..."), or, when an
interval did exclude 0, only in the table, where a reader had to find it among nine rows and the deflated Sharpe
beside it. The verdict says it first, on the evidence: the period after the models' knowledge cutoff when the books
are split at it, none when every week is on or before it, else the whole range. An account is told apart from FLAT
when its Sharpe ratio's 95% interval or its excess return over FLAT's excludes 0 (board_notes.py `told_apart`);
one told better is said with its deflated Sharpe ratio (Bailey & Lopez de Prado 2014) when that is under 95%: the best
of several accounts compared clears an interval by luck more often than one account alone.
"""

from __future__ import annotations

from collections.abc import Sequence

from llmtrade.analytics import metrics
from llmtrade.analytics.records import ALL_BEFORE, Interval, Period, Standing
from llmtrade.app.board_notes import told_apart
from llmtrade.domain.wording import counted

_SIGNIFICANT = 0.95  # the DSR a best-of-N result is significant at, as the PSR's own 95%


def verdict(standings: Sequence[Standing], periods: Sequence[Period], notes: Sequence[str], trials: int) -> str:
    """One line: which accounts are told better or worse than FLAT, over which weeks, or that none is and why.
    `standings` the whole range's rows, `periods` the cutoff split's (the last is after the cutoff), `notes` the
    leaderboard's (one beginning ALL_BEFORE: no week is evidence), `trials` the deflated Sharpe's N."""
    if any(note.startswith(ALL_BEFORE) for note in notes):
        return (
            "no evidence either way: every week is on or before the models' knowledge cutoff, weeks they may have "
            "read about in training"
        )
    rows, scope = (
        (periods[-1].standings, f"after the knowledge cutoff (from {periods[-1].start})")
        if periods
        else (
            standings,
            "over the whole range",
        )
    )
    accounts = [s for s in rows if s.kind == "account" and s.sharpe.low is not None]
    if not accounts:
        most = max((s.sessions for s in rows if s.kind == "account"), default=0)
        return (
            f"too early to tell any account from FLAT {scope}: {counted(most, 'daily return')}, under the "
            f"{metrics.MIN_RETURNS_FOR_INTERVAL} an interval needs"
            if most < metrics.MIN_RETURNS_FOR_INTERVAL
            else f"no account has an interval to tell it from FLAT {scope} (their returns never varied)"
        )
    told = [s for s in accounts if told_apart(s)]
    if not told:
        return (
            f"no account is told apart from FLAT {scope}: every account's 95% intervals for its Sharpe ratio and its "
            f"excess return over FLAT contain 0 ({counted(accounts[0].sessions, 'daily return')})"
        )
    said = "; ".join(_told(s, trials) for s in told)
    others = len(accounts) - len(told)
    rest = f"; {counted(others, 'other account')} not told apart" if others else ""
    return f"{said} {scope}{rest}"


def _told(s: Standing, trials: int) -> str:
    better = (s.excess_vs_flat.estimate if s.excess_vs_flat.estimate is not None else s.sharpe.estimate or 0.0) > 0
    figures = f"Sharpe {_ratio(s.sharpe)}, vs FLAT {_rate(s.excess_vs_flat)}"
    line = f"{s.name} told {'better' if better else 'worse'} than FLAT ({figures})"
    if better and trials > 1 and (s.dsr is None or s.dsr < _SIGNIFICANT):
        dsr = "n/a" if s.dsr is None else f"{s.dsr:.0%}"
        line += f", but not once the {trials} accounts compared are allowed for (deflated Sharpe {dsr}, under 95%)"
    return line


def _ratio(i: Interval) -> str:
    return f"{i.estimate:.2f} [{i.low:.2f}, {i.high:.2f}]" if i.estimate is not None and i.low is not None else "n/a"


def _rate(i: Interval) -> str:
    if i.estimate is None:
        return "n/a"
    if i.low is None or i.high is None:
        return f"{i.estimate:+.1%}/yr"
    return f"{i.estimate:+.1%}/yr [{i.low:+.1%}, {i.high:+.1%}]"
