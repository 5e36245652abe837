"""The guards found in review: offline and live never share a week, only the current week trades,
a total failure is not frozen into the week, and a frozen plan is only sent where and as it was made."""

from __future__ import annotations

import json
from datetime import date

import httpx
import pytest
from typer.testing import CliRunner

from llmtrade.brokers.paper import PaperBroker
from llmtrade.cli import app
from llmtrade.clock import FixedClock
from llmtrade.domain.trading import Order, OrdersPlanned, Position, Side
from llmtrade.market.calendar import TradingCalendar
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import Storage, open_storage
from llmtrade.workflows.plan_recovery import misfit
from tests.support import FIXED_NOW, going_live

runner = CliRunner()


@pytest.fixture
def wednesday(cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T08:00:00-05:00")
    return cli_env["DATABASE_URL"]


def _types(url: str) -> list[str]:
    with open_storage(Settings(DATABASE_URL=url), FixedClock(FIXED_NOW)) as storage:
        return [e.type for e in storage.events.read()]


def _modes(url: str) -> list[tuple[str | None, str, str]]:
    """Each run's (week, command, mode), in order."""
    with open_storage(Settings(DATABASE_URL=url), FixedClock(FIXED_NOW)) as storage:
        runs = storage.events.read(type="RunStarted")
    return [(str(e.week_id) if e.week_id else None, e.payload["command"], e.payload["mode"]) for e in runs]


def test_a_week_begun_offline_stays_offline_to_its_end_once_keys_are_set(
    wednesday: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's first command trades a week offline; a user then sets keys. A live run cannot continue an offline
    week (synthetic and real would mix), and `run-due` refused the week's checkpoints and postmortem at every
    wake-up (exit 1 every five minutes from cron), never reaching the first live week's weekly run. The week now runs
    offline to its end, said once per job, and the next week is the first live one."""
    assert runner.invoke(app, ["run-weekly"]).exit_code == 0  # no keys: offline
    with going_live(monkeypatch) as fake:
        for instant in ("2026-01-07T12:01:00-05:00", "2026-01-13T15:51:00-05:00", "2026-01-13T16:31:00-05:00"):
            monkeypatch.setenv("LLMTRADE_NOW", instant)
            due = runner.invoke(app, ["run-due"])
            assert due.exit_code == 0, due.output
            assert "week 2026-01-07 began offline: its jobs run offline to its end" in due.stderr
        assert fake.requests == []  # not one live model call for the offline week
        monkeypatch.setenv("LLMTRADE_NOW", "2026-01-14T08:00:00-05:00")
        live = runner.invoke(app, ["run-due"])
        assert live.exit_code == 0, live.output
        assert "began offline" not in live.stderr
        assert fake.requests  # the next week asked the models
    assert _modes(wednesday) == [
        ("2026-01-07", "run-weekly", "offline"),
        ("2026-01-07", "checkpoint", "offline"),
        ("2026-01-07", "checkpoint", "offline"),
        ("2026-01-07", "postmortem", "offline"),
        ("2026-01-14", "run-weekly", "live"),
    ]


def test_a_live_week_is_never_continued_offline(wednesday: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with going_live(monkeypatch):
        assert runner.invoke(app, ["research"]).exit_code == 0  # live
    result = runner.invoke(app, ["run-weekly", "--offline"])
    assert result.exit_code == 1
    assert "week 2026-01-07 was started in live mode; an offline run cannot continue it" in result.stderr
    assert "OrderSubmitted" not in _types(wednesday)


def test_a_live_start_that_stored_nothing_fixes_no_mode_and_one_that_stored_its_snapshot_does(
    wednesday: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keys set on a machine with no network: the first live run failed at the market snapshot, storing nothing of
    the week's, yet it fixed the week as live, and with the keys removed every run of the week was refused (found by
    the new-user trial). A run that stored the week's snapshot before failing still fixes the week's mode."""
    import yfinance

    def unreachable(*_a: object, **_k: object) -> None:
        raise ConnectionError("no network")

    monkeypatch.setattr(yfinance, "download", unreachable)
    with going_live(monkeypatch, None, market="yfinance") as fake:
        failed = runner.invoke(app, ["run-weekly"])
    assert failed.exit_code != 0 and fake.requests == []
    assert "MarketSnapshotTaken" not in _types(wednesday)
    monkeypatch.delenv("LLMTRADE_LLM_BASE_URL")
    monkeypatch.delenv("LLMTRADE_MARKET_PROVIDERS")
    offline = runner.invoke(app, ["run-weekly", "--json"])
    assert offline.exit_code == 0, offline.output
    assert [m for _, _, m in _modes(wednesday)] == ["live", "offline"]
    # Nor did it decide anything the leaderboard's notes should count as a model's.
    notes = json.loads(runner.invoke(app, ["leaderboard", "--json"]).stdout)["notes"]
    assert any(n.startswith("every trading run was offline") for n in notes)
    assert not any("trading runs were offline" in n for n in notes)
    # Now the other way: a live run that stored the week's snapshot, then failed, has begun the week.
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-14T08:00:00-05:00")
    with going_live(monkeypatch, None) as fake:
        fake.then(*(httpx.Response(401, json={"error": {"message": "key revoked"}}) for _ in range(2)))
        assert runner.invoke(app, ["run-weekly"]).exit_code != 0
    assert any(e == ("2026-01-14", "run-weekly", "live") for e in _modes(wednesday))
    assert _types(wednesday).count("MarketSnapshotTaken") == 2  # the offline week's, and this failed run's
    monkeypatch.delenv("LLMTRADE_LLM_BASE_URL")
    refused = runner.invoke(app, ["run-weekly", "--offline"])
    assert refused.exit_code == 1
    assert "week 2026-01-14 was started in live mode; an offline run cannot continue it" in refused.stderr


def test_only_the_current_week_trades(wednesday: str) -> None:
    future = runner.invoke(app, ["run-weekly", "--week", "2031-01-01"])
    assert future.exit_code == 2 and "trades only the current week (2026-01-07)" in future.stderr
    past = runner.invoke(app, ["run-weekly", "--week", "2025-12-31"])
    assert past.exit_code == 2
    look = runner.invoke(app, ["run-weekly", "--week", "2025-12-31", "--dry-run", "--json"])
    assert look.exit_code == 0, look.output
    assert json.loads(look.stdout)["dry_run"] is True
    assert "OrderSubmitted" not in _types(wednesday) and "OrdersPlanned" not in _types(wednesday)


def test_a_dry_run_stores_nothing(wednesday: str) -> None:
    assert runner.invoke(app, ["run-weekly", "--dry-run"]).exit_code == 0
    # Not even the committee's work: a dry run in one mode must not fix the week's mode for the real run.
    assert _types(wednesday) == []


def test_a_total_failure_is_not_frozen_into_the_week(wednesday: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with going_live(monkeypatch, None) as fake:
        fake.then(*(httpx.Response(401, json={"error": {"message": "key revoked"}}) for _ in range(2)))
        failed = runner.invoke(app, ["run-weekly"])
    assert failed.exit_code != 0
    assert "every research provider failed" in failed.stderr
    assert "ResearchProviderFailed" not in _types(wednesday) and "ResearchPackBuilt" not in _types(wednesday)
    with going_live(monkeypatch) as fake:
        again = runner.invoke(app, ["run-weekly", "--json"])
    assert again.exit_code == 0, again.output
    assert len(json.loads(again.stdout)["pitches"]) == 4


def _plan(positions_before: dict[str, Position], broker: str = "paper") -> OrdersPlanned:
    order = Order(
        client_order_id="lt-20260107-acct_1-GLD-close",
        account_id="acct_1",
        week_id=date(2026, 1, 7),
        symbol="GLD",
        side=Side.SELL,
        qty=10,
        intent="close",
    )
    return OrdersPlanned(account_id="acct_1", broker=broker, orders=[order], positions_before=positions_before)


def test_a_plan_is_sent_only_to_its_broker_and_only_if_positions_are_as_planned(storage: Storage) -> None:
    class Opens:
        def opening_price(self, symbol: str, day: date) -> float | None:
            return None

    broker = PaperBroker(
        "acct_1",
        starting_cash=100_000,
        events=storage.events,
        clock=FixedClock(FIXED_NOW),
        calendar=TradingCalendar(),
        prices=Opens(),
    )
    held = {"GLD": Position(symbol="GLD", qty=10, avg_price=100.0)}
    moved = misfit(storage.events, _plan(held), broker, [])  # the paper account holds nothing
    assert moved is not None and "positions changed since its orders were planned" in moved.reason
    assert (moved.planned_positions, moved.actual_positions) == ({"GLD": 10}, {})
    elsewhere = misfit(storage.events, _plan({}, broker="alpaca"), broker, [])
    assert elsewhere is not None and "planned for the alpaca broker, but the account now uses paper" in elsewhere.reason
    assert misfit(storage.events, _plan({}), broker, []) is None  # as planned: it may be sent


def test_status_and_schedule_are_readable_and_have_json(wednesday: str) -> None:
    assert runner.invoke(app, ["run-weekly"]).exit_code == 0
    status = runner.invoke(app, ["status"])
    assert status.exit_code == 0, status.output
    for column in ("equity", "week P/L", "commissions", "slippage~", "breaker", "positions"):
        assert column in status.stdout
    assert "trading enabled" in status.stdout
    data = json.loads(runner.invoke(app, ["status", "--json"]).stdout)
    assert len(data["accounts"]) == 6 and data["last_runs"]["run-weekly"]["outcome"] == "finished"
    shown = runner.invoke(app, ["schedule", "show", "--count", "3"])
    assert shown.exit_code == 0 and "New York" in shown.stdout
    fires = json.loads(runner.invoke(app, ["schedule", "show", "--count", "3", "--json"]).stdout)
    assert [f["job"] for f in fires] == [
        "checkpoint:2026-01-07T09:00",
        "checkpoint:2026-01-07T12:00",
        "checkpoint:2026-01-07T14:00",
    ]
    cron = runner.invoke(app, ["schedule", "crontab"]).stdout
    assert "CRON_TZ=America/New_York" in cron and "run-due" in cron
