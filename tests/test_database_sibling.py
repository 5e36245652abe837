"""A backtest's books live in a database of their own on the same server (storage/database.py)."""

from __future__ import annotations

import pytest

from llmtrade.clock import FixedClock
from llmtrade.domain.events import NewEvent
from llmtrade.domain.runs import RunFinished
from llmtrade.errors import UsageError
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import open_storage
from llmtrade.storage.database import DatabaseLocation, backtest_database, sibling


def test_backtest_database_names_are_postgres_safe() -> None:
    assert backtest_database("Year-2024") == "llmtrade_bt_year_2024"
    for bad in ["", "-x", "a b", "a;drop", "x" * 41, 'q"uote']:
        with pytest.raises(UsageError, match="backtest name"):
            backtest_database(bad)


def test_sibling_refuses_a_name_that_would_need_quoting(database_url: str) -> None:
    with pytest.raises(UsageError, match="database name"):
        sibling(DatabaseLocation(database_url, "test", False), 'Bad"Name')


def test_a_sibling_database_is_created_once_and_shares_nothing(database_url: str, clock: FixedClock) -> None:
    live = DatabaseLocation(database_url, "test server", False)
    name = backtest_database(f"t{database_url.rsplit('/', 1)[1].split('?')[0][-8:]}")
    other = sibling(live, name)
    assert sibling(live, name).url == other.url  # a second call finds it
    assert other.url != live.url and name in other.description

    event = RunFinished(
        command="backtest",
        degraded=False,
        llm_calls=0,
        prompt_tokens=0,
        completion_tokens=0,
        cost_usd=0.0,
        duration_ms=1.0,
    )
    with open_storage(Settings(), clock, location=other) as books:
        books.events.append([NewEvent.of(event, stream="run-x")])
        assert len(books.events.read(type=RunFinished.event_type())) == 1
    with open_storage(Settings(DATABASE_URL=database_url), clock) as main_books:
        assert main_books.events.read(type=RunFinished.event_type()) == []
