"""The report's cost per week counts every model call the books hold: a `council` question (or a live `ask`, or a
discover run in a week with no other record) has no week, and its calls were in no row nor in the page's total."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app as cli

runner = CliRunner()


def _text(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def _rows(page: str) -> list[list[str]]:
    costs = page[page.index('<table class="costs">') :]
    costs = costs[: costs.index("</table>")]
    cells = [
        [_text(c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        for row in re.findall(r"<tr>.*?</tr>", costs)
    ]
    return [row for row in cells if row]  # the heading's row has no cells


def test_a_council_questions_calls_are_counted_in_a_row_of_their_own_and_in_the_total(
    wednesday_week: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert runner.invoke(cli, ["-q", "run-weekly", "--offline"]).exit_code == 0
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-09T12:00:00-05:00")  # the Friday of the same week
    asked = runner.invoke(cli, ["-q", "council", "--offline", "Is the market expensive?"])
    assert asked.exit_code == 0, asked.output
    events = [json.loads(line) for line in runner.invoke(cli, ["events", "--json"]).stdout.splitlines()]
    calls = [e for e in events if e["type"] == "LLMCallCompleted"]
    weekless = [e for e in calls if e["week_id"] is None]
    assert weekless  # the council's, which no week holds

    output = tmp_path / "report.html"
    shown = runner.invoke(cli, ["report", "-o", str(output)])
    assert shown.exit_code == 0, shown.output
    page = output.read_text()
    rows = _rows(page)
    assert sum(int(row[1]) + int(row[2]) for row in rows) == len(calls), rows  # model calls + rules answers
    [outside] = [row for row in rows if not row[0].startswith("2026-")]
    assert outside[0] == "outside the weeks: council (1 run)", outside
    assert int(outside[1]) + int(outside[2]) == len(weekless)
    said = _text(page[page.index('<h2 id="costs">') : page.index('<table class="costs">')])
    assert f"{len(calls)} offline rules answers besides" in said, said


def test_books_with_nothing_to_rank_yet_still_say_what_a_council_question_cost(
    wednesday_week: str, tmp_path: Path
) -> None:
    """Before any weekly run the report is the page of books with nothing to rank, which has no cost table: a council
    question asked first was billed and said nowhere (found by a trial of the row above)."""
    asked = runner.invoke(cli, ["-q", "council", "--offline", "Is the market expensive?"])
    assert asked.exit_code == 0, asked.output
    events = [json.loads(line) for line in runner.invoke(cli, ["events", "--json"]).stdout.splitlines()]
    calls = [e for e in events if e["type"] == "LLMCallCompleted"]
    output = tmp_path / "report.html"
    shown = runner.invoke(cli, ["report", "-o", str(output)])
    assert shown.exit_code == 0, shown.output
    text = _text(output.read_text())
    assert "nothing to rank yet" in text
    said = f"Model calls of runs no week holds (council (1 run)): 0 model calls, 0.0000 USD, {len(calls)} offline"
    assert said in text, text
