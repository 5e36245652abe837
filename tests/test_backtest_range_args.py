"""--from and --to outside the NYSE calendar a backtest steps on are bad arguments (exit 2), said with the range
that works: they were refused as a market data error (exit 1), 'error: 1990-01-03 is outside the NYSE calendar's
range 2000-01-01 to 2028-12-02', from the first job's lookup, or, for a first week inside the calendar but too near
its start, naming a day the user never gave (its history's first day)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from llmtrade.app import backtest as backtest_module
from llmtrade.app.backtest import BacktestSpec, backtest
from llmtrade.config.loader import load_config
from llmtrade.errors import UsageError
from llmtrade.market.calendar import TradingCalendar
from llmtrade.settings import Settings


def _refused(tmp_path: Path, first: date, last: date) -> str:
    settings = Settings(DATABASE_URL="postgresql://nobody@127.0.0.1:1/none", LLMTRADE_HOME=str(tmp_path))
    spec = BacktestSpec(name="range", first=first, last=last, offline=True, replay=False)
    with pytest.raises(UsageError) as caught:  # before any database is asked: the unreachable URL is never read
        backtest(settings, load_config(None), None, spec, say=lambda _t: None)
    assert caught.value.exit_code == 2
    return str(caught.value)


def test_a_from_before_the_calendar_is_a_bad_argument(tmp_path: Path) -> None:
    calendar = TradingCalendar()
    earliest = calendar.first_day + backtest_module._HISTORY
    earliest += timedelta(days=(2 - earliest.weekday()) % 7)  # its week's Wednesday: the first week that can run
    message = _refused(tmp_path, date(1990, 1, 3), date(1990, 2, 1))
    assert f"--from 1990-01-03: the NYSE calendar covers {calendar.first_day} to {calendar.last_day}" in message
    assert f"give --from {earliest} or later" in message
    # Inside the calendar, but the first week's history (read before it) is not.
    assert "--from 2000-06-07" in _refused(tmp_path, date(2000, 6, 7), date(2000, 6, 7))


def test_a_to_past_the_calendar_is_a_bad_argument(tmp_path: Path) -> None:
    calendar = TradingCalendar()
    message = _refused(tmp_path, date(2026, 1, 7), calendar.last_day + timedelta(days=400))
    assert f"the NYSE calendar covers {calendar.first_day} to {calendar.last_day}" in message
    assert "give --to " in message and " or earlier" in message


def test_a_range_wholly_past_the_calendar_is_not_advised_a_to_before_its_from(tmp_path: Path) -> None:
    # A trial: --from 2030-01-01 --to 2030-02-01 was told "give --to 2028-11-28 or earlier", before its own --from.
    calendar = TradingCalendar()
    first = calendar.last_day + timedelta(days=30)
    message = _refused(tmp_path, first, first + timedelta(days=30))
    assert f"the NYSE calendar covers {calendar.first_day} to {calendar.last_day}" in message
    assert "the whole range lies after it: give a range of weeks your prices cover" in message
    assert " or earlier" not in message
