"""A backtest's or sweep's name ending in a newline (`--name $'d2\\n'`, a name pasted with its line end): Python's `$`
matches before a string's last newline, so `^...$` passed it, and the backtest ran into a database of its own,
`llmtrade_bt_d2\\n`, beside d2's, its name breaking every heading it was printed in. Names are matched whole."""

from __future__ import annotations

import pytest

from llmtrade.app.sweep_member import sweep_database
from llmtrade.errors import UsageError
from llmtrade.storage.database import DatabaseLocation, backtest_database, sibling


@pytest.mark.parametrize("name", ["d2\n", "D2\n", "h-1\n"])
def test_a_backtest_name_ending_in_a_newline_is_no_name(name: str) -> None:
    with pytest.raises(UsageError, match="use 1-40 letters, digits, _ or -"):
        backtest_database(name)


def test_a_sweep_name_ending_in_a_newline_is_no_name() -> None:
    with pytest.raises(UsageError, match="is 1-24 letters, digits, _ or -"):
        sweep_database("demo\n")


def test_a_database_name_ending_in_a_newline_is_refused_before_any_server_is_asked() -> None:
    location = DatabaseLocation("postgresql://nobody@127.0.0.1:1/none", "nowhere", embedded=False)
    with pytest.raises(UsageError, match="use lower-case letters, digits and _"):
        sibling(location, "llmtrade_bt_d2\n")
