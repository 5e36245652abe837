"""Discovery before the weekly run reads its candidates' prices within the weekly run's deadline, as the run's own
reads do (Container.market's `deadline`: no rate limit waited out past it); each of its reads waited up to 90 s
whatever the deadline, the wake-up holding the weekly run behind it."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from llmtrade.app.container import Container
from llmtrade.app.discovery import discover
from llmtrade.clock import FixedClock
from llmtrade.config.loader import load_config
from llmtrade.market.service import MarketData
from llmtrade.settings import Settings
from llmtrade.workflows.job_deadlines import retry_deadline
from llmtrade.workflows.schedule import JobKind

WEEK = date(2026, 1, 7)
NOW = datetime.fromisoformat("2026-01-07T08:00:00-05:00")


def _deadlines(app: Container, monkeypatch: pytest.MonkeyPatch) -> list[datetime | None]:
    """The `deadline` of every market `app` builds from now on."""
    seen: list[datetime | None] = []
    built = app.market

    def market(storage: Any, **kw: Any) -> MarketData:
        seen.append(kw.get("deadline"))
        return built(storage, **kw)

    monkeypatch.setattr(app, "market", market)
    return seen


def test_discovery_before_a_weekly_run_reads_within_its_deadline_and_by_hand_within_its_own_bound(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(DATABASE_URL=database_url, LLMTRADE_HOME=str(tmp_path))
    loaded = load_config(None)
    app = Container(settings, loaded, FixedClock(NOW), None, lambda _t: None, offline=True)
    seen = _deadlines(app, monkeypatch)
    discover(app, week_id=WEEK)
    deadline = retry_deadline(loaded.config.schedule, app.calendar, JobKind.WEEKLY, WEEK)
    assert deadline is not None and seen and set(seen) == {deadline}  # the picks' reads and the outcomes'
    by_hand = Container(settings, loaded, FixedClock(NOW), None, lambda _t: None, offline=True)
    seen = _deadlines(by_hand, monkeypatch)
    discover(by_hand)
    assert seen and set(seen) == {None}
