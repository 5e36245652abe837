"""Crash points of run-weekly and of a checkpoint, then a rerun: the week completes, nothing twice.

The harness (tests/crash_points.py) counts the event appends of a clean run and kills a run before
and after them in turn (dying before the OrderSubmitted append is the order window: the broker has
the order, our log does not). The points are enumerated from the clean run, never listed: by
default the order path's writes, each kind per stage at its first and last occurrence (`_points`);
`CRASH_EVERY_POINT=1 pytest tests/test_crash_points.py` dies around every append (a few minutes
per test). Each crash gets a fresh copy of a prepared database. After a
weekly crash at 08:00 the clock moves to 10:00, so an order queued for the open has filled before
the rerun; a checkpoint runs at 12:00, when orders fill at once. Paper accounts everywhere; in the
Alpaca tests acct_1 trades through the real alpaca-py client against the fake Alpaca server.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.clock import FixedClock
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import open_storage
from tests.crash_points import (
    CountingAlpaca,
    Crash,
    database,
    drop,
    dying,
    events_of,
    positions_by_orders,
    problems,
    url_of,
)
from tests.fakes.alpaca_server import FakeAlpacaServer
from tests.support import FIXED_NOW, going_live
from tests.test_week_lifecycle import scripted, write_market

runner = CliRunner()
WEEKLY, OPENED, MIDDAY = "2026-01-07T08:00:00-05:00", "2026-01-07T10:00:00-05:00", "2026-01-07T12:00:00-05:00"
WEEK_DONE = ("week:2026-01-07:done", "WeekCompleted")
CHECKPOINT_DONE = ("week:2026-01-07:checkpoint:2026-01-07T12:00", "CheckpointCompleted")
KEY, SECRET = "crash-key", "crash-secret"
ALPACA_ACCOUNT = "acct_1"


_PRIMED: dict[str, str] = {}
# Every append, before and after (minutes per test); else a sample, see `_points`.
EVERY_POINT = os.environ.get("CRASH_EVERY_POINT") == "1"


@dataclass(frozen=True)
class World:
    admin: str
    csv: Path
    closes: dict[str, float]
    empty: str  # a migrated database with no events: the weekly runs start from copies of it


@pytest.fixture(scope="module")
def world(pg_admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("crash")
    closes = write_market(folder / "csv")
    empty = database(pg_admin_url)
    with open_storage(Settings(DATABASE_URL=url_of(pg_admin_url, empty)), FixedClock(FIXED_NOW)):
        pass  # migrations only
    yield World(pg_admin_url, folder / "csv", closes, empty)
    for name in [empty, *_PRIMED.values()]:
        drop(pg_admin_url, name)
    _PRIMED.clear()


class Runs:
    """Runs llmtrade commands in-process against one database at a time, with the week's scripted models."""

    def __init__(self, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
        self.world, self.monkeypatch = world, monkeypatch
        self.databases: list[str] = []

    def primed(self) -> str:
        """A database with the market's bars cached and no events: the weekly runs start from copies of it.

        Built once per module from a clean run's cached bars, so that each crash point does not read
        and cache a year of bars again."""
        if "primed" not in _PRIMED:
            scratch = self.fresh(self.world.empty)
            self.invoke(["run-weekly"], OPENED)
            primed = database(self.world.admin, template=self.world.empty)
            with (
                psycopg.connect(url_of(self.world.admin, scratch)) as source,
                psycopg.connect(url_of(self.world.admin, primed)) as target,
            ):
                for table in ("market_bars", "market_fetches"):  # the events table is append-only: copy, not clear
                    with (
                        source.cursor().copy(f"COPY {table} TO STDOUT (FORMAT BINARY)") as rows,
                        target.cursor().copy(f"COPY {table} FROM STDIN (FORMAT BINARY)") as into,
                    ):
                        for chunk in rows:
                            into.write(chunk)
                # COPY does not move a bigserial's sequence: without this a later fetch would reuse id 1.
                target.execute(
                    "SELECT setval(pg_get_serial_sequence('market_fetches', 'id'), "
                    "(SELECT coalesce(max(id), 1) FROM market_fetches))"
                )
            _PRIMED["primed"] = primed
        return _PRIMED["primed"]

    def fresh(self, template: str) -> str:
        name = database(self.world.admin, template=template)
        self.databases.append(name)
        self.monkeypatch.setenv("DATABASE_URL", url_of(self.world.admin, name))
        return name

    def invoke(self, args: list[str], at: str) -> str:
        """Run a command at `at` (LLMTRADE_NOW); it must exit 0. Its standard output."""
        self.monkeypatch.setenv("LLMTRADE_NOW", at)
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        return result.stdout

    def fresh_beside(self, alpaca: CountingAlpaca) -> str:
        """A fresh database copied from the primed one, the Alpaca fake left as it was before priming (which runs a
        week there). Its name."""
        state = alpaca.snapshot()
        primed = self.primed()
        alpaca.restore(state)
        return self.fresh(primed)

    def account_shown(self, account_id: str, at: str) -> dict[str, Any]:
        """`status --json`'s row of `account_id` at `at`."""
        shown = json.loads(self.invoke(["status", "--json"], at))
        return {a["account_id"]: a for a in shown["accounts"]}[account_id]

    def crash(self, args: list[str], at: str, index: int, when: str) -> bool:
        """Run until it dies at append `index` (`when`: before/after); False if it finished first."""
        self.monkeypatch.setenv("LLMTRADE_NOW", at)
        with dying(index, when) as state:  # type: ignore[arg-type]
            try:
                runner.invoke(app, args)
            except Crash:
                return True
        return state.dead

    def count(self, args: list[str], at: str) -> tuple[int, list[str]]:
        self.monkeypatch.setenv("LLMTRADE_NOW", at)
        with dying(None) as state:
            result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        return state.appends, state.types

    def events(self, name: str) -> list[tuple[str, str, dict[str, Any]]]:
        return events_of(url_of(self.world.admin, name))

    def close(self) -> None:
        for name in self.databases:
            drop(self.world.admin, name)


@pytest.fixture
def runs(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runs]:
    with going_live(monkeypatch, scripted(world.closes), market=world.csv):
        runs = Runs(world, monkeypatch)
        try:
            yield runs
        finally:
            runs.close()


@pytest.fixture
def alpaca(monkeypatch: pytest.MonkeyPatch, world: World) -> Iterator[CountingAlpaca]:
    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as server:
        for symbol, close in world.closes.items():
            server.set_price(symbol, close)
        # Each crash point reruns a whole job within the same real minute: hundreds of requests a minute, past Alpaca's
        # 200, which a cron job never sends. Rate limits have tests of their own (test_alpaca_data, test_alpaca_quotes).
        server.rate_limit = 10**9
        monkeypatch.setenv("LLMTRADE_ALPACA_URL", server.base_url)
        monkeypatch.setenv("ALPACA_ACCT_1_KEY", KEY)
        monkeypatch.setenv("ALPACA_ACCT_1_SECRET", SECRET)
        yield CountingAlpaca(server)


# The writes of the order path: the plan, the broker's ledger, the order's record, its fill, completion.
MONEY = {
    "OrdersPlanned",
    "PaperOrderAccepted",
    "OrderSubmitted",
    "OrderRejected",
    "LegHeldBack",
    "PlanAbandoned",
    "OrderFilled",
    "WeekCompleted",
    "CheckpointCompleted",
}


def _points(types: list[str], *, after: bool = True) -> list[tuple[int, str]]:
    """Where to die: before (and `after`) appends of a clean run (`types`: each append's event types).

    With CRASH_EVERY_POINT=1, around every append. Otherwise, to keep the suite's time in bounds,
    the order path's writes (MONEY), each kind of them in each stage at its first and last
    occurrence (the second of five alike orders leaves the same kind of state as the first)."""
    if EVERY_POINT:
        return [(i, when) for i in range(len(types)) for when in ("before", "after")]
    first: dict[tuple[int, str], int] = {}
    last: dict[tuple[int, str], int] = {}
    stage = 0
    for i, kind in enumerate(types):
        stage += kind == "StageStarted"
        first.setdefault((stage, kind), i)
        last[(stage, kind)] = i
    edges = sorted(set(first.values()) | set(last.values()))
    keep = [i for i in edges if MONEY & set(types[i].split(","))]
    return [(i, when) for i in keep for when in (("before", "after") if after else ("before",))]


def _weekly_points(runs: Runs, alpaca: CountingAlpaca | None) -> list[str]:
    """Crash run-weekly at each point (08:00), rerun at 10:00 after the open; the problems found."""
    primed = runs.primed()
    if alpaca:  # the primed database's bars came from a run whose orders went to this server, when it made them
        alpaca.restore(alpaca.clean)
    state = alpaca.snapshot() if alpaca else None
    runs.fresh(primed)
    _, types = runs.count(["run-weekly"], WEEKLY)
    clean = runs.events(runs.databases[-1])
    goldens = [positions_by_orders(clean)]
    if alpaca and state:
        alpaca.restore(state | {"fill_immediately": True})
    runs.fresh(primed)
    runs.invoke(["run-weekly"], OPENED)  # a plan made after the open, as a rerun makes it after an early crash
    goldens.append(positions_by_orders(runs.events(runs.databases[-1])))
    found: list[str] = []
    # Alpaca: the order window (before each record); paper covers the rest.
    for index, when in _points(types, after=alpaca is None):
        if alpaca and state:
            alpaca.restore(state)
        name = runs.fresh(primed)
        died = runs.crash(["run-weekly"], WEEKLY, index, when)
        if alpaca:
            alpaca.server.fill_open_orders()  # 09:30: what the broker queued has filled
            alpaca.server.fill_immediately = True
        runs.invoke(["run-weekly"], OPENED)
        events = runs.events(name)
        where = f"run-weekly {when} append {index} ({types[index]})"
        found += [f"{where}: {p}" for p in ([] if died else ["did not die"])]
        found += [
            f"{where}: {p}"
            for p in problems(
                events,
                complete=WEEK_DONE,
                clean=clean,
                goldens=goldens,
                alpaca=alpaca,
                alpaca_account=ALPACA_ACCOUNT if alpaca else None,
            )
        ]
        drop(runs.world.admin, name)
        runs.databases.remove(name)
    return found


def _checkpoint_points(runs: Runs, alpaca: CountingAlpaca | None) -> list[str]:
    """Crash the 12:00 checkpoint at each point after a clean week; rerun it at 12:00."""
    week = runs.fresh(runs.primed())
    if alpaca:  # as in _weekly_points: the server as it was before the primed database's run
        alpaca.restore(alpaca.clean)
    runs.invoke(["run-weekly"], WEEKLY)
    if alpaca:
        alpaca.server.fill_open_orders()
        alpaca.server.fill_immediately = True
    state = alpaca.snapshot() if alpaca else None
    runs.fresh(week)
    _, types = runs.count(["checkpoint", "12:00"], MIDDAY)
    clean = runs.events(runs.databases[-1])
    goldens = [positions_by_orders(clean)]
    assert any(t == "OrderSubmitted" for _, t, _ in clean[len(runs.events(week)) :]), "the checkpoint trades"
    found: list[str] = []
    # Alpaca: the order window (before each record); paper covers the rest.
    for index, when in _points(types, after=alpaca is None):
        if alpaca and state:
            alpaca.restore(state)
        name = runs.fresh(week)
        died = runs.crash(["checkpoint", "12:00"], MIDDAY, index, when)
        runs.invoke(["checkpoint", "12:00"], MIDDAY)
        where = f"checkpoint {when} append {index} ({types[index]})"
        found += [f"{where}: did not die"] if not died else []
        found += [
            f"{where}: {p}"
            for p in problems(
                runs.events(name),
                complete=CHECKPOINT_DONE,
                clean=clean,
                goldens=goldens,
                alpaca=alpaca,
                alpaca_account=ALPACA_ACCOUNT if alpaca else None,
            )
        ]
        drop(runs.world.admin, name)
        runs.databases.remove(name)
    return found


def test_run_weekly_killed_around_its_writes_completes_the_week_on_the_rerun_sending_each_order_once(
    runs: Runs,
) -> None:
    assert _weekly_points(runs, None) == []


def test_a_checkpoint_killed_around_its_writes_completes_on_the_rerun_sending_each_order_once(runs: Runs) -> None:
    assert _checkpoint_points(runs, None) == []


def test_run_weekly_with_alpaca_killed_around_its_money_writes_completes_the_week_once(
    runs: Runs, alpaca: CountingAlpaca
) -> None:
    assert _weekly_points(runs, alpaca) == []


def test_a_checkpoint_with_alpaca_killed_around_its_money_writes_completes_once(
    runs: Runs, alpaca: CountingAlpaca
) -> None:
    assert _checkpoint_points(runs, alpaca) == []
