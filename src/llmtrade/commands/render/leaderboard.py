"""The leaderboard in the terminal: two tables per period (returns and risk; trading and evidence), then notes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from llmtrade.analytics.records import Interval, Leaderboard, Standing, more_shown, weeks_shown
from llmtrade.commands.render.common import counted, drawdown, money, num, pct, share
from llmtrade.console import Output

T = TypeVar("T", int, float)


def print_leaderboard(out: Output, board: Leaderboard) -> None:
    if board.nothing_yet is not None:  # no trading yet (app/books_empty.py): the state, when and what to do
        out.heading(f"leaderboard: {board.source}: nothing to rank yet")
        for line in (board.nothing_yet, *board.notes):
            out.line(line)
        return
    out.heading(
        f"leaderboard: {board.source}, as of the close of {board.end} (from the close of {board.start}: "
        # `sessions` counts daily returns: one fewer than the sessions from start to end.
        f"{counted(board.sessions, 'daily return')}, {board.sessions / 5:.1f} weeks), {counted(board.trials, 'trial')}"
    )
    if board.unfinished:  # before the tables it qualifies (a new user met it at the end, line 25 of the notes)
        out.line(f"UNFINISHED: {board.unfinished}")
    if board.verdict:  # the answer the books are read for, before the tables and notes that qualify it
        out.line(f"verdict: {board.verdict}")
    _tables(out, "whole range", board.standings)
    for period in board.periods:
        _tables(out, f"{period.label}, {period.start} to {period.end}", period.standings, closed=period.closed)
    if board.paired is not None:
        _paired(out, board)
    out.line(f"intervals: {board.bootstrap}")
    for note in board.notes:
        if note != board.unfinished:
            out.line(f"note: {note}")


def _tables(out: Output, title: str, rows: Sequence[Standing], *, closed: bool = False) -> None:
    """The two tables of `rows`; `closed`: a period no week can be added to (`Period.closed`), whose rows with too few
    weeks read "closed" for their weeks more."""
    out.table(
        f"{title}: returns and risk",
        [
            "name",
            "kind",
            "weeks (5 sessions)",
            "total",
            "CAGR",
            "vol",
            "Sharpe [95%]",
            "Sortino",
            "max DD",
            "DD sessions",
            "Calmar",
        ],
        [
            (
                s.name,
                s.kind,
                f"{s.weeks:.1f}",
                pct(s.total_return),
                pct(s.cagr),
                share(s.volatility),
                interval(s.sharpe, num),
                num(s.sortino),
                drawdown(s.max_drawdown),
                s.max_drawdown_sessions,
                num(s.calmar),
            )
            for s in rows
        ],
    )
    out.table(
        f"{title}: trading and evidence",
        [
            "name",
            "trades",
            "hit rate",
            "turnover/yr",
            "avg gross",
            "commissions",
            "slippage~",
            "vs FLAT/yr [95%]",
            "vs SPY/yr [95%]",
            "PSR",
            "DSR",
            "min weeks",
            "weeks more",
        ],
        [
            (
                s.name,
                s.trades,
                "n/a" if s.hit_rate is None else f"{s.hit_rate:.0%}",
                num(s.turnover),
                share(s.avg_gross_exposure),
                money(s.costs_usd),
                money(s.slippage_usd),
                interval(s.excess_vs_flat, pct),
                interval(s.excess_vs_spy, pct),
                share(s.psr),
                share(s.dsr),
                weeks_shown(s.weeks_needed),
                more_shown(s, closed=closed),
            )
            for s in rows
        ],
    )


def _paired(out: Output, board: Leaderboard) -> None:
    paired = board.paired
    assert paired is not None
    whole = ""
    if paired.after_cutoff_weeks == paired.weeks and paired.weeks:
        # Every paired week is after the split (the other book begins later): the whole range is the evidence, not a
        # range "including weeks the models may have read about", nor a second table of the same figures.
        whole = "; every one after the models' knowledge cutoff, the evidence"
    elif paired.after_cutoff_weeks is not None:  # split at a knowledge cutoff: the weeks after it first, the evidence
        _after_cutoff(out, board)
        whole = "; whole range, including weeks the models may have read about in training"
    out.table(
        f"{board.source} versus {paired.versus}, {paired.start} to {paired.end} "
        f"({counted(paired.weeks, 'week')} paired{whole}); each pair of figures is this / versus",
        [
            "name",
            "return",
            "versus",
            # In basis points: a difference of -0.16 bp a week printed "0.0% [0.0%, 0.0%]" (an audit), its sign and
            # whether its interval holds zero unseen.
            "weekly diff bp [95%]",
            "daily diff/yr bp [95%]",
            # Ties said as ties: "weeks better 0 of 8" read as a loss every week when every week tied.
            "weeks compared",
            # Each book's leaderboard row: its whole range, not only the paired sessions (a note says so when the
            # two ranges differ); the exposure is over the paired sessions.
            "trades (own range)",
            "commissions (own range)",
            "slippage~ (own range)",
            "avg gross (paired)",
        ],
        [
            (
                d.name,
                pct(d.return_on),
                pct(d.return_off),
                interval(d.weekly, basis_points),
                interval(d.daily, basis_points),
                f"better {d.weeks_better}, worse {d.weeks_worse}, tied {d.weeks_tied} of {d.weeks}",
                _pair(d.trades_on, d.trades_off, lambda n: "n/a" if n is None else str(n)),
                _pair(d.commissions_usd_on, d.commissions_usd_off, money),
                _pair(d.slippage_usd_on, d.slippage_usd_off, money),
                _pair(d.avg_gross_exposure_on, d.avg_gross_exposure_off, share),
            )
            for d in paired.differences
        ],
    )
    for note in paired.notes:
        out.line(f"note: {note}")


def _after_cutoff(out: Output, board: Leaderboard) -> None:
    """The paired weeks after the later of the two books' knowledge-cutoff splits (analytics/paired_cutoff.py), or
    that there is none: no interval stands for evidence where every week is one the models may have read about."""
    paired = board.paired
    assert paired is not None
    if not paired.after_cutoff_weeks:
        out.line(
            f"{board.source} versus {paired.versus} after the models' knowledge cutoff: no paired week, so no evidence "
            "of skill (every paired week is on or before a book's models' cutoff); the whole range follows"
        )
        return
    out.table(
        f"{board.source} versus {paired.versus} after the models' knowledge cutoff (from the close of "
        f"{paired.after_cutoff_from}): {counted(paired.after_cutoff_weeks, 'paired week')}, the evidence",
        ["name", "weekly diff bp [95%]", "weeks compared"],
        [
            (
                d.name,
                interval(d.after_cutoff.weekly, basis_points),
                f"better {d.after_cutoff.weeks_better}, worse {d.after_cutoff.weeks_worse}, "
                f"tied {d.after_cutoff.weeks_tied} of {d.after_cutoff.weeks}",
            )
            for d in paired.differences
            if d.after_cutoff is not None
        ],
    )


def _pair(on: T | None, off: T | None, show: Callable[[T | None], str]) -> str:
    return f"{show(on)} / {show(off)}"


def basis_points(value: float | None) -> str:
    """A small difference of returns in basis points (1 bp = 0.01%), signed, with the digits its sign needs."""
    if value is None:
        return "n/a"
    bp = value * 10_000
    text = f"{bp:+,.1f}" if abs(bp) >= 10 else f"{bp:+.2f}"
    return "0.00" if float(text.replace(",", "")) == 0 else text


def interval(value: Interval, show: Callable[[float | None], str]) -> str:
    """`estimate [low, high]`, with n/a for what is missing; `show` formats one number."""
    if value.estimate is None:
        return "n/a"
    if value.low is None or value.high is None:
        return f"{show(value.estimate)} [n/a]"
    return f"{show(value.estimate)} [{show(value.low)}, {show(value.high)}]"
