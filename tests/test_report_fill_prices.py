"""The report's fills say what priced each one (the fill's price_source): a fill at a daily-bridge price, drawn
through its session's own open, high, low and close, is told apart from one at the session's open."""

from __future__ import annotations

from datetime import UTC, datetime

from llmtrade.app.report_weeks import _fill
from llmtrade.domain.events import NewEvent, StoredEvent
from llmtrade.domain.trading import Fill, OrderFilled, Side
from llmtrade.report.render import render_report
from tests.test_report_html import leaderboard, report


def _filled(source: str, event_id: int) -> StoredEvent:
    fill = Fill(
        client_order_id=f"lt-20240103-acct_1-SPY-{event_id}",
        account_id="acct_1",
        symbol="SPY",
        side=Side.SELL,
        qty=10,
        price=471.25,
        commission=0.0,
        filled_at=datetime(2024, 1, 4, 17, tzinfo=UTC),
        price_source=source,
    )
    event = NewEvent.of(OrderFilled(fill=fill, broker="paper"), stream="fill:acct_1", account_id="acct_1")
    return StoredEvent(**event.model_dump(), id=event_id, version=1, occurred_at=datetime(2024, 1, 4, 17, tzinfo=UTC))


def test_each_fill_row_names_what_priced_it() -> None:
    """Found in a trial: a week's Fills table showed a 12:00 checkpoint's fill at a daily-bridge price (a point of a
    path drawn through the session's own high, low and close) exactly as it showed a fill at the open: price,
    commission and time only, so a reader could not tell a modelled price from a traded one."""
    bridged, opened = _fill(_filled("csv daily-bridge", 41)), _fill(_filled("daily open", 42))
    assert (bridged.priced_by, opened.priced_by) == ("csv daily-bridge", "daily open")
    data = report()
    first = data.weeks[0]
    weeks = (first.model_copy(update={"fills": (bridged, opened)}), *data.weeks[1:])
    html = render_report(data.model_copy(update={"weeks": weeks}), leaderboard())
    assert "<th>priced by</th>" in html
    row = html[html.index('<tr id="event-41">') :]
    row = row[: row.index("</tr>")]
    assert "<td>csv daily-bridge</td>" in row, row
    assert "<td>daily open</td>" in html[html.index('<tr id="event-42">') :].split("</tr>")[0]
