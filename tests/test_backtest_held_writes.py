"""A backtest's writes are held in memory and reach its database a week at a time (storage/sole_writer.py):
a process killed before a week was written loses that week only, and the resumed backtest ends where an
uninterrupted one does. Its database has one writer: a second process is refused while the first runs."""

from __future__ import annotations

import _thread
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

import llmtrade.app.backtest as backtest_loop
from llmtrade.app.backtest_container import BacktestContainer
from llmtrade.clock import SteppingClock
from llmtrade.config.loader import load_config
from llmtrade.domain.events import StoredEvent
from llmtrade.errors import TemporaryError
from llmtrade.exits import classify
from llmtrade.memory.store import EVENT_TYPES as MEMORY_EVENTS
from llmtrade.memory.store import TABLES as MEMORY_TABLES
from llmtrade.settings import Settings
from llmtrade.storage import sole_writer
from llmtrade.storage.database import backtest_database
from llmtrade.workflows.schedule import Job
from tests.support import FIXED_NOW
from tests.test_backtest import FIRST, LAST, Killed, _dump, _events, _run, _unique, _url
from tests.test_backtest_providers_kept import offline_backtest


@pytest.fixture
def live_url(database_url: str) -> str:
    return database_url


def test_a_backtest_killed_before_its_week_was_written_redoes_that_week_and_ends_as_an_uninterrupted_one(
    live_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, pg_admin_url: str
) -> None:
    uninterrupted = _unique()
    whole = _run(live_url, tmp_path, uninterrupted, audit=0)
    name = _unique()
    real = sole_writer.write

    def dies_writing_the_second_week(conn: psycopg.Connection, held: list[tuple[StoredEvent, str]]) -> None:
        # The process dies with the second week's last events (and its BacktestWeekDone) still in memory: in the
        # week's flush behind, on its thread (raised in the backtest's by the next wait for it).
        if any(e.type == "BacktestWeekDone" and e.week_id == LAST for e, _ in held):
            raise Killed
        real(conn, held)

    monkeypatch.setattr(sole_writer, "write", dies_writing_the_second_week)
    with pytest.raises(Killed):
        _run(live_url, tmp_path, name, audit=0)
    url = _url(pg_admin_url, backtest_database(name))
    assert [p["week_id"] for p in _events(url, "BacktestWeekDone")] == [str(FIRST)]
    assert not [p for p in _events(url, "PostmortemCompleted") if p["week_id"] == str(LAST)]
    monkeypatch.setattr(sole_writer, "write", real)

    resumed = _run(live_url, tmp_path, name, audit=0)

    assert (resumed.weeks_done_before, resumed.weeks_run) == (1, 1)
    assert [p["week_id"] for p in _events(url, "BacktestWeekDone")] == [str(FIRST), str(LAST)]
    accepted = [p["order"]["client_order_id"] for p in _events(url, "PaperOrderAccepted")]
    assert accepted and len(accepted) == len(set(accepted))
    completed = [(p["day"], p["time"]) for p in _events(url, "CheckpointCompleted")]
    assert len(completed) == len(set(completed))
    assert resumed.leaderboard.model_dump(exclude={"source"}) == whole.leaderboard.model_dump(exclude={"source"})
    # The memory rows the killed week committed (its events were still held) do not stop the redone week from
    # remembering again: the same memories, and the same rows, as the uninterrupted run's.
    once = _url(pg_admin_url, backtest_database(uninterrupted))
    for kind in MEMORY_EVENTS:
        assert _events(url, kind) == _events(once, kind), kind
    assert _memory_rows(url) == _memory_rows(once)
    # Every event but the backtest stream's own (a resume records its start) as the uninterrupted run's, in order.
    assert _books(url) == _books(once)


def test_ctrl_c_while_a_weeks_flush_is_in_flight_leaves_that_week_whole_and_a_resumable_backtest(
    live_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, pg_admin_url: str
) -> None:
    uninterrupted = _run(live_url, tmp_path, _unique(), audit=0)
    name = _unique()
    real = sole_writer.write
    real_step = backtest_loop.step
    interrupted: list[str] = []
    second_week = threading.Event()

    def step(app: BacktestContainer, job: Job, **kw: Any) -> None:
        if job.week_id == LAST and not second_week.is_set():
            second_week.set()
            # Ctrl-C lands here, in the second week before its first job, whatever the machine's speed: the sleep
            # ends, then KeyboardInterrupt is raised (interrupt_main is delivered at the next bytecode).
            time.sleep(1.0)
        real_step(app, job, **kw)

    def interrupts_while_writing_the_first_week(conn: psycopg.Connection, held: list[tuple[StoredEvent, str]]) -> None:
        # Ctrl-C reaches the backtest (in the second week) while the first week's COPY is in flight.
        if threading.current_thread() is not threading.main_thread() and not interrupted:
            interrupted.append(threading.current_thread().name)
            if second_week.wait(60):
                _thread.interrupt_main()
            time.sleep(0.5)
        real(conn, held)

    monkeypatch.setattr(backtest_loop, "step", step)
    monkeypatch.setattr(sole_writer, "write", interrupts_while_writing_the_first_week)
    before = set(threading.enumerate())
    with pytest.raises(KeyboardInterrupt):
        _run(live_url, tmp_path, name, audit=0)
    assert interrupted == ["sole-writer-behind"]
    monkeypatch.setattr(sole_writer, "write", real)
    monkeypatch.setattr(backtest_loop, "step", real_step)
    url = _url(pg_admin_url, backtest_database(name))
    # The way out waited for the flush in flight: the first week is whole, the second is not done.
    assert [p["week_id"] for p in _events(url, "BacktestWeekDone")] == [str(FIRST)]

    resumed = _run(live_url, tmp_path, name, audit=0)

    assert (resumed.weeks_done_before, resumed.weeks_run) == (1, 1)
    assert [p["week_id"] for p in _events(url, "BacktestWeekDone")] == [str(FIRST), str(LAST)]
    accepted = [p["order"]["client_order_id"] for p in _events(url, "PaperOrderAccepted")]
    assert accepted and len(accepted) == len(set(accepted))
    assert resumed.leaderboard.model_dump(exclude={"source"}) == uninterrupted.leaderboard.model_dump(
        exclude={"source"}
    )
    assert not [t for t in threading.enumerate() if t.name == "sole-writer-behind" and t not in before]


def _books(url: str) -> list[str]:
    """Every event outside the backtest's own stream, in id order, without its id."""
    return [line.split(", ", 1)[1] for line in _dump(url) if line.split(", ", 3)[2] != '"backtest"']


def _memory_rows(url: str) -> dict[str, tuple[int, int]]:
    """Per memory table: its rows, and how many of them name an event that is not a memory's own."""
    with psycopg.connect(url) as conn:
        return {
            table: conn.execute(
                f"SELECT count(*), count(*) FILTER (WHERE e.type IS NULL OR NOT e.type = ANY(%s)) FROM {table} m"
                " LEFT JOIN events e ON e.id = m.event_id",
                (list(MEMORY_EVENTS),),
            ).fetchone()
            for table in MEMORY_TABLES
        }


def test_a_second_process_on_a_running_backtests_database_is_refused(live_url: str, tmp_path: Path) -> None:
    settings = Settings(DATABASE_URL=live_url, LLMTRADE_HOME=str(tmp_path))
    loaded = load_config(None)
    database = backtest_database(_unique())

    def container() -> BacktestContainer:
        clock = SteppingClock(FIXED_NOW)
        return BacktestContainer(
            settings, loaded, clock, None, lambda _t: None, offline=True, replay=False, database=database
        )

    with (
        container().held(),
        pytest.raises(TemporaryError, match="in use by another process") as refused,
        container().held(),
    ):
        pass
    # Exit 75, as README's table has another run of the same week (found running two `llmtrade backtest --name c1`
    # at once: the second exited 2, "bad configuration or arguments", for an identical command worth retrying).
    failure = classify(refused.value)
    assert failure is not None and failure.code == 75
    with container().held() as storage:  # released when the first one closed
        assert storage.events.count() == 0


def test_a_backtests_jobs_take_no_week_lock_but_other_connections_still_do(
    live_url: str, tmp_path: Path, database_url: str
) -> None:
    app = offline_backtest(live_url, tmp_path)
    mine = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
    with app.held() as storage, app.week_lock(storage.conn, FIRST, command="checkpoint"):
        # The whole database is this process's (the sole writer's advisory lock): no week lock is taken.
        assert storage.conn.execute(mine).fetchone() == (1,)
    # Any other connection (live's jobs) gets the real week lock: a second run of the week is refused.
    a, b = psycopg.connect(database_url, autocommit=True), psycopg.connect(database_url, autocommit=True)
    with a, b, app.week_lock(a, FIRST), pytest.raises(TemporaryError, match="advisory lock"), app.week_lock(b, FIRST):
        pass
