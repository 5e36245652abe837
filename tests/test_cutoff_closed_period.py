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

from llmtrade.analytics.records import Leaderboard, Period, more_shown
from llmtrade.analytics.standings import standings
from llmtrade.app.cutoff_periods import closed, closed_note
from llmtrade.app.leaderboard import build_leaderboard
from llmtrade.commands.render.leaderboard import print_leaderboard
from llmtrade.console import Output
from llmtrade.report.render import render_report
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.event_store import EventStore
from tests.test_board_no_start import _track
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


def test_a_closed_period_too_short_for_any_ratio_says_it_will_stay_so() -> None:
    """A period before the cutoff of 10 daily returns read "weeks more n/a" beside the note that ratios are n/a under
    20 daily returns, as if 10 more would bring them; none will come. Its rows with returns read "closed" too, and the
    note names them with the weeks they have of the 4 any ratio needs."""
    tracks = [
        _track("FLAT", [10_000.0] * 11, "baseline"),
        _track("acct_1", [10_000.0 * (1 + 0.002 * i + (0.003 if i % 2 else 0.0)) for i in range(11)]),
    ]
    rows = standings(tracks, trials=1, trial_names={"acct_1"})
    period = closed(
        Period(label="before", start=tracks[0].curve.sessions[0], end=tracks[0].curve.sessions[-1], standings=rows)
    )
    row = {s.name: s for s in period.standings}["acct_1"]
    assert row.sessions == 10 and row.weeks_needed is None and row.weeks_more is None
    assert more_shown(row, period.closed) == "closed"
    assert more_shown(row, False) == "n/a"
    note = closed_note(period)
    assert note is not None and "acct_1 (2.0 weeks, under the 4 any ratio needs)" in note
    assert "FLAT (" not in note  # the hurdle itself is not named as one to tell from it
