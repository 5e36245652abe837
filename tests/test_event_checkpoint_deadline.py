"""An event checkpoint whose account holds a symbol left without a price (here QQQ, halted after its 7% move: its last
print grows stale) through `run-due` with the clock set, on a real PostgreSQL (the market of
tests/test_event_checkpoint.py: one scheduled checkpoint a day, 12:00, so the event checkpoint's deadline is the
close). It is retried (exit 75) until its deadline, then closed: the account is recorded as not judged, and why, and
nothing more is retried."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from tests.crash_points import database, drop
from tests.support import stored_events
from tests.test_event_checkpoint import (
    EVENT_KEY,
    _intraday,
    _run_due,
    _status,
    _through_noon,
    market,  # noqa: F401 (the fixture)
)

runner = CliRunner()
STREAM = "week:2026-01-07:checkpoint:2026-01-07T13:17:event:acct_4"


def _halted_after(folder: Path, symbol: str, base: float, hhmm: str) -> None:
    """`symbol` 7% up from 13:10, and no print after `hhmm` (a halt): its last price ages past the staleness limit."""
    _intraday(folder, symbol, base, [("13:10", 1.07)])
    path = folder / "intraday" / f"{symbol}.csv"
    rows = path.read_text().splitlines()
    path.write_text("\n".join(r for r in rows if r.startswith("Timestamp") or r[11:16] <= hhmm) + "\n")


@pytest.fixture(scope="module")
def kept(pg_admin_url: str) -> Iterator[dict[str, tuple[str, Path]]]:
    """The state `_waiting_kept` left in this module's first test: a copy of its database and its folder (home,
    prices), dropped at the module's end."""
    made: dict[str, tuple[str, Path]] = {}
    yield made
    for name, _ in made.values():
        drop(pg_admin_url, name)


def _waiting_from_1317(fake: Any, closes: dict[str, float], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """QQQ halted after its 7% move; at 13:17 acct_4's event checkpoint fires while its owner's provider is down, so
    it waits (exit 75) and a rerun asks again; from 13:31 QQQ's last print (13:15) is stale. Other modules start from
    it too (test_cron_mail, test_checkpoint_closing_put_off)."""
    _halted_after(tmp_path / "csv", "QQQ", closes["QQQ"], "13:15")
    _through_noon(monkeypatch)
    fake.behaviour = lambda body: httpx.Response(503, json={"error": {"message": "overloaded"}})
    _run_due(monkeypatch, "2026-01-07T13:17:00-05:00", exit_code=75)
    fake.behaviour = None


def _waiting_kept(
    world: Any, monkeypatch: pytest.MonkeyPatch, pg_admin_url: str, kept: dict[str, tuple[str, Path]]
) -> None:
    """`_waiting_from_1317`, the same day for both tests of this module: the first runs it (its exit codes asserted)
    and keeps a copy of its database (CREATE DATABASE ... TEMPLATE) and of its home and prices (file times kept: the
    price cache checks them); the other gets its own copy of each, under its own database name and folder."""
    fake, url, closes, tmp_path = world
    name = url.partition("?")[0].rsplit("/", 1)[1]
    if (made := kept.get("13:17")) is not None:
        template, folder = made
        drop(pg_admin_url, name)
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        for part in ("home", "csv"):
            shutil.rmtree(tmp_path / part, ignore_errors=True)
            shutil.copytree(folder / part, tmp_path / part, symlinks=True)
        monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T13:17:00-05:00")  # as the run left it
        return
    _waiting_from_1317(fake, closes, tmp_path, monkeypatch)
    folder = tmp_path.parent / f"{tmp_path.name}-kept"
    for part in ("home", "csv"):
        shutil.copytree(tmp_path / part, folder / part, symlinks=True)
    kept["13:17"] = (database(pg_admin_url, template=name), folder)


def test_an_event_checkpoint_waiting_for_a_halted_symbol_is_retried_until_its_deadline_then_closed_as_not_judged(
    market: Any,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    pg_admin_url: str,
    kept: dict[str, tuple[str, Path]],
) -> None:
    _, url, _, _ = market
    _waiting_kept(market, monkeypatch, pg_admin_url, kept)
    # From 13:31 QQQ's last print (13:15) is stale: acct_4 is not judged, and waits (retried) until the close.
    for instant in ("2026-01-07T13:45:00-05:00", "2026-01-07T15:55:00-05:00"):
        monkeypatch.setenv("LLMTRADE_NOW", instant)
        waiting = runner.invoke(app, ["run-due"])
        assert waiting.exit_code == 75, waiting.output
        assert "acct_4: QQQ" in waiting.output and "stale" in waiting.output
    assert not stored_events(url, stream=f"{STREAM}:acct_4")  # not judged, not skipped: a rerun may still judge it

    # Past the deadline (the close) the wake-up goes on: the event checkpoint is closed, saying who was not judged.
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T16:05:00-05:00")
    closed = runner.invoke(app, ["run-due"])
    assert closed.exit_code == 0, closed.output
    [line] = [s for s in closed.output.splitlines() if EVENT_KEY in s]
    assert "acct_4 not judged" in line and "QQQ" in line and "stale" in line, closed.output
    assert "2026-01-07T16:00:00-05:00" in line  # the deadline it was retried until
    [skipped] = stored_events(url, type="CheckpointSkipped", stream=f"{STREAM}:acct_4")
    assert skipped.payload["reason"].startswith("not judged by the deadline 2026-01-07T16:00:00-05:00")
    assert "QQQ" in skipped.payload["reason"]
    [missing] = stored_events(url, type="InputsMissing", stream=f"{STREAM}:acct_4")
    assert missing.payload["missing"] == ["acct_4"] and "QQQ" in missing.payload["errors"][0]
    assert [e.stream for e in stored_events(url, type="CheckpointCompleted") if ":event:" in e.stream] == [STREAM]
    [line] = _status(monkeypatch)["event_checkpoints"]
    assert line["completed"] is True
    # Nothing is retried again: the next wake-ups, that evening and the next morning, exit 0 and write nothing.
    count = len(stored_events(url))
    assert _run_due(monkeypatch, "2026-01-07T16:10:00-05:00") == []
    assert _run_due(monkeypatch, "2026-01-08T09:35:00-05:00") == []
    assert len(stored_events(url)) == count


def test_an_event_checkpoint_still_unfinished_when_the_week_turns_is_closed_by_the_next_weeks_first_wake_up(
    market: Any,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    pg_admin_url: str,
    kept: dict[str, tuple[str, Path]],
) -> None:
    """The machine is off from the event checkpoint's wait (Wednesday 13:17) until the next Wednesday before its
    weekly run: every wake-up past the deadline fell in the next week, which looked at its own week's checkpoints
    only, so the fired checkpoint of the week before stayed open for good, its account recorded nowhere as not
    judged."""
    _, url, _, _ = market
    _waiting_kept(market, monkeypatch, pg_admin_url, kept)
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-14T07:00:00-05:00")
    turned = runner.invoke(app, ["-q", "run-due"])
    assert turned.exit_code == 0, turned.output
    [line] = [s for s in turned.output.splitlines() if EVENT_KEY in s]  # one warning
    assert "acct_4 not judged by the deadline 2026-01-07T16:00:00-05:00" in line, line
    [skipped] = stored_events(url, type="CheckpointSkipped", stream=f"{STREAM}:acct_4")
    assert skipped.payload["reason"].startswith("not judged by the deadline 2026-01-07T16:00:00-05:00")
    assert [e.stream for e in stored_events(url, type="CheckpointCompleted") if ":event:" in e.stream] == [STREAM]
    count = len(stored_events(url))
    quiet = runner.invoke(app, ["-q", "run-due"])
    assert (quiet.exit_code, quiet.output) == (0, "")  # closed once
    assert len(stored_events(url)) == count
