"""The report's week list marks the week not done, as the leaderboard's note says of it.

Found by a new user's trial: a backtest stopped by Ctrl-C inside a week had the leaderboard note which part of that
week its figures hold, while the report's week-by-week list showed the week like any complete one.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from llmtrade.cli import app as cli
from llmtrade.storage.bulk_load import SOLE_WRITER
from llmtrade.storage.database import backtest_database
from tests.test_backtest import FIRST, LAST, _url
from tests.test_backtest_unfinished_books import stopped_in_its_second_week

runner = CliRunner()


def _text(page: str) -> str:
    """The page's text, tags dropped and spaces folded, as its reader sees it."""
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def _section(page: str, week: object) -> str:
    start = page.index(f'<section class="week" id="week-{week}">')
    return page[start : page.index("</section>", start)]


def _report(tmp_path: Path, *args: str) -> str:
    output = tmp_path / "report.html"
    result = runner.invoke(cli, ["report", *args, "-o", str(output)])
    assert result.exit_code == 0, result.output
    return output.read_text()


def test_an_unfinished_backtests_week_is_marked_partial_as_the_leaderboards_note_says(
    database_url: str, pg_admin_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    name = stopped_in_its_second_week(database_url, tmp_path, monkeypatch)

    page = _report(tmp_path, "--backtest", name)
    text = _text(page)
    # The leaderboard's note, on the same page: the figures hold the unfinished week's jobs to the close of the 15th.
    assert (
        f"week {LAST} in part: these figures cover the weeks done and week {LAST}'s jobs to the close of 2026-01-15"
        in text
    )
    nav = _text(page[page.index('<nav class="weeks">') : page.index("</nav>")])
    assert nav.split() == [str(FIRST), str(LAST), "(partial)"]
    assert f"{LAST} (partial)" in _text(page[page.index('id="costs"') : page.index('id="weeks"')])
    done, partial = _text(_section(page, FIRST)), _text(_section(page, LAST))
    assert "partial" not in done.lower() and "not done" not in done
    assert partial.startswith(
        f" Week of {LAST} (partial) Partial week: backtest {name} stopped inside it, before doing all its jobs; "
    )
    assert (
        "the last of its runs recorded is the checkpoint of 2026-01-16 09:00 (finished), and no later job of the week "
        "is in the books; the leaderboard's figures hold its jobs to the close of 2026-01-15, as the leaderboard's "
        "note says."
    ) in partial, partial[:600]

    # While another process runs it (its database's lock held), the week is in progress, not stopped, as the note says.
    with psycopg.connect(_url(pg_admin_url, backtest_database(name)), autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", (SOLE_WRITER,))
        running = _text(_report(tmp_path, "--backtest", name))
    assert "it is still running (another process holds its database)" in running
    assert f"{LAST} (running)" in running
    assert (
        f"Week in progress: backtest {name} is still running in another process and has not done this week; the last "
        "of its runs recorded is the checkpoint of 2026-01-16 09:00 (finished) so far; "
    ) in running


def test_the_live_week_with_no_postmortem_yet_is_marked_open(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for instant in ("2026-01-07T08:00:00-05:00", "2026-01-08T12:01:00-05:00"):  # the weekly run, a checkpoint
        monkeypatch.setenv("LLMTRADE_NOW", instant)
        result = runner.invoke(cli, ["run-due", "--offline"])
        assert result.exit_code == 0, result.output
    page = _report(tmp_path, "--live")
    text = _text(page)
    assert (
        "the week of 2026-01-07 is still open (no postmortem yet): these figures value the books at the close of "
        "2026-01-07" in text
    )
    assert "2026-01-07 (open)" in _text(page[page.index('<nav class="weeks">') : page.index("</nav>")])
    assert (
        "Open week: its weekly run completed and it has no postmortem yet; the last of its runs recorded is the "
        "checkpoint of 2026-01-08 12:01 (finished); the leaderboard's figures hold its jobs to the close of "
        "2026-01-07, the last a run valued, as the leaderboard's note says."
    ) in _text(_section(page, "2026-01-07"))
