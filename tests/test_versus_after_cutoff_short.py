"""`leaderboard --versus` with fewer than 8 paired weeks after the later knowledge-cutoff split: the headline's weekly
interval is n/a (a percentile interval from so few weeks says more about the resampling than the books), and a note
says why, as one does for a whole range that short. The after-cutoff table showed "[n/a]" beside its evidence with
no word of why, while the whole range's intervals below it were given."""

from __future__ import annotations

import io

from llmtrade.analytics.paired import MIN_WEEKS_FOR_INTERVAL, pairing, week_ends
from llmtrade.commands.render.leaderboard import print_leaderboard
from llmtrade.console import Output
from tests.test_versus_after_cutoff import OFF_DAILY, ON_DAILY, SESSIONS, _board


def test_a_short_after_cutoff_headline_says_why_it_has_no_interval() -> None:
    ends = week_ends(SESSIONS)
    split = SESSIONS[ends[-4]]  # a week's last close: three paired weeks after it
    board = _board("on", ON_DAILY, split=split)
    paired = pairing(board, _board("off", OFF_DAILY))
    assert paired.weeks >= MIN_WEEKS_FOR_INTERVAL and paired.after_cutoff_weeks == 3
    [difference] = paired.differences
    assert difference.after_cutoff is not None and difference.after_cutoff.weekly.low is None
    assert difference.weekly.low is not None  # the whole range has its interval
    [note] = [n for n in paired.notes if f"no weekly interval under {MIN_WEEKS_FOR_INTERVAL}" in n]
    assert "3 paired weeks after the models' knowledge cutoff" in note, note
    text = io.StringIO()
    print_leaderboard(Output(stream=text, force_plain=True), board.model_copy(update={"paired": paired}))
    assert f"note: {note}" in text.getvalue()
