"""`leaderboard --versus` where one book is split at its models' knowledge cutoff but every paired week is after the
split (the other book begins later): the whole-range table was titled "including weeks the models may have read about
in training" though it held none, under a headline table of the very same figures, telling a reader the whole range
was tainted when all of it is evidence."""

from __future__ import annotations

import io

from llmtrade.analytics.paired import pairing, week_ends
from llmtrade.analytics.records import Leaderboard
from llmtrade.commands.render.leaderboard import print_leaderboard
from llmtrade.console import Output
from tests.test_versus_after_cutoff import OFF_DAILY, ON_DAILY, SESSIONS, _board


def _from(board: Leaderboard, k: int) -> Leaderboard:
    """`board` begun at SESSIONS[k]: a book of a later range."""
    [curve] = board.curves
    later = curve.model_copy(
        update={"sessions": curve.sessions[k:], "equity": curve.equity[k:], "gross_exposure": curve.gross_exposure[k:]}
    )
    return board.model_copy(update={"start": SESSIONS[k], "sessions": len(SESSIONS) - 1 - k, "curves": (later,)})


def test_every_paired_week_after_the_split_is_not_said_to_include_weeks_read_about() -> None:
    ends = week_ends(SESSIONS)
    board = _board("on", ON_DAILY, split=SESSIONS[ends[2]])
    paired = pairing(board, _from(_board("off", OFF_DAILY), ends[4]))
    assert paired.after_cutoff_weeks == paired.weeks == 9
    assert not any("on or before the models' knowledge cutoff" in note for note in paired.notes)
    text = io.StringIO()
    print_leaderboard(Output(stream=text, force_plain=True), board.model_copy(update={"paired": paired}))
    said = text.getvalue()
    assert "including weeks the models may have read about" not in said, said
    assert "every one after the models' knowledge cutoff" in said


def test_the_evidence_is_said_to_start_where_the_paired_weeks_do_not_at_a_split_before_them() -> None:
    """The headline read "from the close of" the book's split, a date before the pairing began (the trial's: from
    2026-02-24 for a pairing from 2026-03-10)."""
    ends = week_ends(SESSIONS)
    board = _board("on", ON_DAILY, split=SESSIONS[ends[2]])
    paired = pairing(board, _from(_board("off", OFF_DAILY), ends[4]))
    assert paired.after_cutoff_from == paired.start == SESSIONS[ends[4]]


def test_no_paired_week_after_the_split_has_no_evidence_start() -> None:
    ends = week_ends(SESSIONS)
    board = _board("on", ON_DAILY, split=SESSIONS[-1])
    paired = pairing(board, _board("off", OFF_DAILY))
    assert paired.after_cutoff_weeks == 0 and paired.after_cutoff_from is None
    assert ends  # the books hold weeks: none of them after the split
