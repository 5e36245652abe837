"""An intraday file (intraday/SYMBOL.csv) whose rows cannot be read is the CSV folder's own file to mend, as a daily
file's bad row is (exit 2, README "a row that cannot be read ... is a configuration to mend"). A backtest stopped on
one at its first quote of the symbol exited 1, the code of an operational failure, while the same row in the daily
file exits 2 at the start."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from llmtrade.app.backtest import BacktestSpec, backtest
from llmtrade.config.loader import load_config
from llmtrade.errors import LlmtradeError
from llmtrade.exits import classify
from llmtrade.settings import Settings
from tests.test_backtest import _unique
from tests.test_backtest_bad_start import WEEK, _write, history
from tests.test_backtest_intraday_resume import _intraday


@pytest.mark.parametrize(
    ("bad", "said"),
    [
        ("2026-01-07T10:00:00-05:00,abc", "unreadable row"),
        ("2026-01-07T10:00:00,101.0", "has no UTC offset"),
        ("2026-01-07T10:00:00-05:00,-1", "is not a positive number"),
    ],
)
def test_a_backtest_stopped_by_a_bad_intraday_row_exits_2_naming_the_file_and_line(
    database_url: str, tmp_path: Path, bad: str, said: str
) -> None:
    bars = history(WEEK + timedelta(days=14))
    folder = tmp_path / "prices"
    _write(folder, bars)
    _intraday(folder, "GLD", [b for b in bars["GLD"] if b.day >= WEEK])
    path = folder / "intraday" / "GLD.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([*lines[:3], bad, *lines[3:]]) + "\n")
    settings = Settings(DATABASE_URL=database_url, LLMTRADE_HOME=str(tmp_path))
    spec = BacktestSpec(name=_unique(), first=WEEK, last=WEEK, offline=True, replay=False, csv=folder)
    with pytest.raises(LlmtradeError) as caught:
        backtest(settings, load_config(None), None, spec, say=lambda _t: None)
    failure = classify(caught.value)
    assert failure is not None and failure.code == 2, failure
    assert f"{path}, line 4: " in failure.message and said in failure.message, failure.message
