"""Read-only commands label a backtest's books with the name it recorded, whatever spelling of it they were given.

Backtest names that differ only in case or - and _ share one database (`--name Q1-Test` keeps its books in
llmtrade_bt_q1_test). `backtest --name q1-test` refuses to take them for its own (test_backtest
test_a_name_that_differs_only_in_case_is_not_taken_for_another_backtest), but a new user's trial found `leaderboard
--backtest q1-test` showing Q1-Test's books under the heading "backtest q1-test".
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app as cli
from tests.test_backtest import FIRST, _run

runner = CliRunner()


def test_the_books_of_a_backtest_asked_by_another_spelling_are_labelled_with_its_recorded_name(
    database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    tail = uuid.uuid4().hex[:8]
    recorded, asked = f"Q{tail}-Test", f"q{tail}_test"
    _run(database_url, tmp_path, recorded, last=FIRST, audit=0)
    monkeypatch.setenv("DATABASE_URL", database_url)

    board = runner.invoke(cli, ["leaderboard", "--backtest", asked, "--json"])
    assert board.exit_code == 0, board.output
    assert json.loads(board.stdout)["source"] == f"backtest {recorded}"
    said = f"--backtest {asked}: these are the books of backtest {recorded}"
    assert said in board.stderr, board.stderr
    text = runner.invoke(cli, ["leaderboard", "--backtest", asked])
    assert text.stdout.startswith(f"== leaderboard: backtest {recorded}, as of the close of "), text.stdout[:200]
    assert asked not in text.stdout

    page = tmp_path / "page.html"
    written = runner.invoke(cli, ["report", "--backtest", asked, "-o", str(page)])
    assert written.exit_code == 0, written.output
    html = page.read_text()
    assert f"backtest {recorded}" in html and asked not in html
    assert said in written.stderr

    events = runner.invoke(cli, ["events", "--backtest", asked, "--type", "BacktestStarted", "--json"])
    assert events.exit_code == 0, events.output
    assert json.loads(events.stdout)["payload"]["name"] == recorded
    assert said in events.stderr

    # Asked by the name it recorded, nothing is said of it.
    same = runner.invoke(cli, ["leaderboard", "--backtest", recorded, "--json"])
    assert same.exit_code == 0 and "these are the books of" not in same.stderr


def test_versus_another_spelling_of_the_same_backtest_is_refused(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    # Refused before any database is read: the two spellings name one database, so one set of books.
    paired = runner.invoke(cli, ["leaderboard", "--backtest", "Q1-Test", "--versus", "q1_test"])
    assert paired.exit_code == 2, paired.output
    assert "--versus q1_test names the same books as --backtest Q1-Test" in paired.stderr
