"""`leaderboard` and `report` of books with no trading yet: a fresh install before its first weekly run.

Both exited 2 ("no trading in these books yet ... (run `llmtrade run-weekly` first)"), the code of bad configuration or
arguments (README: Exit codes), though nothing was wrong: a new user's first look read as their mistake, and a cron line
publishing the report failed until the first run. They now answer with the state, exit 0: what the books hold and
lack, when the schedule runs the next weekly run, and what to do; `report` writes a page saying the same."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from tests.support import assert_obeys

runner = CliRunner()
# A Tuesday after the close: last week's weekly run can trade no more, the next is Wednesday's.
TUESDAY_EVENING = "2026-01-06T17:00:00-05:00"
NEXT = "The next weekly run is due Wednesday 2026-01-07 08:00 New York (schedule.yaml weekly_run: wednesday 08:00)"
HOLD = "No trading in these books yet: no weekly run, checkpoint or fill to rank; accounts.yaml's 6 accounts"


@pytest.fixture
def fresh(cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMTRADE_NOW", TUESDAY_EVENING)


def test_the_leaderboard_of_books_with_no_trading_says_what_is_missing_and_when_exit_0(fresh: None) -> None:
    result = runner.invoke(app, ["leaderboard"])
    assert result.exit_code == 0, result.output
    said = result.stdout
    assert "leaderboard: live: nothing to rank yet" in said and HOLD in said, said
    assert NEXT in said and "`llmtrade run-due`" in said and "`llmtrade run-weekly` now" in said, said
    assert "error" not in result.stderr


def test_its_json_says_the_state_and_obeys_the_published_schema(fresh: None) -> None:
    result = runner.invoke(app, ["leaderboard", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    # The leaderboard's own document (a script reading `standings` finds none), saying why.
    assert document["source"] == "live" and document["standings"] == [] and document["nothing_yet"].startswith(HOLD)
    assert "acct_1, acct_2, acct_3, acct_4, acct_5, acct_6" in document["nothing_yet"]
    assert document["next_weekly_run"] == "2026-01-07T08:00:00-05:00" and document["notes"][0].startswith(NEXT)
    assert_obeys(document, runner.invoke(app, ["schema", "leaderboard"]).stdout)


def test_this_weeks_weekly_run_still_due_is_said_due_now(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Thursday: the week's run is late but can still trade this week, and run-due runs it at its next wake-up.
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-08T10:00:00-05:00")
    result = runner.invoke(app, ["leaderboard"])
    assert result.exit_code == 0, result.output
    assert "This week's weekly run is due now (since Wednesday 2026-01-07 08:00 New York" in result.stdout


def test_the_report_of_books_with_no_trading_writes_a_page_saying_so_exit_0(fresh: None, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    result = runner.invoke(app, ["report", "-o", str(page), "--json"])
    assert result.exit_code == 0, result.output
    written = json.loads(result.stdout)
    assert written["path"] == str(page) and written["weeks"] == 0 and written["nothing_yet"].startswith(HOLD)
    assert_obeys(written, runner.invoke(app, ["schema", "report"]).stdout)
    text = page.read_text()
    assert "<title>llmtrade report: live: nothing to rank yet</title>" in text
    assert "accounts.yaml&#x27;s 6 accounts" in text and "Wednesday 2026-01-07 08:00" in text
    assert "http" not in text  # the page refers to no other file or host

    table = runner.invoke(app, ["report", "-o", str(page)])
    assert table.exit_code == 0, table.output
    assert f"wrote {page} ({len(text.encode()):,} bytes): nothing to rank yet. {HOLD}" in table.stdout


def test_the_first_run_it_names_is_the_quick_starts_with_no_flag_to_add(fresh: None) -> None:
    """A new user's trial: the note said "or run `llmtrade run-weekly` now (`--offline` with no model key)", as if a
    run without a key needed the flag, where README's quick start runs `llmtrade run-weekly` bare and it runs offline,
    saying so. It now says what a bare run does without a key."""
    said = runner.invoke(app, ["leaderboard"]).stdout
    assert "(`--offline` with no model key)" not in said, said
    assert "or run `llmtrade run-weekly` now (with no model key set it runs offline, on the rules provider)" in said


def test_versus_a_backtest_from_books_with_no_trading_is_refused_not_left_out(fresh: None) -> None:
    """A new user's trial: `leaderboard --versus NAME` on a fresh install printed the empty books' state, exit 0, and
    said nothing of the comparison asked for, where a backtest with nothing to rank is refused as either side (exit 2);
    books with no week in common with NAME's are refused as well."""
    name = f"t{uuid.uuid4().hex[:10]}"
    ran = runner.invoke(app, ["backtest", "--from", "2025-12-03", "--to", "2025-12-03", "--offline", "--name", name])
    assert ran.exit_code == 0, ran.output
    for extra in ([], ["--json"]):
        refused = runner.invoke(app, ["leaderboard", "--versus", name, *extra])
        assert refused.exit_code == 2, refused.output
        assert refused.stdout == ""
        said = f"error: --versus {name}: the live books have no trading yet, so no week to pair with {name}'s"
        assert said in refused.stderr and "run `llmtrade run-weekly` first" in refused.stderr, refused.stderr
