"""Event checkpoints through `run-due` with the clock set, on a real PostgreSQL: a CSV folder whose
intraday file (market/csv_quotes.py) moves QQQ 7% after the 12:00 checkpoint; acct_4 holds QQQ.

The models are scripted at the HTTP transport (tests/test_week_lifecycle.py): acct_4's owner answers
STAY, so an event checkpoint changes no position; what it fires, records and repeats is the subject."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import yaml
from typer.testing import CliRunner

import llmtrade
from llmtrade.cli import app
from llmtrade.config.loader import write_defaults
from llmtrade.config.models import EventCheckpoint
from llmtrade.domain.ledger import Split
from llmtrade.domain.market import Quote
from llmtrade.market.calendar import NEW_YORK
from llmtrade.workflows.event_checkpoint import Reference, decide
from llmtrade.workflows.weekly import week_lock
from tests.crash_points import drop, once_per_module
from tests.support import going_live, stored_events
from tests.test_week_lifecycle import WEDNESDAY, scripted, write_market

runner = CliRunner()
EVENT_KEY = "checkpoint:2026-01-07T13:17:event:acct_4"
# The code under test, not whatever copy is installed (as tests/test_concurrency.py).
SOURCE = str(Path(llmtrade.__file__).parents[1])


def _intraday(folder: Path, symbol: str, base: float, moves: list[tuple[str, float]]) -> None:
    """Every 5 minutes of Wednesday's session at `base`, times `factor` from each (HH:MM, factor) on."""
    rows = ["Timestamp,Price"]
    at = datetime(2026, 1, 7, 9, 30, tzinfo=NEW_YORK)
    while at <= datetime(2026, 1, 7, 16, 0, tzinfo=NEW_YORK):
        factor = 1.0
        for hhmm, moved in moves:
            if f"{at:%H:%M}" >= hhmm:
                factor = moved
        rows.append(f"{at.isoformat()},{round(base * factor, 4)}")
        at += timedelta(minutes=5)
    (folder / "intraday").mkdir(exist_ok=True)
    (folder / "intraday" / f"{symbol}.csv").write_text("\n".join(rows) + "\n")


def _config(folder: Path, **event: Any) -> Path:
    """The defaults with one checkpoint a day (12:00), so only price moves add checkpoints after it."""
    write_defaults(folder)
    schedule = yaml.safe_load((folder / "schedule.yaml").read_text())
    schedule["checkpoints"] = ["12:00"]
    schedule["event_checkpoint"] = {**schedule["event_checkpoint"], **event}
    (folder / "schedule.yaml").write_text(yaml.safe_dump(schedule))
    return folder


@pytest.fixture
def market(cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    closes = write_market(tmp_path / "csv")
    monkeypatch.setenv("LLMTRADE_CONFIG_DIR", str(_config(tmp_path / "config")))
    # The flat CSV week holds QQQ at Tuesday's close; its intraday file jumps 7% at 13:10, 15% at 13:40.
    _intraday(tmp_path / "csv", "QQQ", closes["QQQ"], [("13:10", 1.07), ("13:40", 1.15)])
    with going_live(monkeypatch, scripted(closes), market=tmp_path / "csv") as fake:
        yield fake, cli_env["DATABASE_URL"], closes, tmp_path


def _run_due(monkeypatch: pytest.MonkeyPatch, instant: str, exit_code: int = 0) -> list[dict[str, Any]]:
    monkeypatch.setenv("LLMTRADE_NOW", instant)
    result = runner.invoke(app, ["run-due", "--json"])
    assert result.exit_code == exit_code, result.output
    return json.loads(result.stdout) if exit_code == 0 else []


def _through_noon(monkeypatch: pytest.MonkeyPatch) -> None:
    assert [r["job"] for r in _run_due(monkeypatch, "2026-01-07T08:00:00-05:00")] == ["weekly:2026-01-07"]
    assert [r["job"] for r in _run_due(monkeypatch, "2026-01-07T12:01:00-05:00")] == ["checkpoint:2026-01-07T12:00"]


@pytest.fixture(scope="module")
def _kept_noon(pg_admin_url: str) -> Iterator[dict[str, tuple[str, Path]]]:
    """The books and home `_through_noon` left in this module's first test of `through_noon`: a copy of its database
    and of its home (the database dropped at the module's end), which each later such test starts from."""
    kept: dict[str, tuple[str, Path]] = {}
    yield kept
    for name, _ in kept.values():
        drop(pg_admin_url, name)


@pytest.fixture
def through_noon(
    market: Any, clean_environment: Path, pg_admin_url: str, _kept_noon: dict[str, tuple[str, Path]]
) -> Callable[[pytest.MonkeyPatch], None]:
    """`_through_noon` for this test's books and home, on the module's market and config: the same weekly run and
    12:00 checkpoint for every test that takes it, so they are run (and asserted) once per module; each later test
    gets its own copy of that run's database (CREATE DATABASE ... TEMPLATE, under this test's database name) and of
    its home, and fires, records and repeats on books of its own. Tests that change the market or the config before
    the week keep `_through_noon`."""

    def run(monkeypatch: pytest.MonkeyPatch) -> None:
        if once_per_module(_kept_noon, pg_admin_url, market[1], clean_environment, lambda: _through_noon(monkeypatch)):
            monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T12:01:00-05:00")  # as `_through_noon` left it

    return run


def _status(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    result = runner.invoke(app, ["status", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _asked(fake: Any, since: int) -> list[str]:
    return [
        r["model"]
        for r in fake.requests[since:]
        if r.get("response_format", {}).get("json_schema", {}).get("name") == "CheckpointDecision"
    ]


def test_a_7pct_move_fires_one_checkpoint_for_that_account_and_records_why(
    market: Any, monkeypatch: pytest.MonkeyPatch, through_noon: Callable[[pytest.MonkeyPatch], None]
) -> None:
    fake, url, closes, _ = market
    through_noon(monkeypatch)
    assert _run_due(monkeypatch, "2026-01-07T13:05:00-05:00") == []  # QQQ has not moved yet
    since = len(fake.requests)
    [ran] = _run_due(monkeypatch, "2026-01-07T13:17:00-05:00")
    assert ran["job"] == EVENT_KEY and ran["kind"] == "checkpoint"
    trigger = ran["trigger"]
    assert trigger["symbol"] == "QQQ" and trigger["account_id"] == "acct_4"
    assert trigger["reference_price"] == pytest.approx(closes["QQQ"])
    assert datetime.fromisoformat(trigger["reference_at"]) == datetime(2026, 1, 7, 12, 0, tzinfo=NEW_YORK)
    assert trigger["price"] == pytest.approx(closes["QQQ"] * 1.07, rel=1e-4)
    assert datetime.fromisoformat(trigger["price_at"]) == datetime(2026, 1, 7, 13, 15, tzinfo=NEW_YORK)
    assert trigger["price_source"] == "csv intraday-file"
    assert trigger["move"] == pytest.approx(0.07, abs=1e-4) and trigger["threshold"] == 0.05
    # An honest checkpoint of that account alone: its owner judged it from the week's frozen trade.
    report = ran["report"]
    assert [a["account_id"] for a in report["accounts"]] == ["acct_4"]
    assert report["accounts"][0]["checkpoint"]["action"] == "STAY"
    assert report["time"] == "13:17:event:acct_4"
    assert _asked(fake, since) == ["x-ai/grok-4"]
    [stored] = stored_events(url, type="EventCheckpointTriggered")
    assert stored.account_id == "acct_4" and stored.week_id == WEDNESDAY
    [marker] = [e for e in stored_events(url, type="CheckpointCompleted") if ":event:" in e.payload["time"]]
    assert marker.stream == "week:2026-01-07:checkpoint:2026-01-07T13:17:event:acct_4"
    [taken] = stored_events(url, type="CheckpointTaken", stream=f"{marker.stream}:acct_4")
    assert taken.payload["checkpoint"]["time"] == "13:17"


def test_reruns_in_the_same_hour_fire_nothing_more_and_the_next_hour_may(
    market: Any, monkeypatch: pytest.MonkeyPatch, through_noon: Callable[[pytest.MonkeyPatch], None]
) -> None:
    fake, url, closes, _ = market
    through_noon(monkeypatch)
    assert [r["job"] for r in _run_due(monkeypatch, "2026-01-07T13:17:00-05:00")] == [EVENT_KEY]
    since, count = len(fake.requests), len(stored_events(url))
    assert _run_due(monkeypatch, "2026-01-07T13:17:30-05:00") == []  # the same minute again
    assert _run_due(monkeypatch, "2026-01-07T13:22:00-05:00") == []
    # 13:50: QQQ is 15% above noon and 7.5% above 13:17, but acct_4 fired 33 minutes ago.
    assert _run_due(monkeypatch, "2026-01-07T13:50:00-05:00") == []
    assert _asked(fake, since) == []
    assert len(stored_events(url)) == count  # a run-due that fires nothing writes nothing
    later = _run_due(monkeypatch, "2026-01-07T14:18:00-05:00")
    assert [r["job"] for r in later] == ["checkpoint:2026-01-07T14:18:event:acct_4"]
    # Measured from the price acct_4 was re-judged at (13:17's quote), not from noon's.
    trigger = later[0]["trigger"]
    assert trigger["reference_checkpoint"] == "2026-01-07:2026-01-07T13:17:event:acct_4"  # the account named once
    assert trigger["reference_price"] == pytest.approx(closes["QQQ"] * 1.07, rel=1e-4)
    assert datetime.fromisoformat(trigger["reference_at"]) == datetime(2026, 1, 7, 13, 15, tzinfo=NEW_YORK)
    assert trigger["move"] == pytest.approx(1.15 / 1.07 - 1, abs=1e-4)
    assert len(stored_events(url, type="EventCheckpointTriggered")) == 2
    # Re-judged at 14:18's price, QQQ has not moved since: nothing fires however long after.
    assert _run_due(monkeypatch, "2026-01-07T15:30:00-05:00") == []


def test_a_wake_up_overlapping_a_running_one_leaves_the_move_to_the_next_quietly_and_records_why(
    market: Any, monkeypatch: pytest.MonkeyPatch, through_noon: Callable[[pytest.MonkeyPatch], None]
) -> None:
    """Another run of the week holds its lock (a long checkpoint still running when cron wakes again): `-q run-due`
    printed a warning, mailed by cron every five minutes while it lasted (the months trial). Now it says nothing
    under -q, one line without, exits 0, and records EventChecksDeferred; the next wake-up fires the checkpoint."""
    _, url, _, _ = market
    through_noon(monkeypatch)
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T13:17:00-05:00")
    with psycopg.connect(url, autocommit=True) as other, week_lock(other, WEDNESDAY, command="checkpoint"):
        quiet = runner.invoke(app, ["-q", "run-due"])
        said = runner.invoke(app, ["run-due"])
    assert (quiet.exit_code, quiet.stdout, quiet.stderr) == (0, "", "")
    assert said.exit_code == 0
    [line] = [s for s in said.output.splitlines() if "event checkpoints" in s]
    # The holder is named (a checkpoint), not the waiting command: "another run-due" sent the user looking for one.
    assert line.startswith(
        "event checkpoints left to the next run-due: another checkpoint for week 2026-01-07 is running"
    )
    deferred = stored_events(url, type="EventChecksDeferred")
    assert [e.stream for e in deferred] == ["week:2026-01-07:event-checks"] * 2
    assert all("for week 2026-01-07 is running (advisory lock" in e.payload["reason"] for e in deferred)
    assert stored_events(url, type="EventCheckpointTriggered") == []
    assert [r["job"] for r in _run_due(monkeypatch, "2026-01-07T13:22:00-05:00")] == [
        "checkpoint:2026-01-07T13:22:event:acct_4"
    ]


def test_a_run_stopped_after_the_firing_is_resumed_under_the_same_key_not_fired_again(
    market: Any, monkeypatch: pytest.MonkeyPatch, through_noon: Callable[[pytest.MonkeyPatch], None]
) -> None:
    fake, url, _, _ = market
    through_noon(monkeypatch)
    # The owner's provider is down at 13:17: the firing is stored, the checkpoint waits (exit 75).
    fake.behaviour = lambda body: httpx.Response(503, json={"error": {"message": "overloaded"}})
    _run_due(monkeypatch, "2026-01-07T13:17:00-05:00", exit_code=75)
    assert len(stored_events(url, type="EventCheckpointTriggered")) == 1
    assert not [e for e in stored_events(url, type="CheckpointCompleted") if ":event:" in e.payload["time"]]
    [line] = _status(monkeypatch)["event_checkpoints"]
    assert (line["job"], line["symbol"], line["completed"]) == (EVENT_KEY, "QQQ", False)
    fake.behaviour = None
    [ran] = _run_due(monkeypatch, "2026-01-07T13:24:00-05:00")
    assert ran["job"] == EVENT_KEY and ran["report"]["accounts"][0]["checkpoint"]["action"] == "STAY"
    assert len(stored_events(url, type="EventCheckpointTriggered")) == 1
    [line] = _status(monkeypatch)["event_checkpoints"]
    assert line["completed"] is True and line["move"] == pytest.approx(0.07, abs=1e-4)
    shown = runner.invoke(app, ["status"])
    assert shown.exit_code == 0, shown.output
    assert EVENT_KEY in shown.stdout and "+7.0%" in shown.stdout
    assert _run_due(monkeypatch, "2026-01-07T13:29:00-05:00") == []


def test_threshold_zero_or_null_turns_event_checkpoints_off(
    market: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _, url, _, _ = market
    for value, folder in ((0, "off-zero"), (None, "off-null")):
        monkeypatch.setenv("LLMTRADE_CONFIG_DIR", str(_config(tmp_path / folder, threshold=value)))
        validated = runner.invoke(app, ["config", "validate"])
        assert validated.exit_code == 0, validated.output
        assert "event checkpoints are off" in validated.stdout
    _through_noon(monkeypatch)
    assert _run_due(monkeypatch, "2026-01-07T13:17:00-05:00") == []
    assert stored_events(url, type="EventCheckpointTriggered") == []


def test_a_below_threshold_move_fires_nothing(market: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _, url, _, _ = market
    monkeypatch.setenv("LLMTRADE_CONFIG_DIR", str(_config(tmp_path / "ten", threshold=0.10)))
    _through_noon(monkeypatch)
    assert _run_due(monkeypatch, "2026-01-07T13:17:00-05:00") == []  # +7% is under 10%
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T13:45:00-05:00")
    said = runner.invoke(app, ["run-due"])  # +15% is over it
    assert said.exit_code == 0, said.output
    assert "ran checkpoint:2026-01-07T13:45:event:acct_4 (QQQ +15.00%" in said.stdout
    [line] = [line for line in said.stdout.splitlines() if line.startswith("ran checkpoint:2026-01-07T13:45:event")]
    assert "+00:00" not in line and line.count("-05:00") == 2, line  # both instants in New York, as status says them
    [fired] = stored_events(url, type="EventCheckpointTriggered")
    assert fired.payload["move"] == pytest.approx(0.15, abs=1e-4) and fired.payload["threshold"] == 0.10


@pytest.mark.parametrize(
    ("event", "problem"),
    [
        ({"threshold": "5%"}, "threshold"),
        ({"threshold": 1.5}, "threshold"),
        ({"threshold": True}, "threshold"),
        ({"min_interval_minutes": 0}, "min_interval_minutes"),
        ({"min_interval_minutes": "60"}, "min_interval_minutes"),
        ({"every": 5}, "every"),
    ],
)
def test_config_validate_refuses_a_loose_event_checkpoint_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, event: dict[str, Any], problem: str
) -> None:
    monkeypatch.setenv("LLMTRADE_CONFIG_DIR", str(_config(tmp_path / "config", **event)))
    result = runner.invoke(app, ["config", "validate"])
    assert result.exit_code == 2, result.output
    assert "event_checkpoint" in result.output and problem in result.output


def test_config_validate_shows_the_event_checkpoint_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMTRADE_CONFIG_DIR", str(_config(tmp_path / "config", min_interval_minutes=90)))
    result = runner.invoke(app, ["config", "validate"])
    assert result.exit_code == 0, result.output
    assert "event checkpoint when an instrument moves more than 5% since its last checkpoint" in result.stdout
    assert "at most once per account every 90 minutes" in result.stdout
    listed = runner.invoke(app, ["schedule", "show"])
    assert listed.exit_code == 0, listed.output
    assert "more than 5.00% since its last checkpoint, at most once every 90 minutes" in listed.stdout


def test_two_run_dues_at_once_fire_each_account_once(
    cli_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Real processes, offline owners: every held instrument jumps 7% at 13:10; two run-dues at 13:17."""
    closes = write_market(tmp_path / "csv")
    for symbol, close in closes.items():
        _intraday(tmp_path / "csv", symbol, close * (0.90 if symbol == "SPY" else 1.0), [("13:10", 1.07)])
    env = {
        **cli_env,
        "PYTHONPATH": SOURCE,
        "LLMTRADE_MARKET_PROVIDERS": "csv",
        "LLMTRADE_MARKET_CSV_DIR": str(tmp_path / "csv"),
        "LLMTRADE_CONFIG_DIR": str(_config(tmp_path / "config")),
    }
    # The week before the race, in this process: only the two run-dues at once need processes of their own.
    for instant in ("2026-01-07T08:00:00-05:00", "2026-01-07T12:01:00-05:00"):
        done = runner.invoke(app, ["run-due", "--offline"], env={**env, "LLMTRADE_NOW": instant})
        assert done.exit_code == 0, done.output
    url = cli_env["DATABASE_URL"]
    held = {
        e.account_id for e in stored_events(url, type="CheckpointTaken") if e.payload["checkpoint"]["action"] != "EXIT"
    }
    assert held  # the premise: some account still holds its instrument after 12:00
    both = {**env, "LLMTRADE_NOW": "2026-01-07T13:17:00-05:00"}
    running = [
        subprocess.Popen(
            [sys.executable, "-m", "llmtrade", "run-due", "--offline", "--json"],
            env=both,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=300) for process in running]
    assert [p.returncode for p in running] == [0, 0], [err for _, err in outputs]
    assert not any("Traceback" in err for _, err in outputs)
    ran = [r["job"] for out, _ in outputs for r in json.loads(out)]
    fired = stored_events(url, type="EventCheckpointTriggered")
    assert sorted(e.account_id for e in fired) == sorted(held)  # once each, whichever process fired it
    assert sorted(ran) == sorted(f"checkpoint:2026-01-07T13:17:event:{a}" for a in held)
    markers = [
        e.payload["time"] for e in stored_events(url, type="CheckpointCompleted") if ":event:" in e.payload["time"]
    ]
    assert sorted(markers) == sorted(f"13:17:event:{a}" for a in held)


NOON = datetime(2026, 1, 8, 12, 0, tzinfo=NEW_YORK)
REFERENCE = Reference("2026-01-07:2026-01-08T12:00:acct_2", "TLT", 100.0, NOON)


def _quote(price: float, at: datetime, kind: str = "trade") -> Quote:
    return Quote(symbol="TLT", price=price, as_of=at, provider="alpaca", kind=kind)  # type: ignore[arg-type]


def test_a_fall_fires_like_a_rise_and_a_move_of_exactly_the_threshold_does_not() -> None:
    setting, now = EventCheckpoint(), NOON + timedelta(minutes=77)
    fell = decide(setting, "acct_2", REFERENCE, _quote(94.0, now - timedelta(minutes=1)), now, None)
    assert (
        fell is not None
        and fell.move == pytest.approx(-0.06)
        and fell.key == "checkpoint:2026-01-08T13:17:event:acct_2"
    )
    assert (fell.day, fell.time, fell.price_source) == (now.date(), "13:17", "alpaca trade")
    assert decide(setting, "acct_2", REFERENCE, _quote(105.0, now), now, None) is None
    assert decide(setting, "acct_2", REFERENCE, _quote(95.0, now), now, None) is None


def test_a_closed_market_or_a_quote_no_newer_than_the_reference_fires_nothing() -> None:
    setting, now = EventCheckpoint(), NOON + timedelta(hours=5)
    assert decide(setting, "acct_2", REFERENCE, _quote(90.0, NOON + timedelta(hours=4), "close"), now, None) is None
    assert decide(setting, "acct_2", REFERENCE, _quote(90.0, NOON), now, None) is None


def test_the_interval_counts_from_the_last_firing_of_the_account() -> None:
    setting, quote = EventCheckpoint(min_interval_minutes=60), _quote(110.0, NOON + timedelta(hours=2))
    first = decide(setting, "acct_2", REFERENCE, quote, NOON + timedelta(minutes=61), None)
    assert first is not None
    later = NOON + timedelta(hours=2)
    assert decide(setting, "acct_2", REFERENCE, quote, later - timedelta(minutes=2), first) is None  # 59 min
    assert decide(setting, "acct_2", REFERENCE, quote, later + timedelta(minutes=1), first) is not None  # 60 min
    assert decide(EventCheckpoint(threshold=None), "acct_2", REFERENCE, quote, later, None) is None


def test_a_split_recorded_since_the_reference_is_no_move_but_a_move_after_it_is() -> None:
    """TLT judged at 100 on Thursday, split 4-for-1 on Friday (recorded): 25.5 on Friday is up 2%, not down 74.5%, and
    fires nothing (it woke the owner for a move that never happened); 23 is down 8% in the new shares and fires."""
    setting, friday = EventCheckpoint(), datetime(2026, 1, 9, 11, 0, tzinfo=NEW_YORK)
    split = Split("TLT", datetime(2026, 1, 9, tzinfo=NEW_YORK), Fraction(4), 25.0)
    assert decide(setting, "acct_2", REFERENCE, _quote(25.5, friday), friday, None) is not None  # before: -74.5%
    assert decide(setting, "acct_2", REFERENCE, _quote(25.5, friday), friday, None, [split]) is None
    fell = decide(setting, "acct_2", REFERENCE, _quote(23.0, friday), friday, None, [split])
    assert fell is not None and fell.move == pytest.approx(-0.08) and fell.reference_price == pytest.approx(25.0)
    # A split of another symbol, or one before the reference, moves nothing.
    other = Split("SPY", split.at, Fraction(4), 150.0)
    earlier = Split("TLT", datetime(2026, 1, 5, tzinfo=NEW_YORK), Fraction(4), 25.0)
    assert decide(setting, "acct_2", REFERENCE, _quote(104.0, friday), friday, None, [other, earlier]) is None


def test_a_crash_one_wake_up_refused_as_a_bad_print_fires_the_checkpoint_at_the_next(
    market: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """QQQ falls 40% at 13:10 and stays there, with one provider. A price a third off the last close with nothing to
    confirm it is taken for a bad print (market/quote_checks.py), and the next sighting at its own time confirms it;
    but the event check recorded no sighting and read none, so every wake-up refused the crash again until the next
    scheduled checkpoint (the new-user trial: an 11:00 crash, warned about under -q every five minutes, sold at 13:02).
    Now the first wake-up's refusal is recorded and the next one fires acct_4's checkpoint at the crash price."""
    _, url, closes, tmp_path = market
    _intraday(tmp_path / "csv", "QQQ", closes["QQQ"], [("13:10", 0.6)])
    _through_noon(monkeypatch)
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T13:12:00-05:00")
    first = runner.invoke(app, ["-q", "run-due"])
    assert first.exit_code == 0, first.output
    [line] = first.stderr.splitlines()
    assert "acct_4: no price for QQQ now, no event checkpoint" in line and "taken for a bad print" in line
    [refused] = stored_events(url, type="QuoteRefused")
    assert refused.stream == "week:2026-01-07:event-checks" and refused.payload["reason"] == "suspect"
    [ran] = _run_due(monkeypatch, "2026-01-07T13:17:00-05:00")
    assert ran["job"] == EVENT_KEY
    assert ran["trigger"]["price"] == pytest.approx(closes["QQQ"] * 0.6, rel=1e-4)
    assert ran["trigger"]["move"] == pytest.approx(-0.4, abs=1e-4)
    assert ran["report"]["accounts"][0]["checkpoint"]["price"]["price"] == pytest.approx(closes["QQQ"] * 0.6, rel=1e-4)
