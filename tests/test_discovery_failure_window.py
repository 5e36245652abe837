"""run-due's discovery before a weekly run that waits (exit 75, retried until its deadline) is not run again at every
wake-up for a failure that would fail the same way: a candidate's CSV file with a row it cannot read (exit 2 for the
whole discovery) was read again, recorded as another failed run and warned again (mailed by cron) every five minutes
of the weekly run's retry window. Now it is recorded once (DiscoveryFailed) and said once; a temporary failure is
retried by the next wake-up, warned when new and not again while it repeats."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from llmtrade.app import discovery, due_run
from llmtrade.cli import app
from llmtrade.config.loader import packaged_defaults
from llmtrade.errors import LlmtradeError, MarketDataError, MarketDataUnavailable, TemporaryError
from llmtrade.workflows.schedule import Job, JobKind
from tests.support import stored_events

runner = CliRunner()
WEEK = date(2026, 1, 7)
DUE = datetime.fromisoformat("2026-01-07T08:00:00-05:00")


def _watchlist_config(folder: Path) -> Path:
    shutil.copytree(Path(str(packaged_defaults())), folder)
    assets = yaml.safe_load((folder / "assets.yaml").read_text())
    assets["discovery"]["universe_mode"] = "watchlist"  # run-due discovers before each weekly run
    (folder / "assets.yaml").write_text(yaml.safe_dump(assets, sort_keys=False))
    return folder


@dataclass
class Discovery:
    """What discovery raises (`raises`) and how many times run-due asked it (`calls`)."""

    raises: LlmtradeError
    calls: int = 0


@pytest.fixture
def waiting_week(cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Discovery:
    """run-due with the week's weekly run due and waiting (exit 75) at every wake-up, discovery before it failing with
    what the test sets."""
    monkeypatch.setenv("LLMTRADE_CONFIG_DIR", str(_watchlist_config(tmp_path / "config")))
    weekly = Job(JobKind.WEEKLY, WEEK, WEEK, "08:00", DUE)
    monkeypatch.setattr(due_run, "due", lambda _app: [weekly])
    monkeypatch.setattr(due_run, "_queued_for_the_open", lambda _app, _week: {})
    monkeypatch.setattr(due_run, "run_event_checkpoints", lambda _app, _waits: [])
    monkeypatch.setattr(due_run, "fill_forward_returns", lambda _app: 0)

    def weekly_waits(*_args: Any, **_kwargs: Any) -> Any:
        raise TemporaryError("the models' provider is not reachable")

    monkeypatch.setattr(due_run, "weekly", weekly_waits)
    found = Discovery(MarketDataError("unset"))

    def failing(*_args: Any, **_kwargs: Any) -> Any:
        found.calls += 1
        raise found.raises

    monkeypatch.setattr(discovery, "discover", failing)
    return found


def _wake(monkeypatch: pytest.MonkeyPatch, hhmm: str, *options: str) -> tuple[int, str]:
    monkeypatch.setenv("LLMTRADE_NOW", f"2026-01-07T{hhmm}:00-05:00")
    woke = runner.invoke(app, [*options, "run-due"])
    return woke.exit_code, woke.stderr


BAD_ROW = "csv: /data/AAPL.csv, line 101: AAPL: 2025-10-08: Close '' is not a number"


def test_a_discovery_failure_that_would_fail_the_same_way_is_not_run_again_in_the_weeks_retry_window(
    waiting_week: Discovery, monkeypatch: pytest.MonkeyPatch, cli_env: dict[str, str]
) -> None:
    waiting_week.raises = MarketDataError(BAD_ROW)
    code, said = _wake(monkeypatch, "08:05", "-q")
    assert code == 75 and waiting_week.calls == 1
    [line] = [x for x in said.splitlines() if x.startswith("discovery")]
    assert BAD_ROW in line and "not run again as of this session: it would fail the same way" in line
    assert _wake(monkeypatch, "08:10", "-q")[0] == 75
    code, said = _wake(monkeypatch, "08:15", "-q")
    assert code == 75 and "discovery" not in said, said  # not warned again under -q
    assert waiting_week.calls == 1  # not run again
    code, said = _wake(monkeypatch, "08:20")
    assert "discovery before the weekly run of 2026-01-07 not run again: it failed at " in said, said
    assert waiting_week.calls == 1
    [failed] = stored_events(cli_env["DATABASE_URL"], type="DiscoveryFailed")
    assert failed.payload["temporary"] is False and failed.payload["session"] == "2026-01-06"
    assert BAD_ROW in failed.payload["error"]


def test_a_temporary_discovery_failure_is_tried_again_at_each_wake_up_and_warned_once(
    waiting_week: Discovery, monkeypatch: pytest.MonkeyPatch, cli_env: dict[str, str]
) -> None:
    waiting_week.raises = MarketDataUnavailable("yfinance: 429 Too Many Requests (so no candidate bars)")
    code, said = _wake(monkeypatch, "08:05", "-q")
    assert code == 75 and "the next wake-up tries again" in said, said
    code, said = _wake(monkeypatch, "08:10", "-q")
    assert code == 75 and "discovery" not in said, said  # the same wait: not mailed again
    assert waiting_week.calls == 2  # but tried again
    # Then it fails for good: warned, and not run again.
    waiting_week.raises = MarketDataError(BAD_ROW)
    code, said = _wake(monkeypatch, "08:15", "-q")
    assert "it would fail the same way" in said and waiting_week.calls == 3, said
    _wake(monkeypatch, "08:20", "-q")
    assert waiting_week.calls == 3
    temporary = [e.payload["temporary"] for e in stored_events(cli_env["DATABASE_URL"], type="DiscoveryFailed")]
    assert temporary == [True, True, False]
