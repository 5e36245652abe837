"""A sweep's rows on their evidence: each run's weeks after its models' knowledge cutoff (issue 13: an LLM that has
read the future is not evidence).

Each run's own leaderboard splits its weeks at its models' knowledge cutoff (app/cutoff_periods.py): its periods, the
second of which is the weeks after it, or a note beginning ALL_BEFORE when every week is on or before it. The sweep
reads that split, not a second one of its own: a split run's row is its after-cutoff period's standing (the DSR
deflated for the sweep over those sessions' returns), a run wholly before its cutoff has no evidence row, and any other
run's evidence is its whole range (no cutoff splits it: wholly after it, synthetic prices, offline, no cutoff given).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Literal

from llmtrade.analytics.records import ALL_BEFORE, Curve, Leaderboard, Standing
from llmtrade.domain.wording import counted, named_first

# What a row's evidence is: the whole range (no split applies), the weeks after its models' cutoff, or none at all.
Span = Literal["whole_range", "after_cutoff", "none"]


def span_of(board: Leaderboard) -> tuple[Span, date | None]:
    """Which of a run's weeks are its evidence, as its leaderboard split them, and the close they start from."""
    if len(board.periods) >= 2:
        return "after_cutoff", board.periods[-1].start
    if any(note.startswith(ALL_BEFORE) for note in board.notes):
        return "none", None
    return "whole_range", None


def evidence_equity(curve: Curve, start: date | None, span: Span) -> list[float] | None:
    """The curve's closes over its evidence (from `start`'s close on, for a split run); None for no evidence."""
    if span == "none":
        return None
    if span == "whole_range" or start is None:
        return list(curve.equity)
    return list(curve.equity[curve.sessions.index(start) :]) if start in curve.sessions else None


def evidence_standing(board: Leaderboard, name: str, span: Span, whole: Standing) -> Standing | None:
    """The account's row over its evidence: its after-cutoff period's (its run's leaderboard made it, trades counted
    where they opened), its whole range where no split applies; None for none."""
    if span == "none":
        return None
    if span == "whole_range":
        return whole
    return next((s for s in board.periods[-1].standings if s.name == name), None)


def ranked_note(split: Sequence[str], before: Sequence[str], runs: int) -> str | None:
    """What the table ranks when a run's models' cutoff falls in or after its range: `split` ("label (from D)"), the
    runs ranked on their weeks after it; `before` (labels), those wholly on or before it, ranked last with no
    evidence. None when no run is either (every row its whole range, as before)."""
    if not split and not before:
        return None
    parts = [
        "the table ranks each run on its weeks after its models' knowledge cutoff, the evidence (earlier weeks are "
        "ones the models may have read about in training)"
    ]
    if split:
        parts.append(
            f"{len(split)} of the {counted(runs, 'run')} {'is' if len(split) == 1 else 'are'} split at it, "
            f"their rows' figures and DSR over the sessions after it alone: {named_first(split, 8, sep='; ')}"
        )
    if before:
        one = len(before) == 1
        parts.append(
            f"{len(before)} {'run is' if one else 'runs are'} wholly on or before {'its' if one else 'their'} models' "
            f"knowledge cutoff, no evidence, ranked last: {named_first(before, 8, sep='; ')}"
        )
    parts.append(
        "each row's whole range is kept (`standing` in --json, the whole-ranges table), and each run's leaderboard "
        "shows both periods (llmtrade leaderboard --backtest RUN)"
    )
    return "; ".join(parts)
