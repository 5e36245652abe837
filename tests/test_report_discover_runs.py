"""The report lists a backtest's discover runs in the week whose picker calls they made.

Found comparing a discovering backtest's report with its events: each week's cost row counted the picker's model call
(its LLMCallCompleted carries the week it comes before, as the backtest's summary counts it), while the week's runs
left out the discover run that made it, whose RunStarted has no week. A discovery that failed was in no week, so the
page's list of runs that did not finish cleanly could not name it.
"""

from __future__ import annotations

import html
import json
import re
import uuid
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from llmtrade.cli import app as cli
from llmtrade.storage.database import backtest_database
from tests.test_backtest_discovery import FIRST, _backtest, _config, _url

runner = CliRunner()


def _text(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def test_each_weeks_runs_hold_the_discover_run_whose_picker_call_the_week_counts(
    database_url: str, pg_admin_url: str, tmp_path: Path
) -> None:
    config = _config(tmp_path / "config", universe_mode="watchlist")
    name = f"r{uuid.uuid4().hex[:10]}"
    home = tmp_path / "home"
    _backtest(database_url, home, config, name, FIRST, FIRST)
    with psycopg.connect(_url(pg_admin_url, backtest_database(name))) as conn:
        (started,) = conn.execute(
            "SELECT id FROM events WHERE type = 'RunStarted' AND payload->>'command' = 'discover'"
        ).fetchone()
        (picker_week,) = conn.execute(
            "SELECT week_id FROM events WHERE type = 'LLMCallCompleted' AND payload->>'role' = 'picker'"
        ).fetchone()
    assert picker_week == FIRST  # the week whose cost row counts the picker's call

    output = tmp_path / "report.html"
    env = {"DATABASE_URL": database_url, "LLMTRADE_HOME": str(home)}
    shown = runner.invoke(cli, ["report", "--backtest", name, "-o", str(output)], env=env)
    assert shown.exit_code == 0, shown.output
    page = output.read_text()
    week = page[page.index(f'<section class="week" id="week-{FIRST}">') :]
    week = week[: week.index("</section>")]
    runs = _text(week[week.index('<details class="runs"') : week.index("</details>")])
    assert "discover: 1 finished" in runs, runs[:300]
    assert f'<tr id="event-{started}">' in week  # its line, which the week's cost row's call came from


def test_a_live_discover_run_and_its_picker_call_count_in_the_week_it_ran_in(
    wednesday_week: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Live, a discover run records neither its start nor its picker's call with a week: the week's cost row left the
    call out (the page's model cost short of the calls the books hold) and its list of runs left the run out."""
    assert runner.invoke(cli, ["-q", "run-weekly", "--offline"]).exit_code == 0
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-08T10:00:00-05:00")  # the Thursday of the same week
    found = runner.invoke(cli, ["discover", "--offline", "--json"])
    assert found.exit_code == 0, found.output
    events = runner.invoke(cli, ["events", "--json"])
    calls = [json.loads(line) for line in events.stdout.splitlines()]
    calls = [e for e in calls if e["type"] == "LLMCallCompleted"]
    assert any(e["week_id"] is None for e in calls)  # the picker's, which no week holds

    page = tmp_path / "report.html"
    shown = runner.invoke(cli, ["report", "-o", str(page)])
    assert shown.exit_code == 0, shown.output
    text = page.read_text()
    costs = text[text.index('<table class="costs">') :]
    row = re.search(r"<tr><td><a href=\"#week-2026-01-07\">.*?</tr>", costs).group(0)
    cells = [_text(c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]
    assert int(cells[1]) + int(cells[2]) == len(calls), cells  # model calls + rules answers: every call held
    week = text[text.index('<section class="week" id="week-2026-01-07">') :]
    week = week[: week.index("</section>")]
    assert "discover: 1 finished" in _text(week[week.index('<details class="runs"') : week.index("</details>")])
