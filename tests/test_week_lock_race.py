"""The week's lock (workflows/weekly.py `week_lock`) when its holder ends just as a second run finds it held: the
second takes it, where it was refused "another run for week ... is running" with nothing running any more (a CI run
of tests/test_positions_settle_races.py saw the refusal name "run", the holder having ended when it was looked up)."""

from __future__ import annotations

from datetime import date
from typing import Any

import psycopg
import pytest

from llmtrade.errors import TemporaryError
from llmtrade.workflows import weekly

WEEK = date(2026, 1, 14)


def test_a_holder_that_ends_as_it_is_looked_up_leaves_the_lock_to_the_second_run(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with (
        psycopg.connect(database_url, autocommit=True) as first,
        psycopg.connect(database_url, autocommit=True) as second,
    ):
        held = weekly.week_lock(first, WEEK, "positions settle")
        held.__enter__()
        real_holder = weekly._holder

        def ended_meanwhile(conn: psycopg.Connection, key: int) -> Any:
            held.__exit__(None, None, None)  # the first run ends between the second's try and its look
            return real_holder(conn, key)

        monkeypatch.setattr(weekly, "_holder", ended_meanwhile)
        with weekly.week_lock(second, WEEK, "positions settle"):
            name = second.execute("SELECT current_setting('application_name')").fetchone()
            assert name == ("llmtrade positions settle",)


def test_a_holder_still_there_is_named_by_its_command(database_url: str) -> None:
    with (
        psycopg.connect(database_url, autocommit=True) as first,
        psycopg.connect(database_url, autocommit=True) as second,
        weekly.week_lock(first, WEEK, "positions settle"),
    ):
        refused = "another positions settle for week 2026-01-14 is running"
        with pytest.raises(TemporaryError, match=refused), weekly.week_lock(second, WEEK, "checkpoint"):
            pass
        # The refused run's connection does not keep the holder's name: it holds nothing
        name = second.execute("SELECT current_setting('application_name')").fetchone()
        assert name != ("llmtrade checkpoint",)
