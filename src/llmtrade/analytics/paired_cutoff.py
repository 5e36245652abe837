"""`leaderboard --versus` either side of the models' knowledge cutoff (pure).

Each book's leaderboard splits its weeks at its models' knowledge cutoff (app/cutoff_periods.py: its periods, the
first ending at the split close, or a note beginning ALL_BEFORE when every week is on or before it). The pairing's
evidence is the paired weeks after the later of the two splits: a week either book's models may have read about in
training is no evidence in the pair (issue 13: an LLM that has read the future is not evidence). The whole-range
figures stay beside it, said to include those weeks. The split is the leaderboards' own, not a second one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from llmtrade.analytics import metrics
from llmtrade.analytics.records import ALL_BEFORE, Leaderboard, PairedWeeks
from llmtrade.domain.wording import counted


def after_split(board: Leaderboard, versus: Leaderboard) -> tuple[bool, date | None]:
    """(whether a cutoff split applies to the pair, the close the evidence weeks start from). (False, None): neither
    book is split nor wholly before its cutoff, so every paired week is evidence as far as they know; (True, None): a
    book is wholly on or before its cutoff, so no paired week is evidence; (True, day): the later split close."""
    if any(note.startswith(ALL_BEFORE) for b in (board, versus) for note in b.notes):
        return True, None
    splits = [b.periods[0].end for b in (board, versus) if b.periods]
    return (True, max(splits)) if splits else (False, None)


def evidence_weeks(common: Sequence[date], ends: Sequence[int], start: date | None) -> set[int]:
    """The indices (into `ends`) of the paired weeks that begin at or after `start`: a week's return runs from the
    previous week's end (the first close for the first week), so one begun before the split holds sessions a model
    may have read. None (no evidence) gives none."""
    if start is None:
        return set()
    return {k for k in range(len(ends)) if common[ends[k - 1] if k else 0] >= start}


def paired_weeks(
    weekly: Sequence[tuple[float | None, float | None]], kept: set[int], minimum: int
) -> PairedWeeks | None:
    """The paired weekly difference over the weeks of `kept` (both returns defined), as the whole range's is; None
    when none is kept."""
    if not kept:
        return None
    both = [(a, b) for k, (a, b) in enumerate(weekly) if k in kept and a is not None and b is not None]
    return PairedWeeks(
        weeks=len(both),
        weekly=metrics.paired_mean_interval([a for a, _ in both], [b for _, b in both], minimum=minimum),
        weeks_better=sum(1 for a, b in both if a > b),
        weeks_worse=sum(1 for a, b in both if a < b),
        weeks_tied=sum(1 for a, b in both if a == b),
    )


def read_weeks_note(common: Sequence[date], ends: Sequence[int], kept: set[int], start: date | None) -> str | None:
    """How many paired weeks are not evidence (on or before the later split, or every one when a book is wholly
    before its cutoff): the whole-range figures count them, the after-cutoff ones do not."""
    read = len(ends) - len(kept)
    if not read:
        return None
    which = (
        f"every one of the {counted(len(ends), 'paired week')} is"
        if read == len(ends)
        else f"{read} of the {counted(len(ends), 'paired week')} {'is' if read == 1 else 'are'}"
    )
    to = f" (to {common[ends[read - 1]]})" if read < len(ends) else ""
    said = f"{which} on or before the models' knowledge cutoff{to}, weeks they may have read about in training"
    if not kept:
        return (
            f"{said}: no paired week is after the cutoff, so there is no evidence of skill here; the whole-range "
            "differences, their intervals and the weeks better and worse are all of weeks the models may have read"
        )
    return (
        f"{said}: the differences after the cutoff (from {start}, {counted(len(kept), 'paired week')}) leave them out "
        "and are the evidence; the whole-range differences, their intervals and the weeks better and worse count "
        "them, and are no evidence of skill"
    )
