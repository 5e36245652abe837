"""The period before the models' knowledge cutoff is closed: every week to come is after the cutoff, so none can be
added to it. Its rows read "weeks more 5" beside rows that needed more than it holds, as if waiting could settle them;
they now read "closed" (null in --json, with `Period.closed`), in the tables and the report, and a note says why. The
period after the cutoff, which grows, keeps its weeks more. On a real PostgreSQL, from the hand-written books of
tests/test_leaderboard_build.py."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from datetime import date

import pytest

from llmtrade.analytics.records import Leaderboard
from llmtrade.app.leaderboard import build_leaderboard
from llmtrade.commands.render.leaderboard import print_leaderboard
from llmtrade.console import Output
from llmtrade.report.render import render_report
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.event_store import EventStore
from tests.test_leaderboard_build import FILLS, FIRST_RUN, LAST_RUN, _Clock, _container, _ny, _real_prices, _write_books
from tests.test_report_html import report


@pytest.fixture
def split_books(storage: Storage) -> Storage:
    clock = _Clock()
    events = EventStore(storage.conn, clock)
    _write_books(events, clock, [FIRST_RUN, _ny(date(2024, 12, 4), 8), LAST_RUN], FILLS)
    _real_prices(storage, events, clock)
    return replace(storage, events=events)


def _weeks_more(text: str, title: str) -> dict[str, str]:
    lines = text.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith(f"# {title}") and "trading and evidence" in line)
    header = lines[head + 1].split("\t")
    rows = []
    for line in lines[head + 2 :]:
        if line.startswith("#") or line.startswith("note:") or line.startswith("intervals:"):
            break
        rows.append(dict(zip(header, line.split("\t"), strict=True)))
    return {row["name"]: row["weeks more"] for row in rows}


def test_the_period_before_the_cutoff_is_closed_and_promises_no_weeks_more(
    split_books: Storage, database_url: str
) -> None:
    board = build_leaderboard(_container(database_url, date(2024, 12, 31)), split_books, source="live")
    before, after = board.periods
    assert before.closed and not after.closed
    waiting = [s for s in before.standings if s.weeks_needed is not None and s.weeks_needed > s.weeks]
    assert waiting, "the books must hold a row that needs more weeks than the closed period has"
    assert all(s.weeks_more is None for s in waiting)
    # The period after the cutoff grows: its weeks more are what they were.
    assert any(s.weeks_more is not None and s.weeks_more > 0 for s in after.standings)

    dumped = json.loads(board.model_dump_json())
    assert dumped["periods"][0]["closed"] is True and dumped["periods"][1]["closed"] is False
    assert all(
        s["weeks_more"] is None for s in dumped["periods"][0]["standings"] if s["name"] in {w.name for w in waiting}
    )
    schema = Leaderboard.model_json_schema()["$defs"]
    assert "no week can be added" in schema["Period"]["properties"]["closed"]["description"]
    assert "closed" in schema["Standing"]["properties"]["weeks_more"]["description"]

    [note] = [n for n in board.notes if ": closed: every week to come" in n]
    assert note.startswith(f"{before.label}: closed: every week to come is after the knowledge cutoff")
    named = waiting[0]
    assert f"{named.name} ({named.weeks:.1f} weeks" in note and "waiting will not change that" in note

    text = io.StringIO()
    print_leaderboard(Output(stream=text, force_plain=True), board)
    shown = text.getvalue()
    closed_cells = _weeks_more(shown, before.label)
    assert all(closed_cells[s.name] == "closed" for s in waiting)
    assert "closed" not in _weeks_more(shown, after.label).values()
    assert f"note: {note}" in shown

    html = render_report(report(), board)
    table = html.split(f"<h3>{before.label} (")[1].split("</table>")[0]
    rows = [tr for tr in table.split("<tr") if f"<td>{waiting[0].name}</td>" in tr]
    assert rows and rows[0].rstrip().endswith('<td class="n">closed</td></tr>')
    after_table = html.split(f"<h3>{after.label} (")[1].split("</table>")[0]
    assert ">closed<" not in after_table
