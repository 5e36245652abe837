"""A resumed backtest reads its prices over the days a backtest run afresh reads them: from the whole range's first
week's history, not the first week it has left to run. Read from there, a universe symbol whose file ends in the first
weeks' history (taken as delisted then) has no bar at all, and the resume was refused as a file that covers nothing;
and a discovery candidate with a hole in the days the first week's discovery reads, left out by a run afresh, was
judged from then on."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from llmtrade.app import backtest as backtest_module
from llmtrade.app.backtest import BacktestSpec, backtest
from llmtrade.app.backtest_discovery import features_from
from llmtrade.app.evaluation_results import BacktestResult
from llmtrade.config.loader import load_config
from llmtrade.market.calendar import TradingCalendar
from llmtrade.market.synthetic import SyntheticMarket, candidate_classes
from llmtrade.settings import Settings
from llmtrade.workflows.schedule import JobKind, week_jobs
from tests.test_backtest import _unique
from tests.test_backtest_bad_start import WEEK, _write, history

SECOND = WEEK + timedelta(days=7)
# A session in the first week's history that the second week's history no longer reaches (a Wednesday).
EARLY = WEEK - backtest_module._HISTORY + timedelta(days=1)
_CALENDAR = TradingCalendar()
_FIRST_WEEKLY = next(
    j.at for j in week_jobs(load_config(None).config.schedule, _CALENDAR, WEEK) if j.kind is JobKind.WEEKLY
)
# A session the first week's discovery reads (its candidates' features window, after its first day: a file that
# begins a day late is no hole) and the second week's does not.
_SINCE = features_from(_CALENDAR, _FIRST_WEEKLY) or WEEK
FEATURES_EARLY = _CALENDAR.sessions_between(_SINCE, _SINCE + timedelta(days=10))[1]


def _run(database_url: str, home: Path, name: str, folder: Path, last: object, said: list[str]) -> BacktestResult:
    settings = Settings(DATABASE_URL=database_url, LLMTRADE_HOME=str(home))
    spec = BacktestSpec(name=name, first=WEEK, last=last, offline=True, replay=False, csv=folder)  # type: ignore[arg-type]
    return backtest(settings, load_config(None), None, spec, say=said.append)


def test_a_symbol_delisted_in_the_first_weeks_history_does_not_stop_the_resume(
    database_url: str, tmp_path: Path
) -> None:
    bars = history(SECOND + timedelta(days=10))
    assert EARLY in {b.day for b in bars["TLT"]} and EARLY + backtest_module._HISTORY < SECOND
    folder, name = tmp_path / "prices", _unique()
    _write(folder, {**bars, "TLT": [b for b in bars["TLT"] if b.day <= EARLY]})
    assert _run(database_url, tmp_path, name, folder, WEEK, []).weeks_run == 1
    extended = _run(database_url, tmp_path, name, folder, SECOND, [])  # refused before: no TLT bar in its days
    assert extended.weeks_run == 1
    whole = _run(database_url, tmp_path, _unique(), folder, SECOND, [])
    assert whole.leaderboard.model_dump(exclude={"source"}) == extended.leaderboard.model_dump(exclude={"source"})


def test_a_candidate_a_run_afresh_leaves_out_is_left_out_of_the_resumed_weeks_too(
    database_url: str, tmp_path: Path
) -> None:
    bars = history(SECOND + timedelta(days=10))
    first, last = min(b.day for b in bars["SPY"]), max(b.day for b in bars["SPY"])
    xle = SyntheticMarket({"SPY": "equity"}, seed=11, extra=candidate_classes()).daily_bars(["XLE"], first, last)["XLE"]
    assert FEATURES_EARLY in {b.day for b in xle}
    assert features_from(TradingCalendar(), _FIRST_WEEKLY + timedelta(days=7)) > FEATURES_EARLY  # type: ignore[operator]
    folder, name = tmp_path / "prices", _unique()
    # A hole only the first week's discovery reads: a candidate is fetched from the range's first features window
    # (static mode trades none; the history before it is read by nothing).
    _write(folder, {**bars, "XLE": [b for b in xle if b.day != FEATURES_EARLY]})
    afresh: list[str] = []
    _run(database_url, tmp_path, _unique(), folder, SECOND, afresh)
    assert any(t.startswith("backtest discovery leaves out XLE") for t in afresh), afresh
    assert _run(database_url, tmp_path, name, folder, WEEK, []).weeks_run == 1
    resumed: list[str] = []
    assert _run(database_url, tmp_path, name, folder, SECOND, resumed).weeks_run == 1
    assert any(t.startswith("backtest discovery leaves out XLE") for t in resumed), resumed  # judged before
