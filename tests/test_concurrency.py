"""Commands side by side: derived events are written once, read-only commands write nothing, and
several commands on a fresh home share its first start. Real processes (the `llmtrade` CLI as
subprocesses) or threads with connections of their own, against the real PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import llmtrade
from llmtrade.brokers.fills import record_valuation
from llmtrade.cli import app
from llmtrade.clock import FixedClock
from llmtrade.config.models import CircuitBreaker
from llmtrade.domain.account_events import AccountHalted
from llmtrade.domain.breaker import BreakerUpdated
from llmtrade.domain.checkpoints import AccountValued
from llmtrade.domain.events import NewEvent
from llmtrade.domain.trading import AccountSnapshot, Fill, Side
from llmtrade.errors import ConcurrencyError
from llmtrade.risk import controls
from llmtrade.settings import Settings
from llmtrade.storage import migrations
from llmtrade.storage.bootstrap import Storage, open_storage
from llmtrade.storage.database import stop_embedded
from llmtrade.storage.event_store import EventStore
from llmtrade.workflows.weekly import week_lock
from tests.support import FIXED_NOW, stored_events

# The code under test, not whatever copy is installed: the subprocesses run in a temporary folder.
SOURCE = str(Path(llmtrade.__file__).parents[1])
SHIPPED = [m.number for m in migrations.available()]


def _spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "llmtrade", *args],
        env={**env, "PYTHONPATH": SOURCE},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _all_at_once(commands: list[list[str]], env: dict[str, str]) -> list[tuple[int, str, str]]:
    """Start every command before waiting for any; (exit code, stdout, stderr) of each."""
    running = [_spawn(args, env) for args in commands]
    done = []
    for process in running:
        out, err = process.communicate(timeout=120)
        done.append((process.returncode, out, err))
    return done


def test_four_concurrent_status_commands_and_other_readers_add_no_event_and_no_traceback(
    cli_env: dict[str, str],
) -> None:
    url = cli_env["DATABASE_URL"]
    # The week the readers read, made in this process: only the readers at once need processes of their own.
    weekly = CliRunner().invoke(app, ["run-weekly"], env={"LLMTRADE_NOW": "2026-01-07T08:00:00-05:00"})
    assert weekly.exit_code == 0, weekly.output
    before = stored_events(url)
    # At noon the orders placed at 08:00 are due to fill: valuing an account would settle them.
    noon = {**cli_env, "LLMTRADE_NOW": "2026-01-07T12:00:00-05:00"}
    mixed = [["status", "--json"], ["checkpoint", "12:00", "--dry-run"], ["events", "--json"], ["db", "status"]]
    for commands in ([["status", "--json"]] * 4, mixed):
        done = _all_at_once(commands, noon)
        assert [code for code, _, _ in done] == [0] * 4, [err for _, _, err in done]
        assert not any("Traceback" in err for _, _, err in done)
        assert any(a["positions"] for a in json.loads(done[0][1])["accounts"])  # the fills were seen
    after = stored_events(url)
    assert [e.id for e in after] == [e.id for e in before]
    fills = Counter(e.stream for e in after if e.type == "OrderFilled")
    assert all(n == 1 for n in fills.values())


def test_three_first_use_commands_on_a_fresh_home_share_its_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One fresh home (each is an initdb and every migration, three processes' starts): the same race many times over
    is benchmarks/first_use_race.py."""
    home = tmp_path / "fresh"
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | {"LLMTRADE_HOME": str(home)}
    try:
        done = _all_at_once([["db", "status", "--json"], ["status"], ["events", "--json"]], env)
        for code, _, err in done:
            assert code == 0, err
            assert "Traceback" not in err
        report = json.loads(done[0][1])
        assert [m["number"] for m in report["migrations"]] == SHIPPED  # each applied once, all there
    finally:
        stop_embedded(home / "pgdata")


CONFIG = CircuitBreaker()  # halts past a 20% drawdown
T0 = datetime(2026, 1, 7, 14, 30, tzinfo=UTC)
CLOSED_WIN = [
    Fill(client_order_id=f"o{n}", account_id="acct-1", symbol="SPY", side=side, qty=10, price=price, filled_at=T0)
    for n, (side, price) in enumerate([(Side.BUY, 100.0), (Side.SELL, 110.0)])
]


def test_two_evaluators_racing_on_one_breaker_record_the_halt_once(
    storage: Storage, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Both read the breaker before either writes: the interleaving that recorded AccountHalted twice.
    both_read = threading.Barrier(2, timeout=10)
    first_read: set[int] = set()
    real_read = controls.read_breaker

    def read_then_wait(*args: Any, **kwargs: Any) -> Any:
        found = real_read(*args, **kwargs)
        if threading.get_ident() not in first_read:
            first_read.add(threading.get_ident())
            both_read.wait()
        return found

    monkeypatch.setattr(controls, "read_breaker", read_then_wait)

    def evaluate(_: int) -> bool:
        with open_storage(Settings(DATABASE_URL=database_url), FixedClock(FIXED_NOW)) as mine:
            state = controls.evaluate_breaker(
                mine.events,
                "acct-1",
                starting_equity=100_000.0,
                equity=75_000.0,
                fills=[],
                config=CONFIG,
                week_id=None,
                run_id=None,
            )
        return state.halted

    with ThreadPoolExecutor(2) as pool:
        assert list(pool.map(evaluate, range(2))) == [True, True]
    monkeypatch.undo()
    recorded = storage.events.read(account_id="acct-1")
    assert [e.type for e in recorded].count(AccountHalted.event_type()) == 1
    assert [e.type for e in recorded].count(BreakerUpdated.event_type()) == 1
    assert controls.halted(storage.events, "acct-1")[0]


def test_a_manual_reset_racing_an_evaluation_is_not_lost(
    storage: Storage, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    controls.evaluate_breaker(
        storage.events,
        "acct-1",
        starting_equity=100_000.0,
        equity=75_000.0,
        fills=[],
        config=CONFIG,
        week_id=None,
        run_id=None,
    )
    both_read = threading.Barrier(2, timeout=10)
    first_read: set[int] = set()
    real_read = controls.read_breaker

    def read_then_wait(*args: Any, **kwargs: Any) -> Any:
        found = real_read(*args, **kwargs)
        if threading.get_ident() not in first_read:
            first_read.add(threading.get_ident())
            both_read.wait()
        return found

    monkeypatch.setattr(controls, "read_breaker", read_then_wait)

    def reset() -> None:
        with open_storage(Settings(DATABASE_URL=database_url), FixedClock(FIXED_NOW)) as mine:
            controls.reset_breaker(mine.events, "acct-1", starting_equity=100_000.0, equity=75_000.0)

    def evaluate() -> None:
        # A newly closed trade: written from the halted state it read, its BreakerUpdated would put the
        # account back under the halt the reset just lifted. Folded into the reset state, it does not.
        with open_storage(Settings(DATABASE_URL=database_url), FixedClock(FIXED_NOW)) as mine:
            controls.evaluate_breaker(
                mine.events,
                "acct-1",
                starting_equity=100_000.0,
                equity=75_100.0,
                fills=CLOSED_WIN,
                config=CONFIG,
                week_id=None,
                run_id=None,
            )

    with ThreadPoolExecutor(2) as pool:
        for future in [pool.submit(reset), pool.submit(evaluate)]:
            future.result()
    monkeypatch.undo()
    assert not controls.halted(storage.events, "acct-1")[0]
    assert controls.breaker_state(storage.events, "acct-1", 100_000.0)[1] == 1  # the trade was still seen
    versions = [e.version for e in storage.events.read(stream="breaker:acct-1")]
    assert versions == list(range(1, len(versions) + 1))


def test_a_run_behind_another_of_the_same_week_exits_75_to_be_retried(
    storage: Storage, cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T08:00:00-05:00")
    week = date(2026, 1, 7)
    with week_lock(storage.conn, week):  # another process's run of the week, still going
        blocked = CliRunner().invoke(app, ["run-weekly"])
    assert blocked.exit_code == 75, blocked.output
    assert "another run-weekly for week 2026-01-07 is running" in blocked.stderr
    assert storage.events.read(type="RunStarted") == []  # it stopped before recording anything
    assert CliRunner().invoke(app, ["run-weekly"]).exit_code == 0  # the retry, once the other ended


def _snapshot(equity: float) -> AccountSnapshot:
    return AccountSnapshot(account_id="acct-1", cash=equity, equity=equity, buying_power=equity, positions={})


def test_a_named_valuation_is_recorded_once_however_many_processes_value_it(
    storage: Storage, database_url: str
) -> None:
    start = threading.Barrier(3, timeout=10)
    week = date(2026, 1, 7)

    def value(equity: float) -> bool:
        with open_storage(Settings(DATABASE_URL=database_url), FixedClock(FIXED_NOW)) as mine:
            start.wait()
            return record_valuation(
                mine.events, _snapshot(equity), occasion="checkpoint 2026-01-08 12:00", week_id=week, run_id=None
            )

    with ThreadPoolExecutor(3) as pool:
        appended = list(pool.map(value, [100_000.0, 100_001.0, 100_002.0]))
    assert appended.count(True) == 1
    [valued] = storage.events.read(type=AccountValued.event_type())
    assert valued.payload["occasion"] == "checkpoint 2026-01-08 12:00"
    # A rerun of the same occasion keeps the first valuation; a different occasion is its own.
    assert not record_valuation(
        storage.events, _snapshot(1.0), occasion="checkpoint 2026-01-08 12:00", week_id=week, run_id=None
    )
    assert record_valuation(
        storage.events, _snapshot(1.0), occasion="checkpoint 2026-01-08 15:00", week_id=week, run_id=None
    )


def test_valuations_after_each_fill_are_each_recorded(storage: Storage) -> None:
    week = date(2026, 1, 7)
    for equity in (100_000.0, 99_000.0):
        assert record_valuation(storage.events, _snapshot(equity), occasion="after fill", week_id=week, run_id="r")
    assert [e.payload["equity"] for e in storage.events.read(type=AccountValued.event_type())] == [100_000.0, 99_000.0]


def test_writers_appending_at_the_head_of_a_shared_stream_all_land(storage: Storage, database_url: str) -> None:
    # `market bars` in two processes both record a fetch on the shared `market` stream, with no
    # expected version: the one that read the head second used to fail with ConcurrencyError (exit 1).
    # A multi-stream batch reads the heads first: every writer holds head 0 before any inserts.
    all_read = threading.Barrier(4, timeout=10)
    first_read: set[int] = set()
    real_head = EventStore.stream_version

    def head_then_wait(self: EventStore, stream: str) -> int:
        found = real_head(self, stream)
        if threading.get_ident() not in first_read:
            first_read.add(threading.get_ident())
            all_read.wait()  # every writer holds head 0 before any inserts
        return found

    def write(n: int) -> int:
        with open_storage(Settings(DATABASE_URL=database_url), FixedClock(FIXED_NOW)) as mine:
            mine.events.stream_version = lambda stream: head_then_wait(mine.events, stream)  # type: ignore[method-assign]
            for i in range(5):
                mine.events.append(
                    [
                        NewEvent(type="MarketDataFetched", stream="market", payload={"n": n * 10 + i}),
                        NewEvent(type="MarketDataFetched", stream=f"mine:{n}", payload={"n": n * 10 + i}),
                    ]
                )
        return n

    with ThreadPoolExecutor(4) as pool:
        assert sorted(pool.map(write, range(4))) == [0, 1, 2, 3]
    landed = storage.events.read_stream("market")
    assert [e.version for e in landed] == list(range(1, 21))
    assert sorted(e.payload["n"] for e in landed) == sorted(n * 10 + i for n in range(4) for i in range(5))


def test_an_append_to_one_stream_that_loses_its_head_to_a_writer_committing_under_it_lands_after_it(
    storage: Storage, database_url: str
) -> None:
    """A one-stream append reads the head and inserts in one statement: a writer holding that version uncommitted
    makes it wait on the key, fail when the writer commits, and append again after the writer's event."""
    import psycopg

    with psycopg.connect(database_url) as other:
        other.execute(
            "INSERT INTO events (type, stream, version, occurred_at) VALUES ('MarketDataFetched', 'market', 1, now())"
        )  # not committed: the append below reads head 0 and waits on (market, 1)
        committing = threading.Timer(0.3, other.commit)
        committing.start()
        stored = storage.events.append([NewEvent(type="MarketDataFetched", stream="market", payload={"n": 2})])
        committing.join()
    assert [(e.version, e.payload.get("n")) for e in storage.events.read_stream("market")] == [(1, None), (2, 2)]
    assert stored[0].version == 2
    # With an expected version, losing the head is the answer.
    with pytest.raises(ConcurrencyError):
        storage.events.append(
            [NewEvent(type="MarketDataFetched", stream="market", payload={"n": 3})], expected_versions={"market": 1}
        )
    assert len(storage.events.read_stream("market")) == 2
