"""What a run's duration and a model call's latency are measured on: the wall live, a backtest's clock in one."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from llmtrade.app.backtest_container import BacktestContainer
from llmtrade.app.container import Container
from llmtrade.app.runs import RunLog
from llmtrade.clock import SteppingClock
from llmtrade.config.loader import load_config
from llmtrade.domain.streams import run_stream
from llmtrade.llm.records import UsageTotals
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import Storage


def _ticks(*seconds: float) -> Iterator[float]:
    yield from seconds


def test_a_runs_duration_is_measured_on_its_timer(storage: Storage) -> None:
    ticks = _ticks(100.0, 100.25)
    run = RunLog(
        storage.events, run_id="run-t", command="checkpoint", week_id=date(2026, 1, 7), timer=lambda: next(ticks)
    )
    assert run.finished(UsageTotals(), degraded=False) == 250.0
    (finished,) = [e for e in storage.events.read_stream(run_stream("run-t")) if e.type == "RunFinished"]
    assert finished.payload["duration_ms"] == 250.0


def test_live_runs_are_timed_on_the_wall_and_a_backtests_on_its_stepped_clock(tmp_path: Path) -> None:
    settings = Settings(LLMTRADE_HOME=str(tmp_path))
    loaded = load_config(None)
    live = Container(settings, loaded, SteppingClock(datetime(2026, 1, 7, 15, tzinfo=UTC)), None, lambda _t: None)
    assert live.timer() is time.perf_counter
    clock = SteppingClock(datetime(2026, 1, 7, 15, tzinfo=UTC))
    timer = BacktestContainer(settings, loaded, clock, None, lambda _t: None, offline=True).timer()
    start = timer()
    time.sleep(0.01)
    assert timer() - start == 0.0  # the clock stands still through a job, whatever the wall does
    clock.set(clock.now() + timedelta(minutes=90))
    assert timer() - start == 5400.0
