"""`backtest list` at a terminal: each backtest's name is shown whole, as `backtest delete NAME` needs it typed."""

from __future__ import annotations

import io

import pytest

from llmtrade.app.backtest_books_results import BacktestHeld, BacktestList, SweepHeld
from llmtrade.commands.render.backtest_books import print_backtest_list
from llmtrade.console import Output


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


NAMES = ["abcdefghij-abcdefghij_abcdefghij-abcdefg", "Long-Run", "Sw-One-2451e02b0a01"]


@pytest.mark.parametrize("width", [80, 100])
def test_each_name_is_shown_whole_on_a_narrow_terminal(monkeypatch: pytest.MonkeyPatch, width: int) -> None:
    """On an 80-column terminal the table cut every name to its first 5 characters ("Long-…", "Sw-On…", "sw3-1…"),
    and two runs of a sweep read the same: nothing there could be given to `backtest delete`."""
    monkeypatch.setenv("COLUMNS", str(width))
    rows = [
        BacktestHeld(
            name=name, database="llmtrade_bt_x", status="unreadable", size_bytes=12_000_000,
            sweep="Sw-One" if name.startswith("Sw") else None,
            note="its BacktestStarted reads as no version here: payload: Input should be a valid dictionary",
        )
        for name in NAMES
    ]  # fmt: skip
    screen = _Terminal()
    listed = BacktestList(backtests=rows, sweeps=[SweepHeld(name="Sw-One", database="x", size_bytes=1)], size_bytes=0)
    print_backtest_list(Output(stream=screen), listed)
    shown = screen.getvalue()
    assert all(name in shown for name in NAMES) and shown.count("unreadable") == len(NAMES), shown
