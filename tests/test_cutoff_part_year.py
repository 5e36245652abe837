"""The part-year note counts each knowledge-cutoff period's own daily returns, whichever account accounts.yaml lists
first (app/leaderboard.py `_part_year`)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from llmtrade.app.leaderboard import build_leaderboard
from llmtrade.config.loader import LoadedConfig
from llmtrade.storage.bootstrap import Storage
from tests.test_leaderboard_build import _container, _late_books


def test_a_period_shorter_than_the_range_is_said_whichever_account_is_listed_first(
    storage: Storage, database_url: str
) -> None:
    """acct_3, never valued, listed first in accounts.yaml: its row of no return stood for each period's length, so
    the note said the range's 74 daily returns were the shortest span, not the period of 36 (after 2024-12-31)
    whose CAGR extrapolates five weeks to a year."""
    app = _container(database_url, date(2024, 12, 31), date(2024, 12, 31))
    config = app.loaded.config
    listed = sorted(config.accounts.accounts, key=lambda a: a.id != "acct_3")
    config = config.model_copy(update={"accounts": config.accounts.model_copy(update={"accounts": listed})})
    app = replace(app, loaded=LoadedConfig(config, app.loaded.source))
    board = build_leaderboard(app, _late_books(storage, real=True), source="live")
    assert board.standings[0].name == "acct_3" and board.periods[1].standings[0].sessions == 0
    after = next(s.sessions for s in board.periods[1].standings if s.name == "FLAT")
    [note] = [n for n in board.notes if n.startswith("under a year")]
    assert note.startswith(f"under a year (a period has {after} daily returns")
