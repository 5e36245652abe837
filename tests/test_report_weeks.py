"""The report's weeks read from a real offline week on PostgreSQL (run-weekly, checkpoints, postmortem through
the CLI): every decision appears with the id of the event it came from, cost per week is the sum of the
week's call events, and the report file is written atomically or refused naming its path."""

from __future__ import annotations

import errno
import json
import os
import stat
import subprocess
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict
from typer.testing import CliRunner

from llmtrade.analytics.records import Leaderboard
from llmtrade.app.container import Container
from llmtrade.app.evaluation_results import ReportWritten
from llmtrade.app.leaderboard import leaderboard as leaderboard_of
from llmtrade.app.report import build_report, save_report
from llmtrade.app.report_records import Report
from llmtrade.app.report_weeks import TYPES, week_report
from llmtrade.cli import app
from llmtrade.clock import FixedClock
from llmtrade.config.loader import load_config
from llmtrade.domain.account_events import AccountHalted, AccountResumed
from llmtrade.domain.checkpoints import (
    CheckpointSkipped,
    CheckpointsMissed,
    CheckpointTaken,
    OrderBlocked,
    PostmortemWritten,
    TradingDisabled,
)
from llmtrade.domain.committee import DecisionMade, PitchFailed, PitchSubmitted, ReviewSubmitted
from llmtrade.domain.events import EventPayload, InputsMissing, LLMCallCompleted, NewEvent, StoredEvent
from llmtrade.domain.runs import RunFailed, RunFinished, RunKilled, RunStarted
from llmtrade.domain.streams import checkpoint_stream
from llmtrade.domain.trading import Order, OrderFilled, OrderRejected, OrderSubmitted, PlanAbandoned, RiskChecked, Side
from llmtrade.errors import TemporaryError, UsageError
from llmtrade.report.render import render_report
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.database import backtest_database, database_exists, locate
from tests.crash_points import database, drop, url_of
from tests.support import FIXED_NOW
from tests.test_report_html import leaderboard

runner = CliRunner()
WEEK = date(2026, 1, 7)
TIMELINE = (  # the week as cron runs it: the weekly run, two checkpoints, the postmortem
    "2026-01-07T08:00:00-05:00",
    "2026-01-07T12:01:00-05:00",
    "2026-01-13T15:51:00-05:00",
    "2026-01-13T16:31:00-05:00",
)


@pytest.fixture(scope="module")
def recorded_week(pg_admin_url: str) -> Iterator[dict[str, str]]:
    """The module's recorded week: a database the first test records and the others start from copies of."""
    made: dict[str, str] = {}
    yield made
    for name in made.values():
        drop(pg_admin_url, name)


@pytest.fixture
def recorded(
    recorded_week: dict[str, str], pg_admin_url: str, cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Container]:
    """This test's database holds the week as cron ran it. The week is run once per module (four offline
    run-dues, some seconds) and copied for each test, which may add to its copy."""
    copy = None
    if "week" in recorded_week:
        copy = database(pg_admin_url, template=recorded_week["week"])
        cli_env["DATABASE_URL"] = url_of(pg_admin_url, copy)
        monkeypatch.setenv("DATABASE_URL", cli_env["DATABASE_URL"])
        monkeypatch.setenv("LLMTRADE_NOW", TIMELINE[-1])  # as after the recording
    else:
        for instant in TIMELINE:
            monkeypatch.setenv("LLMTRADE_NOW", instant)
            result = runner.invoke(app, ["run-due", "--offline"])
            assert result.exit_code == 0, result.output
        own = conninfo_to_dict(cli_env["DATABASE_URL"])["dbname"]
        recorded_week["week"] = database(pg_admin_url, template=str(own))
    yield Container(
        Settings(DATABASE_URL=cli_env["DATABASE_URL"]),
        load_config(None),
        # As after the recording: a clock before it reads books made after it (app/clock_behind.py says so).
        FixedClock(datetime.fromisoformat(TIMELINE[-1])),
        None,
        say=lambda _: None,
        offline=True,
    )
    if copy is not None:
        drop(pg_admin_url, copy)


def _report(container: Container, board: Leaderboard | None = None) -> tuple[Report, list]:
    with container.storage(persist=False) as storage:
        return build_report(container, storage, board or leaderboard()), storage.events.read()


def test_an_offline_weeks_decisions_appear_with_their_event_ids(recorded: Container) -> None:
    report, events = _report(recorded)
    [week] = report.weeks
    assert week.week_id == WEEK

    def ids(kind: type) -> list[int]:
        return [e.id for e in events if e.type == kind.event_type()]

    assert [p.event_id for p in week.pitches] == ids(PitchSubmitted)
    stored_pitches = [PitchSubmitted.from_event(e).pitch for e in events if e.type == "PitchSubmitted"]
    assert [(p.pm, p.instrument, p.direction, p.conviction, p.thesis) for p in week.pitches] == [
        (p.pm_id, p.instrument, p.direction, p.conviction, tuple(p.thesis_bullets)) for p in stored_pitches
    ]
    assert len(week.reviews) == 12 and [r.event_id for r in week.reviews] == ids(ReviewSubmitted)
    assert all(r.reviewer != r.reviewed for r in week.reviews)  # nobody reviews their own pitch
    assert Counter(r.reviewed for r in week.reviews) == Counter({p.pm: 3 for p in week.pitches})
    [decision] = [DecisionMade.from_event(e).decision for e in events if e.type == "DecisionMade"]
    assert week.chairman is not None and week.chairman.event_id == ids(DecisionMade)[0]
    assert (week.chairman.instrument, week.chairman.conviction) == (
        decision.selected_trade.instrument,
        decision.conviction,
    )
    assert [s.event_id for s in week.sized] == ids(RiskChecked)
    assert {s.occasion for s in week.sized} >= {"weekly run"}
    assert [o.event_id for o in week.orders] == ids(OrderSubmitted)
    assert [f.event_id for f in week.fills] == ids(OrderFilled) and week.fills
    taken = {e.id: CheckpointTaken.from_event(e).checkpoint for e in events if e.type == "CheckpointTaken"}
    assert taken and {k.event_id for k in week.checkpoints} == set(taken) | set(ids(CheckpointSkipped))
    for line in week.checkpoints:
        if line.event_id in taken:
            stored = taken[line.event_id]
            assert (line.account_id, line.action, line.day, line.time) == (
                stored.account_id,
                stored.action,
                stored.day,
                stored.time,
            )
    assert [m.event_id for m in week.postmortems] == ids(PostmortemWritten)
    for line in week.postmortems:
        stored = next(PostmortemWritten.from_event(e).postmortem for e in events if e.id == line.event_id)
        assert (line.account_id, line.week_pnl, line.instrument) == (
            stored.account_id,
            stored.week_pnl,
            stored.instrument,
        )

    html = render_report(report, leaderboard())
    cited = set(report.event_ids())
    assert cited >= {line.event_id for line in (*week.pitches, *week.reviews, week.chairman, *week.fills)}
    for event_id in cited:  # pitches, reviews, ranking, chairman, sizing, orders, fills, checkpoints, postmortems
        assert html.count(f'id="event-{event_id}"') == 1
        assert f'href="#event-{event_id}">#{event_id}</a>' in html
    for pitch in week.pitches:
        assert pitch.thesis[0].replace("'", "&#39;") in html  # as escaped text


def _call(cost: float | None, tokens: int, source: str = "live") -> LLMCallCompleted:
    return LLMCallCompleted(
        role="pm",
        provider="openrouter",
        model="m/x",
        source=source,
        messages=[],
        answer="{}",
        schema_name=None,
        outcome="ok",
        prompt_tokens=tokens,
        completion_tokens=tokens // 2,
        cost_usd=cost,
        latency_ms=1.0,
        attempts=1,
        cache_key="k",
    )


def test_cost_per_week_is_the_sum_of_the_weeks_call_events(recorded: Container) -> None:
    later = date(2026, 1, 14)
    with recorded.storage() as storage:
        storage.events.append(
            [
                NewEvent.of(_call(0.0125, 1000), stream="llm:test", week_id=WEEK),
                NewEvent.of(_call(0.5, 300), stream="llm:test", week_id=WEEK),
                NewEvent.of(_call(None, 40), stream="llm:test", week_id=WEEK),  # a provider with no price
                NewEvent.of(_call(0.0, 0, "cache"), stream="llm:test", week_id=WEEK),  # replayed: a model's answer
                NewEvent.of(_call(2.0, 10), stream="llm:test", week_id=later),
                NewEvent.of(_call(9.0, 10), stream="llm:test"),  # no week (a council): in no week's cost
            ]
        )
    report, events = _report(recorded)
    assert [w.week_id for w in report.weeks] == [WEEK, later]
    for week in report.weeks:
        answers = [e for e in events if e.type == "LLMCallCompleted" and e.week_id == week.week_id]
        # The offline run-due's answers are the rules provider's: no model's, counted apart, $0.
        rules = [e for e in answers if e.payload["source"] == "rules"]
        calls = [e for e in answers if e.payload["source"] in ("live", "cache")]
        assert week.cost.calls == len(calls) and week.cost.rules_answers == len(rules)
        assert len(calls) + len(rules) == len(answers)
        assert week.cost.cost_usd == pytest.approx(sum(e.payload["cost_usd"] or 0.0 for e in calls))
        assert week.cost.prompt_tokens == sum(e.payload["prompt_tokens"] for e in calls)
        assert week.cost.completion_tokens == sum(e.payload["completion_tokens"] for e in calls)
    assert report.weeks[0].cost.cost_usd == pytest.approx(0.5125)
    assert report.weeks[0].cost.unpriced_calls == 1
    assert report.weeks[0].cost.calls == 4 and report.weeks[0].cost.rules_answers > 0
    assert report.weeks[1].cost.cost_usd == pytest.approx(2.0) and report.weeks[1].pitches == ()
    html = render_report(report, leaderboard())
    assert "0.512500" in html and "2.000000" in html


def test_the_books_are_read_a_week_at_a_time(recorded: Container, monkeypatch: pytest.MonkeyPatch) -> None:
    """Years of books hold hundreds of MB of model calls: a report that read them whole held them all at once
    (1.5 GB at 439 weeks). Every read of the week's kinds of events names one week, and the weeks are those a
    whole read finds, each with all its events."""
    later = date(2026, 1, 14)
    with recorded.storage() as storage:
        storage.events.append([NewEvent.of(_call(2.0, 10), stream="llm:test", week_id=later)])
    with recorded.storage(persist=False) as storage:
        whole = storage.events.read()
        reads: list[tuple[date | None, int]] = []
        read = storage.events.read

        def counted(**filters: object) -> list[StoredEvent]:
            found = read(**filters)  # type: ignore[arg-type]
            if filters.get("type") and set(filters["type"]) & {"LLMCallCompleted", "PitchSubmitted"}:  # type: ignore[arg-type]
                reads.append((filters.get("week_id"), len(found)))  # type: ignore[arg-type]
            return found

        monkeypatch.setattr(storage.events, "read", counted)
        report = build_report(recorded, storage, leaderboard())
    assert [w for w, _ in reads] == [WEEK, later]
    assert [n for _, n in reads] == [sum(1 for e in whole if e.week_id == w and e.type in TYPES) for w in (WEEK, later)]
    assert [w.week_id for w in report.weeks] == [WEEK, later]
    assert report.weeks == tuple(
        week_report(
            w, [e for e in whole if e.week_id == w], slippage_bps=recorded.loaded.config.accounts.paper.slippage_bps
        )
        for w in (WEEK, later)
    )


def test_each_weeks_commissions_and_slippage_add_up_to_the_leaderboards(recorded: Container) -> None:
    """The week's trading costs beside its model dollars: commissions paid and slippage estimated as the leaderboard
    estimates it, so a reader adding the weeks finds the leaderboard's columns; another broker's slippage is n/a."""
    board = leaderboard_of(recorded)
    report, events = _report(recorded, board)
    [week] = report.weeks
    fills = [e for e in events if e.type == "OrderFilled"]
    assert fills and week.trading.fills == len(fills)
    accounts = [s for s in board.standings if s.kind == "account"]
    # No cent lost to rounding each week (a trial's report said 2,334.25 where the leaderboard's sum was 2,334.26).
    assert week.trading.slippage_usd == pytest.approx(sum(s.slippage_usd or 0.0 for s in accounts), rel=1e-9)
    assert week.trading.commissions_usd == pytest.approx(sum(s.costs_usd for s in accounts), abs=0.01)
    assert week.trading.traded_usd == pytest.approx(
        sum(e.payload["fill"]["qty"] * e.payload["fill"]["price"] for e in fills)
    )
    html = render_report(report, board)
    assert f"{week.trading.fills} fills, " in html and f"{week.trading.slippage_usd:,.2f} USD slippage" in html
    commission = [
        e.model_copy(update={"payload": {**e.payload, "fill": {**e.payload["fill"], "commission": 1.5}}}) for e in fills
    ]
    alpaca = [e.model_copy(update={"payload": {**e.payload, "broker": "alpaca"}}) for e in commission]
    other = week_report(WEEK, alpaca, slippage_bps=5.0)
    assert other.trading.slippage_usd is None and other.trading.commissions_usd == pytest.approx(1.5 * len(fills))
    assert "n/a USD slippage" in render_report(Report(source="live", accounts=(), weeks=(other,)), board)


def test_the_report_file_is_written_whole_and_replaces_the_old_one(recorded: Container, tmp_path: Path) -> None:
    report, _ = _report(recorded)
    folder = tmp_path / "out"
    folder.mkdir()
    target = folder / "report.html"
    target.write_text("old")
    written = save_report(report, leaderboard(), target)
    data = target.read_bytes()
    assert written.bytes == len(data) and written.weeks == 1 and written.accounts == 6
    assert data == render_report(report, leaderboard()).encode()
    assert sorted(p.name for p in folder.iterdir()) == ["report.html"]  # no temporary file left behind
    again = folder / "again.html"
    save_report(report, leaderboard(), again)
    assert again.read_bytes() == data  # the same inputs give the same file


def test_a_failed_write_leaves_the_old_file_and_no_temporary(
    recorded: Container, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report, _ = _report(recorded)
    folder = tmp_path / "out"
    folder.mkdir()
    target = folder / "report.html"
    target.write_text("old")

    def full_disk(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    # A full disk passes: temporary (exit 75), as exits.py has it everywhere else, not a usage error (it was exit 2).
    with pytest.raises(TemporaryError, match=f"cannot write the report to {target}: No space left on device"):
        save_report(report, leaderboard(), target)
    assert target.read_text() == "old"
    assert sorted(p.name for p in folder.iterdir()) == ["report.html"]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs Linux's /dev/full")
def test_a_report_to_a_full_disk_exits_75_in_one_line(recorded: Container) -> None:
    """Found as `report --backtest NAME -o /dev/full`: exit 2, 'cannot write the report ...: No space left on
    device', so cron's retry-on-75 gave up on a disk that would have had room at the next wake-up."""
    result = runner.invoke(app, ["report", "-o", "/dev/full"])
    assert result.exit_code == 75, result.output
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: cannot write the report to /dev/full: No space left on device") and "disk" in line
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("number", "code"),
    [(errno.ENOSPC, 75), (errno.EDQUOT, 75), (errno.EACCES, 2), (errno.EISDIR, 2), (errno.ENOENT, 2), (errno.EIO, 1)],
)
def test_an_os_error_on_a_named_path_is_classified_by_its_errno(number: int, code: int) -> None:
    from llmtrade.exits import path_error  # here, so the module's other tests run without it (before it was made)

    error = path_error("cannot write the report to /x/r.html", OSError(number, os.strerror(number)))
    assert error.exit_code == code and str(error).startswith(
        f"cannot write the report to /x/r.html: {os.strerror(number)}"
    )


@pytest.mark.parametrize("where", ["missing folder", "a folder", "under a file"])
def test_an_unusable_output_path_is_refused_naming_it(where: str, tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("x")
    output = {
        "missing folder": tmp_path / "nope" / "report.html",
        "a folder": tmp_path,
        "under a file": tmp_path / "plain" / "report.html",
    }[where]
    with pytest.raises(UsageError, match=str(output)):
        save_report(Report(source="live", accounts=(), weeks=()), leaderboard(), output)


def test_the_command_refuses_a_missing_folder_with_exit_2_before_any_work(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    output = tmp_path / "nope" / "report.html"
    result = runner.invoke(app, ["report", "-o", str(output)])
    assert result.exit_code == 2, result.output
    assert f"folder {output.parent} does not exist" in result.stderr
    assert "Traceback" not in result.output


def test_the_command_takes_a_backtest_or_the_live_books_not_both(cli_env: dict[str, str], tmp_path: Path) -> None:
    both = runner.invoke(app, ["report", "--backtest", "b1", "--live", "-o", str(tmp_path / "r.html")])
    assert both.exit_code == 2 and "give one of them" in both.stderr
    bad = runner.invoke(app, ["report", "--backtest", "no spaces", "-o", str(tmp_path / "r.html")])
    assert bad.exit_code == 2 and "backtest name" in bad.stderr


def test_the_command_writes_the_live_books_report_with_the_leaderboards_numbers(
    recorded: Container, tmp_path: Path
) -> None:
    output = tmp_path / "live.html"
    result = runner.invoke(app, ["report", "--live", "-o", str(output), "--json"])
    assert result.exit_code == 0, result.output
    written = ReportWritten.model_validate(json.loads(result.stdout))
    assert (written.path, written.bytes, written.weeks, written.accounts) == (str(output), output.stat().st_size, 1, 6)
    html = output.read_text()
    board = leaderboard_of(recorded)
    report, _ = _report(recorded, board)
    assert html == render_report(report, board)  # the page is the leaderboard the command shows, nothing else
    shown = json.loads(runner.invoke(app, ["leaderboard", "--json"]).stdout)
    assert shown == json.loads(board.model_dump_json())
    again = runner.invoke(app, ["report", "-o", str(output)])
    assert again.exit_code == 0 and f"wrote {output}" in again.stdout
    assert output.read_text() == html  # the same books give the same bytes


@pytest.mark.parametrize("pending", [True, False])
def test_the_draws_are_made_on_the_other_core_while_arch_is_still_to_be_imported(
    recorded: Container, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pending: bool
) -> None:
    """arch's import (its univariate package brings pandas, scipy.stats, statsmodels, matplotlib) was some 4 of the
    leaderboard's 9 s on a loaded machine: a worker imports it, and makes the draws, while the books are read. With
    arch imported already (a sweep's driver, this test session) nothing is gained and no process is started."""
    import llmtrade.app.leaderboard as boards
    from llmtrade.analytics import draws
    from llmtrade.app.report import write_report

    workers: list[object] = []
    build = boards.build_leaderboard

    def watched(*args: object, **kwargs: object) -> Leaderboard:
        workers.append(draws.current())
        return build(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(boards, "build_leaderboard", watched)
    monkeypatch.setattr(draws, "import_pending", lambda: pending)
    board = leaderboard_of(recorded)
    write_report(recorded, backtest=None, output=tmp_path / "r.html")
    assert len(workers) == 2 and all((w is not None) is pending for w in workers)
    assert draws.current() is None  # gone with the command
    monkeypatch.setattr(draws, "import_pending", lambda: not pending)
    assert leaderboard_of(recorded) == board  # the same figures wherever the draws are made


def test_a_report_of_an_unknown_backtest_exits_2_and_creates_no_database(recorded: Container, tmp_path: Path) -> None:
    name = f"rep-{uuid.uuid4().hex[:8]}"
    output = tmp_path / "backtest.html"
    result = runner.invoke(app, ["report", "--backtest", name, "-o", str(output)])
    assert result.exit_code == 2 and f"no backtest named {name!r}" in result.stderr
    assert not output.exists()
    assert not database_exists(locate(recorded.settings), backtest_database(name))


def _stored(payload: EventPayload, event_id: int, stream: str) -> StoredEvent:
    new = NewEvent.of(payload, stream=stream, week_id=WEEK)
    return StoredEvent(**new.model_dump(), id=event_id, version=1, occurred_at=FIXED_NOW)


def test_refused_orders_failed_pitches_and_skipped_checkpoints_keep_their_ids_and_reasons() -> None:
    order = Order(
        client_order_id="lt-x", account_id="acct_2", week_id=WEEK, symbol="TLT", side=Side.SELL, qty=5, intent="close"
    )
    events = [
        _stored(
            PitchFailed(pm_id="grok", model="x-ai/grok-4", account_id="acct_4", error_type="LLMTruncated", error="cut"),
            3,
            "week:p",
        ),
        _stored(OrderRejected(order=order, broker="alpaca", reason="insufficient buying power"), 9, "week:o"),
        _stored(OrderBlocked(client_order_id="lt-y", account_id="acct_3", reason="kill switch"), 7, "week:o"),
        _stored(
            CheckpointSkipped(account_id="acct_1", reason="no position"),
            5,
            checkpoint_stream(WEEK, date(2026, 1, 8), "09:00", "acct_1"),
        ),
    ]
    week = week_report(WEEK, events)
    assert [(f.event_id, f.pm, f.error) for f in week.failed_pitches] == [(3, "grok", "LLMTruncated: cut")]
    assert [(o.event_id, o.status, o.detail, o.symbol) for o in week.orders] == [
        (7, "blocked", "kill switch", ""),
        (9, "rejected", "insufficient buying power", "TLT"),
    ]  # in the order they happened
    [skipped] = week.checkpoints
    assert (skipped.event_id, skipped.action, skipped.day, skipped.time) == (5, "SKIPPED", date(2026, 1, 8), "09:00")
    assert week.chairman is None and week.cost.calls == 0
    html = render_report(Report(source="live", accounts=(), weeks=(week,)), leaderboard())
    for event_id in (3, 5, 7, 9):
        assert f'id="event-{event_id}"' in html
    assert "did not pitch: LLMTruncated: cut" in html and "No decision recorded." in html


def test_checkpoints_never_run_are_in_their_weeks_section_with_their_event() -> None:
    """A cron trial: a Thursday the machine was off said "checkpoint(s) never run" once, and the report, the lasting
    record, said "checkpoint: 16 finished" and nothing of the four missed."""
    missed = CheckpointsMissed(
        checkpoints=["checkpoint:2026-01-08T09:00", "checkpoint:2026-01-08T12:00"], reason="no run began in their time"
    )
    week = week_report(WEEK, [_stored(missed, 11, f"week:{WEEK}:missed-checkpoints")])
    assert [(m.event_id, m.job) for m in week.missed] == [
        (11, "checkpoint:2026-01-08T09:00"),
        (11, "checkpoint:2026-01-08T12:00"),
    ]
    html = render_report(Report(source="live", accounts=(), weeks=(week,)), leaderboard())
    assert (
        '2 checkpoint(s) never run (no run began in their time): <span id="event-11">2026-01-08T09:00, '
        '2026-01-08T12:00 (<a class="ev" href="#event-11">#11</a>)</span>'
    ) in html


def _run_event(payload: EventPayload, event_id: int, run_id: str, at: str) -> StoredEvent:
    new = NewEvent.of(payload, stream=f"run:{run_id}", week_id=WEEK, run_id=run_id)
    return StoredEvent(**new.model_dump(), id=event_id, version=1, occurred_at=datetime.fromisoformat(at))


def _started(command: str) -> RunStarted:
    return RunStarted(
        command=command, arguments={}, mode="live", mode_reason="keys", config_source="packaged", version="1"
    )


def test_failed_degraded_and_unfinished_runs_are_said_first_and_linked_to_their_events() -> None:
    """A cron user's week: a weekly run that went on without a PM, a checkpoint that failed, one killed before it
    recorded an end, and a postmortem that finished; the report says each, with the error, and links the events."""
    ended = RunFinished(
        command="x", degraded=False, llm_calls=0, prompt_tokens=0, completion_tokens=0, cost_usd=0.0, duration_ms=1.0
    )
    events = [
        _run_event(_started("run-weekly"), 10, "w", "2026-01-07T13:00:00+00:00"),
        _run_event(
            InputsMissing(
                stage="pitches", missing=["grok"], errors=["grok: LLMTimeout: no answer in 60 s"], deadline=None
            ),
            11,
            "w",
            "2026-01-07T13:05:00+00:00",
        ),
        _run_event(ended.model_copy(update={"degraded": True}), 12, "w", "2026-01-07T13:06:00+00:00"),
        _run_event(_started("checkpoint"), 20, "c1", "2026-01-08T17:00:00+00:00"),
        _run_event(
            RunFailed(command="checkpoint", error_type="MarketDataError", error="no quote for SPY", duration_ms=3.0),
            21,
            "c1",
            "2026-01-08T17:00:03+00:00",
        ),
        _run_event(_started("checkpoint"), 30, "c2", "2026-01-09T14:00:00+00:00"),
        _run_event(_started("postmortem"), 40, "p", "2026-01-13T21:30:00+00:00"),
        _run_event(ended, 41, "p", "2026-01-13T21:31:00+00:00"),
    ]
    week = week_report(WEEK, events)
    assert [(r.event_id, r.command, r.outcome, r.end_event_id) for r in week.runs] == [
        (10, "run-weekly", "degraded", 12),
        (20, "checkpoint", "failed", 21),
        (30, "checkpoint", "no end recorded", None),
        (40, "postmortem", "finished", 41),
    ]
    assert week.runs[0].started_at == "2026-01-07T08:00:00-05:00"  # New York, as the schedule is set
    assert week.runs[0].detail == ("pitches went on without grok: grok: LLMTimeout: no answer in 60 s",)
    assert week.runs[1].detail == ("MarketDataError: no quote for SPY",)
    report = Report(source="live", accounts=(), weeks=(week,))
    html = render_report(report, leaderboard())
    assert "3 runs did not finish cleanly" in html
    for event_id in (10, 12, 20, 21, 30, 40, 41):
        assert html.count(f'id="event-{event_id}"') == 1 and f'href="#event-{event_id}">#{event_id}</a>' in html
    assert "MarketDataError: no quote for SPY" in html and "killed before it recorded an end" in html
    assert "run-weekly: 1 degraded; checkpoint: 1 failed, 1 no end recorded; postmortem: 1 finished" in html
    assert set(report.event_ids()) >= {10, 12, 20, 21, 30, 40, 41}
    # The checkpoint killed, run again to the end (same arguments): resolved, and said so.
    again = [
        _run_event(_started("checkpoint"), 50, "c3", "2026-01-09T19:05:00+00:00"),
        _run_event(ended, 51, "c3", "2026-01-09T19:06:00+00:00"),
    ]
    html = render_report(Report(source="live", accounts=(), weeks=(week_report(WEEK, events + again),)), leaderboard())
    assert "no end recorded (a later run of the same job finished)" in html
    assert "run-weekly of 2026-01-07T08:00:00-05:00 degraded <a" in html  # a degraded run is not resolved by any


def test_a_run_found_gone_is_labelled_no_end_as_its_detail_says() -> None:
    """A run a later run found with no end and no process (RunKilled) was labelled "killed" in the runs table, the
    week's counts and the troubled list, beside its detail "recorded no end (killed, or lost its database)": it may
    have lost its database instead. The label says what is known: no end."""
    events = [
        _run_event(_started("checkpoint"), 30, "c2", "2026-01-09T14:00:00+00:00"),
        _run_event(
            RunKilled(
                command="checkpoint",
                found_by="c3",
                last_event_type="RunStarted",
                last_event_at=datetime.fromisoformat("2026-01-09T14:00:00+00:00"),
            ),
            31,
            "c2",
            "2026-01-09T19:05:00+00:00",
        ),
    ]
    week = week_report(WEEK, events)
    assert [(r.outcome, r.end_event_id) for r in week.runs] == [("killed", 31)]  # --json: the RunKilled's name
    html = render_report(Report(source="live", accounts=(), weeks=(week,)), leaderboard())
    assert "recorded no end (killed, or lost its database)" in html
    assert "checkpoint: 1 no end<" in html, html
    assert "checkpoint of 2026-01-09T09:00:00-05:00 no end <a" in html
    assert "#31</a></span> no end</td>" in html
    assert "killed<" not in html and "killed <a" not in html and "1 killed" not in html


def test_a_folder_that_is_not_writable_is_refused_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests run as root here, for whom every folder is writable: ask os.access the way a user would be told.
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != tmp_path)
    output = tmp_path / "report.html"
    with pytest.raises(UsageError, match=f"report path {output}: folder {tmp_path} is not writable"):
        save_report(Report(source="live", accounts=(), weeks=()), leaderboard(), output)
    assert not output.exists()


def test_a_pipe_or_device_is_written_through_and_a_link_kept(recorded: Container, tmp_path: Path) -> None:
    """Found with `report -o /dev/full` as root: "wrote /dev/full", exit 0, and /dev/full was a regular file
    afterwards (the temporary file renamed over the device); `-o /dev/stdout` or `/dev/null` would go the same way."""
    report, _ = _report(recorded)
    expected = render_report(report, leaderboard()).encode()
    (tmp_path / "out").mkdir()
    fifo = tmp_path / "out" / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    written = save_report(report, leaderboard(), fifo)
    reader.join(timeout=10)
    assert received == [expected] and written.bytes == len(expected) and written.path == str(fifo)
    assert stat.S_ISFIFO(fifo.lstat().st_mode)  # still the pipe
    assert sorted(p.name for p in fifo.parent.iterdir()) == ["pipe"]  # no temporary file left beside it

    real, link = tmp_path / "site" / "report.html", tmp_path / "latest.html"
    real.parent.mkdir()
    real.write_text("old")
    link.symlink_to(real)
    save_report(report, leaderboard(), link)
    assert link.is_symlink() and real.read_bytes() == expected


def test_a_report_to_stdout_is_the_page_alone(recorded: Container, cli_env: dict[str, str]) -> None:
    """`report -o /dev/stdout > page.html`: the page, then nothing (found: "wrote /dev/stdout (918,244 bytes): ..."
    printed after </html>, on the same stdout); the summary goes to stderr."""
    env = {**cli_env, "LLMTRADE_NOW": TIMELINE[-1]}
    for extra in ([], ["--json"]):
        done = subprocess.run(
            [sys.executable, "-m", "llmtrade", "report", "-o", "/dev/stdout", *extra],
            env=env,
            capture_output=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(b"<!DOCTYPE html>") and done.stdout.endswith(b"</html>\n")
        assert b"/dev/stdout" in done.stderr and str(len(done.stdout)) in done.stderr.decode().replace(",", "")


def test_halts_the_kill_switch_and_abandoned_plans_are_listed_and_a_halt_still_on_is_said_first(
    storage: Storage, database_url: str
) -> None:
    """acct_4 halted by the breaker for weeks, acct_2 halted then resumed, the kill switch turned off (an event with
    no week), a plan abandoned: the report showed none of it. Each is a line with its id; acct_4, still halted,
    and the kill switch, still off, are said at the top and beside the accounts."""
    events = storage.events
    events.append(
        [
            NewEvent.of(
                AccountHalted(account_id="acct_2", reason="drawdown 10%"), stream="breaker:acct_2", week_id=WEEK
            ),
            NewEvent.of(
                AccountHalted(account_id="acct_4", reason="10 consecutive losing trades (limit 10)"),
                stream="breaker:acct_4",
                week_id=WEEK,
            ),
            NewEvent.of(AccountResumed(account_id="acct_2", reason="3 winning shadow trades"), stream="breaker:acct_2"),
            NewEvent.of(
                PlanAbandoned(
                    account_id="acct_1",
                    broker="alpaca",
                    reason="positions changed since its orders were planned",
                    client_order_ids=["lt-a"],
                    planned_positions={"SPY": 10},
                    actual_positions={"SPY": 4},
                ),
                stream="orders:acct_1",
                week_id=WEEK,
            ),
            NewEvent.of(
                PlanAbandoned(
                    account_id="acct_3",
                    broker="alpaca",
                    reason="its close expired part filled",
                    client_order_ids=["lt-b"],
                    planned_positions={"TLT": -5},
                    actual_positions={"TLT": -2},
                    whole_plan=False,
                ),
                stream="orders:acct_3",
                week_id=WEEK,
            ),
            NewEvent.of(TradingDisabled(reason="broker outage"), stream="kill-switch"),
        ]
    )
    app = Container(
        Settings(DATABASE_URL=database_url), load_config(None), FixedClock(FIXED_NOW), None, say=lambda _: None
    )
    report = build_report(app, storage, leaderboard())
    assert [(c.kind, c.account_id) for c in report.controls] == [
        ("halted", "acct_2"),
        ("halted", "acct_4"),
        ("resumed", "acct_2"),
        ("plan abandoned", "acct_1"),
        ("order abandoned", "acct_3"),
        ("trading disabled", None),
    ]
    assert "planned from SPY +10, held SPY +4" in report.controls[3].detail
    html = render_report(report, leaderboard())
    halt = report.controls[1]
    assert f"acct_4 is halted by the circuit breaker since {halt.at} (10 consecutive losing trades" in html
    assert "acct_2 is halted" not in html
    assert "Trading is disabled (the kill switch" in html and "broker outage" in html
    assert f'<span class="bad">halted since {halt.at}</span>' in html
    assert '<td class="bad">order abandoned</td>' in html  # a leg given up alone is as bad as a plan
    for control in report.controls:
        assert html.count(f'id="event-{control.event_id}"') == 1 and f'href="#event-{control.event_id}"' in html
