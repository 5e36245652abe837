"""A backtest's prefetch caches every bar of its range before its first job, so a run killed midway holds bars no job
has read yet. A resume compared every cached bar with the files, so mending one of those (a spike the start warned
of, a bad row) was refused as "started with other inputs" though no job had read it. Now a resume compares what the
jobs run could have read, to the day of the last one (a checkpoint priced by the daily bridge reads its own day's bar,
after the week's as-of session), and reads the bars after it again from the files, saying so."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from llmtrade.app import backtest as backtest_module
from llmtrade.app.backtest import BacktestSpec, backtest
from llmtrade.app.evaluation_results import BacktestResult
from llmtrade.config.loader import load_config
from llmtrade.domain.market import Bar
from llmtrade.errors import UsageError
from llmtrade.market.calendar import NEW_YORK
from llmtrade.settings import Settings
from tests.test_backtest import _unique
from tests.test_backtest_bad_start import WEEK, _write, history

SECOND = WEEK + timedelta(days=7)
# The second week's first checkpoint on its Thursday: its Wednesday's jobs (the weekly run, four checkpoints) ran.
KILLED_AT = datetime.combine(SECOND + timedelta(days=1), datetime.min.time(), NEW_YORK).replace(hour=9)


def _run(database_url: str, home: Path, name: str, folder: Path, said: list[str] | None = None) -> BacktestResult:
    settings = Settings(DATABASE_URL=database_url, LLMTRADE_HOME=str(home))
    spec = BacktestSpec(name=name, first=WEEK, last=SECOND, offline=True, replay=False, csv=folder)
    return backtest(settings, load_config(None), None, spec, say=(said if said is not None else []).append)


def _killed_midweek(database_url: str, home: Path, name: str, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    step = backtest_module.step

    def killed_at(app: Any, job: Any, **kwargs: Any) -> None:
        if job.at >= KILLED_AT:
            raise KeyboardInterrupt
        step(app, job, **kwargs)

    monkeypatch.setattr(backtest_module, "step", killed_at)
    with pytest.raises(KeyboardInterrupt):
        _run(database_url, home, name, folder)
    monkeypatch.undo()


def _moved(bars: dict[str, list[Bar]], symbol: str, day: date, factor: float) -> dict[str, list[Bar]]:
    """`bars` with `symbol`'s close (and high, with it) of `day` times `factor`."""
    assert day in {b.day for b in bars[symbol]}
    moved = [
        b.model_copy(update={"close": b.close * factor, "high": max(b.high, b.close * factor)}) if b.day == day else b
        for b in bars[symbol]
    ]
    return {**bars, symbol: moved}


def test_a_bar_mended_after_the_last_job_run_is_read_again(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bars = history(SECOND + timedelta(days=10))
    folder, name = tmp_path / "prices", _unique()
    spiked = SECOND + timedelta(days=2)  # a Friday no job of the killed run reached
    _write(folder, _moved(bars, "GLD", spiked, 3.0))  # the start warns of the spike (PriceJumpFlagged)
    _killed_midweek(database_url, tmp_path, name, folder, monkeypatch)
    _write(folder, bars)  # mended, as the warning says
    said: list[str] = []
    resumed = _run(database_url, tmp_path, name, folder, said)
    assert (resumed.weeks_done_before, resumed.weeks_run) == (1, 1)
    [going_on] = [text for text in said if text.startswith("prices: the files changed")]
    assert (
        f"its bars after {SECOND}, the last day its jobs read, are read again from them (GLD.csv's bar of {spiked}:"
        in (going_on)
    ), going_on
    # What an uninterrupted backtest on the mended files gives: the bars read again, the spike's note gone.
    whole = _run(database_url, tmp_path, _unique(), folder)
    assert resumed.leaderboard.model_dump(exclude={"source"}) == whole.leaderboard.model_dump(exclude={"source"})
    assert not [note for note in resumed.leaderboard.notes if "spike" in note], resumed.leaderboard.notes


def test_a_bar_the_unfinished_weeks_jobs_read_is_still_compared(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second week is not done, but its jobs that ran are kept (a resume skips them): the bars they read bind, to
    the day of the last one. Its Wednesday's checkpoints priced GLD by the daily bridge from that day's own bar, after
    the weekly run's as-of session (the Tuesday)."""
    bars = history(SECOND + timedelta(days=10))
    folder, name = tmp_path / "prices", _unique()
    _write(folder, bars)
    _killed_midweek(database_url, tmp_path, name, folder, monkeypatch)
    _write(folder, _moved(bars, "GLD", SECOND, 1.01))
    with pytest.raises(UsageError) as caught:
        _run(database_url, tmp_path, name, folder)
    assert f"GLD.csv's bar of {SECOND} is not the one this backtest read (close " in str(caught.value), caught.value


def test_rows_given_after_a_delisting_the_jobs_took_are_still_refused(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TLT's file ended on the second week's Wednesday, the last day the killed run's jobs read: its position was
    settled at that close (DelistingSettled, before the Thursday's first job). Its later rows are no bars cached ahead
    but the end of a delisting the books hold: a backtest run afresh on the grown file would trade it on."""
    bars = history(SECOND + timedelta(days=10))
    folder, name = tmp_path / "prices", _unique()
    _write(folder, {**bars, "TLT": [b for b in bars["TLT"] if b.day <= SECOND]})
    _killed_midweek(database_url, tmp_path, name, folder, monkeypatch)
    _write(folder, bars)
    with pytest.raises(UsageError) as caught:
        _run(database_url, tmp_path, name, folder)
    said = str(caught.value)
    assert (
        f"TLT.csv now has a bar of {SECOND + timedelta(days=1)}, after {SECOND}, which this backtest's weeks took"
        in (said)
    ), said
