"""The report's postmortem table shows each account's week return as the stored postmortem has it: its week P/L over
its start equity. A week that began at or below 0 equity (a short on a rising price carried it there) has no return:
below 0 the division flips its sign (a loss of 500 from -1,000 read "+50.00%"), and from 0 it is no number. Such a
week reads n/a, and a line under the table says why; its P/L is what happened (pure: a stored PostmortemWritten read
as the report reads it, and the page from tests/test_report_html.py's pieces)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from llmtrade.app.report_weeks import _postmortem
from llmtrade.domain.checkpoints import Postmortem, PostmortemWritten
from llmtrade.domain.events import NewEvent, StoredEvent
from llmtrade.report.render import render_report
from tests.test_report_html import leaderboard, report

WEEK = date(2024, 1, 3)


def _stored(start: float, end: float) -> StoredEvent:
    pm = Postmortem(
        week_id=WEEK,
        account_id="acct_1",
        instrument="SPY",
        direction="SHORT",
        start_equity=start,
        end_equity=end,
        realized_pnl=0.0,
        unrealized_pnl=end - start,
        week_pnl=end - start,
        week_return=(end - start) / start if start else 0.0,  # as workflows/postmortem_stages.py stores it
        instrument_return=0.05,
        indicators=[],
        reflection=None,
    )
    new = NewEvent.of(PostmortemWritten(postmortem=pm), stream="postmortem-2024-01-03-acct_1")
    return StoredEvent(**new.model_dump(), id=7, version=1, occurred_at=datetime(2024, 1, 9, 22, tzinfo=UTC))


@pytest.mark.parametrize(("start", "end"), [(-1_000.0, -1_500.0), (0.0, -300.0)], ids=["below-zero", "zero"])
def test_a_week_that_began_at_no_equity_has_no_return_in_the_report(start: float, end: float) -> None:
    line = _postmortem(_stored(start, end))
    assert line.week_return is None and line.week_pnl == pytest.approx(end - start)
    assert _postmortem(_stored(10_000.0, 9_500.0)).week_return == pytest.approx(-0.05)  # a week from equity keeps it

    page = report()
    first = page.weeks[0]
    week = first.model_copy(update={"postmortems": (line,)})
    html = render_report(page.model_copy(update={"weeks": (week, *page.weeks[1:])}), leaderboard())
    row = html.split('<tr id="event-7">')[1].split("</tr>")[0]
    cells = row.split('<td class="n">')
    assert cells[1].startswith(f"{end - start:+.2f}") and cells[2].startswith("n/a")
    assert "+50.00%" not in row
    assert (
        "return n/a for acct_1: its week began at equity at or below 0, and a return over nothing is undefined "
        "(below 0 the P/L over it would flip its sign); the P/L is what happened"
    ) in html
