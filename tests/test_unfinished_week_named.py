"""An unfinished backtest's week not done is named alike by the leaderboard's note, its --json, and the report.

Found by a new user's trial: a backtest stopped inside its second week's weekly run had the report's week list mark
that week partial, while the leaderboard's note said only "1 of its 2 weeks ... done, and these figures cover only
those", naming no week; and `report --json` said nothing of the backtest being unfinished.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llmtrade.app import jobs
from llmtrade.cli import app as cli
from tests.test_backtest import FIRST, LAST, _run, _unique

runner = CliRunner()


def stopped_in_its_second_weekly_run(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A new two-week backtest stopped by Ctrl-C inside week 2's weekly run (its RunStarted recorded); its name."""
    name = _unique()
    real = jobs.execute

    def interrupted_in_the_second(work: Any, session: Any, run: Any) -> Any:
        if run.command == "run-weekly" and run.week_id == LAST:
            work.close()  # the pipeline never awaited
            raise KeyboardInterrupt
        return real(work, session, run)

    monkeypatch.setattr(jobs, "execute", interrupted_in_the_second)
    with pytest.raises(KeyboardInterrupt):
        _run(database_url, tmp_path, name, audit=0)
    monkeypatch.setattr(jobs, "execute", real)
    monkeypatch.setenv("DATABASE_URL", database_url)
    return name


def test_a_backtest_stopped_in_a_weekly_run_is_named_by_the_leaderboard_and_the_report(
    database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    name = stopped_in_its_second_weekly_run(database_url, tmp_path, monkeypatch)

    board = runner.invoke(cli, ["leaderboard", "--backtest", name, "--json"])
    assert board.exit_code == 0, board.output
    document = json.loads(board.stdout)
    # Its figures end at week 1's last close, before any of week 2's: the week is named still, not only counted.
    assert document["end"] == "2026-01-13"
    assert document["unfinished_week"] == str(LAST)
    assert document["unfinished"] == document["notes"][0]
    assert document["unfinished"].startswith(
        f"backtest {name} is unfinished: 1 of its 2 weeks ({FIRST} to {LAST}) done and week {LAST} not done: these "
        "figures cover only the weeks done, none of its closes; "
    ), document["unfinished"]
    text = runner.invoke(cli, ["leaderboard", "--backtest", name])
    assert f"UNFINISHED: {document['unfinished']}" in text.stdout

    # The report marks the same week, and its --json says what the leaderboard's does.
    output = tmp_path / "report.html"
    report = runner.invoke(cli, ["report", "--backtest", name, "-o", str(output), "--json"])
    assert report.exit_code == 0, report.output
    written = json.loads(report.stdout)
    assert written["unfinished"] == document["unfinished"]
    assert written["unfinished_week"] == str(LAST)
    page = output.read_text()
    assert f"{LAST} (partial)" in page[page.index('<nav class="weeks">') : page.index("</nav>")]
