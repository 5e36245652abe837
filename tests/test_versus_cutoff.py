"""`leaderboard --versus` over weeks on or before the models' knowledge cutoff: each book's leaderboard splits them off
as no evidence (app/cutoff_periods.py), and the pairing of two books says how many of its weeks are such (pure)."""

from __future__ import annotations

from llmtrade.analytics.paired import pairing
from llmtrade.analytics.records import ALL_BEFORE, Leaderboard, Period
from tests.test_analytics_paired import SESSIONS, _board

N = len(SESSIONS)
ON = [100.0 * 1.001**i for i in range(N)]
OFF = [100.0 * 0.999**i for i in range(N)]


def _split(board: Leaderboard, at: int) -> Leaderboard:
    """`board` split at a knowledge cutoff whose last week read ends at SESSIONS[at]."""
    periods = (
        Period(label="before knowledge cutoff 2026-02-09 (m)", start=SESSIONS[0], end=SESSIONS[at], standings=()),
        Period(label="after knowledge cutoff 2026-02-09 (m)", start=SESSIONS[at], end=SESSIONS[-1], standings=()),
    )
    return board.model_copy(update={"periods": periods})


def test_paired_weeks_the_models_may_have_read_are_counted_and_said() -> None:
    """Memory on versus off over four weeks, the first on or before the models' cutoff: the weekly difference, its
    interval and the weeks better counted that week as evidence, and the pairing said nothing of it."""
    on, off = _split(_board("memory-on", ON), 5), _split(_board("memory-off", OFF), 5)
    paired = pairing(on, off)
    [note] = [n for n in paired.notes if "knowledge cutoff" in n]
    assert note.startswith("1 of the 4 paired weeks is on or before the models' knowledge cutoff (to ")
    assert "no evidence of skill" in note


def test_books_wholly_before_the_cutoff_say_every_paired_week_is() -> None:
    before = _board("memory-off", OFF).model_copy(update={"notes": (f"{ALL_BEFORE} (2026-06-30, m): ...",)})
    paired = pairing(_board("memory-on", ON), before)
    [note] = [n for n in paired.notes if "knowledge cutoff" in n]
    assert note.startswith("every one of the 4 paired weeks is on or before the models' knowledge cutoff")
    assert not [n for n in pairing(_board("a", ON), _board("b", OFF)).notes if "knowledge cutoff" in n]
