"""`llmtrade backtest`: the schedule replayed in one process, deterministic, resumable, apart from the live books.

Two 2-week offline backtests on the synthetic market (with the look-ahead audit on both weeks) are run
once per module and shared; the tests that need a backtest of their own (a kill, a planted leak) run
one or two weeks.
"""

from __future__ import annotations

import contextlib
import gc
import json
import shutil
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from llmtrade.app import backtest as backtest_module
from llmtrade.app import backtest_paths, backtest_steps
from llmtrade.app.backtest import BacktestSpec, backtest
from llmtrade.app.backtest_inputs import Progress
from llmtrade.app.backtest_process import STARTUP_FROZEN
from llmtrade.app.evaluation_results import BacktestResult
from llmtrade.cli import app as cli
from llmtrade.clock import FixedClock
from llmtrade.config.loader import load_config, packaged_defaults
from llmtrade.domain.events import NewEvent
from llmtrade.errors import UsageError
from llmtrade.market import intraday_path
from llmtrade.market.paths_ahead import PathsAhead
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import open_storage
from llmtrade.storage.database import backtest_database

runner = CliRunner()
FIRST, LAST = date(2026, 1, 7), date(2026, 1, 14)


def _url(admin_url: str, dbname: str) -> str:
    head, _, query = admin_url.partition("?")
    return f"{head.rsplit('/', 1)[0]}/{dbname}" + (f"?{query}" if query else "")


def _unique() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


def _run(
    live_url: str, home: Path, name: str, *, first: date = FIRST, last: date = LAST, audit: int = 2, **kw: Any
) -> BacktestResult:
    settings = Settings(DATABASE_URL=live_url, LLMTRADE_HOME=str(home))
    spec = BacktestSpec(name=name, first=first, last=last, offline=True, replay=False, audit=audit)
    return backtest(settings, load_config(None), None, spec, say=lambda _t: None, **kw)


def _dump(url: str) -> list[str]:
    """Every event of a database in id order, every column and the whole payload; only the backtest's own name is
    left out (durations are on the stepped clock: nothing is masked)."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT id, type, stream, version, week_id, account_id, run_id, occurred_at, payload"
            " FROM events ORDER BY id"
        ).fetchall()
    out = []
    for id_, type_, stream, version, week, account, run, at, payload in rows:
        body = payload
        if type_ in ("BacktestStarted", "BacktestFinished"):
            body.pop("name")
        out.append(json.dumps([id_, type_, stream, version, str(week), account, run, at.isoformat(), body]))
    return out


def _events(url: str, kind: str) -> list[dict[str, Any]]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute("SELECT payload FROM events WHERE type = %s ORDER BY id", (kind,))]


@dataclass(frozen=True)
class Books:
    live_url: str
    live_before: list[str]
    a: BacktestResult
    b: BacktestResult
    a_url: str
    b_url: str
    steps: list[Progress]
    unaudited_url: str
    frozen: list[int]  # the heap's frozen objects at each progress report (app/backtest_process.py `weekly_heap`)
    planned_ahead: int  # the day plans run a's checkpoints took from its paths worker (market/paths_ahead.py)


@pytest.fixture(scope="module")
def books(pg_admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Books:
    live = _unique()
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{live}"')
    live_url = _url(pg_admin_url, live)
    # The live books hold something of their own before any backtest runs.
    with open_storage(Settings(DATABASE_URL=live_url), FixedClock(datetime_now())) as storage:
        storage.events.append([NewEvent(type="LiveMarker", stream="live-marker", payload={"n": 1})])
    live_before = _dump(live_url)
    home = tmp_path_factory.mktemp("bt-home")
    steps: list[Progress] = []
    frozen: list[int] = []
    a_name, b_name = _unique(), _unique()
    given: list[int] = []
    with pytest.MonkeyPatch.context() as m:
        taken = PathsAhead.given
        m.setattr(PathsAhead, "given", lambda self, keys: (found := taken(self, keys), given.append(len(found)))[0])
        m.setattr(backtest_paths, "AHEAD_FROM", 1)  # a worker for its two weeks
        intraday_path._PLANS.clear()  # none kept from an earlier test: a asks the worker for every day
        a = _run(live_url, home, a_name, progress=lambda p: (steps.append(p), frozen.append(gc.get_freeze_count())))
    with pytest.MonkeyPatch.context() as m:
        # b plans every day itself: the same books from plans made in the worker and here (test_the_same_backtest_...).
        m.setattr(backtest_module, "paths_planned", lambda *args: contextlib.nullcontext())
        intraday_path._PLANS.clear()  # and none kept from a's: b makes every plan itself
        b = _run(live_url, home, b_name)
    unaudited = _unique()
    _run(live_url, home, unaudited, audit=0)
    return Books(
        live_url,
        live_before,
        a,
        b,
        _url(pg_admin_url, backtest_database(a_name)),
        _url(pg_admin_url, backtest_database(b_name)),
        steps,
        _url(pg_admin_url, backtest_database(unaudited)),
        frozen,
        sum(given),
    )


def datetime_now() -> Any:
    from tests.support import FIXED_NOW

    return FIXED_NOW


# ---------------------------------------------------------------- what it runs


def test_every_scheduled_job_of_the_range_runs_once_on_the_stepped_clock(books: Books) -> None:
    # 2026-01-07..13: 5 sessions x 4 checkpoints; 2026-01-14..20: MLK day leaves 4 sessions.
    assert books.a.jobs == {"weekly": 2, "checkpoint": 36, "postmortem": 2}
    assert (books.a.weeks, books.a.weeks_run, books.a.weeks_done_before) == (2, 2, 0)
    with psycopg.connect(books.a_url) as conn:
        at = dict(conn.execute("SELECT payload->>'time', occurred_at FROM events WHERE type = 'CheckpointCompleted'"))
        runs = Counter(r[0] for r in conn.execute("SELECT payload->>'command' FROM events WHERE type = 'RunStarted'"))
    # Each checkpoint's events carry the checkpoint's own instant, not the wall clock.
    assert set(at) == {"09:00", "12:00", "14:00", "15:50"}
    # The audit's dry runs stored nothing: only the real runs are on record (discovery's before each weekly run).
    assert runs == {"run-weekly": 2, "checkpoint": 36, "postmortem": 2, "discover": 2}
    accounts = [s for s in books.a.leaderboard.standings if s.kind == "account"]
    assert len(accounts) == 6 and any(a.trades > 0 or a.slippage_usd for a in accounts)
    # Valued with the config it ran with (its recorded hash): EQUAL_WEIGHT's universe is the weeks', nothing to say.
    assert not any(n.startswith("EQUAL_WEIGHT holds") for n in books.a.leaderboard.notes)


def test_progress_reports_each_finished_week(books: Books) -> None:
    assert [(s.weeks_done, s.weeks) for s in books.steps] == [(0, 2), (1, 2), (2, 2)]
    assert [s.week_id for s in books.steps] == [None, FIRST, LAST]
    last = books.steps[-1]
    # Offline: the rules provider answered every request, no model did: no model call, the answers counted apart.
    assert (last.calls, last.rules_answers) == (books.a.llm_calls, books.a.rules_answers) == (0, last.rules_answers)
    with psycopg.connect(books.a_url) as conn:
        # Every answer stored, discovery's picker's (before each weekly run) included: it left them out before.
        rules = conn.execute(
            "SELECT count(*) FROM events WHERE type = 'LLMCallCompleted' AND payload->>'source' = 'rules'"
        ).fetchone()
        pickers = conn.execute(
            "SELECT count(*) FROM events WHERE type = 'LLMCallCompleted' AND payload->>'role' = 'picker'"
        ).fetchone()
        # A week's record holds no count of its own (a resumed week's counted only the calls after the resume).
        weeks = conn.execute("SELECT schema_version, payload FROM events WHERE type = 'BacktestWeekDone'").fetchall()
    assert pickers is not None and pickers[0] > 0, "no discovery answer: the test proves nothing of it"
    assert rules is not None
    assert last.rules_answers == rules[0] > 0
    assert [(version, "llm_calls" in payload) for version, payload in weeks] == [(2, False), (2, False)]


def test_the_start_and_each_finished_week_freeze_the_heap_and_the_backtest_unfreezes_it(books: Books) -> None:
    # Frozen at the start and after each week, all unfrozen at the end. The counts are not compared with each other:
    # a frozen object freed later leaves the count (caches earlier tests of this process filled, evicted by the
    # backtest; the week's events on the writer's thread), so the start's count has come out above the weeks' in a
    # full suite. That each week freezes its survivors is test_backtest_speedups.py's, object by object.
    assert len(books.frozen) == 3 and all(count > STARTUP_FROZEN for count in books.frozen)
    assert gc.get_freeze_count() <= STARTUP_FROZEN  # the interpreter's own (Python 3.12: ~375)


# ---------------------------------------------------------------- deterministic


def test_the_same_backtest_twice_gives_identical_books_and_result(books: Books) -> None:
    # a took its checkpoints' day plans from a worker process, b made every one itself: the same bytes all the same.
    assert books.planned_ahead > 0
    a, b = _dump(books.a_url), _dump(books.b_url)
    assert len(a) > 1000
    assert a == b
    same: dict[str, Any] = {"timing": True, "name": True, "database": True, "leaderboard": {"source"}}
    assert books.a.model_dump(exclude=same) == books.b.model_dump(exclude=same)


def test_a_backtest_stores_no_stage_timings_and_times_its_runs_and_calls_on_its_stepped_clock(books: Books) -> None:
    # Its store keeps no StageStarted/StageCompleted (a stage's wall-clock time under a stepped clock), and each
    # run's duration and each model call's latency are measured on the backtest's clock, which stands still through
    # a job: 0, so two runs store the same bytes (the wall's times would differ run to run).
    timed = {"RunFinished": "duration_ms", "RunFailed": "duration_ms", "LLMCallCompleted": "latency_ms"}
    runs: list[list[Any]] = []
    for url in (books.a_url, books.b_url):
        with psycopg.connect(url) as conn:
            rows = conn.execute("SELECT id, type, stream, version, run_id, payload FROM events ORDER BY id").fetchall()
        kinds = Counter(row[1] for row in rows)
        assert kinds["StageStarted"] == kinds["StageCompleted"] == 0
        assert kinds["RunStarted"] == kinds["RunFinished"] > 0 and kinds["CheckpointCompleted"] > 0
        assert kinds["LLMCallCompleted"] > 0
        times = {row[5][timed[row[1]]] for row in rows if row[1] in timed}
        assert times == {0.0}
        for row in rows:
            if row[1] in ("BacktestStarted", "BacktestFinished"):
                row[5].pop("name")
        runs.append(rows)
    assert runs[0] == runs[1]


def test_the_backtests_leaderboard_json_and_report_agree_and_repeat_byte_for_byte(
    books: Books, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DATABASE_URL", books.live_url)
    pages, boards = [], []
    for result in (books.a, books.b):
        board = runner.invoke(cli, ["leaderboard", "--backtest", result.name, "--json"])
        assert board.exit_code == 0, board.output
        # The command's leaderboard is the one the backtest reported at its end.
        assert json.loads(board.stdout) == json.loads(result.leaderboard.model_dump_json())
        boards.append(board.stdout.replace(result.name, "NAME"))
        page = tmp_path / f"{result.name}.html"
        written = runner.invoke(cli, ["report", "--backtest", result.name, "-o", str(page)])
        assert written.exit_code == 0, written.output
        html = page.read_text()
        # The page shows the same Sharpe figures as the JSON.
        for row in result.leaderboard.standings:
            if row.sharpe.estimate is not None:
                assert f"{row.sharpe.estimate:.2f}" in html
        pages.append(html.replace(result.name, "NAME"))
    assert boards[0] == boards[1]
    assert pages[0] == pages[1]


def test_live_run_ids_stay_random_and_a_backtest_issues_them_deterministically() -> None:
    from datetime import UTC, datetime

    from llmtrade.domain.runs import CountedRunIds, issued_by, new_run_id

    now = datetime(2026, 1, 7, 13, tzinfo=UTC)
    assert new_run_id(now) != new_run_id(now)
    with issued_by(CountedRunIds("backtest")):
        first = [new_run_id(now), new_run_id(now)]
    with issued_by(CountedRunIds("backtest")):
        again = [new_run_id(now), new_run_id(now)]
    assert first == again and first[0] != first[1]
    # An id already on record (a resumed backtest) is never issued again.
    with issued_by(CountedRunIds("backtest", taken={first[0]})):
        assert new_run_id(now) == first[1]
    assert new_run_id(now) not in first


def test_the_stepping_clock_only_moves_forward() -> None:
    from datetime import UTC, datetime, timedelta

    from llmtrade.clock import SteppingClock

    start = datetime(2026, 1, 7, 13, tzinfo=UTC)
    clock = SteppingClock(start)
    clock.set(start + timedelta(hours=1))
    assert clock.now() == start + timedelta(hours=1)
    with pytest.raises(ValueError, match="only moves forward"):
        clock.set(start)


# ---------------------------------------------------------------- apart from the live books


def test_a_backtest_leaves_the_live_books_untouched(books: Books) -> None:
    assert _dump(books.live_url) == books.live_before


def test_live_status_does_not_see_the_backtest_accounts_fills(books: Books, monkeypatch: pytest.MonkeyPatch) -> None:
    assert _events(books.a_url, "OrderFilled"), "the backtest must have filled orders for this test to mean anything"
    monkeypatch.setenv("DATABASE_URL", books.live_url)
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-20T17:00:00-05:00")
    result = runner.invoke(cli, ["status", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [a["trades"] for a in report["accounts"]] == [0] * 6
    assert {a["equity"] for a in report["accounts"]} == {100000.0}
    traded = {a.name for a in books.a.leaderboard.standings if a.kind == "account" and a.slippage_usd}
    assert traded, "some backtest account traded"


def test_events_trace_and_the_reports_event_hint_read_the_backtests_own_books(
    books: Books, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A backtest's report links each line to an event id and said `llmtrade events` shows it; that command read
    # only the live books, where the same id is another event (or none), and `trace` found no backtest run.
    monkeypatch.setenv("DATABASE_URL", books.live_url)
    name = books.a.name
    filled = runner.invoke(cli, ["events", "--backtest", name, "--type", "OrderFilled", "--json"])
    assert filled.exit_code == 0, filled.output
    assert len(filled.stdout.splitlines()) == len(_events(books.a_url, "OrderFilled")) > 0
    assert runner.invoke(cli, ["events", "--type", "OrderFilled", "--json"]).stdout == ""  # the live books: none
    started = runner.invoke(cli, ["events", "--backtest", name, "--type", "RunStarted", "--json", "--limit", "1"])
    run_id = json.loads(started.stdout)["run_id"]
    traced = runner.invoke(cli, ["trace", run_id, "--backtest", name])
    assert traced.exit_code == 0 and f"== run {run_id} (" in traced.stdout, traced.output
    live = runner.invoke(cli, ["trace", run_id])
    assert live.exit_code == 2 and "`llmtrade trace RUN_ID --backtest NAME`" in live.stderr
    page = tmp_path / "page.html"
    assert runner.invoke(cli, ["report", "--backtest", name, "-o", str(page)]).exit_code == 0
    assert f"<code>llmtrade events --backtest {name}</code> shows them" in page.read_text()


def test_a_backtest_puts_every_account_on_the_paper_broker_even_in_replay_mode_with_alpaca_keys(
    monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Path
) -> None:
    from llmtrade.app.backtest_container import BacktestContainer
    from llmtrade.app.container import Container
    from llmtrade.brokers.registry import broker_name

    for n in range(1, 6):
        monkeypatch.setenv(f"ALPACA_ACCT_{n}_KEY", "key")
        monkeypatch.setenv(f"ALPACA_ACCT_{n}_SECRET", "secret")
    settings = Settings(DATABASE_URL=database_url)
    loaded = load_config(None)
    live = Container(settings, loaded, FixedClock(datetime_now()), None, lambda _t: None, replay=True)
    # Outside a backtest these accounts would trade at Alpaca: the test below means something.
    assert broker_name(loaded.config.accounts.accounts[0], live=live.live, settings=settings) == "alpaca"
    app = BacktestContainer(
        settings,
        loaded,
        FixedClock(datetime_now()),
        None,
        lambda _t: None,
        replay=True,
        database=backtest_database(_unique()),
    )
    with app.held() as storage:
        desks = app.desks(storage, app.market(storage))
    assert [d.broker.name for d in desks] == ["paper"] * 6


# ---------------------------------------------------------------- one name, one experiment


def test_rerunning_with_the_same_inputs_resumes_and_has_nothing_left(books: Books, pg_admin_url: str) -> None:
    before = _dump(books.a_url)
    again = _run(books.live_url, Path("."), books.a.name)
    assert (again.weeks_done_before, again.weeks_run, again.jobs) == (2, 0, {})
    assert again.leaderboard.model_dump(exclude={"source"}) == books.a.leaderboard.model_dump(exclude={"source"})
    assert _dump(books.a_url) == before  # nothing run, nothing recorded


def test_rerunning_with_another_start_or_config_is_refused(
    books: Books, cli_env: dict[str, str], tmp_path: Path
) -> None:
    other_start = runner.invoke(
        cli, ["backtest", "--from", "2025-12-31", "--to", "2026-01-14", "--offline", "--name", books.a.name]
    )
    assert other_start.exit_code == 2, other_start.output
    assert "first week 2026-01-07 (now 2025-12-31)" in other_start.stderr
    config = tmp_path / "config"
    shutil.copytree(Path(str(packaged_defaults())), config)
    accounts = config / "accounts.yaml"
    accounts.write_text(accounts.read_text().replace("slippage_bps: 5", "slippage_bps: 6"))
    args = ["--config", str(config), "backtest", "--from", "2026-01-07", "--to", "2026-01-14", "--offline"]
    other_config = runner.invoke(cli, [*args, "--name", books.a.name])
    assert other_config.exit_code == 2, other_config.output
    assert "config hash" in other_config.stderr
    # The setting named, both values (a trial's refusal named only the hashes).
    assert ": accounts.paper.slippage_bps 5 (now 6)" in " ".join(other_config.stderr.split())
    assert "give a new --name" in other_config.stderr


def test_rerunning_with_a_range_shorter_than_the_books_is_refused(books: Books) -> None:
    """Found rerunning a 39-week backtest with --to in its 12th week: "weeks: 0 run now, 12 done before, 12 in
    range", end 2024-03-20, beside a leaderboard of all 39 weeks to 2024-10-01."""
    before = _dump(books.a_url)
    with pytest.raises(UsageError, match=f"already ran to week {LAST}, after --to {FIRST}: its books cannot be cut"):
        _run(books.live_url, Path("."), books.a.name, last=FIRST)
    assert _dump(books.a_url) == before


def test_a_name_that_differs_only_in_case_is_not_taken_for_another_backtest(books: Books) -> None:
    """Found running `--name C1` beside an earlier `c1`: both are llmtrade_bt_c1, and C1 was told about c1's weeks
    (with the same inputs it would have resumed c1's books as its own)."""
    with pytest.raises(UsageError, match=f"--name {books.a.name.upper()} is the name of backtest {books.a.name} "):
        _run(books.live_url, Path("."), books.a.name.upper())


def test_ctrl_c_says_where_the_backtest_stopped(cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(backtest_steps, "checkpoint", interrupted)
    name = _unique()
    result = runner.invoke(cli, ["backtest", "--from", "2026-01-07", "--to", "2026-01-14", "--offline", "--name", name])
    assert result.exit_code == 130, result.output
    assert "interrupted (Ctrl-C); what finished before it is stored: run the same command again to go on." in (
        result.stderr
    )
    assert f"backtest {name!r} stopped in week 2026-01-07, at its " in result.stderr
    assert "(weeks done: 0 of 2)." in result.stderr


def test_a_sigterm_found_between_two_jobs_says_where_the_backtest_stopped(
    books: Books, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from llmtrade.stops import Terminated

    calls = {"n": 0}

    def terminated_before_the_5th() -> None:
        calls["n"] += 1
        if calls["n"] == 5:
            raise Terminated

    monkeypatch.setattr(backtest_module, "stop_if_terminated", terminated_before_the_5th)
    name = _unique()
    with pytest.raises(Terminated) as stopped:
        _run(books.live_url, tmp_path, name)
    # It had no note: the check runs before each job, outside the job's own handler.
    [where] = stopped.value.__notes__
    assert where.startswith(f"backtest {name!r} stopped in week {FIRST}, at its ") and "(weeks done: 0 of 2)" in where


def test_a_backtest_needs_offline_or_replay(cli_env: dict[str, str]) -> None:
    result = runner.invoke(cli, ["backtest", "--from", "2026-01-07", "--to", "2026-01-07", "--name", _unique()])
    assert result.exit_code == 2
    assert "--offline" in result.stderr and "--replay" in result.stderr


def test_a_replay_miss_fails_naming_the_call(cli_env: dict[str, str]) -> None:
    result = runner.invoke(
        cli, ["backtest", "--from", "2026-01-07", "--to", "2026-01-07", "--replay", "--name", _unique()]
    )
    assert result.exit_code == 1, result.output
    assert "--replay: no cached answer for the" in result.stderr


# ---------------------------------------------------------------- a killed backtest


class Killed(BaseException):
    """The process dying at that point: no `except Exception` handler sees it (a KeyboardInterrupt raised in a
    worker thread would stop the test run itself)."""


def test_a_killed_backtest_resumes_where_it_stopped_without_a_week_or_an_order_twice(
    books: Books, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, pg_admin_url: str
) -> None:
    name = _unique()
    real = backtest_steps.checkpoint
    calls = {"n": 0}

    def killed_on_the_25th(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 25:  # the 5th checkpoint of the second week
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(backtest_steps, "checkpoint", killed_on_the_25th)
    with pytest.raises(KeyboardInterrupt) as stopped:
        _run(books.live_url, tmp_path, name)
    # Where it stopped, for the one line the command prints (it said only "interrupted (Ctrl-C)").
    [where] = stopped.value.__notes__
    assert where.startswith(f"backtest {name!r} stopped in week {LAST}, at its ") and "checkpoint of" in where
    assert where.endswith("(weeks done: 1 of 2).")
    url = _url(pg_admin_url, backtest_database(name))
    assert [p["week_id"] for p in _events(url, "BacktestWeekDone")] == [str(FIRST)]
    monkeypatch.setattr(backtest_steps, "checkpoint", real)
    # Its leaderboard and report say the books stop short (found killing a 2024 backtest at week 6: both showed
    # 5.8 weeks of figures with nothing to tell them from a finished backtest's).
    monkeypatch.setenv("DATABASE_URL", books.live_url)
    board = runner.invoke(cli, ["leaderboard", "--backtest", name, "--json"])
    assert board.exit_code == 0, board.output
    note = f"backtest {name} is unfinished: 1 of its 2 weeks ({FIRST} to {LAST}) done"
    assert json.loads(board.stdout)["notes"][0].startswith(note)
    assert "run the same `llmtrade backtest` command again to resume it" in json.loads(board.stdout)["notes"][0]
    # In the terminal, before the tables it qualifies (a new user found it as the 25th line of notes after them).
    lines = runner.invoke(cli, ["leaderboard", "--backtest", name]).stdout.splitlines()
    said = [n for n, line in enumerate(lines) if line.startswith(f"UNFINISHED: {note}")]
    assert said and said[0] < next(n for n, line in enumerate(lines) if "whole range" in line)
    assert sum(note in line for line in lines) == 1
    page = tmp_path / "killed.html"
    assert runner.invoke(cli, ["report", "--backtest", name, "-o", str(page)]).exit_code == 0
    assert note in page.read_text()

    resumed = _run(books.live_url, tmp_path, name)

    assert (resumed.weeks_done_before, resumed.weeks_run) == (1, 1)
    assert resumed.jobs == {"checkpoint": 16 - 4, "postmortem": 1}  # the rest of week 2 only
    assert [p["week_id"] for p in _events(url, "BacktestWeekDone")] == [str(FIRST), str(LAST)]
    accepted = [p["order"]["client_order_id"] for p in _events(url, "PaperOrderAccepted")]
    filled = [p["fill"]["client_order_id"] for p in _events(url, "OrderFilled")]
    assert accepted and len(accepted) == len(set(accepted))
    assert len(filled) == len(set(filled))
    completed = [(p["day"], p["time"]) for p in _events(url, "CheckpointCompleted")]
    assert len(completed) == len(set(completed)) == 36
    # The books end where an uninterrupted run of the same backtest ends.
    assert resumed.leaderboard.model_dump(exclude={"source"}) == books.a.leaderboard.model_dump(exclude={"source"})
    assert not any("unfinished" in n for n in resumed.leaderboard.notes)


# ---------------------------------------------------------------- the look-ahead audit


def test_the_audit_passes_on_the_clean_pipeline_and_is_recorded(books: Books) -> None:
    assert [(a.week_id, a.passed) for a in books.a.audit] == [(FIRST, True), (LAST, True)]
    # The synthetic market's checkpoints are not audited: its intraday path is drawn through the session's own bar, so
    # no market without that bar prices them (tests/test_checkpoint_audit.py audits a CSV folder's).
    assert [a.checkpoints for a in books.a.audit] == [None, None]
    assert not _events(books.a_url, "CheckpointsAuditPassed")
    passed = _events(books.a_url, "LookaheadAuditPassed")
    assert [p["week_id"] for p in passed] == [str(FIRST), str(LAST)]
    assert any(c.startswith("llm:") for c in passed[0]["compared"])
    assert "risk:verdicts" in passed[0]["compared"]


def without_audit(url: str) -> list[str]:
    """A backtest database's events (`_dump`) but the audit's verdicts, without ids: what an unaudited run stores."""
    rows = [json.loads(line) for line in _dump(url)]
    # The verdicts sit on the backtest's own stream, so its versions shift; every other stream must match.
    return [
        json.dumps([*row[1:3], None if row[2] == "backtest" else row[3], *row[4:]])
        for row in rows
        if not row[1].startswith(("LookaheadAudit", "CheckpointsAudit", "PostmortemAudit"))
    ]


def test_the_audits_dry_runs_leave_nothing_in_the_books_but_their_verdicts(books: Books) -> None:
    assert without_audit(books.a_url) == without_audit(books.unaudited_url)


def test_the_audit_catches_a_planted_leak(
    books: Books, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, pg_admin_url: str
) -> None:
    from datetime import timedelta

    from llmtrade.errors import OperationalError
    from llmtrade.market.service import MarketData

    honest = MarketData.bars_asof

    def one_session_ahead(self: MarketData, symbols: Any, asof: Any, *, sessions: int = 300) -> Any:
        return honest(self, symbols, asof + timedelta(days=1), sessions=sessions)  # reads tomorrow's close

    monkeypatch.setattr(MarketData, "bars_asof", one_session_ahead)
    name = _unique()
    with pytest.raises(OperationalError, match="look-ahead audit failed for week 2026-01-07"):
        _run(books.live_url, tmp_path, name, last=FIRST, audit=1)
    url = _url(pg_admin_url, backtest_database(name))
    [leak] = _events(url, "LookaheadAuditFailed")
    assert leak["week_id"] == str(FIRST)
    assert leak["role"].startswith(("llm:", "stream:")) and leak["line"] >= 1
    assert leak["real"] != leak["audited"]
    # Its books are not evidence: the same backtest refuses to go on.
    monkeypatch.setattr(MarketData, "bars_asof", honest)
    with pytest.raises(OperationalError, match="failed its look-ahead audit"):
        _run(books.live_url, tmp_path, name, last=FIRST, audit=1)


def test_a_backtest_killed_inside_a_weekly_run_sends_no_order_twice_when_resumed(
    books: Books, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, pg_admin_url: str
) -> None:
    from llmtrade.workflows import execution

    name = _unique()
    real = execution.execute_plan
    sent_before_kill: list[str] = []

    def killed_at_acct_3(events: Any, desk: Any, plan: Any, *args: Any, **kwargs: Any) -> Any:
        if kwargs["week_id"] == LAST and plan.account_id == "acct_3":
            raise Killed  # mid-run: acct_1 and acct_2's orders of the week are at the broker by then
        if kwargs["week_id"] == LAST:
            sent_before_kill.append(plan.account_id)
        return real(events, desk, plan, *args, **kwargs)

    monkeypatch.setattr(execution, "execute_plan", killed_at_acct_3)
    with pytest.raises(Killed):
        _run(books.live_url, tmp_path, name, audit=0)
    # The other accounts' threads were already handed their plans; acct_3's orders never left.
    assert sent_before_kill[:2] == ["acct_1", "acct_2"] and "acct_3" not in sent_before_kill
    monkeypatch.setattr(execution, "execute_plan", real)

    resumed = _run(books.live_url, tmp_path, name, audit=0)

    url = _url(pg_admin_url, backtest_database(name))
    accepted = [p["order"]["client_order_id"] for p in _events(url, "PaperOrderAccepted")]
    assert any("-20260114-acct_1-" in c for c in accepted)
    assert len(accepted) == len(set(accepted))
    assert [p["week_id"] for p in _events(url, "BacktestWeekDone")] == [str(FIRST), str(LAST)]
    assert resumed.weeks_run == 1
    # The same figures; only the note on the look-ahead audit differs (books.a ran with --audit 2, these with none).
    said, uninterrupted = (
        b.model_copy(update={"notes": tuple(n for n in b.notes if not n.startswith("look-ahead audit"))})
        for b in (resumed.leaderboard, books.a.leaderboard)
    )
    assert said.model_dump(exclude={"source"}) == uninterrupted.model_dump(exclude={"source"})


def test_an_audit_of_more_weeks_than_the_range_has_says_it_audits_them_all(books: Books, tmp_path: Path) -> None:
    """A trial's `--audit 50` over two weeks was capped without a word."""
    said: list[str] = []
    settings = Settings(DATABASE_URL=books.live_url, LLMTRADE_HOME=str(tmp_path))
    spec = BacktestSpec(name=_unique(), first=FIRST, last=FIRST, offline=True, replay=False, audit=3)
    done = backtest(settings, load_config(None), None, spec, say=said.append)
    assert "--audit 3: the range has 1 week(s); every one is sampled" in said
    assert [a.week_id for a in done.audit] == [FIRST]


def test_an_audit_of_more_weeks_than_a_resumed_range_has_does_not_claim_to_audit_the_weeks_run(
    books: Books, tmp_path: Path
) -> None:
    """Found in a trial: `--audit 100` given to a resumed 10-week backtest said "the range has 10 week(s); every one
    is audited", then, next line, that the 8 weeks run before "are not audited now": two claims, one false."""
    name = _unique()
    _run(books.live_url, tmp_path, name, last=FIRST, audit=0)
    said: list[str] = []
    settings = Settings(DATABASE_URL=books.live_url, LLMTRADE_HOME=str(tmp_path))
    spec = BacktestSpec(name=name, first=FIRST, last=LAST, offline=True, replay=False, audit=5)
    resumed = backtest(settings, load_config(None), None, spec, say=said.append)
    assert [a.week_id for a in resumed.audit] == [LAST]
    assert not [line for line in said if "every one is audited" in line], said
    assert "--audit 5: the range has 2 week(s); every one is sampled" in said
    assert any(
        line.startswith(f"--audit 5: week {FIRST} ran before this invocation, so it is not audited now")
        for line in said
    )


def test_an_audit_asked_of_weeks_already_run_says_they_are_not_audited(books: Books, tmp_path: Path) -> None:
    """`--audit 2` added to a backtest resumed (or already finished) audited nothing of the weeks run before, and
    said nothing: the user took the range as checked for look-ahead. An audit runs just before a week's weekly run,
    so a week run before cannot be audited now; it is said, with what an earlier invocation's audit found. How to
    audit them names the weeks that need it: "to audit them" followed a week that had passed (trial X)."""
    name = _unique()
    _run(books.live_url, tmp_path, name, last=FIRST, audit=0)  # week 1, never audited
    said: list[str] = []
    settings = Settings(DATABASE_URL=books.live_url, LLMTRADE_HOME=str(tmp_path))
    spec = BacktestSpec(name=name, first=FIRST, last=LAST, offline=True, replay=False, audit=2)
    resumed = backtest(settings, load_config(None), None, spec, say=said.append)
    assert [a.week_id for a in resumed.audit] == [LAST]  # the week run now is audited
    assert (
        f"--audit 2: week {FIRST} ran before this invocation, so it is not audited now (an audit runs just before a "
        f"week's weekly run): {FIRST} never audited; to audit it, run the range under a new --name with --audit"
    ) in said
    said.clear()
    again = backtest(settings, load_config(None), None, spec, say=said.append)
    assert again.audit == []
    assert (
        f"--audit 2: weeks {FIRST} and {LAST} ran before this invocation, so they are not audited now (an audit "
        f"runs just before a week's weekly run): {FIRST} never audited, {LAST} audited then (passed); to audit week "
        f"{FIRST}, run the range under a new --name with --audit"
    ) in said
